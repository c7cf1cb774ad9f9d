"""One projector per projection at a time: a second one waits for the lock, never double-counts.

On PostgreSQL the lock is a session-level advisory lock held on a connection of its own
for the projector's life: it is released when the projector stops or its connection dies.
On SQLite it is an exclusive ``flock`` on a file beside the database, released by the
kernel when the process exits. (Each batch also locks the tracking row, so even two
projectors that got past this would count each event once; the lock keeps them from
racing for nothing.)
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from sqlalchemy import create_engine, text

log = logging.getLogger("closeloop.projector")

#: The advisory lock's key: stable across processes and versions.
LOCK_KEY = zlib.crc32(b"closeloop.projector.view")

RETRY_SECONDS = 1.0


@asynccontextmanager
async def projector_lock(
    database_url: str, lock_dir: Path, stop: asyncio.Event
) -> AsyncIterator[bool]:
    """Hold the projector lock while the block runs; yields False if ``stop`` came first."""
    if database_url.startswith("sqlite"):
        async with _file_lock(lock_dir / "projector.lock", stop) as held:
            yield held
    else:
        async with _advisory_lock(database_url, stop) as held:
            yield held


@asynccontextmanager
async def _file_lock(path: Path, stop: asyncio.Event) -> AsyncIterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        held = await _retry(lambda: _try_flock(handle.fileno()), stop, f"file {path}")
        try:
            yield held
        finally:
            if held:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@asynccontextmanager
async def _advisory_lock(database_url: str, stop: asyncio.Event) -> AsyncIterator[bool]:
    engine = create_engine(database_url, pool_size=1, max_overflow=0, hide_parameters=True)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:

        def attempt() -> bool:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
            return bool(got)

        held = await _retry(attempt, stop, f"PostgreSQL advisory lock {LOCK_KEY}")
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    finally:
        conn.close()
        engine.dispose()


async def _retry(attempt: Callable[[], bool], stop: asyncio.Event, what: str) -> bool:
    waiting = False
    while not stop.is_set():
        if await asyncio.to_thread(attempt):
            if waiting:
                log.info("took the projector lock (%s)", what)
            return True
        if not waiting:
            log.info("another projector holds the lock (%s); waiting", what)
            waiting = True
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RETRY_SECONDS)
    return False
