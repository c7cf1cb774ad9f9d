"""Paging and dates outside the sane range are a 422 naming the parameter, never a 500; a
body too large is a 413 and a body of the wrong kind a 4xx, each with a JSON reason."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.bounds import EARLIEST, LATEST, MAX_LIMIT, MAX_OFFSET
from closeloop.store import STORE_NAME
from tests.api.conftest import Site

#: (path, who may read it)
PAGED = [("/api/v1/requests", "supervisor1"), ("/api/v1/followups", "caller1")]
#: The board's page, fragments and exports: they read ``from`` and ``to`` themselves.
BOARD = ["/board", "/board/list", "/board/figures", "/board/requests.csv", "/board/stats.csv"]

BAD_PAGING = [
    ("offset", str(10**20)),
    ("offset", str(MAX_OFFSET + 1)),
    ("offset", "-1"),
    ("limit", "0"),
    ("limit", str(10**9)),
    ("limit", str(MAX_LIMIT + 1)),
]
BAD_DATES = [
    ("from", "0001-01-01"),
    ("to", "9999-12-31"),
    ("from", "1999-12-31"),
    ("to", "2101-01-01"),
    ("from", "0001-01-01T00:00:00"),
    ("to", "9999-12-31T23:59:59+08:00"),
]


def _refused(answer: httpx.Response, name: str) -> dict[str, Any]:
    assert answer.status_code == 422, (answer.status_code, answer.text[:300])
    body: dict[str, Any] = answer.json()
    assert body["code"] == "invalid_input"
    assert [e["loc"] for e in body["detail"]] == [["query", name]]
    return body


@pytest.mark.parametrize(("path", "who"), PAGED)
@pytest.mark.parametrize(("name", "value"), BAD_PAGING)
def test_paging_out_of_range_is_a_422_naming_it(
    site: Site, path: str, who: str, name: str, value: str
) -> None:
    answer = site.client.get(path, params={name: value}, headers=site.headers[who])
    _refused(answer, name)


@pytest.mark.parametrize(("path", "who"), PAGED)
def test_paging_at_its_bounds_is_served(site: Site, path: str, who: str) -> None:
    for params in ({"offset": MAX_OFFSET, "limit": MAX_LIMIT}, {"offset": 0, "limit": 1}):
        answer = site.client.get(path, params=params, headers=site.headers[who])
        assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(("name", "value"), BAD_DATES)
def test_stats_dates_out_of_range_are_a_422_naming_them(site: Site, name: str, value: str) -> None:
    answer = site.client.get(
        "/api/v1/stats", params={name: value}, headers=site.headers["supervisor1"]
    )
    error = _refused(answer, name)["detail"][0]
    assert error["type"] == "date_out_of_range"
    assert error["ctx"] == {"earliest": "2000-01-01", "latest": "2100-12-31"}


def test_stats_over_the_whole_range_is_served(site: Site) -> None:
    answer = site.client.get(
        "/api/v1/stats",
        params={"from": EARLIEST.isoformat(), "to": LATEST.isoformat()},
        headers=site.headers["supervisor1"],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["received"] == 0


@pytest.mark.parametrize("path", BOARD)
@pytest.mark.parametrize(("name", "value"), [("from", "0001-01-01"), ("to", "9999-12-31")])
def test_board_dates_out_of_range_are_refused(site: Site, path: str, name: str, value: str) -> None:
    answer = site.client.get(f"{path}?{name}={value}", headers=site.cookie("supervisor1"))
    if path == "/board":  # the page: its error page, saying which date and why
        assert answer.status_code == 422
        assert "data-error-page" in answer.text
        assert "2000-01-01" in answer.text and "2100-12-31" in answer.text
    else:  # what the page script or a download asks for: the API's refusal
        _refused(answer, name)


@pytest.mark.parametrize("path", BOARD)
def test_board_over_the_whole_range_is_served(site: Site, path: str) -> None:
    answer = site.client.get(
        f"{path}?from={EARLIEST.isoformat()}&to={LATEST.isoformat()}&lang=en",
        headers=site.cookie("supervisor1"),
    )
    assert answer.status_code == 200, answer.text[:300]


# ---- bodies -------------------------------------------------------------------------


def _events(site: Site) -> int:
    with site.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {STORE_NAME}_events")).scalar() or 0)


def _intake(site: Site, description: str) -> dict[str, Any]:
    grids = site.client.get(
        "/api/v1/units", params={"kind": "grid"}, headers=site.headers["admin"]
    ).json()
    return {
        "grid_id": grids[0]["id"],
        "category": "water_leak",
        "description": description,
        "channel": "app",
        "resident": {"name": "李先生", "phone": "13800000000"},
    }


def test_a_body_over_the_limit_is_a_413_by_its_length(site: Site) -> None:
    body = _intake(site, "漏" * 30_000)  # 90 kB of UTF-8
    answer = site.client.post("/api/v1/requests", json=body)
    assert answer.status_code == 413
    assert answer.json()["code"] == "too_large"
    assert answer.json()["params"] == {"max_bytes": 64 * 1024}
    assert _events(site) == 0


def test_a_streamed_body_over_the_limit_is_a_413(site: Site) -> None:
    def chunks() -> Any:  # no Content-Length: sent chunked
        for _ in range(100):
            yield b"x" * 1024

    for path, headers in [
        ("/api/v1/requests", {"Content-Type": "application/json"}),
        ("/api/v1/auth/token", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("/api/v1/units", {**site.headers["admin"], "Content-Type": "application/json"}),
    ]:
        answer = site.client.post(path, content=chunks(), headers=headers)
        assert answer.status_code == 413, (path, answer.text)
        assert answer.json()["code"] == "too_large"
    assert _events(site) == 0


def test_the_limit_is_a_setting(make_site: Any) -> None:
    site = make_site(CLOSELOOP_MAX_BODY_BYTES="100")
    answer = site.client.post("/api/v1/auth/token", data={"username": "u" * 200, "password": "p"})
    assert answer.status_code == 413
    assert answer.json()["params"] == {"max_bytes": 100}


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/api/v1/requests", None),
        ("/api/v1/requests/00000000-0000-4000-8000-000000000000/progress", "worker1"),
        ("/api/v1/units", "admin"),
        ("/api/v1/users", "admin"),
    ],
)
def test_a_multipart_body_with_binary_data_is_a_4xx_with_a_json_reason(
    site: Site, path: str, who: str | None
) -> None:
    files = {"file": ("x.bin", bytes(range(256)) * 4, "application/octet-stream")}
    headers = site.headers[who] if who else {}
    answer = site.client.post(path, files=files, headers=headers)
    assert 400 <= answer.status_code < 500, answer.text[:300]
    assert answer.json()["code"] == "invalid_input"
    assert _events(site) == 0


def test_raw_binary_as_json_is_a_4xx(site: Site) -> None:
    answer = site.client.post(
        "/api/v1/requests",
        content=bytes(range(256)),
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= answer.status_code < 500, answer.text[:300]
    assert "code" in answer.json()
