"""SQLAlchemy engines for the read side (read models, roster) on the configured database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

#: What the service functions take as ``db``: an Engine (each call its own transaction)
#: or a Connection (the call joins the caller's transaction).
Db = Engine | Connection


@contextmanager
def connected(db: Db) -> Iterator[Connection]:
    """A connection in a transaction: a new one of ``db`` when it is an Engine (committed
    when the block ends without an error), else ``db`` itself (the caller's)."""
    if isinstance(db, Engine):
        with db.begin() as conn:
            yield conn
    else:
        yield db


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL and a generous busy timeout."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    # A failing statement's parameters stay out of its error and so out of the logs:
    # they may be a resident's name, phone or description.
    engine = create_engine(url, hide_parameters=True, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine
