"""The monthly report as a printable page (``/reports/monthly?month=&unit_id=``), for
supervisors and admins: the same figures as the Excel file (both from
:func:`api.report.gather`), its charts drawn inline, a link to download the file, and a
print style sheet (no navigation, each section on a page of its own).

A month that is not one, or a unit that does not exist, is refused next to its field
(422), as ``GET /api/v1/reports/monthly`` refuses it (``bad_period``, ``unknown_unit``).
``?format=xlsx`` sends the reader to that endpoint for the file, with the same month,
unit and the page's language.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import EngineDep
from api.errors import Refusal
from api.report import MonthlyReport, gather, month_of, unit_of
from api.report_xlsx import heading, stats_lines
from closeloop.settings import Settings
from domain.performance import POST_COUNTS, THREE_RATES
from projections.performance import THREE
from web.common import SUPERVISORS, Denied, render, signed_in, translator
from web.i18n import Translator
from web.present import Directory, local, percent
from web.standing import grids_chart, league_rows, rates_view, trend

router = APIRouter(include_in_schema=False)

#: Where the Excel file is made.
API = "/api/v1/reports/monthly"
#: The page lists this many overdue and reopened requests (the Excel file all of them).
PAGE_LIST = 500


def _stats_rows(report: MonthlyReport, t: Translator) -> list[dict[str, Any]]:
    """The received requests' figures, as the Excel file's first sheet has them."""
    rows = []
    for line in stats_lines(report, t):
        value = line.value
        if line.percent:
            value = percent(value) if value is not None else t("perf.no_value")
        fraction = ""
        if line.numerator is not None and line.denominator is not None:
            fraction = t("perf.rate_of", n=line.numerator, d=line.denominator)
        key = line.key.removeprefix("stats.")
        rows.append({"key": key, "label": line.label, "value": value, "fraction": fraction})
    return rows


def _context(report: MonthlyReport, t: Translator) -> dict[str, Any]:
    figures = report.figures
    chart, weeks = trend(report.weeks, t, t("report.sec.weeks"))
    return {
        "heading": heading(report, t),
        "made_at": local(report.made_at),
        "counts": [
            {"name": n, "label": t(f"perf.count.{n}"), "value": figures["counts"][n]}
            for n in POST_COUNTS
        ],
        "rates": rates_view(figures["rates"], t),
        "three": percent(figures[THREE]) if figures[THREE] is not None else t("perf.no_value"),
        "three_names": THREE_RATES,
        "hours": report.resolve_hours,
        "stats": _stats_rows(report, t),
        "grids": [
            {**row, "community": report.name(grid["community_id"]), "counts": grid["counts"]}
            for row, grid in zip(league_rows(report.grids, t), report.grids, strict=True)
        ],
        "ranked_of": report.league.ranked,
        "grids_chart": grids_chart(report.grids, t, t("report.grids_chart"))
        if report.grids
        else "",
        "weeks_chart": chart,
        "weeks": weeks,
        "requests": [
            {
                **item,
                "grid": report.name(item["grid_id"]),
                "community": report.name(item["community_id"]),
                "category_label": t.category(item["category"]),
                "status_label": t(f"status.{item['status']}"),
                "deadline_local": local(item["deadline"]),
            }
            for item in report.requests
        ],
        "requests_total": report.requests_total,
    }


@router.get("/reports/monthly", response_class=HTMLResponse)
def report_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, SUPERVISORS)
    if isinstance(user, Denied):
        return user.response
    settings: Settings = request.app.state.settings
    t = translator(request)
    q = request.query_params
    if q.get("format") == "xlsx":  # the file itself: the API makes it (and refuses for it)
        wanted = [(k, v) for k, v in q.multi_items() if k != "lang"] + [("lang", t.lang)]
        return RedirectResponse(f"{API}?{urlencode(wanted)}", status_code=303)
    month_text = (q.get("month") or "").strip()
    unit_id = (q.get("unit_id") or "").strip()
    errors: dict[str, str] = {}
    month = unit = None
    try:
        month = month_of(month_text or None, settings)
    except Refusal:
        errors["month"] = t("report.month_invalid")
    try:
        unit = unit_of(engine, unit_id or None)
    except Refusal:
        errors["unit_id"] = t("report.unit_unknown")
    context: dict[str, Any] = {
        "units": Directory.load(engine).tree(),
        "month_text": month_text or (month.label if month else ""),
        "unit_id": unit_id,
        "errors": errors,
    }
    if errors or month is None:
        return render(request, "report_monthly.html", context, user=user, status_code=422)
    report = gather(engine, settings, month, unit, limit=PAGE_LIST)
    query = {"month": month.label, "format": "xlsx", "lang": t.lang}
    if unit is not None:
        query["unit_id"] = unit.id
    context.update(
        report=report,
        download=f"{API}?{urlencode(query)}",
        **_context(report, t),
    )
    return render(request, "report_monthly.html", context, user=user)
