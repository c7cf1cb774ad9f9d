"""Likely duplicates where the dispatcher looks: a request waiting for dispatch 40 m from an
open one of the same category is marked in the dispatch queue, and its page lists the other
under "可能重复" with the distance and a link; in English too; the grid worker sees it on
their request's page; no resident's contact is shown in the section."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import HTTP_SECONDS, Dev, People, screenshot

#: A spot of its own (the other tests file elsewhere), and a metre in degrees of latitude.
LAT, LONG = 39.4100, 99.9100
METRE = 1 / 111_195


def _dispatch_mode(dev: Dev, mode: str) -> None:
    units = httpx.get(
        f"{dev.api}/units",
        params={"kind": "community"},
        headers=dev.auth("admin"),
        timeout=HTTP_SECONDS,
    ).json()
    community = next(u["id"] for u in units if u["name"] == "医院西路社区")
    answer = httpx.patch(
        f"{dev.api}/units/{community}",
        json={"dispatch": mode},
        headers=dev.auth("admin"),
        timeout=HTTP_SECONDS,
    )
    assert answer.status_code == 200, answer.text


def test_the_dispatcher_sees_the_likely_duplicate(people: People, stack: Dev) -> None:
    first = stack.file(
        category="pothole",
        description="祥和苑东门外人行道塌了个坑",
        lat=LAT,
        long=LONG,
        resident={"name": "周大爷", "phone": "13700000041"},
    )["id"]
    _dispatch_mode(stack, "manual")
    try:
        second = stack.file(
            category="pothole",
            description="东门人行道路面下陷，老人差点摔倒",
            lat=LAT + 40 * METRE,
            long=LONG,
            resident={"name": "吴女士", "phone": "13700000042"},
        )["id"]
    finally:
        _dispatch_mode(stack, "auto")

    dispatcher = people.staff("dispatcher1")
    # the queue's row says it has a likely duplicate, in words, and links to the request
    dispatcher.goto("/dispatch")
    card = dispatcher.locator(f'li.card[data-id="{second}"]')
    mark = card.locator("a.dup-mark")
    expect(mark).to_have_text("⧉ 可能重复 1 件")
    expect(mark).to_have_attribute("data-duplicates", "1")
    mark.click()
    dispatcher.wait_for_url(f"**/requests/{second}**")

    # the request's page: the section, the other request with its link, status, distance
    section = dispatcher.locator("section.duplicates")
    expect(section.get_by_role("heading", name="可能重复")).to_be_visible()
    item = section.locator(f'li[data-duplicate="{first}"]')
    expect(item).to_be_visible()
    expect(item.get_by_role("link", name="道路坑洼")).to_have_attribute(
        "href", f"/requests/{first}"
    )
    expect(item.locator("[data-dup-status]")).to_have_text("待签收")
    expect(item.locator("[data-why]")).to_have_text("相距 40 米")
    expect(item).to_contain_text("祥和苑东门外人行道塌了个坑")
    expect(item).to_contain_text("受理于 ")
    # the other request's resident is nowhere in the section
    assert "周大爷" not in section.inner_text() and "13700000041" not in section.inner_text()
    screenshot(dispatcher, "duplicates-request")

    # in English
    dispatcher.goto(f"/requests/{second}?lang=en")
    item = dispatcher.locator(f'section.duplicates li[data-duplicate="{first}"]')
    expect(dispatcher.get_by_role("heading", name="Possible duplicates")).to_be_visible()
    expect(item.locator("[data-why]")).to_have_text("40 m away")
    expect(item.locator("[data-dup-status]")).to_have_text("Waiting to be accepted")
    dispatcher.goto(f"/requests/{second}?lang=zh")

    # the grid's worker sees the one waiting for dispatch on their request's page
    worker = people.staff("worker1")
    worker.goto(f"/requests/{first}")
    item = worker.locator(f'section.duplicates li[data-duplicate="{second}"]')
    expect(item.locator("[data-dup-status]")).to_have_text("等待分派")
    expect(item.locator("[data-why]")).to_have_text("相距 40 米")
