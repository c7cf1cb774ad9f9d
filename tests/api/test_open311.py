"""Open311 GeoReport v2 without Temporal: the services, service definitions, discovery,
the refusals of a POST (none of which writes anything) and of GET requests, in both
formats against the specification's example shapes (tests/open311_spec.py), and the
admins' API keys.

Filing, reading requests back and the rate limit run on the real stack:
tests/stack/test_open311.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import func, select

from api import ledger, open311
from api.open311_keys import keys_table
from closeloop import catalogue
from domain.categories import SEED
from projections.tables import requests
from tests import open311_spec as spec
from tests.api.conftest import Site

V2 = "/open311/v2"
KEYS = "/api/v1/open311/keys"
GRID = "医院西路社区第一网格"


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    """A fresh site per test: these tests issue keys and change the catalogue."""
    return make_site()


def _grid(site: Site, name: str = GRID) -> str:
    units = site.client.get("/api/v1/units", headers=site.headers["admin"]).json()
    return str(next(u["id"] for u in units if u["name"] == name))


def _issue(site: Site, name: str = "city app") -> dict[str, Any]:
    answer = site.client.post(
        KEYS, json={"name": name, "grid_id": _grid(site)}, headers=site.headers["admin"]
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _error(answer: Any, status: int, fmt: str) -> str:
    """The one error of an answer in the specification's error format; its description."""
    assert answer.status_code == status, answer.text
    if fmt == "xml":
        assert answer.headers["content-type"].startswith(spec.XML_TYPE)
        errors = spec.xml_items(answer.text, spec.ERRORS)
    else:
        assert answer.headers["content-type"].startswith(spec.JSON_TYPE)
        errors = spec.json_items(answer.json(), spec.ERRORS)
    assert len(errors) == 1, errors
    assert str(errors[0]["code"]) == str(status)
    description = str(errors[0]["description"])
    assert description
    return description


# ---- services -----------------------------------------------------------------------------


def test_services_in_xml_follow_the_specification(site: Site) -> None:
    answer = site.client.get(f"{V2}/services.xml")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/xml; charset=utf-8"
    services = spec.xml_items(answer.text, spec.SERVICES)
    assert [s["service_code"] for s in services][: len(SEED)] == list(SEED)
    water = services[0]
    assert water["service_name"] == "漏水"
    assert water["metadata"] == "false" and water["type"] == "realtime"
    assert "Water leak" in str(water["keywords"]) and water["group"] == "网格员"
    assert water["description"] == "默认办理时限：1天（网格员）"


def test_services_in_json_follow_the_specification_in_the_clients_language(site: Site) -> None:
    answer = site.client.get(f"{V2}/services.json", headers={"Accept-Language": "en-GB,en"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    services = spec.json_items(answer.json(), spec.SERVICES)
    water = services[0]
    assert water == {
        "service_code": "water_leak",
        "service_name": "Water leak",
        "description": "Default time limit: 1 day (grid worker)",
        "metadata": False,
        "type": "realtime",
        "keywords": "漏水, Water leak, water_leak",
        "group": "grid worker",
    }


def test_a_retired_category_is_no_service(site: Site) -> None:
    catalogue.change_category("noise", retired=True, by="admin", db=site.engine)
    codes = [s["service_code"] for s in site.client.get(f"{V2}/services.json").json()]
    assert "noise" not in codes and "water_leak" in codes
    _error(site.client.get(f"{V2}/services/noise.json"), 404, "json")


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_service_definition_has_no_attributes(site: Site, fmt: str) -> None:
    answer = site.client.get(f"{V2}/services/water_leak.{fmt}")
    assert answer.status_code == 200, answer.text
    root, fields = spec.DEFINITION
    if fmt == "json":
        assert answer.json() == {"service_code": "water_leak", "attributes": []}
    else:
        tree = ElementTree.fromstring(answer.text)
        assert tree.tag == root and tuple(e.tag for e in tree) == fields
        assert tree.findtext("service_code") == "water_leak"
        assert list(tree.find("attributes") or []) == []


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_an_unknown_service_is_a_404_in_the_error_format(site: Site, fmt: str) -> None:
    assert "nope" in _error(site.client.get(f"{V2}/services/nope.{fmt}"), 404, fmt)


def test_names_that_need_escaping_stay_well_formed_xml(site: Site) -> None:
    catalogue.add_category(
        "pipes", "管道 <漏> & 堵", "Pipes <leak> & block", "3d", by="a", db=site.engine
    )
    answer = site.client.get(f"{V2}/services.xml", headers={"Accept-Language": "en"})
    pipes = next(
        s for s in spec.xml_items(answer.text, spec.SERVICES) if s["service_code"] == "pipes"
    )
    assert pipes["service_name"] == "Pipes <leak> & block"
    assert "Pipes &lt;leak&gt; &amp; block" in answer.text


# ---- discovery, formats and addresses ----------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_the_discovery_document_names_the_v2_endpoint(site: Site, fmt: str) -> None:
    answer = site.client.get(f"/open311/discovery.{fmt}")
    assert answer.status_code == 200, answer.text
    root, fields = spec.DISCOVERY
    if fmt == "json":
        body = answer.json()
        assert tuple(body) == fields
        endpoint = body["endpoints"][0]
        assert tuple(endpoint) == spec.ENDPOINT
        formats = endpoint["formats"]
    else:
        tree = ElementTree.fromstring(answer.text)
        assert tree.tag == root and tuple(e.tag for e in tree) == fields
        element = tree.find("endpoints/endpoint")
        assert element is not None and tuple(e.tag for e in element) == spec.ENDPOINT
        endpoint = {e.tag: e.text for e in element}
        formats = [e.text for e in element.findall("formats/format")]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert str(endpoint["url"]).endswith("/open311/v2")
    assert formats == ["text/xml", "application/json"]


def test_an_unknown_format_or_address_is_a_404_in_the_error_format(site: Site) -> None:
    _error(site.client.get(f"{V2}/services.csv"), 404, "xml")
    _error(site.client.get(f"{V2}/nothing.json"), 404, "json")
    _error(site.client.get(f"{V2}/nothing"), 404, "xml")
    _error(site.client.put(f"{V2}/services.json"), 400, "json")  # a wrong method
    # the rest of the API keeps its own error body
    assert site.client.get("/api/v1/nothing").json()["code"] == "not_found"


# ---- GET requests' arguments -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_no_requests_is_an_empty_list(site: Site, fmt: str) -> None:
    answer = site.client.get(f"{V2}/requests.{fmt}", params={"status": "", "service_code": ""})
    assert answer.status_code == 200, answer.text
    if fmt == "json":
        assert answer.json() == []
    else:
        assert spec.xml_items(answer.text, spec.SERVICE_REQUESTS) == []
    _error(site.client.get(f"{V2}/requests/not-a-request.{fmt}"), 404, fmt)
    unknown = "6f1d1c3e-0000-4c1e-9a55-c105e100b000"
    _error(site.client.get(f"{V2}/requests/{unknown}.{fmt}"), 404, fmt)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"start_date": "yesterday"}, "start_date must be a W3C date-time"),
        ({"end_date": "2026-01-01T00:00:00"}, "end_date must include its time zone"),
        (
            {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
            "may not span more than 90 days",
        ),
        (
            {"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
            "end_date must not be before start_date",
        ),
        ({"status": "open,pending"}, "status must be open or closed"),
    ],
)
def test_bad_arguments_of_get_requests_are_400s(
    site: Site, params: dict[str, str], says: str
) -> None:
    assert says in _error(site.client.get(f"{V2}/requests.json", params=params), 400, "json")


def test_tokens_are_never_issued_so_none_is_found(site: Site) -> None:
    for fmt in ("xml", "json"):
        assert "issues no tokens" in _error(site.client.get(f"{V2}/tokens/123.{fmt}"), 404, fmt)


# ---- refused POSTs write nothing ---------------------------------------------------------


def _written(site: Site) -> tuple[int, int, int]:
    with site.engine.connect() as conn:
        return (
            int(conn.execute(select(func.count()).select_from(requests)).scalar_one()),
            int(conn.execute(select(func.count()).select_from(ledger.intake_filings)).scalar_one()),
            int(
                conn.execute(select(func.count()).select_from(ledger.tracking_tokens)).scalar_one()
            ),
        )


PLACE = {"service_code": "water_leak", "lat": "39.9", "long": "116.4"}


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_post_without_a_valid_key_is_a_403(site: Site, fmt: str) -> None:
    before = _written(site)
    _error(site.client.post(f"{V2}/requests.{fmt}", data=PLACE), 403, fmt)
    _error(site.client.post(f"{V2}/requests.{fmt}", data={**PLACE, "api_key": "o311_x"}), 403, fmt)
    key = _issue(site)
    revoked = site.client.delete(f"{KEYS}/{key['id']}", headers=site.headers["admin"])
    assert revoked.status_code == 200 and revoked.json()["revoked_by"] == "admin"
    _error(
        site.client.post(f"{V2}/requests.{fmt}", data={**PLACE, "api_key": key["key"]}), 403, fmt
    )
    assert _written(site) == before


@pytest.mark.parametrize(
    ("changes", "status", "says"),
    [
        ({"service_code": ""}, 400, "service_code was not provided"),
        ({"lat": "", "long": ""}, 400, "a location is required"),
        ({"long": ""}, 400, "lat and long must be sent together"),
        ({"lat": "91"}, 400, "lat must be between -90 and 90"),
        ({"long": "-180.5"}, 400, "long must be between -180 and 180"),
        ({"lat": "north"}, 400, "lat must be a number"),
        ({"lat": "nan"}, 400, "lat must be between"),
        ({"media_url": "ftp://example.org/a.jpg"}, 400, "media_url must be an http or https"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url must be an http or https"),
        ({"description": "x" * 4001}, 400, "description is longer than 4000"),
        ({"description": "bell\x07"}, 400, "control characters"),
        ({"phone": "call me"}, 400, "phone must be a phone number"),
        ({"service_code": "nope"}, 404, "service_code 'nope' was not found"),
    ],
)
def test_a_refused_post_says_why_and_writes_nothing(
    site: Site, changes: dict[str, str], status: int, says: str
) -> None:
    key = _issue(site)
    before = _written(site)
    for fmt in ("xml", "json"):
        data = {**PLACE, "api_key": key["key"], **changes}
        assert says in _error(site.client.post(f"{V2}/requests.{fmt}", data=data), status, fmt)
    assert _written(site) == before


def test_a_location_may_be_an_address_string_or_an_address_id() -> None:
    by_address = open311.filing({"service_code": "a", "address_string": "幸福路 3 号"})
    assert by_address.address_string == "幸福路 3 号" and by_address.lat is None
    by_id = open311.filing({"service_code": "a", "address_id": "545483"})
    fields = open311.intake_fields(by_id)
    assert fields == {
        "description": "地址编号 Address ID: 545483",
        "resident_name": "",
        "resident_phone": "",
        "lat": None,
        "long": None,
        "address": None,
    }


def test_the_intake_gets_the_description_with_the_place_and_the_picture() -> None:
    filed = open311.filing(
        {
            "service_code": "water_leak",
            "description": "楼道漏水",
            "lat": "39.9",
            "long": "116.4",
            "address_string": "幸福路 3 号",
            "media_url": "https://example.org/p.jpg",
            "first_name": "Lei",
            "last_name": "Li",
            "phone": "13800000000",
            "email": "li@example.org",
        }
    )
    assert open311.intake_fields(filed) == {
        "description": "楼道漏水\n图片 Media: https://example.org/p.jpg",
        "resident_name": "Lei Li",
        "resident_phone": "13800000000",
        "lat": 39.9,
        "long": 116.4,
        "address": "幸福路 3 号",
    }


def test_an_address_longer_than_the_intake_keeps_is_a_400() -> None:
    filed = open311.filing({"service_code": "a", "address_string": "路" * 301})
    with pytest.raises(open311.Open311Error) as refused:
        open311.intake_fields(filed)
    assert refused.value.status == 400 and "address" in refused.value.description


# ---- the admins' keys ----------------------------------------------------------------------


def test_an_admin_issues_lists_and_revokes_keys_shown_once(site: Site) -> None:
    issued = _issue(site, "street app")
    key = issued["key"]
    assert key.startswith("o311_") and len(key) > 30
    assert issued["name"] == "street app" and issued["revoked_at"] is None
    listed = site.client.get(KEYS, headers=site.headers["admin"]).json()
    assert [k["id"] for k in listed] == [issued["id"]]
    assert "key" not in listed[0] and key not in json.dumps(listed)
    with site.engine.connect() as conn:
        stored = conn.execute(select(keys_table)).one()
    assert key not in [str(v) for v in stored]  # only its hash is kept
    answer = site.client.delete(f"{KEYS}/{issued['id']}", headers=site.headers["admin"])
    assert answer.status_code == 200 and answer.json()["revoked_at"] is not None
    listed = site.client.get(KEYS, headers=site.headers["admin"]).json()
    assert listed[0]["revoked_by"] == "admin"


def test_only_admins_manage_keys_and_a_key_needs_a_grid(site: Site) -> None:
    for user in ("supervisor1", "dispatcher1"):
        assert site.client.get(KEYS, headers=site.headers[user]).status_code == 403
        grid = {"name": "x", "grid_id": _grid(site)}
        assert site.client.post(KEYS, json=grid, headers=site.headers[user]).status_code == 403
    assert site.client.get(KEYS).status_code == 401
    community = _grid(site, "医院西路社区")
    for grid_id in ("nope", community):
        answer = site.client.post(
            KEYS, json={"name": "x", "grid_id": grid_id}, headers=site.headers["admin"]
        )
        assert answer.status_code == 422 and answer.json()["code"] == "unknown_grid"
        assert answer.json()["field"] == "grid_id"
    answer = site.client.delete(f"{KEYS}/nope", headers=site.headers["admin"])
    assert answer.status_code == 404 and answer.json()["code"] == "open311_key_not_found"
    with site.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(keys_table)).scalar_one() == 0


def test_a_body_too_large_is_a_413_in_the_error_format_and_writes_nothing(site: Site) -> None:
    key = _issue(site)
    before = _written(site)
    form = {**PLACE, "api_key": key["key"], "description": "x" * 70_000}
    answer = site.client.post(f"{V2}/requests.json", data=form)  # its length said up front
    assert "larger than" in _error(answer, 413, "json")

    def chunks() -> Iterator[bytes]:  # no length: refused once the bytes read pass it
        yield f"api_key={key['key']}&service_code=water_leak&lat=1&long=1&description=".encode()
        for _ in range(70):
            yield b"x" * 1000

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = site.client.post(f"{V2}/requests.xml", content=chunks(), headers=headers)
    assert "larger than" in _error(answer, 413, "xml")
    assert _written(site) == before
