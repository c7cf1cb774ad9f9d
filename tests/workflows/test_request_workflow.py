"""RequestWorkflow on the real Temporal dev server with short days."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from closeloop.store import RequestStore
from domain.ladder import Tier
from domain.state import Assignment, Intake
from workflows.commands import CommandError, file_request, send
from workflows.messages import Actor, HandlerCommand, ReviewCommand, workflow_id
from workflows.worker import build_worker

GRID, COMMUNITY, TOWN = "grid-1", "community-1", "town-1"
WORKER = Actor("worker1", "handler", [Assignment(GRID, "grid_worker")])  # type: ignore[arg-type]
BRANCH = Actor("branch1", "handler", [Assignment(GRID, "grid_branch")])  # type: ignore[arg-type]
CALLER = Actor("caller1", "caller")
LONG_DAY = 3600.0


@pytest_asyncio.fixture
async def client(
    temporal_env: WorkflowEnvironment,
    store: RequestStore,
    task_queue: str,
    executor: ThreadPoolExecutor,
) -> AsyncIterator[Client]:
    worker = build_worker(temporal_env.client, task_queue, store, executor)
    async with worker:
        yield temporal_env.client


FileFn = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def file(client: Client, task_queue: str) -> FileFn:
    async def _file(tier: Tier = Tier.D1, day_seconds: float = LONG_DAY) -> dict[str, Any]:
        intake = Intake(
            request_id=str(uuid.uuid4()),
            grid_id=GRID,
            community_id=COMMUNITY,
            town_id=TOWN,
            category="water_leak",
            description="water through the ceiling from the flat above",
            channel="app",
            resident_name="李先生",
            resident_phone="13800000000",
            tier=tier,
        )
        return await file_request(client, task_queue, intake, "resident", day_seconds)

    return _file


def events_of(store: RequestStore, request_id: str) -> list[str]:
    return [type(e).__name__ for e in store.events.get(uuid.UUID(request_id))]


async def wait_for(
    client: Client, request_id: str, pred: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> dict[str, Any]:
    handle = client.get_workflow_handle(workflow_id(request_id))
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        view: dict[str, Any] = await handle.query("view")
        if pred(view):
            return view
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; last view: {view}")
        await asyncio.sleep(0.1)


async def test_filing_assigns_the_tier_level_and_deadline(
    file: FileFn, store: RequestStore
) -> None:
    req = await file(Tier.D3)
    assert req["status"] == "assigned"
    assert req["tier"] == "3d"
    assert req["level"] == "grid_branch"
    assert req["level_unit_id"] == GRID
    assert events_of(store, req["id"]) == ["Filed"]


async def test_full_ladder_escalates_to_the_top_then_overdue(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    day = 0.15  # the whole ladder, 1 + 3 + 5 + 30 days, lasts about 6 s
    req = await file(Tier.D1, day_seconds=day)
    view = await wait_for(client, req["id"], lambda v: v["overdue"], timeout=60)
    tiers = [e["tier"] for e in view["timeline"] if e["type"] == "Escalated"]
    assert tiers == ["3d", "5d", "1m"]
    levels = [e["level"] for e in view["timeline"] if e["type"] == "Escalated"]
    assert levels == ["grid_branch", "community_committee", "town_committee"]
    assert view["tier"] == "1m" and view["level_unit_id"] == TOWN
    assert view["escalations"] == 3 and view["status"] == "assigned"
    assert all(e["automatic"] for e in view["timeline"] if e["type"] == "Escalated")
    # Each deadline counts from entry into its tier.
    from datetime import datetime

    times = {
        e["type"] + e.get("tier", ""): datetime.fromisoformat(e["at"]) for e in view["timeline"]
    }
    filed = datetime.fromisoformat(view["created_at"])
    assert (times["Escalated3d"] - filed).total_seconds() >= 1 * day
    assert (times["Escalated5d"] - times["Escalated3d"]).total_seconds() >= 3 * day
    assert (times["Escalated1m"] - times["Escalated5d"]).total_seconds() >= 5 * day
    assert (times["MarkedOverdue"] - times["Escalated1m"]).total_seconds() >= 30 * day
    assert events_of(store, req["id"]) == [
        "Filed",
        "Escalated",
        "Escalated",
        "Escalated",
        "MarkedOverdue",
    ]


async def test_manual_escalation_moves_up_one_level_at_once(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    req = await file(Tier.D1)
    view = await send(client, req["id"], "escalate", HandlerCommand(WORKER, "needs the branch"))
    assert (view["tier"], view["level"], view["status"]) == ("3d", "grid_branch", "assigned")
    assert view["timeline"][-1]["automatic"] is False
    assert view["timeline"][-1]["reason"] == "needs the branch"
    # the worker is no longer assigned at the current level
    with pytest.raises(CommandError) as err:
        await send(client, req["id"], "accept", HandlerCommand(WORKER))
    assert err.value.kind == "not_assigned"
    view = await send(client, req["id"], "accept", HandlerCommand(BRANCH))
    assert view["status"] == "in_progress"
    assert events_of(store, req["id"]) == ["Filed", "Escalated", "Accepted"]


async def test_review_with_a_no_reopens_at_the_resolving_level(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    req = await file(Tier.D1)
    rid = req["id"]
    await send(client, rid, "accept", HandlerCommand(WORKER))
    await send(client, rid, "progress", HandlerCommand(WORKER, "plumber called"))
    resolved = await send(client, rid, "resolve", HandlerCommand(WORKER, "pipe fixed"))
    assert resolved["status"] == "resolved"
    review = ReviewCommand(CALLER, True, "yes", "yes", "no", "partly", "still damp")
    view = await send(client, rid, "review", review)
    assert (view["status"], view["tier"], view["level"], view["reopens"]) == (
        "assigned",
        "1d",
        "grid_worker",
        1,
    )
    assert view["deadline"] > resolved["deadline"]  # a fresh deadline for the tier
    await send(client, rid, "accept", HandlerCommand(WORKER))
    await send(client, rid, "resolve", HandlerCommand(WORKER, "ceiling dried and painted"))
    view = await send(
        client, rid, "review", ReviewCommand(CALLER, True, "yes", "yes", "yes", "yes")
    )
    assert view["status"] == "closed"
    assert events_of(store, rid) == [
        "Filed",
        "Accepted",
        "ProgressNoted",
        "Resolved",
        "Reviewed",
        "Accepted",
        "Resolved",
        "Reviewed",
    ]
    result = await client.get_workflow_handle(workflow_id(rid)).result()
    assert result["status"] == "closed"


async def test_three_unreached_attempts_close_as_unreachable(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    rid = (await file(Tier.D1))["id"]
    await send(client, rid, "accept", HandlerCommand(WORKER))
    await send(client, rid, "resolve", HandlerCommand(WORKER, "done"))
    outcomes = []
    for _ in range(3):
        view = await send(client, rid, "review", ReviewCommand(CALLER, False))
        outcomes.append(view["timeline"][-1]["outcome"])
    assert outcomes == ["attempt", "attempt", "unreachable"]
    assert view["status"] == "closed" and view["unreached_attempts"] == 3
    with pytest.raises(CommandError) as err:
        await send(client, rid, "review", ReviewCommand(CALLER, False))
    assert err.value.kind == "closed"


async def test_review_before_resolve_is_refused_and_writes_nothing(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    rid = (await file(Tier.D1))["id"]
    with pytest.raises(CommandError) as err:
        await send(client, rid, "review", ReviewCommand(CALLER, True, "yes", "yes", "yes", "yes"))
    assert err.value.kind == "refused"
    assert "not been accepted" in err.value.message
    with pytest.raises(CommandError) as err:
        await send(client, rid, "resolve", HandlerCommand(WORKER, "done"))
    assert err.value.kind == "refused"
    with pytest.raises(CommandError) as err:
        await send(client, rid, "accept", HandlerCommand(BRANCH))
    assert err.value.kind == "not_assigned"
    assert events_of(store, rid) == ["Filed"]
    history = await client.get_workflow_handle(workflow_id(rid)).fetch_history()
    accepted = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert accepted == ["filed"]  # the rejected updates left no trace in the history


async def test_filing_twice_with_the_same_id_creates_one_request(
    client: Client, task_queue: str, store: RequestStore
) -> None:
    intake = Intake(
        str(uuid.uuid4()),
        GRID,
        COMMUNITY,
        TOWN,
        "noise",
        "loud music",
        "hotline",
        "王女士",
        "13900000000",
        Tier.D1,
    )
    first, second = await asyncio.gather(
        file_request(client, task_queue, intake, "resident", LONG_DAY),
        file_request(client, task_queue, intake, "resident", LONG_DAY),
    )
    assert first["id"] == second["id"] == intake.request_id
    assert events_of(store, intake.request_id) == ["Filed"]
