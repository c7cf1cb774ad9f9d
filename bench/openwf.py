"""Open requests: memory of the worker and the Temporal dev server with N workflows waiting
on their timers.

Opening 50,000 requests takes the dev server tens of minutes on 2 cores, so the opened set
is made once and cached: a Temporal database file per size, made with the real worker and
the real intake (``file_request``, update-with-start), each request waiting on its tier's
timer. A "day" lasts a year in these requests, so no timer fires while the cache is kept
(it is made again after :data:`MAX_AGE_DAYS`). Memory is read from ``/proc`` at creation
(while the requests were being opened) and again in every run: the dev server and a fresh
``closeloop worker`` are started on a copy of the cached file, then a sample of the open
requests is queried, which replays them into the worker's workflow cache and loads their
state in the server, as timers firing or handlers acting would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.load import drive
from bench.procs import (
    Memory,
    Process,
    Processes,
    TemporalServer,
    bench_keys,
    closeloop_env,
    python_module,
    running,
)
from closeloop.temporal_client import connect_temporal
from domain.ladder import Tier
from domain.state import Intake
from workflows.commands import file_request
from workflows.messages import workflow_id

log = logging.getLogger(__name__)

OPEN_VERSION = 1
TASK_QUEUE = "bench-open-requests"
#: A day lasts a year for these requests: their 1d timers fire a year after they opened.
DAY_SECONDS = 365 * 86400.0
MAX_AGE_DAYS = 300
#: Concurrent intakes while opening (the dev server is the limit, not the clients).
OPEN_CONCURRENCY = 48
#: Pragmas used only while opening the cached set, to make it faster; the file is set
#: back to SQLite's default journal before it is cached, and measured with the dev
#: server's defaults.
FAST_PRAGMAS = ("journal_mode=WAL", "synchronous=OFF")
#: Open requests queried in each run (more than the worker's workflow cache of 1,000).
TOUCH = 2000


@dataclass(frozen=True)
class OpenMeta:
    version: int
    requests: int
    created: str
    opened_seconds: float
    open_rate: float  # requests opened per second while making the cache
    server_at_creation: dict[str, float]
    worker_at_creation: dict[str, float]
    database_bytes: int


@dataclass(frozen=True)
class OpenMeasure:
    requests: int
    server_idle: Memory  # after start, nothing queried
    worker_idle: Memory
    server: Memory  # after TOUCH open requests were queried
    worker: Memory
    touched: int
    touch_errors: int
    database_bytes: int
    meta: OpenMeta


def _folder(root: Path, requests: int) -> Path:
    return root / f"open-{requests}-v{OPEN_VERSION}"


def load_open(root: Path, requests: int) -> OpenMeta | None:
    meta_file = _folder(root, requests) / "meta.json"
    if not meta_file.exists():
        return None
    meta = OpenMeta(**json.loads(meta_file.read_text()))
    age = datetime.now(UTC) - datetime.fromisoformat(meta.created)
    if meta.version != OPEN_VERSION or age.days > MAX_AGE_DAYS:
        return None
    return meta


def _intake(n: int) -> Intake:
    rng = random.Random(n)
    tier = rng.choice((Tier.D1, Tier.D1, Tier.D1, Tier.D3, Tier.D3, Tier.D5))
    return Intake(
        request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"closeloop-bench-open/{n}")),
        grid_id=f"bench-grid-{n % 200:03d}",
        community_id=f"bench-community-{n % 40:02d}",
        town_id=f"bench-town-{n % 4}",
        category="water_leak",
        description="楼上漏水，天花板泡坏了",
        channel="app",
        resident_name="李先生",
        resident_phone="13800000000",
        tier=tier,
    )


def _checkpoint(database_file: Path) -> None:
    """Fold a WAL file into the database file, so that copying the file copies it all."""
    conn = sqlite3.connect(database_file)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _to_default_journal(database_file: Path) -> None:
    conn = sqlite3.connect(database_file)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


async def _open_requests(
    client: Client, first: int, count: int, progress: Callable[[int], None] | None
) -> None:
    done = 0

    async def one(n: int) -> None:
        nonlocal done
        await file_request(client, TASK_QUEUE, _intake(n), "resident", DAY_SECONDS)
        done += 1
        if progress is not None and done % 1000 == 0:
            progress(first + done)

    result = await drive(one, count, OPEN_CONCURRENCY, start=first)
    if result.errors:
        raise RuntimeError(f"{result.errors} requests failed to open: {result.first_error}")


async def ensure_open_sets(
    root: Path,
    sizes: list[int],
    processes: Processes,
    progress: Callable[[str], None] = print,
) -> dict[int, OpenMeta]:
    """The cached open sets of ``sizes`` requests, made first where missing (each larger set
    grows from a copy of the next smaller one)."""
    metas: dict[int, OpenMeta] = {}
    previous: tuple[int, Path] | None = None
    for size in sorted(sizes):
        meta = load_open(root, size)
        if meta is None:
            progress(
                f"opening {size:,} requests once for the cache (about "
                f"{size // 30 // 60 + 1} minutes on 2 cores)"
            )
            meta = await _make_open_set(root, size, previous, processes, progress)
        metas[size] = meta
        previous = (size, _folder(root, size))
    return metas


async def _make_open_set(
    root: Path,
    size: int,
    previous: tuple[int, Path] | None,
    processes: Processes,
    progress: Callable[[str], None],
) -> OpenMeta:
    folder = _folder(root, size)
    work = folder.with_name(folder.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    first = 0
    if previous is not None:
        first = previous[0]
        for name in ("temporal.db", "store.db"):
            _checkpoint(previous[1] / name)
            shutil.copy(previous[1] / name, work / name)
    server = TemporalServer(work / "temporal.db", work / "temporal.log", pragmas=FAST_PRAGMAS)
    with running(processes, server):
        await server.start_and_wait()
        worker = _worker(work, server.address)
        with running(processes, worker):
            client = await connect_temporal(server.address, "default", keys=bench_keys())
            started = time.monotonic()
            await _open_requests(
                client, first, size - first, lambda n: progress(f"  opened {n:,} of {size:,}")
            )
            seconds = time.monotonic() - started
            await asyncio.sleep(2)  # let the last workflow tasks settle
            server_memory, worker_memory = server.memory(), worker.memory()
    _to_default_journal(work / "temporal.db")
    meta = OpenMeta(
        version=OPEN_VERSION,
        requests=size,
        created=datetime.now(UTC).isoformat(),
        opened_seconds=round(seconds, 1),
        open_rate=round((size - first) / seconds, 1),
        server_at_creation=asdict(server_memory),
        worker_at_creation=asdict(worker_memory),
        database_bytes=(work / "temporal.db").stat().st_size,
    )
    (work / "meta.json").write_text(json.dumps(asdict(meta), indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)
    return meta


async def _until_polling(client: Client, worker: Process, timeout: float = 180.0) -> None:
    """Until ``worker`` polls its task queue: it has connected and started."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=TASK_QUEUE),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    end = time.monotonic() + timeout
    while not (await client.workflow_service.describe_task_queue(request)).pollers:
        worker.check()
        if time.monotonic() > end:
            raise TimeoutError(
                f"{worker.name} did not poll in {timeout:.0f} s:\n{worker.log_tail()}"
            )
        await asyncio.sleep(0.2)
    worker.check()


def _worker(folder: Path, address: str) -> Process:
    env = closeloop_env(
        data_dir=folder,
        temporal=address,
        task_queue=TASK_QUEUE,
        database_url=f"sqlite:///{folder / 'store.db'}",
    )
    return Process(
        "closeloop worker", python_module("closeloop.cli", "worker"), folder / "worker.log", env
    )


async def measure_open(
    root: Path, scratch: Path, size: int, meta: OpenMeta, processes: Processes
) -> OpenMeasure:
    """Start the dev server and a worker on a copy of the cached set; read their memory
    idle and after querying :data:`TOUCH` of the open requests."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    for name in ("temporal.db", "store.db"):
        _checkpoint(_folder(root, size) / name)
        shutil.copy(_folder(root, size) / name, scratch / name)
    server = TemporalServer(scratch / "temporal.db", scratch / "temporal.log")
    try:
        with running(processes, server):
            await server.start_and_wait()
            worker = _worker(scratch, server.address)
            with running(processes, worker):
                client = await connect_temporal(server.address, "default", keys=bench_keys())
                await _until_polling(client, worker)
                server_idle, worker_idle = server.memory(), worker.memory()
                sample = random.Random(7).sample(range(size), min(TOUCH, size))

                async def touch(i: int) -> None:
                    handle = client.get_workflow_handle(workflow_id(_intake(sample[i]).request_id))
                    view: Any = await handle.query("view")
                    if not view or view["status"] != "assigned":
                        raise RuntimeError(f"request {sample[i]} is not open: {view}")

                touched = await drive(touch, len(sample), 16)
                await asyncio.sleep(1)
                server_now, worker_now = server.memory(), worker.memory()
        database_bytes = (scratch / "temporal.db").stat().st_size
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return OpenMeasure(
        requests=size,
        server_idle=server_idle,
        worker_idle=worker_idle,
        server=server_now,
        worker=worker_now,
        touched=touched.count - touched.errors,
        touch_errors=touched.errors,
        database_bytes=database_bytes,
        meta=meta,
    )
