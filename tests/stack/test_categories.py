"""A category an admin adds is filed in on its default tier; once retired it refuses new
filings with a 422 naming the active categories, while the requests filed in it still
read and show as before (refusals before any workflow: tests/api/test_categories.py)."""

from __future__ import annotations

from tests.stack.conftest import StackFactory
from web.session import COOKIE

CATEGORIES = "/api/v1/categories"


async def test_a_retired_category_refuses_new_requests_and_keeps_the_filed_ones(
    make_stack: StackFactory,
) -> None:
    s = await make_stack()
    admin = s.auth("admin")
    new = {
        "code": "lift_fault",
        "name_zh": "电梯故障",
        "name_en": "Lift fault",
        "default_tier": "5d",
    }
    answer = await s.http.post(CATEGORIES, json=new, headers=admin)
    assert answer.status_code == 201, answer.text

    filed = await s.file(category="lift_fault")  # a resident: the tracking view and link
    assert (filed["category"], filed["tier"]) == ("lift_fault", "5d")
    token = filed["tracking_token"]
    rid = (await s.projected(filed["id"]))["id"]

    answer = await s.http.patch(f"{CATEGORIES}/lift_fault", json={"retired": True}, headers=admin)
    assert answer.status_code == 200, answer.text
    events = s.store.recorder.max_notification_id()
    body = {
        "grid_id": s.grids["医院西路社区第一网格"], "category": "lift_fault",
        "description": "又坏了", "channel": "app",
        "resident": {"name": "李先生", "phone": "13800000001"},
    }  # fmt: skip
    refused = await s.http.post("/api/v1/requests", json=body)
    assert refused.status_code == 422, refused.text
    reason = refused.json()
    assert (reason["code"], reason["field"]) == ("category_retired", "category")
    assert "lift_fault" not in reason["params"]["active"]
    assert "water_leak, utility_fault" in reason["detail"]
    assert s.store.recorder.max_notification_id() == events  # nothing was filed

    # the filed request still reads, by staff and by its resident, with its category
    answer = await s.http.get(f"/api/v1/requests/{rid}", headers=s.auth("supervisor1"))
    assert answer.status_code == 200, answer.text
    assert (answer.json()["category"], answer.json()["tier"]) == ("lift_fault", "5d")
    tracked = await s.http.get(f"/api/v1/track/{token}")
    assert tracked.status_code == 200 and tracked.json()["category"] == "lift_fault"
    token_of = s.auth("supervisor1")["Authorization"].removeprefix("Bearer ")
    cookie = {"Cookie": f"{COOKIE}={token_of}"}
    page = await s.http.get(f"/requests/{rid}", params={"lang": "en"}, headers=cookie)
    assert page.status_code == 200 and "Lift fault" in page.text
    board = await s.http.get("/board", params={"lang": "zh-CN"}, headers=cookie)
    assert board.status_code == 200 and "电梯故障" in board.text
    track_page = await s.http.get(f"/track/{token}", params={"lang": "zh-CN"})
    assert track_page.status_code == 200 and "电梯故障" in track_page.text
