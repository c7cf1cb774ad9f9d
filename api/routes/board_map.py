"""The board's map (``GET /board/map``): the open requests that have a point, as the
reader may see them.

A point is the request's place (``lat``, ``long``, WGS-84) with what the map colours and
labels it by: status, tier, overdue, category, grid. Nothing of the resident goes with
it: no name, phone, address or building (domain.privacy keeps those for the request's own
page). Supervisors and admins see every request; a handler those on the units of their
posts, a dispatcher those of the communities and towns they dispatch for, as
:func:`domain.privacy.sight` decides for each request; callers and partners are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api import privacy, roster
from api.deps import EngineDep, Principal, require_roles
from api.errors import Refusal
from api.roster import Role
from api.text import Text
from domain.privacy import Sight
from projections import pages

router = APIRouter(tags=["board"])

#: The most points one answer holds, and the default.
MAX_POINTS = 2000
DEFAULT_POINTS = 1000

MapReader = Annotated[
    Principal,
    Depends(require_roles(Role.SUPERVISOR, Role.ADMIN, Role.HANDLER, Role.DISPATCHER)),
]
MapStatus = Literal["waiting_dispatch", "assigned", "in_progress", "resolved"]
PointLimit = Annotated[
    int, Query(ge=1, le=MAX_POINTS, description=f"points at most, 1 to {MAX_POINTS}")
]


def map_of(
    engine: Engine,
    user: Principal,
    *,
    statuses: list[str] | None = None,
    unit_id: str | None = None,
    tier: str | None = None,
    category: str | None = None,
    limit: int = DEFAULT_POINTS,
) -> dict[str, Any]:
    """The map's points for ``user`` (the board's page uses this too); 422
    ``unknown_unit`` for a unit the roster lacks."""
    if unit_id is not None and roster.get_unit(unit_id, db=engine) is None:
        raise Refusal(422, "unknown_unit", f"no unit has the id {unit_id[:50]}", field="unit_id")
    within: list[str] | None = None
    dispatch_units: list[str] | None = None
    if user.role is Role.HANDLER:
        within = sorted({a.unit_id for a in user.assignments})
    elif user.role is Role.DISPATCHER:
        dispatch_units = list(user.dispatch_units)
    chosen = tuple(dict.fromkeys(statuses)) if statuses else pages.MAP_STATUSES
    with engine.connect() as conn:
        found = pages.map_points(
            conn,
            statuses=chosen,
            within=within,
            dispatch_units=dispatch_units,
            unit_id=unit_id,
            tier=tier,
            category=category,
            limit=limit,
        )
    # the query keeps to the reader's units; the rule has the last word on each point
    items = [p for p in found["items"] if privacy.sight_of(p, user) is not Sight.NONE]
    return {
        "items": items,
        "total": found["total"],
        "without_point": found["without_point"],
        "limit": limit,
        "statuses": list(chosen),
    }


@router.get("/board/map")
async def board_map(
    user: MapReader,
    engine: EngineDep,
    status: Annotated[list[MapStatus] | None, Query()] = None,
    unit_id: Text | None = None,
    tier: Literal["1d", "3d", "5d", "1m"] | None = None,
    category: Text | None = None,
    limit: PointLimit = DEFAULT_POINTS,
) -> dict[str, Any]:
    """The board's map (督办看板的地图): the requests with a point, soonest deadline first.

    ``status`` (repeatable) ``waiting_dispatch``, ``assigned``, ``in_progress`` or
    ``resolved`` (default: the first three, the open requests); ``unit_id`` a town,
    community or grid; ``tier``; ``category``; ``limit`` 1 to 2000 (default 1000).
    ``total`` counts the matching requests with a point (``items`` holds at most
    ``limit`` of them), ``without_point`` those without one (never listed)."""
    return await run_in_threadpool(
        lambda: map_of(
            engine,
            user,
            statuses=list(status) if status else None,
            unit_id=unit_id,
            tier=tier,
            category=category,
            limit=limit,
        )
    )
