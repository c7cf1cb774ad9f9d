"""What the pages read: requests, work lists, follow-ups, figures. JSON-ready dicts.

Every function takes a SQLAlchemy ``Connection`` or ``Engine`` and reads the view tables
only; times come back as ISO 8601 strings in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, case, false, func, or_, select

from domain.ladder import LADDER, LEVEL_UNIT_KIND, TIER_LEVEL, Level, Tier, UnitKind
from domain.lifecycle import Status
from domain.state import Assignment
from projections.figures import ALL
from projections.reading import (
    NO_OPERATIONS,
    OPEN_STATUSES,
    Bind,
    connected,
    in_unit,
    iso,
    iso_or_none,
    operation_filters,
    operations,
    request_item,
    request_view,
    timeline_item,
)
from projections.stats import stats
from projections.tables import ASSIST, COHANDLER, figures, people, requests, timeline

__all__ = [
    "cohandled",
    "dispatch_queue",
    "extension_asks",
    "followups",
    "get_request",
    "list_requests",
    "operations_of",
    "public_requests",
    "stats",
    "tasks",
]


def get_request(bind: Bind, request_id: str) -> dict[str, Any] | None:
    """The request as ``RequestState.view()`` shows it, timeline and operations included
    (co-handlers and their state, the pending extension, urges, warning, assisting levels,
    out of scope, appeal); None if unknown."""
    with connected(bind) as conn:
        row = conn.execute(select(requests).where(requests.c.id == request_id)).one_or_none()
        if row is None:
            return None
        entries = conn.execute(
            select(timeline)
            .where(timeline.c.request_id == request_id)
            .order_by(timeline.c.position)
        ).all()
    view = request_view(row)
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
    warned: bool | None = None,
    urged: bool | None = None,
    extension_pending: bool | None = None,
    cohandled: bool | None = None,
    waiting_dispatch: bool | None = None,
    out_of_scope: bool | None = None,
) -> dict[str, Any]:
    """A page of requests (views without timeline) and how many match in all.

    ``unit_id`` matches the town, the community or the grid. Open requests come first,
    soonest deadline first; then the others, most recently changed first. The operations'
    filters (each None: either way) are those of
    :func:`projections.reading.operation_filters`.
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
    conditions += operation_filters(
        warned=warned,
        urged=urged,
        extension_pending=extension_pending,
        cohandled=cohandled,
        waiting_dispatch=waiting_dispatch,
        out_of_scope=out_of_scope,
    )
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
    username: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """A handler's work list, soonest deadline first (the first ``limit``, if given): the
    open requests at one of their (unit, level) posts (``"assisting": false``), and those
    they help with (``"assisting": true``): open requests that went up from one of their
    posts (协助), and, given their ``username``, those where they are a co-handler whose
    part is not done (协办). A request at one of their posts is listed once, as theirs."""
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
    is_open = requests.c.status.in_(OPEN_STATUSES)
    soonest = (requests.c.deadline, requests.c.id)
    query = select(requests).where(at_post, is_open).order_by(*soonest).limit(limit)
    helping = []
    keys = sorted({f"{level}:{unit}" for unit, level in posts})
    if keys:
        helping.append(and_(people.c.kind == ASSIST, people.c.key.in_(keys)))
    if username is not None:
        helping.append(and_(people.c.kind == COHANDLER, people.c.key == username, ~people.c.done))
    with connected(bind) as conn:
        mine = [_task(row, assisting=False) for row in conn.execute(query)]
        if not helping:
            return mine
        helped = (
            select(requests)
            .join(people, people.c.request_id == requests.c.id)
            .where(or_(*helping), is_open)
            .order_by(*soonest)
            .limit(None if limit is None else limit + len(mine))
        )
        seen = {item["id"] for item in mine}
        for row in conn.execute(helped):
            if row.id not in seen:
                seen.add(row.id)
                mine.append(_task(row, assisting=True))
    mine.sort(key=lambda item: (item["_deadline"], item["id"]))
    for item in mine:
        del item["_deadline"]
    return mine[:limit]


def _task(row: Row[Any], *, assisting: bool) -> dict[str, Any]:
    item = _with_cohandlers(request_item(row), row)
    item["assisting"] = assisting
    item["_deadline"] = row.deadline  # open requests have one
    return item


def dispatch_queue(
    bind: Bind,
    unit_ids: Iterable[str] | None = None,
    *,
    limit: int | None = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """The platform's queue (分解交办): requests waiting for dispatch whose community or
    town is one of ``unit_ids`` (None: all), the longest waiting first, and how many wait
    in all. Each item is a list item (:func:`list_requests`); its ``waiting_since`` says
    since when it waits (filed, or returned), its ``category`` what the filing said."""
    if (limit is not None and limit < 0) or offset < 0:
        raise ValueError("limit and offset cannot be negative")
    conditions: list[ColumnElement[bool]] = [
        requests.c.waiting_since.is_not(None),
        requests.c.status == Status.WAITING_DISPATCH.value,
    ]
    if unit_ids is not None:
        ids = sorted(set(unit_ids))
        if not ids:
            return {"items": [], "total": 0}
        conditions.append(or_(requests.c.community_id.in_(ids), requests.c.town_id.in_(ids)))
    page = (
        select(requests)
        .where(*conditions)
        .order_by(requests.c.waiting_since, requests.c.id)
        .limit(limit)
        .offset(offset)
    )
    total = select(func.count()).select_from(requests).where(*conditions)
    with connected(bind) as conn:
        items = [request_item(row) for row in conn.execute(page)]
        count = int(conn.execute(total).scalar_one())
    return {"items": items, "total": count}


def cohandled(
    bind: Bind, username: str, *, limit: int | None = 50, offset: int = 0
) -> dict[str, Any]:
    """A partner's list (协办): the requests where ``username`` is a co-handler, and how
    many in all. First those whose part is still to do on an open request, soonest
    deadline first; then the others, most recently changed first.

    Each item is a list item plus ``cohandler``: their part as the request's view lists
    it (task, due, organisation, done, done_at, note, added_by, added_at; the latest if
    they were called in more than once), and ``cohandler_open``: their part is to do.
    """
    if (limit is not None and limit < 0) or offset < 0:
        raise ValueError("limit and offset cannot be negative")
    theirs = [people.c.kind == COHANDLER, people.c.key == username]
    to_do = and_(~people.c.done, requests.c.status.in_(OPEN_STATUSES))
    page = (
        select(requests, people.c.done.label("part_done"))
        .join(people, people.c.request_id == requests.c.id)
        .where(*theirs)
        .order_by(
            case((to_do, 0), else_=1),
            case((to_do, requests.c.deadline)),
            requests.c.updated_at.desc(),
            requests.c.id,
        )
        .limit(limit)
        .offset(offset)
    )
    total = select(func.count()).select_from(people).where(*theirs)
    items = []
    with connected(bind) as conn:
        for row in conn.execute(page):
            item = _with_cohandlers(request_item(row), row)
            parts = [
                c
                for c in (operations(row) or {}).get("cohandlers", [])
                if c["username"] == username
            ]
            item["cohandler"] = parts[-1] if parts else None
            item["cohandler_open"] = not row.part_done and row.status in OPEN_STATUSES
            items.append(item)
        count = int(conn.execute(total).scalar_one())
    return {"items": items, "total": count}


def _with_cohandlers(item: dict[str, Any], row: Row[Any]) -> dict[str, Any]:
    """A work list's item with the request's co-handlers and the levels it went up from
    (``went_up_from``): who they are decides what each sees of the resident
    (domain.privacy), as on the request itself."""
    ops = operations(row) or {}
    item["cohandlers"] = ops.get("cohandlers", [])
    item["went_up_from"] = ops.get("assisting", [])
    return item


def cohandled_among(bind: Bind, request_ids: Iterable[str], username: str) -> list[str]:
    """Those of ``request_ids`` that ``username`` is (or was) a co-handler of (what a
    partner's event stream may name)."""
    wanted = sorted(set(request_ids))
    if not wanted:
        return []
    query = select(people.c.request_id).where(
        people.c.kind == COHANDLER, people.c.key == username, people.c.request_id.in_(wanted)
    )
    with connected(bind) as conn:
        return sorted({str(row.request_id) for row in conn.execute(query)})


_waiting_for_review = requests.c.status == Status.RESOLVED.value


def _followup_filter(self_review: bool, now: datetime | None) -> ColumnElement[bool]:
    """Resolved requests waiting for a call (no self-review window, or it has passed), or
    with ``self_review`` those whose resident may still review them (限时反馈)."""
    at = now or datetime.now(UTC)
    until = requests.c.review_until
    if self_review:
        return and_(_waiting_for_review, until.is_not(None), until > at)
    return and_(_waiting_for_review, or_(until.is_(None), until <= at))


def count_followups(bind: Bind, *, self_review: bool = False, now: datetime | None = None) -> int:
    """How many resolved requests wait for a call (``self_review``: for their resident's
    own review)."""
    query = select(func.count()).select_from(requests).where(_followup_filter(self_review, now))
    with connected(bind) as conn:
        return int(conn.execute(query).scalar_one())


def followups(
    bind: Bind,
    *,
    limit: int | None = None,
    offset: int = 0,
    self_review: bool = False,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The callers' list: resolved requests waiting for their review call, oldest resolve
    first (``limit`` of them from ``offset``, if given). A request whose resident may
    still review it themselves waits for that first (``self_review`` lists those).

    Each item is the request view (with the resident's name and phone) plus ``resolved_at``.
    """
    query = (
        select(requests)
        .where(_followup_filter(self_review, now))
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


#: Each level's place on the ladder (grid worker 0 ... town committee 3).
_RANK = {TIER_LEVEL[tier]: rank for rank, tier in enumerate(LADDER)}
#: The column holding the unit a level of that kind owns a request at.
_UNIT_COLUMN = {
    UnitKind.GRID: requests.c.grid_id,
    UnitKind.COMMUNITY: requests.c.community_id,
    UnitKind.TOWN: requests.c.town_id,
}


def extension_asks(
    bind: Bind,
    posts: Iterable[tuple[str, str] | Assignment],
    *,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The extension asks (延期) waiting for a handler's decision: open requests with an
    ask pending whose current level is exactly one level below one of their posts, on the
    unit that post's level would own the request at (a grid party branch decides its
    grids' workers' asks, a community committee its community's branches', a town
    committee its town's communities'). Soonest deadline first; list items
    (:func:`list_requests`)."""
    below: list[ColumnElement[bool]] = []
    for post in posts:
        unit_id, level = (
            (post.unit_id, Level(post.level))
            if isinstance(post, Assignment)
            else (post[0], Level(post[1]))
        )
        rank = _RANK[level]
        if rank == 0:  # nobody below a grid worker
            continue
        lower = TIER_LEVEL[LADDER[rank - 1]]
        column = _UNIT_COLUMN[LEVEL_UNIT_KIND[level]]
        below.append(and_(requests.c.level == lower.value, column == unit_id))
    if not below:
        return []
    query = (
        select(requests)
        .where(
            or_(*below),
            requests.c.extension_pending.is_(True),
            requests.c.status.in_(OPEN_STATUSES),
        )
        .order_by(requests.c.deadline, requests.c.id)
        .limit(limit)
    )
    with connected(bind) as conn:
        return [request_item(row) for row in conn.execute(query)]


def operations_of(bind: Bind, request_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The operations' part of each request's view (as :func:`get_request` gives it:
    co-handlers, the pending extension, urges, assisting levels...), by id; requests
    projected before it was kept get the empty part."""
    ids = sorted(set(request_ids))
    if not ids:
        return {}
    query = select(requests).where(requests.c.id.in_(ids))
    with connected(bind) as conn:
        views = [request_view(row) for row in conn.execute(query)]
    keys = set(NO_OPERATIONS)
    return {view["id"]: {k: v for k, v in view.items() if k in keys} for view in views}


#: The only columns :func:`public_requests` reads: no description, no resident, nothing
#: sealed (what Open311 GeoReport v2 shows anyone, :mod:`api.open311`).
PUBLIC_COLUMNS = (
    requests.c.id,
    requests.c.status,
    requests.c.category,
    requests.c.level,
    requests.c.level_unit_id,
    requests.c.grid_id,
    requests.c.community_id,
    requests.c.town_id,
    requests.c.deadline,
    requests.c.created_at,
    requests.c.updated_at,
    requests.c.closed_at,
    requests.c.closed_outcome,
    requests.c.lat,  # the point only; the address and building stay sealed
    requests.c.long,
)


def public_requests(
    bind: Bind,
    *,
    ids: Iterable[str] = (),
    categories: Iterable[str] = (),
    statuses: Iterable[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Requests' public facts (:data:`PUBLIC_COLUMNS`, times as ISO 8601 in UTC), newest
    filing first: those with one of ``ids`` when any is given (every other filter is then
    ignored), else those filed from ``start`` to ``end`` (both included) in one of
    ``categories`` and ``statuses`` (empty: any)."""
    query = select(*PUBLIC_COLUMNS)
    wanted = list(ids)
    if wanted:
        query = query.where(requests.c.id.in_(wanted))
    else:
        codes, states = list(categories), list(statuses)
        if codes:
            query = query.where(requests.c.category.in_(codes))
        if states:
            query = query.where(requests.c.status.in_(states))
        if start is not None:
            query = query.where(requests.c.created_at >= start)
        if end is not None:
            query = query.where(requests.c.created_at <= end)
    query = query.order_by(requests.c.created_at.desc(), requests.c.id).limit(limit)
    with connected(bind) as conn:
        rows = conn.execute(query).all()
    return [
        {
            "id": row.id,
            "status": row.status,
            "category": row.category,
            "level": row.level,
            "level_unit_id": row.level_unit_id,
            "grid_id": row.grid_id,
            "community_id": row.community_id,
            "town_id": row.town_id,
            "deadline": iso_or_none(row.deadline),
            "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at),
            "closed_at": iso_or_none(row.closed_at),
            "closed_outcome": row.closed_outcome,
            "lat": row.lat,
            "long": row.long,
        }
        for row in rows
    ]
