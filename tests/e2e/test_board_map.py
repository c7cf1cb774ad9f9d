"""The board's map in the browser: two requests filed with a point appear as markers
(keyboard-reachable, their popup linking to the request) and in the table under the map;
without a tile server the page draws its own grid and the points' box, and loads nothing
from anywhere but the app; with a tile server that does not answer, the first failed tile
gives way to the same drawn grid."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Request, expect

from closeloop.bootstrap import demo_password
from closeloop.temporal_server import free_ports
from tests.e2e.conftest import GRID1, Dev, People, log_in


def test_the_supervisor_sees_the_requests_on_the_map(people: People, stack: Dev) -> None:
    first = stack.file(description="井盖松动，车过有响声", lat=39.1851, long=99.8362)["id"]
    second = stack.file(description="路灯不亮，夜里很黑", lat=39.1893, long=99.8411)["id"]
    stack.act("worker1", second, "accept")

    page = people.page()
    asked: list[str] = []

    def seen(request: Request) -> None:
        asked.append(request.url)

    page.on("request", seen)
    page.goto("/login")
    page.fill("input[name=username]", "supervisor1")
    page.fill("input[name=password]", demo_password("supervisor1"))
    page.click("#login button[type=submit]")
    page.wait_for_url("**/board")

    board_map = page.locator("#board-map")
    expect(board_map).to_be_visible()
    expect(board_map).to_have_attribute(
        "aria-label", "诉求地图：可用方向键移动，用 Tab 键逐个选中诉求"
    )
    pin1 = board_map.locator(f'.map-pin[data-request-id="{first}"]')
    pin2 = board_map.locator(f'.map-pin[data-request-id="{second}"]')
    expect(pin1).to_be_visible()
    expect(pin2).to_be_visible()
    # the state in words and shape, not colour alone
    expect(pin1).to_have_attribute("data-status", "assigned")
    expect(pin2).to_have_attribute("data-status", "in_progress")
    expect(pin1).to_have_attribute("role", "button")
    expect(pin1).to_have_attribute("aria-label", f"漏水 #{first[:8]}，待签收，{GRID1}")
    expect(pin2).to_have_attribute("aria-label", f"漏水 #{second[:8]}，办理中，{GRID1}")
    legend = page.locator(".map-legend")
    for label in ("等待分派", "待签收", "办理中", "已超时（红圈和“!”）"):
        expect(legend).to_contain_text(label)

    # the same points in the table under the map, each linking to its request
    table = page.locator("#board-map-list")
    row1 = table.locator(f'tr[data-id="{first}"]')
    expect(row1).to_contain_text("待签收")
    expect(row1).to_contain_text("39.18510, 99.83620")
    expect(row1.locator("a")).to_have_attribute("href", f"/requests/{first}")
    expect(table.locator(f'tr[data-id="{second}"]')).to_contain_text("办理中")

    # no tile server set: the page drew a graticule and the box around the points
    expect(board_map).to_have_attribute("data-ground", "plain")
    expect(board_map.locator("path.map-graticule").first).to_be_attached()
    assert board_map.locator("path.map-graticule").count() >= 4
    expect(board_map.locator("path.map-points-box")).to_have_count(1)
    expect(board_map.locator("img.leaflet-tile")).to_have_count(0)
    expect(page.locator("[data-map-note]")).to_contain_text("未配置地图底图")

    # the keyboard reaches a marker; Enter opens its popup, whose link leads to the request
    pin1.focus()
    expect(pin1).to_be_focused()
    page.keyboard.press("Enter")
    link = board_map.locator(".leaflet-popup a[data-popup-link]")
    expect(link).to_have_attribute("href", f"/requests/{first}")
    expect(link).to_be_focused()
    link.press("Enter")
    page.wait_for_url(f"**/requests/{first}")

    # nothing came from anywhere but the app
    elsewhere = [url for url in asked if not url.startswith((stack.url, "data:"))]
    assert not elsewhere, f"the board asked other servers: {elsewhere}"
    assert any(u.endswith("/static/vendor/leaflet/leaflet.js") for u in asked)


def test_tiles_that_cannot_be_loaded_give_way_to_the_drawn_grid(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tile server is set but does not answer (nothing listens on its port): the page
    asks it for tiles (its policy allows that origin), and on the first failure draws the
    grid instead and says why."""
    (port,) = free_ports(1)
    tiles = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("CLOSELOOP_MAP_TILES", tiles + "/{z}/{x}/{y}.png")
    monkeypatch.setenv("CLOSELOOP_MAP_ATTRIBUTION", "© Tiles of our own")
    dev = Dev(tmp_path / "data").start()
    crowd = People(browser, dev)
    try:
        placed = dev.file(description="井盖松动", lat=39.1851, long=99.8362)["id"]
        page = crowd.page()
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        log_in(page, "supervisor1")
        board_map = page.locator("#board-map")
        expect(board_map.locator(f'.map-pin[data-request-id="{placed}"]')).to_be_visible()
        expect(board_map).to_have_attribute("data-ground", "plain")
        expect(page.locator("[data-map-note]")).to_contain_text("地图底图无法加载")
        expect(board_map.locator("path.map-points-box")).to_have_count(1)
        expect(board_map.locator("img.leaflet-tile")).to_have_count(0)
        assert any(url.startswith(tiles + "/") for url in asked)
        elsewhere = [u for u in asked if not u.startswith((dev.url, tiles, "data:"))]
        assert not elsewhere, f"the board asked other servers: {elsewhere}"
        assert not crowd.violations, f"the page broke its CSP: {crowd.violations}"
        assert not crowd.errors, f"script errors: {crowd.errors}"
    finally:
        crowd.close()
        dev.stop()
