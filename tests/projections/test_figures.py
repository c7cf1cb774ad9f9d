"""The figures counted ahead (view_figures) agree with the rows, for any period and unit."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from projections.figures import refill
from projections.runner import Projector
from projections.stats import _count_rows, _present, dispatch_wait, dispatch_waits, stats
from projections.tables import figures
from tests.projections.conftest import T0, RequestLog, file_scenario

H = timedelta(hours=1)
UNITS = {"g1": ("g1", "c1", "t1"), "g2": ("g2", "c1", "t1"), "g3": ("g3", "c2", "t1")}


def live_a_while(log: RequestLog, rng: random.Random, n: int) -> None:
    """``n`` requests filed over four days, each living a random part of its life."""
    for i in range(n):
        at = T0 + timedelta(hours=rng.uniform(0, 96))
        grid, community, town = UNITS[rng.choice(sorted(UNITS))]
        request = log.file(at, grid=grid, community=community, town=town)
        steps = rng.randrange(5)
        if steps >= 1:
            log.accept(request, at + H)
        if steps >= 2 and i % 3 == 0:
            log.escalate(request, at + 2 * H)
            log.accept(request, at + 3 * H)
        if steps >= 3:
            log.resolve(request, at + 4 * H)
        if steps >= 4:
            answers = rng.choice(["yes yes yes yes", "no no partly no", None])
            log.review(request, at + 5 * H, answers)


def project(database_url: str, log: RequestLog, batch_size: int) -> None:
    projector = Projector(database_url, store=log.store, batch_size=batch_size)
    while projector.run_batch():
        pass
    projector.close()


def table(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(figures).order_by(figures.c.unit_id, "day"))]


@pytest.fixture
def projected(log: RequestLog, database_url: str, engine: Engine) -> Engine:
    file_scenario(log)
    live_a_while(log, random.Random(1351), 60)
    project(database_url, log, batch_size=7)  # lives span batches
    return engine


def test_the_counts_kept_batch_by_batch_are_the_counts_of_the_rows(projected: Engine) -> None:
    kept = table(projected)
    assert len(kept) >= 20 and {row[0] for row in kept} == {"*", "t1", "t2", "c1", "c2", "c3"}
    with projected.begin() as conn:
        refill(conn)
    assert table(projected) == kept


PERIODS: list[tuple[datetime | None, datetime | None]] = [
    (None, None),
    (T0, T0 + timedelta(days=2)),  # whole days
    (T0 + 5 * H, T0 + timedelta(days=2, hours=7)),  # part days at both ends
    (None, T0 + timedelta(days=1, hours=13)),
    (T0 + timedelta(hours=30), None),
    (T0 + 2 * H, T0 + 20 * H),  # inside one day
    (T0 + 23 * H, T0 + 25 * H),  # across one midnight, no whole day
    (T0 + timedelta(days=9), T0 + timedelta(days=10)),  # nothing
]


def test_stats_from_the_kept_counts_equal_stats_from_the_rows(projected: Engine) -> None:
    for unit in (None, "t1", "c1", "g1", "g3", "t2", "nowhere"):
        for date_from, date_to in PERIODS:
            with projected.connect() as conn:
                from_rows = _present(_count_rows(conn, unit, date_from, date_to))
                waits = dispatch_waits(conn, unit, date_from, date_to)
                from_rows["dispatch_wait"] = dispatch_wait(waits)
            kept = stats(projected, unit_id=unit, date_from=date_from, date_to=date_to)
            assert kept == from_rows, (unit, date_from, date_to)

    def received(unit: str | None) -> int:
        return int(stats(projected, unit_id=unit)["received"])

    assert received(None) == 66 and received("t2") == 2 and received("nowhere") == 0
    assert received("t1") == received("c1") + received("g3") == 64
    assert received("c1") == received("g1") + received("g2")
