"""The category catalogue: anyone reads the active categories (the resident's form needs
them); staff also read the retired ones; an admin adds, renames, re-tiers, retires and
restores them (:mod:`closeloop.catalogue`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import AdminUser, EngineDep, OptionalUser, unauthorized
from api.errors import Refusal
from api.text import Text, refuse
from closeloop import catalogue
from closeloop.catalogue import CatalogueError

router = APIRouter(prefix="/categories", tags=["categories"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CategoryIn(_Body):
    """A new category; the rules of each field are in :mod:`domain.categories` (control
    characters are refused first, as in every text field: :mod:`api.text`)."""

    code: Text
    name_zh: Text
    name_en: Text
    default_tier: Text


class CategoryPatch(_Body):
    """What to change; a field left out stays as it is."""

    name_zh: Text | None = None
    name_en: Text | None = None
    default_tier: Text | None = None
    retired: bool | None = None


def fileable(code: str, engine: Engine) -> catalogue.Category:
    """The catalogue's category ``code`` when a request may be filed in it (or moved into
    it), read from the database, not the cache: a retirement binds every process at once;
    else the 422 (``unknown_category`` or ``category_retired``, ``field`` ``category``)
    that names the active categories."""
    found = catalogue.get_category(code, db=engine)
    if found is not None and not found.retired:
        return found
    active = catalogue.active_codes(db=engine)
    choices = "; file in one of: " + ", ".join(active)
    if found is None:
        error, detail = "unknown_category", f"unknown category {code[:50]!r}{choices}"
    else:
        error, detail = "category_retired", f"the category {code} is retired{choices}"
    params = {"category": code[:50], "active": active}
    raise Refusal(422, error, detail, field="category", params=params)


def refusal(error: CatalogueError) -> Refusal:
    return Refusal(error.status, error.code, str(error), field=error.field)


@router.get("")
async def list_categories(
    user: OptionalUser, engine: EngineDep, include_retired: bool = False
) -> list[dict[str, Any]]:
    """The categories a request may be filed in; with ``include_retired=true`` (staff
    only) the retired ones too, and for staff who made and changed each one, when."""
    if include_retired and user is None:
        raise unauthorized("sign in to see retired categories", "sign_in")
    found = await run_in_threadpool(
        catalogue.list_categories, db=engine, include_retired=include_retired
    )
    return [c.json() if user is not None else c.public() for c in found]


@router.post("", status_code=status.HTTP_201_CREATED)
def add_category(body: CategoryIn, admin: AdminUser, engine: EngineDep) -> dict[str, Any]:
    """Add a category (active at once)."""
    try:
        added = catalogue.add_category(
            body.code, body.name_zh, body.name_en, body.default_tier, by=admin.username, db=engine
        )
    except CatalogueError as error:
        raise refusal(error) from None
    return added.json()


@router.patch("/{code}")
def change_category(
    code: str, body: CategoryPatch, admin: AdminUser, engine: EngineDep
) -> dict[str, Any]:
    """Rename a category, change its default tier, retire it (``"retired": true``: new
    requests are refused, filed ones keep it) or restore it."""
    refuse(code, "path", "code")
    if all(v is None for v in (body.name_zh, body.name_en, body.default_tier, body.retired)):
        raise Refusal(
            422,
            "nothing_to_change",
            "send name_zh, name_en, default_tier or retired",
            field="name_zh",
        )
    try:
        changed = catalogue.change_category(
            code,
            name_zh=body.name_zh,
            name_en=body.name_en,
            default_tier=body.default_tier,
            retired=body.retired,
            by=admin.username,
            db=engine,
        )
    except CatalogueError as error:
        raise refusal(error) from None
    return changed.json()
