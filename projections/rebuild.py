"""Rebuilding the views from the whole notification log (``closeloop rebuild``)."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete

from closeloop.keys import Keyring
from closeloop.store import STORE_NAME, RequestStore, store_env
from domain.performance import PostRule
from domain.privacy import Sealer
from projections.failures import PositionMoved
from projections.projection import Decoded, RequestProjection
from projections.runner import Projector, ReadAhead
from projections.tables import metadata, tracking_table
from projections.views import (
    Memory,
    RequestViews,
    ViewsOutOfStep,
    ensure_indexes,
    secondary_indexes,
)

log = logging.getLogger(__name__)

#: Events per transaction in a rebuild: larger than the live projector's, for speed. A
#: request's events are spread over days of the log; a batch of 100,000 (about a week of
#: a million-request year) holds most of a request's life, so its row is read back and
#: written fewer times (measured on the first 400,000 events of the benchmark's history:
#: the main process's work fell from 63 s to 39 s against batches of 20,000). It costs
#: memory: a few hundred MB for the batch's rows, beside the page cache below.
REBUILD_BATCH_SIZE = 100_000
#: SQLite's page cache for the rebuild's connection: the tables' upper pages stay in it.
REBUILD_CACHE_MIB = 1024

Progress = Callable[[int, int], None]


def reset(views: RequestViews, *, indexes: bool = True) -> None:
    """Forget the projection's position and recreate its tables empty, in one transaction.

    The tables are dropped and created again so that a new version's columns and indexes
    appear. Both databases run DDL inside a transaction, so a crash or a projector running
    meanwhile never sees a position without its rows, nor rows without their position.
    With ``indexes=False`` the secondary indexes are left out, for :func:`rebuild` to
    build at its end (and any process opening the views builds them if it never got there).
    """
    with views.engine.begin() as conn:
        # First a plain write: Python's sqlite3 begins its transaction before a DELETE but
        # not before DDL, and the DROP and CREATE that follow must join that transaction.
        conn.execute(delete(tracking_table))
        metadata.drop_all(conn)
        metadata.create_all(conn)
        if not indexes:
            for index in secondary_indexes():
                index.drop(conn)


#: A rebuild runs Python's cycle collector itself, once per this many events (it is off
#: in between): see :func:`_bounded_gc`.
GC_EVERY_EVENTS = 1_000_000


@contextmanager
def _bounded_gc() -> Iterator[None]:
    """The cycle collector off while a rebuild's batches run, on again after.

    A batch allocates hundreds of thousands of objects (decoded changes, rows) while the
    open requests' states stay alive in memory; each allocation threshold crossed made the
    collector walk that growing heap (py-spy put a fifth of the main process there, in
    whatever line allocated). The objects of a batch are freed by reference counting;
    :func:`_collect_now_and_then` collects what cycles remain, a few times per rebuild."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _collect_now_and_then(done: int, batch_size: int) -> None:
    if done // GC_EVERY_EVENTS != (done - batch_size) // GC_EVERY_EVENTS:
        gc.collect()


def _read_ahead(projector: Projector, after: int | None) -> ReadAhead:
    return ReadAhead(after, projector.read(after))


def _position(projector: Projector) -> int | None:
    return projector.views.max_tracking_id(STORE_NAME)


def _read_and_decode(
    database_url: str,
    keys: Keyring | None,
    after: int | None,
    batch_size: int,
    out: Any,
) -> None:
    """The reading process: reads the log after ``after`` batch by batch, decodes each
    event and puts ``(after, items)`` on ``out`` until the end (``(last, [])``). An event
    it cannot decode is sent as read: the projector decodes it again, fails, and
    quarantines it as it would have."""
    store = RequestStore(env=store_env(database_url, keys))
    mapper = store.mapper
    gc.disable()  # its own heap is small: collected once per batch instead (see _bounded_gc)
    while True:
        notifications = store.recorder.select_notifications(
            start=after, limit=batch_size, inclusive_of_start=False
        )
        items: list[Any] = []
        for n in notifications:
            try:
                change = RequestProjection.change_of(mapper.to_domain_event(n))
                items.append(
                    Decoded(n.id, str(n.originator_id), n.originator_version, n.topic, change)
                )
            except Exception:  # noqa: BLE001 - the projector meets it and quarantines it
                items.append(n)
        out.put((after, items))
        if not items:
            return
        after = items[-1].id
        del notifications, items
        gc.collect()


class _Reader:
    """Reads and decodes the log ahead in a process of its own (the other core), so that
    this one only applies events and writes rows."""

    def __init__(self, database_url: str, keys: Keyring | None, batch_size: int) -> None:
        self.database_url, self.keys, self.batch_size = database_url, keys, batch_size
        # spawned, not forked: a fork copies whatever locks other threads of this process
        # hold at that instant (a projector's, a connection pool's), and a child that
        # then needs one waits forever (seen once: the reader stuck in its first connect
        # while a projector thread ran beside the rebuild)
        self.context = multiprocessing.get_context("spawn")
        self.process: Any = None
        self.queue: Any = None

    def start(self, after: int | None) -> None:
        self.stop()
        self.queue = self.context.Queue(maxsize=2)
        self.process = self.context.Process(
            target=_read_and_decode,
            args=(self.database_url, self.keys, after, self.batch_size, self.queue),
            name="closeloop-rebuild-read",
            daemon=True,
        )
        self.process.start()

    def next(self) -> ReadAhead:
        while True:
            try:
                after, items = self.queue.get(timeout=1.0)
            except queue.Empty:
                if not self.process.is_alive() and self.queue.empty():
                    raise RuntimeError(
                        f"the rebuild's reading process ended (exit code {self.process.exitcode})"
                    ) from None
                continue
            return ReadAhead(after, items)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.queue.close()
            self.queue.join_thread()
            self.process = self.queue = None


def rebuild(
    database_url: str,
    progress: Progress | None = None,
    *,
    batch_size: int = REBUILD_BATCH_SIZE,
    stop: threading.Event | None = None,
    keys: Keyring | None = None,
    sealer: Sealer | None = None,
    posts_rule: PostRule | None = None,
) -> int:
    """Drop and refill the views from the start of the log; returns the events processed.

    ``progress(done, total)`` is called after each batch (and once with ``done=0``);
    ``total`` is the number of events in the store, raised if new ones arrive meanwhile.
    A projector running elsewhere on the same database is harmless: the two take turns
    on the tracking row and each event is counted once (this call then reports fewer).

    Bulk-load order: the request rows are written without their secondary indexes, which
    are built once at the end (also when interrupted, and by any process that opens the
    views without them), and the states of open requests stay in memory between batches
    instead of being read back (:class:`~projections.views.Memory`).

    ``stop``, once set, ends the rebuild after the batch in hand (committed, then the
    indexes are built): the views are then behind the store, and a projector carries on.
    ``keys`` open the store's sealed events (:func:`closeloop.store.store_env`).

    The dead-letter table is one of the views: it starts empty, and an event the views
    still fail on is quarantined again (with its request's later events waiting behind
    it) while the rebuild goes on; ``closeloop projections retry`` applies them later.
    """
    started = time.monotonic()
    projector = Projector(
        database_url,
        batch_size=batch_size,
        memory=Memory(),
        cache_mib=REBUILD_CACHE_MIB,
        keys=keys,
        sealer=sealer,
        posts_rule=posts_rule,
    )
    try:
        reset(projector.views, indexes=False)
        total = projector.store_count()
        done = quarantined = 0
        if progress is not None:
            progress(done, total)
        # The next batches are read and decoded in a second process while this one is
        # applied and written: each side has a core.
        reader = _Reader(database_url, keys, batch_size)
        reader.start(None)
        try:
            with _bounded_gc():
                while stop is None or not stop.is_set():
                    read = reader.next()
                    try:
                        batch = projector.run_batch(read)
                    except (PositionMoved, ViewsOutOfStep):
                        # Another projector wrote between this batch's reading of the
                        # position and its rows: the batch rolled back; read again from
                        # where they are.
                        log.warning("another projector is filling the views too; sharing the work")
                        time.sleep(projector.poll_seconds)
                        reader.start(_position(projector))
                        continue
                    if batch is None:
                        break
                    done += batch.count
                    quarantined += batch.quarantined
                    total = max(total, done)
                    if progress is not None:
                        progress(done, total)
                    if not read.notifications or batch.position != read.notifications[-1].id:
                        # read again (another projector's turn, or stopped short): start over
                        reader.start(batch.position)
                    _collect_now_and_then(done, batch_size)
        finally:
            reader.stop()
    finally:
        try:
            indexing = time.monotonic()
            made = ensure_indexes(projector.views.engine)
            if made:
                log.info("built %d indexes in %.1f seconds", len(made), time.monotonic() - indexing)
        finally:
            projector.close()
    seconds = time.monotonic() - started
    log.info("rebuilt the views from %d events in %.1f seconds", done, seconds)
    if quarantined:
        log.warning(
            "%d events were quarantined; `closeloop projections list` shows them", quarantined
        )
    return done
