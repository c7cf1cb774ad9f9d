"""The street-office platform's pages in the browser: the dispatcher's queue, the partner's
page and the resident's out-of-scope closure and appeal.

An admin switches 医院西路社区 to manual dispatch over the API; a resident files and the
request waits; the dispatcher sees it on /dispatch (a second one arrives live) with the
category's default tier chosen, and dispatches each in one step: it leaves the list. A
handler calls in partner1, who sees the request on /partner on a phone, notes progress and
marks the part done. The community committee closes another request as out of scope; the
resident's tracking page shows the reason and the appeal form, a blank appeal is refused
next to its field, and the appeal reopens the request. Chinese and English.

This file runs its own ``closeloop dev``: switching a community to manual dispatch would
change what the shared stack's other tests see.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import GRID1, GRID2, HTTP_SECONDS, Dev, People, screenshot

COMMUNITY = "医院西路社区"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """A ``closeloop dev`` of this file's own, its demo community dispatched by hand."""
    dev = Dev(tmp_path_factory.mktemp("platform") / "data").start()
    try:
        community = _unit(dev, COMMUNITY, "community")
        answer = httpx.patch(
            f"{dev.api}/units/{community}",
            json={"dispatch": "manual"},
            headers=dev.auth("admin"),
            timeout=HTTP_SECONDS,
        )
        assert answer.status_code == 200, answer.text
        yield dev
    finally:
        dev.stop_soon()


@pytest.fixture
def people(browser: Browser, platform: Dev) -> Iterator[People]:
    crowd = People(browser, platform)
    yield crowd
    crowd.close()
    assert not crowd.errors, f"script errors in the pages: {crowd.errors}"
    assert not crowd.violations, f"the pages break their CSP: {crowd.violations}"


def _unit(dev: Dev, name: str, kind: str) -> str:
    units = httpx.get(
        f"{dev.api}/units",
        params={"kind": kind},
        headers=dev.auth("supervisor1"),
        timeout=HTTP_SECONDS,
    ).json()
    return str(next(u["id"] for u in units if u["name"] == name))


def _card(page: Page, request_id: str) -> Any:
    return page.locator(f'li.card[data-id="{request_id}"]')


def test_a_dispatcher_hands_out_waiting_requests(people: People, platform: Dev) -> None:
    dev = platform
    pothole = dev.file(category="pothole", description="小区北门路面塌了一个坑", urgent=True)
    assert dev.request(pothole["id"])["status"] == "waiting_dispatch"

    # the resident's page says it waits for dispatch
    resident = people.page(phone=True)
    resident.goto(f"/track/{pothole['tracking_token']}")
    expect(resident.locator("[data-status]")).to_have_text("等待分派")
    expect(resident.locator(".waiting-note")).to_be_visible()

    # the dispatcher lands on their queue; the default tier of 道路坑洼 (3 days) is chosen
    page = people.staff("dispatcher1")
    expect(page).to_have_url(re.compile(r"/dispatch$"))
    expect(page.locator("nav.nav a", has_text="派单队列")).to_be_visible()
    card = _card(page, pothole["id"])
    expect(card.locator("h2")).to_contain_text("道路坑洼")
    expect(card.locator("[data-urgent]")).to_be_visible()
    expect(card.locator(".desc")).to_have_text("小区北门路面塌了一个坑")
    expect(card.locator(".waited")).to_contain_text("已等待")
    expect(card.locator("select[name=tier]")).to_have_value("3d")
    expect(card.locator("select[name=grid_id] option")).to_have_count(2)  # the community's

    # another request arrives live, below the older one
    leak = dev.file(category="water_leak", description="厨房水管漏水", grid=GRID2)
    second = _card(page, leak["id"])
    expect(second).to_be_visible()
    expect(page.locator("li.card").first).to_have_attribute("data-id", pothole["id"])
    expect(second.locator("select[name=tier]")).to_have_value("1d")
    screenshot(page, "dispatch-queue")

    # one step: the other grid, the preselected tier, a note
    card.locator("select[name=grid_id]").select_option(label=GRID2)
    card.locator("textarea[name=note]").fill("请先拉警戒线")
    card.locator("button[data-action=dispatch]").click()
    expect(card).to_have_count(0)
    expect(second).to_be_visible()
    view = dev.request(pothole["id"])
    assert (view["status"], view["tier"], view["grid_id"]) == ("assigned", "3d", dev.grid(GRID2))
    expect(resident.locator("[data-status]")).to_have_text("待签收")  # live on its page
    expect(resident.locator(".timeline")).to_contain_text("分派至3天")

    # in English: the words, and the queue empties
    page.goto("/dispatch?lang=en")
    expect(page.locator("h1")).to_have_text("Requests waiting for dispatch")
    second = _card(page, leak["id"])
    expect(second.locator(".waited")).to_contain_text("Waiting for")
    expect(second.locator("select[name=tier] option:checked")).to_have_text("1 day · Grid worker")
    second.locator("button[data-action=dispatch]").click()
    expect(second).to_have_count(0)
    expect(page.locator("p.empty")).to_have_text("Nothing is waiting for dispatch.")
    assert dev.request(leak["id"])["status"] == "assigned"


def test_a_partner_helps_and_marks_their_part_done(people: People, platform: Dev) -> None:
    dev = platform
    filed = dev.file(category="water_main", description="主水管爆裂，整栋楼停水", grid=GRID1)
    request_id = filed["id"]
    dev.act("dispatcher1", request_id, "dispatch", {"grid_id": dev.grid(GRID1), "tier": "1d"})
    dev.act("worker1", request_id, "accept")
    dev.act("worker1", request_id, "cohandlers", {"username": "partner1", "task": "关闭楼栋总阀"})

    page = people.staff("partner1", phone=True)
    expect(page).to_have_url(re.compile(r"/partner$"))
    card = _card(page, request_id)
    expect(card.locator("[data-task]")).to_have_text("关闭楼栋总阀")
    expect(card.locator("[data-part-state]")).to_have_text("待协办")
    expect(card.locator("a.tel")).to_have_text("13800000000")  # in full while the part is open
    screenshot(page, "partner")

    # a progress note: a blank one is refused at its field, then it is recorded
    card.locator("summary[data-action=progress]").click()
    progress = card.locator("form[data-key^=partner-progress]")
    progress.locator("button[type=submit]").click()
    expect(progress.locator("[data-error-for=note]")).to_be_visible()
    progress.locator("textarea[name=note]").fill("总阀已关闭，等待抢修")
    progress.locator("button[type=submit]").click()
    expect(page.locator("#toast")).to_have_text("进展已记录")
    notes = [e.get("note") for e in dev.request(request_id)["timeline"]]
    assert "总阀已关闭，等待抢修" in notes

    # my part is done (in English)
    page.goto("/partner?lang=en")
    card = _card(page, request_id)
    card.locator("summary[data-action=part-done]").click()
    done = card.locator("form[data-key^=partner-done]")
    done.locator("textarea[name=note]").fill("Valve closed and handed back")
    done.locator("button[type=submit]").click()
    expect(card.locator("[data-part-state]")).to_have_text("Your part: done")
    expect(card.locator("form")).to_have_count(0)
    expect(card.locator("a.tel")).to_have_count(0)  # masked once the part is done
    parts = dev.request(request_id)["cohandlers"]
    assert [(p["username"], p["done"]) for p in parts] == [("partner1", True)]


def test_a_resident_appeals_an_out_of_scope_closure(people: People, platform: Dev) -> None:
    dev = platform
    filed = dev.file(category="other", description="想请社区帮忙打官司要回借款")
    request_id = filed["id"]
    dev.act("dispatcher1", request_id, "dispatch", {"grid_id": dev.grid(GRID1), "tier": "5d"})
    reason = "民间借贷纠纷属法院受理范围，请向人民法院起诉"
    dev.act("community1", request_id, "close-out-of-scope", {"reason": reason})

    page = people.page(phone=True)
    page.goto(f"/track/{filed['tracking_token']}?lang=en")
    expect(page.locator("[data-status]")).to_have_text("Closed as out of scope")
    expect(page.locator("[data-out-of-scope-reason]")).to_have_text(reason)
    expect(page.locator(".timeline")).to_contain_text("Closed as out of scope")
    form = page.locator("#appeal")
    expect(form).to_be_visible()
    screenshot(page, "track-out-of-scope")

    # a blank appeal is refused next to its field
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=reason]")).to_be_visible()
    expect(form.locator("textarea[name=reason]")).to_have_attribute("aria-invalid", "true")

    form.locator("textarea[name=reason]").fill("The lender is the community's own tenant")
    form.locator("button[type=submit]").click()
    expect(page.locator("[data-status]")).to_have_text("Waiting to be accepted")
    expect(page.locator("[data-appeal]")).to_have_text("The lender is the community's own tenant")
    expect(page.locator("#appeal")).to_have_count(0)
    expect(page.locator(".timeline")).to_contain_text("Appealed by the resident")
    expect(page.locator(".level")).to_contain_text("Community party committee")

    # and in Chinese
    page.goto(f"/track/{filed['tracking_token']}?lang=zh-CN")
    expect(page.locator("[data-status]")).to_have_text("待签收")
    expect(page.locator(".timeline")).to_contain_text("居民申诉")
    expect(page.locator(".timeline")).to_contain_text("不予受理")
    assert dev.request(request_id)["status"] == "assigned"
