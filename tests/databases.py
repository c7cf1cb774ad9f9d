"""Databases for the tests: a SQLite file, or a PostgreSQL database made for one test.

The PostgreSQL server is named by ``CLOSELOOP_TEST_POSTGRES_URL`` (``make test`` sets it
when a server answers on 127.0.0.1:5432; ``.ci/run`` requires it).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

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
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        _admin_statement(admin, f'CREATE DATABASE "{name}"')
        try:
            yield admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            _admin_statement(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


#: How long a CREATE or DROP DATABASE is tried again while the server refuses it for a moment.
ADMIN_RETRY_SECONDS = 60.0


def _admin_statement(admin: Engine, statement: str) -> None:
    """Runs ``statement``, again while the server refuses it for a passing reason.

    Several test runs share the server: ``CREATE DATABASE`` fails while another session
    copies or uses the template ("source database ... is being accessed by other users"),
    and a busy server may refuse or drop a connection.
    """
    end = time.monotonic() + ADMIN_RETRY_SECONDS
    delay = 0.1
    while True:
        try:
            with admin.connect() as conn:
                conn.execute(text(statement))
            return
        except OperationalError:
            if time.monotonic() + delay > end:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
