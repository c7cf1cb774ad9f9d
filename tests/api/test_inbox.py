"""The inbox over HTTP (``/api/v1/inbox``) and its page (``/inbox``, the navigation's count):
paging, the unread filter, marking one or all read, nobody marks another's, the sentences in
both languages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete

from closeloop import catalogue
from notify import inbox
from notify.tables import inbox as inbox_table
from tests.api.conftest import Site

INBOX = "/api/v1/inbox"
AT = "2026-03-02T08:00:00+00:00"
REQUEST = "0b6f4c1e-2f7a-4c55-9a53-4d1f0f3c9e11"
ASSIGNED = {"via": "dispatched", "tier": "3d", "level": "grid_branch", "deadline": AT,
            "category": "water_leak"}  # fmt: skip


@pytest.fixture(autouse=True)
def empty_inboxes(site: Site) -> Iterator[None]:
    """The module's site starts and ends each test with empty inboxes."""
    with site.engine.begin() as conn:
        conn.execute(delete(inbox_table))
    yield
    with site.engine.begin() as conn:
        conn.execute(delete(inbox_table))


def _add(site: Site, username: str, kind: str = "urged", **params: Any) -> int:
    return inbox.add_message(
        username, kind, params or {"by": "supervisor1", "note": "快"}, db=site.engine
    )


def _get(site: Site, who: str, **query: Any) -> dict[str, Any]:
    answer = site.client.get(INBOX, params=query, headers=site.headers[who])
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_pages_newest_first_follow_the_next_cursor(site: Site) -> None:
    ids = [_add(site, "worker1", note=f"第{i}条", by="supervisor1") for i in range(5)]
    _add(site, "worker2")  # another's: never in worker1's pages
    first = _get(site, "worker1", limit=2)
    assert [m["id"] for m in first["items"]] == [ids[4], ids[3]]
    assert first["next"] == ids[3] and first["unread"] == 5
    second = _get(site, "worker1", limit=2, before=first["next"])
    assert [m["id"] for m in second["items"]] == [ids[2], ids[1]]
    last = _get(site, "worker1", limit=2, before=second["next"])
    assert [m["id"] for m in last["items"]] == [ids[0]] and last["next"] is None
    whole = _get(site, "worker1")  # 20 by default
    assert len(whole["items"]) == 5 and whole["next"] is None
    item = whole["items"][0]
    assert set(item) == {
        "id", "kind", "params", "text", "request_id", "created_at", "read", "read_at", "link"
    }  # fmt: skip
    assert item["kind"] == "urged" and item["params"] == {"note": "第4条", "by": "supervisor1"}
    assert item["read"] is False and item["read_at"] is None
    assert item["request_id"] is None and item["link"] is None
    assert _get(site, "worker2")["unread"] == 1


def test_the_unread_filter_and_marking_one_read(site: Site) -> None:
    older = _add(site, "worker1", "assigned", **ASSIGNED)
    newer = inbox.add_message("worker1", "warned", {}, db=site.engine, request_id=REQUEST)
    answer = site.client.post(f"{INBOX}/{older}/read", headers=site.headers["worker1"])
    assert answer.status_code == 204 and answer.content == b""
    unread = _get(site, "worker1", unread="true")
    assert [m["id"] for m in unread["items"]] == [newer] and unread["unread"] == 1
    every = _get(site, "worker1", unread="false")
    assert [(m["id"], m["read"]) for m in every["items"]] == [(newer, False), (older, True)]
    assert every["items"][1]["read_at"] is not None
    assert every["items"][0]["link"] == f"/requests/{REQUEST}"
    assert every["items"][0]["request_id"] == REQUEST
    # marking it again changes nothing and is no error
    again = site.client.post(f"{INBOX}/{older}/read", headers=site.headers["worker1"])
    assert again.status_code == 204
    assert _get(site, "worker1")["items"][1]["read_at"] == every["items"][1]["read_at"]


def test_nobody_marks_another_s_message(site: Site) -> None:
    theirs = _add(site, "worker2")
    for message in (theirs, theirs + 1000):  # someone else's, and one nobody has
        answer = site.client.post(f"{INBOX}/{message}/read", headers=site.headers["worker1"])
        assert answer.status_code == 404
        body = answer.json()
        assert body["code"] == "inbox_message_not_found" and body["params"] == {"id": message}
    assert _get(site, "worker2")["unread"] == 1
    assert _get(site, "worker2")["items"][0]["read"] is False
    # nor does a read-all of one person reach another's
    mine = _add(site, "worker1")
    answer = site.client.post(f"{INBOX}/read-all", headers=site.headers["worker1"])
    assert answer.status_code == 200 and answer.json() == {"marked": 1}
    assert _get(site, "worker2")["unread"] == 1
    assert _get(site, "worker1")["items"][0]["id"] == mine


def test_read_all_marks_every_unread_one(site: Site) -> None:
    for _ in range(3):
        _add(site, "caller1", "review_due", review_until=AT)
    answer = site.client.post(f"{INBOX}/read-all", headers=site.headers["caller1"])
    assert answer.status_code == 200 and answer.json() == {"marked": 3}
    again = site.client.post(f"{INBOX}/read-all", headers=site.headers["caller1"])
    assert again.json() == {"marked": 0}
    page = _get(site, "caller1")
    assert page["unread"] == 0 and all(m["read"] for m in page["items"])
    assert _get(site, "caller1", unread="true") == {"items": [], "unread": 0, "next": None}


def test_every_role_has_an_inbox_and_strangers_none(site: Site) -> None:
    for who in ("admin", "supervisor1", "worker1", "caller1", "dispatcher1", "partner1"):
        _add(site, who, "waiting_dispatch", category="noise")
        page = _get(site, who)
        assert page["unread"] == 1 and len(page["items"]) == 1, who
    answer = site.client.get(INBOX)
    assert answer.status_code == 401 and answer.json()["code"] == "sign_in"
    for write in (f"{INBOX}/read-all", f"{INBOX}/1/read"):
        assert site.client.post(write).status_code == 401


def test_bounds_are_checked_before_anything_is_read(site: Site) -> None:
    worker = site.headers["worker1"]
    for query in ({"limit": 0}, {"limit": 101}, {"limit": "many"}, {"before": 0},
                  {"before": 2**40}, {"unread": "perhaps"}):  # fmt: skip
        answer = site.client.get(INBOX, params=query, headers=worker)
        assert answer.status_code == 422, query
        body = answer.json()
        name = next(iter(query))
        assert body["code"] == "invalid_input" and body["detail"][0]["loc"] == ["query", name]
    limit = site.client.get(INBOX, params={"limit": 101}, headers=worker).json()["detail"][0]
    assert limit["msg"] == "Input should be less than or equal to 100"
    assert site.client.get(INBOX, params={"limit": 100}, headers=worker).status_code == 200
    for path in (f"{INBOX}/0/read", f"{INBOX}/{2**40}/read", f"{INBOX}/x/read"):
        answer = site.client.post(path, headers=worker)
        assert answer.status_code == 422 and answer.json()["code"] == "invalid_input", path


def test_sentences_in_the_language_asked_for(site: Site) -> None:
    _add(site, "worker1", "assigned", **ASSIGNED)
    _add(site, "worker1", "urged", by="supervisor1", note="今天务必处理")
    zh = _get(site, "worker1")["items"]
    assert zh[0]["text"] == "督办员小赵催办：今天务必处理"
    assert zh[1]["text"] == "平台分派：漏水诉求交由网格党支部办理（3天），2026-03-02 16:00前办结"
    en = _get(site, "worker1", lang="en")["items"]
    assert en[0]["text"] == "Urged by 督办员小赵: 今天务必处理"
    assert en[1]["text"] == (
        "Dispatched to you: Water leak, 3 days (Grid party branch), due 2026-03-02 16:00"
    )
    by_header = site.client.get(
        INBOX, headers={**site.headers["worker1"], "Accept-Language": "en-GB,en;q=0.9,zh;q=0.8"}
    ).json()["items"]
    assert [m["text"] for m in by_header] == [m["text"] for m in en]
    ranked = site.client.get(
        INBOX, headers={**site.headers["worker1"], "Accept-Language": "fr, zh-CN;q=0.7, en;q=0.5"}
    ).json()["items"]
    assert [m["text"] for m in ranked] == [m["text"] for m in zh]
    # ?lang= wins over the header
    chosen = site.client.get(
        INBOX,
        params={"lang": "zh-CN"},
        headers={**site.headers["worker1"], "Accept-Language": "en"},
    ).json()["items"]
    assert [m["text"] for m in chosen] == [m["text"] for m in zh]


def test_category_names_come_from_the_catalogue(make_site: Callable[..., Site]) -> None:
    site = make_site()
    catalogue.change_category(
        "water_leak", name_zh="房屋渗漏", name_en="Seepage", by="admin", db=site.engine
    )
    _add(site, "dispatcher1", "waiting_dispatch", category="water_leak")
    assert _get(site, "dispatcher1")["items"][0]["text"] == "新诉求等待分派：房屋渗漏"
    en = _get(site, "dispatcher1", lang="en")["items"][0]["text"]
    assert en == "A new request waits for dispatch: Seepage"


# ---- the page ------------------------------------------------------------------------------


def _page(site: Site, who: str, path: str) -> str:
    answer = site.client.get(path, headers=site.cookie(who), follow_redirects=False)
    assert answer.status_code == 200, answer.text
    return answer.text


def _nav(html: str) -> str:
    """The navigation's inbox link: its text (markup removed) | its accessible label."""
    found = re.search(r"<a href=\"/inbox\"([^>]*data-inbox-link[^>]*)>(.*?)</a>", html, re.S)
    assert found, "no inbox link in the navigation"
    label = re.search(r'aria-label="([^"]*)"', found.group(1))
    assert label, found.group(0)
    return re.sub(r"<[^>]+>", "", found.group(2)) + " | " + label.group(1)


def test_every_staff_page_shows_the_unread_count(site: Site) -> None:
    assert _nav(_page(site, "worker1", "/tasks?lang=zh-CN")) == "收件箱 | 收件箱"
    _add(site, "worker1")
    _add(site, "worker1")
    assert _nav(_page(site, "worker1", "/tasks?lang=zh-CN")) == "收件箱 (2) | 收件箱，2 条未读"
    assert _nav(_page(site, "worker1", "/tasks?lang=en")) == "Inbox (2) | Inbox, 2 unread"
    assert _nav(_page(site, "supervisor1", "/board?lang=en")) == "Inbox | Inbox"
    assert _nav(_page(site, "partner1", "/partner?lang=en")) == "Inbox | Inbox"
    assert _nav(_page(site, "admin", "/admin/categories?lang=en")) == "Inbox | Inbox"
    # the resident's pages have no inbox
    assert "data-inbox-link" not in site.client.get("/").text


def test_the_inbox_page_marks_unread_ones_in_words_and_links_each_request(site: Site) -> None:
    read = inbox.add_message("worker1", "warned", {"tier": "1d", "level": "grid_worker",
                             "deadline": AT}, db=site.engine, request_id=REQUEST)  # fmt: skip
    inbox.mark_read("worker1", read, db=site.engine)
    unread = _add(site, "worker1", "urged", by="supervisor1", note="今天务必处理")
    html = _page(site, "worker1", "/inbox?lang=zh-CN")
    assert 'aria-current="page">收件箱' in html
    cards = re.findall(r'<li class="card msg (msg-\w+)"[^>]*data-id="(\d+)"', html)
    assert cards == [("msg-unread", str(unread)), ("msg-read", str(read))]
    assert '<span class="msg-state" data-msg-state>未读</span>' in html
    assert '<span class="msg-state" data-msg-state>已读</span>' in html
    assert (
        f'<a href="/requests/{REQUEST}">预警：网格员（1天）的诉求将于 2026-03-02 16:00 到期</a>'
        in html
    )
    assert "督办员小赵催办：今天务必处理" in html
    assert f'data-api="/api/v1/inbox/{unread}/read"' in html
    assert f'data-api="/api/v1/inbox/{read}/read"' not in html  # read already
    assert 'data-api="/api/v1/inbox/read-all"' in html
    en = _page(site, "worker1", "/inbox?lang=en")
    assert ">Unread</span>" in en and ">Mark read</button>" in en and "1 unread" in en
    only = _page(site, "worker1", "/inbox?unread=1")
    assert re.findall(r'data-id="(\d+)"', only) == [str(unread)]
    fragment = site.client.get("/inbox/list?unread=1", headers=site.cookie("worker1"))
    assert fragment.status_code == 200 and 'data-unread="1"' in fragment.text
    assert "<html" not in fragment.text


def test_the_inbox_page_pages_back(site: Site) -> None:
    ids = [_add(site, "town1", "review_due", review_until=AT) for _ in range(23)]
    first = _page(site, "town1", "/inbox?lang=en")
    shown = [int(i) for i in re.findall(r'data-id="(\d+)"', first)]
    assert shown == ids[::-1][:20]
    older = re.search(r'<a href="(/inbox\?before=\d+)" rel="next" data-older>Older messages', first)
    assert older, first
    second = _page(site, "town1", older.group(1))
    assert [int(i) for i in re.findall(r'data-id="(\d+)"', second)] == ids[:3][::-1]
    assert "data-older" not in second and 'href="/inbox" data-newest' in second
    # a cursor that is no id shows the newest page; signed out: the log-in page
    assert re.findall(r'data-id="(\d+)"', _page(site, "town1", "/inbox?before=abc"))[0] == str(
        ids[-1]
    )
    answer = site.client.get("/inbox", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert "暂无消息" in _page(site, "worker2", "/inbox?lang=zh-CN")
    assert "No unread messages." in _page(site, "worker2", "/inbox?unread=1&lang=en")
