"""The whole loop in the browser, on short days: what each person sees, without reloads.

A worker files request B for a resident who phoned; a resident files request A on the
resident's page; the worker sees A arrive, accepts it and resolves it; B's day runs out
while the supervisor's board is open and its row turns yellow, then moves up to the grid
party branch; the caller reviews A with a "no" and it comes back to the worker; resolved
again, a second review closes it, and the board's rates change.
Screenshots of every page at phone and desktop widths are taken on the way.

Nothing here depends on how fast the machine is, only on the order of events: A is
resolved on its first day (a day is long enough for a busy machine to do the steps in
between), and B's escalation is waited for, however late it is noticed.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import GRID1, HTTP_SECONDS, People, StackFactory, screenshot

#: Seconds in a day: 1d = 40 s, 3d = 120 s. Between B's filing and the check that B is
#: still on the worker's list, and between A's filing and its resolution, the test does
#: a few page steps: a day is far longer than those take even on a busy machine.
DAY = 40.0
#: Generous: B's escalation comes a day after it was filed, whenever the test gets there.
ESCALATION_MS = 4 * DAY * 1000

#: Records the board row's look every 100 ms in the page itself, so that a colour shown
#: only for a few seconds is seen whatever the test is doing at the time.
WATCH_ROW = """id => {
  window.__seen = window.__seen || [];
  window.__marker = 'no reload since';
  setInterval(() => {
    const row = document.querySelector(`tr.row[data-id="${id}"]`);
    if (!row) return;
    const look = [row.className.match(/urg-\\w+/)?.[0], row.querySelector('td.tier').dataset.tier,
                  row.querySelector('td.level').textContent.trim()].join(' ');
    if (window.__seen[window.__seen.length - 1] !== look) window.__seen.push(look);
  }, 100);
}"""


def figure(page: Page, name: str) -> Any:
    return page.locator(f"[data-figure={name}]")


def card(page: Page, request_id: str) -> Any:
    return page.locator(f'li.card[data-id="{request_id}"]')


def outcome(page: Page, request_id: str, kind: str) -> Any:
    """The caller's "just recorded" entry for this request with this outcome (the list
    keeps earlier entries for the same request: pick by outcome, not by position)."""
    return page.locator(f'#outcomes li[data-id="{request_id}"][data-outcome="{kind}"]')


def test_the_loop_in_the_browser(browser: Browser, short_days_stack: StackFactory) -> None:
    dev = short_days_stack(DAY)
    people = People(browser, dev)
    try:
        _the_loop(people)
    finally:
        people.close()
    assert not people.errors, people.errors


def _the_loop(people: People) -> None:
    dev = people.dev
    login = people.page(phone=True)
    login.goto("/login")
    expect(login.locator("h1")).to_have_text("工作人员登录")
    screenshot(login, "login")

    # ---- the supervisor opens the board; it stays open to the end ------------------------
    board = people.staff("supervisor1")
    expect(board).to_have_url(re.compile(r"/board$"))
    expect(board.locator("[data-live-badge]")).to_have_class(re.compile(r"\bon\b"))
    board.evaluate("() => { window.__marker = 'no reload since'; }")

    # ---- B: the worker files a hotline call for a resident ------------------------------
    worker = people.staff("worker1", phone=True)
    expect(worker).to_have_url(re.compile(r"/tasks$"))
    worker.click("details.file-for > summary")
    form = worker.locator("#file-for")
    form.locator("select[name=channel]").select_option("hotline")
    form.locator("select[name=grid_id]").select_option(label=GRID1)
    form.locator("select[name=category]").select_option("noise")
    form.locator("textarea[name=description]").fill("夜里楼下棋牌室吵闹")
    form.locator("input[name='resident.name']").fill("王阿姨")
    form.locator("input[name='resident.phone']").fill("13900000001")
    form.locator("button[type=submit]").click()
    link = worker.locator("details.file-for [data-track-link]")
    expect(link).to_be_visible()
    token = (link.get_attribute("href") or "").rsplit("/", 1)[-1]
    tracked = httpx.get(f"{dev.api}/track/{token}", timeout=HTTP_SECONDS)
    b = tracked.json()["id"]  # the link holds the tracking token, not the request id
    assert token != b and dev.request(b)["channel"] == "hotline"
    expect(card(worker, b)).to_be_visible()  # the worker's list shows it at once
    expect(card(worker, b).locator("[data-countdown]")).to_contain_text("剩余")

    row_b = board.locator(f'tr.row[data-id="{b}"]')
    expect(row_b).to_be_visible()  # arrived on the open board without a reload
    expect(row_b).to_have_class(re.compile(r"\burg-ok\b"))  # green
    expect(row_b.locator("td.tier")).to_have_text("1天")
    expect(row_b.locator("td.assignees")).to_have_text("网格员小孙")
    board.evaluate(WATCH_ROW, b)

    # ---- A: a resident reports a leak -------------------------------------------------
    resident = people.page(phone=True)
    resident.goto("/")
    expect(resident.locator("h1")).to_have_text("我要反映")
    screenshot(resident, "resident")
    report = resident.locator("#report")
    report.locator("select[name=grid_id]").select_option(label=GRID1)
    report.locator("select[name=category]").select_option("water_leak")
    report.locator("textarea[name=description]").fill("楼上漏水，天花板泡坏了")
    report.locator("input[name='resident.name']").fill("李先生")
    report.locator("input[name='resident.phone']").fill("13800000000")
    report.locator("button[type=submit]").click()
    track_link = resident.locator("[data-track-link]")
    expect(track_link).to_be_visible()
    expect(resident.locator("[data-result]")).to_contain_text("已受理")
    screenshot(resident, "resident-filed")
    token = (track_link.get_attribute("href") or "").rsplit("/", 1)[-1]
    a = httpx.get(f"{dev.api}/track/{token}", timeout=HTTP_SECONDS).json()["id"]

    # the worker sees it arrive, without reloading, and accepts it (签收)
    expect(card(worker, a)).to_be_visible()
    expect(card(worker, a)).to_contain_text("楼上漏水")
    expect(card(worker, a).locator("[data-status]")).to_have_text("待签收")
    card(worker, a).locator("button[data-action=accept]").click()
    expect(card(worker, a).locator("[data-status]")).to_have_text("办理中")
    expect(worker.locator("#toast")).to_have_text("已签收")
    # soonest deadline first: B (filed first) above A
    ids = worker.locator("li.card").evaluate_all("cards => cards.map(c => c.dataset.id)")
    assert ids.index(b) < ids.index(a), ids
    screenshot(worker, "tasks")

    # the board's figures: two received, none closed yet
    expect(board.locator("[data-figure=received]")).to_have_text("2")
    expect(figure(board, "completion_rate")).to_have_text("0.0%")
    expect(figure(board, "satisfaction_rate")).to_have_text("—")

    # the resident's tracking page
    resident.goto(track_link.get_attribute("href") or "")
    expect(resident.locator("[data-status]")).to_have_text("办理中")
    expect(resident.locator(".timeline")).to_contain_text("签收")

    # ---- the worker notes progress on A and resolves it ---------------------------------
    a_card = card(worker, a)
    a_card.locator("summary[data-action=progress]").click()
    a_card.locator("textarea[name=note]").fill("约了物业和楼上住户")
    a_card.locator("form[data-key^=progress] button[type=submit]").click()
    expect(worker.locator("#toast")).to_have_text("进展已记录")
    a_card.locator("summary[data-action=resolve]").click()
    a_card.locator("textarea[name=resolution]").fill("水管已更换")
    a_card.locator("form[data-key^=resolve] button[type=submit]").click()
    expect(card(worker, a)).to_have_count(0)  # off to the follow-up call
    expect(worker.locator("#toast")).to_have_text("已办结，转入回访")

    # ---- B's day runs out while the board is open ---------------------------------------
    # The row turns yellow for the last quarter of the day (the page's own record of the
    # row's looks says so even if the test gets here late); a picture while it is yellow.
    board.wait_for_function(
        "() => (window.__seen || []).some(look => look.startsWith('urg-warn'))",
        timeout=ESCALATION_MS,
    )
    if "urg-warn" in (row_b.get_attribute("class") or ""):
        screenshot(board, "board-warn")
    expect(row_b.locator("td.tier")).to_have_text("3天", timeout=ESCALATION_MS)
    expect(row_b.locator("td.level")).to_have_text("网格党支部")
    expect(row_b.locator("td.assignees")).to_have_text("网格党支部书记老王")
    expect(row_b).to_have_class(re.compile(r"\burg-ok\b"))  # a fresh 3-day clock: green
    # the page's record (every 100 ms) catches up with the row as it is now: at 3d
    board.wait_for_function(
        "() => { const seen = window.__seen || [];"
        " return seen.length > 0 && seen[seen.length - 1].includes(' 3d '); }"
    )
    seen = board.evaluate("() => window.__seen")
    assert seen[0] == "urg-ok 1d 网格员", seen
    assert "urg-warn 1d 网格员" in seen, seen
    assert seen[-1] == "urg-ok 3d 网格党支部", seen
    assert seen.index("urg-warn 1d 网格员") < seen.index("urg-ok 3d 网格党支部"), seen
    assert board.evaluate("() => window.__marker") == "no reload since"
    expect(board.locator("[data-table=escalations] tr[data-from-tier='1d'] .auto")).to_have_text(
        "1"
    )
    # B left the worker's list: it is the branch's now
    expect(card(worker, b)).to_have_count(0)

    # ---- the caller reviews it with a "no": it goes back to the worker --------------------
    caller = people.staff("caller1")
    expect(caller).to_have_url(re.compile(r"/followups$"))
    item = card(caller, a)
    expect(item).to_contain_text("李先生")
    expect(item.locator("a.tel")).to_have_attribute("href", "tel:13800000000")
    expect(item).to_contain_text("水管已更换")
    for question in ("完成是否到位", "推进是否有力", "成效是否明显", "群众是否满意"):
        expect(item).to_contain_text(question)
    review = item.locator("form.review")
    review.locator("input[name=reached][value=true]").check()
    review.locator("input[name=completion][value=no]").check()
    review.locator("input[name=progress][value=yes]").check()
    review.locator("input[name=effect][value=partly]").check()
    review.locator("input[name=satisfaction][value=no]").check()
    review.locator("textarea[name=comment]").fill("天花板还在滴水")
    screenshot(caller, "followups")
    review.locator("button[type=submit]").click()
    expect(outcome(caller, a, "reopened")).to_have_text(re.compile("退回重办"))
    expect(card(caller, a)).to_have_count(0)

    back = card(worker, a)  # back on the worker's list, without a reload
    expect(back).to_be_visible()
    expect(back.locator("[data-status]")).to_have_text("待签收")
    expect(back).to_contain_text("退回重办 1 次")
    back.locator("button[data-action=accept]").click()
    expect(back.locator("[data-status]")).to_have_text("办理中")
    back.locator("summary[data-action=resolve]").click()
    back.locator("textarea[name=resolution]").fill("重新更换了水管，天花板已修补")
    back.locator("form[data-key^=resolve] button[type=submit]").click()
    expect(card(worker, a)).to_have_count(0)

    # ---- a second review closes the loop ---------------------------------------------
    item = card(caller, a)
    expect(item).to_be_visible()  # back in the queue, without a reload
    expect(item).to_contain_text("重新更换了水管")
    review = item.locator("form.review")
    review.locator("input[name=reached][value=true]").check()
    for dimension in ("completion", "progress", "effect", "satisfaction"):
        review.locator(f"input[name={dimension}][value=yes]").check()
    review.locator("button[type=submit]").click()
    expect(outcome(caller, a, "closed")).to_have_text(re.compile("已闭环"))
    expect(caller.locator(f'#outcomes li[data-id="{a}"]')).to_have_count(2)  # both reviews
    expect(caller.locator("#outcomes li").first).to_have_attribute("data-outcome", "closed")

    # ---- the board's rates change, live ------------------------------------------------
    expect(board.locator("[data-figure=completion_rate]")).to_have_text("50.0%")
    expect(figure(board, "closed")).to_have_text("1")
    expect(figure(board, "on_time_rate")).to_have_text("100.0%")
    expect(figure(board, "satisfaction_rate")).to_have_text("50.0%")  # one of two reached reviews
    expect(figure(board, "reviews_reached")).to_have_text("2")
    expect(figure(board, "escalations")).to_have_text("1")
    dims = board.locator("[data-table=dimensions]")
    expect(dims.locator("tr[data-dimension=completion] td")).to_have_text(["1", "0", "1"])
    expect(dims.locator("tr[data-dimension=effect] td")).to_have_text(["1", "1", "0"])
    assert board.evaluate("() => window.__marker") == "no reload since"
    # the closed request left the open list; B is still there, at the branch
    expect(board.locator(f'tr.row[data-id="{a}"]')).to_have_count(0)
    expect(row_b).to_be_visible()
    screenshot(board, "board")

    # ---- a click opens B's timeline ------------------------------------------------------
    row_b.locator("td.grid").click()
    expect(board).to_have_url(re.compile(f"/requests/{b}$"))
    # the warning (预警) before the deadline comes or not as the machine's load lets its
    # timer fire in time: the moves are the filing and the escalation
    moves = board.locator(".timeline li:not([data-type=Warned])")
    expect(moves).to_have_count(2)
    expect(moves.nth(1)).to_contain_text("1天时限已到，自动升级至3天（网格党支部）")
    expect(moves.nth(1)).to_contain_text("系统")
    screenshot(board, "request")

    # ---- the resident follows A to the end, without staff names ------------------------
    resident.reload()
    expect(resident.locator("[data-status]")).to_have_text("已闭环")
    text = resident.inner_text("main")
    assert "水管已更换" in text and "回访：已闭环" in text
    for private in ("worker1", "网格员小孙", "caller1", "回访员小刘", "13800000000", "李先生"):
        assert private not in text, private
    screenshot(resident, "track")
