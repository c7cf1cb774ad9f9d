"""The figures people watch (办结率, 满意率 and the rest): what each one counts.

The cohort is the requests *received* (filed, at the time they were filed) in
``[date_from, date_to)`` under ``unit_id`` (their town, community or grid; None: all).
Each figure counts the cohort as it stands now:

``received``
    the size of the cohort.
``closed``
    cohort requests now closed, including those closed as unreachable.
``completion_rate`` (办结率)
    closed / received.
``on_time_rate``
    closed requests that never missed a deadline / closed. A request missed a deadline
    when it was escalated automatically (its tier's time ran out), was marked overdue at
    the top tier, or was resolved after its deadline; a handler's own escalation (上报)
    is not a miss.
``reviews_reached``
    follow-up reviews of cohort requests in which the resident was reached. Every reached
    review counts: a request reopened and reviewed again counts twice.
``satisfied``
    reached reviews whose satisfaction answer is yes or partly
    (:func:`domain.review.is_satisfied`).
``satisfaction_rate`` (满意率)
    satisfied / reviews_reached.
``dimensions``
    for each of the four dimensions (completion, progress, effect, satisfaction), how
    many reached reviews answered yes, partly and no.
``escalations``
    all escalations of cohort requests, automatic and by handlers.
``open_by_tier``
    cohort requests open now (assigned or in progress), by their current tier.
``overdue``
    cohort requests open now and marked overdue (past the 1-month deadline at the top).

Rates are fractions rounded to 4 decimals, or None when their denominator is 0.
Whole days are summed from counts the projection keeps per unit and day
(:mod:`projections.figures`), so a year costs 365 rows whatever the cohort's size; the
part days at a period's ends are counted from the rows by SQL aggregates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, select

from domain.ladder import LADDER
from domain.lifecycle import Status
from domain.review import DIMENSIONS, Answer, is_satisfied
from projections.figures import ALL
from projections.reading import OPEN_STATUSES, Bind, connected, in_unit
from projections.tables import FIGURE_COUNTS, figures, requests, reviews

#: The satisfaction answers that count as satisfied, as the domain decides.
SATISFIED = tuple(answer.value for answer in Answer if is_satisfied(answer.value))
ONE_DAY = timedelta(days=1)


def stats(
    bind: Bind,
    *,
    unit_id: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> dict[str, Any]:
    """The figures for the requests received in ``[date_from, date_to)`` under ``unit_id``.

    The dates must be aware datetimes. See the module's docstring for what each counts.
    Whole days (UTC) of the period are summed from the counts the projection keeps
    (:mod:`projections.figures`); the part days at its ends, and grids, are counted from
    the rows.
    """
    _check_dates(date_from, date_to)
    first, last = _whole_days(date_from, date_to)
    with connected(bind) as conn:
        if (first is not None and last is not None and first >= last) or not _kept(conn, unit_id):
            # no whole day, or a unit without kept counts (a grid): from the rows
            counts = _count_rows(conn, unit_id, date_from, date_to)
        else:
            counts = _sum_days(conn, unit_id, first, last)
            if first is not None and date_from is not None and date_from < _midnight(first):
                counts = _plus(counts, _count_rows(conn, unit_id, date_from, _midnight(first)))
            if last is not None and date_to is not None and _midnight(last) < date_to:
                counts = _plus(counts, _count_rows(conn, unit_id, _midnight(last), date_to))
    return _present(counts)


def _kept(conn: Connection, unit_id: str | None) -> bool:
    """Whether the projection keeps counts for the unit (towns and communities that have
    requests, and all)."""
    if unit_id is None:
        return True
    here = select(figures.c.unit_id).where(figures.c.unit_id == unit_id).limit(1)
    return conn.execute(here).first() is not None


def _whole_days(
    date_from: datetime | None, date_to: datetime | None
) -> tuple[date | None, date | None]:
    """The days (UTC) wholly inside the period: ``[first, last)``, None where unbounded."""
    first = None
    if date_from is not None:
        start = date_from.astimezone(UTC)
        first = start.date() if start == _midnight(start.date()) else start.date() + ONE_DAY
    last = None if date_to is None else date_to.astimezone(UTC).date()
    return first, last


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _sum_days(
    conn: Connection, unit_id: str | None, first: date | None, last: date | None
) -> dict[str, int]:
    query = select(*(func.coalesce(func.sum(figures.c[n]), 0).label(n) for n in FIGURE_COUNTS))
    query = query.where(figures.c.unit_id == (ALL if unit_id is None else unit_id))
    if first is not None:
        query = query.where(figures.c.day >= first)
    if last is not None:
        query = query.where(figures.c.day < last)
    row = conn.execute(query).one()._mapping
    return {name: int(row[name]) for name in FIGURE_COUNTS}


def _plus(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {name: a[name] + b[name] for name in FIGURE_COUNTS}


def _count_rows(
    conn: Connection,
    unit_id: str | None,
    date_from: datetime | None,
    date_to: datetime | None,
) -> dict[str, int]:
    """The counts of a cohort from the request and review rows (SQL aggregates)."""
    in_cohort = cohort(unit_id, date_from, date_to)
    is_open = requests.c.status.in_(OPEN_STATUSES)
    is_closed = requests.c.status == Status.CLOSED.value
    by_request = select(
        func.count().label("received"),
        _count_if(is_closed).label("closed"),
        _count_if(and_(is_closed, ~requests.c.missed_deadline)).label("closed_on_time"),
        func.coalesce(func.sum(requests.c.escalations), 0).label("escalations"),
        _count_if(and_(is_open, requests.c.overdue)).label("overdue"),
        *(
            _count_if(and_(is_open, requests.c.tier == tier.value)).label(f"open_{tier.value}")
            for tier in LADDER
        ),
    ).where(*in_cohort)
    by_review = (
        select(
            func.count().label("reached"),
            _count_if(reviews.c.satisfaction.in_(SATISFIED)).label("satisfied"),
            *(
                _count_if(reviews.c[dimension] == answer.value).label(f"{dimension}_{answer.value}")
                for dimension in DIMENSIONS
                for answer in Answer
            ),
        )
        .select_from(reviews.join(requests, reviews.c.request_id == requests.c.id))
        .where(reviews.c.reached, *in_cohort)
    )
    r = conn.execute(by_request).one()._mapping
    v = conn.execute(by_review).one()._mapping
    return {name: int(r[name] if name in r else v[name]) for name in FIGURE_COUNTS}


def _present(c: dict[str, int]) -> dict[str, Any]:
    return {
        "received": c["received"],
        "closed": c["closed"],
        "completion_rate": _rate(c["closed"], c["received"]),
        "on_time_rate": _rate(c["closed_on_time"], c["closed"]),
        "reviews_reached": c["reached"],
        "satisfied": c["satisfied"],
        "satisfaction_rate": _rate(c["satisfied"], c["reached"]),
        "dimensions": {
            dimension: {answer.value: c[f"{dimension}_{answer.value}"] for answer in Answer}
            for dimension in DIMENSIONS
        },
        "escalations": c["escalations"],
        "open_by_tier": {tier.value: c[f"open_{tier.value}"] for tier in LADDER},
        "overdue": c["overdue"],
    }


def _check_dates(date_from: datetime | None, date_to: datetime | None) -> None:
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def cohort(
    unit_id: str | None, date_from: datetime | None, date_to: datetime | None
) -> list[ColumnElement[bool]]:
    """The conditions on request rows for the cohort (see the module's docstring)."""
    _check_dates(date_from, date_to)
    conditions: list[ColumnElement[bool]] = []
    if unit_id is not None:
        conditions.append(in_unit(unit_id))
    if date_from is not None:
        conditions.append(requests.c.created_at >= date_from)
    if date_to is not None:
        conditions.append(requests.c.created_at < date_to)
    return conditions


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows meet ``condition`` (0, not NULL, over no rows)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
