"""Production shape: separate processes on PostgreSQL and one Temporal server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

_POSTGRES = os.environ.get("CLOSELOOP_TEST_POSTGRES_URL", "").strip()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of its own on the PostgreSQL server named by CLOSELOOP_TEST_POSTGRES_URL."""
    if not _POSTGRES:
        raise RuntimeError(
            "this case needs PostgreSQL: set CLOSELOOP_TEST_POSTGRES_URL "
            "(make test sets it when a server answers on 127.0.0.1:5432)"
        )
    name = f"closeloop_prod_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
