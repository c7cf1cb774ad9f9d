"""Production shape: separate processes on PostgreSQL and one Temporal server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.databases import postgres_database


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of its own on the test PostgreSQL server."""
    with postgres_database("closeloop_prod") as url:
        yield url
