"""Merging on the pages (合并): the dispatcher opens a request waiting for dispatch, finds
its likely duplicate, and merges it from the section's form (an empty reason is refused
next to its field); the page then says which request it follows and that one's status;
the primary's page lists it; the resident's tracking page says it is handled jointly;
the primary's resolution reaches it; another merge is taken out again from the page."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import HTTP_SECONDS, Dev, People, screenshot
from tests.e2e.test_duplicates_page import METRE, _dispatch_mode

#: A spot of its own (the other tests file elsewhere).
LAT, LONG = 39.4300, 99.9300


def _waiting(stack: Dev, description: str, phone: str, north: float) -> str:
    _dispatch_mode(stack, "manual")
    try:
        filed = stack.file(
            category="pothole", description=description, lat=LAT + north * METRE, long=LONG,
            resident={"name": "吴女士", "phone": phone},
        )  # fmt: skip
    finally:
        _dispatch_mode(stack, "auto")
    return str(filed["id"])


def test_the_dispatcher_merges_a_duplicate_and_takes_another_out(
    people: People, stack: Dev
) -> None:
    first = stack.file(
        category="pothole", description="祥和苑南门外人行道塌了个坑", lat=LAT, long=LONG,
        resident={"name": "周大爷", "phone": "13700000051"},
    )  # fmt: skip
    primary = first["id"]
    filed = httpx.post(
        f"{stack.api}/requests",
        params={"consistent": "true"},
        json={
            "grid_id": stack.grid("医院西路社区第一网格"), "category": "pothole",
            "description": "南门人行道路面下陷", "channel": "app",
            "lat": LAT + 30 * METRE, "long": LONG,
            "resident": {"name": "吴女士", "phone": "13700000052"},
        },
        timeout=HTTP_SECONDS,
    )  # fmt: skip
    assert filed.status_code == 201, filed.text
    second, token = filed.json()["id"], filed.json()["tracking_token"]

    dispatcher = people.staff("dispatcher1")
    dispatcher.goto(f"/requests/{second}")
    item = dispatcher.locator(f'section.duplicates li[data-duplicate="{primary}"]')
    item.locator("summary[data-action=merge]").click()
    form = item.locator("form")
    form.get_by_role("button", name="合并").click()
    # refused next to the field: a reason is needed; nothing is merged
    expect(form.locator("[data-error-for=reason]")).to_be_visible()
    assert stack.request(second)["status"] == "assigned"
    form.get_by_label("合并原因").fill("同一个坑")
    form.get_by_role("button", name="合并").click()

    banner = dispatcher.locator("section.merge-info")
    expect(banner.locator(f'[data-merged-into="{primary}"]')).to_contain_text("随其一并办理")
    expect(banner.get_by_role("link", name=f"合并到 {primary[:8]}")).to_have_attribute(
        "href", f"/requests/{primary}"
    )
    expect(banner.locator("[data-primary-status]")).to_have_text("该诉求状态：待签收")
    expect(dispatcher.locator("[data-status]").first).to_have_text("已合并办理")
    screenshot(dispatcher, "merged-request")

    # the primary's page lists it
    dispatcher.goto(f"/requests/{primary}")
    expect(dispatcher.locator(f'[data-merged-duplicate="{second}"]')).to_be_visible()

    # the resident's tracking page: handled jointly, with the joint progress
    resident = people.page()
    resident.goto(f"/track/{token}")
    expect(resident.locator("[data-merged]")).to_contain_text("合并办理")
    expect(resident.locator("[data-following]")).to_have_text("合并办理的进度：待签收")
    assert "周大爷" not in resident.content() and "人行道塌了个坑" not in resident.content()

    # the primary is resolved: so is the merged one, with the same resolution
    stack.act("branch1", primary, "accept")  # potholes start on the 3-day tier
    stack.act("branch1", primary, "resolve", {"resolution": "已回填并压实路面"})
    resident.goto(f"/track/{token}")
    expect(resident.locator("[data-status]").first).to_have_text("待回访", timeout=30_000)
    expect(resident.get_by_text("已回填并压实路面")).to_be_visible()

    # another, merged by the API, is taken out again from its page
    third = _waiting(stack, "南门那个坑又大了", "13700000053", 20)
    other = stack.file(
        category="pothole", description="南门外另一个坑", lat=LAT + 25 * METRE, long=LONG,
        resident={"name": "郑先生", "phone": "13700000054"},
    )["id"]  # fmt: skip
    stack.act("dispatcher1", third, "merge", {"into": other, "reason": "看着像同一个"})
    dispatcher.goto(f"/requests/{third}")
    dispatcher.locator("summary[data-action=unmerge]").click()
    form = dispatcher.locator("details.unmerge form")
    form.get_by_label("取消原因").fill("不是同一个坑")
    form.get_by_role("button", name="取消合并").click()
    expect(dispatcher.locator("[data-status]").first).to_have_text("等待分派")
    expect(dispatcher.locator("section.merge-info")).to_have_count(0)

    # the board's figures count the merged request apart from the work received
    supervisor = people.staff("supervisor1")
    supervisor.goto("/board")
    merged = supervisor.locator("[data-figure=merged]")
    expect(merged).to_be_visible()
    assert int(merged.inner_text()) >= 1
