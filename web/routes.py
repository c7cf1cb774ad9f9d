"""The pages: log-in, the supervisor's board, a handler's tasks, the caller's queue, a
request's timeline, and the resident's report and tracking pages.

Pages and the fragments their script reloads are rendered here from the read models (the
same query functions the JSON API uses); every action a page takes goes to the JSON API
(``/api/v1``) from the page script, so the API's rules and answers are the only ones.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from api import privacy, roster
from api.bounds import EARLIEST, LATEST, date_error, refuse_date
from api.deps import EngineDep, Principal, SettingsDep, get_sealer
from api.errors import body_of, request_not_found
from api.roster import Role
from api.routes import auth
from api.routes.track import SECRET_LINK_HEADERS, public_view
from api.text import control_character
from closeloop import catalogue
from domain.ladder import LADDER, UnitKind
from domain.lifecycle import Status
from domain.privacy import Sealer
from domain.review import DIMENSIONS, MAX_UNREACHED_ATTEMPTS, Answer
from domain.state import RESOLVED
from projections import pages, queries
from projections.quarantine import quarantined_count
from web import admin_categories, charts
from web.i18n import EN, LANG_COOKIE, ZH, Translator, pick_language
from web.present import (
    CST,
    OPEN,
    Directory,
    day_start,
    local,
    parse,
    percent,
    row,
    time_left_text,
    timeline_lines,
    today,
    urgency,
)
from web.session import COOKIE, WEB_HEADER, landing, page_user, safe_next, user_of_token

router = APIRouter(include_in_schema=False)
router.include_router(admin_categories.router)  # the admins' category catalogue
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

#: The board shows at most this many rows (the CSV has them all, up to CSV_LIMIT).
BOARD_LIMIT = 200
CSV_LIMIT = 100_000
#: The caller's queue shows the oldest this many (the API pages through all of them).
QUEUE_LIMIT = 200
#: The default period of the figures: the last 30 days.
DEFAULT_PERIOD_DAYS = 30
#: The rates-over-time chart has at most this many points.
MAX_POINTS = 31

STAFF = (Role.ADMIN, Role.SUPERVISOR, Role.HANDLER, Role.CALLER)
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)

# ---- the frame ----------------------------------------------------------------------


def _lang(request: Request) -> str:
    return pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


def _translator(request: Request) -> Translator:
    """The page's language, naming the categories as the catalogue does."""
    engine: Engine = request.app.state.engine
    return Translator(_lang(request), catalogue.names(db=engine))


def _switch_url(request: Request, lang: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    params.append(("lang", EN if lang == ZH else ZH))
    return f"{request.url.path}?{urlencode(params)}"


def _render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    user: Principal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    t = _translator(request)
    lang = t.lang
    response = templates.TemplateResponse(
        request,
        template,
        {
            "t": t,
            "lang": lang,
            "user": user,
            "role_label": t(f"role.{user.role.value}") if user else "",
            "home": landing(user.role) if user else "/",
            "now_iso": datetime.now(UTC).isoformat(),
            "strings": t.script_strings(),
            "switch_url": _switch_url(request, lang),
            "web_header": WEB_HEADER,
            **context,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},  # pages show live data: never a stale copy
    )
    if request.query_params.get("lang"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def _fragment(request: Request, template: str, context: dict[str, Any]) -> HTMLResponse:
    t = _translator(request)
    return templates.TemplateResponse(
        request,
        template,
        {"t": t, "lang": t.lang, **context},
        headers={"Cache-Control": "no-store"},
    )


@dataclass(frozen=True)
class Denied:
    """Why a page is not shown: not signed in (go and log in) or the wrong role."""

    response: Response


def _signed_in(
    request: Request, roles: Iterable[Role], fragment: bool = False
) -> Principal | Denied:
    """The page's user when they hold one of ``roles``; else where to send them."""
    user = page_user(request)
    allowed = tuple(roles)
    if user is None:
        if fragment:
            return Denied(JSONResponse({"detail": "sign in first"}, status_code=401))
        target = urlencode(
            {"next": request.url.path + (f"?{request.url.query}" if request.url.query else "")}
        )
        return Denied(RedirectResponse(f"/login?{target}", status_code=status.HTTP_303_SEE_OTHER))
    if user.role not in allowed:
        t = _translator(request)
        message = t(
            "error.page_role",
            roles=" / ".join(t(f"role.{r.value}") for r in allowed),
            role=t(f"role.{user.role.value}"),
        )
        if fragment:
            return Denied(JSONResponse({"detail": message}, status_code=403))
        return Denied(
            _render(
                request, "error.html", {"message": message, "code": 403}, user=user, status_code=403
            )
        )
    return user


# ---- log-in -------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _render(
        request,
        "login.html",
        {"next": safe_next(request.query_params.get("next")) or ""},
        user=page_user(request),
    )


@router.post("/web/session")
def log_in(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
    settings: SettingsDep,
) -> dict[str, str]:
    """The API's token endpoint, with the token put in the session cookie."""
    # 401 on bad credentials, 429 when throttled, as the API
    token = auth.issue_token(request, form, engine, settings)
    response.set_cookie(
        COOKIE,
        token.access_token,
        max_age=settings.token_minutes * 60,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    user = user_of_token(token.access_token, engine, settings)
    if user is None:  # removed between issuing the token and now
        return {"redirect": "/login"}
    target = safe_next(request.query_params.get("next"))
    if target is None or not _may_open(user, target):
        target = landing(user.role)
    return {"redirect": target}


def _may_open(user: Principal, path: str) -> bool:
    needs = {"/board": SUPERVISORS, "/tasks": (Role.HANDLER,), "/followups": (Role.CALLER,)}
    for prefix, roles in needs.items():
        if path == prefix or path.startswith(prefix + "?") or path.startswith(prefix + "/"):
            return user.role in roles
    return True


@router.post("/web/session/logout")
def log_out(request: Request, response: Response, engine: EngineDep) -> dict[str, str]:
    """Sign out as ``POST /api/v1/auth/logout`` does: the user's tokens are revoked (a copy
    of the cookie is of no use any more), then the cookie is dropped."""
    user = page_user(request)
    if user is not None:
        roster.revoke_tokens(user.id, db=engine)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return {"redirect": "/login"}


# ---- the resident -------------------------------------------------------------------


def _intake_choices(engine: Engine, t: Translator) -> dict[str, Any]:
    directory = Directory.load(engine)
    return {
        "grid_groups": directory.grids_by_community(),
        "categories": [
            (c.code, t.category(c.code))
            for c in catalogue.list_categories(db=engine, include_retired=False)
        ],
    }


@router.get("/", response_class=HTMLResponse)
def resident_page(request: Request, engine: EngineDep) -> HTMLResponse:
    t = _translator(request)
    return _render(request, "resident.html", _intake_choices(engine, t), user=page_user(request))


def _track_context(engine: Engine, token: str, t: Translator) -> dict[str, Any] | None:
    view = public_view(engine, token)
    if view is None:
        return None
    is_open = view["status"] in OPEN
    start = _window_from_public(view)
    return {
        "view": view,
        "token": token,
        "lines": timeline_lines(view["timeline"], t),
        "category_label": t.category(view["category"]),
        "is_open": is_open,
        "deadline_local": local(view["deadline"]),
        "time_left": time_left_text(view["deadline"], t) if is_open else "",
        "created_local": local(view["created_at"]),
        "urgency": urgency(start, view["deadline"], view["overdue"]) if is_open else "none",
        "window_start": start.isoformat(),
    }


def _window_from_public(view: dict[str, Any]) -> datetime:
    """When the request's current deadline window opened, from the resident's timeline."""
    start = parse(view["created_at"])
    for entry in view["timeline"]:
        if entry["type"] == "Escalated" or (
            entry["type"] == "Reviewed" and entry.get("outcome") == "reopened"
        ):
            start = parse(entry["at"])
    return start


def _secret_page(response: Response) -> Response:
    """A page whose address is a secret: never sent on as a referrer, never indexed."""
    response.headers.update(SECRET_LINK_HEADERS)
    return response


@router.get("/track/{token}", response_class=HTMLResponse)
def track_page(request: Request, token: str, engine: EngineDep) -> Response:
    t = _translator(request)
    context = _track_context(engine, token, t)
    if context is None:
        return _secret_page(
            _render(
                request,
                "error.html",
                {"message": t("track.not_found"), "code": 404},
                status_code=404,
            )
        )
    return _secret_page(_render(request, "track.html", context, user=page_user(request)))


@router.get("/track/{token}/body", response_class=HTMLResponse)
def track_body(request: Request, token: str, engine: EngineDep) -> Response:
    t = _translator(request)
    context = _track_context(engine, token, t)
    if context is None:
        return _secret_page(JSONResponse(body_of(request_not_found()), status_code=404))
    return _secret_page(_fragment(request, "_track_body.html", context))


# ---- the board ----------------------------------------------------------------------


@dataclass(frozen=True)
class BoardFilters:
    unit_id: str | None
    tier: str | None
    status: str  # "open", "any" or a status
    category: str | None
    date_from: date
    date_to: date  # inclusive

    @classmethod
    def of(cls, request: Request, directory: Directory, categories: Iterable[str]) -> BoardFilters:
        q = request.query_params
        unit_id = q.get("unit_id") or None
        if unit_id is not None and unit_id not in directory.units:
            unit_id = None
        tier = q.get("tier") or None
        if tier not in {t.value for t in LADDER}:
            tier = None
        state = q.get("status") or "open"
        if state not in {"open", "any", *(s.value for s in Status)}:
            state = "open"
        category = q.get("category") or None
        if category not in set(categories):
            category = None
        end = _date(q, "to") or today()
        start = _date(q, "from") or max(end - timedelta(days=DEFAULT_PERIOD_DAYS - 1), EARLIEST)
        if start > end:
            start, end = end, start
        return cls(unit_id, tier, state, category, start, end)

    @property
    def statuses(self) -> list[str] | None:
        if self.status == "open":
            return list(OPEN)
        if self.status == "any":
            return None
        return [self.status]

    @property
    def period(self) -> tuple[datetime, datetime]:
        return day_start(self.date_from), day_start(self.date_to + timedelta(days=1))

    def query(self) -> str:
        params = {
            "unit_id": self.unit_id or "",
            "tier": self.tier or "",
            "status": self.status,
            "category": self.category or "",
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
        }
        return urlencode(params)


def _date(query: Any, name: str) -> date | None:
    """The date parameter ``name``: None when absent or not a date (the default period
    applies); a date outside the sane range (:mod:`api.bounds`) is refused with a 422."""
    value = query.get(name)
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    if date_error(day) is not None:
        raise refuse_date(name, value)
    return day


def _board_rows(
    engine: Engine, filters: BoardFilters, t: Translator, directory: Directory, limit: int
) -> tuple[list[dict[str, Any]], int]:
    with engine.connect() as conn:
        page = pages.board(
            conn,
            statuses=filters.statuses,
            tier=filters.tier,
            unit_id=filters.unit_id,
            category=filters.category,
            limit=limit,
        )
        open_ids = [item["id"] for item in page["items"] if item["status"] in OPEN]
        starts = pages.window_starts(conn, open_ids)
    now = datetime.now(UTC)
    rows = [row(item, directory, t, starts.get(item["id"]), now) for item in page["items"]]
    return rows, int(page["total"])


def _grids_under(directory: Directory, unit_id: str | None) -> list[Any]:
    grids = directory.of_kind(UnitKind.GRID)
    if unit_id is None:
        return grids
    unit = directory.units[unit_id]
    if unit.kind is UnitKind.GRID:
        return [unit]
    if unit.kind is UnitKind.COMMUNITY:
        return [g for g in grids if g.parent_id == unit.id]
    communities = {c.id for c in directory.of_kind(UnitKind.COMMUNITY) if c.parent_id == unit.id}
    return [g for g in grids if g.parent_id in communities]


def _edges(filters: BoardFilters) -> list[datetime]:
    days = (filters.date_to - filters.date_from).days + 1
    step = max(1, math.ceil(days / MAX_POINTS))
    edges = [day_start(filters.date_from + timedelta(days=k)) for k in range(0, days, step)]
    edges.append(day_start(filters.date_to + timedelta(days=1)))
    return edges


def _figures(
    engine: Engine, filters: BoardFilters, t: Translator, directory: Directory
) -> dict[str, Any]:
    start, end = filters.period
    unit = filters.unit_id
    with engine.connect() as conn:
        stats = queries.stats(conn, unit_id=unit, date_from=start, date_to=end)
        edges = _edges(filters)
        points = pages.series(conn, edges=edges, unit_id=unit)
        grids = pages.per_grid(conn, unit_id=unit, date_from=start, date_to=end)
        by_tier = pages.escalations_by_tier(conn, unit_id=unit, date_from=start, date_to=end)
    x_labels = [parse(p["start"]).astimezone(CST).strftime("%m-%d") for p in points]
    rates_chart = charts.lines(
        [
            charts.Series(
                t("fig.completion_rate"), [p["completion_rate"] for p in points], "s-completion"
            ),
            charts.Series(t("fig.on_time_rate"), [p["on_time_rate"] for p in points], "s-ontime"),
            charts.Series(
                t("fig.satisfaction_rate"),
                [p["satisfaction_rate"] for p in points],
                "s-satisfaction",
            ),
        ],
        x_labels,
        t("fig.rates_over_time"),
    )
    tier_chart = charts.columns(
        [
            charts.Bar(
                t(f"tier.{tier.value}"), stats["open_by_tier"][tier.value], f"tier-{tier.value}"
            )
            for tier in LADDER
        ],
        t("fig.by_tier"),
    )
    grid_rows = []
    grid_table = []
    for grid in _grids_under(directory, unit):
        g = grids.get(grid.id, {})
        received, closed = g.get("received", 0), g.get("closed", 0)
        completion, satisfaction = g.get("completion_rate"), g.get("satisfaction_rate")
        grid_rows.append(
            (
                grid.name,
                [
                    charts.Bar(
                        t("fig.completion_rate"),
                        completion or 0.0,
                        "s-completion",
                        f"{percent(completion)} ({closed}/{received})",
                    ),
                    charts.Bar(
                        t("fig.satisfaction_rate"),
                        satisfaction or 0.0,
                        "s-satisfaction",
                        percent(satisfaction),
                    ),
                ],
            )
        )
        grid_table.append({"name": grid.name, **g})
    grid_chart = charts.bar_rows(grid_rows, t("fig.per_grid"), scale=1.0, width=620, label_w=200)
    dimension_rows = [
        (
            t(f"dim.{d}"),
            [
                charts.Bar(
                    t(f"answer.{a.value}"),
                    stats["dimensions"][d][a.value],
                    f"a-{a.value}",
                    f"{t(f'answer.{a.value}')} {stats['dimensions'][d][a.value]}",
                )
                for a in Answer
            ],
        )
        for d in DIMENSIONS
    ]
    dimension_chart = charts.stacked(dimension_rows, t("fig.dimensions"), width=340, label_w=105)
    escalation_rows: list[dict[str, Any]] = []
    for i, tier in enumerate(LADDER[:-1]):
        counts = by_tier.get(tier.value, {"automatic": 0, "manual": 0})
        escalation_rows.append(
            {
                "from": t(f"tier.{tier.value}"),
                "to": t(f"tier.{LADDER[i + 1].value}"),
                "tier": tier.value,
                "next": LADDER[i + 1].value,
                "automatic": counts["automatic"],
                "manual": counts["manual"],
            }
        )
    escalation_chart = charts.bar_rows(
        [
            (
                f"{t('tier_short.' + r['tier'])} → {t('tier_short.' + r['next'])}",
                [
                    charts.Bar(
                        t("fig.automatic"),
                        r["automatic"],
                        "e-auto",
                        f"{r['automatic']} {t('fig.automatic')}",
                    ),
                    charts.Bar(
                        t("fig.manual"), r["manual"], "e-manual", f"{r['manual']} {t('fig.manual')}"
                    ),
                ],
            )
            for r in escalation_rows
        ],
        t("fig.escalations_by_tier"),
        width=350,
        label_w=100,
    )
    return {
        "stats": stats,
        "percent": percent,
        "rates_chart": rates_chart,
        "tier_chart": tier_chart,
        "grid_chart": grid_chart,
        "grid_table": grid_table,
        "dimension_chart": dimension_chart,
        "escalation_rows": escalation_rows,
        "escalation_chart": escalation_chart,
        "points": points,
        "unit_name": directory.name(unit) if unit else t("unit.any"),
    }


def _field_message(error: Any, t: Translator) -> str:
    """A query parameter's refusal in the page's language: ``from: <why>``."""
    name = error["loc"][-1]
    return f"{t('board.' + name)}: {t('field.' + error['type'], **error.get('ctx', {}))}"


def _board_context(request: Request, engine: Engine) -> tuple[BoardFilters, Directory]:
    directory = Directory.load(engine)
    return BoardFilters.of(request, directory, catalogue.names(db=engine)), directory


def _filter_categories(engine: Engine, t: Translator) -> list[tuple[str, str]]:
    """The board's category filter: every category, a retired one marked so (requests
    filed in it are still on the board)."""
    choices = []
    for c in catalogue.list_categories(db=engine):
        name = t.category(c.code)
        choices.append((c.code, t("category.retired", name=name) if c.retired else name))
    return choices


@router.get("/board", response_class=HTMLResponse)
def board_page(request: Request, engine: EngineDep) -> Response:
    user = _signed_in(request, SUPERVISORS)
    if isinstance(user, Denied):
        return user.response
    t = _translator(request)
    try:
        filters, directory = _board_context(request, engine)
    except RequestValidationError as refused:  # a date out of range: say which, as a page
        message = "; ".join(_field_message(e, t) for e in refused.errors())
        return _render(
            request, "error.html", {"message": message, "code": 422}, user=user, status_code=422
        )
    rows, total = _board_rows(engine, filters, t, directory, BOARD_LIMIT)
    return _render(
        request,
        "board.html",
        {
            "earliest": EARLIEST.isoformat(),
            "latest": LATEST.isoformat(),
            "filters": filters,
            "query": filters.query(),
            "units": directory.tree(),
            "tiers": [tier.value for tier in LADDER],
            "statuses": ["open", *[s.value for s in Status], "any"],
            "categories": _filter_categories(engine, t),
            "rows": rows,
            "total": total,
            # events in the projection's dead-letter table: a banner asks for a retry
            "quarantined": quarantined_count(engine),
            **_figures(engine, filters, t, directory),
        },
        user=user,
    )


@router.get("/board/list", response_class=HTMLResponse)
def board_list(request: Request, engine: EngineDep) -> Response:
    user = _signed_in(request, SUPERVISORS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = _translator(request)
    filters, directory = _board_context(request, engine)
    rows, total = _board_rows(engine, filters, t, directory, BOARD_LIMIT)
    return _fragment(
        request, "_board_list.html", {"rows": rows, "total": total, "query": filters.query()}
    )


@router.get("/board/figures", response_class=HTMLResponse)
def board_figures(request: Request, engine: EngineDep) -> Response:
    user = _signed_in(request, SUPERVISORS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = _translator(request)
    filters, directory = _board_context(request, engine)
    return _fragment(
        request, "_figures.html", {"filters": filters, **_figures(engine, filters, t, directory)}
    )


#: A text cell starting with one of these is a formula to a spreadsheet program.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: a text starting like a formula (a resident may
    write ``=HYPERLINK(...)`` into a description) gets a leading apostrophe. Numbers stay
    numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv(name: str, header: list[str], lines: Iterable[Iterable[Any]]) -> Response:
    out = io.StringIO()
    out.write("\ufeff")  # so that spreadsheet programs read the Chinese as UTF-8
    writer = csv.writer(out)
    writer.writerow([csv_cell(cell) for cell in header])
    writer.writerows([csv_cell(cell) for cell in line] for line in lines)
    stamp = datetime.now(CST).strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="closeloop-{name}-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/board/requests.csv")
def board_csv(request: Request, engine: EngineDep) -> Response:
    """The board's list with its filters, every matching row."""
    user = _signed_in(request, SUPERVISORS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = _translator(request)
    filters, directory = _board_context(request, engine)
    rows, _ = _board_rows(engine, filters, t, directory, CSV_LIMIT)
    header = [
        "id",
        t("board.col.request"),
        t("request.description"),
        t("board.col.grid"),
        t("board.col.tier"),
        t("board.col.level"),
        t("board.col.assignees"),
        t("board.col.status"),
        t("request.channel"),
        t("request.created"),
        t("request.deadline"),
        "seconds_left",
        "urgency",
        t("fig.overdue"),
        t("board.col.escalations"),
        "reopens",
    ]
    sep = "、" if t.lang == ZH else "; "
    lines = ([
        r["id"], r["category_label"], r["description"], r["grid_name"], r["tier_label"],
        r["level_label"], sep.join(a["display_name"] for a in r["assignees"]), r["status_label"],
        t(f"channel.{r['channel']}"), r["created_local"], r["deadline_local"],
        r["seconds_left"] if r["is_open"] else "", r["urgency"], int(bool(r["overdue"])),
        r["escalations"], r["reopens"],
    ] for r in rows)  # fmt: skip
    return _csv("requests", header, lines)


@router.get("/board/stats.csv")
def stats_csv(request: Request, engine: EngineDep) -> Response:
    """The board's figures for its unit and period, in long form: section, item, measure, value."""
    user = _signed_in(request, SUPERVISORS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = _translator(request)
    filters, directory = _board_context(request, engine)
    f = _figures(engine, filters, t, directory)
    stats = f["stats"]
    lines: list[list[Any]] = [
        ["scope", "unit", "name", f["unit_name"]],
        ["scope", "period", "from", filters.date_from.isoformat()],
        ["scope", "period", "to", filters.date_to.isoformat()],
    ]
    for key in (
        "received",
        "closed",
        "completion_rate",
        "on_time_rate",
        "reviews_reached",
        "satisfied",
        "satisfaction_rate",
        "escalations",
        "overdue",
    ):
        lines.append(["summary", "", key, _value(stats[key])])
    for tier, n in stats["open_by_tier"].items():
        lines.append(["open_by_tier", tier, "open", n])
    for dimension, answers in stats["dimensions"].items():
        for answer, n in answers.items():
            lines.append(["dimension", dimension, answer, n])
    for r in f["escalation_rows"]:
        lines.append(["escalations_by_tier", r["tier"], "automatic", r["automatic"]])
        lines.append(["escalations_by_tier", r["tier"], "manual", r["manual"]])
    for g in f["grid_table"]:
        for key in (
            "received",
            "closed",
            "completion_rate",
            "on_time_rate",
            "satisfaction_rate",
            "open",
            "overdue",
            "escalations",
        ):
            lines.append(
                ["grid", g["name"], key, _value(g.get(key, 0 if "rate" not in key else None))]
            )
    for p in f["points"]:
        day = parse(p["start"]).astimezone(CST).date().isoformat()
        for key in ("received", "closed", "completion_rate", "on_time_rate", "satisfaction_rate"):
            lines.append(["day", day, key, _value(p[key])])
    return _csv("stats", ["section", "item", "measure", "value"], lines)


def _value(value: Any) -> Any:
    return "" if value is None else value


# ---- the handler's tasks ------------------------------------------------------------


def _task_rows(
    engine: Engine, user: Principal, t: Translator, sealer: Sealer
) -> list[dict[str, Any]]:
    directory = Directory.load(engine)
    posts = [(a.unit_id, a.level.value) for a in user.assignments]
    with engine.connect() as conn:
        items = privacy.visible(queries.tasks(conn, assignments=posts), user, sealer)
        starts = pages.window_starts(conn, [i["id"] for i in items])
    now = datetime.now(UTC)
    return [row(item, directory, t, starts.get(item["id"]), now) for item in items]


@router.get("/tasks", response_class=HTMLResponse)
def tasks_page(request: Request, engine: EngineDep) -> Response:
    user = _signed_in(request, (Role.HANDLER,))
    if isinstance(user, Denied):
        return user.response
    t = _translator(request)
    mine = {a.unit_id for a in user.assignments}
    choices = _intake_choices(engine, t)
    # the handler's own grids first in the picker
    choices["grid_groups"] = sorted(
        choices["grid_groups"],
        key=lambda group: not any(g.id in mine or group[0].id in mine for g in group[1]),
    )
    return _render(
        request,
        "tasks.html",
        {"rows": _task_rows(engine, user, t, get_sealer(request)), "my_units": mine, **choices},
        user=user,
    )


@router.get("/tasks/list", response_class=HTMLResponse)
def tasks_list(request: Request, engine: EngineDep) -> Response:
    user = _signed_in(request, (Role.HANDLER,), fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = _translator(request)
    rows = _task_rows(engine, user, t, get_sealer(request))
    return _fragment(request, "_task_list.html", {"rows": rows})


# ---- the caller's queue -------------------------------------------------------------


def _queue(engine: Engine, user: Principal, t: Translator, sealer: Sealer) -> list[dict[str, Any]]:
    directory = Directory.load(engine)
    with engine.connect() as conn:
        items = privacy.visible(queries.followups(conn, limit=QUEUE_LIMIT), user, sealer)
        resolutions = pages.latest_entries(conn, [i["id"] for i in items], RESOLVED)
    now = datetime.now(UTC)
    result = []
    for item in items:
        shown = row(item, directory, t, None, now)
        resolved = resolutions.get(item["id"], {})
        shown["resolution"] = resolved.get("resolution", "")
        shown["resolved_by"] = directory.display_name(resolved["actor"]) if resolved else ""
        shown["resolved_local"] = local(item.get("resolved_at"))
        result.append(shown)
    return result


def _review_context(t: Translator) -> dict[str, Any]:
    return {
        "dimensions": [(d, t.question(d)) for d in DIMENSIONS],
        "answers": [a.value for a in Answer],
        "max_attempts": MAX_UNREACHED_ATTEMPTS,
    }


@router.get("/followups", response_class=HTMLResponse)
def followups_page(request: Request, engine: EngineDep) -> Response:
    user = _signed_in(request, (Role.CALLER,))
    if isinstance(user, Denied):
        return user.response
    t = _translator(request)
    return _render(
        request,
        "followups.html",
        {"rows": _queue(engine, user, t, get_sealer(request)), **_review_context(t)},
        user=user,
    )


@router.get("/followups/list", response_class=HTMLResponse)
def followups_list(request: Request, engine: EngineDep) -> Response:
    user = _signed_in(request, (Role.CALLER,), fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = _translator(request)
    rows = _queue(engine, user, t, get_sealer(request))
    return _fragment(request, "_queue.html", {"rows": rows, **_review_context(t)})


# ---- one request --------------------------------------------------------------------


def _request_context(
    engine: Engine, request_id: str, user: Principal, t: Translator, sealer: Sealer
) -> dict[str, Any] | None:
    if control_character(request_id) is not None:  # no request has it (PostgreSQL: an error)
        return None
    with engine.connect() as conn:
        stored = queries.get_request(conn, request_id)
        view = privacy.present(stored, user, sealer) if stored is not None else None
        if view is None:  # no such request, or not one this user may know of
            return None
        starts = pages.window_starts(conn, [request_id])
    directory = Directory.load(engine)
    shown = row(view, directory, t, starts.get(request_id), datetime.now(UTC))
    names = {e["actor"]: directory.display_name(e["actor"]) for e in view["timeline"]}
    return {
        "r": shown,
        "lines": timeline_lines(view["timeline"], t, names),
        "channel_label": t(f"channel.{view['channel']}"),
        "can_handle": user.role is Role.HANDLER and shown["is_open"],
        "can_review": user.role is Role.CALLER and view["status"] == Status.RESOLVED.value,
        **_review_context(t),
    }


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(request: Request, request_id: str, engine: EngineDep) -> Response:
    user = _signed_in(request, STAFF)
    if isinstance(user, Denied):
        return user.response
    t = _translator(request)
    context = _request_context(engine, request_id, user, t, get_sealer(request))
    if context is None:
        return _render(
            request,
            "error.html",
            {"message": t("error.not_found_request"), "code": 404},
            user=user,
            status_code=404,
        )
    return _render(request, "request.html", context, user=user)


@router.get("/requests/{request_id}/body", response_class=HTMLResponse)
def request_body(request: Request, request_id: str, engine: EngineDep) -> Response:
    user = _signed_in(request, STAFF, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = _translator(request)
    context = _request_context(engine, request_id, user, t, get_sealer(request))
    if context is None:
        return JSONResponse({"detail": "no such request"}, status_code=404)
    return _fragment(request, "_request_body.html", context)
