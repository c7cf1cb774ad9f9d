"""The signed-in user's inbox (:mod:`notify.inbox`): their messages, newest first and paged,
each with its sentence in the caller's language; marking one or all of them read.

Every role that signs in has an inbox; nobody reads or marks another's (someone else's
message answers as an unknown one: 404 ``inbox_message_not_found``). The language of the
sentences is ``?lang=`` (``zh-CN`` or ``en``), else the ``Accept-Language`` header, else
Chinese. Marking tells the caller's open event streams their new unread count
(:mod:`api.routes.stream`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, EngineDep
from api.errors import Refusal
from api.routes.stream import ChangeFeed
from closeloop import catalogue
from notify import inbox
from notify.inbox import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT, Message

router = APIRouter(prefix="/inbox", tags=["inbox"])

#: The languages of the sentences.
ZH = "zh-CN"
EN = "en"


class InboxItem(BaseModel):
    """One message: what happened (``kind`` and its ``params``), as a sentence (``text``),
    the request it is about and that request's page (``link``), whether it was read."""

    id: int
    kind: str
    params: dict[str, Any]
    text: str
    request_id: str | None
    created_at: datetime
    read: bool
    read_at: datetime | None
    link: str | None


class InboxPage(BaseModel):
    """A page of messages, newest first; ``unread`` counts all the caller's unread ones;
    ``next`` is the ``before`` of the next (older) page, null on the last."""

    items: list[InboxItem]
    unread: int
    next: int | None


class Marked(BaseModel):
    """How many messages ``POST /inbox/read-all`` marked read."""

    marked: int


def language(lang: str | None, accept_language: str | None) -> str:
    """``?lang=`` when it names zh-CN or en; else the first of them the ``Accept-Language``
    header prefers; else Chinese."""
    if lang:
        wanted = lang.strip().lower()
        if wanted in ("en", "en-us", "en-gb", "english"):
            return EN
        if wanted in ("zh", "zh-cn", "zh-hans", "chinese"):
            return ZH
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, rest = part.strip().partition(";")
        quality = 1.0
        if rest.strip().startswith("q="):
            try:
                quality = float(rest.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in ("en", "zh") and quality > 0:
            ranked.append((-quality, index, EN if primary == "en" else ZH))
    return min(ranked)[2] if ranked else ZH


def items_of(messages: list[Message], lang: str, engine: Engine) -> list[InboxItem]:
    """The messages as the API answers them, worded in ``lang``."""
    categories = catalogue.names(db=engine)
    people = inbox.display_names(inbox.people_in(messages), db=engine)
    return [
        InboxItem(
            id=m.id,
            kind=m.kind,
            params=m.params,
            text=inbox.text_of(m.kind, m.params, lang, categories=categories, people=people),
            request_id=m.request_id,
            created_at=m.created_at,
            read=m.read,
            read_at=m.read_at,
            link=m.link,
        )
        for m in messages
    ]


def _page(
    engine: Engine, username: str, unread: bool, limit: int, before: int | None, lang: str
) -> InboxPage:
    messages, next_cursor = inbox.list_messages(
        username, db=engine, unread_only=unread, limit=limit, before=before
    )
    return InboxPage(
        items=items_of(messages, lang, engine),
        unread=inbox.unread_count(username, db=engine),
        next=next_cursor,
    )


def _told(request: Request, username: str) -> None:
    """The caller's open streams (in this app) hear their new unread count."""
    feed = getattr(request.app.state, "change_feed", None)
    if isinstance(feed, ChangeFeed):
        feed.inbox_read(username)


@router.get("", response_model=InboxPage)
async def list_inbox(
    user: CurrentUser,
    engine: EngineDep,
    unread: Annotated[bool, Query(description="only the unread messages")] = False,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"messages per page, 1 to {MAX_LIMIT}")
    ] = DEFAULT_LIMIT,
    before: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="only messages older than this id (a page's next)"),
    ] = None,
    lang: Annotated[str | None, Query(description="the sentences' language: zh-CN or en")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> InboxPage:
    """The caller's messages, newest first, with their unread count."""
    wording = language(lang, accept_language)
    return await run_in_threadpool(_page, engine, user.username, unread, limit, before, wording)


@router.post("/read-all", response_model=Marked)
async def read_all(request: Request, user: CurrentUser, engine: EngineDep) -> Marked:
    """Mark every unread message of the caller read."""
    marked = await run_in_threadpool(inbox.mark_all_read, user.username, db=engine)
    _told(request, user.username)
    return Marked(marked=marked)


@router.post("/{message_id}/read", status_code=status.HTTP_204_NO_CONTENT)
async def read_one(
    request: Request,
    message_id: Annotated[int, Path(ge=1, le=MAX_ID, description="the message's id")],
    user: CurrentUser,
    engine: EngineDep,
) -> Response:
    """Mark one of the caller's messages read (again: no change); 404 when it is not theirs."""
    found = await run_in_threadpool(inbox.mark_read, user.username, message_id, db=engine)
    if not found:
        raise Refusal(
            404,
            "inbox_message_not_found",
            "no message with this id in your inbox",
            params={"id": message_id},
        )
    _told(request, user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
