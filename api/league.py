"""League tables (三率排名) as ``GET /rankings`` answers them, for the pages and the monthly
report: the units of one kind ranked by a metric over a period, the floors, and each
unit's rank in the period before.

The counting is :mod:`projections.performance`'s (``counts_by_unit``, ``ranked``); this
module only puts the roster's units beside it, so the rankings page, a unit's page, a
worker's standing and the report read one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from api import roster
from closeloop.settings import Settings
from domain.ladder import UnitKind
from domain.performance import THREE_RATES
from domain.periods import Period
from projections import performance as perf


def floors_of(settings: Settings, floor_percent: float | None = None) -> dict[str, float]:
    """Each of the three rates' floor as a fraction: ``floor_percent`` for all of them when
    given, else ``CLOSELOOP_RATE_FLOORS`` (90% for a rate it leaves out)."""
    return {
        name: (floor_percent / 100 if floor_percent is not None else settings.rate_floor(name))
        for name in THREE_RATES
    }


@dataclass(frozen=True)
class League:
    """A league table: its rows (``perf.ranked``'s, best first, unranked last)."""

    kind: UnitKind
    period: Period
    previous: Period
    metric: str
    floors: dict[str, float]
    items: list[dict[str, Any]]

    @property
    def ranked(self) -> int:
        """How many units have a rank (a value of the metric)."""
        return sum(1 for item in self.items if item["rank"] is not None)

    @property
    def flagged(self) -> int:
        return sum(1 for item in self.items if item["flagged"])

    def row(self, unit_id: str) -> dict[str, Any] | None:
        return next((item for item in self.items if item["unit_id"] == unit_id), None)


def league_table(
    conn: Connection,
    kind: UnitKind,
    period: Period,
    floors: dict[str, float],
    metric: str = perf.THREE,
) -> League:
    """Every unit of ``kind`` ranked by ``metric`` over ``period``."""
    before = period.previous()
    units = roster.unit_names(db=conn, kind=kind)
    now = perf.counts_by_unit(conn, period, kind)
    then = perf.counts_by_unit(conn, before, kind)
    return League(
        kind, period, before, metric, floors, perf.ranked(units, now, then, metric, floors)
    )
