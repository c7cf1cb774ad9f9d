"""The caller's pages: the follow-up queue of resolved requests to review
(``/followups``) and its list fragment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api import privacy
from api.deps import EngineDep, Principal, get_sealer
from api.roster import Role
from domain.privacy import Sealer
from domain.state import RESOLVED
from projections import pages, queries
from web.common import Denied, fragment, render, review_context, signed_in, translator
from web.i18n import Translator
from web.present import Directory, local, row

router = APIRouter(include_in_schema=False)

#: The caller's queue shows the oldest this many (the API pages through all of them).
QUEUE_LIMIT = 200


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


def _self_waiting(engine: Engine) -> int:
    """Resolved requests whose residents may still review them themselves (限时反馈): not
    in the queue until their window passes."""
    with engine.connect() as conn:
        return queries.count_followups(conn, self_review=True)


@router.get("/followups", response_class=HTMLResponse)
def followups_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, (Role.CALLER,))
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    return render(
        request,
        "followups.html",
        {
            "rows": _queue(engine, user, t, get_sealer(request)),
            "self_waiting": _self_waiting(engine),
            **review_context(t),
        },
        user=user,
    )


@router.get("/followups/list", response_class=HTMLResponse)
def followups_list(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, (Role.CALLER,), fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    rows = _queue(engine, user, t, get_sealer(request))
    context = {"rows": rows, "self_waiting": _self_waiting(engine), **review_context(t)}
    return fragment(request, "_queue.html", context)
