"""The sender: delivers the outbox's messages over their channels, with retries.

Each round it claims the messages that are due (``waiting`` or ``failed`` with their next
attempt passed), one by one with a conditional update, so two senders never hold the same
message: a claim lasts a lease (long enough for the delivery's timeout), and a sender that
dies holding one leaves it to be claimed again when the lease ends. A claimed message is
delivered in a worker thread; the attempt is then recorded (``delivery_attempts``) with the
message's new state in one transaction:

- delivered: ``sent``;
- failed: ``failed``, tried again after ``retry_seconds``, doubling with each attempt up to
  ``max_retry_seconds``;
- failed for good (the channel says nothing can make it succeed), or failed when the
  message is older than ``give_up_hours``: ``dead``.

A channel may hold a message (quiet hours): it waits, without an attempt being counted.

A sender that dies after a receiver took a message but before the attempt is recorded
delivers it again after the lease, with the same idempotency key (the message's key), so a
receiver that keeps the keys it has seen takes it once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, insert, or_, select, update

from domain.privacy import Sealer
from notify.outbox import Channel, Message, Outcome, open_body
from notify.tables import (
    CHANNELS,
    DEAD,
    FAILED,
    INBOX,
    SENT,
    STATES,
    WAITING,
    attempts,
    inbox,
    outbox,
)

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 0.5
DEFAULT_BATCH = 20
DEFAULT_WORKERS = 4
_DUE_STATES = (WAITING, FAILED)


@dataclass(frozen=True)
class Policy:
    """When to try again and when to give up."""

    retry_seconds: float = 30.0
    max_retry_seconds: float = 3600.0
    give_up_hours: float = 24.0
    #: how long a claim holds a message (the delivery's timeout, and a margin)
    lease_seconds: float = 60.0

    def next_attempt(self, now: datetime, attempt: int) -> datetime:
        pause = min(self.retry_seconds * 2 ** max(attempt - 1, 0), self.max_retry_seconds)
        return now + timedelta(seconds=pause)

    def gives_up(self, created_at: datetime, now: datetime) -> bool:
        return now - created_at >= timedelta(hours=self.give_up_hours)


class Sender:
    """Delivers due outbox messages of the channels it has; :meth:`run_once` does one
    round in the calling thread, :meth:`start` / :meth:`stop` run rounds in the
    background."""

    def __init__(
        self,
        engine: Engine,
        channels: Mapping[str, Channel],
        sealer: Sealer,
        policy: Policy | None = None,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        batch: int = DEFAULT_BATCH,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        self.engine = engine
        self.channels = dict(channels)
        self.sealer = sealer
        self.policy = policy or Policy()
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.workers = workers
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.errors = 0
        self.last_error: str | None = None

    # ---- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the sender is already running")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._follow, name="closeloop-sender")
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _follow(self) -> None:
        pause = self.poll_seconds
        with ThreadPoolExecutor(self.workers, thread_name_prefix="delivery") as pool:
            self._pool = pool
            while not self._stopping.is_set():
                try:
                    done = self.run_once()
                except Exception as error:
                    self.errors += 1
                    self.last_error = repr(error)
                    log.exception("sending failed; retrying in %.1f seconds", pause)
                    self._stopping.wait(pause)
                    pause = min(pause * 2, 30.0)
                    continue
                pause = self.poll_seconds
                if done < self.batch:
                    self._stopping.wait(self.poll_seconds)
            self._pool = None

    # ---- one round ----------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> int:
        """Claim and deliver the due messages (up to ``batch``); how many were tried."""
        now = now or datetime.now(UTC)
        claimed = self._claim(now)
        if not claimed:
            return 0
        pool = self._pool
        if pool is None or len(claimed) == 1:
            results = [(m, self._deliver(m)) for m in claimed]
        else:
            futures = [(m, pool.submit(self._deliver, m)) for m in claimed]
            results = [(m, f.result()) for m, f in futures]
        for message, (outcome, millis) in results:
            self._record(message, outcome, millis)
        return len(claimed)

    def _claim(self, now: datetime) -> list[Message]:
        """The due messages this sender now holds (held ones wait for their hour)."""
        channels = list(self.channels)
        if not channels:
            return []
        free = or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now)
        due = and_(
            outbox.c.state.in_(_DUE_STATES),
            outbox.c.next_attempt_at <= now,
            outbox.c.channel.in_(channels),
            free,
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(outbox).where(due).order_by(outbox.c.next_attempt_at, outbox.c.id)
                .limit(self.batch)
            ).all()  # fmt: skip
        held: dict[str, datetime | None] = {
            name: channel.hold_until(now) for name, channel in self.channels.items()
        }
        claimed: list[Message] = []
        lease = now + timedelta(seconds=self.policy.lease_seconds)
        with self.engine.begin() as conn:
            for row in rows:
                hold = held.get(row.channel)
                values: dict[str, Any] = (
                    {"next_attempt_at": hold} if hold is not None else {"claimed_until": lease}
                )
                taken = conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row.id, outbox.c.state.in_(_DUE_STATES), free)
                    .values(**values)
                )
                if taken.rowcount != 1 or hold is not None:
                    continue
                claimed.append(self._message(row))
        return claimed

    def _message(self, row: Any) -> Message:
        try:
            body = open_body(self.sealer, row.body)
        except Exception:  # a key that is gone: the delivery says so
            body = {}
        return Message(
            id=row.id,
            key=row.key,
            channel=row.channel,
            recipient=row.recipient,
            request_id=row.request_id,
            event_id=row.event_id,
            event_type=row.event_type,
            kind=row.kind,
            body=body,
            attempts=row.attempts,
            created_at=row.created_at,
        )

    def _deliver(self, message: Message) -> tuple[Outcome, int]:
        started = time.monotonic()
        try:
            outcome = self.channels[message.channel].deliver(message)
        except Exception as error:  # a channel's defect: counted as a failed attempt
            log.exception("delivering message %d over %s failed", message.id, message.channel)
            outcome = Outcome.failed(f"{type(error).__name__}")
        return outcome, int((time.monotonic() - started) * 1000)

    def _record(self, message: Message, outcome: Outcome, millis: int) -> None:
        now = datetime.now(UTC)
        attempt = message.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempt,
            "claimed_until": None,
            "last_status": outcome.status,
            "last_error": None if outcome.ok else (outcome.error or "failed")[:500],
        }
        if outcome.ok:
            values.update(state=SENT, sent_at=now)
        elif not outcome.retry or self.policy.gives_up(message.created_at, now):
            values.update(state=DEAD)
            log.warning(
                "gave up message %d (%s to %s) after %d attempt(s): %s",
                message.id,
                message.channel,
                message.recipient,
                attempt,
                values["last_error"],
            )
        else:
            values.update(state=FAILED, next_attempt_at=self.policy.next_attempt(now, attempt))
        with self.engine.begin() as conn:
            conn.execute(
                insert(attempts).values(
                    message_id=message.id,
                    attempt=attempt,
                    at=now,
                    ok=outcome.ok,
                    status=outcome.status,
                    error=None if outcome.ok else values["last_error"],
                    millis=millis,
                )
            )
            conn.execute(update(outbox).where(outbox.c.id == message.id).values(**values))


def counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Messages per channel and state (the inbox's are all sent): for /stats and /health."""
    result = {channel: dict.fromkeys(STATES, 0) for channel in CHANNELS}
    with engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.channel, outbox.c.state, func.count()).group_by(
                outbox.c.channel, outbox.c.state
            )
        )
        for channel, state, count in rows:
            result.setdefault(channel, dict.fromkeys(STATES, 0))[state] = int(count)
        result[INBOX][SENT] = int(
            conn.execute(select(func.count()).select_from(inbox)).scalar_one()
        )
    return result


def notifier_position(engine: Engine) -> int:
    """How far the notifier has read the event log (0 before it first ran)."""
    from notify.tables import positions

    with engine.connect() as conn:
        value = conn.execute(select(func.max(positions.c.position))).scalar()
    return int(value or 0)
