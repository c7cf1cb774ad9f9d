"""The figures, exactly, for the six requests of the scenario (see conftest.file_scenario)."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine

from projections.queries import stats as _stats
from projections.runner import Projector
from tests.projections.conftest import T0, RequestLog, file_scenario


@pytest.fixture
def figures(log: RequestLog, database_url: str, engine: Engine) -> Engine:
    """The scenario, projected."""
    file_scenario(log)
    projector = Projector(database_url, store=log.store)
    while projector.run_batch():
        pass
    projector.close()
    return engine


def stats(bind: Engine, **where: Any) -> dict[str, Any]:
    """The figures without the reviews' sources, checked here: these scenarios have
    callers' reviews only (tests/notify counts the residents' own)."""
    figures = _stats(bind, **where)
    reached = figures["reviews_reached"]
    assert figures.pop("reviews_by_source") == {"caller": reached, "resident": 0}
    assert figures.pop("self_review_share") == (0.0 if reached else None)
    return figures


def dimensions(**counts: str) -> dict[str, dict[str, int]]:
    """``completion="3 1 0"`` -> {"completion": {"yes": 3, "partly": 1, "no": 0}}."""
    result = {}
    for dimension in ("completion", "progress", "effect", "satisfaction"):
        yes, partly, no = (int(n) for n in counts.get(dimension, "0 0 0").split())
        result[dimension] = {"yes": yes, "partly": partly, "no": no}
    return result


NO_OPEN = {"1d": 0, "3d": 0, "5d": 0, "1m": 0}


def no_operations(received: int, closed: int, unreached: int = 0) -> dict[str, Any]:
    """The street-office figures of a cohort that saw none of the operations."""
    return {
        "returned": 0,
        "redirected": 0,
        "extensions_asked": 0,
        "extensions_approved": 0,
        "urged": 0,
        "warned": 0,
        "out_of_scope": 0,
        "closed_unreached": unreached,
        "closed_reached": closed - unreached,
        "completion_rate_reached": round((closed - unreached) / received, 4) if received else None,
        "dispatch_wait": {"count": 0, "p50_hours": None, "p90_hours": None},
    }


def test_everything(figures: Engine) -> None:
    assert stats(figures) == {
        "received": 6,
        "merged": 0,
        "closed": 4,  # A, B, C and D (unreachable)
        "completion_rate": 0.6667,
        "on_time_rate": 0.75,  # B was resolved late
        "reviews_reached": 4,  # A, B and C twice; D was never reached
        "satisfied": 3,  # C's first review said no
        "satisfaction_rate": 0.75,
        "dimensions": dimensions(
            completion="3 1 0", progress="2 1 1", effect="3 1 0", satisfaction="2 1 1"
        ),
        "escalations": 3,  # E twice (by hand, then its deadline), F once
        "open_by_tier": {"1d": 0, "3d": 0, "5d": 1, "1m": 1},
        "overdue": 1,  # F
        **no_operations(6, 4, 1),  # D was not reached
    }


def test_a_town(figures: Engine) -> None:
    assert stats(figures, unit_id="t1") == {
        "received": 4,
        "merged": 0,
        "closed": 4,
        "completion_rate": 1.0,
        "on_time_rate": 0.75,
        "reviews_reached": 4,
        "satisfied": 3,
        "satisfaction_rate": 0.75,
        "dimensions": dimensions(
            completion="3 1 0", progress="2 1 1", effect="3 1 0", satisfaction="2 1 1"
        ),
        "escalations": 0,
        "open_by_tier": NO_OPEN,
        "overdue": 0,
        **no_operations(4, 4, 1),
    }
    assert stats(figures, unit_id="t2") == {
        "received": 2,
        "merged": 0,
        "closed": 0,
        "completion_rate": 0.0,
        "on_time_rate": None,
        "reviews_reached": 0,
        "satisfied": 0,
        "satisfaction_rate": None,
        "dimensions": dimensions(),
        "escalations": 3,
        "open_by_tier": {"1d": 0, "3d": 0, "5d": 1, "1m": 1},
        "overdue": 1,
        **no_operations(2, 0),
    }


def test_a_community(figures: Engine) -> None:
    assert stats(figures, unit_id="c1") == {
        "received": 3,  # A, B, C
        "merged": 0,
        "closed": 3,
        "completion_rate": 1.0,
        "on_time_rate": 0.6667,
        "reviews_reached": 4,
        "satisfied": 3,
        "satisfaction_rate": 0.75,
        "dimensions": dimensions(
            completion="3 1 0", progress="2 1 1", effect="3 1 0", satisfaction="2 1 1"
        ),
        "escalations": 0,
        "open_by_tier": NO_OPEN,
        "overdue": 0,
        **no_operations(3, 3),
    }


def test_a_grid(figures: Engine) -> None:
    assert stats(figures, unit_id="g1") == {
        "received": 2,  # A, C
        "merged": 0,
        "closed": 2,
        "completion_rate": 1.0,
        "on_time_rate": 1.0,
        "reviews_reached": 3,
        "satisfied": 2,
        "satisfaction_rate": 0.6667,
        "dimensions": dimensions(
            completion="2 1 0", progress="2 0 1", effect="3 0 0", satisfaction="2 0 1"
        ),
        "escalations": 0,
        "open_by_tier": NO_OPEN,
        "overdue": 0,
        **no_operations(2, 2),
    }
    assert stats(figures, unit_id="g3")["closed"] == 1  # D, closed as unreachable


def test_a_period_cuts_the_cohort_by_filing_time(figures: Engine) -> None:
    # [day 1, day 3): D and E; F was filed on day 3 and is left out.
    assert stats(figures, date_from=T0 + timedelta(days=1), date_to=T0 + timedelta(days=3)) == {
        "received": 2,
        "merged": 0,
        "closed": 1,
        "completion_rate": 0.5,
        "on_time_rate": 1.0,
        "reviews_reached": 0,
        "satisfied": 0,
        "satisfaction_rate": None,
        "dimensions": dimensions(),
        "escalations": 2,
        "open_by_tier": {"1d": 0, "3d": 0, "5d": 1, "1m": 0},
        "overdue": 0,
        **no_operations(2, 1, 1),
    }


def test_a_period_and_a_unit_together(figures: Engine) -> None:
    day0 = stats(figures, unit_id="g2", date_from=T0, date_to=T0 + timedelta(days=1))
    assert (day0["received"], day0["closed"], day0["on_time_rate"]) == (1, 1, 0.0)  # B, late
    assert day0["satisfaction_rate"] == 1.0  # partly counts as satisfied
    only_from = stats(figures, date_from=T0 + timedelta(days=3))
    assert (only_from["received"], only_from["overdue"]) == (1, 1)  # F
    only_to = stats(figures, date_to=T0 + timedelta(hours=2))
    assert only_to["received"] == 1  # A; B was filed at 02:00, the end is excluded


def test_a_period_in_beijing_time_is_the_same_instant(figures: Engine) -> None:
    beijing = timezone(timedelta(hours=8))
    utc = stats(figures, date_from=T0 + timedelta(days=1), date_to=T0 + timedelta(days=3))
    local = stats(
        figures,
        date_from=(T0 + timedelta(days=1)).astimezone(beijing),
        date_to=(T0 + timedelta(days=3)).astimezone(beijing),
    )
    assert local == utc


def test_nothing_received(figures: Engine) -> None:
    empty: dict[str, Any] = stats(figures, unit_id="nowhere")
    assert empty == {
        "received": 0,
        "merged": 0,
        "closed": 0,
        "completion_rate": None,
        "on_time_rate": None,
        "reviews_reached": 0,
        "satisfied": 0,
        "satisfaction_rate": None,
        "dimensions": dimensions(),
        "escalations": 0,
        "open_by_tier": NO_OPEN,
        "overdue": 0,
        **no_operations(0, 0),
    }


def test_naive_dates_are_refused(figures: Engine) -> None:
    with pytest.raises(ValueError, match="aware"):
        stats(figures, date_from=T0.replace(tzinfo=None))
