"""The supervisor's (and admin's) league tables (三率排名, ``/rankings``) and one unit's
figures (``/rankings/unit``).

``/rankings?level=&period=&metric=``: the grids, communities or towns ranked by a metric
for a month (or a quarter, a year), each with its rank, its change since the period
before (in words as well as an arrow), the three rates with their numerators and
denominators, and the units below a floor marked in words and by their row; the floors;
the three rates week by week over the last 12 weeks, as a chart and a table.

``/rankings/unit?unit_id=&period=``: a unit's counts, every rate with its numerator and
denominator, the median and 90th percentile of the hours to resolve, its rank among the
units of its kind, the units in it ranked, and its 12 weeks.

Both read :mod:`projections.performance` through :mod:`api.league`, as
``GET /api/v1/rankings`` and ``GET /api/v1/performance`` do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api.deps import EngineDep
from api.league import floors_of, league_table
from closeloop.settings import Settings
from domain.ladder import UnitKind
from domain.performance import POST_COUNTS
from domain.periods import Period, PeriodError, current_month, parse_period, weeks_before
from projections import performance as perf
from web.common import SUPERVISORS, Denied, render, signed_in, translator
from web.i18n import Translator
from web.present import Directory
from web.standing import floors_text, league_rows, rates_view, trend

router = APIRouter(include_in_schema=False)

LEVELS = ("grid", "community", "town")
TREND_WEEKS = 12
#: The kind of the units one level down: a community's grids, a town's communities.
CHILD_KIND = {UnitKind.TOWN: UnitKind.COMMUNITY, UnitKind.COMMUNITY: UnitKind.GRID}


def period_choice(request: Request, settings: Settings) -> tuple[Period | None, str, bool]:
    """The ``period`` asked for (this month when none): the period, the text as typed,
    and whether it could not be read."""
    zone = ZoneInfo(settings.timezone)
    text = (request.query_params.get("period") or "").strip()
    if not text:
        period = current_month(datetime.now(UTC), zone)
        return period, period.label, False
    try:
        return parse_period(text, zone), text, False
    except PeriodError:
        return None, text[:40], True


def month_label(period: Period | None, settings: Settings) -> str:
    """The month a report link opens: the period's when it is one month, else this one."""
    if period is not None and period.months is not None and len(period.months) == 1:
        return period.months[0]
    return current_month(datetime.now(UTC), ZoneInfo(settings.timezone)).label


def _trend(engine: Engine, settings: Settings, t: Translator, unit: Any, label: str) -> Any:
    zone = ZoneInfo(settings.timezone)
    spans = weeks_before(datetime.now(UTC), zone, TREND_WEEKS)
    with engine.connect() as conn:
        weeks = perf.weekly(conn, spans, perf.Scope.of_unit(unit))
    return trend(weeks, t, label)


@router.get("/rankings", response_class=HTMLResponse)
def rankings_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, SUPERVISORS)
    if isinstance(user, Denied):
        return user.response
    settings: Settings = request.app.state.settings
    t = translator(request)
    q = request.query_params
    level = q.get("level") or "grid"
    level = level if level in LEVELS else "grid"
    metric = q.get("metric") or perf.THREE
    metric = metric if metric in perf.METRICS else perf.THREE
    period, period_text, bad = period_choice(request, settings)
    floors = floors_of(settings)
    context: dict[str, Any] = {
        "levels": LEVELS,
        "level": level,
        "metrics": perf.METRICS,
        "metric": metric,
        "period_text": period_text,
        "period_error": t("perf.period_invalid") if bad else "",
        "floors": floors_text(floors, t),
        "report_month": month_label(period, settings),
        "rows": [],
    }
    if period is not None:
        with engine.connect() as conn:
            league = league_table(conn, UnitKind(level), period, floors, metric)
        context.update(
            period=period,
            previous=league.previous,
            rows=league_rows(league.items, t),
            flagged=league.flagged,
            unit_query=urlencode({"period": period.label}),
        )
    chart, table = _trend(engine, settings, t, None, t("rank.trend"))
    context.update(trend_chart=chart, trend_table=table)
    return render(request, "rankings.html", context, user=user, status_code=422 if bad else 200)


@router.get("/rankings/unit", response_class=HTMLResponse)
def unit_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, SUPERVISORS)
    if isinstance(user, Denied):
        return user.response
    settings: Settings = request.app.state.settings
    t = translator(request)
    directory = Directory.load(engine)
    unit_id = request.query_params.get("unit_id") or None
    unit = directory.units.get(unit_id) if unit_id else None
    unknown = unit_id is not None and unit is None
    period, period_text, bad = period_choice(request, settings)
    floors = floors_of(settings)
    context: dict[str, Any] = {
        "units": directory.tree(),
        "unit": unit,
        "unit_id": unit_id or "",
        "unit_error": t("unitfig.unknown") if unknown else "",
        "unit_name": unit.name if unit else t("unitfig.whole"),
        "period_text": period_text,
        "period_error": t("perf.period_invalid") if bad else "",
        "floors": floors_text(floors, t),
        "report_query": urlencode(
            {"month": month_label(period, settings), **({"unit_id": unit.id} if unit else {})}
        ),
        "count_names": POST_COUNTS,
    }
    if period is not None and not unknown:
        scope = perf.Scope.of_unit(unit)
        with engine.connect() as conn:
            shown = perf.present(perf.counts(conn, period, scope))
            hours = perf.resolve_hours(conn, period, scope)
            standing = children = None
            if unit is not None:
                own = league_table(conn, unit.kind, period, floors)
                mine = own.row(unit.id)
                if mine is not None:
                    standing = {
                        **league_rows([mine], t)[0],
                        "of": own.ranked,
                        "kind": t(f"rank.level.{unit.kind.value}"),
                    }
                if unit.kind in CHILD_KIND:
                    below = league_table(conn, CHILD_KIND[unit.kind], period, floors)
                    children = league_rows(
                        [item for item in below.items if item["parent_id"] == unit.id], t
                    )
        context.update(
            period=period,
            counts=shown["counts"],
            rates=rates_view(shown["rates"], t),
            hours=hours,
            standing=standing,
            children=children,
            unit_query=urlencode({"period": period.label}),
        )
    chart, table = _trend(engine, settings, t, None if unknown else unit, t("rank.trend_unit"))
    context.update(trend_chart=chart, trend_table=table)
    status = 422 if bad or unknown else 200
    return render(request, "rankings_unit.html", context, user=user, status_code=status)
