"""The projector follows the log while it runs, survives database errors, stops cleanly."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
from eventsourcing.projection import ProjectionRunner
from sqlalchemy import Engine, func, select, text

from closeloop.store import RequestStore, store_env
from projections.projection import RequestProjection
from projections.queries import get_request, stats
from projections.runner import Batch, Projector
from projections.tables import requests, timeline
from projections.views import RequestViews
from tests.projections.conftest import T0, RequestLog, as_read, file_scenario


def fast(database_url: str, batch_size: int = 500) -> Projector:
    """A projector that polls and retries quickly, for tests."""
    return Projector(database_url, batch_size=batch_size, poll_seconds=0.02, retry_seconds=0.05)


@pytest.fixture
def projector(database_url: str, store: RequestStore) -> Iterator[Projector]:
    running = fast(database_url)
    yield running
    running.close()


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_it_follows_events_appended_while_it_runs(
    log: RequestLog, projector: Projector, engine: Engine
) -> None:
    projector.start()
    assert projector.running
    request_id = log.file(T0)
    projector.wait(projector.store_position(), timeout=60)
    view = get_request(engine, request_id)
    assert view is not None and view["status"] == "assigned"

    log.accept(request_id, T0)
    log.resolve(request_id, T0)
    position = projector.catch_up(timeout=60)
    assert position == projector.store_position() == projector.position()
    assert projector.lag() == 0
    assert get_request(engine, request_id) == as_read(log.states[request_id])

    projector.stop()
    assert not projector.running


def test_wait_times_out_for_an_event_not_yet_stored(log: RequestLog, projector: Projector) -> None:
    log.file(T0)
    projector.start()
    projector.catch_up(timeout=60)
    with pytest.raises(TimeoutError):
        projector.wait(projector.store_position() + 1, timeout=0.2)


def test_wait_without_a_running_projector_reads_the_tracking_table(
    log: RequestLog, database_url: str, store: RequestStore
) -> None:
    log.file(T0)
    elsewhere = fast(database_url)  # another process's projector
    here = fast(database_url)
    try:
        elsewhere.start()
        here.wait(here.store_position(), timeout=60)
        assert here.position() == here.store_position()
    finally:
        elsewhere.close()
        here.close()


def test_stop_is_clean_and_a_restart_goes_on_from_the_tracked_position(
    log: RequestLog, database_url: str, store: RequestStore, engine: Engine
) -> None:
    for i in range(30):
        log.file(T0, grid=f"g{i}")
    first = fast(database_url, batch_size=7)
    first.start()
    first.catch_up(timeout=60)
    first.stop()
    first.stop()  # twice is harmless
    first.close()

    for i in range(10):
        log.file(T0, grid=f"h{i}")
    second = fast(database_url)
    with second:
        second.catch_up(timeout=60)
    assert count(engine, requests) == 40
    assert count(engine, timeline) == 40


def test_each_committed_batch_is_announced_with_the_requests_it_changed(
    log: RequestLog, projector: Projector
) -> None:
    seen: list[Batch] = []
    projector.on_batch(seen.append)

    def failing(batch: Batch) -> None:
        raise RuntimeError("a failing callback does not stop the projector")

    projector.on_batch(failing)
    a = log.file(T0)
    b = log.file(T0)
    log.accept(a, T0)
    projector.start()
    projector.catch_up(timeout=60)
    assert set().union(*(batch.request_ids for batch in seen)) == {a, b}
    assert sum(batch.count for batch in seen) == 3
    assert seen[-1].position == projector.store_position()
    assert projector.running


def test_it_survives_a_database_error_and_catches_up_afterwards(
    log: RequestLog,
    projector: Projector,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = log.file(T0)
    projector.start()
    projector.catch_up(timeout=60)

    # Take the requests table away: every batch now fails in the database.
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {requests.name} RENAME TO away"))
    with caplog.at_level(logging.ERROR, logger="projections.runner"):
        second = log.file(T0)
        deadline = time.monotonic() + 60
        while projector.errors < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert projector.errors >= 2 and projector.running
    assert projector.last_error is not None
    assert "projecting failed" in caplog.text
    with pytest.raises(TimeoutError):
        projector.wait(projector.store_position(), timeout=0.1)

    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE away RENAME TO {requests.name}"))
    projector.catch_up(timeout=60)
    assert get_request(engine, first) is not None
    assert get_request(engine, second) is not None
    assert count(engine, timeline) == 2  # the failed batches left nothing behind


def test_two_projectors_on_one_database_count_each_event_once(
    log: RequestLog, database_url: str, store: RequestStore, engine: Engine
) -> None:
    one = fast(database_url, batch_size=5)
    two = fast(database_url, batch_size=3)
    filing = threading.Thread(target=file_scenario, args=(log,))
    try:
        one.start()
        two.start()
        filing.start()
        filing.join()
        one.catch_up(timeout=60)
        two.catch_up(timeout=60)
    finally:
        one.close()
        two.close()
    assert count(engine, timeline) == one.store_count()
    figures = stats(engine)
    assert (figures["received"], figures["closed"], figures["escalations"]) == (6, 4, 3)
    for request_id, state in log.states.items():
        assert get_request(engine, request_id) == as_read(state)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_eventsourcing_projection_runner_drives_the_same_projection(
    log: RequestLog, database_url: str, store: RequestStore, engine: Engine
) -> None:
    """On PostgreSQL, eventsourcing's subscription runner can take the poller's place.

    PostgreSQL only: SQLite has no subscriptions (eventsourcing raises NotImplementedError).
    """
    with ProjectionRunner(
        application_class=RequestStore,
        projection_class=RequestProjection,
        view_class=RequestViews,
        env=store_env(database_url),
    ) as runner:
        file_scenario(log)
        runner.wait(store.recorder.max_notification_id(), timeout=60)
    for request_id, state in log.states.items():
        assert get_request(engine, request_id) == as_read(state)
