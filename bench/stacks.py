"""The stacks under load, started as users start them, on the suite's Temporal server.

- SQLite, the embedded default: ``closeloop dev`` (worker, polling projector and API in
  one process) on a fresh data folder.
- PostgreSQL: ``closeloop worker`` and ``closeloop api`` as separate processes, and the
  projection driven by eventsourcing's ``ProjectionRunner`` on LISTEN/NOTIFY
  (``python -m bench.subscriber``), on a fresh database of the suite's own.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench.lag import Positions, postgres_positions, sqlite_positions
from bench.procs import (
    Process,
    Processes,
    TemporalServer,
    closeloop_env,
    python_module,
    wait_healthy,
)
from closeloop.bootstrap import demo_password
from closeloop.temporal_server import free_ports


@dataclass
class Stack:
    name: str
    base: str  # http://127.0.0.1:<port>/api/v1
    processes: list[Process]
    positions: Callable[[], tuple[Positions, Callable[[], None]]]
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def memory(self) -> dict[str, Any]:
        return {p.name: p.memory() for p in self.processes if p.alive()}


@contextmanager
def sqlite_stack(root: Path, temporal: TemporalServer, processes: Processes) -> Iterator[Stack]:
    data = root / "run" / "sqlite"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    env = closeloop_env(
        data_dir=data,
        temporal=temporal.address,
        task_queue=f"bench-sqlite-{uuid.uuid4().hex[:8]}",
    )
    dev, base = serving(
        "closeloop dev", python_module("closeloop.cli", "dev"), data / "dev.log", env, processes
    )
    try:
        yield Stack(
            "sqlite",
            base,
            [dev],
            lambda: sqlite_positions(str(data / "closeloop.db")),
        )
    finally:
        processes.stop(dev)


def serving(
    name: str,
    argv: list[str],
    log_file: Path,
    env: dict[str, str],
    processes: Processes,
    attempts: int = 3,
) -> tuple[Process, str]:
    """A process serving the API on a free port, once ``/health`` answers, and its base URL.

    The port was free when chosen, but something may take it before the API binds it: a
    start that fails is tried again on another port (with a log file of its own).
    """
    for attempt in range(1, attempts + 1):
        (port,) = free_ports(1)
        log = log_file if attempt == 1 else log_file.with_name(f"{log_file.stem}-{attempt}.log")
        process = Process(name, argv, log, {**env, "CLOSELOOP_API_PORT": str(port)})
        processes.add(process)
        base = f"http://127.0.0.1:{port}/api/v1"
        try:
            wait_healthy(base, process)
            return process, base
        except RuntimeError:  # exited, or its API could not start
            processes.stop(process)
            if attempt == attempts:
                raise
    raise ValueError("attempts must be at least 1")


def postgres_available(server_url: str) -> str | None:
    """None when the PostgreSQL server answers; otherwise why not."""
    try:
        engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - reported in the table
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return None


def _recreate_database(server_url: str, name: str, drop_only: bool = False) -> str:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not drop_only:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        return admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        admin.dispose()


@contextmanager
def postgres_stack(
    root: Path, temporal: TemporalServer, processes: Processes, server_url: str, database: str
) -> Iterator[Stack]:
    """The PostgreSQL stack on a fresh ``database`` (made on ``server_url``, dropped after)."""
    data = root / "run" / "postgres"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    url = _recreate_database(server_url, database)
    env = closeloop_env(
        data_dir=data,
        temporal=temporal.address,
        task_queue=f"bench-pg-{uuid.uuid4().hex[:8]}",
        database_url=url,
    )
    with (data / "bootstrap.log").open("wb") as out:
        subprocess.run(
            python_module("closeloop.cli", "bootstrap", "--seed-demo"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=300,
        )
    started: list[Process] = []
    try:
        for name, argv in (
            ("closeloop worker", python_module("closeloop.cli", "worker")),
            ("subscription projector", python_module("bench.subscriber")),
        ):
            process = Process(name, argv, data / f"{name.split()[-1]}.log", env)
            processes.add(process)
            started.append(process)
        api, base = serving(
            "closeloop api", python_module("closeloop.cli", "api"), data / "api.log", env, processes
        )
        started.insert(1, api)
        for process in started:
            process.check()
        yield Stack("postgres", base, started, lambda: postgres_positions(url))
    finally:
        for process in reversed(started):
            processes.stop(process)
        _recreate_database(server_url, database, drop_only=True)


async def sign_in(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    answer = await http.post(
        "/auth/token", data={"username": username, "password": demo_password(username)}
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}
