"""Log-in throttling: too many failed log-ins lock an account, or a client address, for a
while, and each further lock lasts twice as long.

Two keys count every attempt: the account (its case-folded username, whether or not such
a user exists, so probing for usernames is throttled the same) and the client address.
A key that reaches its limit of failures within the window (5 for an account, 20 for an
address, in 15 minutes by default; see :class:`Limits`) is locked: until the lock ends,
every attempt on it answers 429 without the password being checked. The first lock lasts
``lock_seconds``; the count then starts again, and each further lock of the same key lasts
twice the one before (at most ``max_lock_seconds``) until the key has been quiet for a
whole window. A successful log-in forgets the account's failures.

An attempt is counted before its password is checked and given back when it succeeds:
parallel attempts cannot slip past the limit while the (slow) hashes are computed. The
counts live in the database (``login_throttle``), so every API process shares them and a
restart does not reset them; keys quiet for a whole window are swept out now and then.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from api.roster import login_throttle_table as table
from api.roster import username_key
from closeloop.settings import Settings

#: Longer usernames and addresses are cut: the column holds 255 characters.
KEY_LENGTH = 200
#: One attempt in this many also sweeps out the quiet keys (:func:`sweep`).
SWEEP_CHANCE = 0.01


@dataclass(frozen=True)
class Limits:
    account: int = 5
    address: int = 20
    window: timedelta = timedelta(minutes=15)
    lock_seconds: float = 60.0
    max_lock_seconds: float = 3600.0

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            account=settings.login_account_limit,
            address=settings.login_address_limit,
            window=timedelta(minutes=settings.login_window_minutes),
            lock_seconds=float(settings.login_lock_seconds),
            max_lock_seconds=float(settings.login_max_lock_minutes * 60),
        )


class TooManyAttempts(Exception):
    """The account or the address is locked; ``retry_after`` says for how many seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed log-ins: try again in {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Ticket:
    """An admitted attempt: the keys it was counted on, and those its count locked."""

    account: str
    address: str
    locked: frozenset[str]


def _now() -> datetime:
    return datetime.now(UTC)


def account_key(username: str) -> str:
    return "account:" + username_key(username)[:KEY_LENGTH]


def address_key(address: str | None) -> str:
    return "address:" + (address or "unknown")[:KEY_LENGTH]


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they were written in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _row(conn: Connection, key: str) -> dict[str, Any]:
    """The key's counts, locked for this transaction (a new key gets a row first)."""
    values = {"key": key, "failures": 0, "locks": 0}
    dialect = conn.dialect.name
    # A write first: SQLite then holds the write lock for the whole transaction.
    if dialect == "sqlite":
        conn.execute(
            sqlite_insert(table).values(**values).on_conflict_do_nothing(index_elements=["key"])
        )
    elif dialect == "postgresql":
        conn.execute(
            pg_insert(table).values(**values).on_conflict_do_nothing(index_elements=["key"])
        )
    else:
        try:
            with conn.begin_nested():
                conn.execute(table.insert().values(**values))
        except IntegrityError:
            pass
    row = conn.execute(select(table).where(table.c.key == key).with_for_update()).one()
    state = dict(row._mapping)
    for name in ("window_start", "last_failure", "locked_until"):
        state[name] = _aware(state[name])
    return state


def _wait(state: Mapping[str, Any], now: datetime) -> float:
    until = state["locked_until"]
    return (until - now).total_seconds() if until is not None and until > now else 0.0


def _count(state: dict[str, Any], limit: int, limits: Limits, now: datetime) -> bool:
    """Count one failure on ``state``; True when that locks the key."""
    quiet_since = max(
        (t for t in (state["last_failure"], state["locked_until"]) if t is not None),
        default=None,
    )
    if quiet_since is not None and now - quiet_since >= limits.window:
        state.update(failures=0, locks=0, window_start=None)
    if state["window_start"] is None or now - state["window_start"] >= limits.window:
        state.update(failures=0, window_start=now)
    state["failures"] += 1
    state["last_failure"] = now
    if state["failures"] < limit:
        return False
    state["locks"] += 1
    seconds = min(limits.lock_seconds * 2 ** (state["locks"] - 1), limits.max_lock_seconds)
    state.update(failures=0, window_start=None, locked_until=now + timedelta(seconds=seconds))
    return True


def _save(conn: Connection, state: Mapping[str, Any]) -> None:
    values = {k: v for k, v in state.items() if k != "key"}
    conn.execute(update(table).where(table.c.key == state["key"]).values(**values))


def sweep(limits: Limits, *, db: Engine) -> int:
    """Forget the keys that have been quiet for a whole window (they would start afresh
    anyway), so the table holds only recent failures; how many were forgotten."""
    cutoff = _now() - limits.window
    quiet = and_(
        or_(table.c.last_failure.is_(None), table.c.last_failure < cutoff),
        or_(table.c.locked_until.is_(None), table.c.locked_until < cutoff),
    )
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Rows an attempt holds right now are left for the next sweep: no waiting on them.
            quiet = table.c.key.in_(
                select(table.c.key).where(quiet).with_for_update(skip_locked=True)
            )
        return conn.execute(delete(table).where(quiet)).rowcount


def admit(username: str, address: str | None, limits: Limits, *, db: Engine) -> Ticket:
    """Count a log-in attempt for ``username`` from ``address`` as failed until it succeeds
    (:func:`succeeded`); :class:`TooManyAttempts` when either key is locked."""
    now = _now()
    ticket_keys = (account_key(username), address_key(address))
    locked: set[str] = set()
    with db.begin() as conn:
        states = [_row(conn, key) for key in ticket_keys]
        wait = max(_wait(state, now) for state in states)
        if wait > 0:
            raise TooManyAttempts(max(1, math.ceil(wait)))
        for state, limit in zip(states, (limits.account, limits.address), strict=True):
            if _count(state, limit, limits, now):
                locked.add(state["key"])
            _save(conn, state)
    if random.random() < SWEEP_CHANCE:
        sweep(limits, db=db)
    return Ticket(ticket_keys[0], ticket_keys[1], frozenset(locked))


def succeeded(ticket: Ticket, limits: Limits, *, db: Engine) -> None:
    """The attempt was right: forget the account's failures and give the address back the
    one it was counted."""
    with db.begin() as conn:
        conn.execute(delete(table).where(table.c.key == ticket.account))
        state = _row(conn, ticket.address)
        if ticket.address in ticket.locked and state["locks"] > 0:
            state.update(
                locks=state["locks"] - 1,
                locked_until=None,
                failures=limits.address - 1,
                window_start=_now(),
            )
        elif state["failures"] > 0:
            state["failures"] -= 1
        _save(conn, state)
