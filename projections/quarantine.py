"""The dead-letter table: what is quarantined, and applying it again after a fix.

The projectors quarantine an event the views fail on (:mod:`projections.failures` says
which failures count) and park the later events of its request behind it, moving the
tracking position past each in the transaction that writes its row
(:mod:`projections.views`). Nothing is lost: the events stay in the store, and
:func:`retry` (``closeloop projections retry``) applies them once the cause is fixed.

A retry may run while a projector runs, in any process: it does not take the
one-projector lock, but each event it applies is one transaction that first locks the
projection's tracking row, as every projector transaction does. The two take turns: a
projector never sees a request between its replayed rows and the deletion of its
dead-letter row, and so a request's new events are parked while any of its events wait,
and applied directly once none do (in order either way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, select

from closeloop.keys import Keyring
from closeloop.store import STORE_NAME, RequestStore, store_env
from projections.failures import describe
from projections.projection import RequestProjection
from projections.tables import BLOCKED, FAILED, dead_letters
from projections.views import RequestViews, waiting_behind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    """One quarantined event."""

    position: int  # its notification id in the store's log
    request_id: str
    version: int  # its version within the request
    topic: str
    state: str  # FAILED: the views failed on it; BLOCKED: an earlier one of its request did
    error: str
    attempts: int
    quarantined_at: datetime
    tried_at: datetime

    @property
    def failed(self) -> bool:
        return self.state == FAILED

    def describe(self) -> str:
        """The event in words, one line."""
        if self.failed:
            tries = "1 attempt" if self.attempts == 1 else f"{self.attempts} attempts"
            why = f"failed ({tries}): {self.error}"
        else:
            why = f"waiting: {self.error}"
        return (
            f"event {self.position}  request {self.request_id} (version {self.version})  "
            f"{self.topic}  {why}"
        )


def quarantined_count(db: Engine | Connection) -> int:
    """How many events wait in the dead-letter table (failed and waiting ones)."""
    query = select(func.count()).select_from(dead_letters)
    if isinstance(db, Connection):
        return int(db.execute(query).scalar_one())
    with db.connect() as conn:
        return int(conn.execute(query).scalar_one())


def dead_letters_of(engine: Engine) -> list[DeadLetter]:
    """Every quarantined event, in the order of the log."""
    with engine.connect() as conn:
        rows = conn.execute(select(dead_letters).order_by(dead_letters.c.position)).all()
    return [DeadLetter(**row._asdict()) for row in rows]


@dataclass(frozen=True)
class RetryResult:
    applied: int  # events applied and taken out of the dead-letter table
    failed: int  # events that failed again (their error is the new one)
    remaining: int  # events left in the table afterwards (failed, waiting, or new)


#: ``report(letter, outcome)``: outcome is "applied", "failed: <error>" or "waiting".
Report = Callable[[DeadLetter, str], None]


def retry(
    database_url: str,
    *,
    views_class: type[RequestViews] = RequestViews,
    report: Report | None = None,
    keys: Keyring | None = None,
) -> RetryResult:
    """Apply the quarantined events again, in the order of the log.

    An event that now succeeds is applied and its row deleted in one transaction, and
    the events of its request that waited behind it follow; one that fails again stays
    with its new error, and the rest of its request go on waiting behind it. Events
    quarantined while this runs are taken in turn. A failure that is not the event's
    (the database is away) is raised: each event is applied whole or not at all, so
    running it again carries on. ``views_class``: the views
    to apply with (tests stand a fixed projection in for a deployed fix); ``keys`` open
    the store's sealed events and seal the contacts the views keep.
    """
    views = views_class.connect(database_url, sealer=keys)
    store = RequestStore(env=store_env(database_url, keys))
    applied = failed = 0
    still_failing: dict[str, int] = {}  # request -> the position of its failing event
    after = -1
    try:
        while True:
            letter = _next(views.engine, after)
            if letter is None:
                break
            after = letter.position
            first = still_failing.get(letter.request_id)
            if first is not None:
                views.mark(STORE_NAME, letter.position, BLOCKED, waiting_behind(first))
                _tell(report, letter, "waiting")
                continue
            try:
                done = _replay(views, store, letter)
            except Exception as error:
                if not views.should_quarantine(error):
                    raise
                reason = describe(error)
                views.mark(STORE_NAME, letter.position, FAILED, reason)
                still_failing[letter.request_id] = letter.position
                failed += 1
                log.warning("event %d still fails: %s", letter.position, reason)
                _tell(report, letter, f"failed: {reason}")
                continue
            if done:
                applied += 1
                _tell(report, letter, "applied")
        remaining = views.quarantined()
    finally:
        store.close()
        views.close()
    return RetryResult(applied=applied, failed=failed, remaining=remaining)


def _next(engine: Engine, after: int) -> DeadLetter | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(dead_letters)
            .where(dead_letters.c.position > after)
            .order_by(dead_letters.c.position)
            .limit(1)
        ).first()
    return None if row is None else DeadLetter(**row._asdict())


def _replay(views: RequestViews, store: RequestStore, letter: DeadLetter) -> bool:
    """Apply one quarantined event; False when another retry took it meanwhile."""
    found = store.recorder.select_notifications(
        start=letter.position, limit=1, inclusive_of_start=True
    )
    if not found or found[0].id != letter.position:
        raise LookupError(f"event {letter.position} is not in the event store")
    domain_event = store.mapper.to_domain_event(found[0])
    change = RequestProjection.change_of(domain_event)
    with views.replaying(STORE_NAME, letter.position) as present:
        if present and change is not None:
            views.record(
                letter.request_id, domain_event.originator_version, change, None, topic=letter.topic
            )
    return present


def _tell(report: Report | None, letter: DeadLetter, outcome: str) -> None:
    if report is not None:
        report(letter, outcome)
