"""Street-office operations in RequestWorkflow, on the real Temporal dev server: dispatch
and return, redirect and re-tier, warning, urging, extensions, co-handlers and assisting
levels, out-of-scope closure and appeal. Each move is checked in the workflow's view and in
the event store, and each refusal leaves the store as it was."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from closeloop.store import RequestStore
from domain.ladder import Level, Tier
from domain.state import Assignment, Intake
from workflows.commands import CommandError, file_request, send
from workflows.messages import Actor, HandlerCommand, OpsCommand, workflow_id
from workflows.worker import build_worker

GRID, GRID2, COMMUNITY, TOWN = "grid-1", "grid-2", "community-1", "town-1"
WORKER = Actor("worker1", "handler", [Assignment(GRID, Level.GRID_WORKER)])
WORKER2 = Actor("worker2", "handler", [Assignment(GRID2, Level.GRID_WORKER)])
BRANCH = Actor("branch1", "handler", [Assignment(GRID, Level.GRID_BRANCH)])
COMMITTEE = Actor("community1", "handler", [Assignment(COMMUNITY, Level.COMMUNITY_COMMITTEE)])
DISPATCHER = Actor("dispatcher1", "dispatcher")
SUPERVISOR = Actor("supervisor1", "supervisor")
PARTNER = Actor("partner1", "partner")
RESIDENT = Actor("resident", "resident")
HOUR_DAY = 3600.0
#: what the worker's deadline activity answers in the working-days test: a day is a week
WEEK = timedelta(days=7)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the moves; the recording path they share with
    every change runs on both stores in test_request_workflow and test_store_settle."""
    return f"sqlite:///{tmp_path / 'closeloop.db'}"


@pytest_asyncio.fixture
async def client(
    temporal_env: WorkflowEnvironment,
    store: RequestStore,
    task_queue: str,
    executor: ThreadPoolExecutor,
) -> AsyncIterator[Client]:
    def due(tier: Tier, at: datetime) -> datetime:
        return at + WEEK * {"1d": 1, "3d": 3, "5d": 5, "1m": 30}[tier.value]

    async with build_worker(temporal_env.client, task_queue, store, executor, due=due):
        yield temporal_env.client


FileFn = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def file(client: Client, task_queue: str) -> FileFn:
    async def _file(
        tier: Tier = Tier.D1, day_seconds: float = HOUR_DAY, **clock: Any
    ) -> dict[str, Any]:
        manual = clock.pop("manual", False)
        intake = Intake(
            request_id=str(uuid.uuid4()),
            grid_id=GRID,
            community_id=COMMUNITY,
            town_id=TOWN,
            category="water_leak",
            description="water through the ceiling",
            channel="app",
            resident_name="李先生",
            resident_phone="13800000000",
            tier=tier,
            manual=manual,
        )
        return await file_request(client, task_queue, intake, "resident", day_seconds, **clock)

    return _file


def events_of(store: RequestStore, request_id: str) -> list[str]:
    return [type(e).__name__ for e in store.events.get(uuid.UUID(request_id))]


async def view_of(client: Client, request_id: str) -> dict[str, Any]:
    view: dict[str, Any] = await client.get_workflow_handle(workflow_id(request_id)).query("view")
    return view


async def wait_for(
    client: Client, request_id: str, pred: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> dict[str, Any]:
    end = asyncio.get_running_loop().time() + timeout
    while True:
        view = await view_of(client, request_id)
        if pred(view):
            return view
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"timed out; last view: {view}")
        await asyncio.sleep(0.05)


async def refused(
    client: Client, store: RequestStore, request_id: str, action: str, cmd: Any
) -> CommandError:
    """Send a command that must be refused; the store must not move."""
    before = events_of(store, request_id)
    with pytest.raises(CommandError) as refusal:
        await send(client, request_id, action, cmd)
    assert events_of(store, request_id) == before
    return refusal.value


def at(view: dict[str, Any], kind: str, nth: int = 0) -> datetime:
    return datetime.fromisoformat([e for e in view["timeline"] if e["type"] == kind][nth]["at"])


def ops(actor: Actor, text: str = "", **fields: Any) -> OpsCommand:
    return OpsCommand(actor, text, **fields)


async def test_manual_dispatch_waits_then_a_dispatch_starts_the_clock(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    day = 0.4
    req = await file(Tier.D1, day_seconds=day, manual=True)
    rid = req["id"]
    assert req["status"] == "waiting_dispatch" and req["deadline"] is None
    # no tier clock while waiting: nothing moves in three 1d-tier lengths
    await asyncio.sleep(3 * day)
    assert events_of(store, rid) == ["Filed"]
    # a handler cannot accept a waiting request
    e = await refused(client, store, rid, "accept", HandlerCommand(WORKER))
    assert (e.kind, e.code) == ("refused", "waiting_dispatch")
    view = await send(
        client, rid, "dispatch", ops(DISPATCHER, "please visit", grid_id=GRID2, tier="1d")
    )
    assert view["status"] == "assigned" and view["grid_id"] == GRID2
    assert view["level_unit_id"] == GRID2 and view["dispatch_wait_seconds"] >= 3 * day
    # the clock runs from the dispatch: it escalates one day after it, not after filing
    view = await wait_for(client, rid, lambda v: v["escalations"] == 1)
    waited = (at(view, "Escalated") - at(view, "Dispatched")).total_seconds()
    assert waited >= day
    assert events_of(store, rid) == ["Filed", "Dispatched", "Escalated"]


async def test_a_return_stops_the_clock_and_a_new_dispatch_starts_a_fresh_one(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    day = 0.5
    req = await file(Tier.D1, day_seconds=day)
    rid = req["id"]
    await send(client, rid, "accept", HandlerCommand(WORKER))
    e = await refused(client, store, rid, "return", ops(WORKER2, "not mine"))
    assert e.kind in ("not_assigned", "not_found")
    view = await send(client, rid, "return", ops(WORKER, "this is a wage dispute"))
    assert view["status"] == "waiting_dispatch" and view["deadline"] is None
    assert view["returns"] == 1
    await asyncio.sleep(3 * day)  # the stopped clock fires nothing
    assert events_of(store, rid) == ["Filed", "Accepted", "Returned"]
    view = await send(client, rid, "dispatch", ops(SUPERVISOR, grid_id=GRID, tier="3d"))
    deadline = datetime.fromisoformat(view["deadline"])
    assert deadline - at(view, "Dispatched") == timedelta(seconds=3 * day)
    assert view["level"] == "grid_branch" and view["dispatch_wait_seconds"] >= 3 * day


async def test_a_redirect_keeps_the_clock_and_a_retier_restarts_it(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    req = await file(Tier.D1)
    rid = req["id"]
    await send(client, rid, "accept", HandlerCommand(WORKER))
    view = await send(client, rid, "redirect", ops(DISPATCHER, "wrong grid", grid_id=GRID2))
    assert view["deadline"] == req["deadline"]
    assert view["grid_id"] == GRID2 and view["level_unit_id"] == GRID2
    assert view["status"] == "assigned" and view["redirects"] == 1
    e = await refused(client, store, rid, "redirect", ops(DISPATCHER, "again", grid_id=GRID2))
    assert e.code == "same_grid"
    view = await send(client, rid, "retier", ops(SUPERVISOR, "needs the committee", tier="5d"))
    assert view["tier"] == "5d" and view["level"] == "community_committee"
    assert datetime.fromisoformat(view["deadline"]) == at(view, "Retiered") + timedelta(
        seconds=5 * HOUR_DAY
    )
    # the grid worker's level was left going up: its handlers assist
    assert view["assisting"] == [{"level": "grid_worker", "unit_id": GRID2}]


async def test_the_warning_fires_at_the_configured_share(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    day = 2.0
    req = await file(Tier.D1, day_seconds=day, warn_share=0.5)
    rid = req["id"]
    view = await wait_for(client, rid, lambda v: v["escalations"] >= 1 and v["warned"])
    # each warning comes at half its tier's time or later, before the tier's deadline
    # (a loaded machine may fire a timer late, never early)
    start, length = at(view, "Filed"), day
    for entry in view["timeline"]:
        when = datetime.fromisoformat(entry["at"])
        if entry["type"] == "Escalated":
            start, length = when, day * {"3d": 3, "5d": 5, "1m": 30}[entry["tier"]]
        if entry["type"] == "Warned":
            assert 0.5 <= (when - start).total_seconds() / length < 1.0
            assert entry["share"] == 0.5
    escalated = [e for e in view["timeline"] if e["type"] == "Escalated"][0]
    assert escalated["automatic"] is True
    assert "Warned" in events_of(store, rid)


async def test_urging_needs_a_supervisor_or_a_higher_level(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    rid = (await file(Tier.D1))["id"]
    e = await refused(client, store, rid, "urge", ops(WORKER, "hurry"))
    assert e.code == "not_assigned"
    await send(client, rid, "urge", ops(BRANCH, "please hurry"))
    view = await send(client, rid, "urge", ops(SUPERVISOR, "today please"))
    assert view["urges"] == 2 and view["last_urged_at"] == at(view, "Urged", 1).isoformat()


async def test_an_approved_extension_moves_the_timer(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    day = 6.0  # long enough for the asks below to come before the deadline on a busy machine
    req = await file(Tier.D1, day_seconds=day)
    rid = req["id"]
    old = datetime.fromisoformat(req["deadline"])
    until = old + timedelta(seconds=day * 0.8)
    e = await refused(
        client, store, rid, "extension", ops(WORKER, "parts", until=old + timedelta(days=1))
    )
    assert (e.kind, e.code, e.field) == ("invalid", "extension_too_long", "until")
    e = await refused(client, store, rid, "extension", ops(WORKER, "parts", until=old))
    assert (e.code, e.field) == ("extension_not_later", "until")
    view = await send(client, rid, "extension", ops(WORKER, "waiting for parts", until=until))
    assert view["extension"]["until"] == until.isoformat()
    e = await refused(client, store, rid, "extension", ops(WORKER, "more", until=until))
    assert e.code == "extension_pending"
    e = await refused(client, store, rid, "extension_decision", ops(WORKER, approve=True))
    assert e.code == "not_assigned"  # the same level does not decide its own ask
    view = await send(client, rid, "extension_decision", ops(BRANCH, "ok", approve=True))
    assert view["deadline"] == until.isoformat() and view["extension"] is None
    assert view["extensions_approved"] == 1
    e = await refused(
        client, store, rid, "extension", ops(WORKER, "again", until=until + timedelta(seconds=1))
    )
    assert e.code == "extension_limit"
    view = await wait_for(client, rid, lambda v: v["escalations"] == 1)
    assert at(view, "Escalated") >= until  # at the new deadline, not the old


async def test_a_pending_extension_lapses_when_the_deadline_passes(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    day = 3.0
    req = await file(Tier.D1, day_seconds=day)
    rid = req["id"]
    until = datetime.fromisoformat(req["deadline"]) + timedelta(seconds=day / 2)
    await send(client, rid, "extension", ops(WORKER, "parts", until=until))
    view = await wait_for(client, rid, lambda v: v["escalations"] == 1)
    escalated = [e for e in view["timeline"] if e["type"] == "Escalated"][0]
    assert escalated["extension_lapsed"] is True and view["extension"] is None
    # the branch owns it now; the level above it finds nothing to decide
    e = await refused(client, store, rid, "extension_decision", ops(COMMITTEE, approve=True))
    assert e.code == "no_extension_pending"


async def test_co_handlers_and_the_assisting_grid_worker(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    rid = (await file(Tier.D1))["id"]
    await send(client, rid, "escalate", HandlerCommand(WORKER, "needs the branch"))
    # the grid worker stays on it: notes progress, but only the branch accepts
    view = await send(client, rid, "progress", HandlerCommand(WORKER, "visited again"))
    assert view["timeline"][-1]["assisting"] is True
    e = await refused(client, store, rid, "accept", HandlerCommand(WORKER))
    assert e.code == "not_assigned"
    e = await refused(client, store, rid, "progress", HandlerCommand(PARTNER, "hello"))
    assert e.kind in ("not_assigned", "not_found")
    view = await send(
        client,
        rid,
        "add_cohandler",
        ops(BRANCH, username="partner1", task="fix the pipe", organisation="城关物业公司"),
    )
    assert view["cohandlers"][0]["username"] == "partner1"
    assert view["cohandlers"][0]["done"] is False
    e = await refused(
        client, store, rid, "add_cohandler", ops(BRANCH, username="partner1", task="again")
    )
    assert e.code == "cohandler_exists"
    await send(client, rid, "progress", HandlerCommand(PARTNER, "pipe ordered"))
    e = await refused(client, store, rid, "cohandler_done", ops(WORKER, username="partner1"))
    assert e.code == "not_cohandler"
    view = await send(client, rid, "cohandler_done", ops(PARTNER, "fixed", username="partner1"))
    assert view["cohandlers"][0]["done"] is True and view["cohandlers"][0]["note"] == "fixed"
    await send(client, rid, "accept", HandlerCommand(BRANCH))
    view = await send(client, rid, "resolve", HandlerCommand(BRANCH, "pipe replaced"))
    assert view["status"] == "resolved"


async def test_out_of_scope_closure_and_one_appeal(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    rid = (await file(Tier.D1))["id"]
    e = await refused(client, store, rid, "close_out_of_scope", ops(WORKER, "not ours"))
    assert e.code == "not_assigned"  # decided at community level or above
    view = await send(client, rid, "close_out_of_scope", ops(COMMITTEE, "a court matter"))
    assert view["status"] == "closed" and view["out_of_scope"]["reason"] == "a court matter"
    view = await send(client, rid, "appeal", ops(RESIDENT, "it is about our stairwell"))
    assert view["status"] == "assigned" and view["tier"] == "5d"
    assert view["level"] == "community_committee" and view["level_unit_id"] == COMMUNITY
    assert view["appeal"]["reason"] == "it is about our stairwell"
    await send(client, rid, "close_out_of_scope", ops(SUPERVISOR, "still a court matter"))
    # no second appeal: the workflow has nothing left to wait for and ends
    e = await refused(client, store, rid, "appeal", ops(RESIDENT, "again"))
    assert e.code == "request_closed"


async def test_the_appeal_window_closes(client: Client, file: FileFn, store: RequestStore) -> None:
    day = 0.05  # the 7-day window lasts 0.35 s
    rid = (await file(Tier.D5, day_seconds=day))["id"]
    await send(client, rid, "close_out_of_scope", ops(SUPERVISOR, "not ours"))
    handle = client.get_workflow_handle(workflow_id(rid))
    await asyncio.wait_for(handle.result(), timeout=30)  # the workflow ends with the window
    e = await refused(client, store, rid, "appeal", ops(RESIDENT, "too late"))
    assert e.code == "request_closed"


async def test_working_days_come_from_the_workers_deadline_activity(
    client: Client, file: FileFn
) -> None:
    req = await file(Tier.D3, day_seconds=86400.0, working_days=True)
    filed = datetime.fromisoformat(req["created_at"])
    assert datetime.fromisoformat(req["deadline"]) == filed + 3 * WEEK
    view = await send(client, req["id"], "escalate", HandlerCommand(BRANCH, "to the committee"))
    assert datetime.fromisoformat(view["deadline"]) == at(view, "Escalated") + 5 * WEEK
