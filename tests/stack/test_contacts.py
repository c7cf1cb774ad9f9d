"""The resident's contact card on the real stack: the tracking view's ``contacts`` names
the handlers posted where the request is now (display name, level, work phone), follows
the request up the ladder, leaves out the disabled, and is empty while the request waits
for dispatch or is closed. The tracking page shows it, the work phone as a ``tel:`` link."""

from __future__ import annotations

from typing import Any

import httpx

from api import roster
from domain.ladder import Level
from domain.state import Assignment
from tests.stack.conftest import Stack, StackFactory

GRID1 = "医院西路社区第一网格"
COMMUNITY = "医院西路社区"
YES = {"reached": True, "completion": "yes", "progress": "yes", "effect": "yes",
       "satisfaction": "yes"}  # fmt: skip


def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def _phone(s: Stack, username: str, phone: str) -> None:
    answer = ok(await s.http.patch("/api/v1/auth/me", json={"work_phone": phone},
                                   headers=s.auth(username)))  # fmt: skip
    assert answer["work_phone"] is not None


async def _contacts(s: Stack, token: str) -> list[dict[str, Any]]:
    contacts: list[dict[str, Any]] = ok(await s.http.get(f"/api/v1/track/{token}"))["contacts"]
    return contacts


async def test_the_card_names_the_handlers_where_the_request_is_now(
    make_stack: StackFactory,
) -> None:
    s = await make_stack()
    await _phone(s, "worker1", "139 1234 5678")
    await _phone(s, "community1", "0539-1234567 转 8")
    # a second committee member, later disabled: no longer on the card
    deputy = roster.create_user(
        "community2", "deputy-passphrase-9", "社区党委副书记老周", roster.Role.HANDLER,
        [Assignment(unit_id=s.units[COMMUNITY], level=Level.COMMUNITY_COMMITTEE)], db=s.engine,
    )  # fmt: skip
    roster.set_work_phone(deputy.id, "13700000002", db=s.engine)

    filed = await s.file(GRID1)
    rid, token = filed["id"], filed["tracking_token"]
    await s.projected(rid)
    assert await _contacts(s, token) == [
        {"display_name": "网格员小孙", "role": "grid_worker", "work_phone": "13912345678"}
    ]
    page = await s.http.get(f"/track/{token}", params={"lang": "en"})
    assert page.status_code == 200
    assert 'href="tel:13912345678"' in page.text and "Call 13912345678" in page.text
    assert "网格员小孙" in page.text and "Grid worker" in page.text
    assert "worker1" not in page.text  # never a username

    # up the ladder: the grid party branch (no work phone given), then the community
    ok(await s.act("worker1", rid, "escalate", {"reason": "需要网格党支部协调"}))
    await s.projected(rid, lambda r: r["level"] == "grid_branch")
    assert await _contacts(s, token) == [
        {"display_name": "网格党支部书记老王", "role": "grid_branch", "work_phone": None}
    ]
    page = await s.http.get(f"/track/{token}", params={"lang": "zh-CN"})
    assert "网格党支部书记老王" in page.text and "未留工作电话" in page.text
    assert "13912345678" not in page.text and "网格员小孙" not in page.text

    ok(await s.act("branch1", rid, "escalate", {"reason": "涉及整栋楼，需社区研办"}))
    await s.projected(rid, lambda r: r["level"] == "community_committee")
    contacts = await _contacts(s, token)
    assert contacts == [
        {"display_name": "社区党委书记老李", "role": "community_committee",
         "work_phone": "0539-1234567-8"},
        {"display_name": "社区党委副书记老周", "role": "community_committee",
         "work_phone": "13700000002"},
    ]  # fmt: skip
    page = await s.http.get(f"/track/{token}")
    assert 'href="tel:0539-1234567;ext=8"' in page.text
    roster.set_disabled(deputy.id, True, db=s.engine)
    assert [c["display_name"] for c in await _contacts(s, token)] == ["社区党委书记老李"]
    # only these three fields, for anyone
    assert all(set(c) == {"display_name", "role", "work_phone"} for c in contacts)
    assert "community1" not in str(contacts) and "community2" not in str(contacts)

    # resolved, the card stays (the resident may call about the result); closed, it is gone
    ok(await s.act("community1", rid, "accept"))
    ok(await s.act("community1", rid, "resolve", {"resolution": "已协调物业更换整栋水管"}))
    await s.projected(rid, lambda r: r["status"] == "resolved")
    assert [c["display_name"] for c in await _contacts(s, token)] == ["社区党委书记老李"]
    ok(await s.act("caller1", rid, "review", YES))
    await s.projected(rid, lambda r: r["status"] == "closed")
    assert await _contacts(s, token) == []
    page = await s.http.get(f"/track/{token}")
    assert "社区党委书记老李" not in page.text and "data-contacts" not in page.text


async def test_the_card_is_empty_while_the_request_waits_for_dispatch(
    make_stack: StackFactory,
) -> None:
    s = await make_stack()
    await _phone(s, "worker1", "13912345678")
    community = s.units[COMMUNITY]
    ok(await s.http.patch(f"/api/v1/units/{community}", json={"dispatch": "manual"},
                          headers=s.auth("admin")))  # fmt: skip
    filed = await s.file(GRID1)
    rid, token = filed["id"], filed["tracking_token"]
    await s.projected(rid, lambda r: r["status"] == "waiting_dispatch")
    assert await _contacts(s, token) == []
    ok(await s.act("dispatcher1", rid, "dispatch", {"grid_id": s.grids[GRID1], "tier": "1d"}))
    await s.projected(rid, lambda r: r["status"] == "assigned")
    assert await _contacts(s, token) == [
        {"display_name": "网格员小孙", "role": "grid_worker", "work_phone": "13912345678"}
    ]
