"""The partner's page: the requests they were called in on as a co-handler (协办,
``/partner``) and its list fragment. Phone-first: a property company's steward reads it
on the way to the door.

Each card shows their part (the task, when it is due), the request in short, and the
resident's contact as domain.privacy lets them see it (in full while their part is open,
masked after). While their part is open they may note progress
(``POST /api/v1/requests/{id}/progress``) and mark it done with a note
(``POST /api/v1/requests/{id}/cohandlers/{username}/done``).
"""

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
from projections import queries
from web.common import Denied, fragment, language, render, signed_in
from web.i18n import Translator
from web.present import OPEN, Directory, local, parse, time_left_text

router = APIRouter(include_in_schema=False)

#: The list shows this many (their open parts first; the API pages through all).
LIST_LIMIT = 100


def _as_privacy_sees(item: dict[str, Any]) -> dict[str, Any]:
    """The list item with the co-handler's own part in ``cohandlers``, which is what
    domain.privacy reads a co-handler's sight from."""
    part = item.get("cohandler")
    return {**item, "cohandlers": [part] if part else []}


def _parts(engine: Engine, user: Principal, t: Translator, sealer: Sealer) -> list[dict[str, Any]]:
    directory = Directory.load(engine)
    with engine.connect() as conn:
        page = queries.cohandled(conn, user.username, limit=LIST_LIMIT)
    items = privacy.visible([_as_privacy_sees(i) for i in page["items"]], user, sealer)
    now = datetime.now(UTC)
    rows = []
    for item in items:
        part = item.get("cohandler") or {}
        due = part.get("due")
        is_open = bool(item.get("cohandler_open"))
        rows.append(
            {
                **item,
                "part": part,
                "part_open": is_open,
                "task": part.get("task", ""),
                "due_local": local(due),
                "due_left": time_left_text(due, t, now) if due and is_open else "",
                "due_passed": bool(due and is_open and parse(due) < now),
                "done_local": local(part.get("done_at")),
                "added_by": directory.display_name(part["added_by"])
                if part.get("added_by")
                else "",
                "category_label": t.category(item["category"]),
                "grid_name": directory.name(item["grid_id"]),
                "community_name": directory.name(item["community_id"]),
                "status_label": t("status." + item["status"]),
                "request_open": item["status"] in OPEN,
            }
        )
    return rows


@router.get("/partner", response_class=HTMLResponse)
def partner_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, (Role.PARTNER,))
    if isinstance(user, Denied):
        return user.response
    t = Translator(language(request))
    rows = _parts(engine, user, t, get_sealer(request))
    return render(request, "partner.html", {"rows": rows}, user=user)


@router.get("/partner/list", response_class=HTMLResponse)
def partner_list(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, (Role.PARTNER,), fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = Translator(language(request))
    rows = _parts(engine, user, t, get_sealer(request))
    return fragment(request, "_partner_list.html", {"rows": rows, "user": user})
