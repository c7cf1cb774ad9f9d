"""The board's filters on the street-office operations, in the JSON board and on the board
page, and the handler's page sections (without Temporal: what is read, and refused)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Site

FILTERS = ("warned", "urged", "extension_pending", "cohandled", "waiting_dispatch", "out_of_scope")


@pytest.mark.parametrize("name", FILTERS)
def test_the_json_board_takes_each_filter(site: Site, name: str) -> None:
    for value in ("true", "false"):
        answer = site.client.get(
            "/api/v1/requests", params={name: value}, headers=site.headers["supervisor1"]
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"items": [], "total": 0}
    refused = site.client.get(
        "/api/v1/requests", params={name: "maybe"}, headers=site.headers["supervisor1"]
    )
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [["query", name]]


def test_the_json_board_takes_the_waiting_status(site: Site) -> None:
    answer = site.client.get(
        "/api/v1/requests",
        params={"status": "waiting_dispatch"},
        headers=site.headers["supervisor1"],
    )
    assert answer.status_code == 200, answer.text


def test_the_board_page_keeps_the_ticked_filters(site: Site) -> None:
    query = {"warned": "1", "extension_pending": "1", "lang": "en"}
    page = site.client.get("/board", params=query, headers=site.cookie("supervisor1"))
    assert page.status_code == 200
    html = page.text
    assert 'name="warned" value="1" checked' in html
    assert 'name="extension_pending" value="1" checked' in html
    assert 'name="urged" value="1">' in html  # not ticked
    # the list's own reload and the CSV carry them
    assert "warned=1" in html and "extension_pending=1" in html
    for ticked in ({"waiting_dispatch": "1"}, {"out_of_scope": "1", "status": "open"}):
        part = site.client.get("/board/list", params=ticked, headers=site.cookie("supervisor1"))
        assert part.status_code == 200, part.text


def test_the_handlers_page_has_the_asks_section_for_higher_levels(site: Site) -> None:
    branch = site.client.get("/tasks?lang=en", headers=site.cookie("branch1"))
    assert branch.status_code == 200
    assert "Extension asks waiting for your decision" in branch.text
    worker = site.client.get("/tasks?lang=en", headers=site.cookie("worker1"))
    assert "Extension asks waiting for your decision" not in worker.text
