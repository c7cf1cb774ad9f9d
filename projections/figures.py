"""The figures, counted ahead: each unit's and day's counts, kept by the projection.

``GET /stats`` over a town's year, or the whole city's history, would otherwise aggregate
every request row of the cohort (seconds at a million requests). The projection keeps,
for every day (UTC) and every community and town a request lies in (and ``*`` for all;
grids are counted from the rows, see :func:`units_of`), the counts
:mod:`projections.stats` reports, for the requests received that day as they stand now.
Each batch adds what its requests' changes moved, in the same transaction as their rows,
so the counts never disagree with the rows.

A request's part is a vector of counts (:func:`request_part`, :func:`review_part`):
when a request moves, the difference between its part before and after is added to its
three buckets. :func:`refill` counts the table again from the rows (a migration, tests).

The street-office operations' counts come from the request row's own columns: the
returns, redirects, urges, warnings (``Warned`` events), extensions asked and approved of
its whole life (the domain's state keeps only the current tier's warning and approvals),
its closing outcome (``out_of_scope``, ``unreachable``) and whether it was ever
dispatched (``dispatch_wait_seconds`` is not NULL).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, inspect, select

from domain.ladder import LADDER
from domain.lifecycle import Status
from domain.review import DIMENSIONS, Answer, Outcome, is_satisfied
from domain.state import OUT_OF_SCOPE, SOURCE_RESIDENT
from projections.bulk import adding
from projections.reading import OPEN_STATUSES
from projections.tables import FIGURE_COUNTS, figures, requests, reviews

#: The unit id of the buckets that count every request.
ALL = "*"

Part = tuple[int, ...]
ZERO: Part = (0,) * len(FIGURE_COUNTS)
_SIZE = len(FIGURE_COUNTS)

_AT = {name: i for i, name in enumerate(FIGURE_COUNTS)}
_OPEN = frozenset(OPEN_STATUSES)
_OPEN_AT = {tier.value: _AT[f"open_{tier.value}"] for tier in LADDER}
_SATISFIED = {answer.value for answer in Answer if is_satisfied(answer.value)}


_UNREACHABLE = Outcome.UNREACHABLE.value
_CLOSED = Status.CLOSED.value
_RETURNED = _AT["returned"]
_REDIRECTED = _AT["redirected"]
_WARNED = _AT["warned"]
_URGED = _AT["urged"]
_ASKED = _AT["extensions_asked"]
_APPROVED = _AT["extensions_approved"]
_MERGED = _AT["merged"]


def request_part(
    status: str,
    tier: str,
    overdue: bool,
    escalations: int,
    missed_deadline: bool,
    closed_outcome: str | None = None,
    returns: int = 0,
    redirects: int = 0,
    warnings: int = 0,
    urges: int = 0,
    extensions_asked: int = 0,
    extensions_granted: int = 0,
    dispatched: bool = False,
    merged: bool = False,
) -> Part:
    """What one request counts for, beside its reviews (the arguments are its row's
    columns; ``dispatched``: ``dispatch_wait_seconds`` is not NULL; ``merged``:
    ``merged_into`` is not NULL). A request merged into another counts as merged only:
    the work (received, closed, on time, ...) is counted once, as its primary's, while
    its resident's reviews count on their own."""
    part = [0] * len(FIGURE_COUNTS)
    if merged:
        part[_MERGED] = 1
        return tuple(part)
    part[_AT["received"]] = 1
    if status == _CLOSED:
        part[_AT["closed"]] = 1
        if not missed_deadline:
            part[_AT["closed_on_time"]] = 1
        if closed_outcome == OUT_OF_SCOPE:
            part[_AT["out_of_scope"]] = 1
        elif closed_outcome == _UNREACHABLE:
            part[_AT["closed_unreached"]] = 1
    part[_AT["escalations"]] = escalations
    if status in _OPEN:
        part[_OPEN_AT[tier]] = 1
        if overdue:
            part[_AT["overdue"]] = 1
    part[_RETURNED] = returns
    part[_REDIRECTED] = redirects
    part[_WARNED] = warnings
    part[_URGED] = urges
    part[_ASKED] = extensions_asked
    part[_APPROVED] = extensions_granted
    if dispatched:
        part[_AT["dispatched"]] = 1
    return tuple(part)


def review_part(answers: Mapping[str, Any]) -> Part:
    """What one review counts for: nothing unless the resident was reached."""
    if not answers["reached"]:
        return ZERO
    part = [0] * len(FIGURE_COUNTS)
    part[_AT["reached"]] = 1
    if answers["satisfaction"] in _SATISFIED:
        part[_AT["satisfied"]] = 1
    if answers.get("source") == SOURCE_RESIDENT:
        part[_AT["self_reviews"]] = 1
    for dimension in DIMENSIONS:
        answer = answers[dimension]
        if answer is not None:
            part[_AT[f"{dimension}_{answer}"]] += 1
    return tuple(part)


def units_of(community_id: str, town_id: str) -> tuple[str, ...]:
    """The buckets a request counts in: its community's, its town's and the whole's.

    Not its grid's: a grid's requests are few enough to count from the rows, and grids
    outnumber the other units (most of a batch's buckets would be theirs).
    """
    return (community_id, town_id, ALL)


class Tally:
    """Differences gathered over a batch, by (unit, day), written with :meth:`write`."""

    def __init__(self) -> None:
        self.buckets: dict[tuple[str, date], list[int]] = {}

    def add(self, units: Iterable[str], created_at: datetime, difference: Part) -> None:
        self._add(units, created_at, [(i, value) for i, value in enumerate(difference) if value])

    def move(self, units: Iterable[str], created_at: datetime, before: Part, after: Part) -> None:
        if before != after:
            changes = [
                (i, a - b) for i, (a, b) in enumerate(zip(after, before, strict=True)) if a != b
            ]
            self._add(units, created_at, changes)

    def _add(
        self, units: Iterable[str], created_at: datetime, changes: list[tuple[int, int]]
    ) -> None:
        """Add ``changes`` (the counts' positions and differences, the others 0)."""
        if not changes:
            return
        day = created_at.astimezone(UTC).date()
        for unit in units:
            bucket = self.buckets.get((unit, day))
            if bucket is None:
                bucket = self.buckets[(unit, day)] = [0] * _SIZE
            for i, value in changes:
                bucket[i] += value

    def write(self, conn: Connection) -> None:
        """Add the differences to the table (rows are made where missing)."""
        rows = [
            {"unit_id": unit, "day": day, **dict(zip(FIGURE_COUNTS, counts, strict=True))}
            for (unit, day), counts in sorted(self.buckets.items())
            if any(counts)
        ]
        if not rows:
            return
        conn.execute(adding(figures, conn.dialect.name, FIGURE_COUNTS), rows)


def refill(conn: Connection, chunk: int = 50_000) -> int:
    """Count the figures again from the request and review rows; returns the buckets."""
    tally = Tally()
    places: dict[str, tuple[tuple[str, ...], datetime]] = {}
    # A migration before the one that added a column calls this too: read and write the
    # columns the database has now (a later migration fills its own).
    inspector = inspect(conn)
    has_merged = "merged_into" in {c["name"] for c in inspector.get_columns(requests.name)}
    rows = conn.execute(
        select(
            requests.c.id,
            requests.c.community_id,
            requests.c.town_id,
            requests.c.created_at,
            requests.c.status,
            requests.c.tier,
            requests.c.overdue,
            requests.c.escalations,
            requests.c.missed_deadline,
            requests.c.closed_outcome,
            requests.c.returns,
            requests.c.redirects,
            requests.c.warnings,
            requests.c.urges,
            requests.c.extensions_asked,
            requests.c.extensions_granted,
            requests.c.dispatch_wait_seconds,
            *([requests.c.merged_into] if has_merged else []),
        ).execution_options(yield_per=chunk)
    )
    for r in rows:
        units = units_of(r.community_id, r.town_id)
        places[r.id] = (units, r.created_at)
        part = request_part(
            r.status,
            r.tier,
            r.overdue,
            r.escalations,
            r.missed_deadline,
            r.closed_outcome,
            r.returns,
            r.redirects,
            r.warnings,
            r.urges,
            r.extensions_asked,
            r.extensions_granted,
            r.dispatch_wait_seconds is not None,
            has_merged and r.merged_into is not None,
        )
        tally.add(units, r.created_at, part)
    has_source = "source" in {c["name"] for c in inspector.get_columns(reviews.name)}
    kept = {c["name"] for c in inspector.get_columns(figures.name)}
    answers = conn.execute(
        select(
            reviews.c.request_id,
            reviews.c.reached,
            *(reviews.c[d] for d in DIMENSIONS),
            *([reviews.c.source] if has_source else []),
        ).execution_options(yield_per=chunk)
    )
    for a in answers:
        units, created_at = places[a.request_id]
        tally.add(units, created_at, review_part(dict(a._mapping)))
    conn.execute(delete(figures))
    count = len(tally.buckets)
    rows_out = [
        {
            "unit_id": unit,
            "day": day,
            **{n: c for n, c in zip(FIGURE_COUNTS, counts, strict=True) if n in kept},
        }
        for (unit, day), counts in tally.buckets.items()
    ]
    for i in range(0, len(rows_out), chunk):
        conn.execute(insert(figures), rows_out[i : i + chunk])
    return count
