"""The month's topics (每月一题): hot spots a supervisor makes a governance topic.

A topic names a category and a grid or a community, a month (``2026-11``), a title and a
note, and who made it when. Topics are decisions by people, not read models: they live in
their own table (:data:`topic_table`, created by migration ``0011``) and are never rebuilt
from the events. A topic is not deleted but closed (``closed_at``, ``closed_by``); a unit
and category may be the month's topic once while it is open (a unique index on the open
ones holds this against two supervisors at once), and again after it was closed.

Service functions take the database as the keyword-only ``db``, as :mod:`api.roster`
does. A refused command raises a :class:`TopicError` before anything is written:
``code`` is the stable reason, ``field`` the body field it concerns, ``status`` the HTTP
status the API answers with.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Index, MetaData, Row, String, Table, Text, insert, select, text
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError

from api import roster
from closeloop import catalogue
from closeloop.db import Db, connected
from domain.categories import CODE_MAX
from domain.ladder import UnitKind
from projections.tables import UtcDateTime

#: A month is written ``YYYY-MM``, from 2000-01 to 2100-12 (the API's range of dates).
MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
FIRST_YEAR, LAST_YEAR = 2000, 2100
TITLE_MAX = 200
NOTE_MAX = 2000
#: The units a topic may name: a grid or a community (a hot spot is a category there).
TOPIC_UNITS = (UnitKind.GRID, UnitKind.COMMUNITY)

metadata = MetaData()

_OPEN = text("closed_at IS NULL")

topic_table = Table(
    "hotspot_topics",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("month", String(7), nullable=False),
    Column("unit_id", String(36), nullable=False),
    Column("category", String(CODE_MAX), nullable=False),
    Column("title", String(TITLE_MAX), nullable=False),
    Column("note", Text(), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("closed_at", UtcDateTime(), nullable=True),
    Column("closed_by", String(64), nullable=True),
    Index("ix_hotspot_topics_month", "month", "created_at"),
    # one open topic per month, unit and category
    Index(
        "uq_hotspot_topics_open",
        "month",
        "unit_id",
        "category",
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    ),
)


@dataclass(frozen=True)
class Topic:
    """One month's topic."""

    id: str
    month: str
    unit_id: str
    category: str
    title: str
    note: str
    created_by: str
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "month": self.month,
            "unit_id": self.unit_id,
            "category": self.category,
            "title": self.title,
            "note": self.note,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "closed_at": None if self.closed_at is None else self.closed_at.isoformat(),
            "closed_by": self.closed_by,
        }


class TopicError(Exception):
    """A refused command: ``code`` the stable reason, ``field`` the body's field,
    ``status`` the HTTP status it is answered with, ``params`` the values in the sentence."""

    def __init__(
        self,
        message: str,
        code: str,
        field: str | None,
        status: int,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.status = status
        self.params = params


def check_month(value: str) -> str:
    """``value`` as a month ``YYYY-MM`` between 2000-01 and 2100-12; else 422 ``bad_month``."""
    found = MONTH.fullmatch(value.strip()) if isinstance(value, str) else None
    if found is None or not (FIRST_YEAR <= int(found[1]) <= LAST_YEAR and 1 <= int(found[2]) <= 12):
        raise TopicError(
            f"a month is written YYYY-MM, from {FIRST_YEAR}-01 to {LAST_YEAR}-12",
            "bad_month",
            "month",
            422,
        )
    return found[0]


def _topic(row: Row[Any]) -> Topic:
    return Topic(
        id=row.id,
        month=row.month,
        unit_id=row.unit_id,
        category=row.category,
        title=row.title,
        note=row.note,
        created_by=row.created_by,
        created_at=row.created_at,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
    )


def _exists(month: str, unit_id: str, category: str) -> TopicError:
    return TopicError(
        f"this category in this unit is already a topic of {month}",
        "topic_exists",
        None,
        409,
        {"month": month, "unit_id": unit_id, "category": category},
    )


def add_topic(
    month: str,
    unit_id: str,
    category: str,
    title: str,
    note: str = "",
    *,
    by: str,
    db: Db,
) -> Topic:
    """Make a category in a grid or community the month's topic. Refused (nothing
    written): ``bad_month``, ``unknown_unit``, ``topic_unit_kind`` (a town),
    ``unknown_category`` (not in the catalogue; a retired one may be a topic: its
    requests are still there), ``required`` (a blank title), ``topic_exists`` (409: an
    open topic of the same month, unit and category)."""
    month = check_month(month)
    unit = roster.get_unit(unit_id, db=db) if isinstance(unit_id, str) and unit_id else None
    if unit is None:
        raise TopicError(f"no unit has the id {str(unit_id)[:50]}", "unknown_unit", "unit_id", 422)
    if unit.kind not in TOPIC_UNITS:
        raise TopicError(
            f"a topic names a grid or a community, not a {unit.kind.value}",
            "topic_unit_kind",
            "unit_id",
            422,
            {"kind": unit.kind.value},
        )
    if catalogue.get_category(category, db=db) is None:
        raise TopicError(
            f"no category has the code {str(category)[:50]}",
            "unknown_category",
            "category",
            422,
            {"category": str(category)[:50]},
        )
    title = title.strip()
    if not title:
        raise TopicError("a topic needs a title", "required", "title", 422)
    note = note.strip()
    if len(title) > TITLE_MAX or len(note) > NOTE_MAX:  # the API's schema refuses these first
        raise ValueError(f"a title has at most {TITLE_MAX} characters, a note {NOTE_MAX}")
    made = Topic(
        str(uuid.uuid4()), month, unit.id, category, title, note, by, datetime.now(UTC), None, None
    )
    t = topic_table.c
    try:
        with connected(db) as conn:
            taken = conn.execute(
                select(t.id).where(
                    t.month == month,
                    t.unit_id == unit.id,
                    t.category == category,
                    t.closed_at.is_(None),
                )
            ).first()
            if taken is not None:
                raise _exists(month, unit.id, category)
            conn.execute(insert(topic_table).values(**made.__dict__))
    except IntegrityError:  # made meanwhile by someone else
        raise _exists(month, unit.id, category) from None
    return made


def list_topics(month: str, *, db: Db, include_closed: bool = True) -> list[Topic]:
    """The month's topics in the order they were made (closed ones too, unless told)."""
    month = check_month(month)
    t = topic_table.c
    query = select(topic_table).where(t.month == month).order_by(t.created_at, t.id)
    if not include_closed:
        query = query.where(t.closed_at.is_(None))
    with connected(db) as conn:
        return [_topic(row) for row in conn.execute(query)]


def get_topic(topic_id: str, *, db: Db) -> Topic | None:
    with connected(db) as conn:
        row = conn.execute(select(topic_table).where(topic_table.c.id == topic_id)).first()
    return None if row is None else _topic(row)


def close_topic(topic_id: str, *, by: str, db: Db) -> Topic:
    """Close a topic (done, or withdrawn): ``topic_not_found`` (404), ``topic_closed``
    (409: closed already, by whoever did it first)."""
    t = topic_table.c
    with connected(db) as conn:
        row = conn.execute(select(topic_table).where(t.id == topic_id)).first()
        if row is None:
            raise TopicError(
                f"no topic has the id {topic_id[:50]}",
                "topic_not_found",
                None,
                404,
                {"id": topic_id[:50]},
            )
        if row.closed_at is not None:
            raise TopicError(
                f"the topic was closed by {row.closed_by} already",
                "topic_closed",
                None,
                409,
                {"closed_by": row.closed_by, "closed_at": row.closed_at.isoformat()},
            )
        now = datetime.now(UTC)
        done = conn.execute(
            sql_update(topic_table)
            .where(t.id == topic_id, t.closed_at.is_(None))
            .values(closed_at=now, closed_by=by)
        )
        if done.rowcount == 0:  # closed meanwhile by someone else
            raise TopicError("the topic was closed already", "topic_closed", None, 409)
        row = conn.execute(select(topic_table).where(t.id == topic_id)).one()
    return _topic(row)
