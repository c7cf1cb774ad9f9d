"""Merging with faults on purpose: every workflow task of the two requests is lost once
right after each store append and each message to the other workflow, as when a worker is
killed at that instruction. Temporal runs each task again; the merge is recorded once on
each side, the primary's resolution reaches its duplicate once, and the two workflows and
the store hold the same changes throughout."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    Interceptor,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

from closeloop.store import RequestStore
from domain.ladder import Tier
from domain.state import Intake
from tests.workflows.test_lost_workflow_task import store_timeline, workflow_timeline
from tests.workflows.test_request_workflow import COMMUNITY, GRID, TOWN, WORKER, wait_for
from workflows.commands import file_request, send
from workflows.messages import HandlerCommand, MergeCommand, workflow_id
from workflows.worker import build_worker


class LoseEach:
    """The workflows whose tasks are lost once after each append, link and signal."""

    workflows: set[str] = set()
    lost: set[tuple[str, str, int]] = set()


class _Outbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor) -> None:
        super().__init__(next)
        self.counts: dict[str, int] = {}  # a replay starts again from 0: the n-th of a kind

    def _key(self, kind: str) -> tuple[str, str, int] | None:
        wid = workflow.info().workflow_id
        n = self.counts.get(kind, 0)
        self.counts[kind] = n + 1
        key = (wid, kind, n)
        return key if wid in LoseEach.workflows and key not in LoseEach.lost else None

    def _lose_after(self, key: tuple[str, str, int] | None, done: Any) -> Any:
        if key is None:
            return done

        async def lose() -> Any:
            await done
            LoseEach.lost.add(key)
            raise RuntimeError(f"injected: workflow task lost after {key[1]} {key[2]}")

        return asyncio.ensure_future(lose())

    def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
        key = self._key("append")
        return self._lose_after(key, super().start_local_activity(input))  # type: ignore[no-any-return]

    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        key = self._key("link")
        return self._lose_after(key, super().start_activity(input))  # type: ignore[no-any-return]

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        key = self._key("signal")
        await super().signal_external_workflow(input)
        if key is not None:
            LoseEach.lost.add(key)
            raise RuntimeError("injected: workflow task lost after a signal to another")


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class LoseEachInterceptor(Interceptor):
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
    interceptors = [LoseEachInterceptor()]
    async with build_worker(
        temporal_env.client, task_queue, store, executor, interceptors=interceptors
    ):
        yield temporal_env.client


def _intake(rid: str, phone: str) -> Intake:
    return Intake(
        rid, GRID, COMMUNITY, TOWN, "water_leak", "ceiling leak", "app", "李", phone, Tier.D1
    )


async def _agree(client: Client, store: RequestStore, *rids: str) -> None:
    for rid in rids:
        assert await workflow_timeline(client, rid) == store_timeline(store, rid), rid


def _types(timeline: list[dict[str, Any]]) -> list[str]:
    return [entry["type"] for entry in timeline]


async def test_a_merge_and_its_resolution_survive_lost_tasks_on_both_sides(
    client: Client, store: RequestStore, task_queue: str
) -> None:
    primary, duplicate = str(uuid.uuid4()), str(uuid.uuid4())
    await file_request(client, task_queue, _intake(primary, "1"), "resident", 3600)
    await file_request(client, task_queue, _intake(duplicate, "2"), "resident", 3600)
    LoseEach.workflows = {workflow_id(primary), workflow_id(duplicate)}
    try:
        merged = await send(
            client, duplicate, "merge", MergeCommand(WORKER, "same leak", into=primary)
        )
        assert (merged["status"], merged["merged_into"]) == ("merged", primary)
        await send(client, primary, "accept", HandlerCommand(WORKER))
        await send(client, primary, "resolve", HandlerCommand(WORKER, "pipe replaced"))
        followed = await wait_for(client, duplicate, lambda v: v["status"] == "resolved", 60)
    finally:
        LoseEach.workflows = set()
    kinds = {kind for wid, kind, _ in LoseEach.lost if wid in {workflow_id(primary)}}
    assert {"append", "signal"} <= kinds, LoseEach.lost
    assert (workflow_id(duplicate), "link", 0) in LoseEach.lost

    # each side recorded its part once, and the workflows hold what the store holds
    await _agree(client, store, primary, duplicate)
    primary_types = _types(store_timeline(store, primary))
    assert primary_types == ["Filed", "DuplicateAttached", "Accepted", "Resolved"]
    assert _types(store_timeline(store, duplicate)) == ["Filed", "Merged", "Resolved"]
    resolved = followed["timeline"][-1]
    assert (resolved["primary"], resolved["resolution"]) == (primary, "pipe replaced")
    # the duplicate's own review goes on from there
    await asyncio.sleep(0)  # nothing pending: the duplicate is resolved once
    assert _types(await workflow_timeline(client, duplicate)).count("Resolved") == 1
