"""What the pages read: requests, work lists, follow-ups, figures. JSON-ready dicts.

Every function takes a SQLAlchemy ``Connection`` or ``Engine`` and reads the view tables
only; times come back as ISO 8601 strings in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, false, func, or_, select

from domain.ladder import Level, Tier
from domain.lifecycle import Status
from domain.state import Assignment
from projections.figures import ALL
from projections.reading import (
    OPEN_STATUSES,
    Bind,
    connected,
    in_unit,
    iso,
    request_item,
    timeline_item,
)
from projections.stats import stats
from projections.tables import figures, requests, timeline

__all__ = ["followups", "get_request", "list_requests", "stats", "tasks"]


def get_request(bind: Bind, request_id: str) -> dict[str, Any] | None:
    """The request as ``RequestState.view()`` shows it, timeline included; None if unknown."""
    with connected(bind) as conn:
        row = conn.execute(select(requests).where(requests.c.id == request_id)).one_or_none()
        if row is None:
            return None
        entries = conn.execute(
            select(timeline)
            .where(timeline.c.request_id == request_id)
            .order_by(timeline.c.position)
        ).all()
    view = request_item(row)
    view["timeline"] = [timeline_item(entry) for entry in entries]
    return view


def list_requests(
    bind: Bind,
    *,
    status: str | None = None,
    tier: str | None = None,
    unit_id: str | None = None,
    overdue: bool | None = None,
    category: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """A page of requests (views without timeline) and how many match in all.

    ``unit_id`` matches the town, the community or the grid. Open requests come first,
    soonest deadline first; then the others, most recently changed first.
    """
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset cannot be negative")
    conditions: list[ColumnElement[bool]] = []
    if status is not None:
        conditions.append(requests.c.status == Status(status).value)
    if tier is not None:
        conditions.append(requests.c.tier == Tier(tier).value)
    if unit_id is not None:
        conditions.append(in_unit(unit_id))
    if overdue is not None:
        conditions.append(requests.c.overdue == overdue)
    if category is not None:
        conditions.append(requests.c.category == category)
    is_open = requests.c.status.in_(OPEN_STATUSES)
    # Index walks instead of one sort of every matching row: the open requests by
    # deadline, one status at a time (merged here), then the others newest change first.
    then = (
        select(requests)
        .where(*conditions, ~is_open)
        .order_by(requests.c.updated_at.desc(), requests.c.id)
    )
    open_total = select(func.count()).select_from(requests).where(*conditions, is_open)
    with connected(bind) as conn:
        opened = conn.execute(open_total).scalar_one()
        rows: list[Row[Any]] = []
        if offset < opened and limit:
            for status_value in OPEN_STATUSES:
                first = (
                    select(requests)
                    .where(*conditions, requests.c.status == status_value)
                    .order_by(requests.c.deadline, requests.c.updated_at.desc(), requests.c.id)
                    .limit(offset + limit)
                )
                rows += conn.execute(first)
            rows.sort(key=lambda r: (r.deadline, -r.updated_at.timestamp(), r.id))
            rows = rows[offset : offset + limit]
        if len(rows) < limit:
            skip = max(0, offset - opened)
            rows += conn.execute(then.limit(limit - len(rows)).offset(skip))
        items = [request_item(row) for row in rows]
        count = _count(conn, conditions)
    return {"items": items, "total": count}


def _count(conn: Connection, conditions: list[ColumnElement[bool]]) -> int:
    """How many requests meet ``conditions``; all of them from the kept figures."""
    if not conditions:
        everything = select(func.coalesce(func.sum(figures.c.received), 0)).where(
            figures.c.unit_id == ALL
        )
        return int(conn.execute(everything).scalar_one())
    total = select(func.count()).select_from(requests).where(*conditions)
    return int(conn.execute(total).scalar_one())


def tasks(
    bind: Bind,
    *,
    assignments: Iterable[tuple[str, str] | Assignment],
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """A handler's work list: open requests at one of their (unit, level) posts, soonest
    deadline first (the first ``limit`` of them, if given)."""
    posts = [
        (a.unit_id, Level(a.level).value)
        if isinstance(a, Assignment)
        else (a[0], Level(a[1]).value)
        for a in assignments
    ]
    at_post = (
        or_(
            *(
                and_(requests.c.level_unit_id == unit, requests.c.level == level)
                for unit, level in posts
            )
        )
        if posts
        else false()
    )
    query = (
        select(requests)
        .where(at_post, requests.c.status.in_(OPEN_STATUSES))
        .order_by(requests.c.deadline, requests.c.id)
        .limit(limit)
    )
    with connected(bind) as conn:
        return [request_item(row) for row in conn.execute(query)]


_waiting_for_review = requests.c.status == Status.RESOLVED.value


def count_followups(bind: Bind) -> int:
    """How many resolved requests wait for their review."""
    query = select(func.count()).select_from(requests).where(_waiting_for_review)
    with connected(bind) as conn:
        return int(conn.execute(query).scalar_one())


def followups(bind: Bind, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """The callers' list: resolved requests waiting for their review, oldest resolve first
    (``limit`` of them from ``offset``, if given).

    Each item is the request view (with the resident's name and phone) plus ``resolved_at``.
    """
    query = (
        select(requests)
        .where(_waiting_for_review)
        .order_by(requests.c.resolved_at, requests.c.id)
        .limit(limit)
        .offset(offset)
    )
    with connected(bind) as conn:
        rows = conn.execute(query).all()
    items = []
    for row in rows:
        item = request_item(row)
        item["resolved_at"] = iso(row.resolved_at)
        items.append(item)
    return items
