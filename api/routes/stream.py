"""Server-sent events: a message whenever the read models move, naming the changed requests.

``GET /api/v1/stream`` answers ``text/event-stream``. One poller per app reads the
projection's tracking position every :data:`POLL_SECONDS` (one indexed ``max`` on a
one-row table: cheap, and it works when the projector runs in another process); when the
position moves it reads which requests the new events belong to and tells every open
stream. Events:

``hello``   on connecting: ``{"position": n}``;
``change``  ``{"position": n, "ids": [request ids]}``; ``ids`` is null when too many
            requests changed at once or the read models were rebuilt: read everything again;
``inbox``   to a signed-in reader only, of their own inbox: ``{"unread": n}`` once on
            connecting and whenever their unread count changes (no ``id``: it is no position).

The same poller reads the inbox's newest message id (:func:`notify.inbox.latest_id`, a
``max`` on the primary key); when it moves, it reads who the new messages are for, and only
their streams count their unread messages again. A message marked read through this app
tells its owner's streams at once (:meth:`ChangeFeed.inbox_read`); one marked read by
another API process is counted when the stream reconnects (within :data:`STREAM_SECONDS`).

Each event's ``id`` is the position, so a browser that reconnects (``EventSource`` does so
by itself) sends ``Last-Event-ID`` and first hears what it missed. A stream ends after
:data:`STREAM_SECONDS` and the browser reconnects at once: no event is lost, and a server
that is stopping never waits long for open streams.

Supervisors, callers and admins see every change; a handler, the changes of requests in
the units of their posts (as :mod:`domain.privacy` says what they may know of). Without a
sign-in, ``?token=`` (the resident's tracking token) is required and the stream tells only
of that request; staff may follow one request with ``?request_id=``. A stream followed by
a tracking token tells of no inbox, whoever is signed in.
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
from notify import inbox
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


@dataclass(frozen=True)
class InboxMoved:
    """Messages arrived for ``usernames``, or some of theirs were read (None: anyone's)."""

    usernames: frozenset[str] | None

    def concerns(self, username: str) -> bool:
        return self.usernames is None or username in self.usernames


Signal = Moved | InboxMoved


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
        self._queues: set[asyncio.Queue[Signal]] = set()
        self._task: asyncio.Task[None] | None = None
        self.position = 0
        self.inbox_position = 0  # the newest inbox message's id

    @classmethod
    def of(cls, request: Request) -> ChangeFeed:
        """The app's feed, made on first use."""
        state = request.app.state
        feed: ChangeFeed | None = getattr(state, "change_feed", None)
        if feed is None:
            feed = cls(request.app.state.engine)
            state.change_feed = feed
        return feed

    async def subscribe(self) -> asyncio.Queue[Signal]:
        queue: asyncio.Queue[Signal] = asyncio.Queue()
        if self._task is None or self._task.done():
            self.position = await run_in_threadpool(projected_position, self.engine)
            self.inbox_position = await run_in_threadpool(self._inbox_position)
            self._task = asyncio.create_task(self._poll(), name="closeloop-change-feed")
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Signal]) -> None:
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

    def inbox_read(self, username: str) -> None:
        """``username`` read messages (through this app): their streams count again."""
        self._tell(InboxMoved(frozenset((username,))))

    def _tell(self, signal: Signal) -> None:
        for queue in list(self._queues):
            queue.put_nowait(signal)

    def _inbox_position(self) -> int:
        try:
            return inbox.latest_id(db=self.engine)
        except Exception:  # noqa: BLE001 - then the next tick tries again
            log.exception("reading the inbox's newest message failed")
            return self.inbox_position

    def _inbox_moved(self) -> InboxMoved | None:
        """Who got new inbox messages since the last tick (None: nobody)."""
        latest = self._inbox_position()
        if latest == self.inbox_position:
            return None
        try:
            # fewer than before: the table was emptied; anyone's count may have changed
            who = (
                inbox.recipients(self.inbox_position, latest, db=self.engine)
                if latest > self.inbox_position
                else None
            )
        except Exception:  # noqa: BLE001
            log.exception("reading who got inbox messages failed")
            who = None
        self.inbox_position = latest
        return InboxMoved(who)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            moved_inbox = await run_in_threadpool(self._inbox_moved)
            if moved_inbox is not None and moved_inbox.usernames != frozenset():
                self._tell(moved_inbox)
            try:
                position = await run_in_threadpool(projected_position, self.engine)
                if position == self.position:
                    continue
                moved = Moved(self.position, position, await self.changed(self.position, position))
            except Exception:  # noqa: BLE001 - a database hiccup: try again at the next tick
                log.exception("reading the projection's position failed")
                continue
            self.position = position
            self._tell(moved)


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
    reader: str | None = None  # the signed-in user told of their inbox (not by token)


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
        return Following(request_id=request_id, reader=user.username)
    if user.role is Role.HANDLER:
        units = frozenset(a.unit_id for a in user.assignments)
        return Following(units=units, reader=user.username)
    if user.role is Role.DISPATCHER:  # the communities and towns of their posts
        return Following(units=frozenset(user.dispatch_units), reader=user.username)
    if user.role is Role.PARTNER:  # only the requests they are called in to
        return Following(cohandler=user.username, reader=user.username)
    return Following(reader=user.username)


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
        reader = following.reader
        unread = await _unread(feed, reader) if reader is not None else None
        if unread is not None:
            yield _inbox_event(unread)
        if resumed is not None and resumed != seen:
            missed = Moved(resumed, seen, await feed.changed(resumed, seen))
            if (event := await _event(feed, missed, following)) is not None:
                yield event
        loop = asyncio.get_running_loop()
        end = loop.time() + STREAM_SECONDS
        while (left := end - loop.time()) > 0:
            try:
                signal = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                break
            if isinstance(signal, InboxMoved):
                if reader is None or not signal.concerns(reader):
                    continue
                count = await _unread(feed, reader)
                if count is not None and count != unread:
                    unread = count
                    yield _inbox_event(count)
                continue
            moved = signal
            if moved.start != seen:  # this stream started between two polls
                moved = Moved(seen, moved.end, await feed.changed(seen, moved.end))
            seen = moved.end
            if (event := await _event(feed, moved, following)) is not None:
                yield event
    finally:
        with contextlib.suppress(Exception):
            feed.unsubscribe(queue)


async def _unread(feed: ChangeFeed, username: str) -> int | None:
    """``username``'s unread count; None when it cannot be read now (nothing is sent)."""
    try:
        return await run_in_threadpool(inbox.unread_count, username, db=feed.engine)
    except Exception:  # noqa: BLE001 - the stream goes on without it
        log.exception("counting unread inbox messages failed")
        return None


def _inbox_event(unread: int) -> ServerSentEvent:
    return ServerSentEvent(event="inbox", data={"unread": unread})


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
