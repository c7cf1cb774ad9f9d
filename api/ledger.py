"""What the API keeps about residents' privacy beside the requests: the audit of revealed
contacts, and the tracking tokens that let a resident follow their request.

Both are the API's own tables (in :data:`metadata`, created by the migrations). The audit
is append-only: nothing here updates or deletes a record. A tracking token is stored only
as its SHA-256 (a token is 192 random bits: no salt or slow hash is needed against
guessing) plus a sealed copy, so the resident who files again with the same
``Idempotency-Key`` gets the same link back, and nobody reading the database gets any.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from domain.privacy import Sealer
from projections.tables import UtcDateTime

metadata = MetaData()

reveals = Table(
    "privacy_reveals",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("username", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_privacy_reveals_request", "request_id", "id"),
)

tracking_tokens = Table(
    "tracking_tokens",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("token_sealed", Text(), nullable=False),
    # the SHA-256 of the filing's whole body, sealed (a phone's hash alone could be
    # reversed by trying every number): the same key with another body is refused
    Column("body_sealed", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

intake_filings = Table(
    "intake_filings",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("key", String(128), nullable=False),  # "address:..." or "phone:<hmac>"
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_intake_filings_key_at", "key", "at"),
)

#: Random bytes in a tracking token: 192 bits, shown as 32 URL-safe characters.
TOKEN_BYTES = 24


@dataclass(frozen=True)
class Reveal:
    id: int
    request_id: str
    username: str
    role: str
    reason: str
    at: datetime

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "username": self.username,
            "role": self.role,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }


def record_reveal(engine: Engine, request_id: str, username: str, role: str, reason: str) -> Reveal:
    """Append who revealed which request's contact, when and why (before it is shown)."""
    at = datetime.now(UTC)
    row = {"request_id": request_id, "username": username, "role": role, "reason": reason}
    with engine.begin() as conn:
        new_id = conn.execute(insert(reveals).values(**row, at=at)).inserted_primary_key
    assert new_id is not None
    return Reveal(int(new_id[0]), request_id, username, role, reason, at)


def list_reveals(
    engine: Engine, *, request_id: str | None, limit: int, offset: int
) -> tuple[list[Reveal], int]:
    """Reveals, newest first, and how many there are in all."""
    query = select(reveals)
    count = select(func.count()).select_from(reveals)
    if request_id is not None:
        query = query.where(reveals.c.request_id == request_id)
        count = count.where(reveals.c.request_id == request_id)
    query = query.order_by(reveals.c.id.desc()).limit(limit).offset(offset)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        total = int(conn.execute(count).scalar_one())
    items = [Reveal(r.id, r.request_id, r.username, r.role, r.reason, r.at) for r in rows]
    return items, total


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DifferentFiling(Exception):
    """A request id (an ``Idempotency-Key``) used before for a filing with another body."""


def fingerprint(body: Mapping[str, Any]) -> str:
    """The SHA-256 of a filing's body, in a canonical form (key order, spacing)."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def tracking_token(engine: Engine, request_id: str, body: str, sealer: Sealer) -> str:
    """The request's tracking token: made now, or the one made before for a filing with
    the same ``body`` fingerprint (the same filing sent again with its
    ``Idempotency-Key``); :class:`DifferentFiling` when the earlier filing differs.

    Made before the request's workflow starts, so a filing that dies in between and is
    sent again finds its token."""
    with engine.connect() as conn:
        found = conn.execute(
            select(tracking_tokens.c.token_sealed, tracking_tokens.c.body_sealed).where(
                tracking_tokens.c.request_id == request_id
            )
        ).first()
    if found is not None:
        if not hmac.compare_digest(sealer.open_text(found.body_sealed), body):
            raise DifferentFiling(request_id)
        return sealer.open_text(found.token_sealed)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = {
        "request_id": request_id,
        "token_hash": _digest(token),
        "token_sealed": sealer.seal_text(token),
        "body_sealed": sealer.seal_text(body),
        "created_at": datetime.now(UTC),
    }
    try:
        with engine.begin() as conn:
            conn.execute(insert(tracking_tokens).values(**row))
    except IntegrityError:  # a filing with the same key got there first: compare with it
        return tracking_token(engine, request_id, body, sealer)
    return token


def request_of_token(engine: Engine, token: str) -> str | None:
    """The request a tracking token follows, or None."""
    if not token or len(token) > 100:
        return None
    with engine.connect() as conn:
        request_id = conn.execute(
            select(tracking_tokens.c.request_id).where(
                tracking_tokens.c.token_hash == _digest(token)
            )
        ).scalar()
    return str(request_id) if request_id is not None else None


def has_token(engine: Engine, request_id: str) -> bool:
    """Whether the request was filed with a tracking token (requests filed before tokens
    existed are followed by their id)."""
    with engine.connect() as conn:
        found = conn.execute(
            select(tracking_tokens.c.request_id).where(tracking_tokens.c.request_id == request_id)
        ).first()
    return found is not None
