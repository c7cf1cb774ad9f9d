"""Open311 GeoReport v2 on the real stack: an application with an admin's key files a
request, which waits in the community's dispatch queue and shows in GET answers (both
formats, the specification's shapes) with the right fields and no personal data; it
follows the request through dispatch and resolution; a generic client written from the
specification alone reads it all; the key's rate limit refuses with 429 and files
nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from api import ledger
from projections.tables import requests
from tests import open311_spec as spec
from tests.stack.conftest import Stack, StackFactory
from tests.stack.georeport_client import GeoReport, GeoReportError

FIRST = "医院西路社区第一网格"
HOSPITAL = "医院西路社区"
V2 = "/open311/v2"
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

#: What the resident sends and no GET answer may ever show.
PERSONAL = {
    "first_name": "小明",
    "last_name": "王",
    "phone": "139 1234 5678",
    "email": "wang.xiaoming@example.org",
    "device_id": "device-8f3a",
    "account_id": "acct-7731",
    "description": "我是王小明，住3单元502，电话13912345678，楼上漏水",
    "address_string": "幸福路 3 号 3 单元",
    "media_url": "https://photos.example.org/leak-502.jpg",
}
SECRETS = (
    "王小明",
    "小明",
    "13912345678",
    "139 1234 5678",
    "wang.xiaoming",
    "device-8f3a",
    "acct-7731",
    "502",
    "幸福路",
    "photos.example.org",
)


async def _key(s: Stack, grid: str = FIRST) -> str:
    answer = await s.http.post(
        "/api/v1/open311/keys",
        json={"name": "city app", "grid_id": s.grids[grid]},
        headers=s.auth("admin"),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


async def _public(s: Stack, rid: str) -> dict[str, dict[str, Any]]:
    """The request in every GET answer (list and single, XML and JSON), checked against
    the specification's shape, with no personal data anywhere in the answers."""
    seen: dict[str, dict[str, Any]] = {}
    for fmt in ("xml", "json"):
        for url, params in (
            (f"{V2}/requests.{fmt}", {}),
            (f"{V2}/requests.{fmt}", {"service_request_id": f"{rid},nonsense"}),
            (f"{V2}/requests/{rid}.{fmt}", {}),
        ):
            answer = await s.http.get(url, params=params)
            assert answer.status_code == 200, answer.text
            for secret in SECRETS:
                assert secret not in answer.text, (secret, url)
            if fmt == "xml":
                items: list[dict[str, Any]] = spec.xml_items(answer.text, spec.SERVICE_REQUESTS)
            else:
                items = spec.json_items(answer.json(), spec.SERVICE_REQUESTS)
            mine = [i for i in items if i["service_request_id"] == rid]
            assert len(mine) == 1, items
            seen[fmt] = mine[0]
    return seen


async def test_an_application_files_a_request_that_anyone_follows_without_personal_data(
    make_stack: StackFactory,
) -> None:
    s = await make_stack()
    key = await _key(s)

    # a POST as the specification's example sends it, answered in XML
    answer = await s.http.post(
        f"{V2}/requests.xml",
        data={"api_key": key, "service_code": "water_leak", "lat": "39.904211",
              "long": "116.407395", "jurisdiction_id": "", **PERSONAL},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/xml; charset=utf-8"
    (posted,) = spec.xml_items(answer.text, spec.POSTED)
    rid = str(posted["service_request_id"])
    assert posted["service_notice"] == "等待社区平台分派" and posted["account_id"] is None

    # staff see it in the dispatch queue of the key's grid's community, on channel open311
    view = await s.projected(rid, lambda r: r["status"] == "waiting_dispatch")
    assert view["channel"] == "open311" and view["grid_id"] == s.grids[FIRST]
    assert view["deadline"] is None
    assert view["description"] == (
        "我是王小明，住3单元502，电话13912345678，楼上漏水\n"
        "图片 Media: https://photos.example.org/leak-502.jpg"
    )
    # the place is the request's own: the point for staff, the address sealed (a
    # supervisor sees the contact masked, so the address reads null)
    assert (view["lat"], view["long"], view["address"]) == (39.904211, 116.407395, None)
    assert view["resident"] == {"name": "王*", "phone": "139****5678"}  # masked for a supervisor
    queue = await s.http.get("/api/v1/dispatch", headers=s.auth("dispatcher1"))
    assert rid in [item["id"] for item in queue.json()], queue.text

    # what anyone reads: the same request in both formats, the public fields only
    shown = await _public(s, rid)
    xml, json_ = shown["xml"], shown["json"]
    assert json_ == {
        "service_request_id": rid,
        "status": "open",
        "status_notes": "等待社区平台分派",
        "service_name": "漏水",
        "service_code": "water_leak",
        "description": None,
        "agency_responsible": HOSPITAL,
        "service_notice": None,
        "requested_datetime": json_["requested_datetime"],
        "updated_datetime": json_["updated_datetime"],
        "expected_datetime": None,
        "address": f"{FIRST}, {HOSPITAL}, 城关镇",
        "address_id": None,
        "zipcode": None,
        "lat": 39.904,  # rounded: the street, not the household
        "long": 116.407,
        "media_url": None,
    }
    assert W3C.match(json_["requested_datetime"]) and W3C.match(json_["updated_datetime"])
    # the XML's empty elements are None too, and its numbers are text
    assert xml == {k: str(v) if isinstance(v, float) else v for k, v in json_.items()}

    # the filters: status, service_code, dates
    async def ids(**params: str) -> list[str]:
        got = await s.http.get(f"{V2}/requests.json", params=params)
        assert got.status_code == 200, got.text
        return [item["service_request_id"] for item in got.json()]

    assert rid in await ids(status="open") and rid not in await ids(status="closed")
    assert rid in await ids(service_code="noise,water_leak")
    assert rid not in await ids(service_code="noise")
    assert rid not in await ids(start_date="2020-01-01T00:00:00Z", end_date="2020-03-01T00:00:00Z")
    assert rid in await ids(start_date=json_["requested_datetime"])
    assert rid in await ids(service_request_id=rid, status="closed")  # the ids override

    # dispatched to the grid: open, the grid's workers responsible, with a deadline
    dispatched = await s.act(
        "dispatcher1", rid, "dispatch", {"grid_id": s.grids[FIRST], "tier": "1d"}
    )
    assert dispatched.status_code == 200, dispatched.text
    view = await s.projected(rid, lambda r: r["status"] == "assigned")
    json_ = (await _public(s, rid))["json"]
    assert json_["status"] == "open" and json_["agency_responsible"] == FIRST
    assert json_["status_notes"] == "已交办，等待签收"
    deadline = view["deadline"].replace("+00:00", "Z")
    assert json_["expected_datetime"] == re.sub(r"\.\d+Z$", "Z", deadline)

    # resolved: closed, as the specification says ("it has been resolved")
    for action, body in (("accept", {}), ("resolve", {"resolution": "已修好，住户王小明满意"})):
        done = await s.act("worker1", rid, action, body)
        assert done.status_code == 200, done.text
    await s.projected(rid, lambda r: r["status"] == "resolved")
    json_ = (await _public(s, rid))["json"]
    assert json_["status"] == "closed" and json_["status_notes"] == "已办结，等待回访"
    assert rid in await ids(status="closed") and rid not in await ids(status="open")


async def test_a_generic_client_reads_services_and_requests(make_stack: StackFactory) -> None:
    s = await make_stack()
    key = await _key(s)
    filed = await s.file()  # through closeloop's own API: the resident 李先生, 13800000000
    await s.projected(filed["id"])
    for fmt in ("xml", "json"):
        client = GeoReport(s.http, fmt)
        endpoint = await client.discover(f"/open311/discovery.{fmt}")
        assert "text/xml" in str(endpoint["formats"]) or fmt == "xml"
        services = await client.services()
        codes = [service["service_code"] for service in services]
        assert "water_leak" in codes
        assert all(str(service["metadata"]).lower() in ("true", "false") for service in services)
        definition = await client.definition("water_leak")
        assert definition["service_code"] == "water_leak"
        assert not definition["attributes"]
        with pytest.raises(GeoReportError) as refused:
            await client.definition("no_such_service")
        assert refused.value.status == 404 and refused.value.errors[0]["description"]

        created = await client.create(
            api_key=key, service_code="noise", address_string="文化路 12 号", first_name="Li"
        )
        new_id = str(created[0]["service_request_id"])
        await s.projected(new_id)
        listed = await client.requests(status="open")
        by_id = {str(item["service_request_id"]): item for item in listed}
        assert {filed["id"], new_id} <= set(by_id)
        assert by_id[filed["id"]]["service_code"] == "water_leak"
        assert not by_id[filed["id"]]["description"]
        (single,) = await client.request(new_id)
        assert single["service_code"] == "noise" and single["status"] == "open"
        with pytest.raises(GeoReportError) as refused:
            await client.create(api_key="wrong", service_code="noise", address_string="x")
        assert refused.value.status == 403
        with pytest.raises(GeoReportError) as refused:
            await client.create(api_key=key, service_code="noise")
        assert refused.value.status == 400
        text = str(listed)
        assert "李先生" not in text and "13800000000" not in text and "楼上漏水" not in text


def _counts(s: Stack) -> tuple[int, int]:
    with s.engine.connect() as conn:
        filings = conn.execute(select(func.count()).select_from(ledger.intake_filings))
        tokens = conn.execute(select(func.count()).select_from(ledger.tracking_tokens))
        return int(filings.scalar_one()), int(tokens.scalar_one())


async def test_a_key_over_its_rate_is_refused_with_429_and_files_nothing(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOSELOOP_OPEN311_RATE", "1")
    s = await make_stack()
    key, other = await _key(s), await _key(s)
    form = {"api_key": key, "service_code": "noise", "lat": "39.9", "long": "116.4"}
    first = await s.http.post(f"{V2}/requests.json", data=form)
    assert first.status_code == 200, first.text
    rid = first.json()[0]["service_request_id"]
    await s.projected(rid)
    before = _counts(s)
    for fmt in ("json", "xml"):
        again = await s.http.post(f"{V2}/requests.{fmt}", data=form)
        assert again.status_code == 429, again.text
        assert int(again.headers["Retry-After"]) >= 1
        if fmt == "json":
            (error,) = spec.json_items(again.json(), spec.ERRORS)
        else:
            (error,) = spec.xml_items(again.text, spec.ERRORS)
        assert str(error["code"]) == "429" and "too many requests" in str(error["description"])
    assert _counts(s) == before
    # another key has its own count
    other_filing = await s.http.post(f"{V2}/requests.json", data={**form, "api_key": other})
    assert other_filing.status_code == 200, other_filing.text
    await s.projected(other_filing.json()[0]["service_request_id"])
    with s.engine.connect() as conn:
        channels = conn.execute(select(requests.c.channel)).scalars().all()
    assert channels == ["open311", "open311"]
