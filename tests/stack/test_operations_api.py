"""Street-office operations over HTTP on the real stack: the issue's whole scenario (a
manual-dispatch community, dispatch, return, re-dispatch, urging, an extension, a partner
co-handler, escalation with the grid worker assisting, resolution and review; another
request closed out of scope and appealed), each role's refusals, the warning, and
`closeloop check` finding workflow, store and read models in agreement afterwards."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from closeloop.check import Checker, lines
from tests.stack.conftest import Stack, StackFactory

YES = {"reached": True, "completion": "yes", "progress": "yes", "effect": "yes",
       "satisfaction": "yes"}  # fmt: skip
HOSPITAL = "医院西路社区"
FIRST, SECOND = "医院西路社区第一网格", "医院西路社区第二网格"
OTHER_COMMUNITY_GRID = "祥和苑社区第一网格"


async def _manual(s: Stack, community: str = HOSPITAL) -> None:
    answer = await s.http.patch(
        f"/api/v1/units/{s.units[community]}", json={"dispatch": "manual"}, headers=s.auth("admin")
    )
    assert answer.status_code == 200, answer.text


def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert (answer.status_code, answer.json().get("code")) == (status, code), answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_a_second_appeal_is_refused_as_used_while_the_read_models_lag(
    make_stack: StackFactory, temporal_env: WorkflowEnvironment
) -> None:
    """The workflow has ended and the projector is stopped, so the read models still show
    the first closure, before the appeal: the refusal says why from the record itself
    (the appeal was used), not from the lagging rows (which would say the window
    passed)."""
    s = await make_stack()
    await _manual(s)
    filed = await s.file(description="邻居的房产官司")
    rid, token = filed["id"], filed["tracking_token"]
    await s.projected(rid)
    ok(await s.act("dispatcher1", rid, "dispatch", {"grid_id": s.grids[SECOND], "tier": "1d"}))
    ok(await s.act("community1", rid, "close-out-of-scope", {"reason": "属于法院管辖"}))
    await s.projected(rid, lambda r: r["status"] == "closed")
    s.projector.stop()
    try:
        ok(await s.http.post(f"/api/v1/track/{token}/appeal", json={"reason": "是楼道问题"}))
        ok(await s.act("community1", rid, "close-out-of-scope", {"reason": "仍属法院管辖"}))
        again = await s.http.post(f"/api/v1/track/{token}/appeal", json={"reason": "再申诉"})
        body = refused(again, 409, "appeal_used")
        assert body["detail"] == "this request has been appealed once already"
    finally:
        s.projector.start()
    await s.projected(rid, lambda r: r["status"] == "closed" and r["appeal"] is not None)


async def test_the_street_office_scenario(
    make_stack: StackFactory, temporal_env: WorkflowEnvironment
) -> None:
    s = await make_stack()
    await _manual(s)
    filed = await s.file()
    rid = filed["id"]
    assert filed["status"] == "waiting_dispatch" and filed["deadline"] is None
    await s.projected(rid)

    # the dispatcher's queue; a grid worker has no queue
    answer = await s.http.get("/api/v1/dispatch", headers=s.auth("dispatcher1"))
    assert [r["id"] for r in ok(answer)] == [rid] and answer.headers["X-Total-Count"] == "1"
    refused(await s.http.get("/api/v1/dispatch", headers=s.auth("worker1")), 403, "role_required")
    refused(await s.act("worker1", rid, "accept"), 409, "waiting_dispatch")

    # dispatch: a grid of the request's community only
    wrong = {"grid_id": s.grids[OTHER_COMMUNITY_GRID], "tier": "1d"}
    body = refused(await s.act("dispatcher1", rid, "dispatch", wrong), 422, "grid_not_in_community")
    assert body["field"] == "grid_id"
    view = ok(
        await s.act("dispatcher1", rid, "dispatch", {"grid_id": s.grids[FIRST], "tier": "1d"})
    )
    assert view["status"] == "assigned" and view["deadline"] is not None

    # the grid worker returns it (退单); it waits again; a fresh dispatch starts a new clock
    # a grid worker of another grid does not know of the request at all
    refused(await s.act("worker2", rid, "return", {"reason": "不是我的"}), 404, "request_not_found")
    refused(await s.act("branch1", rid, "return", {"reason": "不是我的"}), 403, "not_assigned")
    view = ok(await s.act("worker1", rid, "return", {"reason": "属于欠薪纠纷"}))
    assert view["status"] == "waiting_dispatch" and view["returns"] == 1
    await s.projected(rid, lambda r: r["status"] == "waiting_dispatch")
    queue = ok(await s.http.get("/api/v1/dispatch", headers=s.auth("supervisor1")))
    assert rid in [r["id"] for r in queue]
    view = ok(
        await s.act("dispatcher1", rid, "dispatch", {"grid_id": s.grids[FIRST], "tier": "1d"})
    )
    assert view["dispatch_wait_seconds"] > 0

    # urging (催办): a supervisor or a higher level, not the level itself
    refused(await s.act("worker1", rid, "urge", {"note": "快"}), 403, "not_assigned")
    ok(await s.act("branch1", rid, "urge", {"note": "请尽快处理"}))
    view = ok(await s.act("supervisor1", rid, "urge", {"note": "今天办完"}))
    assert view["urges"] == 2

    # an extension (延期), decided one level up
    deadline = datetime.fromisoformat(view["deadline"])
    until = (deadline + timedelta(minutes=30)).isoformat()
    ask = {"until": until, "reason": "等配件"}
    view = ok(await s.act("worker1", rid, "extension", ask))
    assert view["extension"]["until"] == until
    refused(await s.act("worker1", rid, "extension", ask), 409, "extension_pending")
    refused(
        await s.act("worker1", rid, "extension/decision", {"approve": True}), 403, "not_assigned"
    )
    view = ok(await s.act("branch1", rid, "extension/decision", {"approve": True, "note": "同意"}))
    assert view["deadline"] == until and view["extensions_approved"] == 1

    # a partner called in (吹哨报到) sees only that request, notes progress, finishes
    refused(
        await s.act("worker1", rid, "cohandlers", {"username": "nobody", "task": "修"}),
        422,
        "unknown_cohandler",
    )
    view = ok(await s.act("worker1", rid, "cohandlers", {"username": "partner1", "task": "换水管"}))
    assert view["cohandlers"][0]["organisation"] == "城关物业公司"
    await s.projected(rid, lambda r: bool(r["cohandlers"]))
    partner_tasks = ok(await s.http.get("/api/v1/tasks", headers=s.auth("partner1")))
    assert [t["id"] for t in partner_tasks] == [rid]
    assert partner_tasks[0]["resident"]["phone"] == "13800000000"  # their part is open
    ok(await s.act("partner1", rid, "progress", {"note": "水管已订"}))
    view = ok(await s.act("partner1", rid, "cohandlers/partner1/done", {"note": "已更换"}))
    assert view["cohandlers"][0]["done"] is True

    # escalation: the grid worker stays on it, assisting
    ok(await s.act("worker1", rid, "accept"))
    view = ok(await s.act("worker1", rid, "escalate", {"reason": "需要支部协调"}))
    assert view["level"] == "grid_branch"
    await s.projected(rid, lambda r: r["level"] == "grid_branch")
    worker_tasks = ok(await s.http.get("/api/v1/tasks", headers=s.auth("worker1")))
    assert [(t["id"], t["assisting"]) for t in worker_tasks] == [(rid, True)]
    ok(await s.act("worker1", rid, "progress", {"note": "协助支部入户"}))
    refused(await s.act("worker1", rid, "resolve", {"resolution": "x"}), 403, "not_assigned")
    ok(await s.act("branch1", rid, "accept"))
    ok(await s.act("branch1", rid, "resolve", {"resolution": "已修好"}))
    view = ok(await s.act("caller1", rid, "review", YES))
    assert view["status"] == "closed"

    # another request: closed out of scope, the resident appeals once from the link
    other = await s.file(description="邻居的房产官司")
    oid, token = other["id"], other["tracking_token"]
    await s.projected(oid)
    ok(await s.act("dispatcher1", oid, "dispatch", {"grid_id": s.grids[SECOND], "tier": "1d"}))
    refused(
        await s.act("worker2", oid, "close-out-of-scope", {"reason": "法院"}), 403, "not_assigned"
    )
    view = ok(await s.act("community1", oid, "close-out-of-scope", {"reason": "属于法院管辖"}))
    assert view["status"] == "closed" and view["out_of_scope"]["reason"] == "属于法院管辖"
    await s.projected(oid, lambda r: r["status"] == "closed")
    tracked = ok(await s.http.get(f"/api/v1/track/{token}"))
    assert tracked["out_of_scope"]["reason"] == "属于法院管辖" and tracked["appeal_until"]
    refused(await s.http.post("/api/v1/track/not-a-token/appeal", json={"reason": "x"}), 404,
            "request_not_found")  # fmt: skip
    appealed = ok(await s.http.post(f"/api/v1/track/{token}/appeal", json={"reason": "是楼道问题"}))
    assert appealed["status"] == "assigned" and appealed["level"] == "community_committee"
    assert "resident" not in appealed and "community1" not in str(appealed)
    ok(await s.act("community1", oid, "close-out-of-scope", {"reason": "复核：仍属法院管辖"}))
    again = await s.http.post(f"/api/v1/track/{token}/appeal", json={"reason": "再申诉"})
    refused(again, 409, "appeal_used")

    # the figures count each move
    await s.projected(oid, lambda r: r["status"] == "closed" and r["appeal"] is not None)
    figures = ok(await s.http.get("/api/v1/stats", headers=s.auth("supervisor1")))
    assert figures["returned"] == 1 and figures["urged"] == 2
    assert figures["extensions_asked"] == 1 and figures["extensions_approved"] == 1
    assert figures["out_of_scope"] == 1 and figures["dispatch_wait"]["count"] == 2

    # workflow, store and read models agree
    checker = Checker(temporal_env.client, s.store, s.engine, s.settings.task_queue)
    report = await checker.run()
    assert report.ok, list(lines(report))
    assert report.checked == 2


async def test_who_may_make_each_move(make_stack: StackFactory) -> None:
    s = await make_stack()
    rid = (await s.file())["id"]
    await s.projected(rid)
    grid = s.grids[FIRST]
    wrong_role = [
        ("worker1", "dispatch", {"grid_id": grid, "tier": "1d"}),
        ("caller1", "return", {"reason": "x"}),
        ("worker1", "redirect", {"grid_id": grid, "reason": "x"}),
        ("partner1", "retier", {"tier": "3d", "reason": "x"}),
        ("caller1", "urge", {"note": "x"}),
        ("dispatcher1", "extension", {"until": "2030-01-01T00:00:00+00:00", "reason": "x"}),
        ("caller1", "extension/decision", {"approve": True}),
        ("partner1", "cohandlers", {"username": "partner1", "task": "x"}),
        ("dispatcher1", "close-out-of-scope", {"reason": "x"}),
    ]
    for user, action, body in wrong_role:
        refused(await s.act(user, rid, action, body), 403, "role_required")
    # a partner who is not a co-handler does not know the request exists
    refused(await s.act("partner1", rid, "progress", {"note": "x"}), 404, "request_not_found")
    refused(
        await s.http.get(f"/api/v1/requests/{rid}", headers=s.auth("partner1")),
        404,
        "request_not_found",
    )
    # bad values: 422 with the field, nothing written
    body = refused(await s.act("supervisor1", rid, "retier", {"tier": "2d", "reason": "x"}),
                   422, "invalid_input")  # fmt: skip
    assert body["detail"][0]["loc"][-1] == "tier"
    refused(await s.act("supervisor1", rid, "retier", {"tier": "1d", "reason": "x"}), 409,
            "same_tier")  # fmt: skip
    view = await s.projected(rid)
    assert [e["type"] for e in view["timeline"]] == ["Filed"]


async def test_the_warning_shows_on_the_board(make_stack: StackFactory) -> None:
    s = await make_stack(day_seconds=8.0)  # 1d lasts 8 s: warned after 6 s
    rid = (await s.file())["id"]
    view = await s.projected(rid, lambda r: r["warned"], timeout=60)
    assert view["status"] == "assigned" and view["escalations"] == 0
    board = ok(await s.http.get("/api/v1/requests?warned=true", headers=s.auth("supervisor1")))
    assert [r["id"] for r in board["items"]] == [rid]
