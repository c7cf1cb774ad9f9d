"""The assessment's figures over HTTP, on the demo town: what a supervisor and a grid
worker read, and the refusals (which write nothing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api import roster
from closeloop.keys import keyring
from closeloop.store import RequestStore, store_env
from closeloop.workcalendar import post_rule
from domain.ladder import UnitKind
from projections.runner import Projector
from tests.api.conftest import Site
from tests.projections.conftest import RequestLog

ZONE = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)
#: 2026-10-13 09:00 local, a working Tuesday (after the National Day holiday, during
#: which the response window's clock stops): every life here is in October (local).
OCT = datetime(2026, 10, 13, 1, tzinfo=UTC)


@dataclass
class Town:
    site: Site
    grids: list[roster.Unit]  # the demo grids, in order
    log: RequestLog
    store: RequestStore

    def file(self, grid: int, at: datetime) -> str:
        g = self.grids[grid]
        community = roster.get_unit(g.parent_id or "", db=self.site.engine)
        assert community is not None and community.parent_id is not None
        return self.log.file(at, grid=g.id, community=community.id, town=community.parent_id)

    def project(self) -> None:
        settings = self.site.settings
        projector = Projector(
            settings.database_url,
            store=self.store,
            sealer=keyring(settings),
            posts_rule=post_rule(settings, self.site.engine),
        )
        while projector.run_batch():
            pass
        projector.close()

    def get(self, path: str, who: str = "supervisor1", **params: Any) -> Any:
        return self.site.client.get(f"/api/v1{path}", params=params, headers=self.site.headers[who])


@pytest.fixture
def town(make_site: Callable[..., Site]) -> Iterator[Town]:
    site = make_site()
    store = RequestStore(env=store_env(site.settings.database_url, keyring(site.settings)))
    grids = roster.list_units(db=site.engine, kind=UnitKind.GRID)
    yield Town(site, grids, RequestLog(store), store)
    store.close()


def _worker_grid(town: Town, username: str) -> int:
    user = roster.get_user_by_username(username, db=town.site.engine)
    assert user is not None
    [post] = user.assignments
    return next(i for i, g in enumerate(town.grids) if g.id == post.unit_id)


def test_a_supervisor_reads_a_grid_month_with_each_rate_s_numerator_and_denominator(
    town: Town,
) -> None:
    first = _worker_grid(town, "worker1")
    for i in range(4):
        request = town.file(first, OCT + i * H)
        # two accepted within the 2-hour window, one late, one never
        if i < 3:
            town.log.accept(request, OCT + i * H + (H if i < 2 else 5 * H), actor="worker1")
        if i == 0:
            town.log.resolve(request, OCT + 2 * H)
            town.log.review(request, OCT + 3 * H, "yes yes yes yes")
    town.project()
    grid = town.grids[first].id
    answer = town.get("/performance", unit_id=grid, period="2026-10")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["unit"]["id"] == grid and body["unit"]["kind"] == "grid"
    assert body["period"]["label"] == "2026-10" and body["period"]["months"] == ["2026-10"]
    assert body["counts"]["assigned"] == 4 and body["counts"]["accepted"] == 3
    response = body["rates"]["response_rate"]
    assert (response["value"], response["numerator"], response["denominator"]) == (0.5, 2, 4)
    assert body["rates"]["resolution_rate"]["value"] == 0.25
    assert body["rates"]["satisfaction_rate"]["value"] == 1.0
    assert body["resolve_hours"] == {"count": 1, "p50": 2.0, "p90": 2.0}
    # the same figures by from/to (the stints' rows, not the monthly buckets)
    span = town.get(
        "/performance", unit_id=grid, **{"from": "2026-10-01", "to": "2026-10-14T00:00:00"}
    ).json()
    assert span["counts"] == body["counts"] and span["period"]["months"] is None
    # November holds none of them: no rate rather than 0% or 100%
    empty = town.get("/performance", unit_id=grid, period="2026-11").json()
    assert empty["counts"]["assigned"] == 0 and empty["rates"]["response_rate"]["value"] is None


def test_the_league_table_ranks_the_grids_and_flags_those_below_the_floor(town: Town) -> None:
    good, poor = _worker_grid(town, "worker1"), _worker_grid(town, "worker2")
    for i in range(3):
        request = town.file(good, OCT + i * H)
        town.log.accept(request, OCT + i * H + H / 2, actor="worker1")
        town.log.resolve(request, OCT + i * H + H)
        town.log.review(request, OCT + i * H + 2 * H, "yes yes yes yes")
    for i in range(3):
        request = town.file(poor, OCT + i * H)
        if i == 0:
            town.log.accept(request, OCT + 4 * H, actor="worker2")  # late
    # September: the poor grid was first there (rank change)
    september = OCT - timedelta(days=20)
    early = town.file(poor, september)
    town.log.accept(early, september + H / 2, actor="worker2")
    town.log.resolve(early, september + H)
    town.log.review(early, september + 2 * H, "yes yes yes yes")
    town.project()

    answer = town.get("/rankings", level="grid", period="2026-10", metric="response_rate")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["previous_period"]["label"] == "2026-09"
    assert body["floors"]["response_rate"] == 0.9
    ranked = [item for item in body["items"] if item["rank"] is not None]
    assert [item["unit_id"] for item in ranked] == [town.grids[good].id, town.grids[poor].id]
    top, bottom = ranked
    assert (top["rank"], top["value"], top["flagged"]) == (1, 1.0, False)
    assert (bottom["rank"], bottom["value"], bottom["flagged"]) == (2, 0.0, True)
    assert "response_rate" in bottom["below_floor"] and body["flagged"] == 1
    assert (bottom["previous_rank"], bottom["rank_change"]) == (1, -1)
    assert top["previous_rank"] is None and top["rank_change"] is None
    # every grid is listed: those without requests come last, unranked
    assert len(body["items"]) == len(town.grids)
    lower = town.get("/rankings", level="grid", period="2026-10", metric="response_rate", floor=0)
    assert lower.json()["flagged"] == 0

    communities = town.get("/rankings", level="community", period="2026Q4").json()
    assert communities["metric"] == "three_rates"
    assert sum(item["counts"]["assigned"] for item in communities["items"]) == 6


def test_a_grid_worker_reads_their_own_month_and_nobody_else_s(town: Town) -> None:
    mine = _worker_grid(town, "worker1")
    accepted = town.file(mine, OCT)
    town.log.accept(accepted, OCT + H, actor="worker1")
    town.file(mine, OCT + 2 * H)  # nobody accepts it: still counts against the post
    town.project()
    answer = town.get("/performance/me", who="worker1", period="2026-10")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["username"] == "worker1"
    assert (body["counts"]["assigned"], body["counts"]["responded"]) == (2, 1)
    assert {r["request_id"] for r in body["requests"]} == set(town.log.states)
    [standing] = body["standing"]
    assert standing["unit_id"] == town.grids[mine].id and standing["rank"] == 1
    refused = town.get("/performance/me", who="supervisor1")
    assert refused.status_code == 403 and refused.json()["code"] == "not_a_handler"
    for who in ("worker1", "caller1"):
        assert town.get("/performance", who=who).status_code == 403
        assert town.get("/rankings", who=who).status_code == 403


@pytest.mark.parametrize(
    ("path", "params", "code", "field"),
    [
        ("/performance", {"period": "2026-13"}, "bad_period", "period"),
        ("/performance", {"period": "last month"}, "bad_period", "period"),
        ("/performance", {"period": "2026-10", "from": "2026-10-01"}, "bad_period", "period"),
        ("/performance", {"from": "2026-10-05", "to": "2026-10-01"}, "bad_period", "from"),
        ("/performance", {"from": "2026-10-05"}, "bad_period", "from"),
        ("/performance", {"unit_id": "nowhere"}, "unknown_unit", "unit_id"),
        ("/performance", {"level": "mayor"}, "unknown_level", "level"),
        ("/rankings", {"level": "street"}, "unknown_level", "level"),
        ("/rankings", {"metric": "speed"}, "unknown_metric", "metric"),
        ("/performance/trend", {"unit_id": "nowhere"}, "unknown_unit", "unit_id"),
    ],
)
def test_a_bad_question_is_refused_with_its_reason(
    site: Site, path: str, params: dict[str, str], code: str, field: str
) -> None:
    answer = site.client.get(f"/api/v1{path}", params=params, headers=site.headers["supervisor1"])
    assert answer.status_code == 422, answer.text
    assert (answer.json()["code"], answer.json()["field"]) == (code, field)
    assert answer.json()["detail"]


def test_the_weekly_trend_gives_twelve_weeks_the_current_last(town: Town) -> None:
    now = datetime.now(UTC)
    local = now.astimezone(ZONE)
    monday = local.date() - timedelta(days=local.weekday())
    this_week = datetime.combine(monday, datetime.min.time(), ZONE)
    at = max(now - H, this_week)  # in this week, however early in it the test runs
    grid = _worker_grid(town, "worker1")
    request = town.file(grid, at)
    town.log.accept(request, at + timedelta(minutes=1), actor="worker1")
    town.project()
    body = town.get("/performance/trend", unit_id=town.grids[grid].id).json()
    assert body["rates"] == ["response_rate", "resolution_rate", "satisfaction_rate"]
    weeks = body["weeks"]
    assert len(weeks) == 12 and weeks[-1]["assigned"] == 1
    assert weeks[-1]["response_rate"] == 1.0 and weeks[0]["response_rate"] is None
    assert weeks[-1]["week"] == monday.isoformat()
