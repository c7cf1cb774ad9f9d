"""The street-office operations in the read models: every event projects, the queue, the
work lists of assisting levels and co-handlers, the board's filters, the figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from closeloop.store import RequestStore
from domain.ladder import Tier
from domain.state import MERGE_TYPES, OPERATION_TYPES, PROGRESS_NOTED
from projections.figures import refill
from projections.pages import board
from projections.queries import (
    cohandled,
    dispatch_queue,
    get_request,
    list_requests,
    stats,
    tasks,
)
from projections.reading import NO_OPERATIONS
from projections.rebuild import rebuild
from projections.runner import Projector
from projections.stats import _count_rows, _present, dispatch_wait, dispatch_waits
from projections.tables import figures, people, requests
from projections.views import RequestViews
from tests.projections.conftest import T0, RequestLog, as_read, dump

H = timedelta(hours=1)


@dataclass(frozen=True)
class Ops:
    """Requests that go through every operation (see :func:`file_operations`)."""

    waiting_c1: str
    waiting_c2: str
    waiting_t2: str
    returned: str
    redirected: str
    extended: str
    out_of_scope: str
    appealed: str
    waiting_out_of_scope: str
    unreachable: str
    dispatched_t2: str


def file_operations(log: RequestLog) -> Ops:
    """Town t1: c1 (g1, g2), c2 (g3); town t2: c3 (g4). Day 0 is T0 (UTC).

    waiting_c1   c1, filed for dispatch at 01:00, still waiting.
    waiting_c2   c2, filed for dispatch at 02:00, still waiting; urged.
    waiting_t2   c3, filed for dispatch at 00:30, still waiting.
    returned     c1, filed for dispatch at 00:00, dispatched at 03:00 (waited 3 h) to g1,
                 accepted, returned at 04:00, dispatched at 06:00 (2 h) to g2 as noise,
                 resolved and reviewed yes: closed. Waited 5 h in all.
    redirected   c1, filed for dispatch at 00:00, dispatched at 01:00 (1 h) to g1,
                 redirected to g2, urged twice, warned: open.
    extended     c1 g1, filed 01:00: an extension approved, another refused, warned,
                 re-tiered to 3d (g1's worker assists), co-handler property1 added, notes,
                 done, added again, escalated to 5d (g1's branch assists too): open.
    out_of_scope c2 g3: closed out of scope.
    appealed     c2 g3: closed out of scope, appealed: open at c2's committee.
    waiting_out_of_scope  c1: filed for dispatch, closed out of scope while waiting.
    unreachable  c1 g1: resolved, three unreached calls: closed as unreachable.
    dispatched_t2  c3, filed for dispatch on day 1 00:00, dispatched at 10:00 (10 h).
    """
    wc1 = log.file(T0 + H, grid="g1", community="c1", town="t1", manual=True)
    wc2 = log.file(T0 + 2 * H, grid="g3", community="c2", town="t1", manual=True)
    log.urge(wc2, T0 + 3 * H)
    wt2 = log.file(T0 + H / 2, grid="g4", community="c3", town="t2", manual=True)

    ret = log.file(T0, grid="g1", community="c1", town="t1", manual=True, urgent=True)
    log.dispatch(ret, T0 + 3 * H, grid="g1")
    log.accept(ret, T0 + 3.5 * H)
    log.return_(ret, T0 + 4 * H)
    log.dispatch(ret, T0 + 6 * H, grid="g2", category="noise")
    log.accept(ret, T0 + 7 * H)
    log.resolve(ret, T0 + 8 * H)
    log.review(ret, T0 + 9 * H, "yes yes yes yes")

    red = log.file(T0, grid="g1", community="c1", town="t1", manual=True)
    log.dispatch(red, T0 + H, grid="g1")
    log.redirect(red, T0 + 2 * H, grid="g2")
    log.urge(red, T0 + 3 * H)
    log.urge(red, T0 + 4 * H)
    log.warn(red, T0 + 21 * H)  # 0.8 of the day from 01:00

    ext = log.file(T0 + H, grid="g1", community="c1", town="t1")
    log.accept(ext, T0 + 2 * H)
    log.ask_extension(ext, T0 + 2 * H, until=T0 + 30 * H)
    log.decide_extension(ext, T0 + 3 * H, approve=True)
    log.ask_extension(ext, T0 + 4 * H, until=T0 + 40 * H)
    log.decide_extension(ext, T0 + 5 * H, approve=False)
    log.warn(ext, T0 + 25 * H)  # 0.8 of 01:00 .. 30:00
    log.retier(ext, T0 + 26 * H, Tier.D3)
    log.add_cohandler(ext, T0 + 27 * H, "property1", organisation="物业公司")
    log.assist_note(ext, T0 + 28 * H, "property1")
    log.assist_note(ext, T0 + 28.5 * H, "worker")  # g1's worker, assisting
    log.cohandler_done(ext, T0 + 29 * H, "property1")
    log.add_cohandler(ext, T0 + 30 * H, "property1", task="again")
    log.escalate(ext, T0 + 31 * H)

    oos = log.file(T0 + 3 * H, grid="g3", community="c2", town="t1")
    log.close_out_of_scope(oos, T0 + 4 * H)
    app = log.file(T0 + 3 * H, grid="g3", community="c2", town="t1")
    log.close_out_of_scope(app, T0 + 4 * H)
    log.appeal(app, T0 + 5 * H)
    woos = log.file(T0 + 5 * H, grid="g1", community="c1", town="t1", manual=True)
    log.close_out_of_scope(woos, T0 + 6 * H)

    unr = log.file(T0 + 4 * H, grid="g1", community="c1", town="t1")
    log.accept(unr, T0 + 5 * H)
    log.resolve(unr, T0 + 6 * H)
    for attempt in range(3):
        log.review(unr, T0 + (7 + attempt) * H)

    day1 = T0 + timedelta(days=1)
    dt2 = log.file(day1, grid="g4", community="c3", town="t2", manual=True)
    log.dispatch(dt2, day1 + 10 * H, grid="g4", tier=Tier.D3)
    return Ops(wc1, wc2, wt2, ret, red, ext, oos, app, woos, unr, dt2)


def project(database_url: str, store: RequestStore, batch_size: int) -> None:
    projector = Projector(database_url, store=store, batch_size=batch_size)
    while projector.run_batch():
        pass
    projector.close()


@pytest.fixture
def ops(log: RequestLog, database_url: str, engine: Engine) -> Ops:
    filed = file_operations(log)
    project(database_url, log.store, batch_size=4)  # lives span batches
    return filed


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [str(item["id"]) for item in items]


def test_every_operation_projects_and_reads_as_the_workflow_sees_it(
    ops: Ops, log: RequestLog, database_url: str, engine: Engine
) -> None:
    views = RequestViews.connect(database_url)
    try:
        assert views.quarantined() == 0
    finally:
        views.close()
    seen: set[str] = set()
    for request_id in vars(ops).values():
        read = get_request(engine, request_id)
        assert read == as_read(log.states[request_id]), request_id
        seen.update(entry["type"] for entry in read["timeline"])
    assert set(OPERATION_TYPES) - set(MERGE_TYPES) <= seen  # merges: test_merging.py
    notes = get_request(engine, ops.extended)["timeline"]  # type: ignore[index]
    assert [e["actor"] for e in notes if e["type"] == PROGRESS_NOTED and e.get("assisting")] == [
        "property1",
        "worker",
    ]


def test_what_the_request_says_of_its_operations(ops: Ops, engine: Engine) -> None:
    ext = get_request(engine, ops.extended)
    assert ext is not None
    assert (ext["status"], ext["tier"], ext["level"]) == ("assigned", "5d", "community_committee")
    assert ext["assisting"] == [
        {"level": "grid_worker", "unit_id": "g1"},
        {"level": "grid_branch", "unit_id": "g1"},
    ]
    assert [(c["username"], c["done"], c["task"]) for c in ext["cohandlers"]] == [
        ("property1", True, "open the meter room"),
        ("property1", False, "again"),
    ]
    assert ext["cohandlers"][0]["organisation"] == "物业公司"
    assert ext["extension"] is None and ext["warned"] is False  # a new tier
    app = get_request(engine, ops.appealed)
    assert app is not None and app["out_of_scope"]["reason"] == "a court case"
    assert app["appeal"]["reason"] == "it is ours" and app["status"] == "assigned"
    waiting = get_request(engine, ops.waiting_c1)
    assert waiting is not None and waiting["deadline"] is None
    assert waiting["status"] == "waiting_dispatch"
    assert waiting["waiting_since"] == (T0 + H).isoformat()
    ret = get_request(engine, ops.returned)
    assert ret is not None and ret["returns"] == 1 and ret["dispatch_wait_seconds"] == 5 * 3600


def test_list_items_show_the_operations(ops: Ops, engine: Engine) -> None:
    items = {i["id"]: i for i in list_requests(engine, limit=100)["items"]}
    red, ext, wc2 = items[ops.redirected], items[ops.extended], items[ops.waiting_c2]
    assert (red["warned"], red["urges"], red["last_urged_at"]) == (
        True,
        2,
        (T0 + 4 * H).isoformat(),
    )
    assert (ext["cohandlers_open"], ext["extension_pending"]) == (1, False)
    assert (wc2["waiting_since"], wc2["urges"], wc2["deadline"]) == (
        (T0 + 2 * H).isoformat(),
        1,
        None,
    )
    assert red["waiting_since"] is None


def test_a_pending_extension_is_listed(log: RequestLog, database_url: str, engine: Engine) -> None:
    request_id = log.file(T0, grid="g1")
    log.ask_extension(request_id, T0 + H, until=T0 + 30 * H)
    project(database_url, log.store, batch_size=10)
    assert ids(list_requests(engine, extension_pending=True)["items"]) == [request_id]
    read = get_request(engine, request_id)
    assert read is not None and read["extension"]["until"] == (T0 + 30 * H).isoformat()
    log.decide_extension(request_id, T0 + 2 * H, approve=True)
    project(database_url, log.store, batch_size=10)
    assert list_requests(engine, extension_pending=True)["total"] == 0
    item = list_requests(engine)["items"][0]
    assert item["deadline"] == (T0 + 30 * H).isoformat() and item["extension_pending"] is False


def test_the_dispatch_queue_longest_waiting_first(ops: Ops, engine: Engine) -> None:
    everything = dispatch_queue(engine)
    assert ids(everything["items"]) == [ops.waiting_t2, ops.waiting_c1, ops.waiting_c2]
    assert everything["total"] == 3
    first = everything["items"][0]
    assert first["waiting_since"] == (T0 + H / 2).isoformat()
    assert first["category"] == "water" and first["status"] == "waiting_dispatch"
    assert ids(dispatch_queue(engine, ["c1"])["items"]) == [ops.waiting_c1]
    assert ids(dispatch_queue(engine, ["t1"])["items"]) == [ops.waiting_c1, ops.waiting_c2]
    assert ids(dispatch_queue(engine, ["c2", "t2"])["items"]) == [ops.waiting_t2, ops.waiting_c2]
    assert dispatch_queue(engine, []) == {"items": [], "total": 0}
    page = dispatch_queue(engine, None, limit=1, offset=1)
    assert ids(page["items"]) == [ops.waiting_c1] and page["total"] == 3


def test_a_returned_request_waits_again_from_its_return(
    log: RequestLog, database_url: str, engine: Engine
) -> None:
    request_id = log.file(T0, grid="g1", manual=True)
    log.dispatch(request_id, T0 + H)
    project(database_url, log.store, batch_size=10)
    assert dispatch_queue(engine)["total"] == 0
    log.return_(request_id, T0 + 5 * H)
    project(database_url, log.store, batch_size=10)
    (item,) = dispatch_queue(engine)["items"]
    assert item["waiting_since"] == (T0 + 5 * H).isoformat() and item["deadline"] is None


def test_tasks_of_assisting_levels_and_co_handlers(ops: Ops, engine: Engine) -> None:
    # g1's worker: the request that went up from their post, assisting
    worker = tasks(engine, assignments=[("g1", "grid_worker")])
    assert [(i["id"], i["assisting"]) for i in worker] == [(ops.extended, True)]
    # g2's worker holds the redirected one; g1's branch assists the extended one
    mixed = tasks(engine, assignments=[("g2", "grid_worker"), ("g1", "grid_branch")])
    assert [(i["id"], i["assisting"]) for i in mixed] == [
        (ops.redirected, False),
        (ops.extended, True),
    ]
    # c1's committee holds it now: theirs, not assisting
    committee = tasks(engine, assignments=[("c1", "community_committee")])
    assert [(i["id"], i["assisting"]) for i in committee] == [(ops.extended, False)]
    # a co-handler by username, with no posts
    partner = tasks(engine, assignments=[], username="property1")
    assert [(i["id"], i["assisting"]) for i in partner] == [(ops.extended, True)]
    assert tasks(engine, assignments=[], username="nobody") == []
    # listed once, and limited
    both = tasks(engine, assignments=[("g1", "grid_worker")], username="property1")
    assert ids(both) == [ops.extended]
    assert (
        len(tasks(engine, assignments=[("g2", "grid_worker"), ("g1", "grid_branch")], limit=1)) == 1
    )


def test_a_done_co_handler_has_no_task_but_keeps_their_list(
    log: RequestLog, database_url: str, engine: Engine
) -> None:
    done = log.file(T0, grid="g1")
    log.add_cohandler(done, T0 + H, "owners")
    log.cohandler_done(done, T0 + 2 * H, "owners")
    closed = log.file(T0 + H, grid="g1")
    log.accept(closed, T0 + H)
    log.add_cohandler(closed, T0 + 2 * H, "owners")
    log.resolve(closed, T0 + 3 * H)
    log.review(closed, T0 + 4 * H, "yes yes yes yes")
    open_ = log.file(T0 + 2 * H, grid="g2")
    log.add_cohandler(open_, T0 + 3 * H, "owners", organisation="业委会")
    project(database_url, log.store, batch_size=3)

    assert ids(tasks(engine, assignments=[], username="owners")) == [open_]
    theirs = cohandled(engine, "owners")
    assert theirs["total"] == 3
    assert ids(theirs["items"])[0] == open_  # their open part first
    assert set(ids(theirs["items"])[1:]) == {done, closed}
    first = theirs["items"][0]
    assert first["cohandler_open"] is True and first["cohandler"]["organisation"] == "业委会"
    assert {i["id"]: i["cohandler_open"] for i in theirs["items"][1:]} == {
        done: False,
        closed: False,  # the request closed with their part open: nothing left to do
    }
    assert ids(cohandled(engine, "owners", limit=1, offset=1)["items"]) == ids(theirs["items"])[1:2]
    assert cohandled(engine, "nobody") == {"items": [], "total": 0}
    with engine.connect() as conn:
        rows = sorted((r.request_id, r.done) for r in conn.execute(select(people)))
    assert rows == sorted([(done, True), (closed, False), (open_, False)])


def test_the_boards_filters(ops: Ops, engine: Engine) -> None:
    def found(**filters: Any) -> set[str]:
        listed = set(ids(list_requests(engine, limit=100, **filters)["items"]))
        on_board = set(ids(board(engine, limit=100, **filters)["items"]))
        assert listed == on_board, filters
        return listed

    every = set(vars(ops).values())
    assert found(warned=True) == {ops.redirected}
    assert found(urged=True) == {ops.redirected, ops.waiting_c2}
    assert found(urged=False) == every - {ops.redirected, ops.waiting_c2}
    assert found(cohandled=True) == {ops.extended}
    assert found(waiting_dispatch=True) == {ops.waiting_c1, ops.waiting_c2, ops.waiting_t2}
    assert found(out_of_scope=True) == {ops.out_of_scope, ops.waiting_out_of_scope}
    assert found(out_of_scope=False) == every - {ops.out_of_scope, ops.waiting_out_of_scope}
    assert found(extension_pending=True) == set()
    assert found(warned=False, unit_id="c2") == {ops.waiting_c2, ops.out_of_scope, ops.appealed}
    assert ids(list_requests(engine, status="waiting_dispatch")["items"]) == ids(
        list_requests(engine, waiting_dispatch=True)["items"]
    )


def test_the_figures_of_the_operations(ops: Ops, engine: Engine) -> None:
    figures_ = stats(engine)
    assert {k: figures_[k] for k in _OPERATION_KEYS} == {
        "returned": 1,
        "redirected": 1,
        "extensions_asked": 2,
        "extensions_approved": 1,
        "urged": 3,
        "warned": 2,
        "out_of_scope": 2,
        "closed_unreached": 1,
        "closed_reached": 1,  # the returned one
        "completion_rate_reached": round(1 / 11, 4),
        "dispatch_wait": {"count": 3, "p50_hours": 5.0, "p90_hours": 9.0},
    }
    assert figures_["closed"] == 4 and figures_["completion_rate"] == round(4 / 11, 4)
    town = stats(engine, unit_id="t1")
    assert town["dispatch_wait"] == {"count": 2, "p50_hours": 3.0, "p90_hours": 4.6}
    assert stats(engine, unit_id="g4")["dispatch_wait"]["count"] == 1
    nothing = stats(engine, unit_id="c2", date_from=T0 + timedelta(days=1))
    assert nothing["dispatch_wait"] == {"count": 0, "p50_hours": None, "p90_hours": None}


_OPERATION_KEYS = (
    "returned",
    "redirected",
    "extensions_asked",
    "extensions_approved",
    "urged",
    "warned",
    "out_of_scope",
    "closed_unreached",
    "closed_reached",
    "completion_rate_reached",
    "dispatch_wait",
)

PERIODS: list[tuple[datetime | None, datetime | None]] = [
    (None, None),
    (T0, T0 + timedelta(days=1)),
    (T0 + 2 * H, T0 + timedelta(days=1, hours=3)),
    (T0 + timedelta(hours=20), None),
]


def test_the_kept_figures_equal_a_recount_from_the_rows(ops: Ops, engine: Engine) -> None:
    with engine.connect() as conn:
        kept = sorted(tuple(r) for r in conn.execute(select(figures)))
    with engine.begin() as conn:
        refill(conn)
    with engine.connect() as conn:
        assert sorted(tuple(r) for r in conn.execute(select(figures))) == kept
    for unit in (None, "t1", "t2", "c1", "c2", "g1", "g4"):
        for date_from, date_to in PERIODS:
            with engine.connect() as conn:
                from_rows = _present(_count_rows(conn, unit, date_from, date_to))
                from_rows["dispatch_wait"] = dispatch_wait(
                    dispatch_waits(conn, unit, date_from, date_to)
                )
            assert stats(engine, unit_id=unit, date_from=date_from, date_to=date_to) == from_rows


def test_a_rebuild_gives_the_rows_of_the_live_projection(
    ops: Ops, database_url: str, engine: Engine
) -> None:
    before = dump(engine)
    assert before["view_request_people"]  # the assisting levels and co-handlers are there
    rebuild(database_url, batch_size=7)
    assert dump(engine) == before


def test_rows_projected_before_the_operations_read_and_move_on(
    log: RequestLog, database_url: str, engine: Engine
) -> None:
    request_id = log.file(T0, grid="g1")
    project(database_url, log.store, batch_size=10)
    with engine.begin() as conn:  # as revision 0009 leaves a row projected before it
        conn.execute(update(requests).values(ops=None))
    read = get_request(engine, request_id)
    assert read is not None
    assert {k: read[k] for k in NO_OPERATIONS} == NO_OPERATIONS
    log.accept(request_id, T0 + H)
    log.urge(request_id, T0 + 2 * H)
    project(database_url, log.store, batch_size=10)
    read = get_request(engine, request_id)
    assert read is not None and read["urges"] == 1 and read["status"] == "in_progress"
    # what the row knew not (the tier's start) stays unknown; the rest is the workflow's
    expected = as_read(log.states[request_id])
    assert read == {**expected, "tier_started_at": None}
