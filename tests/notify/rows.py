"""Outbox rows written by hand, as the notifier and the sender leave them (for the tests
of what is listed, before or without a sender)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from closeloop.db import make_engine
from closeloop.keys import Keyring, keyring
from closeloop.settings import Settings
from notify import tables
from notify.webhooks import create_subscription


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


#: Event ids no store reaches in a test: a hand-written row never takes a real event's key.
UNSEEN_EVENT = 900_000_001


def in_data_dir(data_dir: Path) -> tuple[Engine, Keyring]:
    """The database and the keyring of a ``closeloop dev`` running on ``data_dir`` (as its
    processes open them), to write rows no API writes (deliveries) in browser tests."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CLOSELOOP_DATA_DIR", str(data_dir))
        env.delenv("CLOSELOOP_DATABASE_URL", raising=False)
        settings = Settings.from_env()
    return make_engine(settings.database_url), keyring(settings)


def delivered_subscription(data_dir: Path, url: str = "http://127.0.0.1:9/closeloop") -> str:
    """A subscription to every event in the database of the dev on ``data_dir``, with a
    delivery sent after a failed attempt and one given up; its URL (the discard port of
    this machine, where nothing listens) is allowed here only, so a sender refuses it.
    Its id."""
    engine, sealer = in_data_dir(data_dir)
    try:
        made = create_subscription(
            url,
            ["*"],
            "a-secret-nobody-uses-here",
            False,
            "admin",
            db=engine,
            sealer=sealer,
            allow_private=True,
        )
        add_delivery(
            engine,
            made.id,
            UNSEEN_EVENT,
            state="sent",
            tries=[(False, 500, "HTTP 500"), (True, 200, None)],
        )
        add_delivery(
            engine, made.id, UNSEEN_EVENT + 1, state="dead", tries=[(False, None, "timeout")]
        )
    finally:
        engine.dispose()
    return made.id
