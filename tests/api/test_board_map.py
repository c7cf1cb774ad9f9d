"""The board's map over HTTP (``GET /api/v1/board/map``): which points each reader gets,
that requests without a point are counted and not listed, that nothing of the resident
goes with a point, the refusals; the board's map section, and the tile server's place in
the page's Content-Security-Policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api import roster
from api.headers import CONTENT_SECURITY_POLICY
from closeloop.keys import keyring
from closeloop.settings import Settings, SettingsError
from closeloop.store import RequestStore, store_env
from domain.ladder import UnitKind
from projections.runner import Projector
from tests.api.conftest import Site, build_site
from tests.projections.conftest import RequestLog

API = "/api/v1/board/map"
NAME, PHONE, ADDRESS = "钱阿姨", "13700000009", "祥和苑7号楼1单元302室"
POINT_KEYS = {
    "id", "lat", "long", "status", "tier", "level", "overdue", "warned", "category",
    "grid_id", "community_id", "town_id", "deadline", "updated_at",
}  # fmt: skip


@dataclass(frozen=True)
class World:
    site: Site
    grid1: str  # worker1's grid
    grid2: str  # worker2's grid
    in_grid1: str  # open, with a point, in grid1
    waiting: str  # waiting for dispatch, with a point, in grid1
    unplaced: str  # open, without a point, in grid1
    in_grid2: str  # open, with a point, in grid2
    resolved: str  # resolved, with a point, in another community

    def get(self, who: str | None = "supervisor1", **params: Any) -> Any:
        headers = self.site.headers[who] if who else {}
        return self.site.client.get(API, params=params, headers=headers)

    def ids(self, who: str = "supervisor1", **params: Any) -> set[str]:
        answer = self.get(who, **params)
        assert answer.status_code == 200, answer.text
        return {p["id"] for p in answer.json()["items"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as env:
        site = build_site(tmp_path_factory.mktemp("map"), env)
    units = roster.list_units(db=site.engine)
    town = next(u for u in units if u.kind is UnitKind.TOWN)
    communities = {u.name: u for u in units if u.kind is UnitKind.COMMUNITY}
    hospital = communities["医院西路社区"]
    other = next(c for name, c in communities.items() if name != "医院西路社区")
    grids = [u for u in units if u.kind is UnitKind.GRID and u.parent_id == hospital.id]
    grid1, grid2 = sorted(grids, key=lambda g: g.name)[:2]
    other_grid = next(u for u in units if u.kind is UnitKind.GRID and u.parent_id == other.id)

    keys = keyring(site.settings)
    store = RequestStore(env=store_env(site.settings.database_url, keys))
    log = RequestLog(store)
    at = datetime.now(UTC) - timedelta(hours=2)
    where = {"town": town.id, "name": NAME, "phone": PHONE}
    in_grid1 = log.file(
        at, grid=grid1.id, community=hospital.id, lat=39.19, long=99.83, address=ADDRESS, **where
    )
    waiting = log.file(
        at, grid=grid1.id, community=hospital.id, lat=39.191, long=99.832, manual=True, **where
    )
    unplaced = log.file(at, grid=grid1.id, community=hospital.id, **where)
    in_grid2 = log.file(at, grid=grid2.id, community=hospital.id, lat=39.2, long=99.84, **where)
    resolved = log.file(at, grid=other_grid.id, community=other.id, lat=39.3, long=99.9, **where)
    log.accept(resolved, at + timedelta(minutes=5))
    log.resolve(resolved, at + timedelta(minutes=10))
    projector = Projector(site.settings.database_url, store=store, sealer=keys)
    while projector.run_batch():
        pass
    projector.close()
    store.close()
    yield World(site, grid1.id, grid2.id, in_grid1, waiting, unplaced, in_grid2, resolved)
    site.engine.dispose()


def test_a_supervisor_gets_every_open_request_with_a_point(world: World) -> None:
    answer = world.get()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {p["id"] for p in body["items"]} == {world.in_grid1, world.waiting, world.in_grid2}
    assert body["total"] == 3
    assert body["without_point"] == 1  # counted, not listed
    assert world.unplaced not in {p["id"] for p in body["items"]}
    assert body["statuses"] == ["waiting_dispatch", "assigned", "in_progress"]
    point = next(p for p in body["items"] if p["id"] == world.in_grid1)
    assert (point["lat"], point["long"], point["status"]) == (39.19, 99.83, "assigned")
    assert (point["grid_id"], point["tier"], point["overdue"]) == (world.grid1, "1d", False)
    assert point["category"] == "water"
    assert world.ids("admin") == {world.in_grid1, world.waiting, world.in_grid2}


def test_a_point_carries_nothing_of_the_resident(world: World) -> None:
    body = world.get().json()
    for point in body["items"]:
        assert set(point) == POINT_KEYS
    text = json.dumps(body, ensure_ascii=False)
    for secret in (NAME, PHONE, ADDRESS, "钱*", "137****0009"):
        assert secret not in text


def test_resolved_requests_when_asked_for(world: World) -> None:
    assert world.ids(status="resolved") == {world.resolved}
    both = world.ids(status=["assigned", "resolved"])
    assert both == {world.in_grid1, world.in_grid2, world.resolved}
    assert world.ids(status="waiting_dispatch") == {world.waiting}


def test_a_grid_worker_gets_the_points_of_their_grid_only(world: World) -> None:
    answer = world.get("worker1")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {p["id"] for p in body["items"]} == {world.in_grid1, world.waiting}
    assert body["total"] == 2
    assert body["without_point"] == 1
    # the other grid's worker gets none of worker1's, nor asking for worker1's grid
    assert world.ids("worker2") == {world.in_grid2}
    assert world.ids("worker2", unit_id=world.grid1) == set()
    other = world.get("worker2", unit_id=world.grid1).json()
    assert (other["total"], other["without_point"]) == (0, 0)


def test_filters_and_limit(world: World) -> None:
    assert world.ids(unit_id=world.grid2) == {world.in_grid2}
    assert world.ids(tier="3d") == set()
    assert world.ids(category="noise") == set()
    one = world.get(limit=1).json()
    assert len(one["items"]) == 1
    assert (one["total"], one["limit"]) == (3, 1)


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"status": "closed"}, "status", "invalid_input"),
        ({"limit": 0}, "limit", "invalid_input"),
        ({"limit": 2001}, "limit", "invalid_input"),
        ({"limit": "many"}, "limit", "invalid_input"),
        ({"tier": "9d"}, "tier", "invalid_input"),
        ({"unit_id": "no-such-unit"}, "unit_id", "unknown_unit"),
    ],
)
def test_bad_query_values_are_refused_with_the_reason(
    world: World, params: dict[str, Any], field: str, code: str
) -> None:
    answer = world.get(**params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == code
    assert field in json.dumps(body)


def test_who_may_not_read_the_map(world: World) -> None:
    assert world.get(None).status_code == 401
    for who in ("caller1", "partner1"):
        answer = world.get(who)
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "role_required"


def test_the_board_shows_the_map_and_its_table(world: World) -> None:
    page = world.site.client.get("/board", headers=world.site.cookie("supervisor1"))
    assert page.status_code == 200
    html = page.text
    assert 'id="board-map"' in html and 'role="region"' in html
    assert 'src="/static/vendor/leaflet/leaflet.js"' in html
    assert f'data-id="{world.in_grid1}" data-lat="39.19" data-long="99.83"' in html
    assert f'href="/requests/{world.in_grid2}"' in html
    assert "另有 1 件没有位置，不在地图上" in html
    assert NAME not in html and ADDRESS not in html
    assert 'data-tiles=""' in html  # no tile server: the page draws its own grid
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # the vendored library is served from the app itself
    script = world.site.client.get("/static/vendor/leaflet/leaflet.js")
    assert script.status_code == 200 and "Leaflet 1.9.4" in script.text
    assert world.site.client.get("/static/vendor/leaflet/LICENSE").status_code == 200


def test_the_map_table_reloads_with_the_filters(world: World) -> None:
    answer = world.site.client.get(
        "/board/map/list",
        params={"unit_id": world.grid2, "lang": "en"},
        headers=world.site.cookie("supervisor1"),
    )
    assert answer.status_code == 200
    assert world.in_grid2 in answer.text
    assert world.in_grid1 not in answer.text
    assert "1 requests on the map" in answer.text


def test_a_tile_server_is_allowed_on_the_board_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with pytest.MonkeyPatch.context() as env:
        site = build_site(
            tmp_path_factory.mktemp("tiles"),
            env,
            CLOSELOOP_MAP_TILES="https://{s}.tiles.example.org/{z}/{x}/{y}.png",
            CLOSELOOP_MAP_ATTRIBUTION="© Example <maps>",
        )
    try:
        board = site.client.get("/board", headers=site.cookie("supervisor1"))
        assert board.status_code == 200
        policy = board.headers["content-security-policy"]
        directives = dict(
            (part.split()[0], part.split()[1:]) for part in policy.split("; ")
        )  # fmt: skip
        assert directives["img-src"] == ["'self'", "data:", "https://*.tiles.example.org"]
        assert directives["script-src"] == ["'self'"]
        assert directives["connect-src"] == ["'self'"]
        assert 'data-tiles="https://{s}.tiles.example.org/{z}/{x}/{y}.png"' in board.text
        assert 'data-attribution="© Example &lt;maps&gt;"' in board.text
        # every other page keeps the strict policy
        other = site.client.get("/hotspots", headers=site.cookie("supervisor1"))
        assert other.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    finally:
        site.engine.dispose()


@pytest.mark.parametrize(
    "template",
    [
        "ftp://tiles.example.org/{z}/{x}/{y}.png",
        "https://tiles.example.org/{z}/{x}.png",
        "https://tiles.example.org; img-src */{z}/{x}/{y}.png",
        "https://a{s}b.example.org/{z}/{x}/{y}.png",
    ],
)
def test_a_bad_tile_template_stops_the_start(
    template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOSELOOP_MAP_TILES", template)
    with pytest.raises(SettingsError, match="CLOSELOOP_MAP_TILES"):
        Settings.from_env()
