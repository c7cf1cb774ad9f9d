"""A million requests: ``closeloop rebuild`` against the bare read of the same log, and the
read endpoints over the whole projection.

The history lives in two files (see :mod:`bench.history`): ``events.db``, where each run's
rebuild drops and refills the views, and ``reads.db``, a copy whose views were rebuilt
whole once (that full rebuild's rate is kept beside it) and which the read endpoints are
measured on.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from eventsourcing.persistence import Notification

from bench.history import History
from bench.load import Load
from bench.procs import (
    Process,
    Processes,
    TemporalServer,
    closeloop_env,
    free_port,
    python_module,
    running,
    wait_healthy,
)
from bench.stacks import sign_in
from closeloop.bootstrap import DEMO_TOWN
from closeloop.settings import DEFAULT_TIMEZONE
from closeloop.store import RequestStore, store_env
from projections.rebuild import REBUILD_BATCH_SIZE

_PROGRESS = re.compile(rb"(\d+)/(\d+) events")
#: How often the rebuild's progress bar is read.
POLL_SECONDS = 0.1

READS_VERSION = 3  # 3: the posts' read models (revision 0012)


@dataclass(frozen=True)
class RebuildRun:
    events: int  # processed
    total: int  # in the store
    seconds: float  # from the first progress report (0 done) to the last one
    startup_seconds: float  # from the command's start to its first report (reset, count)
    complete: bool

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def run_rebuild(
    database_url: str, data_dir: Path, processes: Processes, window: float | None
) -> RebuildRun:
    """``closeloop rebuild`` as a user runs it; stopped (Ctrl-C) after ``window`` seconds of
    progress when given. Its progress bar gives the events done over time."""
    env = closeloop_env(
        data_dir=data_dir, temporal="127.0.0.1:1", task_queue="unused", database_url=database_url
    )
    log_file = data_dir / "rebuild.log"
    log_file.unlink(missing_ok=True)
    process = Process("closeloop rebuild", python_module("closeloop.cli", "rebuild"), log_file, env)
    began = time.monotonic()
    first: tuple[float, int] | None = None
    last: tuple[float, int] = (began, 0)
    total = 0
    with running(processes, process):
        while True:
            exited = not process.alive()
            found = _PROGRESS.findall(_tail(log_file))
            now = time.monotonic()
            if found:
                done, total = int(found[-1][0]), int(found[-1][1])
                if first is None:
                    first = (now, 0)
                if done != last[1]:
                    last = (now, done)
            if exited:
                if process.popen.returncode != 0:
                    raise RuntimeError(f"closeloop rebuild failed:\n{process.log_tail()}")
                break
            if window is not None and first is not None and now - first[0] >= window:
                process.interrupt()
                break
            time.sleep(POLL_SECONDS)
    if first is None:
        raise RuntimeError(f"closeloop rebuild reported no progress:\n{process.log_tail()}")
    seconds = last[0] - first[0]
    if seconds < POLL_SECONDS * 2:
        # A small log is rebuilt between two looks at the progress bar: time it from the
        # command's start instead (start-up included: a rate on the low side, never 0).
        seconds = last[0] - began
    return RebuildRun(
        events=last[1],
        total=total,
        seconds=round(seconds, 2),
        startup_seconds=round(first[0] - began, 2),
        complete=last[1] >= total,
    )


def _tail(path: Path, size: int = 400) -> bytes:
    """The last ``size`` bytes of a file (the progress bar's latest report)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - size))
            return f.read()
    except OSError:
        return b""


@dataclass(frozen=True)
class BareRead:
    events: int
    seconds: float
    decode_us: float  # microseconds per event to turn a notification into a domain event

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def bare_read(database_url: str, upto: int, batch_size: int = REBUILD_BATCH_SIZE) -> BareRead:
    """Read notifications 1..``upto`` as the rebuild does (same recorder, same batches),
    with no projection work; then time decoding a sample of them into domain events."""
    store = RequestStore(env=store_env(database_url))
    try:
        sample: list[Notification] = []
        position = 0
        count = 0
        began = time.perf_counter()
        while position < upto:
            notifications = store.recorder.select_notifications(
                start=position, limit=min(batch_size, upto - position), inclusive_of_start=False
            )
            if not notifications:
                break
            if len(sample) < 50_000:
                sample.extend(notifications)
            count += len(notifications)
            position = notifications[-1].id
        seconds = time.perf_counter() - began
        began = time.perf_counter()
        for notification in sample:
            store.mapper.to_domain_event(notification)
        decode = (time.perf_counter() - began) / max(1, len(sample)) * 1e6
    finally:
        store.close()
    return BareRead(count, round(seconds, 2), round(decode, 1))


@dataclass(frozen=True)
class ReadsMeta:
    version: int
    created: str
    events: int
    rebuild: dict[str, Any]  # the whole history's rebuild (RebuildRun)
    rebuild_rate: float
    bare_read: dict[str, Any]  # the whole log's bare read (BareRead)
    bare_read_rate: float
    batch_size: int  # the rebuild's events per transaction (REBUILD_BATCH_SIZE)


def _checkpoint(database_file: Path) -> None:
    conn = sqlite3.connect(database_file)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def ensure_reads(history: History, processes: Processes, progress: Any = print) -> ReadsMeta:
    """``reads.db``: the history with its whole projection, made once by a full
    ``closeloop rebuild`` (whose rate, and the bare read of the whole log, are kept)."""
    meta_file = history.folder / "reads-meta.json"
    if meta_file.exists() and history.reads_file.exists():
        fields = json.loads(meta_file.read_text())
        if fields.get("version") == READS_VERSION:
            return ReadsMeta(**fields)
    progress(
        f"building the whole projection of {history.meta.events:,} events once for the "
        "cache (a full closeloop rebuild)"
    )
    partial = history.folder / "reads.partial.db"
    work = history.folder / "reads-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    _checkpoint(history.events_file)
    shutil.copy(history.events_file, partial)
    url = f"sqlite:///{partial}"
    rebuild = run_rebuild(url, work, processes, window=None)
    read = bare_read(url, rebuild.total)
    _checkpoint(partial)
    for suffix in ("", "-wal", "-shm"):  # an older reads.db, and its WAL, go first
        Path(f"{history.reads_file}{suffix}").unlink(missing_ok=True)
    partial.rename(history.reads_file)
    for suffix in ("-wal", "-shm"):  # empty after the checkpoint, nothing connected
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    meta = ReadsMeta(
        version=READS_VERSION,
        created=datetime.now(UTC).isoformat(),
        events=rebuild.total,
        rebuild=asdict(rebuild),
        rebuild_rate=round(rebuild.rate),
        bare_read=asdict(read),
        bare_read_rate=round(read.rate),
        batch_size=REBUILD_BATCH_SIZE,
    )
    meta_file.write_text(json.dumps(asdict(meta), indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return meta


@dataclass(frozen=True)
class Endpoint:
    key: str
    what: str
    path: str
    params: dict[str, str]
    user: str


@dataclass
class EndpointResult:
    endpoint: Endpoint
    load: Load
    items: int  # items in the last answer
    bytes: int  # size of the last answer


async def reads_at_scale(
    history: History,
    temporal: TemporalServer,
    processes: Processes,
    scratch: Path,
    *,
    samples: int,
    time_cap: float,
) -> list[EndpointResult]:
    """Each endpoint called ``samples`` times in turn by one client (fewer when one endpoint
    would take longer than ``time_cap`` seconds), on ``closeloop api`` over ``reads.db``."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    port = free_port()
    env = closeloop_env(
        data_dir=scratch,
        temporal=temporal.address,
        task_queue="bench-reads",
        api_port=port,
        database_url=history.reads_url,
    )
    # The cache may predate a migration (the first one to reach it takes a while at this
    # size): `closeloop migrate` first, so that the API starts at once.
    migrate = subprocess.run(
        python_module("closeloop.cli", "migrate"),
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"closeloop migrate failed:\n{migrate.stdout}{migrate.stderr}")
    api = Process("closeloop api", python_module("closeloop.cli", "api"), scratch / "api.log", env)
    base = f"http://127.0.0.1:{port}/api/v1"
    results = []
    with running(processes, api):
        wait_healthy(base, api)
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            headers = {u: await sign_in(http, u) for u in ("supervisor1", "worker1", "caller1")}
            towns = (
                await http.get("/units", params={"kind": "town"}, headers=headers["supervisor1"])
            ).json()
            town = next(t["id"] for t in towns if t["name"] == DEMO_TOWN)
            end = history.meta.end_at
            month = {
                "unit_id": town,
                "from": (end - timedelta(days=30)).isoformat(),
                "to": end.isoformat(),
            }
            # the history's last whole month, in the office's time zone
            last = (end - timedelta(days=15)).astimezone(ZoneInfo(DEFAULT_TIMEZONE))
            for endpoint in endpoints(town, month, f"{last.year:04d}-{last.month:02d}"):
                results.append(
                    await _sample(http, endpoint, headers[endpoint.user], samples, time_cap)
                )
    return results


def endpoints(town: str, month: dict[str, str], period: str) -> list[Endpoint]:
    quarter = f"{period[:4]}Q{(int(period[5:]) - 1) // 3 + 1}"
    return [
        Endpoint("board", "board: GET /requests", "/requests", {}, "supervisor1"),
        Endpoint(
            "board_town_assigned",
            "board: a town's waiting requests",
            "/requests",
            {"unit_id": town, "status": "assigned"},
            "supervisor1",
        ),
        Endpoint("tasks", "tasks: GET /tasks (worker1)", "/tasks", {}, "worker1"),
        Endpoint("followups", "follow-ups: GET /followups", "/followups", {}, "caller1"),
        Endpoint("stats", "stats: GET /stats (all, all time)", "/stats", {}, "supervisor1"),
        Endpoint("stats_town_month", "stats: a town, last 30 days", "/stats", month, "supervisor1"),
        Endpoint(
            "rankings_grids",
            f"league table: every grid, {period}",
            "/rankings",
            {"level": "grid", "period": period},
            "supervisor1",
        ),
        Endpoint(
            "rankings_communities",
            f"league table: every community, {quarter}",
            "/rankings",
            {"level": "community", "period": quarter},
            "supervisor1",
        ),
        Endpoint(
            "performance_town",
            f"assessment figures: a town, {period}",
            "/performance",
            {"unit_id": town, "period": period},
            "supervisor1",
        ),
        Endpoint(
            "hotspots_town",
            "hot spots: a town, last 30 days",
            "/hotspots",
            month,
            "supervisor1",
        ),
        Endpoint(
            "assessment_quarter",
            f"assessment: every grid worker, {quarter}",
            "/assessment",
            {"period": quarter},
            "supervisor1",
        ),
        Endpoint(
            "assessment_worker",
            f"assessment: one worker (worker1), {quarter}",
            "/assessment/workers/worker1",
            {"period": quarter},
            "supervisor1",
        ),
        Endpoint(
            "performance_me",
            f"my month: GET /performance/me (worker1), {period}",
            "/performance/me",
            {"period": period},
            "worker1",
        ),
    ]


async def _sample(
    http: httpx.AsyncClient,
    endpoint: Endpoint,
    headers: dict[str, str],
    samples: int,
    time_cap: float,
) -> EndpointResult:
    load = Load()
    answer: httpx.Response | None = None
    for _ in range(2):  # warm-up: the page cache, SQLAlchemy's statement cache
        answer = await http.get(endpoint.path, params=endpoint.params, headers=headers)
        answer.raise_for_status()
    began = time.perf_counter()
    while load.count < samples and (load.count < 5 or time.perf_counter() - began < time_cap):
        start = time.perf_counter()
        answer = await http.get(endpoint.path, params=endpoint.params, headers=headers)
        load.latencies.append(time.perf_counter() - start)
        load.count += 1
        if answer.status_code != 200:
            load.errors += 1
            load.first_error = load.first_error or f"{answer.status_code}: {answer.text[:200]}"
    load.seconds = time.perf_counter() - began
    assert answer is not None
    body = answer.json()
    items = (
        len(body["items"])
        if isinstance(body, dict) and "items" in body
        else (len(body) if isinstance(body, list) else 1)
    )
    return EndpointResult(endpoint, load, items, len(answer.content))
