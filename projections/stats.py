"""The figures people watch (办结率, 满意率 and the rest): what each one counts.

The cohort is the requests *received* (filed, at the time they were filed) in
``[date_from, date_to)`` under ``unit_id`` (their town, community or grid; None: all).
Each figure counts the cohort as it stands now:

``received``
    the size of the cohort, without the requests merged into others (a duplicate is one
    piece of work with its primary: it counts in no work figure).
``merged``
    cohort requests merged into another one (合并). Their residents' reviews still count
    in ``reviews_reached``, ``satisfied`` and the dimensions: once per resident.
``closed``
    cohort requests now closed, including those closed as unreachable and those closed
    as out of scope.
``closed_unreached``
    cohort requests now closed as unreachable (three follow-up calls missed).
``out_of_scope``
    cohort requests now closed as out of scope (不予受理 / 无法办理; an appeal that
    reopened one takes it out of this count).
``closed_reached``
    closed - closed_unreached - out_of_scope: the requests closed after a follow-up that
    reached the resident.
``completion_rate`` (办结率), given two ways
    ``completion_rate`` is closed / received, every closure counted (what the published
    figures count); ``completion_rate_reached`` is closed_reached / received, only the
    loops closed with the resident reached (neither unreachable nor out of scope).
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
``returned``, ``redirected``
    all returns (退单: a level sent the request back for dispatch) and redirects (改派:
    moved to another grid at the same level) of cohort requests.
``extensions_asked``, ``extensions_approved``
    all extension asks (延期) of cohort requests, and those approved.
``urged``
    all urgings (催办) of cohort requests.
``warned``
    all warnings (预警: most of a tier's time gone) of cohort requests; a request warned
    in two tiers counts twice.
``reviews_by_source``, ``self_review_share``
    the reached reviews by where they came from: ``caller`` (a follow-up call) and
    ``resident`` (the resident's own review from the tracking link, 限时反馈); the share
    is resident / reviews_reached.
``dispatch_wait``
    over the cohort requests dispatched at least once (分解交办 by hand): ``count``, and
    the 50th and 90th percentiles (``p50_hours``, ``p90_hours``, linear between the
    nearest values, rounded to 2 decimals; None when none) of the time each waited for
    dispatch, from filing or return to dispatch, summed over its dispatches.

Rates are fractions rounded to 4 decimals, or None when their denominator is 0.
Whole days are summed from counts the projection keeps per unit and day
(:mod:`projections.figures`), so a year costs 365 rows whatever the cohort's size; the
part days at a period's ends are counted from the rows by SQL aggregates. The dispatch
wait is read from the rows of dispatched requests only (an index holds them, sorted).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, select

from domain.ladder import LADDER
from domain.lifecycle import Status
from domain.review import DIMENSIONS, Answer, Outcome, is_satisfied
from domain.state import OUT_OF_SCOPE, SOURCE_CALLER, SOURCE_RESIDENT
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
        waits = dispatch_waits(conn, unit_id, date_from, date_to)
    return {**_present(counts), "dispatch_wait": dispatch_wait(waits)}


def dispatch_waits(
    conn: Connection,
    unit_id: str | None,
    date_from: datetime | None,
    date_to: datetime | None,
) -> list[float]:
    """The dispatch waits (seconds) of the cohort's dispatched requests, smallest first."""
    wait = requests.c.dispatch_wait_seconds
    query = (
        select(wait).where(wait.is_not(None), *cohort(unit_id, date_from, date_to)).order_by(wait)
    )
    return [float(w) for w in conn.scalars(query)]


def dispatch_wait(waits: list[float]) -> dict[str, Any]:
    """``count``, ``p50_hours`` and ``p90_hours`` of sorted waits in seconds."""
    return {
        "count": len(waits),
        "p50_hours": _hours(_percentile(waits, 0.5)),
        "p90_hours": _hours(_percentile(waits, 0.9)),
    }


def _percentile(ordered: list[float], share: float) -> float | None:
    """Linear between the nearest ranks (PostgreSQL's percentile_cont)."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * share
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


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
    c = requests.c
    by_request = select(
        func.count().label("received"),
        _count_if(is_closed).label("closed"),
        _count_if(and_(is_closed, ~requests.c.missed_deadline)).label("closed_on_time"),
        _sum(c.escalations).label("escalations"),
        _count_if(and_(is_open, requests.c.overdue)).label("overdue"),
        *(
            _count_if(and_(is_open, requests.c.tier == tier.value)).label(f"open_{tier.value}")
            for tier in LADDER
        ),
        _sum(c.returns).label("returned"),
        _sum(c.redirects).label("redirected"),
        _sum(c.extensions_asked).label("extensions_asked"),
        _sum(c.extensions_granted).label("extensions_approved"),
        _sum(c.urges).label("urged"),
        _sum(c.warnings).label("warned"),
        _count_if(and_(is_closed, c.closed_outcome == OUT_OF_SCOPE)).label("out_of_scope"),
        _count_if(and_(is_closed, c.closed_outcome == Outcome.UNREACHABLE.value)).label(
            "closed_unreached"
        ),
        _count_if(c.dispatch_wait_seconds.is_not(None)).label("dispatched"),
    ).where(*in_cohort, c.merged_into.is_(None))
    # a request merged into another counts as merged, and in its reviews, only
    merged = select(func.count().label("merged")).where(*in_cohort, c.merged_into.is_not(None))
    by_review = (
        select(
            func.count().label("reached"),
            _count_if(reviews.c.satisfaction.in_(SATISFIED)).label("satisfied"),
            _count_if(reviews.c.source == SOURCE_RESIDENT).label("self_reviews"),
            *(
                _count_if(reviews.c[dimension] == answer.value).label(f"{dimension}_{answer.value}")
                for dimension in DIMENSIONS
                for answer in Answer
            ),
        )
        .select_from(reviews.join(requests, reviews.c.request_id == requests.c.id))
        .where(reviews.c.reached, *in_cohort)
    )
    r = {**conn.execute(by_request).one()._mapping, **conn.execute(merged).one()._mapping}
    v = conn.execute(by_review).one()._mapping
    return {name: int(r[name] if name in r else v[name]) for name in FIGURE_COUNTS}


def _present(c: dict[str, int]) -> dict[str, Any]:
    """The figures from the counts (all but ``dispatch_wait``)."""
    closed_reached = c["closed"] - c["closed_unreached"] - c["out_of_scope"]
    return {
        "received": c["received"],
        "merged": c["merged"],
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
        "returned": c["returned"],
        "redirected": c["redirected"],
        "extensions_asked": c["extensions_asked"],
        "extensions_approved": c["extensions_approved"],
        "urged": c["urged"],
        "warned": c["warned"],
        "out_of_scope": c["out_of_scope"],
        "closed_unreached": c["closed_unreached"],
        "closed_reached": closed_reached,
        "completion_rate_reached": _rate(closed_reached, c["received"]),
        "reviews_by_source": {
            SOURCE_CALLER: c["reached"] - c["self_reviews"],
            SOURCE_RESIDENT: c["self_reviews"],
        },
        "self_review_share": _rate(c["self_reviews"], c["reached"]),
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


def _sum(column: ColumnElement[int]) -> ColumnElement[int]:
    """The column's sum (0, not NULL, over no rows)."""
    return func.coalesce(func.sum(column), 0)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows meet ``condition`` (0, not NULL, over no rows)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
