"""The likely-duplicate rule (domain.duplicates): distance, similarity of Chinese and
English descriptions, the time window, open requests only, and why each one is suggested."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.duplicates import (
    SIMILAR_TEXT,
    Filing,
    Rule,
    bounding_box,
    distance_m,
    match,
    similarity,
    suggest,
)
from domain.lifecycle import Status

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
#: A point in 高台县城 (Gaotai), and how many degrees of latitude make 1 metre.
LAT, LONG = 39.3770, 99.8190
METRE = 1 / 111_195


def filing(**changes: object) -> Filing:
    base = Filing(
        id="a",
        status=Status.ASSIGNED,
        category="water_leak",
        grid_id="g1",
        description="楼上漏水，天花板泡坏了",
        created_at=T0,
        lat=LAT,
        long=LONG,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_distance_is_the_great_circle_in_metres() -> None:
    assert distance_m(LAT, LONG, LAT, LONG) == 0
    # one degree of latitude is about 111.2 km anywhere
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-4)
    # Beijing (Tiananmen) to Shanghai (the Bund): about 1,067 km
    assert distance_m(39.9087, 116.3975, 31.2400, 121.4900) == pytest.approx(1_067_000, rel=0.01)
    # 40 m north
    assert distance_m(LAT, LONG, LAT + 40 * METRE, LONG) == pytest.approx(40, abs=0.1)


def test_the_bounding_box_holds_every_point_within_the_radius() -> None:
    min_lat, max_lat, min_long, max_long = bounding_box(LAT, LONG, 100)
    for bearing_lat, bearing_long in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        # 99 m in each direction lies inside, 120 m outside
        for metres, inside in ((99, True), (120, False)):
            lat = LAT + bearing_lat * metres * METRE
            long = LONG + bearing_long * metres * METRE / 0.7734  # cos(39.377°)
            assert (min_lat <= lat <= max_lat and min_long <= long <= max_long) is inside
    # near a pole and across the antimeridian: every longitude
    assert bounding_box(89.99995, 0, 100)[2:] == (-180.0, 180.0)
    assert bounding_box(10, 179.9999, 100)[2:] == (-180.0, 180.0)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("楼上漏水，厨房天花板一直滴水", "厨房天花板漏水，应该是楼上渗下来的"),
        ("3号楼2单元楼道灯坏了，晚上很黑", "3号楼2单元楼道的灯坏了好几天了"),
        ("祥和苑北门路灯不亮", "祥和苑北门的路灯坏了，晚上看不见"),
        ("楼道堆放杂物，存在消防隐患", "楼道里堆了很多杂物，有消防安全隐患"),
        ("小区停车位被外来车辆占用", "外来车辆占用小区停车位，业主没地方停车"),
        ("楼上漏水，天花板泡坏了", "天花板被楼上漏水泡坏了"),
        # full-width letters and digits read as the half-width ones
        ("３号楼楼道灯坏了", "3号楼楼道灯坏了"),
        ("The street light outside building 3 is broken", "Broken street light near building 3"),
        (
            "Water leaking through the kitchen ceiling from the flat above",
            "The flat above leaks water into my kitchen ceiling",
        ),
    ],
)
def test_the_same_problem_in_other_words_is_similar(a: str, b: str) -> None:
    assert similarity(a, b) >= SIMILAR_TEXT
    assert similarity(a, b) == similarity(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # the same gate, another problem
        ("小区门口有个大坑", "小区门口垃圾堆放"),
        ("3号楼楼上漏水", "3号楼电梯坏了"),
        ("楼上漏水，天花板泡坏了", "楼下装修噪音太大，晚上也不停"),
        ("楼道灯坏了", "楼道堆放杂物，存在消防隐患"),
        ("小区停车位被外来车辆占用", "小区垃圾桶满了没人清理"),
        ("独居老人张大爷需要帮忙买药", "楼上邻居装修噪音扰民"),
        ("Noise from the bar until 2am", "Water leaking through the ceiling"),
        ("", "楼上漏水"),
        ("！！！", "？？？"),
    ],
)
def test_different_problems_are_not_similar(a: str, b: str) -> None:
    assert similarity(a, b) < SIMILAR_TEXT


def test_the_same_text_is_fully_similar() -> None:
    assert similarity("楼上漏水，天花板泡坏了", "楼上漏水，天花板泡坏了") == 1.0
    assert similarity("Pothole on Main Street", "pothole on main street!") == 1.0


def test_nearby_in_the_same_category_is_a_likely_duplicate() -> None:
    this = filing()
    near = filing(id="b", lat=LAT + 40 * METRE, description="厨房渗水")
    found = match(this, near)
    assert found is not None and found.distance_m == pytest.approx(40, abs=0.1)
    assert found.similarity is None
    assert found.reasons == [{"code": "nearby", "distance_m": 40.0}]
    # 300 m away, or another category nearby: not
    assert match(this, replace(near, lat=LAT + 300 * METRE)) is None
    assert match(this, replace(near, category="noise")) is None
    # without a point on either side, "nearby" cannot hold
    assert match(this, replace(near, lat=None, long=None)) is None
    assert match(replace(this, lat=None, long=None), near) is None
    # the distance is a setting
    assert match(this, replace(near, lat=LAT + 300 * METRE), Rule(distance_m=500)) is not None
    assert match(this, near, Rule(distance_m=30)) is None


def test_the_same_grid_and_a_similar_description_is_a_likely_duplicate() -> None:
    this = filing(lat=None, long=None, description="楼上漏水，厨房天花板一直滴水")
    said = "厨房天花板漏水，应该是楼上渗下来的"
    other = filing(id="b", lat=None, long=None, category="other", description=said)
    found = match(this, other)
    assert found is not None and found.distance_m is None
    assert found.reasons == [{"code": "similar_text", "similarity": 0.56}]
    # in another grid, the same words are not enough
    assert match(this, replace(other, grid_id="g2")) is None


def test_both_reasons_are_given_when_both_hold() -> None:
    found = match(filing(), filing(id="b", lat=LAT + 10 * METRE))
    assert found is not None
    assert [r["code"] for r in found.reasons] == ["nearby", "similar_text"]


def test_only_open_requests_within_the_window_are_suggested() -> None:
    this = filing()
    twin = filing(id="b")
    for status in (Status.WAITING_DISPATCH, Status.ASSIGNED, Status.IN_PROGRESS):
        assert match(this, replace(twin, status=status)) is not None
    for status in (Status.RESOLVED, Status.CLOSED):
        assert match(this, replace(twin, status=status)) is None
    # never the request itself
    assert match(this, this) is None
    # 14 days either side, not 20
    cases = ((13, True), (14, True), (-14, True), (15, False), (-20, False), (20, False))
    for days, found in cases:
        other = replace(twin, created_at=T0 + timedelta(days=days))
        assert (match(this, other) is not None) is found, days
    # the window is a setting
    assert match(this, replace(twin, created_at=T0 - timedelta(days=20)), Rule(days=30)) is not None


def test_suggestions_come_strongest_first_and_limited() -> None:
    this = filing(description="楼上漏水，天花板泡坏了")
    far = filing(id="far", lat=LAT + 90 * METRE, description="水管爆了")
    near = filing(id="near", lat=LAT + 5 * METRE, description="水管爆了")
    text = filing(id="text", lat=None, long=None, description="天花板被楼上漏水泡坏了")
    both = filing(id="both", lat=LAT + 50 * METRE, description="楼上漏水，天花板泡坏了")
    closed = filing(id="closed", status=Status.CLOSED)
    found = suggest(this, [far, near, text, both, closed])
    assert [m.other.id for m in found] == ["both", "near", "text", "far"]
    assert [m.other.id for m in suggest(this, [far, near, text, both], limit=2)] == ["both", "near"]


def test_a_filing_reads_from_a_request_view() -> None:
    view = {
        "id": "x",
        "status": "waiting_dispatch",
        "category": "noise",
        "grid_id": "g1",
        "description": "噪音",
        "created_at": "2026-03-02T08:00:00+00:00",
        "lat": None,
        "long": None,
    }
    f = Filing.of(view)
    assert (f.status, f.created_at, f.point) == (Status.WAITING_DISPATCH, T0, None)
