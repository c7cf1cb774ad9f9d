"""Committed histories of RequestWorkflow replay with today's code (no nondeterminism)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.request import RequestWorkflow

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.json"))


def test_there_is_a_golden_history() -> None:
    assert GOLDEN, "record one with python -m tests.workflows.record_golden"


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
async def test_golden_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("golden", json.loads(path.read_text()))
    result = await Replayer(workflows=[RequestWorkflow]).replay_workflow(history)
    assert result.replay_failure is None
    # the history ran to the end of the loop, so every handler and timer was replayed
    last = history.events[-1]
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
    assert timers, "the golden history should include a deadline that fired"
