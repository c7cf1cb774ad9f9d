"""The 1351 ladder (网格民情处置"1351工作法"): tiers, the levels that own them, deadlines."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class Tier(StrEnum):
    """A request's weight, named after its time limit."""

    D1 = "1d"
    D3 = "3d"
    D5 = "5d"
    M1 = "1m"


class Level(StrEnum):
    """Who owns a tier."""

    GRID_WORKER = "grid_worker"  # 网格员: 立说立办
    GRID_BRANCH = "grid_branch"  # 网格党组织: 协商共办
    COMMUNITY_COMMITTEE = "community_committee"  # 社区党委: 专题研办
    TOWN_COMMITTEE = "town_committee"  # 镇党委: 协调督办


class UnitKind(StrEnum):
    TOWN = "town"
    COMMUNITY = "community"
    GRID = "grid"


LADDER: tuple[Tier, ...] = (Tier.D1, Tier.D3, Tier.D5, Tier.M1)

TIER_LEVEL: dict[Tier, Level] = {
    Tier.D1: Level.GRID_WORKER,
    Tier.D3: Level.GRID_BRANCH,
    Tier.D5: Level.COMMUNITY_COMMITTEE,
    Tier.M1: Level.TOWN_COMMITTEE,
}

TIER_DAYS: dict[Tier, int] = {Tier.D1: 1, Tier.D3: 3, Tier.D5: 5, Tier.M1: 30}

LEVEL_UNIT_KIND: dict[Level, UnitKind] = {
    Level.GRID_WORKER: UnitKind.GRID,
    Level.GRID_BRANCH: UnitKind.GRID,
    Level.COMMUNITY_COMMITTEE: UnitKind.COMMUNITY,
    Level.TOWN_COMMITTEE: UnitKind.TOWN,
}

PARENT_KIND: dict[UnitKind, UnitKind | None] = {
    UnitKind.TOWN: None,
    UnitKind.COMMUNITY: UnitKind.TOWN,
    UnitKind.GRID: UnitKind.COMMUNITY,
}

DEFAULT_DAY_SECONDS = 86400


def next_tier(tier: Tier) -> Tier | None:
    """The tier one level up, or None at the top (1m, town party committee)."""
    index = LADDER.index(tier)
    return LADDER[index + 1] if index + 1 < len(LADDER) else None


def tier_duration(tier: Tier, day_seconds: float = DEFAULT_DAY_SECONDS) -> timedelta:
    """A tier's time limit; a month is 30 days, a day lasts ``day_seconds``."""
    return timedelta(seconds=TIER_DAYS[tier] * day_seconds)


def deadline_for(tier: Tier, entered_at: datetime, day_seconds: float) -> datetime:
    """Deadlines count from entry into a tier."""
    return entered_at + tier_duration(tier, day_seconds)
