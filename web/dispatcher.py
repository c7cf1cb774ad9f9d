"""The dispatcher's pages: the platform's queue of requests waiting for dispatch (分解交办,
``/dispatch``) and its list fragment.

A dispatcher sees the waiting requests of the communities and towns they are posted at
(supervisors and admins: all of them), the longest waiting first, and hands each to a grid
of its community on a tier in one step (``POST /api/v1/requests/{id}/dispatch``). The tier
starts on the category's default tier. Closing a request as out of scope is not the
platform's move: the committees and supervisors do that from the request's page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api import duplicates as api_duplicates
from api import privacy
from api.deps import EngineDep, Principal, get_sealer, get_settings
from api.roster import Role
from closeloop import catalogue
from domain.duplicates import Rule
from domain.ladder import LADDER, TIER_LEVEL, UnitKind
from domain.privacy import Sealer
from projections import queries
from web import duplicates
from web.common import Denied, fragment, language, render, signed_in
from web.i18n import Translator
from web.present import Directory, duration_text, local, parse

router = APIRouter(include_in_schema=False)

#: Who opens the queue: the platform's dispatchers, and supervisors and admins (all units).
DISPATCHERS = (Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)

#: The queue shows the longest waiting this many (the API pages through all of them).
QUEUE_LIMIT = 100


def preselected_tier(tiers: dict[str, str], category: str) -> str | None:
    """The tier the dispatch form starts on: the category's default in the catalogue;
    None for a category it does not hold (the dispatcher then chooses)."""
    return tiers.get(category)


def _queue(
    engine: Engine, user: Principal, t: Translator, sealer: Sealer, rule: Rule | None = None
) -> tuple[list[dict[str, Any]], int]:
    units = list(user.dispatch_units) if user.role is Role.DISPATCHER else None
    directory = Directory.load(engine)
    tiers = {c.code: c.default_tier.value for c in catalogue.list_categories(db=engine)}
    with engine.connect() as conn:
        page = queries.dispatch_queue(conn, units, limit=QUEUE_LIMIT)
    items = privacy.visible(page["items"], user, sealer)
    grids = directory.of_kind(UnitKind.GRID)
    now = datetime.now(UTC)
    rule = rule or Rule()
    rows = []
    for item in items:
        since = parse(item.get("waiting_since") or item["created_at"])
        rows.append(
            {
                **item,
                "category_label": t.category(item["category"]),
                "grid_name": directory.name(item["grid_id"]),
                "community_name": directory.name(item["community_id"]),
                "waiting_since_iso": since.isoformat(),
                "waiting_since_local": local(since),
                "waiting_for": duration_text((now - since).total_seconds(), t),
                "created_local": local(item["created_at"]),
                "grids": [g for g in grids if g.parent_id == item["community_id"]],
                "default_tier": preselected_tier(tiers, item["category"]),
                # likely duplicates the dispatcher may know of (疑似重复)
                "duplicates": duplicates.count(engine, item, user, rule),
            }
        )
    return rows, int(page["total"])


def _tiers(t: Translator) -> list[tuple[str, str]]:
    """The tiers as the dispatch form offers them: ``1天 · 网格员（立说立办）``."""
    return [
        (
            tier.value,
            t(
                "dispatch.tier_option",
                tier=t("tier." + tier.value),
                level=t("level." + TIER_LEVEL[tier].value),
            ),
        )
        for tier in LADDER
    ]


def _context(request: Request, engine: Engine, user: Principal, t: Translator) -> dict[str, Any]:
    rule = api_duplicates.rule_of(get_settings(request))
    rows, total = _queue(engine, user, t, get_sealer(request), rule)
    return {"rows": rows, "total": total, "tiers": _tiers(t)}


@router.get("/dispatch", response_class=HTMLResponse)
def dispatch_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, DISPATCHERS)
    if isinstance(user, Denied):
        return user.response
    t = Translator(language(request))
    return render(request, "dispatch.html", _context(request, engine, user, t), user=user)


@router.get("/dispatch/list", response_class=HTMLResponse)
def dispatch_list(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, DISPATCHERS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = Translator(language(request))
    return fragment(request, "_dispatch_list.html", _context(request, engine, user, t))
