"""Fixtures for the notifications: a migrated database with the demo town, its event
store (sealed, as every closeloop process has it), and a log of requests filed on the
demo grids."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from api import roster
from closeloop.bootstrap import seed_demo
from closeloop.db import make_engine
from closeloop.keys import Keyring
from closeloop.schema import migrate
from closeloop.store import RequestStore, store_env
from notify.tables import inbox, outbox, webhooks
from tests.projections.conftest import RequestLog

#: One key for every test's store and outbox (the production key lives in the data folder).
KEY = base64.b64encode(bytes(range(7, 39))).decode()
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def keys() -> Keyring:
    from closeloop.keys import parse_key

    return Keyring(parse_key(KEY), ())


#: One argon2 hash, made once: no test here signs in, and nine real hashes per test
#: (argon2 is slow on purpose) would cost seconds each.
_HASH: list[str] = []


@pytest.fixture
def db(database_url: str, keys: Keyring, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    if not _HASH:
        _HASH.append(roster.hash_password("a demo password"))
    monkeypatch.setattr(roster, "hash_password", lambda _password: _HASH[0])
    engine = make_engine(database_url)
    migrate(engine)
    seed_demo(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sealed_store(database_url: str, keys: Keyring, db: Engine) -> Iterator[RequestStore]:
    app = RequestStore(env=store_env(database_url, keys))
    yield app
    app.close()


@dataclass(frozen=True)
class Town:
    town: str
    community: str  # 医院西路社区: worker1's and worker2's grids, community1's committee
    grid: str  # worker1's grid (branch1 is its grid branch)
    grid2: str  # worker2's grid

    def where(self, grid: str | None = None) -> dict[str, str]:
        return {"grid": grid or self.grid, "community": self.community, "town": self.town}


@pytest.fixture
def town(db: Engine) -> Town:
    worker1 = roster.get_user_by_username("worker1", db=db)
    worker2 = roster.get_user_by_username("worker2", db=db)
    assert worker1 is not None and worker2 is not None
    grid = worker1.assignments[0].unit_id
    chain = roster.unit_chain(grid, db=db)
    return Town(chain[2].id, chain[1].id, grid, worker2.assignments[0].unit_id)


@pytest.fixture
def requests_log(sealed_store: RequestStore) -> RequestLog:
    return RequestLog(sealed_store)


def inbox_of(engine: Engine, username: str | None = None) -> list[dict[str, Any]]:
    query = select(inbox).order_by(inbox.c.id)
    if username is not None:
        query = query.where(inbox.c.username == username)
    with engine.connect() as conn:
        return [{**row._asdict(), "params": json.loads(row.params)} for row in conn.execute(query)]


def outbox_of(engine: Engine, channel: str | None = None) -> list[dict[str, Any]]:
    query = select(outbox).order_by(outbox.c.id)
    if channel is not None:
        query = query.where(outbox.c.channel == channel)
    with engine.connect() as conn:
        return [row._asdict() for row in conn.execute(query)]


def subscribe(
    engine: Engine, keys: Keyring, events: list[str], include_pii: bool = False, url: str = ""
) -> str:
    """A webhook subscription, written as the webhooks' API writes it."""
    import uuid

    sub_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            insert(webhooks).values(
                id=sub_id,
                url=url or "http://127.0.0.1:9/hook",
                events=json.dumps(events),
                secret=keys.seal_text("s" * 32),
                include_pii=include_pii,
                active=True,
                created_by="admin",
                created_at=datetime.now(UTC),
            )
        )
    return sub_id
