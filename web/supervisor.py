"""The supervisor's (and admin's) board: the list of requests with its filters, the
figures and charts for a unit and period, the fragments the page script reloads, and the
CSV exports of both."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api.bounds import EARLIEST, LATEST
from api.deps import EngineDep
from api.headers import page_policy
from api.roster import Role
from api.routes.board_map import map_of
from closeloop import catalogue
from closeloop.settings import Settings, tile_origin
from domain.ladder import LADDER, UnitKind
from domain.lifecycle import Status
from domain.review import DIMENSIONS, Answer
from projections import pages, queries
from projections.quarantine import quarantined_count
from web import charts
from web.common import (
    SUPERVISORS,
    Denied,
    csv_response,
    fragment,
    query_date,
    render,
    signed_in,
    translator,
)
from web.hotspots import month_topics
from web.i18n import ZH, Translator
from web.operations import UNDISPATCHED
from web.present import CST, OPEN, Directory, day_start, local, parse, percent, row, today

router = APIRouter(include_in_schema=False)

#: The board shows at most this many rows (the CSV has them all, up to CSV_LIMIT).
BOARD_LIMIT = 200
CSV_LIMIT = 100_000
#: The default period of the figures: the last 30 days.
DEFAULT_PERIOD_DAYS = 30
#: The rates-over-time chart has at most this many points.
MAX_POINTS = 31
#: The board's map shows at most this many requests (the JSON API gives up to 2000).
MAP_LIMIT = 500


#: The board's filters on the street-office operations (check boxes; each a keyword of
#: ``projections.pages.board``): only the requests in that state when ticked.
OPERATION_FILTERS = (
    "waiting_dispatch",
    "warned",
    "urged",
    "extension_pending",
    "cohandled",
    "out_of_scope",
)
#: These states are not "open" (assigned or in progress): ticked while the status filter
#: says "open", the status filter gives way to them.
NOT_OPEN_STATES = ("waiting_dispatch", "out_of_scope")


@dataclass(frozen=True)
class BoardFilters:
    unit_id: str | None
    tier: str | None
    status: str  # "open", "any" or a status
    category: str | None
    date_from: date
    date_to: date  # inclusive
    states: tuple[str, ...] = ()  # the ticked OPERATION_FILTERS

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
        end = query_date(q, "to") or today()
        start = query_date(q, "from") or max(
            end - timedelta(days=DEFAULT_PERIOD_DAYS - 1), EARLIEST
        )
        if start > end:
            start, end = end, start
        states = tuple(f for f in OPERATION_FILTERS if q.get(f) in ("1", "true", "on"))
        return cls(unit_id, tier, state, category, start, end, states)

    @property
    def statuses(self) -> list[str] | None:
        if self.status == "open":
            if any(s in NOT_OPEN_STATES for s in self.states):
                return None
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
            **{state: "1" for state in self.states},
        }
        return urlencode(params)

    def operations(self) -> dict[str, bool]:
        """The ticked operations' filters as ``projections.pages.board`` keywords."""
        return {state: True for state in self.states}


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
            **filters.operations(),
        )
        open_ids = [item["id"] for item in page["items"] if item["status"] in OPEN]
        starts = pages.window_starts(conn, open_ids)
    now = datetime.now(UTC)
    rows = [row(item, directory, t, starts.get(item["id"]), now) for item in page["items"]]
    for r in rows:
        r["last_urged_local"] = local(r.get("last_urged_at"))
        r["may_urge"] = r["status"] in UNDISPATCHED
    return rows, int(page["total"])


def _map_points(
    engine: Engine,
    user: Any,
    filters: BoardFilters,
    t: Translator,
    directory: Directory,
) -> dict[str, Any]:
    """The map's points under the board's unit, tier and category: the open requests
    (waiting for dispatch too), or only those of the status filter when it names one the
    map shows (resolved among them)."""
    statuses = [filters.status] if filters.status in pages.MAP_STATUS_CHOICES else None
    found = map_of(
        engine,
        user,
        statuses=statuses,
        unit_id=filters.unit_id,
        tier=filters.tier,
        category=filters.category,
        limit=MAP_LIMIT,
    )
    points = [
        {
            **p,
            "status_label": t("status." + p["status"]),
            "tier_label": t("tier." + p["tier"]),
            "category_label": t.category(p["category"]),
            "grid_name": directory.name(p["grid_id"]),
            "place": f"{p['lat']:.5f}, {p['long']:.5f}",
        }
        for p in found["items"]
    ]
    return {
        "map_points": points,
        "map_total": found["total"],
        "map_without_point": found["without_point"],
        "map_statuses": found["statuses"],
    }


def _map_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


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
    user = signed_in(request, SUPERVISORS)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    try:
        filters, directory = _board_context(request, engine)
    except RequestValidationError as refused:  # a date out of range: say which, as a page
        message = "; ".join(_field_message(e, t) for e in refused.errors())
        return render(
            request, "error.html", {"message": message, "code": 422}, user=user, status_code=422
        )
    rows, total = _board_rows(engine, filters, t, directory, BOARD_LIMIT)
    settings = _map_settings(request)
    response = render(
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
            "operation_filters": OPERATION_FILTERS,
            "can_urge": user.role is Role.SUPERVISOR,  # admins watch; supervisors urge
            "categories": _filter_categories(engine, t),
            "rows": rows,
            "total": total,
            # events in the projection's dead-letter table: a banner asks for a retry
            "quarantined": quarantined_count(engine),
            # the month's topics (每月一题), made on the hot-spot page
            **month_topics(engine, t, directory),
            **_figures(engine, filters, t, directory),
            # the map of the requests with a place (web/static/board_map.js)
            **_map_points(engine, user, filters, t, directory),
            "map_tiles": settings.map_tiles or "",
            "map_attribution": settings.map_attribution or "",
            "map_all_statuses": pages.MAP_STATUS_CHOICES,
        },
        user=user,
    )
    if settings.map_tiles:  # the tiles' server may send images to this page, no other
        policy = page_policy((tile_origin(settings.map_tiles),))
        response.headers["Content-Security-Policy"] = policy
    return response


@router.get("/board/list", response_class=HTMLResponse)
def board_list(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, SUPERVISORS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    filters, directory = _board_context(request, engine)
    rows, total = _board_rows(engine, filters, t, directory, BOARD_LIMIT)
    context = {
        "rows": rows,
        "total": total,
        "query": filters.query(),
        "can_urge": user.role is Role.SUPERVISOR,
    }
    return fragment(request, "_board_list.html", context)


@router.get("/board/map/list", response_class=HTMLResponse)
def board_map_list(request: Request, engine: EngineDep) -> Response:
    """The map's table of points, which the page reloads and redraws the map from."""
    user = signed_in(request, SUPERVISORS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    filters, directory = _board_context(request, engine)
    return fragment(
        request, "_board_map_list.html", _map_points(engine, user, filters, t, directory)
    )


@router.get("/board/figures", response_class=HTMLResponse)
def board_figures(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, SUPERVISORS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    filters, directory = _board_context(request, engine)
    return fragment(
        request, "_figures.html", {"filters": filters, **_figures(engine, filters, t, directory)}
    )


@router.get("/board/requests.csv")
def board_csv(request: Request, engine: EngineDep) -> Response:
    """The board's list with its filters, every matching row."""
    user = signed_in(request, SUPERVISORS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
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
    return csv_response("requests", header, lines)


@router.get("/board/stats.csv")
def stats_csv(request: Request, engine: EngineDep) -> Response:
    """The board's figures for its unit and period, in long form: section, item, measure, value."""
    user = signed_in(request, SUPERVISORS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
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
    return csv_response("stats", ["section", "item", "measure", "value"], lines)


def _value(value: Any) -> Any:
    return "" if value is None else value
