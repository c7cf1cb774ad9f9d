"""The admins' page of the category catalogue: every category with its names, default tier
and state; forms to add one, rename it, change its tier, retire or restore it.

The forms send to the JSON API (``/api/v1/categories``), whose rules and refusals are the
only ones; the list is the fragment ``/admin/categories/list``, reloaded after each change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from api.deps import EngineDep
from api.roster import Role
from closeloop import catalogue
from domain.ladder import LADDER
from web.common import Denied, fragment, render, signed_in, translator
from web.i18n import Translator
from web.present import local

router = APIRouter(include_in_schema=False)

ADMINS = (Role.ADMIN,)


def _rows(engine: Engine, t: Translator) -> dict[str, Any]:
    found = catalogue.list_categories(db=engine)
    rows = [
        {
            "code": c.code,
            "name_zh": c.name_zh,
            "name_en": c.name_en,
            "label": t.category(c.code),
            "tier": c.default_tier.value,
            "tier_label": t(f"tier.{c.default_tier.value}"),
            "retired": c.retired,
            "changed": t("catalogue.changed", who=c.updated_by, at=local(c.updated_at)),
            # a new key after each change: the reloaded form shows the stored values (the
            # script carries what is typed over to the form of the same key)
            "key": f"{c.code}-{c.updated_at.timestamp()}",
        }
        for c in found
    ]
    return {
        "rows": rows,
        "tiers": [(tier.value, t(f"tier.{tier.value}")) for tier in LADDER],
        "count": t("catalogue.count", n=len(rows), active=sum(not r["retired"] for r in rows)),
    }


@router.get("/admin/categories", response_class=HTMLResponse)
def categories_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, ADMINS)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    return render(request, "admin_categories.html", _rows(engine, t), user=user)


@router.get("/admin/categories/list", response_class=HTMLResponse)
def categories_list(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, ADMINS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    return fragment(request, "_admin_categories_list.html", _rows(engine, t))
