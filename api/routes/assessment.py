"""The assessment of grid workers (考核): points, grades, the quota for 优秀, and the
supervisors' adjustments.

Every handler holding a grid worker's post (``grid_worker``) is assessed: their counts are
the stints they accepted and the untouched ones at the posts they hold
(:func:`projections.performance.worker_counts`, two queries for every worker at once);
the scheme in force (:mod:`closeloop.assessment`) turns them into points and a grade
(:mod:`domain.assessment`). Grades, the quota and ranks are decided across every assessed
worker, whatever ``unit_id`` narrows the list to: a worker's grade does not change with the
view.

Periods are as the figures' (``period`` a month, quarter or year, or ``from``/``to``); the
default is the current quarter. Adjustments belong to a month, quarter or year: they show
in that period's assessment only (and none in a ``from``/``to`` span).

The pages (:mod:`web.assessment`) read the same :func:`report` and :func:`worker_report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api import roster
from api.deps import AdminUser, CurrentUser, EngineDep, Principal, SettingsDep, require_roles
from api.errors import Refusal
from api.responses import FastJSONResponse
from api.roster import Role
from api.routes.performance import From, To, _period_view, period_of
from api.text import Text
from closeloop import assessment as store
from closeloop.settings import Settings
from domain.assessment import (
    DEFAULT_QUOTA,
    GRADE_NAMES,
    GRADES,
    INDICATOR_RATES,
    Result,
    SchemeError,
    Subject,
    assess,
    grade_counts,
)
from domain.ladder import Level, UnitKind
from domain.periods import Period, PeriodError, parse_period
from projections import performance as perf

router = APIRouter(tags=["assessment"])

Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
Reader = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN, Role.HANDLER))]
#: The requests listed behind a worker's counts (newest first).
REQUESTS_SHOWN = 500


# ---- who is assessed ----------------------------------------------------------------------


def is_assessed(user: roster.User) -> bool:
    """A grid worker: an active handler holding a ``grid_worker`` post."""
    return (
        user.role is Role.HANDLER
        and not user.disabled
        and any(a.level is Level.GRID_WORKER for a in user.assignments)
    )


def posts_of(user: roster.User) -> list[perf.Post]:
    return [perf.Post(a.level.value, a.unit_id) for a in user.assignments]


def grids_under(units: Sequence[roster.Unit], unit: roster.Unit) -> set[str]:
    """The ids of the grids in ``unit`` (itself when it is a grid)."""
    children: dict[str, list[roster.Unit]] = {}
    for u in units:
        if u.parent_id is not None:
            children.setdefault(u.parent_id, []).append(u)
    found, todo = set(), [unit]
    while todo:
        u = todo.pop()
        if u.kind is UnitKind.GRID:
            found.add(u.id)
        todo.extend(children.get(u.id, ()))
    return found


def adjustable(period: Period) -> bool:
    """Whether adjustments belong to ``period``: a month, a quarter or a year."""
    try:
        return parse_period(period.label, UTC).label == period.label
    except PeriodError:
        return False


def assessment_period(
    settings: Settings, period: str | None, date_from: Any, date_to: Any
) -> Period:
    """``period`` or ``from``/``to`` (as the figures read them), else the current quarter."""
    if period is None and date_from is None and date_to is None:
        now = datetime.now(UTC).astimezone(ZoneInfo(settings.timezone))
        return parse_period(f"{now.year}Q{(now.month - 1) // 3 + 1}", ZoneInfo(settings.timezone))
    return period_of(settings, period, date_from, date_to)


# ---- the report -----------------------------------------------------------------------------


def grade_view(code: str | None) -> dict[str, str] | None:
    if code is None:
        return None
    zh, en = GRADE_NAMES[code]
    return {"code": code, "zh": zh, "en": en}


def _worker_view(
    user: roster.User,
    result: Result,
    adjustments: Sequence[store.Adjustment],
    names: dict[str, str],
) -> dict[str, Any]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "grids": [
            {"id": a.unit_id, "name": names.get(a.unit_id, a.unit_id)}
            for a in user.assignments
            if a.level is Level.GRID_WORKER
        ],
        "assigned": result.assigned,
        "indicators": [i.json() for i in result.indicators],
        "computed_points": result.computed,
        "adjustment_points": result.adjustment,
        "final_points": result.final,
        "adjustments": [a.json() for a in adjustments],
        "grade": grade_view(result.grade),
        "ungraded": result.ungraded,
        "capped_by_quota": result.capped_by_quota,
        "rank": result.rank,
    }


def report(
    engine: Engine, span: Period, unit_id: str | None = None, *, only: str | None = None
) -> dict[str, Any]:
    """The assessment of every grid worker in ``span`` (those in ``unit_id`` listed, or
    only the worker ``only``), with the grade counts of those listed and the scheme used.
    ``counts`` maps each listed worker to their counts."""
    stored = store.load_scheme(db=engine)
    units = roster.list_units(db=engine)
    unit = None
    if unit_id is not None:
        unit = next((u for u in units if u.id == unit_id), None)
        if unit is None:
            raise Refusal(
                422, "unknown_unit", f"no unit has the id {unit_id[:40]!r}", field="unit_id"
            )
    workers = [u for u in roster.list_users(db=engine, role=Role.HANDLER) if is_assessed(u)]
    label = span.label if adjustable(span) else None
    with engine.connect() as conn:
        counted = perf.worker_counts(conn, span, {u.username: posts_of(u) for u in workers})
        adjustments = store.adjustments_of(label, db=conn) if label else {}
    subjects = [
        Subject(
            u.username,
            counted[u.username],
            [a.points for a in adjustments.get(u.username, ()) if not a.withdrawn],
        )
        for u in workers
    ]
    results = assess(stored.scheme, subjects)
    by_name = {u.username: u for u in workers}
    listed = results
    if unit is not None:
        grids = grids_under(units, unit)
        listed = [
            r
            for r in results
            if any(
                a.level is Level.GRID_WORKER and a.unit_id in grids
                for a in by_name[r.username].assignments
            )
        ]
    if only is not None:
        listed = [r for r in results if r.username == only]
    names = {u.id: u.name for u in units}
    graded = sum(1 for r in results if r.graded)
    return {
        "period": _period_view(span),
        "adjustable": label is not None,
        "unit": None
        if unit is None
        else {"id": unit.id, "name": unit.name, "kind": unit.kind.value},
        "scheme": stored.json(),
        "quota": {
            "share": stored.scheme.excellent_quota,
            "graded": graded,
            "places": stored.scheme.quota_places(graded),
            "capped": sum(1 for r in results if r.capped_by_quota),
        },
        "assessed": len(results),
        "grade_counts": grade_counts(listed),
        "grades": [grade_view(code) for code in GRADES],
        "workers": [
            _worker_view(by_name[r.username], r, adjustments.get(r.username, ()), names)
            for r in listed
        ],
        "counts": {r.username: counted[r.username] for r in listed},
    }


def assessed_user(engine: Engine, username: str) -> roster.User:
    """The assessed worker called ``username`` (any case), else 404 ``unknown_user``."""
    user = roster.get_user_by_username(username, db=engine) if len(username) <= 64 else None
    if user is None or not is_assessed(user):
        raise Refusal(
            404,
            "unknown_user",
            f"{username[:64]!r} is not a grid worker who is assessed",
            field="username",
        )
    return user


def worker_report(engine: Engine, span: Period, user: roster.User) -> dict[str, Any]:
    """One worker's assessment as :func:`report` gives it, with their counts and rates,
    the hours to resolve, and the requests behind the counts (each with what it counts
    for)."""
    found = report(engine, span, only=user.username)
    counted = found.pop("counts")[user.username]
    held = posts_of(user)
    with engine.connect() as conn:
        scope = perf.Scope.of_worker(user.username, held)
        hours = perf.resolve_hours(conn, span, scope)
        stints = perf.stints_behind(conn, span, scope, limit=REQUESTS_SHOWN)
    [worker] = found.pop("workers")
    return {
        **found,
        "worker": worker,
        **perf.present(counted),
        "resolve_hours": hours,
        "requests": stints,
        "requests_total": counted["assigned"],
    }


# ---- routes -----------------------------------------------------------------------------------


@router.get("/assessment")
async def get_assessment(
    user: Supervisor,
    engine: EngineDep,
    settings: SettingsDep,
    period: Text | None = None,
    date_from: From = None,
    date_to: To = None,
    unit_id: Text | None = None,
) -> FastJSONResponse:
    """Every grid worker's indicators, points, adjustments, grade and rank for a period
    (the current quarter by default), with the grade counts and the scheme used."""
    span = assessment_period(settings, period, date_from, date_to)

    def read() -> dict[str, Any]:
        found = report(engine, span, unit_id)
        found.pop("counts")
        return found

    return FastJSONResponse(await run_in_threadpool(read))


@router.get("/assessment/workers/{username}")
async def get_worker_assessment(
    username: Text,
    user: Reader,
    engine: EngineDep,
    settings: SettingsDep,
    period: Text | None = None,
    date_from: From = None,
    date_to: To = None,
) -> FastJSONResponse:
    """One worker's assessment and the requests behind their counts; a handler reads
    their own only."""
    if user.role is Role.HANDLER and roster.username_key(username) != roster.username_key(
        user.username
    ):
        raise Refusal(
            403, "not_your_record", "a handler reads their own assessment only", field="username"
        )
    span = assessment_period(settings, period, date_from, date_to)

    def read() -> dict[str, Any]:
        return worker_report(engine, span, assessed_user(engine, username))

    return FastJSONResponse(await run_in_threadpool(read))


class AdjustmentIn(BaseModel):
    """An adjustment of a worker's points for a month, quarter or year."""

    model_config = ConfigDict(extra="forbid")

    username: Text = Field(max_length=200)
    period: Text = Field(max_length=40, description="2026-11, 2026Q4 or 2026")
    # strict: a JSON true is not 1 point; a text of a number is taken (the page's forms
    # send text), and store.check_points says what is wrong with any other value
    points: StrictInt | StrictFloat | StrictStr | None = Field(
        default=None, description="whole points, -20 to +20, not 0"
    )
    reason: Text | None = Field(default=None, description="why; required, at most 500 characters")


@router.post("/assessment/adjustments", status_code=201)
async def add_adjustment(
    body: AdjustmentIn, user: Supervisor, engine: EngineDep, settings: SettingsDep
) -> dict[str, Any]:
    """Record an adjustment with who made it and when; a refusal writes nothing."""
    try:
        label = parse_period(body.period, ZoneInfo(settings.timezone)).label
    except PeriodError as error:
        raise Refusal(422, "bad_period", str(error), field="period") from None

    def write() -> dict[str, Any]:
        try:
            store.check_points(body.points)
            store.check_reason(body.reason)
        except store.AssessmentError as error:
            raise Refusal(422, error.code, str(error), field=error.field) from None
        worker = roster.get_user_by_username(body.username, db=engine)
        if worker is None or not is_assessed(worker):
            raise Refusal(
                422,
                "unknown_user",
                f"{body.username[:64]!r} is not a grid worker who is assessed",
                field="username",
            )
        made = store.add_adjustment(
            worker.username, label, body.points, body.reason, user.username, db=engine
        )
        return made.json()

    return await run_in_threadpool(write)


@router.delete("/assessment/adjustments/{adjustment_id}", status_code=204)
async def withdraw_adjustment(adjustment_id: int, user: Supervisor, engine: EngineDep) -> Response:
    """Withdraw an adjustment: it stops counting and stays on the record with who withdrew
    it and when (again: 204, nothing changes)."""
    if not 0 < adjustment_id < 2**31:
        found = None
    else:
        found = await run_in_threadpool(
            store.withdraw_adjustment, adjustment_id, user.username, db=engine
        )
    if found is None:
        raise Refusal(404, "adjustment_not_found", "no adjustment has this id")
    return Response(status_code=204)


@router.get("/assessment/scheme")
async def get_scheme(user: CurrentUser, engine: EngineDep) -> dict[str, Any]:
    """The scheme in force (``default``: no admin has saved one)."""
    return (await run_in_threadpool(store.load_scheme, db=engine)).json()


class IndicatorIn(BaseModel):
    """A rate turned into points: 0 at ``zero_at`` or below, 100 at ``full_at`` or above."""

    model_config = ConfigDict(extra="forbid")

    rate: Text = Field(max_length=40, description="a rate: " + ", ".join(INDICATOR_RATES))
    weight: float = Field(description="more than 0")
    zero_at: float = Field(description="the rate (0 to 1) that earns 0 points")
    full_at: float = Field(description="the rate (0 to 1) that earns 100 points")


class GradesIn(BaseModel):
    """The lowest final points of 优秀, 称职 and 基本称职 (不称职 is below them all)."""

    model_config = ConfigDict(extra="forbid")

    excellent: float
    competent: float
    basically_competent: float


class SchemeIn(BaseModel):
    """A scheme as ``GET /assessment/scheme`` shows it."""

    model_config = ConfigDict(extra="forbid")

    indicators: list[IndicatorIn] = Field(max_length=len(INDICATOR_RATES))
    grades: GradesIn
    excellent_quota: float | None = Field(
        default=DEFAULT_QUOTA, description="the largest share of excellent grades; null: none"
    )
    min_assigned: int = Field(default=1, description="the fewest assigned stints for a grade")


@router.put("/assessment/scheme")
async def put_scheme(body: SchemeIn, user: AdminUser, engine: EngineDep) -> dict[str, Any]:
    """Replace the scheme in force; 422 ``scheme_invalid`` naming the field, nothing
    written."""

    def write() -> dict[str, Any]:
        try:
            return store.save_scheme(body.model_dump(), user.username, db=engine).json()
        except SchemeError as error:
            raise Refusal(422, "scheme_invalid", str(error), field=error.field) from None

    return await run_in_threadpool(write)
