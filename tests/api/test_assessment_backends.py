"""The assessment's tables and its report on every backend (SQLite, and PostgreSQL when
``CLOSELOOP_TEST_POSTGRES_URL`` is set): adjustments kept with who and when, withdrawn but
never deleted, the database's own guard on points, the scheme's one row, and the report
read from projected requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from api import roster
from api.routes.assessment import report
from closeloop import assessment as store
from closeloop.bootstrap import seed_demo
from closeloop.db import make_engine
from closeloop.schema import migrate
from closeloop.store import RequestStore, store_env
from domain.assessment import Scheme, SchemeError
from domain.performance import PostRule, wall_clock_window
from domain.periods import parse_period
from projections.runner import Projector
from tests.projections.conftest import RequestLog

ZONE = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 11, 2, 1, tzinfo=UTC)
H = timedelta(hours=1)
#: One argon2 hash for the demo users: nobody signs in here.
_HASH: list[str] = []


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    if not _HASH:
        _HASH.append(roster.hash_password("a demo password"))
    monkeypatch.setattr(roster, "hash_password", lambda _password: _HASH[0])
    engine = make_engine(database_url)
    migrate(engine)
    seed_demo(engine)
    yield engine
    engine.dispose()


def test_adjustments_are_kept_withdrawn_and_never_deleted(db: Engine) -> None:
    first = store.add_adjustment("worker1", "2026Q4", "+5", " 民主测评优秀 ", "supervisor1", db=db)
    second = store.add_adjustment("worker1", "2026Q4", -3, "迟到", "admin", db=db)
    store.add_adjustment("worker2", "2026", 2, "年度", "supervisor1", db=db)
    assert (first.points, first.reason, first.created_by) == (5, "民主测评优秀", "supervisor1")
    found = store.adjustments_of("2026Q4", db=db)
    assert [a.id for a in found["worker1"]] == [first.id, second.id]
    assert "worker2" not in found
    assert store.adjustments_of("2026Q4", db=db, usernames=["worker2"]) == {}

    withdrawn = store.withdraw_adjustment(first.id, "admin", db=db)
    assert withdrawn is not None and withdrawn.withdrawn_by == "admin"
    again = store.withdraw_adjustment(first.id, "supervisor1", db=db)
    assert again is not None and again.withdrawn_by == "admin"  # the first withdrawal stays
    assert again.withdrawn_at == withdrawn.withdrawn_at
    assert store.withdraw_adjustment(10**6, "admin", db=db) is None
    assert len(store.adjustments_of("2026Q4", db=db)["worker1"]) == 2


@pytest.mark.parametrize("points", [0, 21, -21])
def test_the_database_refuses_points_out_of_bounds(db: Engine, points: int) -> None:
    row = {
        "username": "worker1",
        "period": "2026",
        "points": points,
        "reason": "x",
        "created_by": "admin",
        "created_at": T,
    }
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(insert(store.adjustment_table).values(**row))


def test_the_scheme_has_one_row_and_a_refused_one_writes_nothing(db: Engine) -> None:
    assert store.load_scheme(db=db).default
    changed = {**Scheme().json(), "excellent_quota": None, "min_assigned": 3}
    store.save_scheme(changed, "admin", db=db)
    store.save_scheme({**changed, "min_assigned": 4}, "admin", db=db)
    loaded = store.load_scheme(db=db)
    assert (loaded.scheme.min_assigned, loaded.scheme.excellent_quota) == (4, None)
    assert loaded.updated_by == "admin" and loaded.updated_at is not None
    with pytest.raises(SchemeError):
        store.save_scheme({**changed, "min_assigned": -1}, "admin", db=db)
    assert store.load_scheme(db=db).scheme.min_assigned == 4


def test_the_report_reads_the_projected_posts(db: Engine, database_url: str) -> None:
    worker1 = roster.get_user_by_username("worker1", db=db)
    assert worker1 is not None
    grid, community, town = roster.unit_chain(worker1.assignments[0].unit_id, db=db)
    requests = RequestStore(env=store_env(database_url))
    log = RequestLog(requests)
    for i in range(3):
        r = log.file(T + i * H, grid=grid.id, community=community.id, town=town.id)
        log.accept(r, T + (i + 1) * H, actor="worker1")
        log.resolve(r, T + (i + 2) * H)
        log.review(r, T + (i + 3) * H, "yes yes yes yes" if i else "yes yes yes partly")
    rule = PostRule(responded=wall_clock_window(2.0), zone=ZONE)
    projector = Projector(database_url, store=requests, posts_rule=rule)
    while projector.run_batch():
        pass
    projector.close()
    requests.close()
    store.add_adjustment("worker1", "2026Q4", -4, "考勤", "supervisor1", db=db)

    found = report(db, parse_period("2026Q4", ZONE))
    workers = {w["username"]: w for w in found["workers"]}
    one = workers["worker1"]
    assert (one["assigned"], one["computed_points"], one["adjustment_points"]) == (3, 100.0, -4.0)
    assert one["final_points"] == 96.0 and one["grade"]["code"] == "competent"
    assert one["capped_by_quota"] is True  # two grid workers, 20%: no place for excellent
    assert workers["worker2"]["ungraded"] == "insufficient_data"
    assert found["counts"]["worker1"]["reviews_satisfied"] == 3  # "partly" is satisfied
