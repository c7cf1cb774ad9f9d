"""The inbox in the browser, in both languages: the unread count in the navigation, the
inbox page, marking one read (the count drops), a refusal for a message that is gone, a new
message raising the count live; and the stream's ``inbox`` events behind it.

Messages are written straight into the stack's database, as the notifier writes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, delete

from closeloop.db import make_engine
from notify import inbox
from notify.tables import inbox as inbox_table
from tests.e2e.conftest import HTTP_SECONDS, Dev, People, log_in, screenshot
from tests.e2e.test_stream import Events, stream

AT = "2026-03-02T08:00:00+00:00"  # 16:00 in China

#: What the pages say, by language.
WORDS = {
    "zh-CN": {
        "inbox": "收件箱",
        "label": "收件箱，{n} 条未读",
        "unread": "未读",
        "read": "已读",
        "count": "{n} 条未读",
        "urged": "督办员小赵催办：今天务必处理",
        "assigned": "平台分派：漏水诉求交由网格党支部办理（3天），2026-03-02 16:00前办结",
        "cohandler": "网格员小孙请您协办：检查管道",
        "announce": "收件箱有 {n} 条未读消息",
        "gone": "收件箱里没有这条消息",
        "marked": "已标为已读",
    },
    "en": {
        "inbox": "Inbox",
        "label": "Inbox, {n} unread",
        "unread": "Unread",
        "read": "Read",
        "count": "{n} unread",
        "urged": "Urged by 督办员小赵: 今天务必处理",
        "assigned": (
            "Dispatched to you: Water leak, 3 days (Grid party branch), due 2026-03-02 16:00"
        ),
        "cohandler": "网格员小孙 called you in to help: 检查管道",
        "announce": "Inbox: {n} unread messages",
        "gone": "There is no such message in your inbox",
        "marked": "Marked read",
    },
}


@pytest.fixture(scope="module")
def database(stack: Dev) -> Iterator[Engine]:
    """The stack's own database (``closeloop dev`` keeps it in its data folder)."""
    engine = make_engine(f"sqlite:///{stack.data_dir / 'closeloop.db'}")
    yield engine
    engine.dispose()


def _read_all(stack: Dev, username: str) -> None:
    answer = httpx.post(
        f"{stack.api}/inbox/read-all", headers=stack.auth(username), timeout=HTTP_SECONDS
    )
    assert answer.status_code == 200, answer.text


def _next_inbox(events: Events) -> dict[str, Any]:
    """The next ``inbox`` event's data (``change`` events in between are passed over)."""
    while True:
        kind, event_id, data = events.next(inbox=True)
        if kind == "inbox":
            assert event_id == ""  # no position: a reconnection resumes by the change events
            return data


def test_the_stream_tells_the_reader_their_unread_count(stack: Dev, database: Engine) -> None:
    with stream(f"{stack.api}/stream", stack.auth("worker1")) as events:
        assert events.next()[0] == "hello"
        base = _next_inbox(events)["unread"]  # once on connecting
        inbox.add_message("worker2", "urged", {"by": "supervisor1"}, db=database)
        mine = inbox.add_message("worker1", "urged", {"by": "supervisor1"}, db=database)
        assert _next_inbox(events) == {"unread": base + 1}
        answer = httpx.post(
            f"{stack.api}/inbox/{mine}/read", headers=stack.auth("worker1"), timeout=HTTP_SECONDS
        )
        assert answer.status_code == 204
        assert _next_inbox(events) == {"unread": base}  # read: told at once
    with stream(f"{stack.api}/stream", stack.auth("worker2")) as events:
        assert events.next()[0] == "hello"
        assert _next_inbox(events)["unread"] >= 1  # worker2's own count, not worker1's

    # a stream followed by a tracking token tells of no inbox, whoever is signed in
    filed = stack.file(description="收件箱：按链接跟踪")
    url = f"{stack.api}/stream?token={filed['tracking_token']}"
    with stream(url, stack.auth("worker1")) as events:
        assert events.next(inbox=True)[0] == "hello"
        inbox.add_message("worker1", "urged", {"by": "supervisor1"}, db=database)
        stack.act("worker1", filed["id"], "accept")
        kind, _, change = events.next(inbox=True)  # an inbox event would come first
        assert kind == "change" and change["ids"] == [filed["id"]]
    _read_all(stack, "worker1")


def _count(page: Page) -> Any:
    return page.locator("[data-inbox-link] [data-inbox-count]")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_inbox_count_drops_when_read_and_rises_live(
    people: People, stack: Dev, database: Engine, lang: str
) -> None:
    words = WORDS[lang]
    filed = stack.file(description=f"收件箱的诉求 ({lang})")  # the request the messages name
    page = people.page(phone=True, lang=lang)
    log_in(page, "worker1")
    _read_all(stack, "worker1")  # from here on worker1 has only this test's messages unread

    def add(kind: str, **params: Any) -> int:
        return inbox.add_message("worker1", kind, params, db=database, request_id=filed["id"])

    assigned = add("assigned", via="dispatched", tier="3d", level="grid_branch", deadline=AT,
                   category="water_leak")  # fmt: skip
    urged = add("urged", by="supervisor1", note="今天务必处理")
    warned = add("warned", tier="1d", level="grid_worker", deadline=AT)

    # every staff page: the count in the navigation, its accessible name in words
    page.goto(f"/tasks?lang={lang}")
    link = page.locator("[data-inbox-link]")
    expect(_count(page)).to_have_text("(3)")
    expect(link).to_have_accessible_name(words["label"].format(n=3))

    link.click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.locator("h1")).to_have_text(words["inbox"])
    expect(page.locator("li.msg-unread")).to_have_count(3)  # (older ones were read before)
    ids = [int(i) for i in page.locator("li.msg").evaluate_all("els => els.map(e => e.dataset.id)")]
    assert ids[:3] == [warned, urged, assigned]  # newest first
    card = page.locator(f'li.msg[data-id="{urged}"]')
    expect(card.locator("[data-msg-state]")).to_have_text(words["unread"])
    expect(card.locator(".msg-text a")).to_have_text(words["urged"])
    expect(card.locator(".msg-text a")).to_have_attribute("href", f"/requests/{filed['id']}")
    expect(page.locator(f'li.msg[data-id="{assigned}"] .msg-text')).to_have_text(words["assigned"])

    # mark one read: the count drops, the card says so, the focus stays on the card
    card.locator("button[data-action=read]").click()
    expect(_count(page)).to_have_text("(2)")
    expect(link).to_have_accessible_name(words["label"].format(n=2))
    expect(card.locator("[data-msg-state]")).to_have_text(words["read"])
    expect(card.locator("button[data-action=read]")).to_have_count(0)
    expect(card).to_be_focused()
    expect(page.locator("#toast")).to_have_text(words["marked"])
    expect(page.locator("[data-inbox-unread]")).to_have_text(words["count"].format(n=2))

    # a message that is gone meanwhile: the refusal next to its button, in words (not the
    # newest: removing that one is noticed by the stream, and the list is read again)
    with database.begin() as conn:
        conn.execute(delete(inbox_table).where(inbox_table.c.id == assigned))
    page.locator(f'li.msg[data-id="{assigned}"] button[data-action=read]').click()
    refusal = page.locator(f'li.msg[data-id="{assigned}"] [data-error-for=""]')
    expect(refusal).to_contain_text(words["gone"])

    # a new message while the page is open: the count rises live, announced politely, and
    # the list shows it
    page.reload()
    expect(_count(page)).to_have_text("(1)")
    new = add("cohandler_added", by="worker1", note="检查管道")
    expect(_count(page)).to_have_text("(2)")
    expect(page.locator("#inbox-announcer[aria-live=polite]")).to_have_text(
        words["announce"].format(n=2)
    )
    fresh = page.locator(f'li.msg[data-id="{new}"]')
    expect(fresh.locator(".msg-text a")).to_have_text(words["cohandler"])
    expect(fresh.locator("[data-msg-state]")).to_have_text(words["unread"])
    screenshot(page, f"inbox-{lang}")

    # only the unread ones, then all read at once
    page.locator("[data-filter=unread]").click()
    expect(page).to_have_url(re.compile(r"/inbox\?unread=1$"))
    expect(page.locator("li.msg")).to_have_count(2)
    page.locator("button[data-action=read-all]").click()
    expect(page.locator("p.empty")).to_be_visible()
    expect(_count(page)).to_have_text("")
    expect(link).to_have_accessible_name(words["inbox"])
    expect(page.locator("h1")).to_be_focused()

    # a message links to its request's page
    page.goto("/inbox")
    page.locator(f'li.msg[data-id="{new}"] .msg-text a').click()
    expect(page).to_have_url(re.compile(rf"/requests/{filed['id']}$"))
    expect(page.locator("h1")).to_be_visible()
    # and the count is live on that page too
    later = add("urged", by="supervisor1", note="还没处理？")
    expect(_count(page)).to_have_text("(1)")
    inbox.mark_read("worker1", later, db=database)
