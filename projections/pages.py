"""Extra reads for the web pages: the open board, deadline windows, figures over time, per
grid and escalations by tier, and how far the views have read the event log.

Like :mod:`projections.queries`, every function takes a ``Connection`` or an ``Engine``,
reads the view tables only and returns JSON-ready values. The figures use the same cohort
as :func:`projections.stats.stats` (requests received in ``[date_from, date_to)`` under a
unit) and the same definitions, so the board's charts add up to its figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select

from domain.ladder import LADDER
from domain.lifecycle import Status
from domain.state import APPEALED, DISPATCHED, ESCALATED, RETIERED, REVIEWED
from projections.reading import (
    OPEN_STATUSES,
    Bind,
    connected,
    in_unit,
    iso,
    operation_filters,
    request_item,
)
from projections.stats import SATISFIED, cohort
from projections.tables import requests, reviews, timeline, tracking_table

#: The changes that start a new deadline window (those whose data hold a new deadline).
_NEW_WINDOW = (ESCALATED, REVIEWED, DISPATCHED, RETIERED, APPEALED)

#: Ids are looked up in chunks of this many (bind-parameter limits).
_CHUNK = 500


def board(
    bind: Bind,
    *,
    statuses: Sequence[str] | None = None,
    tier: str | None = None,
    unit_id: str | None = None,
    category: str | None = None,
    limit: int | None = 200,
    offset: int = 0,
    warned: bool | None = None,
    urged: bool | None = None,
    extension_pending: bool | None = None,
    cohandled: bool | None = None,
    waiting_dispatch: bool | None = None,
    out_of_scope: bool | None = None,
) -> dict[str, Any]:
    """A page of requests (views without timeline) whose status is one of ``statuses``
    (None: any), and how many match in all. The operations' filters (each None: either
    way) are those of :func:`projections.reading.operation_filters`.

    Ordered as :func:`projections.queries.list_requests`: open requests first, soonest
    deadline first; then the others, most recently changed first.
    """
    conditions: list[ColumnElement[bool]] = []
    if statuses is not None:
        conditions.append(requests.c.status.in_([Status(s).value for s in statuses]))
    if tier is not None:
        conditions.append(requests.c.tier == tier)
    if unit_id is not None:
        conditions.append(in_unit(unit_id))
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
    page = (
        select(requests)
        .where(*conditions)
        .order_by(
            case((is_open, 0), else_=1),
            case((is_open, requests.c.deadline)),
            requests.c.updated_at.desc(),
            requests.c.id,
        )
        .limit(limit)
        .offset(offset)
    )
    total = select(func.count()).select_from(requests).where(*conditions)
    with connected(bind) as conn:
        items = [request_item(row) for row in conn.execute(page)]
        count = conn.execute(total).scalar_one()
    return {"items": items, "total": count}


def window_starts(bind: Bind, request_ids: Iterable[str]) -> dict[str, datetime]:
    """When each request's current deadline window opened, for those whose window did not
    open at filing: the last escalation, dispatch, re-tiering, appeal, or review that
    reopened it.

    A request missing from the result has had its deadline since it was filed
    (``created_at``). The window's length is ``deadline - start``: the tier's time, in the
    day length the request was filed with.
    """
    ids = list(dict.fromkeys(request_ids))
    starts: dict[str, datetime] = {}
    with connected(bind) as conn:
        for first in range(0, len(ids), _CHUNK):
            rows = conn.execute(
                select(timeline.c.request_id, timeline.c.at, timeline.c.data)
                .where(
                    timeline.c.request_id.in_(ids[first : first + _CHUNK]),
                    timeline.c.type.in_(_NEW_WINDOW),
                )
                .order_by(timeline.c.request_id, timeline.c.position)
            )
            for request_id, at, data in rows:
                if "deadline" in (data or {}):  # escalations, and reviews that reopened
                    starts[request_id] = at
    return starts


def latest_entries(bind: Bind, request_ids: Iterable[str], entry_type: str) -> dict[str, Any]:
    """Each request's latest timeline entry of ``entry_type`` (e.g. its last resolution)."""
    ids = list(dict.fromkeys(request_ids))
    found: dict[str, Any] = {}
    with connected(bind) as conn:
        for first in range(0, len(ids), _CHUNK):
            rows = conn.execute(
                select(timeline)
                .where(
                    timeline.c.request_id.in_(ids[first : first + _CHUNK]),
                    timeline.c.type == entry_type,
                )
                .order_by(timeline.c.request_id, timeline.c.position)
            )
            for row in rows:
                found[row.request_id] = {
                    "type": row.type,
                    "at": iso(row.at),
                    "actor": row.actor,
                    **row.data,
                }
    return found


def series(
    bind: Bind, *, edges: Sequence[datetime], unit_id: str | None = None
) -> list[dict[str, Any]]:
    """The figures of each period ``[edges[i], edges[i + 1])``: the cohort received in it,
    counted as it stands now (two grouped queries, whatever the number of periods).

    Each item: ``start``, ``end``, ``received``, ``closed``, ``closed_on_time``,
    ``reviews_reached``, ``satisfied`` and the three rates.
    """
    if len(edges) < 2:
        return []
    _check_aware(*edges)
    buckets = len(edges) - 1
    bucket = case(
        *((requests.c.created_at < edges[i + 1], literal(i)) for i in range(buckets)),
        else_=literal(-1),
    ).label("bucket")
    in_cohort = cohort(unit_id, edges[0], edges[-1])
    is_closed = requests.c.status == Status.CLOSED.value
    per_request = (
        select(
            bucket,
            _flag(is_closed).label("closed"),
            _flag(and_(is_closed, ~requests.c.missed_deadline)).label("on_time"),
        )
        .where(*in_cohort)
        .subquery()
    )
    by_request = select(
        per_request.c.bucket,
        func.count().label("received"),
        func.sum(per_request.c.closed).label("closed"),
        func.sum(per_request.c.on_time).label("on_time"),
    ).group_by(per_request.c.bucket)
    per_review = (
        select(bucket, _flag(reviews.c.satisfaction.in_(SATISFIED)).label("satisfied"))
        .select_from(reviews.join(requests, reviews.c.request_id == requests.c.id))
        .where(reviews.c.reached, *in_cohort)
        .subquery()
    )
    by_review = select(
        per_review.c.bucket,
        func.count().label("reached"),
        func.sum(per_review.c.satisfied).label("satisfied"),
    ).group_by(per_review.c.bucket)
    with connected(bind) as conn:
        counted = {row.bucket: row for row in conn.execute(by_request)}
        reviewed = {row.bucket: row for row in conn.execute(by_review)}
    result = []
    for i in range(buckets):
        r, v = counted.get(i), reviewed.get(i)
        received = int(r.received) if r else 0
        closed = int(r.closed or 0) if r else 0
        on_time = int(r.on_time or 0) if r else 0
        reached = int(v.reached) if v else 0
        satisfied = int(v.satisfied or 0) if v else 0
        result.append(
            {
                "start": iso(edges[i]),
                "end": iso(edges[i + 1]),
                "received": received,
                "closed": closed,
                "closed_on_time": on_time,
                "reviews_reached": reached,
                "satisfied": satisfied,
                "completion_rate": _rate(closed, received),
                "on_time_rate": _rate(on_time, closed),
                "satisfaction_rate": _rate(satisfied, reached),
            }
        )
    return result


def per_grid(
    bind: Bind,
    *,
    unit_id: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """The figures of the cohort grid by grid: ``{grid_id: {received, closed, open,
    overdue, escalations, reviews_reached, satisfied, completion_rate, on_time_rate,
    satisfaction_rate}}``, for the grids that received something."""
    in_cohort = cohort(unit_id, date_from, date_to)
    is_closed = requests.c.status == Status.CLOSED.value
    is_open = requests.c.status.in_(OPEN_STATUSES)
    by_request = (
        select(
            requests.c.grid_id,
            func.count().label("received"),
            func.sum(_flag(is_closed)).label("closed"),
            func.sum(_flag(and_(is_closed, ~requests.c.missed_deadline))).label("on_time"),
            func.sum(_flag(is_open)).label("open"),
            func.sum(_flag(and_(is_open, requests.c.overdue))).label("overdue"),
            func.sum(requests.c.escalations).label("escalations"),
        )
        .where(*in_cohort)
        .group_by(requests.c.grid_id)
    )
    by_review = (
        select(
            requests.c.grid_id,
            func.count().label("reached"),
            func.sum(_flag(reviews.c.satisfaction.in_(SATISFIED))).label("satisfied"),
        )
        .select_from(reviews.join(requests, reviews.c.request_id == requests.c.id))
        .where(reviews.c.reached, *in_cohort)
        .group_by(requests.c.grid_id)
    )
    with connected(bind) as conn:
        counted = list(conn.execute(by_request))
        reviewed = {row.grid_id: row for row in conn.execute(by_review)}
    result: dict[str, dict[str, Any]] = {}
    for row in counted:
        v = reviewed.get(row.grid_id)
        reached = int(v.reached) if v else 0
        satisfied = int(v.satisfied or 0) if v else 0
        received, closed, on_time = int(row.received), int(row.closed or 0), int(row.on_time or 0)
        result[row.grid_id] = {
            "received": received,
            "closed": closed,
            "open": int(row.open or 0),
            "overdue": int(row.overdue or 0),
            "escalations": int(row.escalations or 0),
            "reviews_reached": reached,
            "satisfied": satisfied,
            "completion_rate": _rate(closed, received),
            "on_time_rate": _rate(on_time, closed),
            "satisfaction_rate": _rate(satisfied, reached),
        }
    return result


def escalations_by_tier(
    bind: Bind,
    *,
    unit_id: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> dict[str, dict[str, int]]:
    """The cohort's escalations by the tier they left: ``{"1d": {"automatic": n,
    "manual": m}, "3d": ..., "5d": ...}`` (automatic: the tier's time ran out; manual: a
    handler pushed it up, 上报). Their sum is the ``escalations`` figure."""
    in_cohort = cohort(unit_id, date_from, date_to)
    entries = (
        select(
            timeline.c.data["from_tier"].as_string().label("from_tier"),
            timeline.c.data["automatic"].as_boolean().label("automatic"),
        )
        .select_from(timeline.join(requests, timeline.c.request_id == requests.c.id))
        .where(timeline.c.type == ESCALATED, *in_cohort)
        .subquery()
    )
    grouped = select(entries.c.from_tier, entries.c.automatic, func.count().label("n")).group_by(
        entries.c.from_tier, entries.c.automatic
    )
    result = {tier.value: {"automatic": 0, "manual": 0} for tier in LADDER[:-1]}
    with connected(bind) as conn:
        for from_tier, automatic, n in conn.execute(grouped):
            counts = result.setdefault(str(from_tier), {"automatic": 0, "manual": 0})
            counts["automatic" if automatic else "manual"] += int(n)
    return result


def projected_position(bind: Bind) -> int:
    """The last notification id the views have processed (0 before the first)."""
    with connected(bind) as conn:
        value = conn.execute(select(func.max(tracking_table.c.notification_id))).scalar()
    return int(value or 0)


def _check_aware(*values: datetime) -> None:
    for value in values:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"an aware datetime is needed, got {value!r}")


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 where ``condition`` holds, else 0."""
    return case((condition, 1), else_=0)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


#: The statuses the board's map shows unless asked for others: the open requests, those
#: waiting for dispatch too.
MAP_STATUSES = (Status.WAITING_DISPATCH.value, *OPEN_STATUSES)
#: The statuses the map may be asked for (a resolved request waits for its review).
MAP_STATUS_CHOICES = (*MAP_STATUSES, Status.RESOLVED.value)


def map_points(
    bind: Bind,
    *,
    statuses: Sequence[str] = MAP_STATUSES,
    within: Sequence[str] | None = None,
    dispatch_units: Sequence[str] | None = None,
    unit_id: str | None = None,
    tier: str | None = None,
    category: str | None = None,
    limit: int = 1000,
) -> dict[str, Any]:
    """The requests with a point (``lat``, ``long``) for the board's map, and how many
    match without one.

    ``within``: only the requests whose grid, community or town is one of these units (a
    handler's posts; None: all); ``dispatch_units``: only those whose community or town is
    one of these (a dispatcher's posts). Each point carries what the map shows and nothing
    of the resident: ``id``, ``lat``, ``long``, ``status``, ``tier``, ``level``, ``overdue``,
    ``warned``, ``category``, ``grid_id``, ``community_id``, ``town_id``, ``deadline``,
    ``updated_at``. Ordered as the board: soonest deadline first (waiting for dispatch
    last), then the most recently changed.
    """
    c = requests.c
    conditions: list[ColumnElement[bool]] = [c.status.in_([Status(s).value for s in statuses])]
    if within is not None:
        units = list(within)
        conditions.append(c.grid_id.in_(units) | c.community_id.in_(units) | c.town_id.in_(units))
    if dispatch_units is not None:
        units = list(dispatch_units)
        conditions.append(c.community_id.in_(units) | c.town_id.in_(units))
    if unit_id is not None:
        conditions.append(in_unit(unit_id))
    if tier is not None:
        conditions.append(c.tier == tier)
    if category is not None:
        conditions.append(c.category == category)
    placed = and_(c.lat.is_not(None), c.long.is_not(None))
    query = (
        select(
            c.id,
            c.lat,
            c.long,
            c.status,
            c.tier,
            c.level,
            c.overdue,
            c.warned,
            c.category,
            c.grid_id,
            c.community_id,
            c.town_id,
            c.deadline,
            c.updated_at,
        )  # fmt: skip
        .where(*conditions, placed)
        .order_by(
            case((c.deadline.is_(None), 1), else_=0),
            c.deadline,
            c.updated_at.desc(),
            c.id,
        )
        .limit(limit)
    )
    counts = select(
        func.count(),
        func.coalesce(func.sum(case((placed, 1), else_=0)), 0),
    ).where(*conditions)
    with connected(bind) as conn:
        items = [
            {
                "id": row.id,
                "lat": row.lat,
                "long": row.long,
                "status": row.status,
                "tier": row.tier,
                "level": row.level,
                "overdue": bool(row.overdue),
                "warned": bool(row.warned),
                "category": row.category,
                "grid_id": row.grid_id,
                "community_id": row.community_id,
                "town_id": row.town_id,
                "deadline": None if row.deadline is None else iso(row.deadline),
                "updated_at": iso(row.updated_at),
            }
            for row in conn.execute(query)
        ]
        matching, with_point = conn.execute(counts).one()
    return {
        "items": items,
        "total": int(with_point),
        "without_point": int(matching) - int(with_point),
    }
