"""The supervisor's hot-spot page in the browser, in both languages: a repeat marked in
words, a hot spot made the month's topic (a blank title refused next to its field first),
the topic on the board, then closed; axe-core finds nothing serious on the way."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DESKTOP, GRID1, PHONE, ROOT, Dev, People, log_in, screenshot

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

SAYS = {
    "zh-CN": {
        "title": "热点诉求 · 主动治理",
        "repeat": re.compile(r"▲ 重复：30 天内 \d+ 件"),
        "required": "此项必填",
        "made": "已设为每月一题",
        "is_topic": re.compile(r"✓ \d{4}-\d{2} 一题"),
        "closed": "已结束此题",
    },
    "en": {
        "title": "Hot spots",
        "repeat": re.compile(r"▲ Repeat: \d+ within 30 days"),
        "required": "This is required",
        "made": "Made the month's topic",
        "is_topic": re.compile(r"✓ Topic of \d{4}-\d{2}"),
        "closed": "Topic closed",
    },
}


def _serious(page: Page) -> list[Any]:
    """axe-core's serious and critical findings on the page as it is, at desktop and phone
    widths."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # by the debugging protocol: a <script> added to the page would break its CSP
        page.evaluate("() => {\n" + AXE.read_text() + "\n}")
    found: list[Any] = []
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        found += page.evaluate(
            """async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
              .filter((v) => ["serious", "critical"].includes(v.impact))
              .map((v) => [v.id, v.nodes.map((n) => n.target.join(" "))])"""
        )
    page.set_viewport_size(DESKTOP)
    return found


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_supervisor_makes_a_repeat_the_months_topic(
    people: People, stack: Dev, lang: str
) -> None:
    says = SAYS[lang]
    mark = f"({lang})"
    for _ in range(3):  # three of one category in one grid, within a few seconds
        stack.file(category="noise", description=f"楼上装修，晚上十点还在砸墙 {mark}")
    page = people.page(lang=lang)
    log_in(page, "supervisor1")
    page.goto(f"/board?lang={lang}")
    page.click("nav a[href='/hotspots']")  # the supervisor's menu leads there
    expect(page).to_have_url(re.compile(r"/hotspots$"))
    expect(page.locator("h1")).to_have_text(says["title"])

    grid = stack.grid(GRID1)
    row = page.locator(f'tr.spot[data-cell="{grid}-noise"]')
    expect(row.locator("[data-repeat=yes]")).to_have_text(says["repeat"])

    # a blank title: refused next to the field, nothing made
    title = f"装修噪音扰民 {mark}"
    row.locator("summary[data-action=make-topic]").click()
    form = row.locator("form")
    form.locator("input[name=title]").fill("  ")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=title]")).to_have_text(says["required"])
    expect(form.locator("input[name=title]")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("li.topic", has_text=title)).to_have_count(0)
    assert _serious(page) == [], lang

    # the title given, the whole community chosen: made, listed, the row marked
    form.locator("input[name=title]").fill(title)
    form.locator("input[name=unit_id]").nth(1).check()
    form.locator("textarea[name=note]").fill("约物业和业主定施工时间")
    form.locator("button[type=submit]").click()
    expect(page.locator("#toast")).to_have_text(says["made"])
    topic = page.locator("li.topic", has_text=title)
    expect(topic).to_be_visible()
    expect(row.locator("[data-is-topic]")).to_have_text(says["is_topic"])
    assert _serious(page) == [], lang
    screenshot(page, f"hotspots-{lang}")

    # on the board, until it is closed
    page.goto(f"/board?lang={lang}")
    expect(page.locator("[data-board-topics] li.topic", has_text=title)).to_be_visible()
    page.goto(f"/hotspots?lang={lang}")
    page.locator("li.topic", has_text=title).locator("button[data-action=close-topic]").click()
    expect(page.locator("#toast")).to_have_text(says["closed"])
    expect(page.locator("li.topic.closed", has_text=title)).to_be_visible()
    page.goto(f"/board?lang={lang}")
    expect(page.locator("[data-board-topics] li.topic", has_text=title)).to_have_count(0)
