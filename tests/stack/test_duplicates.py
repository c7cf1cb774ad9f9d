"""Likely duplicates over HTTP, on the real stack (``GET /requests/{id}/duplicates``): two
requests 40 m apart in one category are suggested to each other, 300 m apart or of another
category they are not, a similar Chinese description in the same grid is, a closed request
is not; each reader sees only the requests they may know of, never a resident's contact;
and the settings refuse values they cannot use, stopping the start with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api import roster
from api.roster import Role
from closeloop.settings import Settings, SettingsError
from domain.ladder import Level
from domain.state import Assignment
from tests.stack.conftest import Stack, StackFactory
from tests.stack.test_privacy import _stranger

GRID1 = "医院西路社区第一网格"
GRID2 = "医院西路社区第二网格"
#: A point in 高台县城, and how many degrees of latitude make 1 metre.
LAT, LONG = 39.3770, 99.8190
METRE = 1 / 111_195
#: A handler of the town's other community (祥和苑社区).
NEIGHBOUR = "xhy-committee"
NEIGHBOUR_PASSWORD = "quiet-willow-garden-52"


async def _neighbour(s: Stack) -> None:
    roster.create_user(
        NEIGHBOUR,
        NEIGHBOUR_PASSWORD,
        "祥和苑社区党委",
        Role.HANDLER,
        [Assignment(s.units["祥和苑社区"], Level.COMMUNITY_COMMITTEE)],
        db=s.engine,
    )
    answer = await s.http.post(
        "/api/v1/auth/token", data={"username": NEIGHBOUR, "password": NEIGHBOUR_PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    s.headers[NEIGHBOUR] = {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _file(
    s: Stack, n: int, grid: str, description: str, north_m: float | None, **more: Any
) -> str:
    """File as a resident (each with their own phone: the intake limits count phones),
    ``north_m`` metres north of the point (None: without a point)."""
    where = {} if north_m is None else {"lat": LAT + north_m * METRE, "long": LONG}
    resident = {"name": f"居民{n}", "phone": f"1390000{n:04d}"}
    filed = await s.file(grid, description=description, resident=resident, **where, **more)
    return str(filed["id"])


async def _duplicates(s: Stack, username: str, rid: str, **params: Any) -> dict[str, Any]:
    answer = await s.http.get(
        f"/api/v1/requests/{rid}/duplicates", params=params, headers=s.auth(username)
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


async def test_likely_duplicates_over_http(make_stack: StackFactory) -> None:
    s = await make_stack()
    await _stranger(s)
    await _neighbour(s)
    leak = "楼上漏水，天花板泡坏了"
    this = await _file(s, 1, GRID1, leak, 0)
    # 40 m north, the same category, another wording: nearby
    near = await _file(s, 2, GRID1, "厨房渗水很严重", 40)
    # 300 m north: too far; 10 m north in another category: not the same problem
    far = await _file(s, 3, GRID1, "地下室管道破裂", 300)
    noise = await _file(s, 4, GRID1, "晚上施工噪音扰民", 10, category="noise")
    # the same grid, no point, another category, the same leak in other words: similar text
    said = await _file(s, 5, GRID1, "天花板被楼上漏水泡坏了", None, category="other")
    # 30 m north in the community's other grid: nearby (a grid worker of grid 1 cannot see it)
    other_grid = await _file(s, 6, GRID2, "卫生间漏水到楼下", 30)
    # the very same words 20 m away, but closed (out of scope): never suggested
    closed = await _file(s, 7, GRID1, leak, 20)
    refused = await s.act("supervisor1", closed, "close-out-of-scope", {"reason": "重复反映"})
    assert refused.status_code == 200, refused.text
    for rid in (this, near, far, noise, said, other_grid):
        await s.projected(rid)
    await s.projected(closed, lambda r: r["status"] == "closed")

    # the dispatcher of the community: strongest first, each with why
    body = await _duplicates(s, "dispatcher1", this)
    assert (body["request_id"], body["distance_m"], body["days"]) == (this, 100.0, 14)
    assert _ids(body) == [said, other_grid, near]
    by_id = {item["id"]: item for item in body["items"]}
    assert [r["code"] for r in by_id[near]["reasons"]] == ["nearby"]
    assert by_id[near]["distance_m"] == pytest.approx(40, abs=0.5)
    assert by_id[near]["similarity"] is None
    assert by_id[other_grid]["distance_m"] == pytest.approx(30, abs=0.5)
    assert [r["code"] for r in by_id[said]["reasons"]] == ["similar_text"]
    assert by_id[said]["distance_m"] is None and by_id[said]["similarity"] >= 0.48
    assert (
        by_id[said]["category"] == "other"
        and by_id[said]["description"] == "天花板被楼上漏水泡坏了"
    )
    assert by_id[near]["status"] == "assigned" and by_id[near]["created_at"]
    # no resident's name or phone, in full or masked, in any suggestion
    text = str(body)
    for n in range(1, 8):
        assert f"居民{n}" not in text and f"1390000{n:04d}" not in text
    assert "居*" not in text and "****" not in text
    assert "resident" not in body["items"][0] and "address" not in body["items"][0]

    # suggested to each other: this one is the nearby request's duplicate too
    assert this in _ids(await _duplicates(s, "dispatcher1", near))
    # the far one, and the one of another category, have none of these
    assert this not in _ids(await _duplicates(s, "supervisor1", far))
    assert this not in _ids(await _duplicates(s, "supervisor1", noise))
    # a closed request still shows its likely duplicates (it is not one itself)
    assert this in _ids(await _duplicates(s, "supervisor1", closed))
    # limit
    limited = await _duplicates(s, "supervisor1", this, limit=1)
    assert _ids(limited) == [said]
    for limit in (0, 51):
        answer = await s.http.get(
            f"/api/v1/requests/{this}/duplicates",
            params={"limit": limit},
            headers=s.auth("supervisor1"),
        )
        assert (answer.status_code, answer.json()["code"]) == (422, "invalid_input")

    # the grid worker of grid 1 sees only the requests of their grid
    assert _ids(await _duplicates(s, "worker1", this)) == [said, near]
    # a handler of another community or town, or of another grid, is told there is no
    # such request; a caller has no suggestions; a resident must sign in
    for stranger in (NEIGHBOUR, "stranger", "worker2"):
        answer = await s.http.get(f"/api/v1/requests/{this}/duplicates", headers=s.auth(stranger))
        assert (answer.status_code, answer.json()["code"]) == (404, "request_not_found")
    # ... while worker2 sees those of the request in their grid that they may know of
    assert set(_ids(await _duplicates(s, "supervisor1", other_grid))) == {this, near}
    assert _ids(await _duplicates(s, "worker2", other_grid)) == []
    answer = await s.http.get(f"/api/v1/requests/{this}/duplicates", headers=s.auth("caller1"))
    assert (answer.status_code, answer.json()["code"]) == (403, "role_required")
    answer = await s.http.get(f"/api/v1/requests/{this}/duplicates")
    assert (answer.status_code, answer.json()["code"]) == (401, "sign_in")
    # an unknown request, or no request id at all
    for rid in ("6f1d1c3e-1351-4c1e-9a55-c105e100b001", "not-a-request"):
        answer = await s.http.get(
            f"/api/v1/requests/{rid}/duplicates", headers=s.auth("supervisor1")
        )
        assert (answer.status_code, answer.json()["code"]) == (404, "request_not_found")


async def test_the_distance_is_a_setting(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOSELOOP_DUPLICATE_DISTANCE_M", "500")
    s = await make_stack()
    this = await _file(s, 1, GRID1, "楼上漏水", 0)
    far = await _file(s, 2, GRID1, "地下室管道破裂", 300)
    await s.projected(this)
    await s.projected(far)
    body = await _duplicates(s, "supervisor1", this)
    assert body["distance_m"] == 500.0
    assert _ids(body) == [far]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CLOSELOOP_DUPLICATE_DISTANCE_M", "far", "must be a number of metres"),
        ("CLOSELOOP_DUPLICATE_DISTANCE_M", "0", "must be above 0 and at most 5000 metres"),
        ("CLOSELOOP_DUPLICATE_DISTANCE_M", "-5", "must be above 0"),
        ("CLOSELOOP_DUPLICATE_DISTANCE_M", "nan", "must be above 0"),
        ("CLOSELOOP_DUPLICATE_DISTANCE_M", "6000", "at most 5000 metres"),
        ("CLOSELOOP_DUPLICATE_DAYS", "0", "must be 1 to 365 days"),
        ("CLOSELOOP_DUPLICATE_DAYS", "400", "must be 1 to 365 days"),
        ("CLOSELOOP_DUPLICATE_DAYS", "two weeks", "must be an integer"),
    ],
)
def test_bad_duplicate_settings_are_refused(
    name: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env()


@pytest.mark.parametrize(
    ("name", "value"), [("CLOSELOOP_DUPLICATE_DISTANCE_M", "0"), ("CLOSELOOP_DUPLICATE_DAYS", "x")]
)
def test_a_bad_duplicate_setting_stops_the_start(name: str, value: str, tmp_path: Path) -> None:
    env = {**os.environ, "CLOSELOOP_DATA_DIR": str(tmp_path / "data"), name: value}
    env.pop("CLOSELOOP_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "closeloop.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # it stops before anything starts, naming the variable
    assert done.returncode == 2, done.stderr
    assert f"closeloop: {name} must" in done.stderr
    assert not (tmp_path / "data").exists()


def test_the_duplicate_settings_default_and_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOSELOOP_DUPLICATE_DISTANCE_M", raising=False)
    monkeypatch.delenv("CLOSELOOP_DUPLICATE_DAYS", raising=False)
    settings = Settings.from_env()
    assert (settings.duplicate_distance_m, settings.duplicate_days) == (100.0, 14)
    monkeypatch.setenv("CLOSELOOP_DUPLICATE_DISTANCE_M", "250.5")
    monkeypatch.setenv("CLOSELOOP_DUPLICATE_DAYS", "30")
    settings = Settings.from_env()
    assert (settings.duplicate_distance_m, settings.duplicate_days) == (250.5, 30)
