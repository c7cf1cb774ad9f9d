"""Every staff member's inbox (``/inbox``) and its list fragment: their messages newest
first, the unread ones marked in words, each linking to its request; a page of
:data:`PAGE_SIZE` with a link to the older ones; all or only the unread.

Phone-first: a grid worker reads it on the way. Marking one message read
(``POST /api/v1/inbox/{id}/read``) or all of them (``POST /api/v1/inbox/read-all``) goes to
the JSON API; the list is read again when the event stream says the unread count changed
(``data-inbox-live``, see closeloop.js), and the navigation's count on every staff page
follows the same event.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api.deps import EngineDep, Principal
from api.routes.inbox import items_of
from notify import inbox
from notify.inbox import MAX_ID
from web.common import STAFF, Denied, fragment, render, signed_in, translator
from web.present import local

router = APIRouter(include_in_schema=False)

#: Messages per page.
PAGE_SIZE = 20


def _paging(request: Request) -> tuple[bool, int | None]:
    """``?unread=1`` (only the unread) and ``?before=`` (an older page; a value that is no
    message id shows the newest)."""
    query = request.query_params
    unread = query.get("unread", "").strip().lower() in ("1", "true", "yes", "on")
    raw = query.get("before", "").strip()
    before = int(raw) if raw.isdigit() and 1 <= len(raw) <= 10 else None
    if before is not None and not 1 <= before <= MAX_ID:
        before = None
    return unread, before


def _url(path: str, unread: bool, before: int | None = None) -> str:
    params: dict[str, str | int] = {}
    if unread:
        params["unread"] = 1
    if before is not None:
        params["before"] = before
    return f"{path}?{urlencode(params)}" if params else path


def _context(
    engine: Engine, user: Principal, lang: str, unread: bool, before: int | None
) -> dict[str, Any]:
    messages, older = inbox.list_messages(
        user.username, db=engine, unread_only=unread, limit=PAGE_SIZE, before=before
    )
    items = [
        {
            **item.model_dump(),
            "created_local": local(item.created_at),
            "read_local": local(item.read_at),
        }
        for item in items_of(messages, lang, engine)
    ]
    return {
        "items": items,
        "unread": inbox.unread_count(user.username, db=engine),
        "unread_only": unread,
        "before": before,
        "older_url": _url("/inbox", unread, older) if older is not None else None,
        "newest_url": _url("/inbox", unread),
        "all_url": _url("/inbox", False),
        "unread_url": _url("/inbox", True),
        "list_src": _url("/inbox/list", unread, before),
    }


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, STAFF)
    if isinstance(user, Denied):
        return user.response
    unread, before = _paging(request)
    context = _context(engine, user, translator(request).lang, unread, before)
    return render(request, "inbox.html", context, user=user)


@router.get("/inbox/list", response_class=HTMLResponse)
def inbox_list(request: Request, engine: EngineDep) -> Response:
    user = signed_in(request, STAFF, fragment=True)
    if isinstance(user, Denied):
        return user.response
    unread, before = _paging(request)
    context = _context(engine, user, translator(request).lang, unread, before)
    return fragment(request, "_inbox_list.html", context)
