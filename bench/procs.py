"""The processes a benchmark starts: the Temporal dev server, ``closeloop`` commands, helpers.

Every process is started here with its own log file and stopped by its own pid (SIGTERM,
then SIGKILL after a grace period); :class:`Processes` stops whatever is still running
when the suite ends, also on errors and Ctrl-C.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from closeloop.keys import Keyring
from closeloop.temporal_server import DevServer, free_ports


def free_port() -> int:
    """A port free now, below the ephemeral range (see :func:`free_ports`)."""
    (port,) = free_ports(1)
    return port


@dataclass(frozen=True)
class Memory:
    """A process's resident memory now and at its peak, in MiB (from /proc/<pid>/status)."""

    rss_mib: float
    hwm_mib: float


def memory(pid: int) -> Memory:
    fields: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024  # kB -> MiB
    return Memory(round(fields["VmRSS"], 1), round(fields["VmHWM"], 1))


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


class CpuMeter:
    """CPU seconds used by named processes between :meth:`start` and :meth:`stop`, summed
    over several intervals; where a phase's time goes, process by process."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.used: dict[str, float] = dict.fromkeys(pids, 0.0)
        self._began: dict[str, float] = {}

    def start(self) -> None:
        self._began = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> None:
        for name, pid in self.pids.items():
            self.used[name] += cpu_seconds(pid) - self._began[name]

    def per_operation_ms(self, operations: int) -> dict[str, float]:
        return {
            name: round(1000 * used / max(1, operations), 1) for name, used in self.used.items()
        }


class Process:
    """A child process with its output in a log file."""

    def __init__(
        self, name: str, argv: list[str], log_file: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_file = log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as out:
            self.popen = subprocess.Popen(
                argv,
                env=dict(env) if env is not None else None,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the suite, which stops us in order
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def memory(self) -> Memory:
        return memory(self.pid)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def check(self) -> None:
        if not self.alive():
            raise RuntimeError(
                f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}"
            )

    def interrupt(self, timeout: float = 60.0) -> int:
        """SIGINT (Ctrl-C: the command cleans up), then :meth:`stop`; the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGINT)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        return self.stop()

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit within ``timeout``; the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


class Processes:
    """Everything the suite started; ``stop_all`` stops the rest, last started first."""

    def __init__(self) -> None:
        self.running: list[Process | TemporalServer] = []

    def add(self, process: Process | TemporalServer) -> None:
        self.running.append(process)

    def stop(self, process: Process | TemporalServer) -> None:
        process.stop()
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        while self.running:
            self.running.pop().stop()


class TemporalServer(DevServer):
    """The Temporal CLI dev server exactly as ``closeloop dev`` starts it (a SQLite file),
    optionally with extra SQLite pragmas (used only to make cached state faster)."""

    def __init__(self, db_file: Path, log_file: Path, pragmas: tuple[str, ...] = ()) -> None:
        port, ui_port = free_ports(2)  # chosen again by start_and_wait
        super().__init__(db_file=db_file, port=port, ui_port=ui_port, log_file=log_file)
        self.pragmas = pragmas

    def command(self) -> list[str]:
        argv = super().command()
        for pragma in self.pragmas:
            argv += ["--sqlite-pragma", pragma]
        return argv

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    def memory(self) -> Memory:
        return memory(self.pid)

    async def start_and_wait(self, timeout: float = 180.0) -> None:
        """Start on free ports and wait until the server answers a real call (not only
        until its port is open); a start that fails is tried again on other ports."""
        await self.start_on_free_ports(timeout)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def closeloop_env(
    *,
    data_dir: Path,
    temporal: str,
    task_queue: str,
    api_port: int | None = None,
    database_url: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment for a ``closeloop`` command on the suite's Temporal server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSELOOP_")}
    env.update(
        CLOSELOOP_DATA_DIR=str(data_dir),
        CLOSELOOP_TEMPORAL_ADDRESS=temporal,
        CLOSELOOP_TASK_QUEUE=task_queue,
        CLOSELOOP_ADMIN_PASSWORD=ADMIN_PASSWORD,
        CLOSELOOP_JWT_SECRET="closeloop-bench-secret-not-for-production-0123456789",
        # One key for every run: the cached sets of open workflows are sealed with it.
        CLOSELOOP_ENCRYPTION_KEY=BENCH_KEY,
        # The load comes from one address with few phone numbers: no intake limit applies.
        CLOSELOOP_INTAKE_PER_ADDRESS="1000000000",
        CLOSELOOP_INTAKE_PER_PHONE="1000000000",
    )
    if api_port is not None:
        env["CLOSELOOP_API_PORT"] = str(api_port)
    if database_url is not None:
        env["CLOSELOOP_DATABASE_URL"] = database_url
    env.update(extra)
    return env


ADMIN_PASSWORD = "bench-run-passphrase"
#: The benchmarks' encryption key (synthetic residents only): fixed, so that a cached set
#: of open workflows made by one run is read by the next.
BENCH_KEY = base64.b64encode(hashlib.sha256(b"closeloop benchmarks only").digest()).decode()


def bench_keys() -> Keyring:
    """The keyring the benchmarks' ``closeloop`` processes seal with (for their clients)."""
    return Keyring(base64.b64decode(BENCH_KEY))


def wait_healthy(base: str, process: Process, timeout: float = 180.0) -> None:
    """Until ``GET {base}/health`` answers 200 (the API, Temporal and the store are up)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        process.check()
        if "could not start" in process.log_tail():  # e.g. its port was taken meanwhile
            raise RuntimeError(f"{process.name}: the API could not start:\n{process.log_tail()}")
        try:
            if httpx.get(f"{base}/health", timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{process.name} did not become healthy:\n{process.log_tail()}")


@contextmanager
def running(processes: Processes, process: Process | TemporalServer) -> Iterator[None]:
    processes.add(process)
    try:
        yield
    finally:
        processes.stop(process)
