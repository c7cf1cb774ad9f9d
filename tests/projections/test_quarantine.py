"""A poison event is quarantined, not fatal: the projector goes on, its request waits.

The poison is real on each database: PostgreSQL refuses a NUL byte in text (here a
progress note's, in the timeline's JSONB), appended straight to the event store as a
client that bypasses the API could; SQLite accepts NUL, so a trigger refuses it there as
PostgreSQL does. The fix a retry runs with is a projection that drops NUL bytes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Tracking
from eventsourcing_sqlalchemy.recorders import SQLAlchemySubscription
from sqlalchemy import Engine, text

from closeloop.cli import main
from closeloop.keys import Keyring
from closeloop.runtime import _follow_with_subscription
from closeloop.store import STORE_NAME, RequestStore
from domain.ladder import Tier
from domain.state import Change, Intake, RequestState
from projections.quarantine import RetryResult, dead_letters_of, quarantined_count, retry
from projections.queries import get_request
from projections.rebuild import rebuild
from projections.runner import Projector
from projections.tables import BLOCKED, FAILED
from projections.views import RequestViews
from tests.projections.conftest import DAY, T0, RequestLog, as_read

NUL_NOTE = "the tap \x00 drips"
MINUTE = timedelta(minutes=1)


def refuse_nul_on_sqlite(engine: Engine) -> None:
    """SQLite keeps NUL bytes; refuse them in the timeline as PostgreSQL does."""
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER refuse_nul BEFORE INSERT ON view_timeline "
                "WHEN instr(NEW.data, '\\u0000') > 0 "
                "BEGIN SELECT RAISE(ABORT, 'unsupported Unicode escape sequence \\u0000'); END"
            )
        )


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


class NulFreeViews(RequestViews):
    """The fix, as it would be deployed: text loses its NUL bytes on the way in."""

    def record(
        self,
        request_id: str,
        position: int,
        change: Change,
        tracking: Tracking | None,
        *,
        topic: str = "",
    ) -> None:
        change = dataclasses.replace(change, data=_without_nul(change.data))
        super().record(request_id, position, change, tracking, topic=topic)


def positions(store: RequestStore) -> dict[tuple[str, int], int]:
    """(request id, version) -> the event's notification id."""
    notifications = store.recorder.select_notifications(start=None, limit=10_000)
    return {(str(n.originator_id), n.originator_version): n.id for n in notifications}


@dataclasses.dataclass
class Poisoned:
    a: str  # the request with the poison event (its third), and one event after it
    b: str
    c: str


def file_with_poison(log: RequestLog) -> Poisoned:
    """Three requests; A's progress note holds a NUL byte, amid B's and C's events."""
    a = log.file(T0, grid="g1")
    b = log.file(T0, grid="g2")
    log.accept(a, T0 + MINUTE)
    log.accept(b, T0 + MINUTE)
    log.progress(a, T0 + 2 * MINUTE, note=NUL_NOTE)  # the poison
    log.progress(b, T0 + 3 * MINUTE)
    log.progress(a, T0 + 4 * MINUTE, note="plumber booked")  # waits behind it
    c = log.file(T0 + 5 * MINUTE, grid="g3")
    log.resolve(b, T0 + 6 * MINUTE)
    return Poisoned(a, b, c)


def check_quarantined(
    engine: Engine, store: RequestStore, log: RequestLog, p: Poisoned, waiting: int = 1
) -> None:
    """A's poison event failed, its later events wait, and every other request is in."""
    where = positions(store)
    letters = dead_letters_of(engine)
    assert [(x.position, x.request_id, x.version, x.state) for x in letters] == [
        (where[p.a, 3], p.a, 3, FAILED),
        *[(where[p.a, 3 + i], p.a, 3 + i, BLOCKED) for i in range(1, waiting + 1)],
    ]
    poison = letters[0]
    assert poison.topic.endswith("ResidentRequest.ProgressNoted")
    assert "u0000" in poison.error, poison.error
    assert all(
        x.error == f"waits behind event {poison.position} of the same request" for x in letters[1:]
    )
    assert quarantined_count(engine) == 1 + waiting
    # A is as it stood before its poison event, never half applied
    view = get_request(engine, p.a)
    assert view is not None
    assert [e["type"] for e in view["timeline"]] == ["Filed", "Accepted"]
    assert view["status"] == "in_progress"
    # the other requests are projected in full
    for other in (p.b, p.c):
        assert get_request(engine, other) == as_read(log.states[other])


@pytest.fixture
def projector(database_url: str, store: RequestStore) -> Iterator[Projector]:
    running = Projector(database_url, store=store, poll_seconds=0.02, retry_seconds=0.05)
    yield running
    running.close()


def test_a_poison_event_in_a_batch_is_quarantined_and_its_request_waits_for_a_retry(
    log: RequestLog, store: RequestStore, database_url: str, engine: Engine, projector: Projector
) -> None:
    refuse_nul_on_sqlite(engine)
    p = file_with_poison(log)

    batch = projector.run_batch()  # one batch of all nine events, the poison fifth

    assert batch is not None and batch.count == 9 and batch.quarantined == 1
    assert batch.position == projector.store_position() == projector.position()
    check_quarantined(engine, store, log, p)
    assert dead_letters_of(engine)[0].attempts == 1

    # A's next event waits too, in its turn; the others' go on
    log.resolve(p.a, T0 + 7 * MINUTE)
    log.review(p.b, T0 + 8 * MINUTE, "yes yes yes yes")
    projector.run_batch()
    assert projector.lag() == 0
    check_quarantined(engine, store, log, p, waiting=2)

    # a retry before the fix: nothing moves, the error is the new one, an attempt counted
    assert retry(database_url) == RetryResult(applied=0, failed=1, remaining=3)
    letters = dead_letters_of(engine)
    assert [x.state for x in letters] == [FAILED, BLOCKED, BLOCKED]
    assert letters[0].attempts == 2 and "u0000" in letters[0].error
    check_quarantined(engine, store, log, p, waiting=2)

    # after the fix: all three applied in order, none left
    outcomes: list[tuple[int, str]] = []
    result = retry(
        database_url, views_class=NulFreeViews, report=lambda x, o: outcomes.append((x.version, o))
    )
    assert result == RetryResult(applied=3, failed=0, remaining=0)
    assert outcomes == [(3, "applied"), (4, "applied"), (5, "applied")]
    assert dead_letters_of(engine) == []
    assert get_request(engine, p.a) == _without_nul(as_read(log.states[p.a]))

    # and A's next event is projected at once, waiting behind nothing
    log.review(p.a, T0 + 9 * MINUTE, "yes yes yes yes")
    projector.run_batch()
    assert get_request(engine, p.a) == _without_nul(as_read(log.states[p.a]))
    assert quarantined_count(engine) == 0
    for request_id in (p.b, p.c):
        assert get_request(engine, request_id) == as_read(log.states[request_id])


def test_the_running_projector_quarantines_and_keeps_following(
    log: RequestLog, store: RequestStore, engine: Engine, projector: Projector
) -> None:
    refuse_nul_on_sqlite(engine)
    projector.start()
    p = file_with_poison(log)
    projector.catch_up(timeout=60)
    assert projector.running and projector.errors == 0
    check_quarantined(engine, store, log, p)


def test_a_failing_filing_blocks_every_later_event_of_its_request(
    log: RequestLog, store: RequestStore, database_url: str, engine: Engine, projector: Projector
) -> None:
    """A NUL byte in a filing's description: PostgreSQL refuses it in text columns."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_nul BEFORE INSERT ON view_requests "
                    "WHEN instr(CAST(NEW.description AS BLOB), x'00') > 0 "
                    "BEGIN SELECT RAISE(ABORT, 'text fields cannot contain NUL'); END"
                )
            )
    request_id = str(uuid.uuid4())
    intake = Intake(
        request_id=request_id,
        grid_id="g1",
        community_id="c1",
        town_id="t1",
        category="water",
        description="water \x00 everywhere",
        channel="hotline",
        resident_name="Wang Fang",
        resident_phone="13800000000",
        tier=Tier.D1,
    )
    filed = RequestState.decide_file(intake, T0, "intake", DAY)
    assert store.record(uuid.UUID(request_id), "poison-filing", filed)
    log.states[request_id] = RequestState.from_filed(filed)
    log.accept(request_id, T0 + MINUTE)
    other = log.file(T0 + MINUTE)
    while projector.run_batch():
        pass
    letters = dead_letters_of(engine)
    assert [(x.version, x.state) for x in letters] == [(1, FAILED), (2, BLOCKED)]
    assert "NUL" in letters[0].error, letters[0].error
    assert get_request(engine, request_id) is None
    assert get_request(engine, other) == as_read(log.states[other])

    result = retry(database_url, views_class=NulFreeViews)
    assert result == RetryResult(applied=2, failed=0, remaining=0)
    assert get_request(engine, request_id) == _without_nul(as_read(log.states[request_id]))


def test_a_passing_database_failure_quarantines_nothing(
    log: RequestLog, engine: Engine, projector: Projector
) -> None:
    log.file(T0)
    projector.start()
    projector.catch_up(timeout=60)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE view_timeline RENAME TO away"))
    second = log.file(T0)
    deadline = time.monotonic() + 60
    while projector.errors < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert projector.errors >= 2
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE away RENAME TO view_timeline"))
    projector.catch_up(timeout=60)
    assert quarantined_count(engine) == 0
    assert get_request(engine, second) == as_read(log.states[second])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_rebuild_quarantines_again_what_still_fails(
    log: RequestLog, store: RequestStore, database_url: str, engine: Engine, projector: Projector
) -> None:
    """PostgreSQL only: a rebuild makes the tables afresh, so a trigger would not survive."""
    p = file_with_poison(log)
    projector.run_batch()
    check_quarantined(engine, store, log, p)
    assert rebuild(database_url, batch_size=4) == 9  # the poison lands mid-batch again
    check_quarantined(engine, store, log, p)
    assert retry(database_url, views_class=NulFreeViews).remaining == 0
    assert get_request(engine, p.a) == _without_nul(as_read(log.states[p.a]))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_subscription_runner_quarantines_and_keeps_following(
    log: RequestLog, store: RequestStore, database_url: str, engine: Engine, sealer: Keyring
) -> None:
    """PostgreSQL's projector (eventsourcing's ProjectionRunner, LISTEN/NOTIFY)."""
    stop = asyncio.Event()
    follower = threading.Thread(target=_follow_with_subscription, args=(database_url, stop, sealer))
    follower.start()
    try:
        p = file_with_poison(log)
        views = RequestViews.connect(database_url)
        try:
            views.wait(STORE_NAME, store.recorder.max_notification_id(), timeout=60)
        finally:
            views.close()
        check_quarantined(engine, store, log, p)
    finally:
        stop.set()
        follower.join(10)
    assert not follower.is_alive()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_subscription_runner_projects_events_written_before_it_listens(
    log: RequestLog,
    store: RequestStore,
    database_url: str,
    engine: Engine,
    sealer: Keyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """eventsourcing's subscription selects what is recorded, then LISTENs in another
    thread; events written between the two are announced to nobody. Here the LISTEN is
    held back until the events are in: they must still be projected, with nothing more
    written to wake the runner."""
    selected, go = threading.Event(), threading.Event()
    listen = SQLAlchemySubscription._listen

    def late_listen(subscription: SQLAlchemySubscription) -> None:
        selected.set()
        go.wait(30)
        listen(subscription)

    monkeypatch.setattr(SQLAlchemySubscription, "_listen", late_listen)
    stop = asyncio.Event()
    follower = threading.Thread(target=_follow_with_subscription, args=(database_url, stop, sealer))
    follower.start()
    try:
        assert selected.wait(30)
        time.sleep(0.5)  # the runner's first select has run by now (it found nothing)
        a = log.file(T0, grid="g1")
        log.accept(a, T0 + MINUTE)
        go.set()
        views = RequestViews.connect(database_url)
        try:
            views.wait(STORE_NAME, store.recorder.max_notification_id(), timeout=30)
        finally:
            views.close()
        assert get_request(engine, a) == as_read(log.states[a])
    finally:
        go.set()
        stop.set()
        follower.join(10)
    assert not follower.is_alive()


def test_closeloop_projections_list_and_retry(
    log: RequestLog,
    store: RequestStore,
    database_url: str,
    engine: Engine,
    projector: Projector,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The operator's commands; the fix here is in the database (a trigger dropped)."""
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", database_url)
    monkeypatch.setenv("CLOSELOOP_DATA_DIR", str(tmp_path / "data"))
    refuse = {
        "sqlite": [
            "CREATE TRIGGER refuse_mallory BEFORE INSERT ON view_timeline "
            "WHEN NEW.actor = 'mallory' BEGIN SELECT RAISE(ABORT, 'mallory is refused'); END"
        ],
        "postgresql": [
            "CREATE FUNCTION refuse_mallory() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'mallory is refused'; END $$",
            "CREATE TRIGGER refuse_mallory BEFORE INSERT ON view_timeline FOR EACH ROW "
            "WHEN (NEW.actor = 'mallory') EXECUTE FUNCTION refuse_mallory()",
        ],
    }[engine.dialect.name]
    with engine.begin() as conn:
        for statement in refuse:
            conn.execute(text(statement))
    a = log.file(T0)
    b = log.file(T0)
    log.accept(a, T0 + MINUTE, actor="mallory")
    log.accept(b, T0 + MINUTE)
    log.resolve(a, T0 + 2 * MINUTE)
    projector.run_batch()
    where = positions(store)

    assert main(["projections", "list"]) == 0
    out = capsys.readouterr().out
    assert "2 events are quarantined (1 failed, 1 waiting" in out
    assert f"event {where[a, 2]}  request {a} (version 2)" in out
    assert "ResidentRequest.Accepted  failed (1 attempt):" in out and "mallory is refused" in out
    assert f"waiting: waits behind event {where[a, 2]} of the same request" in out
    assert "closeloop projections retry" in out

    assert main(["projections", "retry"]) == 1  # not fixed yet
    out = capsys.readouterr().out
    assert f"event {where[a, 2]}  request {a}  failed:" in out
    assert "applied 0, failed again 1; 2 events remain quarantined" in out

    with engine.begin() as conn:
        on = " ON view_timeline" if engine.dialect.name == "postgresql" else ""
        conn.execute(text(f"DROP TRIGGER refuse_mallory{on}"))
    assert main(["projections", "retry"]) == 0
    out = capsys.readouterr().out
    assert "applied 2, failed again 0; 0 events remain quarantined" in out
    assert get_request(engine, a) == as_read(log.states[a])
    assert main(["projections", "list"]) == 0
    assert "no event is quarantined" in capsys.readouterr().out


def test_poison_events_first_and_last_in_a_batch_are_each_quarantined(
    log: RequestLog, store: RequestStore, engine: Engine, projector: Projector
) -> None:
    refuse_nul_on_sqlite(engine)
    x = log.file(T0)
    y = log.file(T0)
    log.accept(x, T0)
    log.accept(y, T0)
    while projector.run_batch():
        pass
    log.progress(x, T0 + MINUTE, note=NUL_NOTE)  # first of the batch
    others = [log.file(T0 + MINUTE, grid=f"g{i}") for i in range(6)]
    log.progress(y, T0 + 2 * MINUTE, note=NUL_NOTE)  # last of the batch
    batch = projector.run_batch()
    assert batch is not None and (batch.count, batch.quarantined) == (8, 2)
    assert projector.lag() == 0
    where = positions(store)
    assert [(d.position, d.state) for d in dead_letters_of(engine)] == [
        (where[x, 3], FAILED),
        (where[y, 3], FAILED),
    ]
    for request_id in others:
        assert get_request(engine, request_id) == as_read(log.states[request_id])
