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

from sqlalchemy import Engine, select, update

from closeloop.store import RequestStore
from domain.privacy import Sealer, mask_name, mask_phone, seal_contact
from projections.tables import requests

#: ``progress(done, total)`` after each row.
Progress = Callable[[int, int], None]


def unsealed(engine: Engine) -> list[str]:
    """The ids of the request rows without a sealed contact."""
    with engine.connect() as conn:
        rows = conn.execute(select(requests.c.id).where(requests.c.resident_sealed.is_(None)))
        return [str(row.id) for row in rows]


def reseal(
    engine: Engine, store: RequestStore, sealer: Sealer, progress: Progress | None = None
) -> int:
    """Seal every row's contact that is not sealed yet; returns how many were sealed."""
    ids = unsealed(engine)
    done = 0
    for request_id in ids:
        resident = store.get_request(UUID(request_id)).state.resident
        with engine.begin() as conn:
            conn.execute(
                update(requests)
                .where(requests.c.id == request_id, requests.c.resident_sealed.is_(None))
                .values(
                    resident_sealed=seal_contact(sealer, resident),
                    resident_name=mask_name(resident["name"]),
                    resident_phone=mask_phone(resident["phone"]),
                )
            )
        done += 1
        if progress is not None:
            progress(done, len(ids))
    return done
