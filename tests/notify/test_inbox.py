"""The inbox's service functions (notify.inbox) on SQLite and PostgreSQL, and the sentences
its messages are shown with in both languages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, select, update

from api import roster
from api.roster import Role
from closeloop.db import make_engine
from domain.ladder import Level, Tier
from notify import inbox
from notify.inbox import KINDS, MAX_LIMIT, text_of
from notify.tables import inbox as inbox_table
from notify.tables import metadata
from web.i18n import EN, STRINGS, ZH

AT = "2026-03-02T08:00:00+00:00"  # 16:00 in China


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The notification tables and the roster on SQLite, then PostgreSQL (tests.databases)."""
    made = make_engine(database_url)
    metadata.create_all(made)
    roster.metadata.create_all(made)
    yield made
    made.dispose()


def _fill(engine: Engine, username: str, n: int) -> list[int]:
    return [
        inbox.add_message(username, "urged", {"by": "s", "note": f"#{i}"}, db=engine)
        for i in range(n)
    ]


def test_messages_come_newest_first_in_pages_with_a_cursor(engine: Engine) -> None:
    ids = _fill(engine, "worker1", 5)
    _fill(engine, "worker2", 2)  # another's: never in worker1's pages
    first, cursor = inbox.list_messages("worker1", db=engine, limit=2)
    assert [m.id for m in first] == [ids[4], ids[3]] and cursor == ids[3]
    second, cursor = inbox.list_messages("worker1", db=engine, limit=2, before=cursor)
    assert [m.id for m in second] == [ids[2], ids[1]] and cursor == ids[1]
    last, cursor = inbox.list_messages("worker1", db=engine, limit=2, before=cursor)
    assert [m.id for m in last] == [ids[0]] and cursor is None
    # a page exactly as long as what is left has no next either
    exact, cursor = inbox.list_messages("worker1", db=engine, limit=5)
    assert len(exact) == 5 and cursor is None
    assert {m.username for m in exact} == {"worker1"}
    assert exact[0].params == {"by": "s", "note": "#4"} and exact[0].kind == "urged"
    assert exact[0].created_at.tzinfo is not None and not exact[0].read
    assert inbox.list_messages("nobody", db=engine) == ([], None)
    with pytest.raises(ValueError):
        inbox.list_messages("worker1", db=engine, limit=MAX_LIMIT + 1)
    with pytest.raises(ValueError):
        inbox.list_messages("worker1", db=engine, limit=0)


def test_unread_count_marking_one_and_all(engine: Engine) -> None:
    ids = _fill(engine, "worker1", 3)
    theirs = _fill(engine, "worker2", 1)[0]
    assert inbox.unread_count("worker1", db=engine) == 3

    assert inbox.mark_read("worker1", ids[1], db=engine) is True
    assert inbox.unread_count("worker1", db=engine) == 2
    first = inbox.get_message("worker1", ids[1], db=engine)
    assert first is not None and first.read and first.read_at is not None
    # again: still theirs, already read, the first time kept
    assert inbox.mark_read("worker1", ids[1], db=engine) is True
    again = inbox.get_message("worker1", ids[1], db=engine)
    assert again is not None and again.read_at == first.read_at

    # someone else's message, an unknown id, an id no column holds: refused, nothing marked
    assert inbox.mark_read("worker1", theirs, db=engine) is False
    assert inbox.mark_read("worker1", 10**6, db=engine) is False
    assert inbox.mark_read("worker1", 2**40, db=engine) is False
    assert inbox.unread_count("worker2", db=engine) == 1
    assert inbox.get_message("worker1", theirs, db=engine) is None

    unread, _ = inbox.list_messages("worker1", db=engine, unread_only=True)
    assert [m.id for m in unread] == [ids[2], ids[0]]
    assert inbox.mark_all_read("worker1", db=engine) == 2
    assert inbox.mark_all_read("worker1", db=engine) == 0
    assert inbox.unread_count("worker1", db=engine) == 0
    assert inbox.list_messages("worker1", db=engine, unread_only=True) == ([], None)
    assert inbox.unread_count("worker2", db=engine) == 1  # theirs untouched


def test_the_latest_id_and_who_got_the_new_messages(engine: Engine) -> None:
    assert inbox.latest_id(db=engine) == 0
    a = inbox.add_message("worker1", "warned", {}, db=engine)
    b = inbox.add_message("worker2", "warned", {}, db=engine)
    c = inbox.add_message("worker2", "overdue", {}, db=engine)
    assert inbox.latest_id(db=engine) == c > b > a
    assert inbox.recipients(a, c, db=engine) == {"worker2"}
    assert inbox.recipients(0, c, db=engine) == {"worker1", "worker2"}
    assert inbox.recipients(c, c, db=engine) == frozenset()
    assert inbox.recipients(0, c, db=engine, most=1) is None  # too many to name
    # reading does not move it: only new messages do
    inbox.mark_all_read("worker2", db=engine)
    assert inbox.latest_id(db=engine) == c


def test_rows_written_as_the_notifier_writes_them(engine: Engine) -> None:
    """A row inserted directly (the notifier's way), and one whose params cannot be read."""
    with engine.begin() as conn:
        conn.execute(
            insert(inbox_table),
            [
                {
                    "key": "7:worker1:assigned",
                    "username": "worker1",
                    "request_id": "r-1",
                    "event_id": 7,
                    "kind": "assigned",
                    "params": json.dumps({"via": "filed", "tier": "1d", "category": "noise"}),
                    "created_at": datetime(2026, 3, 2, 8, tzinfo=UTC),
                    "read_at": None,
                },
                {
                    "key": "8:worker1:urged",
                    "username": "worker1",
                    "request_id": None,
                    "event_id": 8,
                    "kind": "urged",
                    "params": "not json",
                    "created_at": datetime(2026, 3, 2, 9, tzinfo=UTC),
                    "read_at": None,
                },
            ],
        )
    newest, older = inbox.list_messages("worker1", db=engine)
    assert [m.kind for m in newest] == ["urged", "assigned"] and older is None
    assert newest[0].params == {} and newest[0].link is None
    assert newest[1].link == "/requests/r-1" and newest[1].event_id == 7
    assert newest[1].created_at == datetime(2026, 3, 2, 8, tzinfo=UTC)
    with engine.connect() as conn:
        keys = set(conn.execute(select(inbox_table.c.key)).scalars())
    assert keys == {"7:worker1:assigned", "8:worker1:urged"}
    # a row added by hand has a key of its own kind, never one the notifier would write
    added = inbox.add_message("worker1", "urged", {}, db=engine)
    with engine.connect() as conn:
        key = conn.execute(select(inbox_table.c.key).where(inbox_table.c.id == added)).scalar()
    assert str(key).startswith("added:")


def test_display_names_of_those_named(engine: Engine) -> None:
    roster.create_user("boss", "long-enough-pass-1", "督办员小赵", Role.SUPERVISOR, [], db=engine)
    ids = [inbox.add_message("worker1", "urged", {"by": "boss", "note": "快"}, db=engine)]
    ids.append(inbox.add_message("worker1", "warned", {"by": 3}, db=engine))
    messages, _ = inbox.list_messages("worker1", db=engine)
    assert inbox.people_in(messages) == {"boss"}
    assert inbox.display_names(["boss", "gone", ""], db=engine) == {"boss": "督办员小赵"}
    assert inbox.display_names([], db=engine) == {}


def test_marking_leaves_read_messages_of_other_times_alone(engine: Engine) -> None:
    ids = _fill(engine, "worker1", 2)
    earlier = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(update(inbox_table).where(inbox_table.c.id == ids[0]).values(read_at=earlier))
    assert inbox.mark_all_read("worker1", db=engine) == 1
    kept = inbox.get_message("worker1", ids[0], db=engine)
    assert kept is not None and kept.read_at == earlier


# ---- the sentences (no database) -------------------------------------------------------

NAMES = {"water_leak": ("楼上漏水", "Leak from above")}
PEOPLE = {"supervisor1": "督办员小赵", "branch1": "网格党支部书记老王", "worker1": "网格员小孙"}

#: One message of each kind, with the words each sentence must show in (Chinese, English).
SAMPLES: list[tuple[str, dict[str, object], tuple[str, ...], tuple[str, ...]]] = [
    (
        "assigned",
        {"via": "escalated", "tier": "3d", "level": "grid_branch", "deadline": AT,
         "category": "water_leak"},
        ("升级交办", "楼上漏水", "网格党支部", "3天", "2026-03-02 16:00"),
        ("Escalated to you", "Leak from above", "Grid party branch", "3 days", "2026-03-02 16:00"),
    ),
    (
        "waiting_dispatch",
        {"category": "water_leak"},
        ("等待分派", "楼上漏水"),
        ("waits for dispatch", "Leak from above"),
    ),
    (
        "warned",
        {"tier": "1d", "level": "grid_worker", "deadline": AT},
        ("预警", "网格员", "1天", "2026-03-02 16:00"),
        ("Warning", "Grid worker", "1 day", "2026-03-02 16:00"),
    ),
    (
        "overdue",
        {"tier": "5d", "level": "community_committee", "deadline": AT},
        ("超期", "社区党委", "5天", "2026-03-02 16:00"),
        ("Overdue", "Community party committee", "5 days", "2026-03-02 16:00"),
    ),
    (
        "escalated_away",
        {"from_tier": "1d", "tier": "3d", "level": "grid_branch", "automatic": True},
        ("1天时限已到", "自动升级", "3天", "网格党支部"),
        ("The 1 day deadline passed", "3 days", "Grid party branch"),
    ),
    (
        "urged",
        {"by": "supervisor1", "note": "今天\n务必处理"},
        ("督办员小赵催办", "今天 务必处理"),
        ("Urged by 督办员小赵", "今天 务必处理"),
    ),
    (
        "extension_asked",
        {"by": "worker1", "until": AT, "reason": "等厂家上门"},
        ("网格员小孙申请延期", "2026-03-02 16:00", "等厂家上门"),
        ("网格员小孙 asks for more time", "2026-03-02 16:00", "等厂家上门"),
    ),
    (
        "extension_decided",
        {"approved": True, "until": AT, "by": "branch1"},
        ("网格党支部书记老王同意延期", "2026-03-02 16:00"),
        ("approved the extension", "2026-03-02 16:00"),
    ),
    (
        "cohandler_added",
        {"by": "worker1", "note": "检查管道"},
        ("网格员小孙请您协办", "检查管道"),
        ("网格员小孙 called you in to help", "检查管道"),
    ),
    (
        "reopened",
        {"tier": "1d", "level": "grid_worker", "deadline": AT},
        ("回访未通过", "网格员", "1天", "2026-03-02 16:00"),
        ("review failed", "Grid worker", "1 day", "2026-03-02 16:00"),
    ),
    (
        "review_due",
        {"review_until": AT},
        ("自评期已于 2026-03-02 16:00 结束", "电话回访"),
        ("self-review window closed at 2026-03-02 16:00", "call for the review"),
    ),
]  # fmt: skip


def test_every_kind_has_a_sample() -> None:
    assert [kind for kind, *_ in SAMPLES] == list(KINDS)


@pytest.mark.parametrize(("kind", "params", "zh", "en"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_each_kind_is_one_sentence_in_both_languages(
    kind: str, params: dict[str, object], zh: tuple[str, ...], en: tuple[str, ...]
) -> None:
    for lang, words in ((ZH, zh), (EN, en)):
        text = text_of(kind, params, lang, categories=NAMES, people=PEOPLE)
        for word in words:
            assert word in text, (lang, text)
        assert "\n" not in text and "{" not in text and "notice." not in text, text
    assert text_of(kind, params, ZH, categories=NAMES) != text_of(
        kind, params, EN, categories=NAMES
    )


def test_every_level_and_tier_is_named() -> None:
    for level in Level:
        for tier in Tier:
            params = {"tier": tier.value, "level": level.value, "deadline": AT}
            zh, en = STRINGS[f"level.{level.value}"]
            assert zh in text_of("warned", params, ZH) and en in text_of("warned", params, EN)
            zh, en = STRINGS[f"tier.{tier.value}"]
            assert zh in text_of("overdue", params, ZH) and en in text_of("overdue", params, EN)


def test_the_decisions_and_ways_in_are_told_apart() -> None:
    refused = {"approved": False, "until": None, "by": "branch1"}
    assert "未同意" in text_of("extension_decided", refused, ZH, people=PEOPLE)
    assert "refused" in text_of("extension_decided", refused, EN, people=PEOPLE)
    by_hand = {"from_tier": "1d", "tier": "3d", "level": "grid_branch", "automatic": False}
    assert "上报" in text_of("escalated_away", by_hand, ZH)
    assert "escalated to 3 days" in text_of("escalated_away", by_hand, EN)
    ways = {
        "filed": "New request",
        "escalated": "Escalated",
        "dispatched": "Dispatched",
        "redirected": "Redirected",
        "retiered": "Re-tiered",
        "appealed": "Appealed",
        "something-new": "Assigned",
    }
    for via, words in ways.items():
        params = {"via": via, "tier": "1d", "level": "grid_worker", "category": "noise"}
        assert text_of("assigned", params, EN).startswith(words), via
        assert text_of("assigned", params, ZH) != text_of("assigned", params, EN)


def test_the_seed_names_a_category_without_the_catalogue_and_no_deadline_is_left_out() -> None:
    params = {"via": "filed", "tier": "1d", "level": "grid_worker", "deadline": None,
              "category": "noise"}  # fmt: skip
    zh, en = text_of("assigned", params, ZH), text_of("assigned", params, EN)
    assert "噪" in zh and "Noise" in en
    assert "前办结" not in zh and "due" not in en
    # an unknown category shows its code; an unknown level its value
    odd = {**params, "category": "made_up", "level": "mayor"}
    assert "made_up" in text_of("assigned", odd, EN) and "mayor" in text_of("assigned", odd, EN)


def test_a_review_due_told_by_when_it_was_resolved() -> None:
    """The design's other form of ``review_due``: the resolution's time, no window's end."""
    resolved = {"resolved_at": AT}
    assert (
        text_of("review_due", resolved, ZH)
        == "居民自评期已过（办结于 2026-03-02 16:00），请电话回访"
    )
    assert "(resolved 2026-03-02 16:00)" in text_of("review_due", resolved, EN)


def test_an_unknown_kind_and_missing_params_still_make_a_sentence() -> None:
    assert text_of("brand_new_kind", {}, ZH) == "有一条新消息（brand_new_kind）"
    assert text_of("brand_new_kind", {}, EN) == "A new message (brand_new_kind)"
    for kind in KINDS:
        for lang in (ZH, EN):
            text = text_of(kind, {}, lang)
            assert text and "{" not in text and "notice." not in text, (kind, lang, text)
    # without a note the sentence ends without an empty colon; a long one is cut
    assert text_of("urged", {"by": "supervisor1"}, ZH, people=PEOPLE) == "督办员小赵催办"
    assert text_of("urged", {"by": "x"}, EN) == "Urged by x"
    long = text_of("urged", {"by": "x", "note": "很" * 500}, ZH)
    assert long.endswith("…") and len(long) < 160
