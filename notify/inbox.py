"""The staff inbox: reading, counting and marking the messages the notifier delivered, and
putting a message into words.

The notifier (:mod:`notify.notifier`) writes the rows of :data:`notify.tables.inbox` in
the transaction of its tracking position; this module reads them for their owner. Service
functions take the database as the keyword-only ``db``, as :mod:`api.roster` does: an
Engine (each call in its own transaction) or a Connection (the call joins the caller's).
A message belongs to one username; no function here reads or changes another user's.

A message's ``params`` (JSON, never a resident's contact) are put into one sentence per
kind by :func:`text_of`, in Chinese or English, with the words of the pages
(``notice.<kind>`` in :mod:`web.i18n`), the catalogue's category names and the staff's
display names.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, insert, select, update

from api.roster import user_table
from closeloop.db import Db, connected
from notify.tables import inbox

#: Pages of the inbox hold at most this many messages.
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
#: The largest message id (the column is a 32-bit integer on PostgreSQL).
MAX_ID = 2**31 - 1
#: The kinds the notifier writes (domain.notices), each with its sentence in web.i18n.
KINDS = (
    "assigned",
    "waiting_dispatch",
    "warned",
    "overdue",
    "escalated_away",
    "urged",
    "extension_asked",
    "extension_decided",
    "cohandler_added",
    "reopened",
    "review_due",
)
#: The ways a request reaches a level (the ``via`` of ``assigned``).
VIAS = ("filed", "escalated", "dispatched", "redirected", "retiered", "appealed", "unmerged")
#: A note or reason longer than this is cut in a message's one line.
TEXT_CHARS = 140


@dataclass(frozen=True)
class Message:
    """One inbox message of ``username``."""

    id: int
    username: str
    request_id: str | None
    event_id: int
    kind: str
    params: dict[str, Any]
    created_at: datetime
    read_at: datetime | None

    @property
    def read(self) -> bool:
        return self.read_at is not None

    @property
    def link(self) -> str | None:
        """The request's page, when the message is about one."""
        return f"/requests/{self.request_id}" if self.request_id else None


def _now() -> datetime:
    return datetime.now(UTC)


def _params(text: str | None) -> dict[str, Any]:
    """A row's params; an unreadable value reads as none (the sentence says less)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _message(row: Any) -> Message:
    return Message(
        id=int(row.id),
        username=row.username,
        request_id=row.request_id,
        event_id=int(row.event_id),
        kind=row.kind,
        params=_params(row.params),
        created_at=row.created_at,
        read_at=row.read_at,
    )


# ---- reading ------------------------------------------------------------------------------


def list_messages(
    username: str,
    *,
    db: Db,
    unread_only: bool = False,
    limit: int = DEFAULT_LIMIT,
    before: int | None = None,
) -> tuple[list[Message], int | None]:
    """``username``'s messages, newest first, at most ``limit`` (1 to :data:`MAX_LIMIT`),
    only those with an id below ``before`` when given; with ``unread_only`` the unread ones.
    Also the cursor of the next (older) page: the last message's id, or None when no older
    message is left."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    query = select(inbox).where(inbox.c.username == username)
    if unread_only:
        query = query.where(inbox.c.read_at.is_(None))
    if before is not None:
        query = query.where(inbox.c.id < before)
    query = query.order_by(inbox.c.id.desc()).limit(limit + 1)
    with connected(db) as conn:
        rows = conn.execute(query).all()
    items = [_message(row) for row in rows[:limit]]
    return items, (items[-1].id if len(rows) > limit else None)


def get_message(username: str, message_id: int, *, db: Db) -> Message | None:
    """``username``'s message ``message_id``; None when there is none or it is another's."""
    query = select(inbox).where(inbox.c.id == message_id, inbox.c.username == username)
    with connected(db) as conn:
        row = conn.execute(query).first()
    return _message(row) if row is not None else None


def unread_count(username: str, *, db: Db) -> int:
    """How many of ``username``'s messages are unread."""
    query = (
        select(func.count())
        .select_from(inbox)
        .where(inbox.c.username == username, inbox.c.read_at.is_(None))
    )
    with connected(db) as conn:
        return int(conn.execute(query).scalar() or 0)


def latest_id(*, db: Db) -> int:
    """The newest message's id, anyone's (0 when there is none): one lookup on the primary
    key, so that a stream can notice new messages cheaply."""
    with connected(db) as conn:
        return int(conn.execute(select(func.max(inbox.c.id))).scalar() or 0)


def recipients(after: int, upto: int, *, db: Db, most: int = 500) -> frozenset[str] | None:
    """Who received the messages with ids in ``(after, upto]``; None when more than ``most``
    people did (then anyone may have)."""
    if upto <= after:
        return frozenset()
    query = (
        select(inbox.c.username)
        .where(inbox.c.id > after, inbox.c.id <= upto)
        .distinct()
        .limit(most + 1)
    )
    with connected(db) as conn:
        found = frozenset(conn.execute(query).scalars())
    return None if len(found) > most else found


# ---- marking ------------------------------------------------------------------------------


def mark_read(username: str, message_id: int, *, db: Db) -> bool:
    """Mark ``username``'s message read (it keeps the time it was first read); False when
    no message of theirs has this id."""
    if not 1 <= message_id <= MAX_ID:
        return False
    mine = (inbox.c.id == message_id) & (inbox.c.username == username)
    with connected(db) as conn:
        done = conn.execute(
            update(inbox).where(mine, inbox.c.read_at.is_(None)).values(read_at=_now())
        )
        if done.rowcount:
            return True
        return conn.execute(select(inbox.c.id).where(mine)).first() is not None


def mark_all_read(username: str, *, db: Db) -> int:
    """Mark every unread message of ``username`` read; how many were."""
    with connected(db) as conn:
        done = conn.execute(
            update(inbox)
            .where(inbox.c.username == username, inbox.c.read_at.is_(None))
            .values(read_at=_now())
        )
    return int(done.rowcount or 0)


def add_message(
    username: str,
    kind: str,
    params: Mapping[str, Any] | None = None,
    *,
    db: Db,
    request_id: str | None = None,
    event_id: int = 0,
    created_at: datetime | None = None,
    key: str | None = None,
) -> int:
    """Put a message into ``username``'s inbox; its id. The notifier writes its own rows
    (keyed ``<event id>:<username>:<kind>``); this is for tests and tools."""
    row = {
        "key": key or f"added:{uuid.uuid4().hex}",
        "username": username,
        "request_id": request_id,
        "event_id": event_id,
        "kind": kind,
        "params": json.dumps(dict(params or {}), ensure_ascii=False),
        "created_at": created_at or _now(),
        "read_at": None,
    }
    with connected(db) as conn:
        added = conn.execute(insert(inbox).values(**row)).inserted_primary_key
    assert added is not None
    return int(added[0])


def display_names(usernames: Iterable[str], *, db: Db) -> dict[str, str]:
    """username -> display name of those of ``usernames`` in the roster."""
    wanted = sorted({u for u in usernames if isinstance(u, str) and u})
    if not wanted:
        return {}
    query = select(user_table.c.username, user_table.c.display_name).where(
        user_table.c.username.in_(wanted)
    )
    with connected(db) as conn:
        return {row.username: row.display_name for row in conn.execute(query)}


def people_in(messages: Iterable[Message]) -> set[str]:
    """The usernames the messages' sentences name (who urged, asked, decided, ...)."""
    return {m.params["by"] for m in messages if isinstance(m.params.get("by"), str)}


# ---- words -----------------------------------------------------------------------------------

#: The pages' local time (China Standard Time), as web.present shows times.
_CST = timezone(timedelta(hours=8), "CST")


def _time(value: Any) -> str:
    """An ISO time as the pages show it (``2025-11-22 14:05``, China time); "" when none."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value[:40]
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(_CST).strftime("%Y-%m-%d %H:%M")


def _line(value: Any) -> str:
    """Free text (a note, a reason) on one line, cut to :data:`TEXT_CHARS`."""
    text = re.sub(r"\s+", " ", str(value or "")).strip()
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1].rstrip() + "…"


def text_of(
    kind: str,
    params: Mapping[str, Any],
    lang: str,
    *,
    categories: Mapping[str, tuple[str, str]] | None = None,
    people: Mapping[str, str] | None = None,
) -> str:
    """The message as one sentence in ``lang`` (``zh-CN`` or ``en``): ``categories`` names
    the categories (code -> (Chinese, English), the catalogue's; None: the seed's), ``people``
    the staff (username -> display name). An unknown kind gets a sentence that says a message
    came."""
    # web.i18n is imported here, not above: importing the web package loads its pages, and
    # the inbox page imports this module
    from web.i18n import Translator

    t = Translator(lang, categories)
    names = people or {}

    def value(name: str) -> str:
        found = params.get(name)
        return "" if found is None else str(found)

    def word(prefix: str, name: str) -> str:
        raw = value(name)
        key = f"{prefix}.{raw}"
        found = t(key)
        return raw if found == key else found

    def person(name: str) -> str:
        who = value(name)
        return names.get(who, who) or t("notice.someone")

    def due(name: str = "deadline") -> str:
        at = _time(params.get(name))
        return t("notice.due", at=at) if at else ""

    def note(name: str) -> str:
        text = _line(params.get(name))
        return t("notice.note", text=text) if text else ""

    ladder = {"tier": word("tier", "tier"), "level": word("level", "level")}
    if kind == "assigned":
        via = value("via")
        via_text = t(f"notice.via.{via}") if via in VIAS else t("notice.via.other")
        return t(
            "notice.assigned",
            via=via_text,
            category=t.category(value("category")),
            due=due(),
            **ladder,
        )
    if kind == "waiting_dispatch":
        return t("notice.waiting_dispatch", category=t.category(value("category")))
    if kind in ("warned", "overdue"):
        return t(f"notice.{kind}", at=_time(params.get("deadline")) or "—", **ladder)
    if kind == "reopened":
        return t("notice.reopened", due=due(), **ladder)
    if kind == "escalated_away":
        key = "notice.escalated_away_auto" if params.get("automatic") else "notice.escalated_away"
        return t(key, from_tier=word("tier", "from_tier"), **ladder)
    if kind == "urged":
        return t("notice.urged", by=person("by"), note=note("note"))
    if kind == "extension_asked":
        until = _time(params.get("until"))
        return t("notice.extension_asked", by=person("by"), until=until, reason=note("reason"))
    if kind == "extension_decided":
        if params.get("approved"):
            return t("notice.extension_approved", by=person("by"), due=due("until"))
        return t("notice.extension_refused", by=person("by"))
    if kind == "cohandler_added":
        return t("notice.cohandler_added", by=person("by"), note=note("note"))
    if kind == "review_due":  # the window's end (the notifier's), or when it was resolved
        if params.get("review_until") or not params.get("resolved_at"):
            return t("notice.review_due", at=_time(params.get("review_until")) or "—")
        return t("notice.review_due_resolved", at=_time(params.get("resolved_at")))
    return t("notice.other", kind=_line(kind)[:40])
