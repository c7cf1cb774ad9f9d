"""The resident's tracking view: a request's progress without staff names or contact data.

``GET /api/v1/track/{id}`` needs no sign-in. The request id is a random UUID (122 random
bits) handed to the resident when they file, so knowing it is what lets one read it: the
tracking link is the secret. The view leaves out who handled the request (actors,
assignees), the resident's name and phone, escalation reasons and review comments; it
keeps what the resident needs: status, current level (as a role, not a person), deadline,
and a timeline whose entries say only whether the resident, staff or the system acted,
with the progress notes and the resolution staff wrote for the resident.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api import roster
from api.deps import EngineDep
from api.errors import request_not_found
from domain.state import SYSTEM_ACTOR
from projections import queries

router = APIRouter(tags=["track"])

#: Who acted, as the resident sees it.
RESIDENT_ACTOR = "resident"

#: The fields of each timeline entry a resident sees, beyond type, time and who.
PUBLIC_FIELDS: dict[str, tuple[str, ...]] = {
    "Filed": (),
    "Accepted": (),
    "ProgressNoted": ("note",),
    "Escalated": ("automatic", "from_tier", "tier", "level", "deadline"),
    "MarkedOverdue": (),
    "Resolved": ("resolution",),
    "Reviewed": ("reached", "outcome"),
}

_PUBLIC_REQUEST_FIELDS = (
    "id",
    "status",
    "tier",
    "level",
    "deadline",
    "overdue",
    "escalations",
    "reopens",
    "category",
    "description",
    "channel",
    "created_at",
    "updated_at",
)


def _by(actor: str) -> str:
    if actor == RESIDENT_ACTOR:
        return "resident"
    if actor == SYSTEM_ACTOR:
        return "system"
    return "staff"


def public_view(engine: Engine, request_id: str) -> dict[str, Any] | None:
    """The request as its resident may see it; None when there is no such request."""
    try:
        request_id = str(uuid.UUID(request_id))
    except ValueError:
        return None
    with engine.connect() as conn:
        view = queries.get_request(conn, request_id)
    if view is None:
        return None
    grid = roster.get_unit(view["grid_id"], db=engine)
    result: dict[str, Any] = {name: view[name] for name in _PUBLIC_REQUEST_FIELDS}
    result["grid"] = {"id": view["grid_id"], "name": grid.name if grid else None}
    result["timeline"] = [
        {
            "type": entry["type"],
            "at": entry["at"],
            "by": _by(entry["actor"]),
            **{k: entry[k] for k in PUBLIC_FIELDS.get(entry["type"], ()) if k in entry},
        }
        for entry in view["timeline"]
    ]
    return result


@router.get("/track/{request_id}")
async def track(request_id: str, engine: EngineDep) -> dict[str, Any]:
    """A request's progress for the resident who filed it (no sign-in: the id is the secret)."""
    view = await run_in_threadpool(public_view, engine, request_id)
    if view is None:
        raise request_not_found()
    return view
