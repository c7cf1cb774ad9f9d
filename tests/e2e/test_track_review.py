"""The resident's side of a resolution in the browser: the contact card and the
self-review (限时反馈) on the tracking page, and the staff's own work phone.

worker1 opens "my profile" from the staff navigation and gives a work phone: a number that
is not a phone is refused next to the field, a good one is saved in the stored spelling. A
request is filed, accepted and resolved (API). The resident opens the link to the review
(``/track/{token}#review``, phone-sized): the contact card names worker1 with the work
phone as a ``tel:`` link, the review form says until when it is open; sent with one
dimension unanswered it is refused next to that question; completed, the request closes
and the page says so. A "no" reopens it ("we will handle it again"). A review sent after
the window passed is refused at the top of the form with the sentence. Chinese and English.

This file runs its own ``closeloop dev`` with the self-review window open (the shared
stack has it off, so that resolved requests wait for a caller at once).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import HTTP_SECONDS, Dev, People, screenshot

CST = ZoneInfo("Asia/Shanghai")

#: What each language's test gives as worker1's work phone, how it is stored and dialled.
PHONES = {
    "zh-CN": ("０５３９ 1234567 转 8", "0539-1234567-8", "tel:0539-1234567;ext=8"),
    "en": ("139 1234 5678", "13912345678", "tel:13912345678"),
}
WORDS = {
    "zh-CN": {
        "profile": "我的资料",
        "never_home": "切勿填写家庭电话",
        "saved": "工作电话已保存",
        "phone_refused": "请填写手机号或带区号的座机号",
        "level": "网格员",
        "call": "拨打 {phone}",
        "review_by": "请在 {until} 前评价",
        "answer_this": "请回答此项",
        "closed_result": "感谢您的评价，此诉求已办结闭环。",
        "closed": "已闭环",
        "own_review": "居民自评：已闭环",
        "reopened_result": "感谢您的反馈，我们将重新办理此诉求。",
        "assigned": "待签收",
        "too_late": "自行评价的时间已过，回访员会给您打电话。",
        "yes": "是",
        "no": "否",
    },
    "en": {
        "profile": "My profile",
        "never_home": "never a home phone",
        "saved": "Work phone saved",
        "phone_refused": "Give a mobile number or a landline with its area code",
        "level": "Grid worker",
        "call": "Call {phone}",
        "review_by": "Please review by {until}",
        "answer_this": "Please answer this",
        "closed_result": "Thank you for your review: the request is closed.",
        "closed": "Closed",
        "own_review": "The resident's own review: closed",
        "reopened_result": "Thank you for telling us: we will handle it again.",
        "assigned": "Waiting to be accepted",
        "too_late": "The time for your own review has passed; a caller will phone you.",
        "yes": "Yes",
        "no": "No",
    },
}
DIMENSIONS = ("completion", "progress", "effect", "satisfaction")
#: The self-review window of the late review's stack: 14.4 s.
LATE_WINDOW_HOURS = 0.004


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """A ``closeloop dev`` whose residents may review a resolution for 72 hours."""
    dev = Dev(tmp_path_factory.mktemp("reviews") / "data", self_review_hours=72.0).start()
    try:
        yield dev
    finally:
        dev.stop_soon()


@pytest.fixture
def visitors(browser: Browser, reviews: Dev) -> Iterator[People]:
    crowd = People(browser, reviews)
    yield crowd
    crowd.close()
    assert not crowd.errors, f"script errors in the pages: {crowd.errors}"
    assert not crowd.violations, f"the pages break their CSP: {crowd.violations}"


def _resolved(dev: Dev, description: str) -> dict[str, Any]:
    """A request filed by a resident, accepted and resolved by worker1: its filing reply."""
    filed = dev.file(description=description)
    dev.act("worker1", filed["id"], "accept")
    dev.act("worker1", filed["id"], "resolve", {"resolution": "已请物业修好"})
    return filed


def _tracked(dev: Dev, token: str) -> dict[str, Any]:
    answer = httpx.get(f"{dev.api}/track/{token}", timeout=HTTP_SECONDS)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _local(at: str) -> str:
    return datetime.fromisoformat(at).astimezone(CST).strftime("%Y-%m-%d %H:%M")


def _answer(page: Page, answers: dict[str, str], lang: str) -> None:
    form = page.locator("#review form")
    for dimension, answer in answers.items():
        group = form.locator(f"fieldset[data-dimension={dimension}]")
        group.get_by_label(WORDS[lang][answer], exact=True).check()


def _set_work_phone(visitors: People, lang: str) -> None:
    """worker1 opens their profile from the navigation and gives a work phone: refused
    first, then saved as stored."""
    words = WORDS[lang]
    typed, stored, _ = PHONES[lang]
    page = visitors.staff("worker1")
    page.goto(f"/tasks?lang={lang}")
    page.locator("header nav").get_by_role("link", name=words["profile"]).click()
    expect(page).to_have_url(re.compile(r"/profile"))
    expect(page.locator("h1")).to_have_text(words["profile"])
    expect(page.locator("main")).to_contain_text(words["never_home"])
    form = page.locator("#profile-form")
    field = form.locator("input[name=work_phone]")
    field.fill("家里 8812345")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=work_phone]")).to_contain_text(words["phone_refused"])
    expect(field).to_have_attribute("aria-invalid", "true")
    field.fill(typed)
    form.locator("button[type=submit]").click()
    expect(page.locator("#toast")).to_have_text(words["saved"])
    expect(field).to_have_value(stored)  # in the stored spelling
    expect(form.locator("[data-error-for=work_phone]")).to_be_hidden()
    screenshot(page, f"profile-{lang}")
    page.reload()
    expect(field).to_have_value(stored)
    me = httpx.get(f"{visitors.dev.api}/auth/me", headers=visitors.dev.auth("worker1"))
    assert me.json()["work_phone"] == stored


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_resident_sees_who_handles_it_and_reviews_it(visitors: People, lang: str) -> None:
    dev, words = visitors.dev, WORDS[lang]
    _, stored, tel = PHONES[lang]
    _set_work_phone(visitors, lang)
    filed = _resolved(dev, f"楼道灯不亮 ({lang})")
    token = filed["tracking_token"]
    until = _tracked(dev, token)["review_until"]
    assert until is not None and datetime.fromisoformat(until) > datetime.now(UTC)

    # the link to the review lands on the form
    page = visitors.page(phone=True, lang=lang)
    page.goto(f"/track/{token}?lang={lang}#review")
    review = page.locator("#review")
    expect(review).to_be_visible()
    expect(review).to_be_in_viewport()
    expect(review).to_contain_text(words["review_by"].format(until=_local(until)))

    # the contact card: the worker at the request's level, their work phone to call
    card = page.locator("[data-contacts] li.contact")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("网格员小孙")
    expect(card.locator(".contact-role")).to_have_text(words["level"])
    call = card.locator("a[data-work-phone]")
    expect(call).to_have_text(words["call"].format(phone=stored))
    expect(call).to_have_attribute("href", tel)
    assert "worker1" not in page.inner_text("body")
    screenshot(page, f"track-review-{lang}")

    # one dimension unanswered: refused next to that question, nothing else marked
    _answer(page, {"completion": "yes", "progress": "yes", "satisfaction": "yes"}, lang)
    form = review.locator("form")
    form.locator("textarea[name=comment]").fill("灯修好了，谢谢")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=effect]")).to_have_text(words["answer_this"])
    expect(form.locator("input[name=effect]").first).to_have_attribute("aria-invalid", "true")
    for other in ("completion", "progress", "satisfaction"):
        expect(form.locator(f"[data-error-for={other}]")).to_be_hidden()
    assert dev.request(filed["id"])["status"] == "resolved"  # nothing was recorded

    # completed: the request closes, and the page says so
    _answer(page, {"effect": "yes"}, lang)
    form.locator("button[type=submit]").click()
    expect(page.locator("#review-result")).to_have_text(words["closed_result"])
    expect(page.locator("[data-status]")).to_have_text(words["closed"])
    expect(page.locator("#review")).to_have_count(0)
    expect(page.locator(".timeline")).to_contain_text(words["own_review"])
    expect(page.locator("[data-contacts]")).to_have_count(0)  # closed: nobody to call
    screenshot(page, f"track-reviewed-{lang}")
    assert dev.request(filed["id"])["status"] == "closed"


def test_a_no_sends_it_back_to_work(visitors: People) -> None:
    dev, lang = visitors.dev, "en"
    filed = _resolved(dev, "垃圾桶满了 (reopened)")
    page = visitors.page(phone=True, lang=lang)
    page.goto(f"/track/{filed['tracking_token']}?lang={lang}#review")
    _answer(
        page, {"completion": "yes", "progress": "yes", "effect": "no", "satisfaction": "no"}, lang
    )
    page.locator("#review button[type=submit]").click()
    expect(page.locator("#review-result")).to_have_text(WORDS[lang]["reopened_result"])
    expect(page.locator("[data-status]")).to_have_text(WORDS[lang]["assigned"])
    expect(page.locator("#review")).to_have_count(0)
    expect(page.locator("[data-contacts]")).to_contain_text("网格员小孙")  # back at the grid
    view = dev.request(filed["id"])
    assert (view["status"], view["reopens"]) == ("assigned", 1)


def test_a_review_after_the_window_is_refused_at_the_top(browser: Browser, tmp_path: Path) -> None:
    """With a window of 14.4 seconds: far longer than resolving a request and opening its
    page take on a busy machine, and waited out only once for both languages. The page's
    live updates are cut (a phone that lost its connection), so the form stays while the
    window passes; the review sent then is refused with the sentence at the top of the
    form. Read again, the page says a caller will phone, without the form."""
    dev = Dev(tmp_path / "data", self_review_hours=LATE_WINDOW_HOURS).start()
    crowd = People(browser, dev)
    try:
        pages: dict[str, Page] = {}
        filed: dict[str, dict[str, Any]] = {}
        for lang in ("zh-CN", "en"):
            filed[lang] = _resolved(dev, f"井盖松动 ({lang})")
            page = pages[lang] = crowd.page(phone=True, lang=lang)
            page.route(re.compile(r"/api/v1/stream"), lambda route: route.abort())
            page.goto(f"/track/{filed[lang]['tracking_token']}?lang={lang}#review")
            expect(page.locator("#review form")).to_be_visible()
            _answer(page, dict.fromkeys(DIMENSIONS, "yes"), lang)
        # until both windows have passed (the later one's end, as the API gives it)
        ends = [_tracked(dev, f["tracking_token"])["review_until"] for f in filed.values()]
        wait = (
            max(datetime.fromisoformat(end) for end in ends) - datetime.now(UTC)
        ).total_seconds()
        pages["en"].wait_for_timeout(max(wait + 1, 0) * 1000)
        for lang, page in pages.items():
            form = page.locator("#review form")
            form.locator("button[type=submit]").click()
            top = form.locator('[data-error-for=""]')
            expect(top).to_contain_text(WORDS[lang]["too_late"])
            # the message is the form's first thing: above the questions
            assert top.evaluate(
                "el => el.compareDocumentPosition(el.parentElement.querySelector('fieldset'))"
                " & Node.DOCUMENT_POSITION_FOLLOWING"
            )
            assert dev.request(filed[lang]["id"])["status"] == "resolved"  # waits for a call
        screenshot(pages["en"], "track-review-too-late")
        for lang, page in pages.items():
            page.reload()
            expect(page.locator("[data-review-passed]")).to_have_text(WORDS[lang]["too_late"])
            expect(page.locator("#review")).to_have_count(0)
        assert not crowd.errors, f"script errors in the pages: {crowd.errors}"
    finally:
        crowd.close()
        dev.stop_soon()
