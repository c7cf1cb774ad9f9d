"""How many requests anonymous callers may file: per client address and per phone number.

A walk-in desk or a family files a few requests; a script files hundreds. Each key (the
client address, and the phone number as a keyed hash, never in clear) keeps the times of
its filings within a sliding window (``CLOSELOOP_INTAKE_PER_ADDRESS`` in the last minute,
``CLOSELOOP_INTAKE_PER_PHONE`` in the last hour); a filing beyond a key's limit is refused
with 429 and ``Retry-After`` (the seconds until a filing leaves the window), and counts
nothing. The times live in the database (``intake_filings``), so every API process shares
them; two filings at the same instant may both pass the last place.

Staff filing for residents are signed in and accountable: they are not counted.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete, select

from api.errors import Refusal
from api.ledger import intake_filings

#: Keys longer than this are cut (the column holds 128 characters).
KEY_LENGTH = 120


@dataclass(frozen=True)
class Rule:
    """At most ``limit`` filings per ``window`` for one key."""

    limit: int
    window: timedelta


class TooManyFilings(Exception):
    """A key is over its limit; ``retry_after`` is how many seconds until it may file."""

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"too many requests from this {what}; try again in {retry_after} seconds")
        self.what = what
        self.retry_after = retry_after

    def refusal(self) -> Refusal:
        """429 ``too_many_filings``, with ``Retry-After``."""
        return Refusal(
            429,
            "too_many_filings",
            str(self),
            params={"per": self.what, "retry_after": self.retry_after},
            headers={"Retry-After": str(self.retry_after)},
        )


def phone_key(phone: str, secret: bytes) -> str:
    """A phone number as a counting key: an HMAC, so the table holds no number (a plain
    hash of an 11-digit number is reversed by trying them all)."""
    digits = "".join(c for c in phone if c.isdigit())
    return "phone:" + hmac.new(secret, digits.encode(), hashlib.sha256).hexdigest()[:40]


def _admit_one(conn: Connection, key: str, rule: Rule, now: datetime) -> int | None:
    """Count a filing on ``key`` unless it has had ``rule.limit`` within the window that
    ends now; None when counted, else the seconds until its oldest filing leaves it."""
    since = now - rule.window
    conn.execute(
        delete(intake_filings).where(intake_filings.c.key == key, intake_filings.c.at <= since)
    )
    recent = (
        conn.execute(
            select(intake_filings.c.at)
            .where(intake_filings.c.key == key)
            .order_by(intake_filings.c.at)
        )
        .scalars()
        .all()
    )
    if len(recent) >= rule.limit:
        oldest: datetime = recent[-rule.limit]
        return max(1, math.ceil((oldest + rule.window - now).total_seconds()))
    conn.execute(intake_filings.insert().values(key=key, at=now))
    return None


def admit(engine: Engine, keys: list[tuple[str, str, Rule]], now: datetime | None = None) -> None:
    """Count one filing on every ``(what, key, rule)``, or raise :class:`TooManyFilings`
    for the first key over its limit, counting nothing (one transaction)."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        for what, key, rule in keys:
            wait = _admit_one(conn, key[:KEY_LENGTH], rule, now)
            if wait is not None:
                raise TooManyFilings(what, wait)  # leaving the block rolls the counts back
