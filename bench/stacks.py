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
    free_port,
    python_module,
    wait_healthy,
)
from closeloop.bootstrap import demo_password


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
    port = free_port()
    env = closeloop_env(
        data_dir=data,
        temporal=temporal.address,
        task_queue=f"bench-sqlite-{uuid.uuid4().hex[:8]}",
        api_port=port,
    )
    dev = Process("closeloop dev", python_module("closeloop.cli", "dev"), data / "dev.log", env)
    processes.add(dev)
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        wait_healthy(base, dev)
        yield Stack(
            "sqlite",
            base,
            [dev],
            lambda: sqlite_positions(str(data / "closeloop.db")),
        )
    finally:
        processes.stop(dev)


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
    port = free_port()
    env = closeloop_env(
        data_dir=data,
        temporal=temporal.address,
        task_queue=f"bench-pg-{uuid.uuid4().hex[:8]}",
        api_port=port,
        database_url=url,
    )
    with (data / "bootstrap.log").open("wb") as out:
        subprocess.run(
            python_module("closeloop.cli", "bootstrap"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=120,
        )
    started: list[Process] = []
    try:
        for name, argv in (
            ("closeloop worker", python_module("closeloop.cli", "worker")),
            ("closeloop api", python_module("closeloop.cli", "api")),
            ("subscription projector", python_module("bench.subscriber")),
        ):
            process = Process(name, argv, data / f"{name.split()[-1]}.log", env)
            processes.add(process)
            started.append(process)
        base = f"http://127.0.0.1:{port}/api/v1"
        wait_healthy(base, started[1])
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
