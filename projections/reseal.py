"""Seal the contacts of request rows that hold none: rows projected before the read
models sealed contacts (the migration that added ``resident_sealed`` masked them and left
the sealed copy to this), or by a projector that ran without a key.

Each such row's contact is read from its request's filing event in the store (which
holds it, encrypted at rest), sealed with the current key and written beside the masked
one. Running it twice does nothing the second time; a projector may run meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from sqlalchemy import Connection, Engine, String, column, select, update
from sqlalchemy import table as sa_table

from closeloop.store import RequestStore
from domain.privacy import Sealer, mask_name, mask_phone, seal_contact, seal_place
from projections.tables import requests

#: ``progress(done, total)`` after each row.
Progress = Callable[[int, int], None]


def mask_clear_rows(conn: Connection) -> int:
    """Mask the contacts that rows hold in clear (rows projected before masking: the
    migration that added ``resident_sealed`` calls this); returns how many were masked."""
    table = sa_table(
        requests.name,
        column("id", String()),
        column("resident_name", String()),
        column("resident_phone", String()),
    )
    rows = conn.execute(select(table.c.id, table.c.resident_name, table.c.resident_phone))
    masked = 0
    for row in rows.all():
        name, phone = mask_name(row.resident_name), mask_phone(row.resident_phone)
        if (name, phone) != (row.resident_name, row.resident_phone):
            conn.execute(
                update(table)
                .where(table.c.id == row.id)
                .values(resident_name=name, resident_phone=phone)
            )
            masked += 1
    return masked


def unsealed(engine: Engine) -> list[str]:
    """The ids of the request rows without a sealed contact."""
    with engine.connect() as conn:
        rows = conn.execute(select(requests.c.id).where(requests.c.resident_sealed.is_(None)))
        return [str(row.id) for row in rows]


def reseal(
    engine: Engine, store: RequestStore, sealer: Sealer, progress: Progress | None = None
) -> int:
    """Seal every row's contact that is not sealed yet, and its address and building
    (domain.place) with it; returns how many were sealed."""
    ids = unsealed(engine)
    done = 0
    for request_id in ids:
        state = store.get_request(UUID(request_id)).state
        resident = state.resident
        with engine.begin() as conn:
            conn.execute(
                update(requests)
                .where(requests.c.id == request_id, requests.c.resident_sealed.is_(None))
                .values(
                    resident_sealed=seal_contact(sealer, resident),
                    resident_name=mask_name(resident["name"]),
                    resident_phone=mask_phone(resident["phone"]),
                    place_sealed=seal_place(sealer, state.place),
                )
            )
        done += 1
        if progress is not None:
            progress(done, len(ids))
    return done
