"""Reading the posts' figures: a unit's or a handler's counts and rates for a period, the
league tables, the weekly trend, a worker's record (:mod:`domain.performance` defines
what is counted).

A period of whole months sums monthly rows: a unit's (``view_unit_counts``: one row a
month per grid, community and town) when no level or handler narrows the figures, else the
buckets by level, grid and handler (``view_post_counts``: a few thousand rows a month for a
whole city); any other span sums the stints' rows (``view_posts``) with the same counts
written in SQL (:data:`_ROW_COUNTS`; a test holds the three equal). Units are
territorial: a community's figures are every stint of the requests in it, at its grids'
posts and its own; ``level`` narrows them to one level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select

from domain.ladder import LEVEL_UNIT_KIND, Level, UnitKind
from domain.performance import (
    ENDED_MERGED,
    ENDED_REDIRECTED,
    ENDED_REOPENED,
    ENDED_RETURNED,
    ESCALATED_HAND,
    ESCALATED_MISSED,
    POST_COUNTS,
    RATES,
    THREE_RATES,
    Stint,
    rates,
)
from domain.periods import Period
from projections.tables import post_counts, posts, unit_counts

#: The composite metric of the league tables: the mean of the three rates (三率) that
#: have a value.
THREE = "three_rates"
METRICS: tuple[str, ...] = (THREE, *RATES)

_UNIT_COLUMN = {
    UnitKind.GRID: "grid_id",
    UnitKind.COMMUNITY: "community_id",
    UnitKind.TOWN: "town_id",
}


#: A merged stint counts for nothing (Stint.part): every count below leaves it out; a
#: followed one (a duplicate's stay at its primary's post) only its reviews.
_COUNTED_ROW = posts.c.ended != ENDED_MERGED


def _one_if(condition: ColumnElement[Any]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((and_(_COUNTED_ROW, condition), 1), else_=0)), 0)


def _sum_of(column: ColumnElement[Any]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((_COUNTED_ROW, column), else_=0)), 0)


def _true(column: ColumnElement[Any]) -> ColumnElement[bool]:
    return column.is_(True)


_resolved = posts.c.resolved_at.is_not(None)
#: Each of POST_COUNTS summed over stint rows: Stint.part() in SQL.
_ROW_COUNTS: dict[str, ColumnElement[int]] = {
    "assigned": _one_if(~_true(posts.c.followed)),
    "accepted": _one_if(posts.c.accepted_at.is_not(None)),
    "responded": _one_if(and_(posts.c.accepted_at.is_not(None), _true(posts.c.responded))),
    "resolved": _one_if(_resolved),
    "resolved_on_time": _one_if(and_(_resolved, _true(posts.c.on_time))),
    "resolved_kept": _one_if(and_(_resolved, posts.c.ended != ENDED_REOPENED)),
    "reopened": _one_if(and_(_resolved, posts.c.ended == ENDED_REOPENED)),
    "escalated_missed": _one_if(posts.c.ended == ESCALATED_MISSED),
    "escalated_hand": _one_if(posts.c.ended == ESCALATED_HAND),
    "overdue": _one_if(_true(posts.c.overdue)),
    "returned": _one_if(posts.c.ended == ENDED_RETURNED),
    "redirected": _one_if(posts.c.ended == ENDED_REDIRECTED),
    "urged": _sum_of(posts.c.urges),
    "reviews_reached": _sum_of(posts.c.reviews_reached),
    "reviews_satisfied": _sum_of(posts.c.reviews_satisfied),
    "requests_reviewed": _one_if(_true(posts.c.final)),
    "requests_satisfied": _one_if(and_(_true(posts.c.final), _true(posts.c.last_satisfied))),
}
assert tuple(_ROW_COUNTS) == POST_COUNTS


@dataclass(frozen=True)
class Post:
    """A handler's post: a level on a unit (the roster's assignment)."""

    level: str
    unit_id: str


def _post_condition(table: Any, post: Post) -> ColumnElement[bool]:
    """The untouched stints of ``post`` (handler "") in ``table``'s rows."""
    kind = LEVEL_UNIT_KIND[Level(post.level)]
    return and_(
        table.c.level == post.level,
        table.c[_UNIT_COLUMN[kind]] == post.unit_id,
        table.c.handler == "",
    )


@dataclass(frozen=True)
class Scope:
    """Whose stints a figure counts: those of a unit (``kind`` and ``unit_id``: every
    stint of the requests in it), of a ``level``, of a ``handler`` (the stints they
    accepted, and the untouched ones at the posts they hold, ``posts_held``); what is None
    does not narrow. ``Scope()`` counts everything."""

    kind: UnitKind | None = None
    unit_id: str | None = None
    level: str | None = None
    handler: str | None = None
    posts_held: tuple[Post, ...] = ()

    @classmethod
    def of_unit(cls, unit: Any | None, level: str | None = None) -> Scope:
        """A roster unit's stints (``unit``: anything with ``kind`` and ``id``), or every
        stint when ``unit`` is None."""
        if unit is None:
            return cls(level=level)
        return cls(kind=unit.kind, unit_id=unit.id, level=level)

    @classmethod
    def of_worker(cls, username: str, posts_held: Iterable[Post]) -> Scope:
        """A worker's record: the stints they accepted and their posts' untouched ones."""
        return cls(handler=username, posts_held=tuple(posts_held))

    def conditions(self, table: Any, period: Period | None) -> list[ColumnElement[bool]]:
        """The scope and ``period`` as conditions on ``table``'s rows (the stints or the
        monthly buckets)."""
        conditions: list[ColumnElement[bool]] = []
        if table is unit_counts:
            assert period is not None and period.months is not None
            assert self.level is None and self.handler is None
            conditions.append(unit_counts.c.month.in_(period.months))
            if self.kind is not None and self.unit_id is not None:
                conditions += [
                    unit_counts.c.kind == self.kind.value,
                    unit_counts.c.unit_id == self.unit_id,
                ]
            else:  # everything: every town's rows (each stint is in one town)
                conditions.append(unit_counts.c.kind == UnitKind.TOWN.value)
            return conditions
        if period is not None:
            if table is post_counts:
                assert period.months is not None
                conditions.append(post_counts.c.month.in_(period.months))
            else:
                conditions += [posts.c.started_at >= period.start, posts.c.started_at < period.end]
        if self.kind is not None and self.unit_id is not None:
            conditions.append(table.c[_UNIT_COLUMN[self.kind]] == self.unit_id)
        if self.level is not None:
            conditions.append(table.c.level == self.level)
        if self.handler is not None:
            mine = table.c.handler == self.handler
            if self.posts_held:
                mine = or_(mine, *(_post_condition(table, p) for p in self.posts_held))
            conditions.append(mine)
        return conditions

    def table(self, period: Period, *, by_rows: bool = False) -> Any:
        """The table that answers for this scope over ``period`` with the fewest rows: the
        units' monthly rows, the monthly buckets (a level, a handler), or the stints'
        rows (a span that is not whole months, or ``by_rows``)."""
        if period.months is None or by_rows:
            return posts
        if self.level is None and self.handler is None:
            return unit_counts
        return post_counts

    def where_sets(self, table: Any, period: Period) -> list[list[ColumnElement[bool]]]:
        """:meth:`conditions` as one or more disjoint sets: over the stints' rows, a
        handler's own stints and each post's untouched ones are asked apart, so that each
        query walks one index ((handler, started_at), (grid_id, started_at) ...) instead
        of every stint of the period."""
        if table is not posts or self.handler is None or not self.posts_held:
            return [self.conditions(table, period)]
        base = Scope(self.kind, self.unit_id, self.level).conditions(table, period)
        return [base + [posts.c.handler == self.handler]] + [
            base + [_post_condition(posts, post)] for post in dict.fromkeys(self.posts_held)
        ]


#: Every stint.
EVERYTHING = Scope()


_SIZE = len(POST_COUNTS)


def _counted(row: Any) -> dict[str, int]:
    """The counts of a row whose last columns are :func:`_sums`'s."""
    return dict(zip(POST_COUNTS, map(int, row[len(row) - _SIZE :]), strict=True))


@cache
def _sums(table: Any) -> tuple[ColumnElement[Any], ...]:
    """Each count summed over ``table``'s rows (made once per table: building the
    expressions costs more than a small query)."""
    if table is not posts:
        return tuple(func.coalesce(func.sum(table.c[name]), 0).label(name) for name in POST_COUNTS)
    return tuple(_ROW_COUNTS[name].label(name) for name in POST_COUNTS)


def counts(
    conn: Connection, period: Period, scope: Scope = EVERYTHING, *, by_rows: bool = False
) -> dict[str, int]:
    """The counts of the stints of ``scope`` begun in ``period``; ``by_rows`` sums the
    stints' rows even for whole months (tests compare the two)."""
    table = scope.table(period, by_rows=by_rows)
    total = dict.fromkeys(POST_COUNTS, 0)
    for where in scope.where_sets(table, period):
        row = conn.execute(select(*_sums(table)).where(*where)).one()
        for name, value in _counted(row).items():
            total[name] += value
    return total


def counts_by_unit(
    conn: Connection, period: Period, kind: UnitKind, *, level: str | None = None
) -> dict[str, dict[str, int]]:
    """The counts of every unit of ``kind`` that has stints in ``period``."""
    scope = Scope(level=level)
    table = scope.table(period)
    if table is unit_counts:
        query = (
            select(unit_counts.c.unit_id.label("unit"), *_sums(unit_counts))
            .where(unit_counts.c.month.in_(period.months or ()), unit_counts.c.kind == kind.value)
            .group_by(unit_counts.c.unit_id)
        )
    else:
        column = table.c[_UNIT_COLUMN[kind]]
        query = (
            select(column.label("unit"), *_sums(table))
            .where(*scope.conditions(table, period))
            .group_by(column)
        )
    return {row[0]: _counted(row) for row in conn.execute(query)}


def counts_by_handler(
    conn: Connection, period: Period, handlers: Iterable[str], *, level: str | None = None
) -> dict[str, dict[str, int]]:
    """The counts of the stints each of ``handlers`` accepted in ``period``."""
    wanted = sorted(set(handlers))
    table = post_counts if period.months is not None else posts
    query = (
        select(table.c.handler.label("handler"), *_sums(table))
        .where(*Scope(level=level).conditions(table, period))
        .where(table.c.handler.in_(wanted))
        .group_by(table.c.handler)
    )
    found = {row[0]: _counted(row) for row in conn.execute(query)}
    return {h: found.get(h, dict.fromkeys(POST_COUNTS, 0)) for h in wanted}


def untouched_by_post(
    conn: Connection, period: Period, wanted: Iterable[Post] | None = None
) -> dict[Post, dict[str, int]]:
    """The counts of the stints nobody accepted in ``period``, by post (level, unit): of
    every post, or of the ``wanted`` ones only (a post without such stints is left out)."""
    table = post_counts if period.months is not None else posts
    only: list[ColumnElement[bool]] = []
    if wanted is not None:
        units_by_level: dict[str, set[str]] = {}
        for post in wanted:
            units_by_level.setdefault(post.level, set()).add(post.unit_id)
        if not units_by_level:
            return {}
        only.append(
            or_(
                *(
                    and_(
                        table.c.level == level,
                        table.c[_UNIT_COLUMN[LEVEL_UNIT_KIND[Level(level)]]].in_(sorted(ids)),
                    )
                    for level, ids in sorted(units_by_level.items())
                )
            )
        )
    query = (
        select(
            table.c.level,
            table.c.grid_id,
            table.c.community_id,
            table.c.town_id,
            *_sums(table),
        )
        .where(*EVERYTHING.conditions(table, period), *only)
        .where(table.c.handler == "")
        .group_by(table.c.level, table.c.grid_id, table.c.community_id, table.c.town_id)
    )
    out: dict[Post, dict[str, int]] = {}
    for row in conn.execute(query):
        kind = LEVEL_UNIT_KIND[Level(row.level)]
        post = Post(row.level, row._mapping[_UNIT_COLUMN[kind]])
        total = out.setdefault(post, dict.fromkeys(POST_COUNTS, 0))
        for name, value in _counted(row).items():
            total[name] += value
    return out


def worker_counts(
    conn: Connection, period: Period, workers: dict[str, Sequence[Post]]
) -> dict[str, dict[str, int]]:
    """Every worker's counts in two queries: the stints they accepted, and the untouched
    stints at the posts they hold (what :func:`counts` gives one worker with
    ``posts_held``)."""
    mine = counts_by_handler(conn, period, workers)
    untouched = untouched_by_post(conn, period, {p for held in workers.values() for p in held})
    out = {}
    for username, held in workers.items():
        total = dict(mine[username])
        for post in set(held):
            for name, value in untouched.get(post, {}).items():
                total[name] += value
        out[username] = total
    return out


def resolve_hours(conn: Connection, period: Period, scope: Scope = EVERYTHING) -> dict[str, Any]:
    """The median and 90th percentile of the hours from reaching a post to resolving
    there, over the stints of ``scope`` resolved that began in ``period``."""
    hours: list[float] = []
    for where in scope.where_sets(posts, period):
        query = select(posts.c.started_at, posts.c.resolved_at).where(
            posts.c.resolved_at.is_not(None), *where
        )
        hours += (
            (resolved - started).total_seconds() / 3600.0
            for started, resolved in conn.execute(query)
        )
    hours.sort()
    return {
        "count": len(hours),
        "p50": _percentile(hours, 0.5),
        "p90": _percentile(hours, 0.9),
    }


def _percentile(ordered: list[float], share: float) -> float | None:
    """Nearest-rank percentile, in hours to the hundredth; None without values."""
    if not ordered:
        return None
    index = max(0, min(len(ordered) - 1, -(-int(share * 1000) * len(ordered) // 1000) - 1))
    return round(ordered[index], 2)


def present(counts_: dict[str, int]) -> dict[str, Any]:
    """Counts with every rate, each with its numerator and denominator."""
    out_rates = rates(counts_)
    return {"counts": dict(counts_), "rates": out_rates, THREE: metric_value(out_rates, THREE)}


def metric_value(out_rates: dict[str, dict[str, Any]], metric: str) -> float | None:
    """A rate's value, or for ``three_rates`` the mean of those of the three that have a
    value (a month without reviews yet is ranked by the other two); None without any."""
    if metric != THREE:
        value = out_rates[metric]["value"]
        return None if value is None else float(value)
    values = [v for v in (out_rates[name]["value"] for name in THREE_RATES) if v is not None]
    if not values:
        return None
    return round(float(sum(values)) / len(values), 4)


def value_of(counted: dict[str, int], metric: str) -> float | None:
    """``metric_value(rates(counted), metric)`` straight from the counts (no rate dicts
    made: a league table asks it of every unit, twice)."""
    names = THREE_RATES if metric == THREE else (metric,)
    values = []
    for name in names:
        top, bottom = RATES[name]
        denominator = counted.get(bottom, 0)
        if denominator:
            values.append(round(counted.get(top, 0) / denominator, 4))
    if not values:
        return None
    if metric != THREE:
        return float(values[0])
    return round(float(sum(values)) / len(values), 4)


def ranks(table: dict[str, dict[str, int]], metric: str) -> dict[str, int]:
    """Each unit's rank by ``metric`` (1224: equal values share a rank); units without a
    value are left out."""
    return _ranks_of({unit: value_of(counted, metric) for unit, counted in table.items()})


def _ranks_of(values: dict[str, float | None]) -> dict[str, int]:
    valued = {unit: value for unit, value in values.items() if value is not None}
    first: dict[float, int] = {}
    for i, value in enumerate(sorted(valued.values(), reverse=True)):
        first.setdefault(value, i + 1)
    return {unit: first[value] for unit, value in valued.items()}


def rate_definitions() -> dict[str, dict[str, str]]:
    """Each rate's numerator and denominator counts, given once beside a league table."""
    return {
        name: {"numerator": top, "denominator": bottom} for name, (top, bottom) in RATES.items()
    }


_RATE_PAIRS = tuple(RATES.items())


def _rate_cells(counted: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Each rate as a league table row gives it: ``value``, ``numerator``, ``denominator``
    (:func:`domain.performance.rates` without the counts' names)."""
    out = {}
    for name, (top, bottom) in _RATE_PAIRS:
        numerator, denominator = counted.get(top, 0), counted.get(bottom, 0)
        out[name] = {
            "value": round(numerator / denominator, 4) if denominator else None,
            "numerator": numerator,
            "denominator": denominator,
        }
    return out


def ranked(
    units: Sequence[dict[str, Any]],
    now: dict[str, dict[str, int]],
    before: dict[str, dict[str, int]],
    metric: str,
    floors: dict[str, float],
) -> list[dict[str, Any]]:
    """League table rows: each unit (``id``, ``name``, ``parent_id``) with its counts,
    rates (``value``, ``numerator``, ``denominator``: :func:`rate_definitions` names the
    counts), the metric, its rank (1224: equal values share a rank; units without a value
    come last, unranked), the rates below their floors, and its rank in the period before.
    """
    zero = dict.fromkeys(POST_COUNTS, 0)
    values = {unit: value_of(counted, metric) for unit, counted in now.items()}
    now_ranks, previous = _ranks_of(values), ranks(before, metric)
    rows = []
    for unit in units:
        counted = now.get(unit["id"], zero)
        full = _rate_cells(counted)
        value = values.get(unit["id"])  # None without stints: no rate has a denominator
        three = value if metric == THREE else value_of(counted, THREE)
        below = [
            name
            for name, floor in floors.items()
            if full[name]["value"] is not None and full[name]["value"] < floor
        ]
        rank, was = now_ranks.get(unit["id"]), previous.get(unit["id"])
        rows.append(
            {
                "rank": rank,
                "unit_id": unit["id"],
                "name": unit["name"],
                "parent_id": unit.get("parent_id"),
                "value": value,
                "counts": counted,
                "rates": full,
                THREE: three,
                "below_floor": below,
                "flagged": bool(below),
                "previous_rank": was,
                # up is positive: from 5th to 3rd is +2; None without both ranks
                "rank_change": None if rank is None or was is None else was - rank,
            }
        )
    rows.sort(
        key=lambda r: (r["rank"] is None, r["rank"] or 0, -r["counts"]["assigned"], r["name"])
    )
    return rows


def weekly(
    conn: Connection, weeks: Sequence[tuple[Any, datetime, datetime]], scope: Scope = EVERYTHING
) -> list[dict[str, Any]]:
    """The three rates of the stints of ``scope`` begun in each week (Monday, start, end)."""
    out = []
    for monday, start, end in weeks:
        period = Period(monday.isoformat(), start, end, None)
        shown = present(counts(conn, period, scope))
        out.append(
            {
                "week": monday.isoformat(),
                "assigned": shown["counts"]["assigned"],
                **{name: shown["rates"][name]["value"] for name in THREE_RATES},
            }
        )
    return out


def stints_behind(
    conn: Connection, period: Period, scope: Scope, *, limit: int = 500
) -> list[dict[str, Any]]:
    """The stints behind ``scope``'s counts (a worker's record), newest first, at most
    ``limit``; each says what it counts for (``counts``)."""
    rows: list[Any] = []
    for where in scope.where_sets(posts, period):
        query = (
            select(posts)
            .where(*where)
            .order_by(posts.c.started_at.desc(), posts.c.request_id, posts.c.seq)
            .limit(limit)
        )
        rows += (row._mapping for row in conn.execute(query))
    rows.sort(key=lambda m: (-m["started_at"].timestamp(), m["request_id"], m["seq"]))
    return [_stint_view(m) for m in rows[:limit]]


def _stint_view(m: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    part = Stint.from_row(m).part()

    return {
        "request_id": m["request_id"],
        "seq": m["seq"],
        "level": m["level"],
        "unit_id": m["unit_id"],
        "grid_id": m["grid_id"],
        "category": m["category"],
        "handler": m["handler"],
        "started_at": iso(m["started_at"]),
        "accepted_at": iso(m["accepted_at"]),
        "responded": bool(m["responded"]),
        "resolved_at": iso(m["resolved_at"]),
        "on_time": bool(m["on_time"]),
        "ended": m["ended"] or None,
        "ended_at": iso(m["ended_at"]),
        "urges": m["urges"],
        "reviews_reached": m["reviews_reached"],
        "reviews_satisfied": m["reviews_satisfied"],
        # what it counts for, as the figures count it (its non-zero counts)
        "counts": {name: value for name, value in zip(POST_COUNTS, part, strict=True) if value},
    }
