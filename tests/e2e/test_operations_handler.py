"""The street-office operations on the handler's page, the request page and the board, in
the browser (on ordinary days, a ``closeloop dev`` of this file's own).

A resident's request A is filed over the API; the grid worker asks for more time on their
phone (first too much: the refusal shows next to the date-time field), the supervisor sees
the ask with the board's "extension pending" filter, the grid party branch sees it among
the asks waiting for its decision and approves it (a decision without a choice is refused
next to the choice first); the supervisor urges A from the board and finds it with the
"urged" filter, its urge count shown; the worker escalates A over the API and finds it in
their "assisting" section, where they add a progress note; the supervisor calls in a
co-handler on the request page; the worker returns request B to the platform. The worker
works in Chinese, the branch and the supervisor in English.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.conftest import Dev, People, log_in, screenshot

CST = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    started = Dev(tmp_path_factory.mktemp("ops") / "data").start()
    try:
        yield started
    finally:
        started.stop_soon()


@pytest.fixture
def people(browser: Browser, dev: Dev) -> Iterator[People]:
    crowd = People(browser, dev)
    yield crowd
    crowd.close()
    assert not crowd.errors, f"script errors in the pages: {crowd.errors}"
    assert not crowd.violations, f"the pages break their CSP: {crowd.violations}"


def staff(people: People, username: str, lang: str, phone: bool = False) -> Page:
    page = people.page(phone=phone, lang=lang)
    log_in(page, username)
    if lang == "en":
        page.goto(page.url.split("?")[0] + "?lang=en")
        expect(page.locator("html")).to_have_attribute("lang", "en")
    return page


def field_time(at: datetime) -> str:
    """What a datetime-local field holds for ``at``, in China Standard Time."""
    return at.astimezone(CST).strftime("%Y-%m-%dT%H:%M")


def card(page: Page, request_id: str) -> Locator:
    return page.locator(f'li.card[data-id="{request_id}"]')


def board_row(page: Page, request_id: str) -> Locator:
    return page.locator(f'#board-list tr.row[data-id="{request_id}"]')


def tick(page: Page, name: str, on: bool = True) -> None:
    box = page.locator(f"#filters input[type=checkbox][name={name}]")
    if not box.is_visible():  # the operations' filters fold away until one is ticked
        page.locator("#filters .states-box summary").click()
    if on:
        box.check()
    else:
        box.uncheck()
    expect(page).to_have_url(re.compile(f"{name}=1" if on else r"^(?!.*" + name + "=1)"))


def test_the_operations_in_the_browser(people: People, dev: Dev) -> None:
    a = dev.file(description="厨房水管爆裂，水漫到楼道")["id"]
    b = dev.file(description="隔壁小区的路灯不亮")["id"]
    deadline = datetime.fromisoformat(dev.request(a)["deadline"])

    # ---- the grid worker asks for more time, on their phone, in Chinese ------------------
    worker = staff(people, "worker1", "zh-CN", phone=True)
    mine = card(worker, a)
    expect(mine).to_be_visible()
    mine.locator("summary[data-action=extension]").click()
    form = mine.locator("form[data-key^=extension]")
    until = form.locator("input[name=until]")
    until.fill(field_time(deadline + timedelta(days=40)))  # far more than the tier again
    form.locator("textarea[name=reason]").fill("需要等配件到货")
    form.locator("button[type=submit]").click()
    refusal = form.locator("[data-error-for=until]")
    expect(refusal).to_have_text("延期最多为本层级时限的一倍")
    expect(until).to_have_attribute("aria-invalid", "true")
    expect(form.locator("textarea[name=reason]")).to_have_value("需要等配件到货")  # kept
    asked = deadline + timedelta(hours=2)
    until.fill(field_time(asked))
    form.locator("button[type=submit]").click()
    expect(worker.locator("#toast")).to_have_text("延期申请已提交，待上一级审批")
    expect(mine.locator("[data-extension-pending]")).to_contain_text("延期待批")
    ask = dev.request(a)["extension"]
    assert datetime.fromisoformat(ask["until"]) == asked.replace(second=0, microsecond=0)
    screenshot(worker, "ops-tasks-extension-asked")

    # ---- the supervisor finds it with the "extension pending" filter ----------------------
    board = staff(people, "supervisor1", "en")
    tick(board, "extension_pending")
    expect(board_row(board, a)).to_be_visible()
    expect(board_row(board, a).locator("[data-extension-pending]")).to_have_text("Extension waits")
    expect(board_row(board, b)).to_have_count(0)

    # ---- the grid party branch decides it, in English -------------------------------------
    branch = staff(people, "branch1", "en")
    decision = branch.locator(f'li.card.ask[data-ask-id="{a}"]')
    expect(decision).to_contain_text("asks for more time")
    decision.locator("button[type=submit]").click()  # no choice made: refused by the field
    expect(decision.locator("[data-error-for=approve]")).to_have_text("This is required")
    decision.locator("input[name=approve][value=true]").check()
    decision.locator("textarea[name=note]").fill("OK, parts are on their way")
    decision.locator("button[type=submit]").click()
    expect(branch.locator("#toast")).to_have_text("Decision recorded")
    expect(decision).to_have_count(0)
    expect(branch.locator("#asks-title + p.none")).to_have_text("No extension ask waits for you.")
    extended = dev.request(a)
    assert extended["extension"] is None and extended["timeline"][-1]["type"] == "DeadlineExtended"
    assert datetime.fromisoformat(extended["deadline"]) == asked.replace(second=0, microsecond=0)
    # the board's list follows without a reload: no extension waits any more
    expect(board_row(board, a)).to_have_count(0)

    # ---- the supervisor urges it from the board -------------------------------------------
    tick(board, "extension_pending", on=False)
    row = board_row(board, a)
    expect(row.locator("[data-urges]")).to_have_text("urged 0×")
    row.locator("summary[data-action=urge]").click()
    expect(board).to_have_url(re.compile(r"/board"))  # the summary is not the row's link
    row.locator("textarea[name=note]").fill("Residents downstairs are flooded: today, please")
    row.locator("form[data-key^=urge] button[type=submit]").click()
    expect(board.locator("#toast")).to_have_text("Urged")
    expect(row.locator("[data-urges]")).to_contain_text("urged 1×")
    tick(board, "urged")
    expect(board_row(board, a)).to_be_visible()
    expect(board_row(board, b)).to_have_count(0)
    expect(board.locator("#board-list .count")).to_have_text("1 in all")
    screenshot(board, "ops-board-urged")
    # the worker's card says so too
    expect(mine.locator("[data-urges]")).to_contain_text("催办 1 次")

    # ---- escalated over the API: the worker assists, with progress notes only -------------
    dev.act("worker1", a, "escalate", {"reason": "需要支部协调物业"})
    assisting = worker.locator(f'li.card.assist[data-assist-id="{a}"]')
    expect(assisting).to_be_visible()
    expect(card(worker, a)).to_have_count(0)
    expect(assisting.locator("summary")).to_have_count(1)  # a progress note, nothing else
    assisting.locator("summary[data-action=progress]").click()
    assisting.locator("textarea[name=note]").fill("已联系物业关闭总阀")
    assisting.locator("button[type=submit]").click()
    expect(worker.locator("#toast")).to_have_text("进展已记录")
    noted = dev.request(a)["timeline"][-1]
    assert (noted["type"], noted["note"], noted.get("assisting")) == (
        "ProgressNoted",
        "已联系物业关闭总阀",
        True,
    )
    screenshot(worker, "ops-tasks-assisting")

    # ---- the supervisor calls in a co-handler on the request page --------------------------
    board.goto(f"/requests/{a}?lang=en")
    body = board.locator("#request-body")
    expect(body.locator("[data-urges]").first).to_contain_text("urged 1×")
    body.locator("summary[data-action=cohandler]").click()
    co = body.locator("form[data-key^=cohandler]")
    co.locator("input[name=username]").fill("nobody-here")
    co.locator("textarea[name=task]").fill("Shut the building's main valve")
    co.locator("button[type=submit]").click()
    expect(co.locator("[data-error-for=username]")).to_have_text(
        "A co-handler is an active partner or handler"
    )
    co.locator("input[name=username]").fill("partner1")
    co.locator("input[name=due]").fill(field_time(datetime.now(CST) + timedelta(hours=3)))
    co.locator("button[type=submit]").click()
    expect(board.locator("#toast")).to_have_text("Co-handler added")
    expect(body.locator('[data-cohandler="partner1"]')).to_contain_text("at work")
    assert dev.request(a)["cohandlers"][0]["due"] is not None
    screenshot(board, "ops-request-page")

    # ---- the worker returns request B to the platform -------------------------------------
    other = card(worker, b)
    other.locator("summary[data-action=return]").click()
    back = other.locator("form[data-key^=return]")
    back.locator("button[type=submit]").click()  # no reason
    expect(back.locator("[data-error-for=reason]")).to_have_text("不能为空")
    back.locator("textarea[name=reason]").fill("不是本网格的路灯，属于隔壁小区")
    back.locator("button[type=submit]").click()
    expect(worker.locator("#toast")).to_have_text("已退回平台")
    expect(card(worker, b)).to_have_count(0)
    assert dev.request(b)["status"] == "waiting_dispatch"
    # the board's "waiting for dispatch" filter finds it
    board.goto("/board?lang=en&status=any")
    tick(board, "waiting_dispatch")
    expect(board_row(board, b)).to_be_visible()
    expect(board_row(board, b).locator("[data-waiting]")).to_have_text("Waiting to be dispatched")
    expect(board_row(board, a)).to_have_count(0)
