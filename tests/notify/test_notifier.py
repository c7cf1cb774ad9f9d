"""The notifier on real event stores (SQLite and PostgreSQL) and the demo roster: who is
told what, exactly once, and nothing of the resident's contact in the clear."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from closeloop.keys import Keyring
from closeloop.store import RequestStore
from domain.ladder import Tier
from notify.notifier import Notifier, PositionMoved
from notify.outbox import open_body
from notify.tables import inbox, outbox
from tests.notify.conftest import HOUR, T0, Town, inbox_of, outbox_of, subscribe
from tests.projections.conftest import RequestLog


def run(notifier: Notifier) -> None:
    while notifier.run_batch() is not None:
        pass


def turn(notifier: Notifier) -> None:
    """One batch, or none when another notifier moved the position meanwhile."""
    with contextlib.suppress(PositionMoved):
        notifier.run_batch()


@pytest.fixture
def notifier(database_url: str, keys: Keyring, db: Engine, sealed_store: RequestStore):  # type: ignore[no-untyped-def]
    n = Notifier(database_url, keys, store=sealed_store, engine=db, batch_size=7)
    yield n
    n.close()


def test_a_filed_request_tells_the_grid_worker_and_an_escalation_the_levels(
    requests_log: RequestLog, notifier: Notifier, db: Engine, town: Town
) -> None:
    rid = requests_log.file(T0, **town.where())
    run(notifier)
    (told,) = inbox_of(db)
    assert (told["username"], told["kind"], told["request_id"]) == ("worker1", "assigned", rid)
    assert told["params"]["via"] == "filed" and told["params"]["level"] == "grid_worker"
    requests_log.accept(rid, T0 + HOUR, actor="worker1")
    requests_log.deadline(rid, requests_log.due(rid))  # escalated to the grid branch (3d)
    run(notifier)
    told = {(m["username"], m["kind"]) for m in inbox_of(db)[1:]}
    assert told == {("branch1", "assigned"), ("worker1", "escalated_away")}


def test_a_warning_tells_the_level_and_the_one_above_and_an_urge_the_level(
    requests_log: RequestLog, notifier: Notifier, db: Engine, town: Town
) -> None:
    rid = requests_log.file(T0, **town.where(town.grid2))
    requests_log.warn(rid, T0 + 20 * HOUR)
    requests_log.urge(rid, T0 + 21 * HOUR)
    run(notifier)
    told = [(m["username"], m["kind"]) for m in inbox_of(db)]
    assert told == [
        ("worker2", "assigned"),
        ("worker2", "warned"),
        ("branch1", "warned"),
        ("worker2", "urged"),
    ]


def test_nobody_is_told_of_their_own_move(
    requests_log: RequestLog, notifier: Notifier, db: Engine, town: Town
) -> None:
    rid = requests_log.file(T0, **town.where())
    requests_log.accept(rid, T0 + HOUR)
    requests_log.add_cohandler(rid, T0 + 2 * HOUR, "worker2")
    own = requests_log.states[rid].decide_urge("worker1", "I urge myself", T0 + 3 * HOUR)
    requests_log._move(rid, own)
    run(notifier)
    assert [(m["username"], m["kind"]) for m in inbox_of(db)] == [
        ("worker1", "assigned"),
        ("worker2", "cohandler_added"),
    ]


def test_a_resolution_queues_one_sms_for_the_resident_without_their_phone(
    requests_log: RequestLog, notifier: Notifier, db: Engine, town: Town, keys: Keyring
) -> None:
    rid = requests_log.file(T0, **town.where(), phone="13912345678")
    requests_log.accept(rid, T0 + HOUR)
    requests_log.resolve(rid, T0 + 2 * HOUR)
    run(notifier)
    (sms,) = outbox_of(db, "sms")
    assert (sms["recipient"], sms["kind"], sms["state"], sms["request_id"]) == (
        "resident",
        "resolved",
        "waiting",
        rid,
    )
    assert "13912345678" not in sms["body"]
    assert open_body(keys, sms["body"]) == {"review_until": None}


def test_webhooks_get_the_events_they_subscribe_to_without_the_residents_contact(
    requests_log: RequestLog, notifier: Notifier, db: Engine, town: Town, keys: Keyring
) -> None:
    every = subscribe(db, keys, ["*"])
    resolved_only = subscribe(db, keys, ["Resolved"])
    with_pii = subscribe(db, keys, ["Filed"], include_pii=True)
    rid = requests_log.file(T0, **town.where(), name="王芳", phone="13912345678")
    requests_log.accept(rid, T0 + HOUR)
    requests_log.resolve(rid, T0 + 2 * HOUR)
    run(notifier)
    hooks = outbox_of(db, "webhook")
    by = {(h["recipient"], h["event_type"]) for h in hooks}
    assert by == {
        (every, "Filed"),
        (every, "Accepted"),
        (every, "Resolved"),
        (resolved_only, "Resolved"),
        (with_pii, "Filed"),
    }
    for hook in hooks:
        assert "13912345678" not in hook["body"]  # sealed, whatever it holds
        body = open_body(keys, hook["body"])
        assert body["delivery"] == hook["key"]
        assert body["event"]["request_id"] == rid
        if hook["event_type"] == "Filed":
            data = body["event"]["data"]
            shown = hook["recipient"] == with_pii
            assert ("resident_phone" in data) is shown and body["pii"] is shown
            assert ("13912345678" in json.dumps(data)) is shown


def test_a_manual_filing_tells_the_dispatchers_and_a_reopen_the_level(
    requests_log: RequestLog, notifier: Notifier, db: Engine, town: Town
) -> None:
    waiting = requests_log.file(T0, **town.where(), manual=True)
    rid = requests_log.file(T0, **town.where(), tier=Tier.D1)
    requests_log.accept(rid, T0 + HOUR)
    requests_log.resolve(rid, T0 + 2 * HOUR)
    requests_log.review(rid, T0 + 3 * HOUR, "no no no no")
    run(notifier)
    told = [(m["username"], m["kind"], m["request_id"]) for m in inbox_of(db)]
    assert told == [
        ("dispatcher1", "waiting_dispatch", waiting),
        ("worker1", "assigned", rid),
        ("worker1", "reopened", rid),
    ]


def test_a_notifier_run_twice_over_the_same_events_writes_nothing_twice(
    requests_log: RequestLog, database_url: str, keys: Keyring, db: Engine, town: Town,
    sealed_store: RequestStore,
) -> None:  # fmt: skip
    subscribe(db, keys, ["*"])
    for n in range(5):
        rid = requests_log.file(T0 + n * HOUR, **town.where())
        requests_log.accept(rid, T0 + n * HOUR + HOUR)
        requests_log.resolve(rid, T0 + n * HOUR + 2 * HOUR)
    first = Notifier(database_url, keys, store=sealed_store, engine=db, batch_size=4)
    second = Notifier(database_url, keys, store=sealed_store, engine=db, batch_size=3)
    try:
        for _ in range(10):  # two notifiers take turns over one log
            turn(first)
            turn(second)
    finally:
        first.close()
        second.close()
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox)).scalar_one() == 5
        # 15 events to the webhook, 5 SMS
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 20


KILLER = """
import sys
from closeloop.keys import Keyring, parse_key
from notify.notifier import Notifier, PositionMoved
from tests.notify.conftest import KEY
notifier = Notifier(sys.argv[1], Keyring(parse_key(KEY), ()), batch_size=int(sys.argv[2]))
while notifier.run_batch() is not None:
    pass
print("done", flush=True)
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_notifier_killed_mid_run_and_started_again_loses_and_repeats_nothing(
    requests_log: RequestLog, database_url: str, keys: Keyring, db: Engine, town: Town,
    tmp_path: Path,
) -> None:  # fmt: skip
    subscribe(db, keys, ["*"])
    for n in range(60):
        rid = requests_log.file(T0 + n * HOUR, **town.where(town.grid if n % 2 else town.grid2))
        requests_log.accept(rid, T0 + n * HOUR + HOUR, actor="someone")
        requests_log.resolve(rid, T0 + n * HOUR + 2 * HOUR)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    kills = 0
    for pause in (0.4, 0.6, 0.8, 1.0, 1.2):
        child = subprocess.Popen(
            [sys.executable, "-c", KILLER, database_url, "2"], env=env, stdout=subprocess.PIPE
        )
        time.sleep(pause)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
    done = subprocess.run(
        [sys.executable, "-c", KILLER, database_url, "2"], env=env, capture_output=True, timeout=300
    )
    assert done.stdout.strip() == b"done", done.stderr.decode()[-2000:]
    assert kills >= 1, "the notifier finished before any kill: give it more work"
    told = inbox_of(db)
    assert len(told) == 60  # each filing tells its grid's worker
    assert len({m["key"] for m in told}) == 60
    hooks = outbox_of(db, "webhook")
    assert sorted(h["event_id"] for h in hooks) == list(range(1, 181))
    assert len(outbox_of(db, "sms")) == 60


def test_a_duplicate_taken_out_tells_its_level_and_each_resident_hears_of_the_resolution(
    requests_log: RequestLog, notifier: Notifier, db: Engine, town: Town
) -> None:
    primary = requests_log.file(T0, phone="13800000001", **town.where())
    duplicate = requests_log.file(T0, phone="13800000002", **town.where())
    run(notifier)
    first = len(inbox_of(db, "worker1"))  # both filings
    requests_log.merge(duplicate, primary, T0 + HOUR)
    requests_log.unmerge(duplicate, T0 + 2 * HOUR)
    run(notifier)
    (told,) = inbox_of(db, "worker1")[first:]
    assert (told["kind"], told["request_id"], told["params"]["via"]) == (
        "assigned",
        duplicate,
        "unmerged",
    )
    requests_log.merge(duplicate, primary, T0 + 3 * HOUR)
    requests_log.accept(primary, T0 + 4 * HOUR, actor="worker1")
    requests_log.resolve(primary, T0 + 5 * HOUR)
    requests_log.follow(duplicate, T0 + 5 * HOUR)
    run(notifier)
    sms = outbox_of(db, "sms")
    assert sorted(m["request_id"] for m in sms) == sorted([primary, duplicate])
