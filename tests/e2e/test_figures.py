"""What the board's charts and colours are computed from, exactly, on the projections'
six-request scenario (tests/projections/conftest.py): the extra reads in
projections/pages.py and the urgency colour, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from closeloop.db import make_engine
from closeloop.store import RequestStore, store_env
from projections import pages, queries
from projections.runner import Projector
from projections.views import RequestViews
from tests.databases import BACKENDS, postgres_database
from tests.projections.conftest import T0, RequestLog, Scenario, file_scenario
from web import charts
from web.present import urgency


@pytest.fixture(params=BACKENDS)
def scenario(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Scenario]]:
    def build(url: str) -> Iterator[tuple[Engine, Scenario]]:
        store = RequestStore(env=store_env(url))
        RequestViews.connect(url).close()
        filed = file_scenario(RequestLog(store))
        projector = Projector(url, store=store)
        while projector.run_batch():
            pass
        projector.close()
        engine = make_engine(url)
        try:
            yield engine, filed
        finally:
            engine.dispose()
            store.close()

    if request.param == "sqlite":
        yield from build(f"sqlite:///{tmp_path / 'closeloop.db'}")
    else:
        with postgres_database("closeloop_web") as url:
            yield from build(url)


def test_figures_by_day_add_up_to_the_figures(scenario: tuple[Engine, Scenario]) -> None:
    engine, _ = scenario
    edges = [T0 + timedelta(days=d) for d in range(5)]
    days = pages.series(engine, edges=edges)
    assert [(d["received"], d["closed"], d["closed_on_time"]) for d in days] == [
        (3, 3, 2),  # A, B (late), C
        (1, 1, 1),  # D, unreachable
        (1, 0, 0),  # E, open
        (1, 0, 0),  # F, open and overdue
    ]
    assert [d["completion_rate"] for d in days] == [1.0, 1.0, 0.0, 0.0]
    assert days[0]["on_time_rate"] == 0.6667 and days[2]["on_time_rate"] is None
    assert (days[0]["reviews_reached"], days[0]["satisfied"]) == (4, 3)
    assert days[0]["satisfaction_rate"] == 0.75 and days[1]["satisfaction_rate"] is None
    whole = queries.stats(engine, date_from=edges[0], date_to=edges[-1])
    assert sum(d["received"] for d in days) == whole["received"] == 6
    assert sum(d["closed"] for d in days) == whole["closed"]
    assert sum(d["satisfied"] for d in days) == whole["satisfied"]


def test_figures_per_grid_and_escalations_by_tier(scenario: tuple[Engine, Scenario]) -> None:
    engine, _ = scenario
    grids = pages.per_grid(engine)
    assert set(grids) == {"g1", "g2", "g3", "g4"}
    assert grids["g1"] == {
        "received": 2, "closed": 2, "open": 0, "overdue": 0, "escalations": 0,
        "reviews_reached": 3, "satisfied": 2, "completion_rate": 1.0, "on_time_rate": 1.0,
        "satisfaction_rate": 0.6667,
    }  # fmt: skip
    assert grids["g2"]["on_time_rate"] == 0.0  # B was resolved late
    assert (grids["g4"]["open"], grids["g4"]["overdue"], grids["g4"]["escalations"]) == (2, 1, 3)
    assert set(pages.per_grid(engine, unit_id="c1")) == {"g1", "g2"}
    # E: pushed up by hand at 1d, then its 3d deadline passed; F: its 5d deadline passed
    assert pages.escalations_by_tier(engine) == {
        "1d": {"automatic": 0, "manual": 1},
        "3d": {"automatic": 1, "manual": 0},
        "5d": {"automatic": 1, "manual": 0},
    }
    assert pages.escalations_by_tier(engine, unit_id="t1") == {
        tier: {"automatic": 0, "manual": 0} for tier in ("1d", "3d", "5d")
    }


def test_the_board_list_and_deadline_windows(scenario: tuple[Engine, Scenario]) -> None:
    engine, s = scenario
    open_ = pages.board(engine, statuses=["assigned", "in_progress"])
    assert [r["id"] for r in open_["items"]] == [s.escalated_twice, s.overdue_at_top]
    assert open_["total"] == 2
    assert pages.board(engine, statuses=["closed"], unit_id="g1")["total"] == 2
    assert pages.board(engine, tier="1m")["items"][0]["id"] == s.overdue_at_top
    starts = pages.window_starts(engine, [s.escalated_twice, s.reopened_then_closed, s.closed_yes])
    day2 = T0 + timedelta(days=2)
    # E's window: its 3d deadline passed at day 5 + 3h (it was pushed up at day 2 + 3h)
    assert starts[s.escalated_twice] == day2 + timedelta(days=3, hours=3)
    assert starts[s.reopened_then_closed] == T0 + timedelta(hours=6)  # reopened at 6h
    assert s.closed_yes not in starts  # its deadline has been the one it was filed with
    resolved = pages.latest_entries(engine, [s.closed_yes], "Resolved")
    assert resolved[s.closed_yes]["resolution"] == "fixed"
    assert pages.projected_position(engine) > 0


def test_urgency_colours() -> None:
    start = datetime(2025, 3, 3, tzinfo=UTC)
    deadline = start + timedelta(days=1)
    assert urgency(start, deadline, False, start + timedelta(hours=17)) == "ok"
    assert urgency(start, deadline, False, start + timedelta(hours=18)) == "warn"  # 75%
    assert urgency(start, deadline, False, deadline) == "late"
    assert urgency(start, deadline, True, start) == "late"  # marked overdue at the top


def test_charts_escape_their_labels() -> None:
    svg = charts.columns([charts.Bar("<b>1d</b>", 2, "tier-1d")], "a & b")
    assert "<b>" not in svg and "&lt;b&gt;1d&lt;/b&gt;" in svg and 'aria-label="a &amp; b"' in svg
    line = charts.lines(
        [charts.Series("办结率", [None, 0.5, 1.0], "s-completion")], ["a", "b", "c"], "x"
    )
    assert line.count("<circle") == 2 and "<polyline" in line
