"""The assessment's figures (考核): a unit's or a handler's counts and the three rates
for a period, the league tables, the weekly trend, and a worker's own record.

Supervisors and admins read every unit; a handler reads their own record
(``GET /performance/me``). Periods are local (``CLOSELOOP_TIMEZONE``): ``period`` is a
month ``2026-11``, a quarter ``2026Q4`` or a year ``2026``; ``from``/``to`` give any span
(``to`` exclusive). Whole months read the monthly buckets; other spans sum the stints.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api import roster
from api.bounds import Instant
from api.deps import CurrentUser, EngineDep, Principal, SettingsDep, require_roles
from api.errors import Refusal
from api.league import floors_of, league_table
from api.responses import FastJSONResponse
from api.roster import Role
from api.text import Text
from closeloop.settings import Settings
from domain.ladder import LEVEL_UNIT_KIND, Level, UnitKind
from domain.performance import RATES, THREE_RATES, rates
from domain.periods import Period, PeriodError, current_month, parse_period, span, weeks_before
from projections import performance as perf

router = APIRouter(tags=["assessment"])

Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
#: The league tables' levels: the kinds of unit they rank.
RANK_LEVELS = ("grid", "community", "town")
MAX_WEEKS = 52


def period_of(
    settings: Settings,
    period: str | None,
    date_from: datetime | date | None,
    date_to: datetime | date | None,
) -> Period:
    """``period``, or ``from``/``to``, or this month; 422 ``bad_period`` with the reason."""
    zone = ZoneInfo(settings.timezone)
    try:
        if period is not None:
            if date_from is not None or date_to is not None:
                raise PeriodError("give either 'period' or 'from' and 'to', not both")
            return parse_period(period, zone)
        if date_from is not None or date_to is not None:
            if date_from is None or date_to is None:
                raise PeriodError("give both 'from' and 'to' (or a 'period')")
            return span(_local(date_from, zone), _local(date_to, zone), zone)
    except PeriodError as error:
        field = "period" if period is not None else "from"
        raise Refusal(422, "bad_period", str(error), field=field) from None
    return current_month(datetime.now(UTC), zone)


def _local(value: datetime | date, zone: ZoneInfo) -> datetime:
    """A date is its local midnight; a time without an offset is local time."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(), zone)
    return value if value.tzinfo else value.replace(tzinfo=zone)


def _period_view(period: Period) -> dict[str, Any]:
    return {
        "label": period.label,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "months": list(period.months) if period.months is not None else None,
    }


def _unit(engine: Engine, unit_id: str | None) -> roster.Unit | None:
    if unit_id is None:
        return None
    unit = roster.get_unit(unit_id, db=engine)
    if unit is None:
        raise Refusal(422, "unknown_unit", f"no unit has the id {unit_id[:40]!r}", field="unit_id")
    return unit


def _level(level: str | None) -> str | None:
    if level is None:
        return None
    if level not in {lv.value for lv in Level}:
        raise Refusal(
            422,
            "unknown_level",
            f"{level[:40]!r} is not a level: use one of " + ", ".join(lv.value for lv in Level),
            field="level",
        )
    return level


def _unit_view(unit: roster.Unit | None) -> dict[str, Any] | None:
    if unit is None:
        return None
    return {"id": unit.id, "name": unit.name, "kind": unit.kind.value, "parent_id": unit.parent_id}


From = Annotated[Instant | None, Query(alias="from")]
To = Annotated[Instant | None, Query(alias="to")]


@router.get("/performance")
async def performance(
    user: Supervisor,
    engine: EngineDep,
    settings: SettingsDep,
    unit_id: Text | None = None,
    period: Text | None = None,
    date_from: From = None,
    date_to: To = None,
    level: Text | None = None,
    handler: Text | None = None,
) -> dict[str, Any]:
    """The counts and rates of a unit (or all), a level, a handler, for a period."""
    span_ = period_of(settings, period, date_from, date_to)
    wanted_level = _level(level)

    def read() -> dict[str, Any]:
        unit = _unit(engine, unit_id)
        scope = perf.Scope(
            kind=unit.kind if unit is not None else None,
            unit_id=unit_id,
            level=wanted_level,
            handler=handler,
        )
        with engine.connect() as conn:
            counted = perf.counts(conn, span_, scope)
            hours = perf.resolve_hours(conn, span_, scope)
        return {
            "period": _period_view(span_),
            "unit": _unit_view(unit),
            "level": wanted_level,
            "handler": handler,
            **perf.present(counted),
            "resolve_hours": hours,
        }

    return await run_in_threadpool(read)


@router.get("/rankings")
async def rankings(
    user: Supervisor,
    engine: EngineDep,
    settings: SettingsDep,
    level: Text = "grid",
    period: Text | None = None,
    date_from: From = None,
    date_to: To = None,
    metric: Text = perf.THREE,
    floor: Annotated[float | None, Query(ge=0, le=100)] = None,
) -> FastJSONResponse:
    """The league table of the grids, communities or towns (三率排名)."""
    if level not in RANK_LEVELS:
        raise Refusal(
            422,
            "unknown_level",
            f"{level[:40]!r} cannot be ranked: use grid, community or town",
            field="level",
        )
    if metric not in perf.METRICS:
        raise Refusal(
            422,
            "unknown_metric",
            f"{metric[:40]!r} is not a metric: use one of " + ", ".join(perf.METRICS),
            field="metric",
        )
    span_ = period_of(settings, period, date_from, date_to)
    floors = floors_of(settings, floor)
    kind = UnitKind(level)

    def read() -> dict[str, Any]:
        with engine.connect() as conn:
            league = league_table(conn, kind, span_, floors, metric)
        return {
            "level": level,
            "period": _period_view(span_),
            "previous_period": _period_view(league.previous),
            "metric": metric,
            "floors": floors,
            "rate_definitions": perf.rate_definitions(),
            "flagged": league.flagged,
            "items": league.items,
        }

    # JSON values only: straight to the encoder (a thousand grids are about 1 MB)
    return FastJSONResponse(await run_in_threadpool(read))


@router.get("/performance/trend")
async def trend(
    user: Supervisor,
    engine: EngineDep,
    settings: SettingsDep,
    unit_id: Text | None = None,
    weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS)] = 12,
) -> dict[str, Any]:
    """The three rates week by week (Monday to Monday, local), the current week last."""
    zone = ZoneInfo(settings.timezone)

    def read() -> dict[str, Any]:
        unit = _unit(engine, unit_id)
        spans = weeks_before(datetime.now(UTC), zone, weeks)
        with engine.connect() as conn:
            rows = perf.weekly(conn, spans, perf.Scope.of_unit(unit))
        return {"unit": _unit_view(unit), "rates": list(THREE_RATES), "weeks": rows}

    return await run_in_threadpool(read)


def held_posts(user: Principal) -> list[perf.Post]:
    return [perf.Post(a.level.value, a.unit_id) for a in user.assignments]


@router.get("/performance/me")
async def my_record(
    user: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
    period: Text | None = None,
    date_from: From = None,
    date_to: To = None,
) -> FastJSONResponse:
    """A handler's own record ("my month"): the stints they accepted and the untouched
    ones at their posts, their rates, and where their units stand in the league table."""
    if user.role is not Role.HANDLER:
        raise Refusal(
            403, "not_a_handler", "only a handler has a record of their own: sign in as one"
        )
    return FastJSONResponse(await run_in_threadpool(
        worker_record, engine, settings, user.username, held_posts(user),
        period_of(settings, period, date_from, date_to),
    ))  # fmt: skip


def worker_record(
    engine: Engine, settings: Settings, username: str, posts: list[perf.Post], span_: Period
) -> dict[str, Any]:
    """A worker's counts and rates in ``span_``, the requests behind them, and the rank
    of each of their posts' units among the units of that kind."""
    before = span_.previous()
    with engine.connect() as conn:
        scope = perf.Scope.of_worker(username, posts)
        counted = perf.counts(conn, span_, scope)
        hours = perf.resolve_hours(conn, span_, scope)
        stints = perf.stints_behind(conn, span_, scope)
        standing = []
        for post in posts:
            kind = LEVEL_UNIT_KIND[Level(post.level)]
            now = perf.counts_by_unit(conn, span_, kind)
            rank_now = perf.ranks(now, perf.THREE)
            rank_before = perf.ranks(perf.counts_by_unit(conn, before, kind), perf.THREE)
            unit = roster.get_unit(post.unit_id, db=conn)
            rank, was = rank_now.get(post.unit_id), rank_before.get(post.unit_id)
            mine = now.get(post.unit_id)
            standing.append(
                {
                    "level": post.level,
                    "unit_id": post.unit_id,
                    "name": unit.name if unit is not None else post.unit_id,
                    "rank": rank,
                    "of": len(rank_now),
                    "rank_change": None if rank is None or was is None else was - rank,
                    "value": None if mine is None else perf.metric_value(rates(mine), perf.THREE),
                }
            )
    return {
        "username": username,
        "period": _period_view(span_),
        **perf.present(counted),
        "resolve_hours": hours,
        "standing": standing,
        "requests": stints,
    }


__all__ = ["RATES", "router", "worker_record"]
