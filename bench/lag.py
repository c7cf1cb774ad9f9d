"""Projection lag, seen from outside: when each event appears in the store, and when the
read models' tracking position passes it.

A thread samples two numbers every few milliseconds on a connection of its own: the
notification log's last id and the projection's tracked position. An event's append time
is the first sample that sees its id in the log; its projection time is the first sample
whose tracked position reaches it. The lag is the difference, quantised to the sampling
interval (a few ms, small against the 200 ms to 1 s targets). It needs nothing from the
processes under test, so the SQLite poller and the PostgreSQL subscription runner are
measured the same way.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from closeloop.store import STORE_NAME
from projections.tables import TRACKING_TABLE_NAME

EVENTS_SQL = f"SELECT max(id) FROM {STORE_NAME}_events"
TRACKED_SQL = (
    f"SELECT max(notification_id) FROM {TRACKING_TABLE_NAME} "
    f"WHERE application_name = '{STORE_NAME}'"
)

Positions = Callable[[], tuple[int, int]]


def sqlite_positions(database_file: str) -> tuple[Positions, Callable[[], None]]:
    """Reads (last event id, tracked position) from a SQLite file, read-only."""
    conn = sqlite3.connect(f"file:{database_file}?mode=ro", uri=True, check_same_thread=False)

    def read() -> tuple[int, int]:
        events = conn.execute(EVENTS_SQL).fetchone()[0] or 0
        tracked = conn.execute(TRACKED_SQL).fetchone()[0] or 0
        return int(events), int(tracked)

    return read, conn.close


def postgres_positions(database_url: str) -> tuple[Positions, Callable[[], None]]:
    """The same on PostgreSQL (``postgresql+psycopg://`` URLs)."""
    import psycopg

    conn: Any = psycopg.connect(
        database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    )

    def read() -> tuple[int, int]:
        events = conn.execute(EVENTS_SQL).fetchone()[0] or 0
        tracked = conn.execute(TRACKED_SQL).fetchone()[0] or 0
        return int(events), int(tracked)

    return read, conn.close


class LagSampler:
    """``with LagSampler(read): ...`` samples while the block runs; then :meth:`lags`."""

    def __init__(self, read: Positions, interval: float = 0.005) -> None:
        self.read = read
        self.interval = interval
        self.appended: dict[int, float] = {}
        self.projected: dict[int, float] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-sampler", daemon=True)
        self._error: BaseException | None = None

    def __enter__(self) -> LagSampler:
        self._events, self._tracked = self.read()  # only events after this count
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish(timeout=0.0)

    def finish(self, timeout: float = 10.0) -> None:
        """Keep sampling until every event seen is projected (or ``timeout``), then stop."""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end and self._tracked < self._events and not self._error:
            time.sleep(self.interval)
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                events, tracked = self.read()
                now = time.perf_counter()
                self.samples += 1
                for n in range(self._events + 1, events + 1):
                    self.appended[n] = now
                for n in range(self._tracked + 1, tracked + 1):
                    self.projected[n] = now
                self._events = max(self._events, events)
                self._tracked = max(self._tracked, tracked)
                time.sleep(self.interval)
        except BaseException as error:  # noqa: BLE001 - raised in finish()
            self._error = error

    def lags(self) -> list[float]:
        """Seconds from append to projection of every event appended while sampling."""
        return [self.projected[n] - at for n, at in self.appended.items() if n in self.projected]

    @property
    def unprojected(self) -> int:
        return sum(1 for n in self.appended if n not in self.projected)
