"""The units requests are filed in and climb through: town > community > grid."""

from __future__ import annotations

from fastapi import APIRouter, status

from api import roster
from api.deps import AdminUser, CurrentUser, EngineDep, refusal
from api.roster import RosterError
from api.schemas import UnitIn, UnitOut, UnitPatch
from api.text import Text, refuse
from domain.ladder import UnitKind

router = APIRouter(prefix="/units", tags=["roster"])


@router.post("", response_model=UnitOut, status_code=status.HTTP_201_CREATED)
def create_unit(body: UnitIn, _admin: AdminUser, engine: EngineDep) -> UnitOut:
    """Add a town, a community under a town, or a grid under a community."""
    try:
        unit = roster.create_unit(body.name, body.kind, body.parent_id, db=engine)
    except RosterError as error:
        raise refusal(error) from None
    return UnitOut.of(unit)


@router.get("", response_model=list[UnitOut])
def list_units(
    _user: CurrentUser,
    engine: EngineDep,
    kind: UnitKind | None = None,
    parent_id: Text | None = None,
) -> list[UnitOut]:
    """All units, or those of one kind or under one parent."""
    return [UnitOut.of(u) for u in roster.list_units(db=engine, kind=kind, parent_id=parent_id)]


@router.patch("/{unit_id}", response_model=UnitOut)
def change_unit(unit_id: str, body: UnitPatch, _admin: AdminUser, engine: EngineDep) -> UnitOut:
    """Set a community's dispatch mode: ``auto`` (a new request goes straight to its grid's
    level, the default) or ``manual`` (it waits for a dispatcher)."""
    refuse(unit_id, "path", "unit_id")
    try:
        unit = roster.set_dispatch_mode(unit_id, body.dispatch, db=engine)
    except RosterError as error:
        raise refusal(error) from None
    return UnitOut.of(unit)
