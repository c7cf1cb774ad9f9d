"""A retried append appends nothing twice: the activity fails after its write, then retries."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from closeloop.store import RequestStore
from domain.ladder import Tier
from domain.state import Assignment, Intake, RecordedChange
from workflows.activities import StoreActivities
from workflows.commands import file_request, send
from workflows.messages import SETTLE_CHANGE, Actor, HandlerCommand, SettleInput

WORKER = Actor("worker1", "handler", [Assignment("g", "grid_worker")])  # type: ignore[arg-type]


class FailAfterWrite(StoreActivities):
    """Writes for real, then fails the first attempt as a lost reply or a crash would."""

    calls: list[tuple[int, int]]

    @activity.defn(name=SETTLE_CHANGE)
    def settle_change(self, inp: SettleInput) -> list[RecordedChange]:
        recorded = super().settle_change(inp)
        self.calls.append((inp.position, activity.info().attempt))
        if activity.info().attempt == 1:
            raise RuntimeError("worker lost after the write")
        return recorded


async def test_retry_after_a_write_appends_once(
    temporal_env: WorkflowEnvironment,
    store: RequestStore,
    task_queue: str,
    executor: ThreadPoolExecutor,
) -> None:
    from workflows.request import RequestWorkflow

    flaky = FailAfterWrite(store)
    flaky.calls = []
    async with Worker(
        temporal_env.client,
        task_queue=task_queue,
        workflows=[RequestWorkflow],
        activities=[flaky.settle_change],
        activity_executor=executor,
    ):
        rid = str(uuid.uuid4())
        intake = Intake(rid, "g", "c", "t", "noise", "drums at night", "app", "张", "1", Tier.D1)
        await file_request(temporal_env.client, task_queue, intake, "resident", 3600)
        view = await send(temporal_env.client, rid, "accept", HandlerCommand(WORKER))

    assert view["status"] == "in_progress"
    # each change was written on the first attempt and found in the store on the retry
    assert flaky.calls == [(0, 1), (0, 2), (1, 1), (1, 2)]
    names = [type(e).__name__ for e in store.events.get(uuid.UUID(rid))]
    assert names == ["Filed", "Accepted"]
    assert store.recorder.max_notification_id() == 2
    # what the workflow answered is what the store holds
    stored = store.get_request(uuid.UUID(rid)).state.view()
    assert view["timeline"] == stored["timeline"]
