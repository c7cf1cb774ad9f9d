"""The resident's pages: filing a report (``/``) and tracking it by its secret link
(``/track/{token}``), no account needed. The tracking page shows the contact card of the
handlers at the request's level and, while the resident's own review is open (resolved,
before ``review_until``), the four-dimension review form (``#review``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import Engine

from api.deps import EngineDep
from api.errors import body_of, request_not_found
from api.routes.track import SECRET_LINK_HEADERS, public_view
from domain.lifecycle import Status
from web.common import fragment, intake_choices, render, review_context, translator
from web.i18n import Translator
from web.present import OPEN, local, parse, time_left_text, timeline_lines, urgency
from web.session import page_user

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def resident_page(request: Request, engine: EngineDep) -> HTMLResponse:
    t = translator(request)
    return render(request, "resident.html", intake_choices(engine, t), user=page_user(request))


def _track_context(
    request: Request, engine: Engine, token: str, t: Translator
) -> dict[str, Any] | None:
    view = public_view(engine, token, request.app.state.settings.day_seconds)
    if view is None:
        return None
    is_open = view["status"] in OPEN
    start = _window_from_public(view)
    return {
        "view": view,
        "token": token,
        "lines": timeline_lines(view["timeline"], t),
        "category_label": t.category(view["category"]),
        "is_open": is_open,
        "deadline_local": local(view["deadline"]),
        "time_left": time_left_text(view["deadline"], t) if is_open else "",
        "created_local": local(view["created_at"]),
        "urgency": urgency(start, view["deadline"], view["overdue"]) if is_open else "none",
        "window_start": start.isoformat(),
        "appeal_until_local": local(view.get("appeal_until")),
        "out_of_scope_local": local((view.get("out_of_scope") or {}).get("at")),
        "contacts": [_contact(c, t) for c in view.get("contacts", [])],
        "review_open": self_review_open(view),
        "review_passed": self_review_passed(view),
        "review_until_local": local(view.get("review_until")),
        **review_context(t),
    }


def self_review_open(view: dict[str, Any], now: datetime | None = None) -> bool:
    """Whether the resident may review the request themselves now: it waits for its
    review and the window (``review_until``) has not passed."""
    until = view.get("review_until")
    if view["status"] != Status.RESOLVED.value or not until:
        return False
    return (now or datetime.now(UTC)) < parse(until)


def self_review_passed(view: dict[str, Any], now: datetime | None = None) -> bool:
    """Whether the resident's review window passed while the request still waits for its
    review: a caller will phone them."""
    until = view.get("review_until")
    if view["status"] != Status.RESOLVED.value or not until:
        return False
    return (now or datetime.now(UTC)) >= parse(until)


def tel_uri(phone: str) -> str:
    """A ``tel:`` link for a stored work phone; a landline's extension as ``;ext=``."""
    parts = phone.split("-")
    if len(parts) == 3:  # 0539-1234567-123
        return f"tel:{parts[0]}-{parts[1]};ext={parts[2]}"
    return f"tel:{phone}"


def _contact(contact: dict[str, Any], t: Translator) -> dict[str, Any]:
    phone = contact.get("work_phone")
    return {
        "display_name": contact["display_name"],
        "role": contact["role"],
        "role_label": t("level." + contact["role"]),
        "work_phone": phone,
        "tel": tel_uri(phone) if phone else None,
    }


#: The timeline entries that open a new deadline window (a tier's clock starts).
_NEW_WINDOW = frozenset({"Escalated", "Dispatched", "Retiered", "Appealed"})


def _window_from_public(view: dict[str, Any]) -> datetime:
    """When the request's current deadline window opened, from the resident's timeline."""
    start = parse(view["created_at"])
    for entry in view["timeline"]:
        if entry["type"] in _NEW_WINDOW or (
            entry["type"] == "Reviewed" and entry.get("outcome") == "reopened"
        ):
            start = parse(entry["at"])
    return start


def _secret_page(response: Response) -> Response:
    """A page whose address is a secret: never sent on as a referrer, never indexed."""
    response.headers.update(SECRET_LINK_HEADERS)
    return response


@router.get("/track/{token}", response_class=HTMLResponse)
def track_page(request: Request, token: str, engine: EngineDep) -> Response:
    t = translator(request)
    context = _track_context(request, engine, token, t)
    if context is None:
        return _secret_page(
            render(
                request,
                "error.html",
                {"message": t("track.not_found"), "code": 404},
                status_code=404,
            )
        )
    return _secret_page(render(request, "track.html", context, user=page_user(request)))


@router.get("/track/{token}/body", response_class=HTMLResponse)
def track_body(request: Request, token: str, engine: EngineDep) -> Response:
    t = translator(request)
    context = _track_context(request, engine, token, t)
    if context is None:
        return _secret_page(JSONResponse(body_of(request_not_found()), status_code=404))
    return _secret_page(fragment(request, "_track_body.html", context))
