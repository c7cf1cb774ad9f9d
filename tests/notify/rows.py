"""Outbox rows written by hand, as the notifier and the sender leave them (for the tests
of what is listed, before or without a sender)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from notify import tables


def add_delivery(
    engine: Engine,
    subscription_id: str,
    event_id: int,
    *,
    state: str,
    tries: list[tuple[bool, int | None, str | None]],
    channel: str = "webhook",
) -> int:
    """An outbox message to the subscription with its attempts, as the sender leaves them."""
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    last = tries[-1] if tries else (False, None, None)
    with engine.begin() as conn:
        message_id = conn.execute(
            insert(tables.outbox).values(
                key=f"{event_id}:{channel}:{subscription_id}:event",
                channel=channel,
                recipient=subscription_id,
                request_id=f"r-{event_id}",
                event_id=event_id,
                event_type="Resolved",
                kind="event",
                body="sealed",
                state=state,
                attempts=len(tries),
                created_at=start,
                next_attempt_at=start + timedelta(minutes=5),
                sent_at=start + timedelta(seconds=len(tries)) if state == "sent" else None,
                last_status=last[1],
                last_error=last[2],
            )
        ).inserted_primary_key[0]
        for n, (ok, status, error) in enumerate(tries, 1):
            conn.execute(
                insert(tables.attempts).values(
                    message_id=message_id,
                    attempt=n,
                    at=start + timedelta(seconds=n),
                    ok=ok,
                    status=status,
                    error=error,
                    millis=12 * n,
                )
            )
    return int(message_id)
