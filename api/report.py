"""The monthly report (月度报告): one unit's figures for one local month, gathered in one
place for both of its forms, the Excel file (:mod:`api.report_xlsx`, ``GET
/api/v1/reports/monthly``) and the printable page (``/reports/monthly``, :mod:`web.report`).

What it holds, all for the month in ``CLOSELOOP_TIMEZONE`` and the unit (a town, a
community, a grid; none: the whole office):

- ``figures``: the posts' counts and every rate with its numerator and denominator, and
  the hours to resolve (what ``GET /performance?unit_id=&period=<month>`` answers);
- ``stats``: the figures of the requests received in the month (what ``GET /stats`` answers
  for the month's local start and end);
- ``grids``: every grid under the unit with its counts, rates and its place in the grids'
  league table of the month (what ``GET /rankings?level=grid&period=<month>`` answers);
- ``weeks``: the three rates week by week within the month (for the page's chart);
- ``requests``: the requests with a stay at a post begun in the month that was marked
  overdue or reopened by a review: their id, grid, category, status, deadline, escalations
  and reopens. Never a resident's name, phone or description: the report leaves the office.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, and_, case, func, or_, select

from api import roster
from api.errors import Refusal
from api.league import League, floors_of, league_table
from closeloop.settings import Settings
from domain.ladder import UnitKind
from domain.performance import ENDED_REOPENED
from domain.periods import Period, PeriodError, current_month, parse_period
from projections import performance as perf
from projections import queries
from projections.tables import posts, requests

#: The Excel file lists at most this many overdue and reopened requests (the page fewer).
LIST_LIMIT = 10_000

_UNIT_COLUMN = {
    UnitKind.GRID: posts.c.grid_id,
    UnitKind.COMMUNITY: posts.c.community_id,
    UnitKind.TOWN: posts.c.town_id,
}


def month_of(text: str | None, settings: Settings, now: datetime | None = None) -> Period:
    """The month ``YYYY-MM`` (this month when None); 422 ``bad_period`` on ``month`` when
    it is not a month (a quarter or a year is not one either)."""
    zone = ZoneInfo(settings.timezone)
    if text is None or not text.strip():
        return current_month(now or datetime.now(UTC), zone)
    try:
        period = parse_period(text, zone)
    except PeriodError as error:
        raise Refusal(422, "bad_period", str(error), field="month") from None
    if period.months is None or len(period.months) != 1:
        raise Refusal(
            422,
            "bad_period",
            f"{text.strip()[:40]!r} is not a month: the report is monthly, write 2026-11",
            field="month",
        )
    return period


def unit_of(engine: Engine | Connection, unit_id: str | None) -> roster.Unit | None:
    """The unit ``unit_id`` names (None: the whole office); 422 ``unknown_unit``."""
    if unit_id is None or not unit_id.strip():
        return None
    unit = roster.get_unit(unit_id, db=engine)
    if unit is None:
        raise Refusal(422, "unknown_unit", f"no unit has the id {unit_id[:40]!r}", field="unit_id")
    return unit


@dataclass(frozen=True)
class MonthlyReport:
    """A unit's month, as both forms of the report show it."""

    month: Period
    unit: roster.Unit | None
    made_at: datetime
    figures: dict[str, Any]  # perf.present(): counts, rates (with numerator, denominator)
    resolve_hours: dict[str, Any]  # count, p50, p90
    stats: dict[str, Any]  # projections.stats.stats() of the month's local start and end
    grids: list[dict[str, Any]]  # the league table's rows of the grids under the unit, in order
    league: League  # every grid's
    weeks: list[dict[str, Any]]  # week (its first day in the month), assigned, three rates
    requests: list[dict[str, Any]]  # overdue or reopened, oldest filed first
    requests_total: int  # how many there are (``requests`` may hold fewer)
    unit_names: dict[str, str]  # every unit's name by id (grids and communities named)

    @property
    def label(self) -> str:
        return self.month.label

    def name(self, unit_id: str | None) -> str:
        if unit_id is None:
            return ""
        return self.unit_names.get(unit_id, unit_id)


def _under(unit: roster.Unit | None, units: list[roster.Unit]) -> list[roster.Unit]:
    """The grids in ``unit`` (all of them for None), communities in their order."""
    grids = [u for u in units if u.kind is UnitKind.GRID]
    if unit is None:
        return grids
    if unit.kind is UnitKind.GRID:
        return [unit]
    if unit.kind is UnitKind.COMMUNITY:
        return [g for g in grids if g.parent_id == unit.id]
    communities = {u.id for u in units if u.kind is UnitKind.COMMUNITY and u.parent_id == unit.id}
    return [g for g in grids if g.parent_id in communities]


def weeks_in(month: Period) -> list[tuple[date, datetime, datetime]]:
    """The month's weeks (Monday to Monday, local), the first and last cut at its ends:
    each its first day in the month, start and end."""
    zone = month.start.tzinfo
    first = month.start.date()
    monday = first - timedelta(days=first.weekday())
    out: list[tuple[date, datetime, datetime]] = []
    while True:
        start = datetime.combine(monday, datetime.min.time(), zone)
        if start >= month.end:
            return out
        end = start + timedelta(days=7)
        begin, stop = max(start, month.start), min(end, month.end)
        out.append((begin.date(), begin, stop))
        monday += timedelta(days=7)


def _flagged_requests(
    conn: Connection, month: Period, unit: roster.Unit | None, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The requests with a stay at a post begun in ``month`` under ``unit`` that was marked
    overdue or reopened; how many stays of each were."""
    where = [posts.c.started_at >= month.start, posts.c.started_at < month.end]
    if unit is not None:
        where.append(_UNIT_COLUMN[unit.kind] == unit.id)
    overdue_here = func.sum(case((posts.c.overdue.is_(True), 1), else_=0))
    reopened_here = func.sum(
        case((and_(posts.c.resolved_at.is_not(None), posts.c.ended == ENDED_REOPENED), 1), else_=0)
    )
    flagged = (
        select(
            posts.c.request_id,
            overdue_here.label("overdue_here"),
            reopened_here.label("reopened_here"),
        )
        .where(*where)
        .group_by(posts.c.request_id)
        .having(or_(overdue_here > 0, reopened_here > 0))
        .subquery()
    )
    total = conn.execute(select(func.count()).select_from(flagged)).scalar_one()
    query = (
        select(
            requests.c.id,
            requests.c.grid_id,
            requests.c.community_id,
            requests.c.category,
            requests.c.status,
            requests.c.deadline,
            requests.c.escalations,
            requests.c.reopens,
            requests.c.created_at,
            flagged.c.overdue_here,
            flagged.c.reopened_here,
        )
        .join(flagged, flagged.c.request_id == requests.c.id)
        .order_by(requests.c.created_at, requests.c.id)
        .limit(limit)
    )
    rows = [
        {
            "id": r.id,
            "grid_id": r.grid_id,
            "community_id": r.community_id,
            "category": r.category,
            "status": r.status,
            "deadline": r.deadline,
            "escalations": int(r.escalations),
            "reopens": int(r.reopens),
            "created_at": r.created_at,
            "overdue": int(r.overdue_here),  # its stays begun in the month marked overdue
            "reopened": int(r.reopened_here),  # ... and reopened by a review
        }
        for r in conn.execute(query)
    ]
    return rows, int(total)


def gather(
    engine: Engine,
    settings: Settings,
    month: Period,
    unit: roster.Unit | None,
    *,
    limit: int = LIST_LIMIT,
) -> MonthlyReport:
    """Everything the monthly report of ``unit`` for ``month`` shows (see the module)."""
    unit_id = unit.id if unit is not None else None
    scope = perf.Scope.of_unit(unit)
    with engine.connect() as conn:
        units = roster.list_units(db=conn)
        counted = perf.counts(conn, month, scope)
        hours = perf.resolve_hours(conn, month, scope)
        stats = queries.stats(conn, unit_id=unit_id, date_from=month.start, date_to=month.end)
        league = league_table(conn, UnitKind.GRID, month, floors_of(settings))
        weeks = perf.weekly(conn, weeks_in(month), scope)
        listed, total = _flagged_requests(conn, month, unit, limit)
    under = {grid.id: grid for grid in _under(unit, units)}
    # in the league table's order: best first, the grids without a value last
    grids = [
        {**row, "community_id": under[row["unit_id"]].parent_id}
        for row in league.items
        if row["unit_id"] in under
    ]
    return MonthlyReport(
        month=month,
        unit=unit,
        made_at=datetime.now(UTC),
        figures=perf.present(counted),
        resolve_hours=hours,
        stats=stats,
        grids=grids,
        league=league,
        weeks=weeks,
        requests=listed,
        requests_total=total,
        unit_names={u.id: u.name for u in units},
    )
