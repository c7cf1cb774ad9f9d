"""A generated history: a city's requests over a year, written straight into the event store.

Each request lives a plausible life decided by the domain itself (``RequestState.decide_*``
on the ``ResidentRequest`` aggregate, so every event is one the workflow could have
recorded): accepted after a while, sometimes pushed up by its handler or escalated when
its deadline passes, progress notes, resolved, then reviewed (mostly closed, sometimes
reopened, sometimes unreached). Events after the history's end are not recorded, so the
latest requests are still open or waiting for review, as in a live system.

Events go to the notification log in the order they happened (interleaved across
requests, as the workflows would append them), in large batches through eventsourcing's
recorder. The result is cached in a folder with a ``meta.json`` written last: a folder
without it is an interrupted generation and is made again.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import random
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Connection, insert

from api import roster
from closeloop.bootstrap import DEMO_TOWN, seed_demo
from closeloop.db import make_engine
from closeloop.store import RequestStore, store_env
from domain.aggregate import ResidentRequest
from domain.categories import SEED, seed_tier
from domain.ladder import Tier, UnitKind, next_tier
from domain.review import Answer, Review
from domain.state import Change, Intake, RequestState
from projections.tables import create_tables

log = logging.getLogger(__name__)

#: Bump when the generated history changes shape: cached folders of another version are
#: made again.
GENERATOR_VERSION = 1

DAY = 86400.0
#: Events per insert (one transaction each).
INSERT_BATCH = 20_000
#: A city: the demo town plus this many generated towns, each with communities and grids.
TOWNS = 19
COMMUNITIES_PER_TOWN = 10
GRIDS_PER_COMMUNITY = 5

_NAMESPACE = uuid.UUID("b3c8d1a0-1351-4e0b-8c1e-be0c40000000")

#: Mean hours before a handler accepts, by tier.
_ACCEPT_HOURS = {Tier.D1: 2.0, Tier.D3: 8.0, Tier.D5: 24.0, Tier.M1: 72.0}
_CATEGORIES = list(SEED)
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_DESCRIPTIONS = (
    "楼上漏水，天花板泡坏了",
    "小区路灯不亮，晚上出行不便",
    "楼道堆放杂物，存在消防隐患",
    "独居老人需要定期探望",
    "电动车充电桩不够用",
    "邻居装修噪音太大",
    "道路坑洼，雨天积水",
    "暖气不热，室温过低",
)


@dataclass(frozen=True)
class Place:
    grid_id: str
    community_id: str
    town_id: str


@dataclass(frozen=True)
class HistoryMeta:
    """What a cached history holds."""

    version: int
    requests: int
    events: int
    days: int
    seed: int
    start: str  # ISO: the first filing may be here
    end: str  # ISO: nothing happens after this
    grids: int
    generated_seconds: float
    event_types: dict[str, int]
    states: dict[str, int]  # requests by final status
    database_bytes: int

    @property
    def end_at(self) -> datetime:
        return datetime.fromisoformat(self.end)


@dataclass(frozen=True)
class History:
    folder: Path
    meta: HistoryMeta

    @property
    def events_file(self) -> Path:
        """The generated store (and the roster); rebuilds in each run write views here."""
        return self.folder / "events.db"

    @property
    def events_url(self) -> str:
        return f"sqlite:///{self.events_file}"

    @property
    def reads_file(self) -> Path:
        """A copy with the whole projection built, for reads at scale (see bench.scale)."""
        return self.folder / "reads.db"

    @property
    def reads_url(self) -> str:
        return f"sqlite:///{self.reads_file}"


def history_folder(root: Path, requests: int) -> Path:
    return root / f"history-{requests}-v{GENERATOR_VERSION}"


def load_history(root: Path, requests: int) -> History | None:
    """The cached history of ``requests`` requests, or None when it is not (fully) there."""
    folder = history_folder(root, requests)
    meta_file = folder / "meta.json"
    if not meta_file.exists() or not (folder / "events.db").exists():
        return None
    meta = HistoryMeta(**json.loads(meta_file.read_text()))
    if meta.version != GENERATOR_VERSION or meta.requests != requests:
        return None
    return History(folder, meta)


def ensure_history(
    root: Path,
    requests: int,
    *,
    days: int = 365,
    seed: int = 1351,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[History, bool]:
    """The cached history, generated first when missing; True when it was generated now."""
    cached = load_history(root, requests)
    if cached is not None:
        return cached, False
    return generate(
        history_folder(root, requests), requests, days=days, seed=seed, progress=progress
    ), True


def build_city(conn: Connection, towns: int = TOWNS) -> list[Place]:
    """The demo town's grids and ``towns`` generated towns, added to the roster."""
    places: list[Place] = []
    units = roster.list_units(db=conn)
    by_id = {u.id: u for u in units}
    for grid in (u for u in units if u.kind is UnitKind.GRID):
        community = by_id[grid.parent_id or ""]
        places.append(Place(grid.id, community.id, community.parent_id or ""))
    for t in range(towns):
        town = roster.create_unit(f"生成镇{t + 1:02d}", UnitKind.TOWN, db=conn)
        for c in range(COMMUNITIES_PER_TOWN):
            community = roster.create_unit(
                f"生成镇{t + 1:02d}第{c + 1}社区", UnitKind.COMMUNITY, town.id, db=conn
            )
            for g in range(GRIDS_PER_COMMUNITY):
                grid = roster.create_unit(
                    f"生成镇{t + 1:02d}第{c + 1}社区第{g + 1}网格",
                    UnitKind.GRID,
                    community.id,
                    db=conn,
                )
                places.append(Place(grid.id, community.id, town.id))
    return places


class _Life:
    """Decides one request's changes with the domain's rules and records them on its
    aggregate, stopping at the history's end."""

    def __init__(self, rng: random.Random, request: ResidentRequest, end: datetime) -> None:
        self.rng = rng
        self.request = request
        self.end = end
        self.times: list[datetime] = [request.state.created_at]
        self.count = 1

    @property
    def state(self) -> RequestState:
        return self.request.state

    def record(self, change: Change) -> bool:
        """Record ``change``; False (and nothing recorded) when it falls after the end."""
        if change.at >= self.end:
            return False
        self.request.record(f"{self.state.id}/{self.count}", change)
        self.count += 1
        self.times.append(change.at)
        return True

    def after(self, at: datetime, hours: float) -> datetime:
        """A moment ``hours`` (exponentially distributed mean) after ``at``, at least 1 s."""
        seconds = max(1.0, self.rng.expovariate(1.0 / (hours * 3600.0)))
        return max(at, self.times[-1]) + timedelta(seconds=seconds)

    def live(self) -> None:
        rng = self.rng
        at = self.state.created_at
        while True:  # one round of handling at the current level
            s = self.state
            deadline = s.deadline
            assert deadline is not None  # no request of the history waits for dispatch
            accept_at = self.after(at, _ACCEPT_HOURS[s.tier])
            if accept_at >= deadline and not s.overdue:
                if not self._deadline():
                    return
                at = self.times[-1]
                continue
            if not self.record(s.decide_accept(f"h-{s.level_unit_id[:8]}", accept_at)):
                return
            if rng.random() < 0.04 and next_tier(s.tier) is not None:  # 上报
                if not self.record(
                    s.decide_escalate(
                        f"h-{s.level_unit_id[:8]}",
                        "超出本级处置能力",
                        self.after(accept_at, 1.0),
                        DAY,
                    )
                ):
                    return
                at = self.times[-1]
                continue
            length = (deadline - accept_at).total_seconds()
            late = rng.random() < 0.08
            work = length * (rng.uniform(1.05, 2.0) if late else rng.uniform(0.05, 0.9))
            resolve_at = accept_at + timedelta(seconds=max(60.0, work))
            if resolve_at >= deadline and not s.overdue and next_tier(s.tier) is not None:
                if not self._deadline():
                    return
                at = self.times[-1]
                continue
            # at the top tier a late request is marked overdue, and work goes on
            if resolve_at >= deadline and not s.overdue and not self._deadline():
                return
            for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
                note_at = self.times[-1] + (resolve_at - self.times[-1]) * rng.uniform(0.1, 0.6)
                if not self.record(
                    s.decide_progress(
                        f"h-{s.level_unit_id[:8]}", "已上门查看，正在协调处理", note_at
                    )
                ):
                    return
            resolve_at = max(resolve_at, self.times[-1] + timedelta(seconds=1))
            if not self.record(
                s.decide_resolve(f"h-{s.level_unit_id[:8]}", "已处理完毕", resolve_at)
            ):
                return
            if not self._reviews():
                return
            if self.state.status.value == "closed":
                return
            at = self.times[-1]  # reopened at the level that resolved it

    def _deadline(self) -> bool:
        deadline = self.state.deadline
        assert deadline is not None
        change = self.state.decide_deadline(deadline, DAY)
        assert change is not None
        return self.record(change)

    def _reviews(self) -> bool:
        """Follow-up calls until the request closes or reopens; False at the end."""
        rng = self.rng
        while True:
            call_at = self.after(self.times[-1], 20.0)
            if rng.random() < 0.1:
                review = Review(reached=False, comment="电话无人接听")
            else:
                answers = [
                    Answer.YES if x < 0.85 else Answer.PARTLY if x < 0.99 else Answer.NO
                    for x in (rng.random() for _ in range(4))
                ]
                review = Review(True, answers[0], answers[1], answers[2], answers[3])
            change = self.state.decide_review("caller", review, call_at, DAY)
            if not self.record(change):
                return False
            if change.data["outcome"] != "attempt":
                return True


def generate(
    folder: Path,
    requests: int,
    *,
    days: int = 365,
    seed: int = 1351,
    progress: Callable[[int, int], None] | None = None,
) -> History:
    """Write a history of ``requests`` requests filed over ``days`` days into ``folder``."""
    started = time.monotonic()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    url = f"sqlite:///{folder / 'events.db'}"
    engine = make_engine(url)
    roster.metadata.create_all(engine)
    create_tables(engine)
    seed_demo(engine)
    with engine.begin() as conn:
        places = build_city(conn, towns=max(0, min(TOWNS, requests // 1000)))
    engine.dispose()

    rng = random.Random(seed)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    store = RequestStore(env=store_env(url))
    _tune_for_bulk(store)
    pending: list[tuple[float, int, StoredEvent]] = []  # (when, order, event)
    batch: list[StoredEvent] = []
    event_types: dict[str, int] = {}
    states: dict[str, int] = {}
    total = 0
    order = 0
    gap = days * DAY / requests
    to_event = store.mapper.to_stored_event

    def flush() -> None:
        nonlocal batch
        if batch:
            _append(store, batch)
            batch = []

    for n in range(requests):
        filed_at = start + timedelta(seconds=(n + rng.random()) * gap)
        now = filed_at.timestamp()
        while pending and pending[0][0] <= now:
            batch.append(heapq.heappop(pending)[2])
            if len(batch) >= INSERT_BATCH:
                flush()
        request = _file(rng, n, places[rng.randrange(len(places))], filed_at)
        life = _Life(rng, request, end)
        life.live()
        states[life.state.status.value] = states.get(life.state.status.value, 0) + 1
        for event, at in zip(request.collect_events(), life.times, strict=True):
            name = type(event).__name__
            event_types[name] = event_types.get(name, 0) + 1
            heapq.heappush(pending, (at.timestamp(), order, to_event(event)))
            order += 1
        total += life.count
        if progress is not None and n % 10_000 == 0:
            progress(n, requests)
    while pending:
        batch.append(heapq.heappop(pending)[2])
        if len(batch) >= INSERT_BATCH:
            flush()
    flush()
    store.close()
    if progress is not None:
        progress(requests, requests)
    meta = HistoryMeta(
        version=GENERATOR_VERSION,
        requests=requests,
        events=total,
        days=days,
        seed=seed,
        start=start.isoformat(),
        end=end.isoformat(),
        grids=len(places),
        generated_seconds=round(time.monotonic() - started, 1),
        event_types=event_types,
        states=states,
        database_bytes=(folder / "events.db").stat().st_size,
    )
    (folder / "meta.json").write_text(json.dumps(asdict(meta), indent=2, ensure_ascii=False))
    log.info("generated %d requests (%d events) in %.0f s", requests, total, meta.generated_seconds)
    return History(folder, meta)


def _file(rng: random.Random, n: int, place: Place, at: datetime) -> ResidentRequest:
    category = _CATEGORIES[rng.randrange(len(_CATEGORIES))]
    tier = seed_tier(category)
    if rng.random() < 0.05:  # the community platform sometimes grades it higher
        tier = next_tier(tier) or tier
    request_id = str(uuid.uuid5(_NAMESPACE, str(n)))
    intake = Intake(
        request_id=request_id,
        grid_id=place.grid_id,
        community_id=place.community_id,
        town_id=place.town_id,
        category=category,
        description=_DESCRIPTIONS[n % len(_DESCRIPTIONS)],
        channel=("app", "hotline", "visit", "walk_in")[n % 4],
        resident_name=f"{_SURNAMES[n % len(_SURNAMES)]}先生",
        resident_phone=f"138{n % 100_000_000:08d}",
        tier=tier,
    )
    filed = RequestState.decide_file(intake, at, "resident", DAY)
    return ResidentRequest.file(f"{request_id}/0", filed)


def _append(store: RequestStore, events: list[StoredEvent]) -> None:
    """Append ``events`` in one transaction of the store's recorder, into its events table.

    What ``recorder.insert_events`` writes, row for row, but as one ``executemany``: the
    recorder's own path adds each row to an ORM session, which is most of the time of a
    generation of millions of events (SQLite has no table lock or NOTIFY to skip).
    """
    recorder: Any = store.recorder
    table = recorder.events_record_cls.__table__
    rows = [
        {
            "originator_id": e.originator_id,
            "originator_version": e.originator_version,
            "topic": e.topic,
            "state": e.state,
        }
        for e in events
    ]
    with recorder.transaction(commit=True) as session:
        session.execute(insert(table), rows)


def _tune_for_bulk(store: RequestStore) -> None:
    """Generation only: the file is made again if the machine dies meanwhile."""
    recorder: Any = store.recorder
    engine = recorder.datastore.engine
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.commit()

    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _fast(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-262144")
        cursor.close()

    engine.dispose()


def demo_town_id(conn: Connection) -> str:
    """The demo town's unit id (the history's first town)."""
    return next(u.id for u in roster.list_units(db=conn, kind=UnitKind.TOWN) if u.name == DEMO_TOWN)


def expected_events(requests: int) -> int:
    """A rough count, for progress bars before the meta exists."""
    return math.ceil(requests * 4.6)
