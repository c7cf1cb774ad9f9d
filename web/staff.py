"""One request's page (``/requests/{request_id}``), shared by all staff: its details, the
street-office operations on it (warning, urges, the pending extension, co-handlers,
assisting levels, dispatch wait, out of scope, appeal) and its timeline, with the actions
the user's role and posts may try on it (:func:`web.operations.allowed`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import Engine

from api import duplicates as api_duplicates
from api import privacy
from api.deps import EngineDep, Principal, get_sealer, get_settings
from api.roster import Role
from api.text import control_character
from domain.duplicates import Rule
from domain.ladder import LADDER, TIER_LEVEL, UnitKind
from domain.lifecycle import Status
from domain.privacy import Sealer
from projections import pages, queries
from web import duplicates
from web.common import STAFF, Denied, fragment, render, review_context, signed_in, translator
from web.i18n import Translator
from web.operations import allowed, with_operations
from web.present import Directory, row, timeline_lines

router = APIRouter(include_in_schema=False)


def _request_context(
    engine: Engine,
    request_id: str,
    user: Principal,
    t: Translator,
    sealer: Sealer,
    dup_rule: Rule | None = None,
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
    dup_rule = dup_rule or Rule()
    likely = duplicates.shown(engine, view, user, dup_rule, directory, t)
    shown = row(view, directory, t, starts.get(request_id), datetime.now(UTC))
    shown = with_operations(shown, view, directory, t)
    names = {e["actor"]: directory.display_name(e["actor"]) for e in view["timeline"]}
    may = allowed(user, view)
    return {
        "r": shown,
        # grids named on Dispatched and Redirected entries
        "lines": timeline_lines(
            view["timeline"], t, names, {u.id: u.name for u in directory.units.values()}
        ),
        "channel_label": t(f"channel.{view['channel']}"),
        "can_handle": user.role is Role.HANDLER and shown["is_open"],
        "can_review": user.role is Role.CALLER and view["status"] == Status.RESOLVED.value,
        "may": may,
        # the grids of its community, for a redirect (改派); the tiers, for a re-tier
        "grids": [
            unit
            for unit in directory.of_kind(UnitKind.GRID)
            if unit.parent_id == view["community_id"]
        ],
        "tiers": [(tier.value, TIER_LEVEL[tier].value) for tier in LADDER],
        # likely duplicates (疑似重复): None for a reader who is not shown them
        "duplicates": likely,
        "dup_rule": dup_rule,
        # merging it into a suggestion (POST /api/v1/requests/{id}/merge decides)
        "may_merge": may["merge"],
        # the request it is merged into, and those merged into it (合并)
        "merge": _merge_context(engine, view, directory, t),
        **review_context(t),
    }


def _merge_context(
    engine: Engine, view: dict[str, Any], directory: Directory, t: Translator
) -> dict[str, Any] | None:
    """What the page says of merging: the primary this request follows (its id, status,
    why and by whom), and the requests merged into this one (each id and status); None
    when neither."""
    into = view.get("merged_into")
    merged_in = view.get("duplicates") or []
    if not into and not merged_in:
        return None
    with engine.connect() as conn:
        others = {i: queries.get_request(conn, i) for i in [*([into] if into else []), *merged_in]}

    def status_of(request_id: str) -> str:
        other = others.get(request_id)
        return t("status." + other["status"]) if other else ""

    info = view.get("merged") or {}
    return {
        "into": into,
        "following": view["status"] == Status.MERGED.value,
        "into_status": status_of(into) if into else "",
        "reason": info.get("reason", ""),
        "by": directory.display_name(info["by"]) if info.get("by") else "",
        "duplicates": [{"id": i, "status": status_of(i)} for i in merged_in],
    }


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(request: Request, request_id: str, engine: EngineDep) -> Response:
    user = signed_in(request, STAFF)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    rule = api_duplicates.rule_of(get_settings(request))
    context = _request_context(engine, request_id, user, t, get_sealer(request), rule)
    if context is None:
        return render(
            request,
            "error.html",
            {"message": t("error.not_found_request"), "code": 404},
            user=user,
            status_code=404,
        )
    return render(request, "request.html", context, user=user)


@router.get("/requests/{request_id}/body", response_class=HTMLResponse)
def request_body(request: Request, request_id: str, engine: EngineDep) -> Response:
    user = signed_in(request, STAFF, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    rule = api_duplicates.rule_of(get_settings(request))
    context = _request_context(engine, request_id, user, t, get_sealer(request), rule)
    if context is None:
        return JSONResponse({"detail": "no such request"}, status_code=404)
    return fragment(request, "_request_body.html", context)
