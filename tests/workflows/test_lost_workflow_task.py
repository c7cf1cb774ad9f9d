"""A workflow task lost after its store append runs again: the store and the workflow agree.

The append is a local activity inside the workflow task that decides the change. When that
task is lost (worker killed, task timeout), Temporal runs it again and the workflow decides
the change again, at a later ``workflow.now()``. These tests lose tasks on purpose, right
after the append, with a worker interceptor, and compare what the workflow holds with what
the store holds, field by field.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    Interceptor,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

from closeloop.store import RequestStore
from domain.ladder import Tier
from domain.state import ACCEPTED, Change, Intake
from tests.workflows.test_request_workflow import BRANCH, COMMUNITY, GRID, TOWN, WORKER, wait_for
from workflows.commands import CommandError, file_request, send
from workflows.messages import HandlerCommand, workflow_id
from workflows.worker import build_worker


class LoseTasks:
    """Which appends lose their workflow task: (workflow id, n-th local activity)."""

    positions: set[int] = set()
    lost: set[tuple[str, int]] = set()


class _Outbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor) -> None:
        super().__init__(next)
        self.started = 0  # replays start again from 0, so this is the change's position

    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        handle = super().start_local_activity(input)
        key = (workflow.info().workflow_id, self.started)
        self.started += 1
        if key[1] not in LoseTasks.positions or key in LoseTasks.lost:
            return handle

        async def lose_after_the_append() -> Any:
            await handle  # the append went through...
            LoseTasks.lost.add(key)
            # ...and the task is lost: an exception that is not a Temporal failure fails
            # the workflow task, which Temporal then runs again, as after a worker crash.
            raise RuntimeError("injected: workflow task lost after the store append")

        return asyncio.ensure_future(lose_after_the_append())  # type: ignore[return-value]


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class LoseTasksInterceptor(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _Inbound


@pytest_asyncio.fixture
async def client(
    temporal_env: WorkflowEnvironment,
    store: RequestStore,
    task_queue: str,
    executor: ThreadPoolExecutor,
) -> AsyncIterator[Client]:
    # the production worker, with the fault on top
    interceptors = [LoseTasksInterceptor()]
    async with build_worker(
        temporal_env.client, task_queue, store, executor, interceptors=interceptors
    ):
        yield temporal_env.client


def _intake(rid: str) -> Intake:
    return Intake(
        rid, GRID, COMMUNITY, TOWN, "water_leak", "ceiling leak", "app", "李", "1", Tier.D1
    )


def store_timeline(store: RequestStore, rid: str) -> list[dict[str, Any]]:
    timeline: list[dict[str, Any]] = store.get_request(uuid.UUID(rid)).state.view()["timeline"]
    return timeline


async def workflow_timeline(client: Client, rid: str) -> list[dict[str, Any]]:
    view: dict[str, Any] = await client.get_workflow_handle(workflow_id(rid)).query("view")
    timeline: list[dict[str, Any]] = view["timeline"]
    return timeline


async def test_lost_tasks_after_appends_leave_the_store_and_the_workflow_equal(
    client: Client, store: RequestStore, task_queue: str
) -> None:
    day = 2.0
    rid = str(uuid.uuid4())
    # lose the task of the filing (0), of the accept (1) and of the deadline's escalation (2)
    LoseTasks.positions = {0, 1, 2}
    try:
        await file_request(client, task_queue, _intake(rid), "resident", day)
        accepted = await send(client, rid, "accept", HandlerCommand(WORKER))
        view = await wait_for(client, rid, lambda v: v["escalations"] == 1, timeout=60)
    finally:
        LoseTasks.positions = set()
    assert {(workflow_id(rid), n) for n in (0, 1, 2)} <= LoseTasks.lost, "no task was lost"

    assert [e["type"] for e in view["timeline"]] == ["Filed", "Accepted", "Escalated"]
    # the caller was told what the store holds
    assert accepted["timeline"] == store_timeline(store, rid)[:2]
    # same changes, same order, same content: type, time, actor, data, deadlines
    assert await workflow_timeline(client, rid) == store_timeline(store, rid)
    stored = store.get_request(uuid.UUID(rid)).state.view()
    assert (view["deadline"], view["created_at"]) == (stored["deadline"], stored["created_at"])
    # and the workflow goes on from there
    await send(client, rid, "accept", HandlerCommand(BRANCH))
    assert await workflow_timeline(client, rid) == store_timeline(store, rid)


async def test_a_change_the_store_holds_is_adopted_and_its_update_answered_from_it(
    client: Client, store: RequestStore, task_queue: str
) -> None:
    """As after a lost task whose update was not delivered again before something else."""
    rid = str(uuid.uuid4())
    await file_request(client, task_queue, _intake(rid), "resident", 3600)
    # the lost task's append: the worker's accept, under its update's id
    lost_at = store.get_request(uuid.UUID(rid)).state.created_at
    planted = Change(ACCEPTED, lost_at, WORKER.username, {})
    store.settle(uuid.UUID(rid), 1, "update:lost-accept", planted)

    # another action arrives first: the workflow adopts the stored accept, then escalates
    view = await send(client, rid, "escalate", HandlerCommand(WORKER, "beyond the grid"))
    assert [e["type"] for e in view["timeline"]] == ["Filed", "Accepted", "Escalated"]
    assert view["timeline"][1]["at"] == lost_at.isoformat()
    assert await workflow_timeline(client, rid) == store_timeline(store, rid)

    # the accept's update, delivered again, is answered from what the store holds: its
    # caller is not refused for a change that is recorded
    again = await send(client, rid, "accept", HandlerCommand(WORKER), update_id="lost-accept")
    assert len(again["timeline"]) == 3
    # a new accept by the same worker is refused: the request has moved up a level
    try:
        await send(client, rid, "accept", HandlerCommand(WORKER))
        raise AssertionError("a worker accepted at the branch's level")
    except CommandError as e:
        assert e.kind == "not_assigned"
    assert [e["type"] for e in store_timeline(store, rid)] == ["Filed", "Accepted", "Escalated"]


async def test_a_store_that_disagrees_fails_the_task_never_the_workflow(
    client: Client, store: RequestStore, task_queue: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The store lost the request's events (a defect, or a restore from an older backup):
    the next change cannot be recorded. The workflow task fails and is retried, logged
    with the request id, and the request's workflow stays running, not Failed."""
    from temporalio.client import WorkflowExecutionStatus

    rid = str(uuid.uuid4())
    await file_request(client, task_queue, _intake(rid), "resident", 3600)
    recorder: Any = store.recorder
    events = recorder.events_record_cls.__table__
    with recorder.transaction(commit=True) as session:
        session.execute(events.delete().where(events.c.originator_id == uuid.UUID(rid)))

    handle = client.get_workflow_handle(workflow_id(rid))
    accepting = asyncio.create_task(send(client, rid, "accept", HandlerCommand(WORKER)))
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + 60
        said = ""
        # the SDK's core logs each failed workflow task, with the failure's message
        why = f"request {rid}: the workflow is at change 1"
        while not ("Failing workflow task" in said and why in said):
            assert loop.time() < end, f"no workflow task failed: {said[-2000:]}"
            await asyncio.sleep(0.2)
            out, err = capfd.readouterr()
            said += out + err
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        assert not accepting.done()  # the caller is not told a false "yes" or "no"
    finally:
        accepting.cancel()
        await handle.terminate("test over")
