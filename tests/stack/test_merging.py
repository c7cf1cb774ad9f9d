"""Duplicates (合并) over HTTP on the real stack: two requests merged into a third follow
it; one is taken out again; the primary's resolution resolves the one still merged, whose
resident reviews it on their own; the figures count the work once and each resident's
review; the refusals; two requests merged into each other at once; the primary closed
out of scope releases its duplicates; and `closeloop check` finds the workflows, the
store and the read models in agreement."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from temporalio.testing import WorkflowEnvironment

from closeloop.check import Checker, lines
from tests.stack.conftest import Stack, StackFactory
from tests.stack.test_operations_api import YES, ok, refused

OWN = {k: v for k, v in YES.items() if k != "reached"}  # a resident's own review
SECOND = "医院西路社区第二网格"


async def _file(
    s: Stack, phone: str, description: str = "楼上漏水，天花板泡坏了"
) -> dict[str, Any]:
    filed = await s.file(description=description, resident={"name": "李先生", "phone": phone})
    await s.projected(filed["id"])  # the merge checks its primary in the read models
    return filed


async def _check(s: Stack, temporal_env: WorkflowEnvironment, count: int) -> None:
    checker = Checker(temporal_env.client, s.store, s.engine, s.settings.task_queue)
    report = await checker.run()
    assert report.ok, list(lines(report))
    assert report.checked == count


async def test_merged_requests_follow_their_primary_through_resolution_and_review(
    make_stack: StackFactory, temporal_env: WorkflowEnvironment
) -> None:
    s = await make_stack(self_review_hours=72.0)  # 3 hours on the stack's clock
    primary = await _file(s, "13800000001")
    second = await _file(s, "13800000002", "楼上又漏水了，天花板在滴水")
    third = await _file(s, "13800000003")
    a, b, c = primary["id"], second["id"], third["id"]
    ok(await s.act("worker1", a, "accept"))

    # the grid worker at the current level merges one, a supervisor the other
    merged = ok(await s.act("worker1", b, "merge", {"into": a, "reason": "同一处漏水"}))
    assert (merged["status"], merged["merged_into"], merged["deadline"]) == ("merged", a, None)
    assert merged["merged"]["reason"] == "同一处漏水" and merged["merged"]["by"] == "worker1"
    # it shows the state of the request it follows
    assert merged["primary"]["id"] == a and merged["primary"]["status"] == "in_progress"
    ok(await s.act("supervisor1", c, "merge", {"into": a, "reason": "重复反映"}))
    shown = await s.projected(a, lambda r: len(r["duplicates"]) == 2)
    assert shown["duplicates"] == [b, c]
    assert [e["type"] for e in shown["timeline"]][-2:] == ["DuplicateAttached"] * 2

    # a merged request takes no handler's move, and its own clock has stopped
    refused(await s.act("worker1", b, "accept"), 409, "request_merged")
    # the refusals, each with its reason and nothing written
    refused(await s.act("worker1", a, "merge", {"into": a, "reason": "x"}), 422, "merge_into_self")
    refused(await s.act("worker1", a, "merge", {"into": b, "reason": "x"}), 409, "has_duplicates")
    refused(await s.act("worker1", a, "merge", {"into": str(uuid.uuid4()), "reason": "x"}), 422,
            "primary_not_found")  # fmt: skip
    refused(await s.act("worker1", b, "merge", {"into": a, "reason": "x"}), 409, "request_merged")
    refused(await s.act("worker1", a, "merge", {"into": b, "reason": " "}), 422, "invalid_input")
    refused(await s.act("worker2", b, "merge", {"into": a, "reason": "x"}), 404,
            "request_not_found")  # fmt: skip
    refused(await s.act("caller1", b, "unmerge", {"reason": "x"}), 403, "role_required")

    # one is taken out again: its own work, where it was, with a fresh deadline
    back = ok(await s.act("supervisor1", c, "unmerge", {"reason": "不是同一处"}))
    assert (back["status"], back["merged_into"]) == ("assigned", None)
    assert back["deadline"] is not None
    shown = await s.projected(a, lambda r: r["duplicates"] == [b])
    assert shown["timeline"][-1]["type"] == "DuplicateDetached"
    # nothing merges into a request that is itself merged
    body = refused(await s.act("worker1", c, "merge", {"into": b, "reason": "x"}), 409,
                   "primary_not_open")  # fmt: skip
    assert body["field"] == "into"

    # the primary is resolved: so is the one merged into it, with the same resolution
    ok(await s.act("worker1", a, "resolve", {"resolution": "更换了楼上的水管"}))
    followed = await s.projected(b, lambda r: r["status"] == "resolved")
    resolved = followed["timeline"][-1]
    assert resolved["type"] == "Resolved" and resolved["primary"] == a
    assert resolved["resolution"] == "更换了楼上的水管" and resolved["actor"] == "worker1"
    assert followed["merged_into"] == a and followed["review_until"] is not None
    assert (await s.projected(c))["status"] == "assigned"

    # each resident is reviewed on their own: a caller for the primary's, the merged
    # request's resident from their own tracking link
    ok(await s.act("caller1", a, "review", YES))
    own = await s.http.post(f"/api/v1/track/{second['tracking_token']}/review", json=OWN)
    assert own.status_code == 200, own.text
    await s.projected(b, lambda r: r["status"] == "closed")
    await s.projected(a, lambda r: r["status"] == "closed")

    # the work counts once, the satisfaction once per resident
    stats = ok(await s.http.get("/api/v1/stats", headers=s.auth("supervisor1")))
    assert (stats["received"], stats["merged"], stats["closed"]) == (2, 1, 1)
    assert stats["completion_rate"] == 0.5
    assert (stats["reviews_reached"], stats["satisfied"]) == (2, 2)
    assert stats["reviews_by_source"] == {"caller": 1, "resident": 1}
    # the assessment: the work at the grid worker's post once (the primary, and the one
    # taken out again), both residents' reviews there
    grid = s.grids["医院西路社区第一网格"]
    perf = ok(
        await s.http.get(f"/api/v1/performance?unit_id={grid}", headers=s.auth("supervisor1"))
    )
    counts = perf["counts"]
    assert (counts["assigned"], counts["resolved"]) == (2, 1)
    assert (counts["reviews_reached"], counts["reviews_satisfied"]) == (2, 2)
    await _check(s, temporal_env, 3)


async def test_two_requests_merged_into_each_other_at_once_end_one_way_or_neither(
    make_stack: StackFactory, temporal_env: WorkflowEnvironment
) -> None:
    s = await make_stack()
    a = (await _file(s, "13800000011"))["id"]
    b = (await _file(s, "13800000012"))["id"]
    answers = await asyncio.gather(
        s.act("supervisor1", a, "merge", {"into": b, "reason": "重复"}),
        s.act("supervisor1", b, "merge", {"into": a, "reason": "重复"}),
    )
    merged = {rid for rid, answer in zip((a, b), answers, strict=True) if answer.status_code == 200}
    assert len(merged) <= 1, [answer.text for answer in answers]
    for answer in answers:
        if answer.status_code != 200:
            assert answer.status_code == 409, answer.text
    for rid, other in ((a, b), (b, a)):
        if rid in merged:
            await s.projected(rid, lambda r, o=other: r["merged_into"] == o)  # type: ignore[misc]
            await s.projected(other, lambda r, d=rid: r["duplicates"] == [d])  # type: ignore[misc]
        elif not merged:
            shown = await s.projected(rid)
            assert (shown["status"], shown["duplicates"]) == ("assigned", [])
    await _check(s, temporal_env, 2)


async def test_a_primary_closed_out_of_scope_releases_its_duplicates(
    make_stack: StackFactory, temporal_env: WorkflowEnvironment
) -> None:
    s = await make_stack()
    a = (await _file(s, "13800000021"))["id"]
    b = (await _file(s, "13800000022"))["id"]
    ok(await s.act("worker1", b, "accept"))
    ok(await s.act("dispatcher1", b, "merge", {"into": a, "reason": "同一件事"}))
    ok(await s.act("community1", a, "close-out-of-scope", {"reason": "属于物业合同纠纷"}))
    released = await s.projected(b, lambda r: r["timeline"][-1]["type"] == "Unmerged")
    assert (released["status"], released["merged_into"]) == ("in_progress", None)
    last = released["timeline"][-1]
    assert (last["type"], last.get("automatic"), last.get("from")) == ("Unmerged", True, a), last
    assert released["deadline"] is not None
    closed = await s.projected(a, lambda r: r["status"] == "closed")
    assert closed["duplicates"] == []
    # released, it is the grid worker's again
    ok(await s.act("worker1", b, "resolve", {"resolution": "已协调物业处理"}))
    await _check(s, temporal_env, 2)
