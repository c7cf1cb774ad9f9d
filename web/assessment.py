"""The assessment pages (考核): every grid worker's indicators, points, adjustments and
grade for a period, sortable, with an adjustment form per worker (``/assessment``, for
supervisors and admins), and one worker's page with the requests behind their counts
(``/assessment/workers/{username}``, for supervisors, admins and the worker themselves).

They read what the JSON API answers (:func:`api.routes.assessment.report` and
:func:`~api.routes.assessment.worker_report`); the adjustment and withdrawal forms go to
the API (``/api/v1/assessment/adjustments``), whose refusals show next to their fields.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api import roster
from api.deps import EngineDep, Principal
from api.errors import Refusal
from api.roster import Role
from api.routes.assessment import (
    assessed_user,
    assessment_period,
    report,
    worker_report,
)
from closeloop import assessment as store
from closeloop.settings import Settings
from domain.assessment import GRADE_NAMES, GRADES
from domain.performance import POST_COUNTS, RATES
from domain.periods import Period
from web.common import SUPERVISORS, Denied, fragment, query_date, render, signed_in, translator
from web.i18n import ZH, Translator
from web.present import Directory, local, percent

router = APIRouter(include_in_schema=False)

#: The grades' order when a column is sorted by grade (the ungraded last).
_GRADE_ORDER = {code: i for i, code in enumerate(GRADES)}


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


def _query(request: Request) -> dict[str, str]:
    """The page's period and unit as the address gives them (empty ones left out)."""
    q = request.query_params
    return {k: q[k] for k in ("period", "from", "to", "unit_id") if q.get(k)}


def _span(request: Request, t: Translator) -> Period:
    settings: Settings = request.app.state.settings
    q = _query(request)
    try:
        date_from: date | None = None
        date_to: date | None = None
        if "period" not in q:
            date_from, date_to = query_date(q, "from"), query_date(q, "to")
            for name, value in (("from", date_from), ("to", date_to)):
                if q.get(name) and value is None:
                    raise _Refused(422, f"{t('assess.' + name)}: {q[name][:40]}")
        return assessment_period(settings, q.get("period"), date_from, date_to)
    except Refusal as refused:
        raise _Refused(refused.status_code, _refusal_text(t, refused)) from None
    except RequestValidationError as refused:
        names = ", ".join(str(e["loc"][-1]) for e in refused.errors())
        raise _Refused(422, f"{t('reason.bad_period')} ({names})") from None


def _refusal_text(t: Translator, refused: Refusal) -> str:
    reason = t(f"reason.{refused.code}")
    detail = str(refused.detail)
    return detail if reason == f"reason.{refused.code}" else f"{reason} ({detail})"


def _grade_label(t: Translator, code: str | None) -> str:
    if code is None:
        return ""
    zh, en = GRADE_NAMES[code]
    return zh if t.lang == ZH else en


def _points(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _signed(value: float) -> str:
    return f"{value:+g}" if value else "0"


def _worker_row(t: Translator, worker: dict[str, Any], period: str) -> dict[str, Any]:
    grade = worker["grade"]
    indicators = []
    for i in worker["indicators"]:
        indicators.append(
            {
                **i,
                "label": t(f"assess.rate.{i['rate']}"),
                "value_text": percent(i["value"]),
                "points_text": _points(i["points"]),
            }
        )
    adjustments = [
        {
            **a,
            "points_text": f"{a['points']:+d}",
            "at": local(a["created_at"]),
            "withdrawn_at_local": local(a["withdrawn_at"]),
        }
        for a in worker["adjustments"]
    ]
    code = grade["code"] if grade else None
    return {
        **worker,
        "indicators": indicators,
        "adjustments": adjustments,
        "active_adjustments": [a for a in adjustments if not a["withdrawn"]],
        "computed_text": _points(worker["computed_points"]),
        "final_text": _points(worker["final_points"]),
        "adjustment_text": _signed(worker["adjustment_points"]),
        "grade_code": code,
        "grade_label": _grade_label(t, code),
        "ungraded_label": t(f"assess.ungraded.{worker['ungraded']}") if worker["ungraded"] else "",
        "grid_names": "、".join(g["name"] for g in worker["grids"])
        if t.lang == ZH
        else ", ".join(g["name"] for g in worker["grids"]),
        "href": f"/assessment/workers/{worker['username']}?{urlencode(_period_query(period))}",
        # each column's sort value; "" (no value) sorts last either way
        "sort": {
            "rank": _blank(worker["rank"]),
            "name": worker["display_name"],
            **{f"rate-{i['rate']}": _blank(i["value"]) for i in worker["indicators"]},
            "computed": _blank(worker["computed_points"]),
            "adjustment": worker["adjustment_points"],
            "final": _blank(worker["final_points"]),
            "grade": _blank(_GRADE_ORDER.get(code) if code else None),
        },
    }


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


def _period_query(label: str) -> dict[str, str]:
    return {"period": label} if ".." not in label else {}


def _scheme_view(t: Translator, scheme: dict[str, Any]) -> dict[str, Any]:
    quota = scheme["excellent_quota"]
    return {
        "indicators": [
            {
                **i,
                "label": t(f"assess.rate.{i['rate']}"),
                "zero": percent(i["zero_at"]),
                "full": percent(i["full_at"]),
            }
            for i in scheme["indicators"]
        ],
        "grades": [(_grade_label(t, code), scheme["grades"][code]) for code in GRADES[:-1]],
        "quota": t("assess.quota_none") if quota is None else percent(quota),
        "min_assigned": scheme["min_assigned"],
        "changed": t("assess.scheme_default")
        if scheme["default"]
        else t("assess.scheme_changed", who=scheme["updated_by"], at=local(scheme["updated_at"])),
    }


def _table_context(request: Request, engine: Engine, t: Translator) -> dict[str, Any]:
    span = _span(request, t)
    unit_id = _query(request).get("unit_id")
    try:
        found = report(engine, span, unit_id)
    except Refusal as refused:
        raise _Refused(refused.status_code, _refusal_text(t, refused)) from None
    rows = [_worker_row(t, w, span.label) for w in found["workers"]]
    scheme = found["scheme"]
    return {
        "found": found,
        "rows": rows,
        "columns": [
            {"rate": i["rate"], "label": t(f"assess.rate.{i['rate']}")}
            for i in scheme["indicators"]
        ],
        "grade_counts": [
            (code, _grade_label(t, code), found["grade_counts"][code]) for code in GRADES
        ],
        "ungraded_count": found["grade_counts"]["ungraded"],
        "period_label": span.label,
        "query": urlencode(_query(request)),
        "can_adjust": found["adjustable"],
        "max_adjustment": store.MAX_ADJUSTMENT,
        "reason_max": store.REASON_MAX,
    }


def _refused_page(request: Request, user: Principal, refused: _Refused) -> Response:
    return render(
        request,
        "error.html",
        {"message": refused.message, "code": refused.status},
        user=user,
        status_code=refused.status,
    )


@router.get("/assessment", response_class=HTMLResponse)
def assessment_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, SUPERVISORS)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    try:
        context = _table_context(request, engine, t)
    except _Refused as refused:
        return _refused_page(request, user, refused)
    q = _query(request)
    return render(
        request,
        "assessment.html",
        {
            **context,
            "units": Directory.load(engine).tree(),
            "form": {
                "period": q.get("period", context["period_label"] if "from" not in q else ""),
                "unit_id": q.get("unit_id", ""),
            },
            "scheme": _scheme_view(t, context["found"]["scheme"]),
        },
        user=user,
    )


@router.get("/assessment/table", response_class=HTMLResponse)
def assessment_table(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, SUPERVISORS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    try:
        context = _table_context(request, engine, t)
    except _Refused as refused:
        return HTMLResponse(refused.message, status_code=refused.status)
    return fragment(request, "_assessment_table.html", context)


def _stint_row(t: Translator, stint: dict[str, Any], directory: Directory) -> dict[str, Any]:
    counts = stint["counts"]
    return {
        **stint,
        "category_label": t.category(stint["category"]),
        "level_label": t(f"level.{stint['level']}"),
        "grid_name": directory.name(stint["grid_id"]),
        "started": local(stint["started_at"]),
        "accepted": local(stint["accepted_at"]),
        "resolved": local(stint["resolved_at"]),
        "ended_label": t(f"assess.ended.{stint['ended']}") if stint["ended"] else t("assess.open"),
        "untouched": not stint["handler"],
        "counts_text": ("、" if t.lang == ZH else ", ").join(
            t(f"assess.count.{name}") + (f" ×{counts[name]}" if counts[name] > 1 else "")
            for name in POST_COUNTS
            if name in counts
        ),
    }


@router.get("/assessment/workers/{username}", response_class=HTMLResponse)
def worker_page(username: str, request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, (*SUPERVISORS, Role.HANDLER))
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    if user.role is Role.HANDLER and roster.username_key(username) != roster.username_key(
        user.username
    ):
        return _refused_page(request, user, _Refused(403, t("reason.not_your_record")))
    try:
        span = _span(request, t)
        found = worker_report(engine, span, assessed_user(engine, username))
    except Refusal as refused:
        return _refused_page(
            request, user, _Refused(refused.status_code, _refusal_text(t, refused))
        )
    except _Refused as refused:
        return _refused_page(request, user, refused)
    directory = Directory.load(engine)
    counts = found["counts"]
    return render(
        request,
        "assessment_worker.html",
        {
            "found": found,
            "worker": _worker_row(t, found["worker"], span.label),
            "period_label": span.label,
            "form_period": _query(request).get(
                "period", span.label if ".." not in span.label else ""
            ),
            "counts": [(t(f"assess.count.{name}"), counts[name]) for name in POST_COUNTS],
            "rates": [
                {
                    "label": t(f"assess.rate.{name}"),
                    "value": percent(found["rates"][name]["value"]),
                    "numerator": found["rates"][name]["numerator"],
                    "denominator": found["rates"][name]["denominator"],
                    "top": t(f"assess.count.{RATES[name][0]}"),
                    "bottom": t(f"assess.count.{RATES[name][1]}"),
                }
                for name in RATES
            ],
            "hours": found["resolve_hours"],
            "stints": [_stint_row(t, s, directory) for s in found["requests"]],
            "is_self": user.username == found["worker"]["username"],
            "back": "/assessment?" + urlencode(_period_query(span.label)),
        },
        user=user,
    )
