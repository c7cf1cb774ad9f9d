"""Databases for the tests: a SQLite file, or a PostgreSQL database made for one test.

The PostgreSQL server is named by ``CLOSELOOP_TEST_POSTGRES_URL`` (``make test`` sets it
when a server answers on 127.0.0.1:5432; ``.ci/run`` requires it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

POSTGRES = os.environ.get("CLOSELOOP_TEST_POSTGRES_URL", "").strip()

#: The stores every store test runs on.
BACKENDS = ["sqlite", "postgresql"] if POSTGRES else ["sqlite"]


@contextmanager
def postgres_database(prefix: str = "closeloop_test") -> Iterator[str]:
    """A fresh database on the test server, dropped afterwards; yields its URL."""
    if not POSTGRES:
        raise RuntimeError(
            "this case needs PostgreSQL: set CLOSELOOP_TEST_POSTGRES_URL "
            "(make test sets it when a server answers on 127.0.0.1:5432)"
        )
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
