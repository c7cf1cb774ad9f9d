"""A month of requests on the demo town, written as the workflow writes them (the event
store, through :class:`tests.projections.conftest.RequestLog`) and read by the real
projection into the site's read models: what the assessment's pages and the monthly
report are tested on.

October 2026: 医院西路社区第二网格 (worker2) does well, 第一网格 (worker1) less so.
November 2026: the other way round, so both change places; 祥和苑社区第一网格 falls below the
floors; 祥和苑社区第二网格 gets nothing (no rank). Every resident has a name and phone of
their own, which no report may show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api import roster
from closeloop.keys import keyring
from closeloop.store import RequestStore, store_env
from closeloop.workcalendar import post_rule
from domain.ladder import UnitKind
from projections.runner import Projector
from tests.api.conftest import Site, build_site
from tests.projections.conftest import RequestLog

H = timedelta(hours=1)
#: Monday 2 November 2026, 10:00 in Shanghai.
NOVEMBER = datetime(2026, 11, 2, 2, tzinfo=UTC)
#: Tuesday 13 October 2026, 10:00 in Shanghai (after the National Day holidays).
OCTOBER = datetime(2026, 10, 13, 2, tzinfo=UTC)
#: A category whose name would be a formula in a spreadsheet (it must stay text).
FORMULA_CATEGORY = "=2+3"


@dataclass
class Scene:
    """The units by name and the requests by what happened to them."""

    town: str
    communities: dict[str, str]
    grids: dict[str, str]
    residents: list[tuple[str, str]] = field(default_factory=list)  # (name, phone)
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def flagged(self) -> set[str]:
        """The requests the November report lists: overdue or reopened there."""
        return {self.ids[k] for k in ("reopened_a", "overdue_a", "reopened_b", "reopened_c")}


class Filing:
    """Files requests in the demo grids, each with a resident of its own."""

    def __init__(self, log: RequestLog, scene: Scene) -> None:
        self.log, self.scene = log, scene

    def file(self, at: datetime, grid: str, category: str = "water_leak") -> str:
        number = len(self.scene.residents) + 1
        name, phone = f"隐私居民{number:02d}", f"1391234{number:04d}"
        self.scene.residents.append((name, phone))
        grid_id = self.scene.grids[grid]
        community = next(c for c, grids in COMMUNITY_OF.items() if grid in grids)
        return self.log.file(
            at,
            grid=grid_id,
            community=self.scene.communities[community],
            town=self.scene.town,
            category=category,
            name=name,
            phone=phone,
        )


COMMUNITY_OF = {
    "医院西路社区": ("医院西路社区第一网格", "医院西路社区第二网格"),
    "祥和苑社区": ("祥和苑社区第一网格", "祥和苑社区第二网格"),
}
A, B = COMMUNITY_OF["医院西路社区"]
C, D = COMMUNITY_OF["祥和苑社区"]


def _closed(log: RequestLog, request_id: str, at: datetime, worker: str, late: bool) -> None:
    """Accepted (late: after the two-hour window), resolved, the resident satisfied."""
    log.accept(request_id, at + (3 * H if late else H), actor=worker)
    log.resolve(request_id, at + 4 * H)
    log.review(request_id, at + 5 * H, "yes yes yes yes")


def fill(site: Site) -> Scene:
    """Write the two months into ``site`` and project them."""
    town = roster.list_units(db=site.engine, kind=UnitKind.TOWN)[0]
    communities = {u.name: u.id for u in roster.list_units(db=site.engine, kind=UnitKind.COMMUNITY)}
    grids = {u.name: u.id for u in roster.list_units(db=site.engine, kind=UnitKind.GRID)}
    scene = Scene(town.id, communities, grids)
    keys = keyring(site.settings)
    store = RequestStore(env=store_env(site.settings.database_url, keys))
    log = RequestLog(store)
    f = Filing(log, scene)
    ids = scene.ids

    # ---- October: B in time and satisfied, A late ------------------------------------
    for day in range(2):
        at = OCTOBER + timedelta(days=day)
        _closed(log, f.file(at, B), at, "worker2", late=False)
        _closed(log, f.file(at, A), at, "worker1", late=True)

    # ---- November -------------------------------------------------------------------
    t = NOVEMBER
    ids["closed_a"] = f.file(t, A)
    _closed(log, ids["closed_a"], t, "worker1", late=False)
    # reopened once at A, then closed; its category reads like a formula
    ids["reopened_a"] = r = f.file(t, A, category=FORMULA_CATEGORY)
    log.accept(r, t + H, actor="worker1")
    log.resolve(r, t + 2 * H)
    log.review(r, t + 3 * H, "yes yes yes no")
    log.accept(r, t + 4 * H, actor="worker1")
    log.resolve(r, t + 5 * H)
    log.review(r, t + 6 * H, "yes yes yes yes")
    # nobody takes it: up the whole ladder, overdue at the top
    ids["overdue_a"] = r = f.file(t + 24 * H, A, category="noise")
    for _ in range(4):
        log.deadline(r, log.due(r))
    # B: late and reopened
    day3 = t + 48 * H
    ids["late_b"] = f.file(day3, B)
    _closed(log, ids["late_b"], day3, "worker2", late=True)
    ids["reopened_b"] = r = f.file(day3, B)
    log.accept(r, day3 + 3 * H, actor="worker2")
    log.resolve(r, day3 + 4 * H)
    log.review(r, day3 + 5 * H, "no yes yes no")
    # C: resolved, the resident unhappy: reopened and left open
    day4 = t + 72 * H
    ids["reopened_c"] = r = f.file(day4, C, category="noise")
    log.accept(r, day4 + 5 * H, actor="worker9")
    log.resolve(r, day4 + 6 * H)
    log.review(r, day4 + 7 * H, "partly no no no")

    projector = Projector(
        site.settings.database_url,
        store=store,
        sealer=keys,
        keys=keys,
        posts_rule=post_rule(site.settings, site.engine),
    )
    while projector.run_batch():
        pass
    projector.close()
    store.close()
    return scene


def scene_site(folder: Path) -> tuple[Site, Scene]:
    """A :class:`Site` on a fresh data folder with the two months in it."""
    with pytest.MonkeyPatch.context() as env:
        site = build_site(folder, env)
    return site, fill(site)
