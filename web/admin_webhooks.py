"""The admins' page of webhook subscriptions: each subscription with its events and its
latest deliveries (their state, attempts and last answer); a form to add one and, on each,
a delete button behind a confirmation.

The forms send to the JSON API (``/api/v1/webhooks``), whose rules and refusals are the
only ones; the list is the fragment ``/admin/webhooks/list``, reloaded after each change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from api.deps import EngineDep
from api.roster import Role
from notify import webhooks
from web.common import Denied, fragment, render, signed_in, translator
from web.i18n import ZH, Translator
from web.present import local

router = APIRouter(include_in_schema=False)

ADMINS = (Role.ADMIN,)
#: The deliveries shown under each subscription (``GET /webhooks/{id}/deliveries`` has more).
SHOWN = 5


def event_label(t: Translator, event_type: str) -> str:
    """An event type as the pages name it, with its name in the API (what is subscribed)."""
    if event_type == webhooks.EVERY:
        return t("webhooks.every")
    key = f"event.{event_type}"
    label = t(key)
    return event_type if label in (key, event_type) else f"{label} ({event_type})"


def _order(event_type: str) -> int:
    """Every event first, then the types in the order of the form."""
    if event_type == webhooks.EVERY:
        return -1
    known = webhooks.KNOWN_EVENTS
    return known.index(event_type) if event_type in known else len(known)


def _delivery(t: Translator, d: webhooks.Delivery) -> dict[str, Any]:
    if d.last_status is not None and d.last_error:
        result = d.last_error
    elif d.last_status is not None:
        result = f"HTTP {d.last_status}"
    else:
        result = d.last_error or ""
    waiting = d.state in ("waiting", "failed")
    return {
        "key": d.key,
        "at": local(d.created_at),
        "event": event_label(t, d.event_type),
        "request_id": d.request_id,
        "state": d.state,
        "state_label": t(f"webhooks.state.{d.state}"),
        "attempts": d.attempts,
        "result": result,
        "next": t("webhooks.next_attempt", at=local(d.next_attempt_at))
        if waiting and d.next_attempt_at is not None and d.attempts
        else "",
    }


def _rows(engine: Engine, t: Translator) -> dict[str, Any]:
    rows = []
    separator = "、" if t.lang == ZH else ", "
    for s in webhooks.list_subscriptions(db=engine):
        events = [event_label(t, e) for e in sorted(s.events, key=_order)]
        latest = [_delivery(t, d) for d in webhooks.deliveries(s.id, db=engine, limit=SHOWN)]
        rows.append(
            {
                "id": s.id,
                "url": s.url,
                "events": t("webhooks.events_list", events=separator.join(events)),
                "include_pii": s.include_pii,
                "created": t("webhooks.created", who=s.created_by, at=local(s.created_at)),
                "deliveries": latest,
                "last": latest[0] if latest else None,
            }
        )
    return {
        "rows": rows,
        "count": t("webhooks.count", n=len(rows)),
        "choices": [
            (webhooks.EVERY, t("webhooks.every")),
            *((e, event_label(t, e)) for e in webhooks.KNOWN_EVENTS),
        ],
        "secret_min": webhooks.SECRET_MIN,
        "secret_max": webhooks.SECRET_MAX,
    }


@router.get("/admin/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, ADMINS)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    return render(request, "admin_webhooks.html", _rows(engine, t), user=user)


@router.get("/admin/webhooks/list", response_class=HTMLResponse)
def webhooks_list(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, ADMINS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    return fragment(request, "_admin_webhooks_list.html", _rows(engine, t))
