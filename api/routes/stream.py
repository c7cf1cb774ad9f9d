"""Server-sent events: a message whenever the read models move, naming the changed requests.

``GET /api/v1/stream`` answers ``text/event-stream``. One poller per app reads the
projection's tracking position every :data:`POLL_SECONDS` (one indexed ``max`` on a
one-row table: cheap, and it works when the projector runs in another process); when the
position moves it reads which requests the new events belong to and tells every open
stream. Events:

``hello``   on connecting: ``{"position": n}``;
``change``  ``{"position": n, "ids": [request ids]}``; ``ids`` is null when too many
            requests changed at once or the read models were rebuilt: read everything again.

Each event's ``id`` is the position, so a browser that reconnects (``EventSource`` does so
by itself) sends ``Last-Event-ID`` and first hears what it missed. A stream ends after
:data:`STREAM_SECONDS` and the browser reconnects at once: no event is lost, and a server
that is stopping never waits long for open streams.

Supervisors, callers and admins see every change; a handler, the changes of requests in
the units of their posts (as :mod:`domain.privacy` says what they may know of). Without a
sign-in, ``?token=`` (the resident's tracking token) is required and the stream tells only
of that request; staff may follow one request with ``?request_id=``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import Engine, column, or_, select, table
from starlette.concurrency import run_in_threadpool

from api import privacy
from api.deps import (
    EngineDep,
    Principal,
    SettingsDep,
    get_optional_user,
    oauth2_scheme,
    unauthorized,
)
from api.errors import request_not_found
from api.roster import Role
from api.routes.track import tracked_request
from closeloop.store import STORE_NAME
from domain.privacy import Sight
from projections import queries
from projections.pages import projected_position
from projections.reading import in_unit
from projections.tables import requests

log = logging.getLogger(__name__)

router = APIRouter(tags=["stream"])

#: How often the read side's position is read.
POLL_SECONDS = 0.3
#: How long one stream lasts before the browser reconnects (with Last-Event-ID).
STREAM_SECONDS = 20.0
#: More changed requests than this in one move are reported as "everything" (ids null).
MAX_IDS = 500
#: How long the browser waits before reconnecting, in milliseconds.
RETRY_MS = 1000


@dataclass(frozen=True)
class Moved:
    """The read models moved from ``start`` to ``end``; ``ids`` changed (None: unknown)."""

    start: int
    end: int
    ids: frozenset[str] | None


#: The event store's table (eventsourcing-sqlalchemy's), as much of it as the feed reads;
#: untyped, so that each database's own id type comes back as it is stored.
_EVENTS = table(f"{STORE_NAME}_events", column("id"), column("originator_id"))


def _request_id(value: object) -> str:
    """An originator id as stored (16 bytes on SQLite, a UUID on PostgreSQL) as a string."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return str(uuid.UUID(bytes=raw) if len(raw) == 16 else uuid.UUID(raw.decode("ascii")))
    return str(uuid.UUID(str(value)))


class ChangeFeed:
    """Polls the read side's position for every open stream of one app, while any is open."""

    def __init__(self, engine: Engine, poll_seconds: float = POLL_SECONDS) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self._queues: set[asyncio.Queue[Moved]] = set()
        self._task: asyncio.Task[None] | None = None
        self.position = 0

    @classmethod
    def of(cls, request: Request) -> ChangeFeed:
        """The app's feed, made on first use."""
        state = request.app.state
        feed: ChangeFeed | None = getattr(state, "change_feed", None)
        if feed is None:
            feed = cls(request.app.state.engine)
            state.change_feed = feed
        return feed

    async def subscribe(self) -> asyncio.Queue[Moved]:
        queue: asyncio.Queue[Moved] = asyncio.Queue()
        if self._task is None or self._task.done():
            self.position = await run_in_threadpool(projected_position, self.engine)
            self._task = asyncio.create_task(self._poll(), name="closeloop-change-feed")
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Moved]) -> None:
        self._queues.discard(queue)
        if not self._queues and self._task is not None:
            self._task.cancel()
            self._task = None

    async def changed(self, start: int, end: int) -> frozenset[str] | None:
        """The requests whose events lie in ``(start, end]`` (None: too many, or a rebuild)."""
        if end < start:
            return None
        if end == start:
            return frozenset()
        return await run_in_threadpool(self._changed, start, end)

    def _changed(self, start: int, end: int) -> frozenset[str] | None:
        query = (
            select(_EVENTS.c.originator_id)
            .where(_EVENTS.c.id > start, _EVENTS.c.id <= end)
            .distinct()
            .limit(MAX_IDS + 1)
        )
        try:
            with self.engine.connect() as conn:
                ids = [_request_id(value) for (value,) in conn.execute(query)]
        except Exception:  # noqa: BLE001 - then every page reads everything again
            log.exception("reading which requests changed failed")
            return None
        return None if len(ids) > MAX_IDS else frozenset(ids)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                position = await run_in_threadpool(projected_position, self.engine)
                if position == self.position:
                    continue
                moved = Moved(self.position, position, await self.changed(self.position, position))
            except Exception:  # noqa: BLE001 - a database hiccup: try again at the next tick
                log.exception("reading the projection's position failed")
                continue
            self.position = position
            for queue in list(self._queues):
                queue.put_nowait(moved)


def _lenient_user(
    token: Annotated[str | None, Depends(oauth2_scheme)], engine: EngineDep, settings: SettingsDep
) -> Principal | None:
    """The signed-in caller, or None: an expired token must not shut out the public stream."""
    try:
        return get_optional_user(token, engine, settings)
    except HTTPException:
        return None


@dataclass(frozen=True)
class Following:
    """What a stream tells of: one request, or every request (within ``units`` when the
    reader is a handler, whose posts bound what they may know of: domain.privacy)."""

    request_id: str | None = None
    units: frozenset[str] | None = None
    cohandler: str | None = None  # a partner: the requests they are a co-handler of


def _followed(
    user: Annotated[Principal | None, Depends(_lenient_user)],
    engine: EngineDep,
    token: Annotated[
        str | None, Query(description="a tracking token: only its request (no sign-in needed)")
    ] = None,
    request_id: Annotated[str | None, Query(description="only this request (staff)")] = None,
) -> Following:
    """What the stream follows; 401 or 404 before streaming."""
    if token is not None:
        tracked = tracked_request(engine, token)
        if tracked is None:
            raise request_not_found()
        return Following(request_id=tracked)
    if user is None:
        raise unauthorized("sign in, or follow a request with its tracking token: ?token=")
    if request_id is not None:
        try:
            request_id = str(uuid.UUID(request_id))
        except ValueError:
            raise request_not_found() from None
        with engine.connect() as conn:
            view = queries.get_request(conn, request_id)
        if view is None or privacy.sight_of(view, user) is Sight.NONE:
            raise request_not_found()
        return Following(request_id=request_id)
    if user.role is Role.HANDLER:
        return Following(units=frozenset(a.unit_id for a in user.assignments))
    if user.role is Role.DISPATCHER:  # the communities and towns of their posts
        return Following(units=frozenset(user.dispatch_units))
    if user.role is Role.PARTNER:  # only the requests they are called in to
        return Following(cohandler=user.username)
    return Following()


def _last_id(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        position = int(value.strip())
    except ValueError:
        return None
    return position if position >= 0 else None


@router.get("/stream", response_class=EventSourceResponse)
async def stream(
    request: Request,
    following: Annotated[Following, Depends(_followed)],
    last_event_id: Annotated[str | None, Header()] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events whenever the read models move, with the changed request ids."""
    feed = ChangeFeed.of(request)
    queue = await feed.subscribe()
    try:
        seen = feed.position
        resumed = _last_id(last_event_id)
        yield ServerSentEvent(event="hello", id=str(seen), data={"position": seen}, retry=RETRY_MS)
        if resumed is not None and resumed != seen:
            missed = Moved(resumed, seen, await feed.changed(resumed, seen))
            if (event := await _event(feed, missed, following)) is not None:
                yield event
        loop = asyncio.get_running_loop()
        end = loop.time() + STREAM_SECONDS
        while (left := end - loop.time()) > 0:
            try:
                moved = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                break
            if moved.start != seen:  # this stream started between two polls
                moved = Moved(seen, moved.end, await feed.changed(seen, moved.end))
            seen = moved.end
            if (event := await _event(feed, moved, following)) is not None:
                yield event
    finally:
        with contextlib.suppress(Exception):
            feed.unsubscribe(queue)


async def _event(feed: ChangeFeed, moved: Moved, following: Following) -> ServerSentEvent | None:
    ids: list[str] | None = None if moved.ids is None else sorted(moved.ids)
    only = following.request_id
    if only is not None:
        if ids is not None and only not in ids:
            return None
        ids = [only]
    elif ids is not None and following.units is not None:
        ids = await run_in_threadpool(_within, feed.engine, ids, following.units)
        if not ids:
            return None
    elif following.cohandler is not None:
        if ids is None:  # too many to name: a partner hears only of their own
            return None
        ids = await run_in_threadpool(
            queries.cohandled_among, feed.engine, ids, following.cohandler
        )
        if not ids:
            return None
    return ServerSentEvent(
        event="change", id=str(moved.end), data={"position": moved.end, "ids": ids}
    )


def _within(engine: Engine, ids: list[str], units: frozenset[str]) -> list[str]:
    """Those of ``ids`` whose grid, community or town is one of ``units``."""
    if not units:
        return []
    query = select(requests.c.id).where(
        requests.c.id.in_(ids), or_(*(in_unit(unit) for unit in sorted(units)))
    )
    with engine.connect() as conn:
        return sorted(str(row.id) for row in conn.execute(query))
