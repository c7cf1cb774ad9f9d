"""The view rows: the same request as the workflow sees it, each event counted once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from sqlalchemy import Engine, delete, func, insert, select

from closeloop.keys import Keyring
from closeloop.store import STORE_NAME, RequestStore
from domain.privacy import masked, open_contact
from projections.projection import RequestProjection
from projections.queries import get_request
from projections.rebuild import reset
from projections.runner import Projector
from projections.tables import UtcDateTime, requests, timeline, tracking_table
from projections.views import RequestViews, ViewsOutOfStep
from tests.projections.conftest import T0, RequestLog, dump, file_scenario


@pytest.fixture
def projection(
    database_url: str, store: RequestStore, sealer: Keyring
) -> Iterator[RequestProjection]:
    views = RequestViews.connect(database_url, sealer=sealer)
    yield RequestProjection(views)
    views.close()


def deliveries(store: RequestStore) -> list[tuple[object, Tracking]]:
    """Every stored event with its tracking, in notification order."""
    notifications = store.recorder.select_notifications(start=None, limit=10_000)
    return [(store.mapper.to_domain_event(n), Tracking(STORE_NAME, n.id)) for n in notifications]


def test_each_request_reads_as_the_workflow_sees_it(
    log: RequestLog,
    store: RequestStore,
    projection: RequestProjection,
    engine: Engine,
    sealer: Keyring,
) -> None:
    scenario = file_scenario(log)
    for domain_event, tracking in deliveries(store):
        projection.process_event(domain_event, tracking)

    for request_id in vars(scenario).values():
        read = get_request(engine, request_id)
        assert read is not None
        sealed = read.pop("resident_sealed")
        assert read.pop("place_sealed") is None  # filed without an address or building
        expected = log.states[request_id].view()
        # the row holds the contact masked, and sealed in full
        assert read == {**expected, "resident": masked(expected["resident"])}
        assert open_contact(sealer, sealed) == expected["resident"]
        assert expected["resident"]["phone"] not in str(read)
    assert get_request(engine, "no-such-request") is None


def test_a_redelivered_event_raises_and_changes_nothing(
    log: RequestLog, store: RequestStore, projection: RequestProjection, engine: Engine
) -> None:
    file_scenario(log)
    delivered = deliveries(store)
    for domain_event, tracking in delivered:
        projection.process_event(domain_event, tracking)
    before = dump(engine)

    for domain_event, tracking in (delivered[-1], delivered[0], delivered[len(delivered) // 2]):
        with pytest.raises(IntegrityError):
            projection.process_event(domain_event, tracking)
    assert dump(engine) == before


def test_a_redelivery_inside_a_batch_rolls_the_whole_batch_back(
    log: RequestLog, store: RequestStore, projection: RequestProjection, engine: Engine
) -> None:
    file_scenario(log)
    delivered = deliveries(store)
    half = len(delivered) // 2
    for domain_event, tracking in delivered[:half]:
        projection.process_event(domain_event, tracking)
    before = dump(engine)

    views = projection.view
    with (
        pytest.raises(IntegrityError),
        views.batch(STORE_NAME, delivered[half - 1][1].notification_id),
    ):
        for domain_event, tracking in delivered[half : half + 3]:
            projection.process_event(domain_event, tracking)
        projection.process_event(*delivered[half])  # again, within the batch
    assert dump(engine) == before


def test_a_batch_refuses_to_start_from_a_position_that_moved(
    log: RequestLog, store: RequestStore, projection: RequestProjection
) -> None:
    file_scenario(log)
    first, tracking = deliveries(store)[0]
    projection.process_event(first, tracking)
    with pytest.raises(IntegrityError), projection.view.batch(STORE_NAME, None):
        pass
    assert projection.view.max_tracking_id(STORE_NAME) == tracking.notification_id


def test_one_by_one_and_in_batches_give_the_same_rows(
    log: RequestLog, store: RequestStore, database_url: str, engine: Engine
) -> None:
    file_scenario(log)
    delivered = deliveries(store)
    one_by_one = RequestViews.connect(database_url)
    projection = RequestProjection(one_by_one)
    for domain_event, tracking in delivered:
        projection.process_event(domain_event, tracking)
    singly = dump(engine)
    one_by_one.close()

    # Empty the views, then the same events in batches of 4.
    batched = RequestViews.connect(database_url)
    reset(batched)
    projection = RequestProjection(batched)
    position: int | None = None
    for i in range(0, len(delivered), 4):
        chunk = delivered[i : i + 4]
        ids = {str(e.originator_id) for e, _ in chunk}  # type: ignore[attr-defined]
        with batched.batch(STORE_NAME, position, ids):
            for domain_event, tracking in chunk:
                projection.process_event(domain_event, tracking)
        position = chunk[-1][1].notification_id
    batched.close()
    assert dump(engine) == singly


def test_times_are_kept_in_utc_whatever_offset_they_came_with(
    log: RequestLog, store: RequestStore, projection: RequestProjection, engine: Engine
) -> None:
    beijing = timezone(timedelta(hours=8))
    filed = datetime(2025, 3, 3, 9, 30, tzinfo=beijing)  # 01:30 UTC
    request_id = log.file(filed)
    log.accept(request_id, filed + timedelta(minutes=5))
    for domain_event, tracking in deliveries(store):
        projection.process_event(domain_event, tracking)

    view = get_request(engine, request_id)
    assert view is not None
    assert view["created_at"] == "2025-03-03T01:30:00+00:00"
    assert view["updated_at"] == "2025-03-03T01:35:00+00:00"
    assert view["deadline"] == "2025-03-04T01:30:00+00:00"
    assert [e["at"] for e in view["timeline"]] == [
        "2025-03-03T01:30:00+00:00",
        "2025-03-03T01:35:00+00:00",
    ]
    # the same instant in another offset selects the row: SQL compares in UTC
    with engine.connect() as conn:
        found = conn.execute(
            select(func.count()).select_from(requests).where(requests.c.created_at >= filed)
        ).scalar_one()
    assert found == 1


def test_a_naive_datetime_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(datetime(2025, 1, 1), engine.dialect)
    with engine.connect() as conn, pytest.raises(Exception, match="naive"):
        conn.execute(
            insert(timeline).values(
                request_id="r",
                position=1,
                type="Filed",
                at=T0.replace(tzinfo=None),
                actor="x",
                data={},
            )
        )


def test_rows_read_back_as_aware_utc_datetimes(
    log: RequestLog, store: RequestStore, projection: RequestProjection, engine: Engine
) -> None:
    request_id = log.file(T0)
    for domain_event, tracking in deliveries(store):
        projection.process_event(domain_event, tracking)
    with engine.connect() as conn:
        created = conn.execute(
            select(requests.c.created_at).where(requests.c.id == request_id)
        ).scalar_one()
    assert created == T0 and created.tzinfo is UTC


def test_views_out_of_step_with_their_position_are_refused_not_doubled(
    log: RequestLog, store: RequestStore, database_url: str, engine: Engine
) -> None:
    file_scenario(log)
    projector = Projector(database_url, store=store)
    while projector.run_batch():
        pass
    before = dump(engine)
    with engine.begin() as conn:  # the position is lost, the rows are not
        conn.execute(delete(tracking_table))
    with pytest.raises(ViewsOutOfStep, match="filed before"):
        projector.run_batch()
    projector.close()
    before[tracking_table.name] = []
    assert dump(engine) == before
