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

The one exception is the contact card (``contacts``, :func:`contacts_of`): the display
name, the level and the work phone (which they gave for this) of the handlers posted
where the request is now, so that the resident can reach them (Yishui publishes its grid
workers' names and numbers). Never a username, never anything else of theirs.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api import ledger, roster
from api.deps import EngineDep, SettingsDep
from api.errors import request_not_found
from domain.ladder import Level
from domain.lifecycle import Status
from domain.state import APPEAL_DAYS, SYSTEM_ACTOR
from domain.state import RESIDENT_ACTOR as _RESIDENT
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
RESIDENT_ACTOR = _RESIDENT

#: The fields of each timeline entry a resident sees, beyond type, time and who.
PUBLIC_FIELDS: dict[str, tuple[str, ...]] = {
    "Filed": (),
    "Accepted": (),
    "ProgressNoted": ("note",),
    "Escalated": ("automatic", "from_tier", "tier", "level", "deadline"),
    "MarkedOverdue": (),
    "Resolved": ("resolution", "followed"),
    "Reviewed": ("reached", "outcome", "source"),
    "Dispatched": ("tier", "level", "deadline"),
    "Returned": (),
    "Redirected": (),
    "Retiered": ("tier", "level", "deadline"),
    "DeadlineExtended": ("until",),
    "CohandlerAdded": ("organisation",),
    "CohandlerDone": (),
    "ClosedOutOfScope": ("reason", "outcome"),
    "Appealed": ("reason", "tier", "level", "deadline"),
    "ReviewWindowClosed": (),
    "LocationCorrected": (),
    "Merged": (),
    "Unmerged": ("automatic",),
}
#: The staff's own moves, which the resident's page does not list (nor the other requests
#: merged into this one: other residents' reports).
STAFF_ONLY = frozenset(
    {
        "Warned",
        "Urged",
        "ExtensionAsked",
        "ExtensionRefused",
        "DuplicateAttached",
        "DuplicateDetached",
    }
)

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
    "review_until",
)


def _by(actor: str) -> str:
    if actor == RESIDENT_ACTOR:
        return "resident"
    if actor == SYSTEM_ACTOR:
        return "system"
    return "staff"


def public_of(
    view: dict[str, Any], grid_name: str | None, day_seconds: float = 86400.0
) -> dict[str, Any]:
    """A request view as its resident may see it: with an out-of-scope closure's reason,
    and until when it may be appealed (``appeal_until``, None when it may not)."""
    result: dict[str, Any] = {name: view[name] for name in _PUBLIC_REQUEST_FIELDS}
    result["grid"] = {"id": view["grid_id"], "name": grid_name}
    closed_out = view.get("out_of_scope")
    result["out_of_scope"] = (
        {"reason": closed_out["reason"], "at": closed_out["at"]} if closed_out else None
    )
    appeal = view.get("appeal")
    result["appeal"] = {"reason": appeal["reason"], "at": appeal["at"]} if appeal else None
    result["appeal_until"] = _appeal_until(view, day_seconds)
    # the request's photos (theirs, and the handlers' before and after), without who
    # added them; read through ``/track/{token}/photos/{id}``
    result["photos"] = [
        {"id": p["hash"], "type": p["type"], "stage": p["stage"]} for p in view.get("photos", ())
    ]
    result["timeline"] = [
        {
            "type": entry["type"],
            "at": entry["at"],
            "by": _by(entry["actor"]),
            **{k: entry[k] for k in PUBLIC_FIELDS.get(entry["type"], ()) if k in entry},
            # resolved with the request it was merged into (whose id is not theirs)
            **({"followed": True} if entry["type"] == "Resolved" and "primary" in entry else {}),
        }
        for entry in view["timeline"]
        if entry["type"] not in STAFF_ONLY
    ]
    return result


def _appeal_until(view: dict[str, Any], day_seconds: float) -> str | None:
    """Until when an out-of-scope closure may be appealed, as the domain decides."""
    if view["status"] != "closed" or not view.get("out_of_scope") or view.get("appeal"):
        return None
    closed = datetime.fromisoformat(view["out_of_scope"]["at"])
    return (closed + timedelta(seconds=APPEAL_DAYS * day_seconds)).isoformat()


#: While a request is in one of these, no handler is posted at it: the card is empty.
NO_CONTACTS = frozenset({Status.WAITING_DISPATCH.value, Status.CLOSED.value})


def contacts_of(engine: Engine, view: dict[str, Any]) -> list[dict[str, Any]]:
    """The resident's contact card: the handlers posted at the request's current level and
    unit (the disabled left out), each as ``{"display_name", "role", "work_phone"}`` (the
    role is the level; the work phone None when they gave none). Empty while the request
    waits for dispatch or is closed."""
    if view["status"] in NO_CONTACTS or not view.get("level_unit_id"):
        return []
    level = Level(view["level"])
    return [
        {"display_name": user.display_name, "role": level.value, "work_phone": user.work_phone}
        for user in roster.users_assigned(view["level_unit_id"], level, db=engine)
    ]


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


def public_view(engine: Engine, token: str, day_seconds: float = 86400.0) -> dict[str, Any] | None:
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
    public = public_of(view, grid.name if grid else None, day_seconds)
    public["merged"] = view.get("merged_into") is not None
    public["following"] = None
    primary = None
    if view["status"] == Status.MERGED.value and view.get("merged_into"):
        with engine.connect() as conn:
            primary = queries.get_request(conn, view["merged_into"])
    if primary is not None:
        # the joint handling's progress, never the other request's resident or text
        public["following"] = {k: primary[k] for k in ("status", "tier", "level", "deadline")}
    public["contacts"] = contacts_of(engine, primary or view)
    return public


@router.get("/track/{token}")
async def track(
    token: str, engine: EngineDep, settings: SettingsDep, response: Response
) -> dict[str, Any]:
    """A request's progress for the resident who filed it (no sign-in: the tracking token
    is the secret), with the contact card of the handlers at its current level
    (``contacts``: display name, level, work phone)."""
    response.headers.update(SECRET_LINK_HEADERS)
    view = await run_in_threadpool(public_view, engine, token, settings.day_seconds)
    if view is None:
        raise request_not_found()
    return view
