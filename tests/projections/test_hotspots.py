"""Hot spots (projections.hotspots): counts by category and grid that equal a recount of
the filed requests, the previous period, and where requests of one kind repeat."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from domain.ladder import UnitKind
from projections.hotspots import densest, hotspots
from projections.runner import Projector
from tests.projections.conftest import T0, RequestLog

DAY = timedelta(days=1)
#: grid -> (grid, community, town)
PLACES = {
    "g1": ("g1", "c1", "t1"),
    "g2": ("g2", "c1", "t1"),
    "g3": ("g3", "c2", "t1"),
    "g4": ("g4", "c3", "t2"),
}
CATEGORIES = ("water", "noise", "parking")


def project(database_url: str, log: RequestLog) -> None:
    projector = Projector(database_url, store=log.store, batch_size=50)
    while projector.run_batch():
        pass
    projector.close()


def file_in(log: RequestLog, at: datetime, grid: str = "g1", category: str = "water") -> str:
    g, community, town = PLACES[grid]
    return log.file(at, grid=g, community=community, town=town, category=category)


def cells(found: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["grid_id"], c["category"]): c for c in found["cells"]}


@pytest.fixture
def filed(log: RequestLog, database_url: str, engine: Engine) -> list[tuple[datetime, str, str]]:
    """120 requests over 80 days in four grids and three categories, some worked on;
    returns (filed at, grid, category) of each, as filed."""
    rng = random.Random(1351)
    made = []
    for _ in range(120):
        at = T0 + timedelta(hours=rng.uniform(0, 80 * 24))
        grid, category = rng.choice(sorted(PLACES)), rng.choice(CATEGORIES)
        request = file_in(log, at, grid, category)
        if rng.random() < 0.5:
            log.accept(request, at + timedelta(hours=1))
        made.append((at, grid, category))
    project(database_url, log)
    return made


@pytest.mark.parametrize(
    ("unit_id", "kind"),
    [
        (None, None),
        ("t1", UnitKind.TOWN),
        ("c1", UnitKind.COMMUNITY),
        ("g4", UnitKind.GRID),
        ("c1", None),  # the kind not told: matched as any unit
    ],
)
def test_counts_equal_a_recount_of_what_was_filed(
    filed: list[tuple[datetime, str, str]],
    engine: Engine,
    unit_id: str | None,
    kind: UnitKind | None,
) -> None:
    start, end = T0 + 40 * DAY, T0 + 70 * DAY
    previous = start - (end - start)

    def inside(grid: str) -> bool:
        return unit_id is None or unit_id in PLACES[grid]

    now = Counter((g, c) for at, g, c in filed if start <= at < end and inside(g))
    before = Counter((g, c) for at, g, c in filed if previous <= at < start and inside(g))

    found = hotspots(engine, unit_id=unit_id, unit_kind=kind, date_from=start, date_to=end)

    assert {key: c["count"] for key, c in cells(found).items()} == dict(now)
    for key, cell in cells(found).items():
        assert cell["previous"] == before[key]
        assert cell["change"] == now[key] - before[key]
        assert (cell["community_id"], cell["town_id"]) == PLACES[key[0]][1:]
    # every category and grid of either period in the totals
    by_category = {t["category"]: (t["count"], t["previous"]) for t in found["by_category"]}
    assert by_category == {
        category: (
            sum(n for (_, c), n in now.items() if c == category),
            sum(n for (_, c), n in before.items() if c == category),
        )
        for category in {c for _, c in (*now, *before)}
    }
    by_grid = {t["grid_id"]: (t["count"], t["previous"]) for t in found["by_grid"]}
    assert by_grid == {
        grid: (
            sum(n for (g, _), n in now.items() if g == grid),
            sum(n for (g, _), n in before.items() if g == grid),
        )
        for grid in {g for g, _ in (*now, *before)}
    }
    total = found["total"]
    assert (total["count"], total["previous"]) == (sum(now.values()), sum(before.values()))
    assert found["cells_total"] == len(now)
    # most first; among equals, repeats first
    order = [(-c["count"], not c["repeat"]) for c in found["cells"]]
    assert order == sorted(order)


def test_the_previous_period_has_the_same_length_and_its_change(
    log: RequestLog, database_url: str, engine: Engine
) -> None:
    start, end = T0 + 10 * DAY, T0 + 20 * DAY
    file_in(log, start - 11 * DAY)  # before the previous period
    file_in(log, start - 10 * DAY)  # the previous period's first instant
    file_in(log, start - DAY / 10)
    file_in(log, start)  # the period's first instant belongs to it
    file_in(log, start + 2 * DAY)
    file_in(log, start + 3 * DAY)
    file_in(log, end)  # its end does not
    file_in(log, start + DAY, category="noise")  # new: no previous
    file_in(log, start - DAY, category="parking")  # gone: previous only
    project(database_url, log)

    found = hotspots(engine, date_from=start, date_to=end)

    assert (found["previous_from"], found["previous_to"]) == (
        (start - 10 * DAY).isoformat(),
        start.isoformat(),
    )
    water, noise = cells(found)[("g1", "water")], cells(found)[("g1", "noise")]
    assert (water["count"], water["previous"], water["change"], water["change_share"]) == (
        3,
        2,
        1,
        0.5,
    )
    assert (noise["count"], noise["previous"], noise["change"], noise["change_share"]) == (
        1,
        0,
        1,
        None,
    )
    assert ("g1", "parking") not in cells(found)  # nothing this period: not a hot spot
    parking = next(t for t in found["by_category"] if t["category"] == "parking")
    assert (parking["count"], parking["previous"], parking["change_share"]) == (0, 1, -1.0)
    assert [c["category"] for c in found["cells"]] == ["water", "noise"]


@pytest.mark.parametrize(
    ("days", "repeat"),
    [
        ((0, 15, 30), True),  # three within 30 days
        ((0, 15, 31), False),  # three spread over 31
        ((0, 31, 62), False),
        ((0, 40, 50, 55, 70), True),  # the densest run lies inside
    ],
)
def test_a_repeat_is_enough_requests_within_the_days(
    log: RequestLog,
    database_url: str,
    engine: Engine,
    days: tuple[int, ...],
    repeat: bool,
) -> None:
    start = T0 + 5 * DAY
    for day in days:
        file_in(log, start + day * DAY)
    file_in(log, start + DAY, grid="g2")  # another grid's request does not help
    file_in(log, start + 2 * DAY, category="noise")  # nor another category's
    project(database_url, log)

    found = hotspots(engine, date_from=start, date_to=start + 100 * DAY)
    cell = cells(found)[("g1", "water")]

    assert cell["count"] == len(days)
    assert cell["repeat"] is repeat
    if not repeat:
        assert cell["run"] is None
        return
    expected = densest([start + d * DAY for d in days], 30 * DAY)
    assert expected is not None
    assert cell["run"] == expected.json()
    if days == (0, 40, 50, 55, 70):
        assert cell["run"] == {
            "count": 4,
            "first": (start + 40 * DAY).isoformat(),
            "last": (start + 70 * DAY).isoformat(),
        }
    assert found["total"]["repeats"] == 1


def test_the_repeat_rule_can_be_set(log: RequestLog, database_url: str, engine: Engine) -> None:
    start = T0 + 5 * DAY
    for day in (0, 6, 20):
        file_in(log, start + day * DAY)
    project(database_url, log)
    period = {"date_from": start, "date_to": start + 60 * DAY}

    def cell(**rule: int) -> dict[str, Any]:
        return cells(hotspots(engine, **period, **rule))[("g1", "water")]  # type: ignore[arg-type]

    assert cell()["repeat"] is True
    assert cell(repeat_count=4)["repeat"] is False
    assert cell(repeat_days=19)["repeat"] is False
    two_in_a_week = cell(repeat_count=2, repeat_days=7)
    assert two_in_a_week["run"] == {
        "count": 2,
        "first": start.isoformat(),
        "last": (start + 6 * DAY).isoformat(),
    }


def test_a_period_no_longer_than_the_days_reads_no_times(
    log: RequestLog, database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within a 30-day period every cell of three or more is a repeat, its run the cell."""
    start = T0 + 5 * DAY
    for day in (1, 9, 29):
        file_in(log, start + day * DAY)
    file_in(log, start + 2 * DAY, grid="g2")
    project(database_url, log)

    def no_times(*_: Any) -> None:
        raise AssertionError("read the times")

    monkeypatch.setattr("projections.hotspots._times", no_times)
    found = hotspots(engine, date_from=start, date_to=start + 30 * DAY)

    assert cells(found)[("g1", "water")]["run"] == {
        "count": 3,
        "first": (start + DAY).isoformat(),
        "last": (start + 29 * DAY).isoformat(),
    }
    assert cells(found)[("g2", "water")]["repeat"] is False


def test_a_redirected_request_counts_in_its_grid_now(
    log: RequestLog, database_url: str, engine: Engine
) -> None:
    start = T0 + 5 * DAY
    moved = file_in(log, start)
    file_in(log, start + DAY)
    log.redirect(moved, start + 2 * DAY, "g2")
    project(database_url, log)

    found = hotspots(engine, date_from=start, date_to=start + 10 * DAY)

    assert {key: c["count"] for key, c in cells(found).items()} == {
        ("g1", "water"): 1,
        ("g2", "water"): 1,
    }


def test_refuses_what_has_no_meaning(engine: Engine) -> None:
    with pytest.raises(ValueError, match="aware"):
        hotspots(engine, date_from=datetime(2025, 1, 1), date_to=T0)
    with pytest.raises(ValueError, match="before"):
        hotspots(engine, date_from=T0, date_to=T0)


def test_no_requests_no_hot_spots(engine: Engine) -> None:
    found = hotspots(engine, date_from=T0, date_to=T0 + DAY)
    assert (found["cells"], found["by_category"], found["by_grid"]) == ([], [], [])
    assert found["total"] == {
        "count": 0,
        "previous": 0,
        "change": 0,
        "change_share": None,
        "repeats": 0,
    }
