"""The resident's tracking view: a request's progress without staff names or contact data.

``GET /api/v1/track/{token}`` needs no sign-in. The token is 192 random bits handed to the
resident once, when they file (:mod:`api.ledger` keeps only its hash and a sealed copy), so
knowing it is what lets one read it: the tracking link is the secret. The request id is
not: staff see ids, and an id derived from an ``Idempotency-Key`` could be guessed.

The view leaves out who handled the request (actors, assignees), the resident's name and
phone, escalation reasons and review comments; it keeps what the resident needs: status,
current level (as a role, not a person), deadline, and a timeline whose entries say only
whether the resident, staff or the system acted, with the progress notes and the
resolution staff wrote for the resident.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api import ledger, roster
from api.deps import EngineDep
from api.errors import request_not_found
from domain.state import SYSTEM_ACTOR
from projections import queries

router = APIRouter(tags=["track"])

#: On every answer whose address holds a tracking token: the link is a secret, so it is
#: never sent on as a referrer, indexed or cached.
SECRET_LINK_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store",
}

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


def public_of(view: dict[str, Any], grid_name: str | None) -> dict[str, Any]:
    """A request view as its resident may see it."""
    result: dict[str, Any] = {name: view[name] for name in _PUBLIC_REQUEST_FIELDS}
    result["grid"] = {"id": view["grid_id"], "name": grid_name}
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


def tracked_request(engine: Engine, token: str) -> str | None:
    """The id of the request a tracking link names, or None.

    A link holds the request's tracking token. Requests filed before tokens existed have
    none: their link holds the request id, which still works for them (and only them).
    """
    request_id = ledger.request_of_token(engine, token)
    if request_id is not None:
        return request_id
    try:
        legacy = str(uuid.UUID(token))
    except ValueError:
        return None
    return None if ledger.has_token(engine, legacy) else legacy


def public_view(engine: Engine, token: str) -> dict[str, Any] | None:
    """The request a tracking link names, as its resident may see it; None when there is
    no such request."""
    request_id = tracked_request(engine, token)
    if request_id is None:
        return None
    with engine.connect() as conn:
        view = queries.get_request(conn, request_id)
    if view is None:
        return None
    grid = roster.get_unit(view["grid_id"], db=engine)
    return public_of(view, grid.name if grid else None)


@router.get("/track/{token}")
async def track(token: str, engine: EngineDep, response: Response) -> dict[str, Any]:
    """A request's progress for the resident who filed it (no sign-in: the tracking token
    is the secret)."""
    response.headers.update(SECRET_LINK_HEADERS)
    view = await run_in_threadpool(public_view, engine, token)
    if view is None:
        raise request_not_found()
    return view
