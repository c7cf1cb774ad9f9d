"""The assessment page in the browser: a supervisor finds it in the navigation, sorts the
table with the keyboard, is refused next to the points field, records an adjustment that
shows beside the computed points, withdraws it, and opens a worker's page with the
requests behind the counts."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import PHONE, ROOT, Dev, People, screenshot

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SEVERE = """async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
  .filter((v) => v.impact === "serious" || v.impact === "critical")
  .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)"""


def _axe(page: Page, state: str) -> list[str]:
    """axe-core's serious and critical findings on the page as it is, at both widths (the
    full check of every page is tests/e2e/test_accessibility.py; this one sees the states
    only this test reaches)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate("() => {\n" + AXE.read_text() + "\n}")
    found = [f"{state}, desktop: {v}" for v in page.evaluate(SEVERE)]
    size = page.viewport_size
    page.set_viewport_size(PHONE)
    found += [f"{state}, phone: {v}" for v in page.evaluate(SEVERE)]
    if size:
        page.set_viewport_size(size)
    return found


def test_a_supervisor_sorts_adjusts_and_opens_a_worker(people: People, stack: Dev) -> None:
    filed = stack.file(description="楼道积水，考核页面测试")
    stack.act("worker1", filed["id"], "accept")
    stack.act("worker1", filed["id"], "resolve", {"resolution": "已疏通"})

    page = people.staff("supervisor1")
    page.locator("nav.nav a", has_text="考核").click()
    expect(page).to_have_url(re.compile(r"/assessment$"))
    expect(page.locator("h1")).to_have_text("网格员考核")
    row = page.locator('tr[data-username="worker1"]')
    expect(row).to_be_visible()

    # sorting with the keyboard: the header says how the table is sorted, and it is announced
    final = page.locator("button.sort[data-sort=final]")
    final.focus()
    page.keyboard.press("Enter")
    header = page.locator("th", has=final)
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(
        page.locator("th", has=page.locator("button.sort[data-sort=rank]"))
    ).not_to_have_attribute("aria-sort", re.compile("."))
    expect(page.locator("#announcer")).to_contain_text("最终得分")
    finals = page.eval_on_selector_all("tr[data-row]", "rows => rows.map(r => r.dataset.sortFinal)")
    points = [float(p) for p in finals if p]
    assert points == sorted(points, reverse=True), finals
    assert finals[len(points) :] == [""] * (len(finals) - len(points)), finals  # ungraded last
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "ascending")

    # a refusal shows next to the points field; nothing is recorded
    row.locator("summary[data-action=adjust]").click()
    form = row.locator("form[data-key=adjust-worker1]")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=points]")).to_have_text(
        "分值须为 -20 到 +20 之间的整数，且不能为 0"
    )
    expect(form.locator("input[name=points]")).to_have_attribute("aria-invalid", "true")
    expect(row.locator("li.adj")).to_have_count(0)
    findings = _axe(page, "a refusal")

    form.locator("input[name=points]").fill("-5")
    form.locator("textarea[name=reason]").fill("入户走访次数不足")
    form.locator("button[type=submit]").click()
    row = page.locator('tr[data-username="worker1"]')
    expect(row.locator(".sum")).to_have_text("-5")
    adjustment = row.locator("li.adj")
    expect(adjustment).to_contain_text("入户走访次数不足")
    expect(adjustment).to_contain_text("supervisor1")
    # the sort chosen stays after the table reloads
    expect(page.locator("th", has=page.locator("button.sort[data-sort=final]"))).to_have_attribute(
        "aria-sort", "ascending"
    )
    screenshot(page, "assessment")
    findings += _axe(page, "an adjustment")

    # withdrawn: it stops counting and stays on the record
    row.locator("details.withdraw summary").click()
    row.locator("details.withdraw button[type=submit]").click()
    row = page.locator('tr[data-username="worker1"]')
    expect(row.locator(".sum")).to_have_text("0")
    expect(row.locator("li.adj.withdrawn")).to_contain_text("supervisor1")

    row.locator("th.who a").click()
    expect(page).to_have_url(re.compile(r"/assessment/workers/worker1"))
    expect(page.locator(f'a[href="/requests/{filed["id"]}"]')).to_be_visible()
    screenshot(page, "assessment-worker")
    findings += _axe(page, "the worker's page")
    assert not findings, "\n".join(findings)
