"""The API keys that let an application file requests through Open311 GeoReport v2.

An admin issues a key for one application (``name``) and one grid (``grid_id``): the
requests it files go to the dispatch queue of that grid's community (GeoReport knows no
grids; the dispatcher hands each request to the right grid). The key is shown once, when
it is issued; the table (``open311_keys``, migration ``0015``) keeps only its SHA-256 (a
key is 192 random bits, so no salt or slow hash is needed against guessing, as for the
tracking tokens in :mod:`api.ledger`). A revoked key stays listed, with who revoked it and
when, and opens nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Engine, MetaData, String, Table, insert, select, update

from projections.tables import UtcDateTime

metadata = MetaData()

keys_table = Table(
    "open311_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("grid_id", String(64), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_by", String(64), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

#: Random bytes in a key: 192 bits, shown as 32 URL-safe characters after the prefix.
KEY_BYTES = 24
#: Every key starts so, to be recognised in a configuration file.
KEY_PREFIX = "o311_"


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    grid_id: str
    created_by: str
    created_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "grid_id": self.grid_id,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "revoked_by": self.revoked_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key(row: Any) -> ApiKey:
    return ApiKey(
        row.id,
        row.name,
        row.grid_id,
        row.created_by,
        row.created_at,
        row.revoked_by,
        row.revoked_at,
    )


def issue(engine: Engine, name: str, grid_id: str, by: str) -> tuple[ApiKey, str]:
    """A new key for ``name`` filing into ``grid_id``'s community: its record and the key
    itself (the only time it exists outside the application that receives it)."""
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    issued = ApiKey(secrets.token_hex(8), name, grid_id, by, datetime.now(UTC), None, None)
    row = {
        "id": issued.id,
        "name": name,
        "grid_id": grid_id,
        "key_hash": _digest(key),
        "created_by": by,
        "created_at": issued.created_at,
        "revoked_by": None,
        "revoked_at": None,
    }
    with engine.begin() as conn:
        conn.execute(insert(keys_table).values(**row))
    return issued, key


def list_keys(engine: Engine) -> list[ApiKey]:
    """Every key ever issued, newest first (revoked ones too)."""
    query = select(keys_table).order_by(keys_table.c.created_at.desc(), keys_table.c.id)
    with engine.connect() as conn:
        return [_key(row) for row in conn.execute(query)]


def revoke(engine: Engine, key_id: str, by: str) -> ApiKey | None:
    """Revoke a key (at once, for every process); None when no key has this id. Revoking
    a revoked key changes nothing."""
    with engine.begin() as conn:
        conn.execute(
            update(keys_table)
            .where(keys_table.c.id == key_id, keys_table.c.revoked_at.is_(None))
            .values(revoked_by=by, revoked_at=datetime.now(UTC))
        )
        row = conn.execute(select(keys_table).where(keys_table.c.id == key_id)).first()
    return _key(row) if row is not None else None


def authenticate(engine: Engine, key: str) -> ApiKey | None:
    """The live key ``key`` is, or None (unknown, revoked, or not a key at all)."""
    if not key or len(key) > 100:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(keys_table).where(
                keys_table.c.key_hash == _digest(key), keys_table.c.revoked_at.is_(None)
            )
        ).first()
    return _key(row) if row is not None else None
