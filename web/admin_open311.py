"""The admins' page of Open311 API keys: each key with its application, the grid whose
community its filings wait in, who issued it and when, and whether it is revoked; a form
to issue one (the new key is shown once, in the page's live region, by
``web/static/open311.js``) and, on each live key, a revoke button behind a confirmation.

The forms send to the JSON API (``/api/v1/open311/keys``), whose rules and refusals are the
only ones; the list is the fragment ``/admin/open311/list``, reloaded after each change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from api import open311_keys, roster
from api.deps import EngineDep
from api.roster import Role
from domain.ladder import UnitKind
from web.common import Denied, fragment, render, signed_in, translator
from web.i18n import Translator
from web.present import local

router = APIRouter(include_in_schema=False)

ADMINS = (Role.ADMIN,)


def _rows(engine: Engine, t: Translator) -> dict[str, Any]:
    units = {u.id: u.name for u in roster.list_units(db=engine)}
    rows = [
        {
            "id": k.id,
            "name": k.name,
            "grid": units.get(k.grid_id, k.grid_id),
            "created": t("open311.created", who=k.created_by, at=local(k.created_at)),
            "revoked": (
                t("open311.revoked_by", who=k.revoked_by, at=local(k.revoked_at))
                if k.revoked_at is not None
                else ""
            ),
        }
        for k in open311_keys.list_keys(engine)
    ]
    live = sum(1 for row in rows if not row["revoked"])
    return {
        "rows": rows,
        "count": t("open311.count", n=len(rows), live=live),
        "grids": [(u.id, u.name) for u in roster.list_units(db=engine, kind=UnitKind.GRID)],
    }


@router.get("/admin/open311", response_class=HTMLResponse)
def open311_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, ADMINS)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    return render(request, "admin_open311.html", _rows(engine, t), user=user)


@router.get("/admin/open311/list", response_class=HTMLResponse)
def open311_list(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, ADMINS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    return fragment(request, "_admin_open311_list.html", _rows(engine, t))
