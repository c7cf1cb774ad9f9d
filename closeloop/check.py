"""``closeloop check``: do the workflows, the event store and the read models agree?

For every request (or one, or those changed since a time) it compares three things:

- the workflow's state, by its ``view`` query (a worker must be running to answer it);
- the store's aggregate, folded from the request's events;
- the read models: the request's row and its timeline rows.

Each change is compared position by position on every field (type, time, actor, data,
deadlines), and the request's summary (status, tier, level, deadline, counts) as well,
with the street-office operations' part of it (warned, urges, returns, redirects,
approved extensions, whether an extension ask is pending, each co-handler's username and
whether their part is done, whether it was closed out of scope, whether it was
appealed). A read-model row projected before the operations were kept (``ops`` NULL) is
compared without them.
It also lists what exists on one side only (a workflow with no events, events with no
workflow, a request missing from the read models) and every workflow that ended Failed,
Terminated, Timed out or Canceled. A system in use keeps changing while it is checked, so
a request that disagrees is read again a few times before it is reported.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic
from sqlalchemy import Engine, select, text
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from closeloop.db import make_engine
from closeloop.settings import Settings
from closeloop.store import STORE_NAME, RequestStore, store_env
from domain.aggregate import ResidentRequest
from domain.performance import POST_COUNTS, PostRule, Stint, Stints
from domain.privacy import masked
from domain.state import Change, RequestState
from projections.posts import PostTally, counted
from projections.reading import operations, request_item, timeline_item
from projections.tables import (
    TRACKING_TABLE_NAME,
    post_counts,
    posts,
    requests,
    timeline,
    unit_counts,
)

#: The request's summary fields that all three must agree on.
SUMMARY = (
    "status",
    "tier",
    "level",
    "level_unit_id",
    "deadline",
    "overdue",
    "escalations",
    "reopens",
    "unreached_attempts",
    "urgent",
    "grid_id",
    "community_id",
    "town_id",
    "category",
    "description",
    "channel",
    "resident",
    "created_at",
    "updated_at",
)

#: The operations' part of the summary (:func:`operations_summary`).
OPERATIONS_SUMMARY = (
    "warned",
    "urges",
    "returns",
    "redirects",
    "extensions_approved",
    "extension_pending",
    "cohandlers",
    "out_of_scope",
    "appeal",
)

#: A stint's fields, compared between the store's replay and the read models' row.
STINT_FIELDS: tuple[str, ...] = tuple(Stint.__dataclass_fields__)
#: Where the store's view holds its replayed stints.
STINTS = "_stints"
#: Marks a read-model view whose row was projected before the operations were kept.
OPS_UNKNOWN = "_ops_unknown"

#: How often a disagreeing request is read again, and how long apart (it may be moving).
RECHECKS = 3
RECHECK_PAUSE = 1.0
#: How many requests are checked at once.
CONCURRENCY = 8
_ENDED_BADLY = {
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
    WorkflowExecutionStatus.CANCELED,
}
_WORKFLOW_PREFIX = "request-"
_QUERY_TIMEOUT = timedelta(seconds=15)


@dataclass(frozen=True)
class Disagreement:
    request_id: str
    what: str  # in words: which sides, which change, which field
    left: Any = None
    right: Any = None

    def __str__(self) -> str:
        if self.left is None and self.right is None:
            return f"request {self.request_id}: {self.what}"
        return f"request {self.request_id}: {self.what}: {self.left!r} vs {self.right!r}"


@dataclass
class Report:
    checked: int
    disagreements: list[Disagreement]
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.disagreements


class CheckError(RuntimeError):
    """The check cannot run (Temporal or the database unreachable)."""


Progress = Callable[[int, int], None]


def _same(a: Any, b: Any) -> bool:
    """Equal values; ISO times compare as instants (one side may write +00:00, another Z)."""
    if isinstance(a, str) and isinstance(b, str) and a != b:
        try:
            return datetime.fromisoformat(a) == datetime.fromisoformat(b)
        except ValueError:
            return False
    return bool(a == b)


def operations_summary(view: dict[str, Any]) -> dict[str, Any]:
    """The operations' part of a request's summary, from a view (the workflow's, the
    store's, or the read model's, whose columns say whether an extension is pending)."""
    pending = view.get("extension_pending")
    return {
        "warned": view.get("warned"),
        "urges": view.get("urges"),
        "returns": view.get("returns"),
        "redirects": view.get("redirects"),
        "extensions_approved": view.get("extensions_approved"),
        "extension_pending": (view.get("extension") is not None) if pending is None else pending,
        "cohandlers": [(c["username"], c["done"]) for c in view.get("cohandlers") or []],
        "out_of_scope": view.get("out_of_scope") is not None,
        "appeal": view.get("appeal") is not None,
    }


def compare(
    request_id: str, names: tuple[str, str], left: dict[str, Any], right: dict[str, Any]
) -> list[Disagreement]:
    """Field by field: the summary, then each change of the timelines in order."""
    a, b = names
    found: list[Disagreement] = []
    for name in SUMMARY:
        x, y = left.get(name), right.get(name)
        if name == "resident" and x and y:  # the read models keep it masked; so does a report
            x, y = masked(x), masked(y)
        if not _same(x, y):
            found.append(Disagreement(request_id, f"{a} / {b}: {name}", x, y))
    if not (left.get(OPS_UNKNOWN) or right.get(OPS_UNKNOWN)):
        ops_left, ops_right = operations_summary(left), operations_summary(right)
        for name in OPERATIONS_SUMMARY:
            x, y = ops_left[name], ops_right[name]
            if not _same(x, y):
                found.append(Disagreement(request_id, f"{a} / {b}: {name}", x, y))
    lt, rt = left.get("timeline", []), right.get("timeline", [])
    for position in range(max(len(lt), len(rt))):
        if position >= len(lt) or position >= len(rt):
            has, lacks, entry = (a, b, lt[position]) if position < len(lt) else (b, a, rt[position])
            found.append(
                Disagreement(
                    request_id,
                    f"change {position} ({entry.get('type')} at {entry.get('at')}) is in the "
                    f"{has} but not in the {lacks}",
                )
            )
            continue
        x, y = lt[position], rt[position]
        for key in sorted(set(x) | set(y)):
            if not _same(x.get(key), y.get(key)):
                found.append(
                    Disagreement(
                        request_id,
                        f"{a} / {b}: change {position} ({x.get('type')}): {key}",
                        x.get(key),
                        y.get(key),
                    )
                )
    return found


class Checker:
    """Reads the three sides of a request; one per ``closeloop check`` run."""

    def __init__(
        self,
        client: Client,
        store: RequestStore,
        engine: Engine,
        task_queue: str,
        repair: bool = False,
        rule: PostRule | None = None,
    ) -> None:
        self.client = client
        #: how stints are counted (the response window, the month's time zone); with
        #: it, each request's stints in the read models are compared with the store's
        self.rule = rule
        self.store = store
        self.engine = engine
        #: the requests' workflows are those on this task queue (a namespace may hold more)
        self.task_queue = task_queue
        self.repair = repair
        self.repaired: list[str] = []

    # ---- which requests ----------------------------------------------------------

    def store_ids(self) -> set[str]:
        """Every request the store holds (its filings, from the notification log)."""
        topic = get_topic(ResidentRequest.Filed)
        found: set[str] = set()
        start: int | None = None
        while True:
            page = self.store.recorder.select_notifications(
                start, 5000, topics=[topic], inclusive_of_start=False
            )
            found.update(str(n.originator_id) for n in page)
            if len(page) < 5000:
                return found
            start = page[-1].id

    def read_model_ids(self, since: datetime | None = None) -> set[str]:
        query = select(requests.c.id)
        if since is not None:
            query = query.where(requests.c.updated_at >= since)
        with self.engine.connect() as conn:
            return {row.id for row in conn.execute(query)}

    async def workflows(self, since: datetime | None = None) -> dict[str, WorkflowExecutionStatus]:
        """Request id -> workflow status, from Temporal's visibility."""
        queue = self.task_queue.replace("'", "''")
        query = f"WorkflowType = 'RequestWorkflow' AND TaskQueue = '{queue}'"
        if since is not None:
            stamp = since.isoformat()
            query += f" AND (StartTime >= '{stamp}' OR CloseTime >= '{stamp}')"
        found: dict[str, WorkflowExecutionStatus] = {}
        async for wf in self.client.list_workflows(query):
            if wf.id.startswith(_WORKFLOW_PREFIX) and wf.status is not None:
                found[wf.id.removeprefix(_WORKFLOW_PREFIX)] = wf.status
        return found

    # ---- the three sides of one request ------------------------------------------

    async def workflow_view(self, request_id: str) -> tuple[str | None, dict[str, Any] | None]:
        """(how it ended, if badly; its view), or (why there is none, None)."""
        handle = self.client.get_workflow_handle(_WORKFLOW_PREFIX + request_id)
        try:
            described = await handle.describe()
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                return "no workflow", None
            raise
        ended = None
        if described.status in _ENDED_BADLY and described.status is not None:
            ended = f"the workflow ended {described.status.name}"
        try:
            view = await handle.query("view", rpc_timeout=_QUERY_TIMEOUT)
        except (RPCError, WorkflowQueryFailedError) as e:
            return ended or f"the workflow did not answer its query ({e})", None
        return ended, view

    def store_view(self, request_id: str) -> tuple[dict[str, Any] | None, list[str]]:
        """The aggregate's view, and its command ids (each must be there once); with a
        rule, the view also holds the stints replayed from the changes (``STINTS``)."""
        try:
            aggregate = self.store.get_request(UUID(request_id))
        except (AggregateNotFoundError, ValueError):
            return None, []
        view = aggregate.state.view()
        if self.rule is not None:
            view[STINTS] = replayed_stints(request_id, [c for _, c in aggregate.changes], self.rule)
        return view, [command_id for command_id, _ in aggregate.changes]

    def read_model_stints(self, request_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(posts).where(posts.c.request_id == request_id).order_by(posts.c.seq)
            )
            return [_stint_fields(Stint.from_row(row)) for row in rows]

    def count_tables(self) -> list[Disagreement]:
        """The monthly buckets and the units' rows against a recount of the stints' rows
        (what the league tables and the assessment read)."""
        assert self.rule is not None
        tally = PostTally()
        with self.engine.connect() as conn:
            for row in conn.execute(select(posts).execution_options(yield_per=50_000)):
                tally.move(None, counted(Stint.from_row(row), self.rule))
            buckets = {
                (r.month, r.level, r.grid_id, r.handler): [r._mapping[n] for n in POST_COUNTS]
                for r in conn.execute(select(post_counts))
            }
            units = {
                (r.month, r.kind, r.unit_id): [r._mapping[n] for n in POST_COUNTS]
                for r in conn.execute(select(unit_counts))
            }
        expected = {key: bucket[2:] for key, bucket in tally.buckets.items() if any(bucket[2:])}
        found = _table_disagreements("view_post_counts", expected, buckets)
        return found + _table_disagreements("view_unit_counts", tally.unit_totals(), units)

    def read_model_view(self, request_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(requests).where(requests.c.id == request_id)).first()
            if row is None:
                return None
            # the columns (warned, urges, extension_pending...) and the rest from ``ops``
            view = request_item(row)
            ops = operations(row)
            if ops is None:
                view[OPS_UNKNOWN] = True
            else:
                for key, value in ops.items():
                    view.setdefault(key, value)
            rows = conn.execute(
                select(timeline)
                .where(timeline.c.request_id == request_id)
                .order_by(timeline.c.position)
            )
            view["timeline"] = [timeline_item(r) for r in rows]
        return view

    async def check_request(self, request_id: str) -> list[Disagreement]:
        """Read again while the request disagrees, as it may be moving."""
        found: list[Disagreement] = []
        for attempt in range(RECHECKS):
            found = await self._check_once(request_id)
            if not found:
                return found
            if self.repair and await self._repair(request_id):
                continue
            if attempt + 1 < RECHECKS:
                await asyncio.sleep(RECHECK_PAUSE)
        return found

    async def _repair(self, request_id: str) -> bool:
        """When the store holds changes beyond the workflow's last one (and they agree up
        to there), have the workflow adopt them (its ``sync`` update). True if it did."""
        _, workflow = await self.workflow_view(request_id)
        stored, _ = await asyncio.to_thread(self.store_view, request_id)
        if workflow is None or stored is None:
            return False
        mine, theirs = workflow["timeline"], stored["timeline"]
        if len(mine) >= len(theirs):
            return False
        if compare(request_id, ("workflow", "store"), {"timeline": mine},
                   {"timeline": theirs[: len(mine)]}):  # fmt: skip
            return False
        handle = self.client.get_workflow_handle(_WORKFLOW_PREFIX + request_id)
        view: dict[str, Any] = await handle.execute_update("sync", result_type=dict)
        adopted = len(view["timeline"]) - len(mine)
        self.repaired.append(
            f"request {request_id}: the workflow adopted {adopted} changes the store held "
            f"beyond its last one"
        )
        return adopted > 0

    async def _check_once(self, request_id: str) -> list[Disagreement]:
        # Read in the order the system writes: the store first is written first, so a
        # change made between the reads shows as the workflow or read model behind, and
        # the next read settles it.
        ended, workflow = await self.workflow_view(request_id)
        stored, command_ids = await asyncio.to_thread(self.store_view, request_id)
        read = await asyncio.to_thread(self.read_model_view, request_id)
        found: list[Disagreement] = []
        if ended is not None:
            found.append(Disagreement(request_id, ended))
        if stored is None:
            found.append(Disagreement(request_id, "the event store has no events for it"))
        repeated = sorted({c for c in command_ids if command_ids.count(c) > 1})
        if repeated:
            found.append(Disagreement(request_id, f"command ids recorded twice: {repeated}"))
        if read is None:
            found.append(Disagreement(request_id, "the read models have no row for it"))
        if workflow is not None and stored is not None:
            found += compare(request_id, ("workflow", "store"), workflow, stored)
        if stored is not None and read is not None:
            found += compare(request_id, ("store", "read model"), stored, read)
            if STINTS in stored:
                kept = await asyncio.to_thread(self.read_model_stints, request_id)
                found += _stint_disagreements(request_id, stored[STINTS], kept)
        return found

    # ---- the run -------------------------------------------------------------------

    def projection_lag(self) -> int:
        """How many notifications the read models have yet to take."""
        latest = self.store.recorder.max_notification_id() or 0
        with self.engine.connect() as conn:
            done = conn.execute(
                text(
                    f"SELECT max(notification_id) FROM {TRACKING_TABLE_NAME} "
                    "WHERE application_name = :name"
                ),
                {"name": STORE_NAME},
            ).scalar()
        return max(0, latest - int(done or 0))

    async def run(
        self,
        request_id: str | None = None,
        since: datetime | None = None,
        progress: Progress | None = None,
        catch_up: float = 30.0,
    ) -> Report:
        # The read models follow the store: give the projector time to take what is new.
        loop = asyncio.get_running_loop()
        end = loop.time() + catch_up
        while await asyncio.to_thread(self.projection_lag) and loop.time() < end:
            await asyncio.sleep(0.5)
        found: list[Disagreement] = []
        if request_id is not None:
            ids = [request_id]
        else:
            in_store = await asyncio.to_thread(self.store_ids)
            in_views = await asyncio.to_thread(self.read_model_ids)
            running = await self.workflows(since)
            if since is None:
                wanted = in_store | in_views | set(running)
            else:
                changed = await asyncio.to_thread(self.read_model_ids, since)
                # and whatever the read models have not seen at all
                wanted = changed | set(running) | (in_store - in_views)
            ids = sorted(wanted)
        total = len(ids)
        done = 0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(rid: str) -> list[Disagreement]:
            nonlocal done
            async with gate:
                result = await self.check_request(rid)
            done += 1
            if progress is not None:
                progress(done, total)
            return result

        if progress is not None:
            progress(0, total)
        for result in await asyncio.gather(*(one(rid) for rid in ids)):
            found += result
        if self.rule is not None and request_id is None and since is None:
            found += await asyncio.to_thread(self.count_tables)
        return Report(checked=total, disagreements=found, repaired=list(self.repaired))


def _bar(stream: Any) -> Progress:
    def progress(done: int, total: int) -> None:
        width = 40
        filled = width * done // total if total else width
        percent = 100 * done // total if total else 100
        stream.write(
            f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} requests ({percent}%)"
        )
        if done == total:
            stream.write("\n")
        stream.flush()

    return progress


def replayed_stints(request_id: str, changes: list[Change], rule: PostRule) -> list[dict[str, Any]]:
    """A request's stints as its changes make them (what the projection keeps)."""
    stints = Stints(request_id)
    state: RequestState | None = None
    for change in changes:
        if state is None:
            state = RequestState.from_filed(change, timeline=False)
        else:
            state.apply(change, timeline=False)
        stints.apply(change, state, rule.responded)
    return [_stint_fields(stint) for stint in stints.items]


def _stint_fields(stint: Stint) -> dict[str, Any]:
    return {name: getattr(stint, name) for name in STINT_FIELDS}


def _stint_disagreements(
    request_id: str, stored: list[dict[str, Any]], kept: list[dict[str, Any]]
) -> list[Disagreement]:
    if len(stored) != len(kept):
        return [Disagreement(request_id, "store / read model: stints", len(stored), len(kept))]
    found = []
    for seq, (mine, theirs) in enumerate(zip(stored, kept, strict=True)):
        for name in STINT_FIELDS:
            if not _same(mine[name], theirs[name]):
                found.append(
                    Disagreement(
                        request_id,
                        f"store / read model: stint {seq}: {name}",
                        mine[name],
                        theirs[name],
                    )  # fmt: skip
                )
    return found


def _table_disagreements(
    name: str, expected: dict[Any, list[int]], kept: dict[Any, list[int]]
) -> list[Disagreement]:
    """Rows of a count table that differ from the recount (``-`` for the request)."""
    found = []
    for key in sorted(expected.keys() | kept.keys()):
        mine, theirs = expected.get(key), kept.get(key)
        if mine != theirs:
            found.append(
                Disagreement("-", f"{name} {'/'.join(key)}: recount / table", mine, theirs)
            )
    return found


def lines(report: Report) -> Iterator[str]:
    yield from report.repaired
    for d in report.disagreements:
        yield str(d)
    requests_off = len({d.request_id for d in report.disagreements})
    if report.ok:
        yield f"checked {report.checked} requests: workflows, store and read models agree"
    else:
        yield (
            f"checked {report.checked} requests: {len(report.disagreements)} disagreements "
            f"in {requests_off} requests"
        )


async def check(
    settings: Settings,
    request_id: str | None = None,
    since: datetime | None = None,
    repair: bool = False,
) -> int:
    """Run the check and print what it finds; 0 only when everything agrees."""
    from closeloop.keys import keyring
    from closeloop.temporal_client import connect_temporal
    from closeloop.workcalendar import post_rule

    try:
        client = await connect_temporal(
            settings.target, settings.namespace, timeout=10, keys=keyring(settings)
        )
    except (RuntimeError, TimeoutError) as e:
        print(f"closeloop check: {e}; is closeloop running?", file=sys.stderr)
        return 2
    store = RequestStore(env=store_env(settings.database_url, keyring(settings)))
    engine = make_engine(settings.database_url)
    try:
        checker = Checker(
            client, store, engine, settings.task_queue, repair=repair,
            rule=post_rule(settings, engine),
        )  # fmt: skip
        report = await checker.run(request_id, since, progress=_bar(sys.stderr))
    except RPCError as e:
        print(f"closeloop check: Temporal did not answer: {e.message}", file=sys.stderr)
        return 2
    finally:
        store.close()
        engine.dispose()
    for line in lines(report):
        print(line, flush=True)
    return 0 if report.ok else 1
