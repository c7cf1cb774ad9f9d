"""The resident's self-review (限时反馈) in RequestWorkflow, on the real Temporal dev server:
a resolution opens the window, a self-review within it closes or reopens the request as a
caller's review does, a late one is refused and writes nothing, and the window's end is
recorded (ReviewWindowClosed) so the callers take the request."""

# ruff: noqa: F811  (the fixtures are imported from test_operations)
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client

from closeloop.store import RequestStore
from tests.workflows.test_operations import (  # noqa: F401
    RESIDENT,
    WORKER,
    FileFn,
    client,
    database_url,
    events_of,
    file,
    refused,
    wait_for,
)
from workflows.commands import send
from workflows.messages import Actor, HandlerCommand, ReviewCommand

CALLER = Actor("caller1", "caller")
YES = {"completion": "yes", "progress": "yes", "effect": "yes", "satisfaction": "yes"}
NO = {**YES, "satisfaction": "no"}


async def resolved(client: Client, file: FileFn, window: float | None) -> dict[str, Any]:
    view = await file(self_review_seconds=window)
    rid = view["id"]
    await send(client, rid, "accept", HandlerCommand(WORKER))
    return await send(client, rid, "resolve", HandlerCommand(WORKER, "pipe mended"))


async def test_a_self_review_within_the_window_closes_the_request(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    view = await resolved(client, file, window=600.0)
    resolved_at = datetime.fromisoformat(view["timeline"][-1]["at"])
    until = datetime.fromisoformat(view["review_until"])
    assert until - resolved_at == timedelta(seconds=600)
    after = await send(client, view["id"], "review", ReviewCommand(RESIDENT, True, **YES))
    assert after["status"] == "closed"
    assert after["review_until"] is None
    review = after["timeline"][-1]
    assert (review["type"], review["actor"], review["source"], review["outcome"]) == (
        "Reviewed",
        "resident",
        "resident",
        "closed",
    )
    assert events_of(store, view["id"])[-1] == "Reviewed"


async def test_an_unsatisfied_self_review_reopens_it_at_its_level(
    client: Client, file: FileFn
) -> None:
    view = await resolved(client, file, window=600.0)
    after = await send(client, view["id"], "review", ReviewCommand(RESIDENT, True, **NO))
    assert (after["status"], after["reopens"], after["level"]) == ("assigned", 1, "grid_worker")


async def test_a_late_self_review_is_refused_and_the_window_end_is_recorded(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    view = await resolved(client, file, window=1.0)
    rid = view["id"]
    closed = await wait_for(
        client, rid, lambda v: v["timeline"][-1]["type"] == "ReviewWindowClosed"
    )
    assert closed["status"] == "resolved"
    assert closed["timeline"][-1]["actor"] == "system"
    error = await refused(client, store, rid, "review", ReviewCommand(RESIDENT, True, **YES))
    assert error.code == "review_window_closed"
    # the caller's call still closes the loop
    after = await send(client, rid, "review", ReviewCommand(CALLER, True, **YES))
    assert after["status"] == "closed"
    assert "source" not in after["timeline"][-1]
    assert events_of(store, rid)[-2:] == ["ReviewWindowClosed", "Reviewed"]


async def test_without_a_window_only_callers_review(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    view = await resolved(client, file, window=None)
    assert view["review_until"] is None
    error = await refused(client, store, view["id"], "review", ReviewCommand(RESIDENT, True, **YES))
    assert error.code == "self_review_off"


async def test_a_self_review_must_answer_every_dimension(
    client: Client, file: FileFn, store: RequestStore
) -> None:
    view = await resolved(client, file, window=600.0)
    partial = {**YES, "effect": None}
    error = await refused(
        client, store, view["id"], "review", ReviewCommand(RESIDENT, True, **partial)
    )
    assert error.field == "effect"
