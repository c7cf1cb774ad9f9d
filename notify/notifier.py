"""The notifier: follows the event store's notification log and writes who is told what.

Like the projector (:mod:`projections.runner`) it reads the log in batches after the
position it keeps in the database (``notify_positions``), and writes each batch's messages
in ONE transaction with the position moved past the batch: a crash anywhere leaves either
the whole batch written with its position or none of it, and a batch read again writes
nothing twice (a second notifier on the same database fails on the position check and reads
again). Every message has a unique key (event, channel, recipient, kind) besides.

Inbox messages are delivered there and then (rows of ``inbox``); SMS and webhook messages
wait in the outbox for the sender (:mod:`notify.sender`). Who is told what is the domain's
rule (:func:`domain.notices.notices`); the people of each audience come from the roster.

An event the notifier cannot decide on (a defect, or data it does not understand) does not
stop it: it is kept as a ``dead`` outbox message of channel ``notifier`` with the reason,
and the notifier goes on.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from api import roster
from closeloop.db import make_engine
from closeloop.keys import Keyring
from closeloop.store import RequestStore, store_env
from domain.aggregate import ResidentRequest
from domain.notices import (
    INBOX,
    Callers,
    Dispatchers,
    Handlers,
    Notice,
    Person,
    Resident,
    notices,
)
from domain.place import PRIVATE_KEYS
from domain.state import FILED, Change, RequestState
from notify.outbox import message_key, seal_body
from notify.tables import DEAD, NOTIFIER, SMS, WAITING, WEBHOOK, inbox, outbox, positions
from notify.webhooks import Subscription, active_subscriptions
from projections.projection import RequestProjection

log = logging.getLogger(__name__)

NAME = "notifier"
DEFAULT_BATCH_SIZE = 200
DEFAULT_POLL_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
#: Request states kept between batches (most events follow their request's last one).
STATES_KEPT = 5000
#: A filing's fields that name the resident: left out of a webhook's event unless its
#: subscription asks for them (``include_pii``).
RESIDENT_FIELDS = ("resident_name", "resident_phone")


class PositionMoved(Exception):
    """Another notifier moved the position since this one read it: read it again."""


def event_payload(
    notification_id: int,
    request_id: str,
    version: int,
    change: Change,
    include_pii: bool,
) -> dict[str, Any]:
    """The event as a webhook delivers it: the resident's name and phone left out unless
    ``include_pii``."""
    data = dict(change.data)
    if change.type == FILED and not include_pii:
        for name in RESIDENT_FIELDS:
            data.pop(name, None)
    if not include_pii:  # a filing's or a correction's address and building (domain.place)
        for name in PRIVATE_KEYS:
            data.pop(name, None)
    return {
        "id": notification_id,
        "type": change.type,
        "request_id": request_id,
        "version": version,
        "at": change.at.isoformat(),
        "actor": change.actor,
        "data": data,
    }


class Notifier:
    """Keeps the inbox and the outbox current with the event store, in a background thread
    (``start``/``stop``) or a batch at a time (:meth:`run_batch`)."""

    def __init__(
        self,
        database_url: str,
        keys: Keyring,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        store: RequestStore | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.keys = keys
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self._owns_engine = engine is None
        self.engine = engine if engine is not None else make_engine(database_url)
        self._owns_store = store is None
        self.store = store if store is not None else RequestStore(env=store_env(database_url, keys))
        self._states: OrderedDict[str, tuple[int, RequestState]] = OrderedDict()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.last_error: str | None = None
        self._ensure_position()

    # ---- positions ----------------------------------------------------------------

    def _ensure_position(self) -> None:
        with self.engine.connect() as conn:
            found = conn.execute(select(positions.c.position).where(positions.c.name == NAME))
            if found.first() is not None:
                return
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(positions).values(name=NAME, position=0))
        except IntegrityError:
            pass  # another notifier made it first

    def position(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(positions.c.position).where(positions.c.name == NAME)
            ).scalar()
        return int(value or 0)

    def lag(self) -> int:
        return max(0, (self.store.recorder.max_notification_id() or 0) - self.position())

    # ---- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the notifier is already running")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._follow, name="closeloop-notifier")
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def close(self) -> None:
        self.stop()
        if self._owns_store:
            self.store.close()
        if self._owns_engine:
            self.engine.dispose()

    def _follow(self) -> None:
        pause = self.poll_seconds
        while not self._stopping.is_set():
            try:
                written = self.run_batch()
            except PositionMoved:
                log.info("the notifier's position moved under it; reading it again")
                self._states.clear()
                continue
            except Exception as error:
                self.errors += 1
                self.last_error = repr(error)
                log.exception("notifying failed; retrying in %.1f seconds", pause)
                self._stopping.wait(pause)
                pause = min(pause * 2, MAX_RETRY_SECONDS)
                continue
            pause = self.poll_seconds
            if written is None or written < self.batch_size:
                self._stopping.wait(self.poll_seconds)

    # ---- processing ---------------------------------------------------------------

    def run_batch(self) -> int | None:
        """Notify one batch of events; how many were read (None: nothing new)."""
        start = self.position()
        batch: Sequence[Notification] = self.store.recorder.select_notifications(
            start=start, limit=self.batch_size, inclusive_of_start=False
        )
        if not batch:
            return None
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(positions)
                .where(positions.c.name == NAME, positions.c.position == start)
                .values(position=batch[-1].id)
            )
            if moved.rowcount != 1:
                raise PositionMoved()
            subscriptions = active_subscriptions(db=conn)
            inbox_rows: dict[str, dict[str, Any]] = {}
            outbox_rows: dict[str, dict[str, Any]] = {}
            for notification in batch:
                self._notify(conn, notification, subscriptions, now, inbox_rows, outbox_rows)
            if inbox_rows:
                conn.execute(insert(inbox), list(inbox_rows.values()))
            if outbox_rows:
                conn.execute(insert(outbox), list(outbox_rows.values()))
        return len(batch)

    def _notify(
        self,
        conn: Connection,
        notification: Notification,
        subscriptions: Sequence[Subscription],
        now: datetime,
        inbox_rows: dict[str, dict[str, Any]],
        outbox_rows: dict[str, dict[str, Any]],
    ) -> None:
        try:
            event = self.store.mapper.to_domain_event(notification)
            change = RequestProjection.change_of(event)
            if change is None:
                return
            request_id = str(event.originator_id)
            version = int(event.originator_version)
            before, after = self._moved(request_id, version, change)
            found = notices(change, before, after)
        except Exception as error:
            self._states.pop(str(notification.originator_id), None)
            log.error(
                "could not decide whom event %d (%s) tells: %s; kept as a dead message",
                notification.id,
                notification.topic,
                type(error).__name__,
            )
            key = message_key(notification.id, NOTIFIER, "-", "undecided")
            outbox_rows[key] = self._outbox_row(
                key, NOTIFIER, "-", str(notification.originator_id), notification.id,
                notification.topic.rsplit(".", 1)[-1][:40], "undecided", {}, now,
                state=DEAD, error=f"{type(error).__name__}: {error}"[:500],
            )  # fmt: skip
            return
        for notice in found:
            if notice.channel == INBOX:
                for username in self._people(conn, notice, change.actor):
                    key = f"{notification.id}:{username}:{notice.kind}"
                    inbox_rows.setdefault(
                        key,
                        {
                            "key": key,
                            "username": username,
                            "request_id": request_id,
                            "event_id": notification.id,
                            "kind": notice.kind,
                            "params": json.dumps(notice.params, ensure_ascii=False),
                            "created_at": now,
                            "read_at": None,
                        },
                    )
            elif isinstance(notice.audience, Resident):
                key = message_key(notification.id, SMS, "resident", notice.kind)
                outbox_rows[key] = self._outbox_row(
                    key, SMS, "resident", request_id, notification.id, change.type,
                    notice.kind, notice.params, now,
                )  # fmt: skip
        for subscription in subscriptions:
            if not subscription.wants(change.type):
                continue
            key = message_key(notification.id, WEBHOOK, subscription.id, "event")
            body = {
                "delivery": key,
                "event": event_payload(
                    notification.id, request_id, version, change, subscription.include_pii
                ),
                "pii": subscription.include_pii,
            }
            outbox_rows[key] = self._outbox_row(
                key, WEBHOOK, subscription.id, request_id, notification.id, change.type,
                "event", body, now,
            )  # fmt: skip

    def _outbox_row(
        self,
        key: str,
        channel: str,
        recipient: str,
        request_id: str | None,
        event_id: int,
        event_type: str,
        kind: str,
        body: Mapping[str, Any],
        now: datetime,
        *,
        state: str = WAITING,
        error: str | None = None,
    ) -> dict[str, Any]:
        return {
            "key": key,
            "channel": channel,
            "recipient": recipient,
            "request_id": request_id,
            "event_id": event_id,
            "event_type": event_type,
            "kind": kind,
            "body": seal_body(self.keys, body),
            "state": state,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
            "claimed_until": None,
            "sent_at": None,
            "last_status": None,
            "last_error": error,
        }

    def _moved(
        self, request_id: str, version: int, change: Change
    ) -> tuple[RequestState | None, RequestState]:
        """The request's state before and after the change at ``version``."""
        held = self._states.pop(request_id, None)
        if change.type == FILED:
            before, after = None, RequestState.from_filed(change)
        else:
            if held is not None and held[0] == version - 1:
                state = held[1]
            else:
                aggregate: Any = self.store.repository.get(UUID(request_id), version=version - 1)
                assert isinstance(aggregate, ResidentRequest)
                state = aggregate.state
            before = copy.copy(state)
            state.apply(change)
            after = state
        self._states[request_id] = (version, after)
        while len(self._states) > STATES_KEPT:
            self._states.popitem(last=False)
        return before, after

    @staticmethod
    def _people(conn: Connection, notice: Notice, actor: str) -> list[str]:
        """The usernames an inbox notice reaches (never the one whose move it tells)."""
        audience = notice.audience
        users: Iterable[roster.User]
        if isinstance(audience, Handlers):
            users = roster.users_assigned(audience.unit_id, audience.level, db=conn)
        elif isinstance(audience, Dispatchers):
            users = roster.dispatchers_of(audience.unit_ids, db=conn)
        elif isinstance(audience, Callers):
            users = [u for u in roster.list_users(db=conn, role=roster.Role.CALLER)]
            users = [u for u in users if not u.disabled]
        elif isinstance(audience, Person):
            found = roster.get_user_by_username(audience.username, db=conn)
            users = [found] if found is not None and not found.disabled else []
        else:
            users = []
        return [u.username for u in users if u.username != actor]
