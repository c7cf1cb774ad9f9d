"""A rebuild from the whole log gives back the same tables."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, inspect, text

from closeloop.store import RequestStore
from projections.rebuild import rebuild
from projections.runner import Projector
from projections.tables import metadata
from projections.views import secondary_indexes
from tests.projections.conftest import T0, RequestLog, dump, file_scenario


def project(database_url: str, store: RequestStore) -> None:
    projector = Projector(database_url, store=store, batch_size=5)
    while projector.run_batch():
        pass
    projector.close()


def test_a_rebuild_gives_the_same_tables(
    log: RequestLog, database_url: str, store: RequestStore, engine: Engine
) -> None:
    file_scenario(log)
    for i in range(20):
        request_id = log.file(T0 + timedelta(minutes=i), grid=f"g{i % 4}")
        if i % 2:
            log.accept(request_id, T0 + timedelta(minutes=i + 1))
    project(database_url, store)
    before = dump(engine)
    counter = Projector(database_url, store=store)
    events = counter.store_count()
    counter.close()

    calls: list[tuple[int, int]] = []
    done = rebuild(database_url, progress=lambda d, t: calls.append((d, t)), batch_size=7)

    assert done == events
    assert dump(engine) == before
    assert calls[0] == (0, events)
    assert calls[-1] == (events, events)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(calls) == 1 + -(-events // 7)


def test_a_rebuild_repairs_damaged_views(
    log: RequestLog, database_url: str, store: RequestStore, engine: Engine
) -> None:
    file_scenario(log)
    project(database_url, store)
    before = dump(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE view_requests SET status = 'closed', escalations = 99"))
        conn.execute(text("DELETE FROM view_timeline WHERE position > 2"))
    assert dump(engine) != before
    rebuild(database_url)
    assert dump(engine) == before


def test_a_rebuild_of_an_empty_store(
    database_url: str, store: RequestStore, engine: Engine
) -> None:
    calls: list[tuple[int, int]] = []
    assert rebuild(database_url, progress=lambda d, t: calls.append((d, t))) == 0
    assert calls == [(0, 0)]
    assert all(rows == [] for rows in dump(engine).values())


def test_a_projector_running_during_a_rebuild_does_no_harm(
    log: RequestLog, database_url: str, store: RequestStore, engine: Engine
) -> None:
    file_scenario(log)
    project(database_url, store)
    before = dump(engine)
    with Projector(database_url, poll_seconds=0.01, retry_seconds=0.02, batch_size=2) as live:
        rebuild(database_url, batch_size=3)
        live.catch_up(timeout=60)
    assert dump(engine) == before


def index_names(engine: Engine) -> set[str]:
    found = inspect(engine)
    return {
        str(i["name"]) for table in metadata.sorted_tables for i in found.get_indexes(table.name)
    }


def test_an_interrupted_rebuild_leaves_the_indexes_and_the_projector_finishes_it(
    log: RequestLog, database_url: str, store: RequestStore, engine: Engine
) -> None:
    file_scenario(log)
    for i in range(12):
        log.accept(log.file(T0 + timedelta(minutes=i)), T0 + timedelta(minutes=i + 1))
    project(database_url, store)
    before = dump(engine)
    declared = {str(index.name) for index in secondary_indexes()}
    assert declared and declared <= index_names(engine)

    def stop_after_the_first_batch(done: int, total: int) -> None:
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rebuild(database_url, progress=stop_after_the_first_batch, batch_size=4)
    assert declared <= index_names(engine)  # built on the way out
    assert dump(engine) != before  # only the first batch is in
    project(database_url, store)
    assert dump(engine) == before


def test_views_opened_without_their_indexes_build_them(database_url: str, engine: Engine) -> None:
    Projector(database_url).close()
    with engine.begin() as conn:
        for index in secondary_indexes():
            index.drop(conn)
    assert not {str(index.name) for index in secondary_indexes()} & index_names(engine)
    Projector(database_url).close()
    assert {str(index.name) for index in secondary_indexes()} <= index_names(engine)
