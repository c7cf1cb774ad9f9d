"""The projector: follows the event store's notification log by polling, in batches.

SQLite has no subscriptions (eventsourcing-sqlalchemy raises ``NotImplementedError``), so
the embedded default polls; polling works on PostgreSQL too. Each batch of up to
``batch_size`` events is one transaction holding the view rows and the tracking position,
and each batch starts from the position recorded in the database, not from memory: a
failed batch is simply read again, and two projectors on one database cannot count an
event twice (the second one's batch fails on the tracking check and is retried).

A poison event (one the views fail on for a reason of its own, see
:mod:`projections.failures`) does not stop the projector: the batch it spoils is rolled
back and projected again in halves, each its own transaction, until the poison event is
alone; it is quarantined in the dead-letter table with the position moved past it, the
rest of the batch is kept, and the later events of its request wait behind it
(:mod:`projections.views`). A passing
failure (the database is away) is retried with back-off, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from eventsourcing.persistence import Notification, Tracking
from sqlalchemy import func, select

from closeloop.keys import Keyring
from closeloop.store import STORE_NAME, RequestStore, store_env
from domain.performance import PostRule
from domain.privacy import Sealer
from projections.failures import PositionMoved, describe
from projections.projection import Decoded, RequestProjection
from projections.views import Memory, RequestViews

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 0.2
DEFAULT_BATCH_SIZE = 500
#: Longest pause between retries after database errors.
MAX_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class ReadAhead:
    """A batch's notifications, read (in another thread) after position ``after``."""

    after: int | None
    notifications: Sequence[Notification]


@dataclass(frozen=True)
class Batch:
    """One committed batch: how far the view now reaches, and what changed."""

    position: int  # the last notification id tracked
    count: int  # events processed (quarantined and parked ones included)
    request_ids: frozenset[str]
    quarantined: int = 0  # events of this batch put in the dead-letter table as failed


class Projector:
    """Keeps the request views current with the event store, in a background thread.

    ``start()`` / ``stop()`` (or use it as a context manager); ``wait(notification_id)``
    gives read-your-writes; ``position()`` and ``store_position()`` measure the lag.
    ``run_batch()`` processes one batch in the calling thread (rebuilds, tests).
    """

    def __init__(
        self,
        database_url: str,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        retry_seconds: float = 1.0,
        store: RequestStore | None = None,
        memory: Memory | None = None,
        cache_mib: int = 64,
        keys: Keyring | None = None,
        sealer: Sealer | None = None,
        posts_rule: PostRule | None = None,
    ) -> None:
        if poll_seconds <= 0 or batch_size <= 0 or retry_seconds <= 0:
            raise ValueError("poll_seconds, batch_size and retry_seconds must be positive")
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self.views = RequestViews.connect(
            database_url, cache_mib=cache_mib, sealer=sealer, posts_rule=posts_rule
        )
        #: Request states kept between batches (a rebuild's), or None: read each batch.
        self.memory = memory
        self.projection = RequestProjection(self.views)
        self._owns_store = store is None
        self.store = store if store is not None else RequestStore(env=store_env(database_url, keys))
        self._callbacks: list[Callable[[Batch], None]] = []
        self._stopping = threading.Event()
        self._nudged = threading.Event()  # wakes the poller early: stop(), or a reader waits
        self._thread: threading.Thread | None = None
        self._moved = threading.Condition()
        self._position = 0  # the last position seen in the database, in memory for wait()
        self.errors = 0  # failed batches since construction (for health pages)
        self.last_error: str | None = None

    # ---- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Follow the notification log in a background thread until :meth:`stop`."""
        if self._thread is not None:
            raise RuntimeError("the projector is already running")
        self._stopping.clear()
        self._nudged.clear()
        self._thread = threading.Thread(target=self._follow, name="closeloop-projector")
        self._thread.daemon = True  # never keep a dying process alive
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the current batch (committed with what it has processed), then return."""
        self._stopping.set()
        self._nudged.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("the projector did not stop within %s seconds", timeout)

    def close(self) -> None:
        """Stop, and release the database connections."""
        self.stop()
        self.views.close()
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Projector:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def on_batch(self, callback: Callable[[Batch], None]) -> None:
        """Call ``callback`` after each committed batch (in the projector's thread).

        For live pages: ``batch.request_ids`` are the requests whose rows changed. A
        callback's error is logged and does not stop the projector; keep callbacks quick.
        """
        self._callbacks.append(callback)

    # ---- positions ----------------------------------------------------------------

    def position(self) -> int:
        """The last notification id the views have processed (0 before the first)."""
        return self.views.max_tracking_id(STORE_NAME) or 0

    def store_position(self) -> int:
        """The last notification id in the event store (0 when empty)."""
        return self.store.recorder.max_notification_id() or 0

    def lag(self) -> int:
        """How many notification ids the views are behind the store."""
        return max(0, self.store_position() - self.position())

    def quarantined(self) -> int:
        """How many events wait in the dead-letter table (``closeloop projections``)."""
        return self.views.quarantined()

    def store_count(self) -> int:
        """How many events the store holds (for progress bars)."""
        table = self.store.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        with self.views.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def wait(self, notification_id: int | None, timeout: float = 5.0) -> None:
        """Block until the views have processed ``notification_id`` (read-your-writes).

        Raises ``TimeoutError`` after ``timeout`` seconds. When the projector is not
        running in this process (another process projects), polls the tracking table.
        """
        if notification_id is None:
            return
        deadline = time.monotonic() + timeout
        with self._moved:
            while self._position < notification_id:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"the views have not reached notification {notification_id} "
                        f"within {timeout} seconds (they are at {self._position})"
                    )
                if self.running:
                    self._nudged.set()  # poll now rather than at the next tick
                    self._moved.wait(min(remaining, max(self.poll_seconds, 0.05)))
                else:
                    self._moved.release()
                    try:
                        self._seen(self.position())
                        if self._position < notification_id:
                            time.sleep(min(remaining, self.poll_seconds))
                    finally:
                        self._moved.acquire()

    def catch_up(self, timeout: float = 5.0) -> int:
        """Wait until the views hold every event stored so far; returns that position."""
        target = self.store_position()
        self.wait(target, timeout)
        return target

    # ---- processing ---------------------------------------------------------------

    def read(self, after: int | None) -> Sequence[Notification]:
        """The next batch's notifications after position ``after`` (None: the start)."""
        return self.store.recorder.select_notifications(
            start=after, limit=self.batch_size, inclusive_of_start=False
        )

    def run_batch(self, read_ahead: ReadAhead | None = None) -> Batch | None:
        """Process the next batch in the calling thread; None when there was nothing new.

        ``read_ahead``: notifications read already, used when they follow the position
        the views hold now (else the batch is read again). An event the views fail on
        is quarantined and the batch goes on without it; a passing failure (the database
        is away, another projector moved the position) is raised (the background loop
        logs and retries).
        """
        start = self.views.max_tracking_id(STORE_NAME)
        if read_ahead is not None and read_ahead.after == start:
            notifications = read_ahead.notifications
        else:
            notifications = self.read(start)
        if not notifications:
            self._seen(start or 0)
            return None
        try:
            batch = self._project(start, notifications)
        except Exception as error:
            if not self.views.should_quarantine(error):
                raise
            log.warning(
                "a batch of %d events failed (%s); looking for the event that fails",
                len(notifications),
                describe(error),
            )
            batch = self._project_in_parts(start, notifications, error)
        self._seen(batch.position)
        for callback in self._callbacks:
            try:
                callback(batch)
            except Exception:
                log.exception("an on_batch callback failed")
        return batch

    def _project(self, start: int | None, notifications: Sequence[Notification]) -> Batch:
        """The notifications in one transaction (stopping early commits what it holds)."""
        changed: set[str] = set()
        count = 0
        last = start or 0
        touched = {str(n.originator_id) for n in notifications}
        with self.views.batch(STORE_NAME, start, touched, memory=self.memory):
            for notification in notifications:
                if self._stopping.is_set() and count:
                    break  # commit what this batch holds, and let stop() return
                self._apply(notification)
                changed.add(str(notification.originator_id))
                count += 1
                last = notification.id
        return Batch(position=last, count=count, request_ids=frozenset(changed))

    def _project_in_parts(
        self, start: int | None, notifications: Sequence[Notification], error: Exception
    ) -> Batch:
        """A batch that failed with ``error``, again in halves until the failing event is
        alone: it is quarantined (with the position moved past it), every other event is
        kept.

        Each part that succeeds commits as a batch of its own, so a poison event costs
        about twice the batch's work, whatever its place in the batch.
        """
        changed: set[str] = set()
        count = quarantined = 0
        position = start
        parts: list[Sequence[Notification]] = []  # a stack: the earliest part on top
        failed: Sequence[Notification] | None = notifications
        while True:
            if failed is not None:
                if len(failed) > 1:
                    half = len(failed) // 2
                    parts += [failed[half:], failed[:half]]
                else:
                    self._quarantine(failed[0], error)
                    quarantined += 1
                    changed.add(str(failed[0].originator_id))
                    count += 1
                    position = failed[0].id
                failed = None
            if not parts or (self._stopping.is_set() and count):
                break
            part = parts.pop()
            try:
                done = self._project(position, part)
            except Exception as e:
                if not self.views.should_quarantine(e):
                    raise
                failed, error = part, e
                continue
            changed |= done.request_ids
            count += done.count
            position = done.position
            if done.count < len(part):
                break  # stopped short: stop() was called
        return Batch(
            position=position or 0,
            count=count,
            request_ids=frozenset(changed),
            quarantined=quarantined,
        )

    def _quarantine(self, notification: Notification, error: Exception) -> None:
        request_id = str(notification.originator_id)
        reason = describe(error)
        tracking = Tracking(STORE_NAME, notification.id)
        version = notification.originator_version
        self.views.quarantine(tracking, request_id, version, notification.topic, reason)
        log.error(
            "quarantined event %d of request %s (%s): %s; the request's later events wait "
            "behind it until `closeloop projections retry`",
            notification.id,
            request_id,
            notification.topic,
            reason,
        )

    def _apply(self, notification: Notification | Decoded) -> None:
        tracking = Tracking(STORE_NAME, notification.id)
        if isinstance(notification, Decoded):  # by a rebuild's reading process
            self.projection.apply_decoded(notification, tracking)
            return
        domain_event = self.store.mapper.to_domain_event(notification)
        # inside a batch, process_event raises what fails: the batch's owner decides
        self.projection.process_event(domain_event, tracking)

    def _seen(self, position: int) -> None:
        with self._moved:
            if position != self._position:
                self._position = position
                self._moved.notify_all()

    def _follow(self) -> None:
        pause = self.retry_seconds
        while not self._stopping.is_set():
            try:
                batch = self.run_batch()
            except PositionMoved:
                # Another projector (or a rebuild) moved the position: read it again.
                log.info("the view's position moved under this projector; reading it again")
                self._pause(self.poll_seconds)
                continue
            except Exception as error:
                self.errors += 1
                self.last_error = repr(error)
                log.exception("projecting failed; retrying in %.1f seconds", pause)
                self._stopping.wait(pause)  # not nudged: readers must not hasten retries
                pause = min(pause * 2, MAX_RETRY_SECONDS)
                continue
            pause = self.retry_seconds
            if batch is None or batch.count < self.batch_size:
                self._pause(self.poll_seconds)

    def _pause(self, seconds: float) -> None:
        """Sleep until the next poll, or until stopped or nudged by a waiting reader."""
        self._nudged.wait(seconds)
        self._nudged.clear()
