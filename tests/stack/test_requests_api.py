"""The HTTP contract for requests, on the real stack: every status code a user can meet."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.stack.conftest import StackFactory

YES = {"reached": True, "completion": "yes", "progress": "yes", "effect": "yes",
       "satisfaction": "yes"}  # fmt: skip


async def test_a_request_goes_round_the_loop(make_stack: StackFactory) -> None:
    s = await make_stack()
    filed = await s.file()
    rid = filed["id"]
    assert (filed["status"], filed["tier"], filed["level"]) == ("assigned", "1d", "grid_worker")
    assert filed["deadline"].endswith("+00:00") and filed["timeline"][0]["type"] == "Filed"
    # the resident's reply: the tracking link, nothing about staff, not even their contact
    assert len(filed["tracking_token"]) >= 32 and filed["track_url"].endswith(
        filed["tracking_token"]
    )
    assert "assignees" not in filed and "resident" not in filed
    assert "worker1" not in str(filed) and "13800000000" not in str(filed)
    await s.projected(rid)
    read = (await s.http.get(f"/api/v1/requests/{rid}", headers=s.auth("worker1"))).json()
    assert [a["username"] for a in read["assignees"]] == ["worker1"]

    await s.projected(rid)
    tasks = (await s.http.get("/api/v1/tasks", headers=s.auth("worker1"))).json()
    assert [t["id"] for t in tasks] == [rid]
    assert (await s.http.get("/api/v1/tasks", headers=s.auth("worker2"))).json() == []
    answer = await s.act("worker1", rid, "accept")
    assert answer.status_code == 200 and answer.json()["status"] == "in_progress"
    answer = await s.act("worker1", rid, "progress", {"note": "约了物业上门"})
    assert answer.status_code == 200
    answer = await s.act("worker1", rid, "resolve", {"resolution": "水管已修好"})
    assert answer.json()["status"] == "resolved"

    await s.projected(rid, lambda r: r["status"] == "resolved")
    answer = await s.http.get("/api/v1/followups", headers=s.auth("caller1"))
    queue = answer.json()
    assert [q["id"] for q in queue] == [rid] and answer.headers["X-Total-Count"] == "1"
    paged = await s.http.get("/api/v1/followups?offset=1&limit=10", headers=s.auth("caller1"))
    assert paged.json() == [] and paged.headers["X-Total-Count"] == "1"
    too_many = await s.http.get("/api/v1/followups?limit=501", headers=s.auth("caller1"))
    assert too_many.status_code == 422 and "limit" in too_many.text
    assert queue[0]["resident"] == {"name": "李先生", "phone": "13800000000"}

    answer = await s.act("caller1", rid, "review", {**YES, "comment": "满意"})
    assert answer.status_code == 200 and answer.json()["status"] == "closed"
    closed = await s.projected(rid, lambda r: r["status"] == "closed")
    assert [e["type"] for e in closed["timeline"]] == [
        "Filed",
        "Accepted",
        "ProgressNoted",
        "Resolved",
        "Reviewed",
    ]
    assert closed["timeline"][1]["actor"] == "worker1"
    stats = (await s.http.get("/api/v1/stats", headers=s.auth("supervisor1"))).json()
    assert (stats["received"], stats["closed"], stats["completion_rate"]) == (1, 1, 1.0)
    assert (stats["reviews_reached"], stats["satisfied"], stats["satisfaction_rate"]) == (1, 1, 1.0)


async def test_intake_rejects_bad_input_and_writes_nothing(make_stack: StackFactory) -> None:
    s = await make_stack()
    good: dict[str, Any] = {
        "grid_id": s.grids["医院西路社区第一网格"], "category": "noise", "description": "半夜装修",
        "channel": "hotline", "resident": {"name": "王女士", "phone": "13900000000"},
    }  # fmt: skip
    bad: list[tuple[dict[str, Any], str]] = [
        ({"category": "aliens"}, "unknown category"),
        ({"grid_id": str(uuid.uuid4())}, "unknown unit"),
        ({"grid_id": s.units["医院西路社区"]}, "not a grid"),
        ({"channel": "fax"}, "channel"),
        ({"tier": "2d"}, "tier"),
        ({"description": "   "}, "description"),
        ({"resident": {"name": "王女士"}}, "phone"),
    ]
    for change, reason in bad:
        answer = await s.http.post("/api/v1/requests", json={**good, **change})
        assert answer.status_code == 422, (change, answer.text)
        assert reason in answer.text, (reason, answer.text)
    assert s.store.recorder.max_notification_id() in (None, 0)


async def test_idempotency_key_returns_the_same_request(make_stack: StackFactory) -> None:
    s = await make_stack()
    body = {
        "grid_id": s.grids["医院西路社区第二网格"], "category": "pothole",
        "description": "路口有坑", "channel": "app",
        "resident": {"name": "赵", "phone": "13700000000"},
    }  # fmt: skip
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await s.http.post("/api/v1/requests", json=body, headers=key)
    second = await s.http.post("/api/v1/requests", json=body, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["tier"] == "3d"  # the category's default
    assert s.store.recorder.max_notification_id() == 1
    assert first.json()["tracking_token"] == second.json()["tracking_token"]
    # the same key with anything else in the body (another resident, another phone) is a
    # 422 that says so, and hands back nothing of the first filing
    for change in ({"description": "别的事"}, {"resident": {"name": "钱", "phone": "13700000000"}},
                   {"resident": {"name": "赵", "phone": "13700000001"}}):  # fmt: skip
        other = await s.http.post("/api/v1/requests", json={**body, **change}, headers=key)
        assert other.status_code == 422 and other.json()["code"] == "idempotency_conflict"
        assert "Idempotency-Key" in other.json()["detail"] and "赵" not in other.text
    assert s.store.recorder.max_notification_id() == 1


async def test_status_codes_for_handler_actions(make_stack: StackFactory) -> None:
    s = await make_stack()
    rid = (await s.file())["id"]
    # 401 without a token, 401 with a bad one
    answer = await s.http.post(f"/api/v1/requests/{rid}/accept")
    assert answer.status_code == 401
    answer = await s.http.post(
        f"/api/v1/requests/{rid}/accept", headers={"Authorization": "Bearer nonsense"}
    )
    assert answer.status_code == 401
    # 403: wrong role; a handler not assigned at the current level
    assert (await s.act("caller1", rid, "accept")).status_code == 403
    # a worker of another grid may not know of the request at all: 404, as for no request
    assert (await s.act("worker2", rid, "accept")).status_code == 404
    answer = await s.act("branch1", rid, "accept")
    assert answer.status_code == 403 and "not assigned" in answer.json()["detail"]
    # 404: unknown request
    assert (await s.act("worker1", str(uuid.uuid4()), "accept")).status_code == 404
    assert (await s.act("worker1", "not-an-id", "accept")).status_code == 404
    # 409: resolve before accept, with the reason
    answer = await s.act("worker1", rid, "resolve", {"resolution": "done"})
    assert answer.status_code == 409 and "not been accepted" in answer.json()["detail"]
    # 422: malformed bodies
    assert (await s.act("worker1", rid, "resolve", {})).status_code == 422
    assert (await s.act("worker1", rid, "escalate", {"reason": ""})).status_code == 422
    # nothing was written by any of those
    assert [type(e).__name__ for e in s.store.events.get(uuid.UUID(rid))] == ["Filed"]

    assert (await s.act("worker1", rid, "accept")).status_code == 200
    answer = await s.act("worker1", rid, "accept")
    assert answer.status_code == 409 and "cannot accept" in answer.json()["detail"]
    # review: callers only; a reached review needs all four answers; only once resolved
    assert (await s.act("worker1", rid, "review", YES)).status_code == 403
    answer = await s.act("caller1", rid, "review", {"reached": True, "completion": "yes"})
    assert answer.status_code == 422 and "missing" in answer.text
    answer = await s.act("caller1", rid, "review", YES)
    assert answer.status_code == 409 and "not been resolved" in answer.json()["detail"]


async def test_refusals_carry_stable_reason_codes(make_stack: StackFactory) -> None:
    """Each refusal keeps its English ``detail`` and adds a ``code`` (and the ``field`` it
    concerns) that clients and the pages translate by."""
    s = await make_stack()
    rid = (await s.file())["id"]

    def reason(answer: httpx.Response) -> tuple[int, str, str | None]:
        body = answer.json()
        return answer.status_code, body["code"], body.get("field")

    accept = f"/api/v1/requests/{rid}/accept"
    assert reason(await s.http.post(accept)) == (401, "sign_in", None)
    bad_token = {"Authorization": "Bearer nonsense"}
    assert reason(await s.http.post(accept, headers=bad_token)) == (401, "token_invalid", None)
    assert reason(await s.act("caller1", rid, "accept")) == (403, "role_required", None)
    assert reason(await s.act("branch1", rid, "accept")) == (403, "not_assigned", None)
    unknown = str(uuid.uuid4())
    assert reason(await s.act("worker1", unknown, "accept")) == (404, "request_not_found", None)
    answer = await s.act("worker1", rid, "resolve", {"resolution": "done"})
    assert reason(answer) == (409, "not_accepted", None)
    assert answer.json()["detail"] == "cannot resolve: the request has not been accepted yet"
    answer = await s.act("worker1", rid, "resolve", {})
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_input")
    assert [e["loc"] for e in answer.json()["detail"]] == [["body", "resolution"]]
    assert (await s.act("worker1", rid, "accept")).status_code == 200
    assert reason(await s.act("worker1", rid, "accept")) == (409, "in_progress", None)
    # a reached review names each unanswered question on its own field
    answer = await s.act("caller1", rid, "review", {"reached": True, "completion": "yes"})
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_input")
    missing = [(e["loc"][-1], e["type"]) for e in answer.json()["detail"]]
    assert missing == [(d, "review_answer_missing") for d in ("progress", "effect", "satisfaction")]
    assert reason(await s.act("caller1", rid, "review", YES)) == (409, "in_progress", None)

    login = {"username": "worker1", "password": "wrong-password"}
    answer = await s.http.post("/api/v1/auth/token", data=login)
    assert reason(answer) == (401, "bad_credentials", None)
    answer = await s.http.post(
        "/api/v1/requests",
        json={"grid_id": str(uuid.uuid4()), "category": "noise", "description": "吵",
              "channel": "app", "resident": {"name": "王", "phone": "13900000000"}},
    )  # fmt: skip
    assert reason(answer) == (422, "unknown_grid", "grid_id")
    period = {"from": "2026-02-01", "to": "2026-01-01"}
    answer = await s.http.get("/api/v1/stats", params=period, headers=s.auth("supervisor1"))
    assert reason(answer) == (422, "bad_period", "from")


async def test_escalation_hands_the_request_to_the_next_level(make_stack: StackFactory) -> None:
    s = await make_stack()
    rid = (await s.file())["id"]
    answer = await s.act("worker1", rid, "escalate", {"reason": "需要网格党支部协调"})
    assert answer.status_code == 200
    view = answer.json()
    assert (view["tier"], view["level"], view["escalations"]) == ("3d", "grid_branch", 1)
    assert [a["username"] for a in view["assignees"]] == ["branch1"]
    await s.projected(rid, lambda r: r["level"] == "grid_branch")
    branch_tasks = (await s.http.get("/api/v1/tasks", headers=s.auth("branch1"))).json()
    worker_tasks = (await s.http.get("/api/v1/tasks", headers=s.auth("worker1"))).json()
    assert [(t["id"], t["assisting"]) for t in branch_tasks] == [(rid, False)]
    # the grid worker stays on it, assisting (协助): listed, but no longer theirs to handle
    assert [(t["id"], t["assisting"]) for t in worker_tasks] == [(rid, True)]
    assert worker_tasks[0]["resident"]["phone"] == "13800000000"
    # up the ladder by hand to the top, then no further
    assert (await s.act("branch1", rid, "escalate", {"reason": "难事"})).status_code == 200
    assert (await s.act("community1", rid, "escalate", {"reason": "重大"})).status_code == 200
    answer = await s.act("town1", rid, "escalate", {"reason": "更高"})
    assert answer.status_code == 409 and "top of the ladder" in answer.json()["detail"]
    assert answer.json()["code"] == "top_of_ladder"


async def test_board_and_tasks_order_and_filters(make_stack: StackFactory) -> None:
    s = await make_stack()
    slow = await s.file(category="pothole")  # 3d: the grid branch
    fast = await s.file(category="noise")  # 1d: the worker
    other = await s.file(grid="祥和苑社区第一网格")
    for r in (slow, fast, other):
        await s.projected(r["id"])
    sup = s.auth("supervisor1")
    page = (await s.http.get("/api/v1/requests", headers=sup)).json()
    assert page["total"] == 3
    page = (await s.http.get(
        "/api/v1/requests", params={"unit_id": s.units["医院西路社区"]}, headers=sup
    )).json()  # fmt: skip
    assert {i["id"] for i in page["items"]} == {slow["id"], fast["id"]}
    page = (await s.http.get("/api/v1/requests", params={"tier": "3d"}, headers=sup)).json()
    assert [i["id"] for i in page["items"]] == [slow["id"]]
    page = (await s.http.get("/api/v1/requests", params={"limit": 1}, headers=sup)).json()
    assert page["total"] == 3 and len(page["items"]) == 1
    assert (
        await s.http.get("/api/v1/requests", params={"status": "x"}, headers=sup)
    ).status_code == 422
    assert (await s.http.get("/api/v1/requests", headers=s.auth("worker1"))).status_code == 403
    assert (await s.http.get("/api/v1/requests")).status_code == 401
    assert (await s.http.get(f"/api/v1/requests/{uuid.uuid4()}", headers=sup)).status_code == 404
    tasks = (await s.http.get("/api/v1/tasks", headers=s.auth("worker1"))).json()
    assert [t["id"] for t in tasks] == [fast["id"]]
    branch = (await s.http.get("/api/v1/tasks", headers=s.auth("branch1"))).json()
    assert [t["id"] for t in branch] == [slow["id"]]
    assert (await s.http.get("/api/v1/tasks", headers=s.auth("caller1"))).status_code == 403
    assert (await s.http.get("/api/v1/followups", headers=s.auth("worker1"))).status_code == 403
    assert (await s.http.get("/api/v1/stats", headers=s.auth("caller1"))).status_code == 403
    answer = await s.http.get(
        "/api/v1/stats", params={"from": "2030-01-02", "to": "2030-01-01"}, headers=sup
    )
    assert answer.status_code == 422


async def test_health_reports_temporal_and_store(make_stack: StackFactory) -> None:
    s = await make_stack()
    answer = await s.http.get("/api/v1/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
