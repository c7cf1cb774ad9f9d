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
Everything is counted by SQL aggregates: two queries whatever the cohort's size.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select

from domain.ladder import LADDER
from domain.lifecycle import Status
from domain.review import DIMENSIONS, Answer, is_satisfied
from projections.reading import OPEN_STATUSES, Bind, connected, in_unit
from projections.tables import requests, reviews

#: The satisfaction answers that count as satisfied, as the domain decides.
SATISFIED = tuple(answer.value for answer in Answer if is_satisfied(answer.value))


def stats(
    bind: Bind,
    *,
    unit_id: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> dict[str, Any]:
    """The figures for the requests received in ``[date_from, date_to)`` under ``unit_id``.

    The dates must be aware datetimes. See the module's docstring for what each counts.
    """
    cohort = _cohort(unit_id, date_from, date_to)
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
    ).where(*cohort)
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
        .where(reviews.c.reached, *cohort)
    )
    with connected(bind) as conn:
        r = conn.execute(by_request).one()._mapping
        v = conn.execute(by_review).one()._mapping
    return {
        "received": r["received"],
        "closed": r["closed"],
        "completion_rate": _rate(r["closed"], r["received"]),
        "on_time_rate": _rate(r["closed_on_time"], r["closed"]),
        "reviews_reached": v["reached"],
        "satisfied": v["satisfied"],
        "satisfaction_rate": _rate(v["satisfied"], v["reached"]),
        "dimensions": {
            dimension: {answer.value: v[f"{dimension}_{answer.value}"] for answer in Answer}
            for dimension in DIMENSIONS
        },
        "escalations": int(r["escalations"]),
        "open_by_tier": {tier.value: r[f"open_{tier.value}"] for tier in LADDER},
        "overdue": r["overdue"],
    }


def _cohort(
    unit_id: str | None, date_from: datetime | None, date_to: datetime | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise ValueError(f"{name} must be an aware datetime, got {value!r}")
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
