"""Hot spots and the month's topics over HTTP: who may read and mark them, what they say,
and that every refusal writes nothing; the hot-spot page and the board's topics."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from api import roster
from closeloop.keys import keyring
from closeloop.store import RequestStore, store_env
from closeloop.topics import topic_table
from domain.ladder import UnitKind
from projections.runner import Projector
from tests.api.conftest import Site, build_site
from tests.projections.conftest import RequestLog
from web.hotspots import this_month
from web.i18n import EN, ZH, Translator

API = "/api/v1/hotspots"
TOPICS = f"{API}/topics"
DAY = timedelta(days=1)
#: The fixed period most tests read: the 30 days from T0.
T0 = datetime(2025, 10, 1, tzinfo=UTC)
PERIOD = {"from": "2025-10-01", "to": "2025-10-31"}


@dataclass(frozen=True)
class World:
    site: Site
    town: str
    hospital: str  # 医院西路社区
    grid1: str  # its first grid (worker1's)
    grid2: str  # its second grid
    other_grid: str  # a grid of 祥和苑社区

    def get(self, path: str, who: str = "supervisor1", **params: Any) -> Any:
        return self.site.client.get(path, params=params, headers=self.site.headers[who])

    def post(self, path: str, body: Any = None, who: str = "supervisor1") -> Any:
        return self.site.client.post(path, json=body, headers=self.site.headers[who])

    def topics(self) -> int:
        with self.site.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(topic_table)).scalar_one())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The demo town, with requests filed through the event store and projected:

    - 医院西路社区第一网格, water_leak: three within the period (days 2, 10, 25: a repeat)
      and one in the 30 days before it;
    - its second grid, noise: one in the period; two in the period before;
    - 祥和苑社区's first grid, water_leak: one in the period;
    - and, for the default period (the last 30 days), two pothole requests in the first
      grid filed two and five days ago.
    """
    with pytest.MonkeyPatch.context() as env:
        site = build_site(tmp_path_factory.mktemp("hotspots"), env)
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

    def file(at: datetime, grid: roster.Unit, category: str) -> None:
        community = hospital if grid.parent_id == hospital.id else other
        log.file(at, grid=grid.id, community=community.id, town=town.id, category=category)

    for day in (2, 10, 25):
        file(T0 + day * DAY, grid1, "water_leak")
    file(T0 - 5 * DAY, grid1, "water_leak")
    file(T0 + 3 * DAY, grid2, "noise")
    file(T0 - 20 * DAY, grid2, "noise")
    file(T0 - 29 * DAY, grid2, "noise")
    file(T0 + 4 * DAY, other_grid, "water_leak")
    now = datetime.now(UTC)
    file(now - 2 * DAY, grid1, "pothole")
    file(now - 5 * DAY, grid1, "pothole")
    projector = Projector(site.settings.database_url, store=store, sealer=keys)
    while projector.run_batch():
        pass
    projector.close()
    store.close()
    yield World(site, town.id, hospital.id, grid1.id, grid2.id, other_grid.id)
    site.engine.dispose()


@pytest.fixture(autouse=True)
def no_topics(world: World) -> Iterator[None]:
    """Each test starts without topics, and leaves none."""
    yield
    with world.site.engine.begin() as conn:
        conn.execute(delete(topic_table))


def cells(answer: Any) -> dict[tuple[str, str], dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    return {(c["grid_id"], c["category"]): c for c in answer.json()["cells"]}


# ---- GET /hotspots ----------------------------------------------------------------------


def test_counts_by_category_and_grid_against_the_period_before(world: World) -> None:
    answer = world.get(API, **PERIOD)
    found = cells(answer)
    water = found[(world.grid1, "water_leak")]
    assert (water["count"], water["previous"], water["change"], water["change_share"]) == (
        3,
        1,
        2,
        2.0,
    )
    assert water["repeat"] is True
    assert water["run"] == {
        "count": 3,
        "first": (T0 + 2 * DAY).isoformat(),
        "last": (T0 + 25 * DAY).isoformat(),
    }
    assert (water["grid_name"], water["community_name"], water["town_name"]) == (
        "医院西路社区第一网格",
        "医院西路社区",
        "城关镇",
    )
    noise = found[(world.grid2, "noise")]
    assert (noise["count"], noise["previous"], noise["change_share"], noise["repeat"]) == (
        1,
        2,
        -0.5,
        False,
    )
    assert answer.json()["cells"][0]["category"] == "water_leak"  # the most first
    assert answer.json()["total"] == {
        "count": 5,
        "previous": 3,
        "change": 2,
        "change_share": 0.6667,
        "repeats": 1,
    }
    by_category = {c["category"]: c["count"] for c in answer.json()["by_category"]}
    assert by_category == {"water_leak": 4, "noise": 1}


def test_a_unit_narrows_them(world: World) -> None:
    community = world.get(API, unit_id=world.hospital, **PERIOD)
    assert set(cells(community)) == {(world.grid1, "water_leak"), (world.grid2, "noise")}
    assert community.json()["unit"] == {
        "id": world.hospital,
        "name": "医院西路社区",
        "kind": "community",
    }
    grid = world.get(API, unit_id=world.other_grid, **PERIOD)
    assert set(cells(grid)) == {(world.other_grid, "water_leak")}
    town = world.get(API, unit_id=world.town, **PERIOD)
    assert town.json()["total"]["count"] == 5


def test_the_repeat_rule_and_the_default_period(world: World) -> None:
    stricter = cells(world.get(API, repeat_count=3, repeat_days=20, **PERIOD))
    assert stricter[(world.grid1, "water_leak")]["repeat"] is False
    two = cells(world.get(API, repeat_count=2, repeat_days=8, **PERIOD))
    assert two[(world.grid1, "water_leak")]["run"]["count"] == 2
    # no period: the last 30 days, with the two recent pothole requests only
    recent = world.get(API)
    assert set(cells(recent)) == {(world.grid1, "pothole")}
    end = datetime.fromisoformat(recent.json()["to"])
    assert end - datetime.fromisoformat(recent.json()["from"]) == 30 * DAY
    assert abs(end - datetime.now(UTC)) < timedelta(minutes=5)


def test_limit_lists_the_first_cells_and_counts_them_all(world: World) -> None:
    answer = world.get(API, limit=1, **PERIOD)
    assert len(answer.json()["cells"]) == 1
    assert answer.json()["cells_total"] == 3


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"unit_id": "no-such-unit"}, 422, "unknown_unit"),
        ({"from": "2025-10-31", "to": "2025-10-01"}, 422, "bad_period"),
        ({"from": "1999-12-31"}, 422, "invalid_input"),
        ({"repeat_count": "1"}, 422, "invalid_input"),
        ({"repeat_days": "0"}, 422, "invalid_input"),
        ({"limit": "501"}, 422, "invalid_input"),
    ],
)
def test_bad_questions_are_refused(
    world: World, params: dict[str, str], status: int, code: str
) -> None:
    answer = world.get(API, **params)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code


@pytest.mark.parametrize("who", ["worker1", "caller1", "dispatcher1", "partner1"])
def test_only_supervisors_and_admins_read_and_mark_hot_spots(world: World, who: str) -> None:
    answer = world.get(API, who=who)
    assert (answer.status_code, answer.json()["code"]) == (403, "role_required")
    body = {"month": "2026-11", "unit_id": world.grid1, "category": "noise", "title": "噪音"}
    answer = world.post(TOPICS, body, who=who)
    assert (answer.status_code, answer.json()["code"]) == (403, "role_required")
    assert world.topics() == 0
    # everyone on the staff may read the topics
    assert world.get(TOPICS, who=who).status_code == 200


def test_admins_read_them_and_nobody_unsigned(world: World) -> None:
    assert world.get(API, who="admin", **PERIOD).status_code == 200
    anonymous = world.site.client.get(API)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "sign_in")
    anonymous = world.site.client.post(TOPICS, json={})
    assert anonymous.status_code == 401


# ---- the month's topics -------------------------------------------------------------------


def topic(world: World, **fields: str) -> dict[str, str]:
    body = {
        "month": "2026-11",
        "unit_id": world.grid1,
        "category": "water_leak",
        "title": "第一网格反复漏水",
        "note": "查清楼上管道，约物业一起修",
    }
    return {**body, **fields}


def test_a_topic_is_made_listed_and_closed(world: World) -> None:
    made = world.post(TOPICS, topic(world))
    assert made.status_code == 201, made.text
    item = made.json()
    assert {k: item[k] for k in ("month", "unit_id", "category", "title", "created_by")} == {
        "month": "2026-11",
        "unit_id": world.grid1,
        "category": "water_leak",
        "title": "第一网格反复漏水",
        "created_by": "supervisor1",
    }
    assert (item["unit_name"], item["unit_kind"], item["community_id"]) == (
        "医院西路社区第一网格",
        "grid",
        world.hospital,
    )
    assert item["closed_at"] is None

    listed = world.get(TOPICS, who="worker1", month="2026-11").json()
    assert listed["month"] == "2026-11"
    assert [x["id"] for x in listed["items"]] == [item["id"]]
    assert world.get(TOPICS, month="2026-10").json()["items"] == []

    closed = world.post(f"{TOPICS}/{item['id']}/close", who="admin")
    assert closed.status_code == 200, closed.text
    assert (closed.json()["closed_by"], closed.json()["closed_at"] is not None) == (
        "admin",
        True,
    )
    again = world.post(f"{TOPICS}/{item['id']}/close")
    assert (again.status_code, again.json()["code"]) == (409, "topic_closed")
    assert world.get(TOPICS, month="2026-11").json()["items"][0]["closed_by"] == "admin"
    # closed, the same hot spot may be made the month's topic again
    assert world.post(TOPICS, topic(world)).status_code == 201
    assert world.topics() == 2


def test_the_same_unit_and_category_is_a_topic_once_a_month(world: World) -> None:
    assert world.post(TOPICS, topic(world)).status_code == 201
    twice = world.post(TOPICS, topic(world, title="又一次"))
    assert (twice.status_code, twice.json()["code"]) == (409, "topic_exists")
    assert world.topics() == 1
    # another month, another unit or another category is another topic
    assert world.post(TOPICS, topic(world, month="2026-12")).status_code == 201
    assert world.post(TOPICS, topic(world, unit_id=world.hospital)).status_code == 201
    assert world.post(TOPICS, topic(world, category="noise")).status_code == 201
    assert world.topics() == 4


def test_this_month_by_default(world: World) -> None:
    assert world.post(TOPICS, topic(world, month=this_month())).status_code == 201
    listed = world.get(TOPICS).json()
    assert listed["month"] == this_month()
    assert len(listed["items"]) == 1


@pytest.mark.parametrize(
    ("fields", "status", "code", "field"),
    [
        ({"month": "2026-13"}, 422, "bad_month", "month"),
        ({"month": "2026/11"}, 422, "bad_month", "month"),
        ({"month": "1999-12"}, 422, "bad_month", "month"),
        ({"month": ""}, 422, "bad_month", "month"),
        ({"unit_id": "no-such-unit"}, 422, "unknown_unit", "unit_id"),
        ({"category": "no_such_category"}, 422, "unknown_category", "category"),
        ({"title": "   "}, 422, "required", "title"),
        ({"title": ""}, 422, "required", "title"),
        ({"title": "长" * 201}, 422, "invalid_input", None),
        ({"note": "\x00"}, 422, "invalid_input", None),
        ({"extra": "x"}, 422, "invalid_input", None),
    ],
)
def test_refusals_write_nothing(
    world: World, fields: dict[str, str], status: int, code: str, field: str | None
) -> None:
    answer = world.post(TOPICS, topic(world, **fields))
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    assert answer.json().get("field") == field
    assert world.topics() == 0


def test_a_town_is_not_a_topics_unit(world: World) -> None:
    answer = world.post(TOPICS, topic(world, unit_id=world.town))
    assert (answer.status_code, answer.json()["code"], answer.json()["field"]) == (
        422,
        "topic_unit_kind",
        "unit_id",
    )
    assert world.topics() == 0


def test_a_missing_title_and_a_bad_month_query(world: World) -> None:
    body = topic(world)
    del body["title"]
    answer = world.post(TOPICS, body)
    assert (answer.status_code, answer.json()["code"]) == (422, "invalid_input")
    assert answer.json()["detail"][0]["loc"] == ["body", "title"]
    answer = world.get(TOPICS, month="November")
    assert (answer.status_code, answer.json()["code"]) == (422, "bad_month")
    assert world.topics() == 0


def test_closing_an_unknown_topic(world: World) -> None:
    answer = world.post(f"{TOPICS}/no-such-topic/close")
    assert (answer.status_code, answer.json()["code"]) == (404, "topic_not_found")
    made = world.post(TOPICS, topic(world)).json()
    refused = world.post(f"{TOPICS}/{made['id']}/close", who="worker1")
    assert refused.status_code == 403
    assert world.get(TOPICS, month="2026-11").json()["items"][0]["closed_at"] is None


# ---- the pages ----------------------------------------------------------------------------


def test_the_hot_spot_page_in_both_languages(world: World) -> None:
    made = world.post(TOPICS, topic(world, month="2025-10", unit_id=world.hospital))
    assert made.status_code == 201
    seen = {
        ZH: ("热点诉求", "▲ 重复：30 天内 3 件（10-03 至 10-26）", "✓ 2025-10 一题", "每月一题"),
        EN: ("Hot spots", "▲ Repeat: 3 within 30 days (10-03 to 10-26)", "✓ Topic of 2025-10"),
    }
    for lang, words in seen.items():
        page = world.site.client.get(
            "/hotspots",
            params={**PERIOD, "month": "2025-10", "lang": lang},
            headers=world.site.cookie("supervisor1"),
        )
        assert page.status_code == 200, page.text
        for word in words:
            assert word in page.text, (lang, word)
        assert 'data-repeat="yes"' in page.text and 'data-repeat="no"' in page.text
        assert "第一网格反复漏水" in page.text  # the month's topic, listed
        assert 'href="/hotspots"' in page.text  # in the navigation
    part = world.site.client.get(
        "/hotspots/list", params=PERIOD, headers=world.site.cookie("supervisor1")
    )
    assert part.status_code == 200 and "<html" not in part.text
    assert 'data-cell="' in part.text


def test_the_hot_spot_page_is_for_supervisors(world: World) -> None:
    page = world.site.client.get("/hotspots", headers=world.site.cookie("worker1"))
    assert page.status_code == 403
    assert 'href="/hotspots"' not in page.text
    part = world.site.client.get("/hotspots/list", headers=world.site.cookie("worker1"))
    assert part.status_code == 403
    unsigned = world.site.client.get("/hotspots", follow_redirects=False)
    assert unsigned.status_code == 303


def test_the_board_shows_this_months_topics(world: World) -> None:
    cookie = world.site.cookie("supervisor1")
    board = world.site.client.get("/board", params={"lang": "en"}, headers=cookie)
    assert "No topic for this month yet." in board.text
    made = world.post(TOPICS, topic(world, month=this_month(), title="治理楼道漏水"))
    assert made.status_code == 201
    board = world.site.client.get("/board", params={"lang": "en"}, headers=cookie)
    assert "治理楼道漏水" in board.text
    assert f"This month's topics ({this_month()})" in html.unescape(board.text)
    world.post(f"{TOPICS}/{made.json()['id']}/close")
    board = world.site.client.get("/board", headers=cookie)
    assert "治理楼道漏水" not in board.text  # closed: off the board


def test_the_new_codes_speak_both_languages() -> None:
    codes = ("bad_month", "topic_unit_kind", "topic_exists", "topic_not_found", "topic_closed")
    for lang in (ZH, EN):
        t = Translator(lang)
        for key in [f"reason.{c}" for c in codes] + ["nav.hotspots", "hotspots.topic_made"]:
            assert t(key) != key, (lang, key)
