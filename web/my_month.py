"""The handler's own month ("my month", ``/me/month``): their counts, their three rates
with numerators and denominators, where the units of their posts stand in the league
table (rank of N, change since the month before), and the requests behind the counts,
each linking to its page. Phone-first, like the partner's page: a grid worker reads it on
the way between households.

It shows what ``GET /api/v1/performance/me?period=<month>`` answers
(:func:`api.routes.performance.worker_record`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from api.deps import EngineDep
from api.roster import Role
from api.routes.performance import held_posts, worker_record
from closeloop.settings import Settings
from domain.performance import THREE_RATES
from domain.periods import Period, PeriodError, current_month, parse_period
from web.common import Denied, render, signed_in, translator
from web.i18n import Translator
from web.present import Directory, local
from web.standing import change_view, rate_view

router = APIRouter(include_in_schema=False)

#: The counts shown first, as tiles.
TILES = (
    "assigned",
    "accepted",
    "responded",
    "resolved",
    "resolved_on_time",
    "reopened",
    "escalated_missed",
    "escalated_hand",
    "overdue",
    "urged",
    "reviews_reached",
    "reviews_satisfied",
)
#: The record lists this many requests at most (``stints_behind``'s limit).
LISTED = 500


def _month(request: Request, settings: Settings) -> tuple[Period | None, str]:
    zone = ZoneInfo(settings.timezone)
    text = (request.query_params.get("period") or "").strip()
    if not text:
        return current_month(datetime.now(UTC), zone), ""
    try:
        period = parse_period(text, zone)
    except PeriodError:
        return None, text[:40]
    if period.months is None or len(period.months) != 1:
        return None, text[:40]
    return period, text


def _stint(item: dict[str, Any], directory: Directory, t: Translator) -> dict[str, Any]:
    accepted = item["accepted_at"]
    resolved = item["resolved_at"]
    return {
        "id": item["request_id"],
        "category": t.category(item["category"]),
        "level": t(f"level.{item['level']}"),
        "unit": directory.name(item["unit_id"]),
        "grid": directory.name(item["grid_id"]),
        "reached": local(item["started_at"]),
        "accepted": local(accepted),
        "accepted_note": (t("mymonth.in_time") if item["responded"] else t("mymonth.late"))
        if accepted
        else t("mymonth.not_accepted"),
        "resolved": local(resolved),
        "resolved_note": (t("mymonth.on_time") if item["on_time"] else t("mymonth.after_deadline"))
        if resolved
        else "",
        "ended": t(f"stint.ended.{item['ended'] or ''}"),
        "ended_code": item["ended"] or "current",
    }


@router.get("/me/month", response_class=HTMLResponse)
def my_month_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, (Role.HANDLER,))
    if isinstance(user, Denied):
        return user.response
    settings: Settings = request.app.state.settings
    t = translator(request)
    period, typed = _month(request, settings)
    context: dict[str, Any] = {
        "month_text": typed or (period.label if period else ""),
        "month_error": "" if period is not None else t("mymonth.month_invalid"),
    }
    if period is None:
        return render(request, "my_month.html", context, user=user, status_code=422)
    record = worker_record(engine, settings, user.username, held_posts(user), period)
    directory = Directory.load(engine)
    counts = record["counts"]
    context.update(
        period=period,
        tiles=[
            {"name": name, "label": t(f"perf.count.{name}"), "value": counts[name]}
            for name in TILES
        ],
        three=[
            {"name": name, "label": t(f"perf.rate.{name}"), **rate_view(record["rates"][name], t)}
            for name in THREE_RATES
        ],
        hours=record["resolve_hours"],
        standing=[
            {
                **s,
                "level_label": t(f"level.{s['level']}"),
                "change": change_view(s["rank"], s["rank_change"], t),
            }
            for s in record["standing"]
        ],
        stints=[_stint(item, directory, t) for item in record["requests"]],
        more=len(record["requests"]) >= LISTED,
    )
    return render(request, "my_month.html", context, user=user)
