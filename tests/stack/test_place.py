"""A request's place and photos over HTTP, on the real stack: filed with a location and
photos, the location corrected on the timeline, before and after photos, refusals that
write nothing, and who may see the address and the photos."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from sqlalchemy import func, select

from projections.tables import requests, timeline
from tests.media import images
from tests.stack.conftest import Stack, StackFactory
from tests.stack.test_privacy import _stranger

GRID1 = "医院西路社区第一网格"
ADDRESS = "祥和苑3号楼2单元501室"
BUILDING = "祥和苑3号楼"
NEW_ADDRESS = "祥和苑5号楼1单元101室"


async def _upload(s: Stack, data: bytes, name: str = "photo.jpg") -> dict[str, Any]:
    answer = await s.http.post(
        "/api/v1/photos", files={"file": (name, data, "application/octet-stream")}
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _rows(s: Stack) -> int:
    with s.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(requests)).scalar_one())


def _on_disk(s: Stack) -> str:
    """Everything the read models hold of the requests, as text."""
    with s.engine.connect() as conn:
        rows = conn.execute(select(requests)).all() + conn.execute(select(timeline)).all()
    return "\n".join(str(tuple(row)) for row in rows)


async def test_a_request_filed_with_a_place_and_photos(make_stack: StackFactory) -> None:
    s = await make_stack()
    await _stranger(s)
    jpeg = await _upload(s, images.jpeg_with_gps())
    png = await _upload(s, images.png(), name="renamed.jpg")
    assert (jpeg["type"], png["type"]) == ("image/jpeg", "image/png")
    filed = await s.file(
        GRID1,
        lat=39.1234,
        long=100.5678,
        address=ADDRESS,
        building=BUILDING,
        photos=[jpeg["id"], png["id"]],
    )
    rid, token = filed["id"], filed["tracking_token"]
    # the resident's own answer lists the photos, never an address
    assert [p["id"] for p in filed["photos"]] == [jpeg["id"], png["id"]]
    assert ADDRESS not in str(filed)

    view = await s.projected(rid)
    assert (view["lat"], view["long"]) == (39.1234, 100.5678)
    assert [(p["hash"], p["type"], p["stage"]) for p in view["photos"]] == [
        (jpeg["id"], "image/jpeg", "filed"),
        (png["id"], "image/png", "filed"),
    ]
    # the supervisor sees the point but not the address (masked, as the phone)...
    assert view["address"] is None and view["building"] is None and view["contact"] == "masked"
    # ...the grid's worker, who calls the resident back, sees it in full
    mine = (await s.http.get(f"/api/v1/requests/{rid}", headers=s.auth("worker1"))).json()
    assert (mine["address"], mine["building"]) == (ADDRESS, BUILDING)
    # the supervisor's reveal shows it with the contact
    revealed = await s.http.post(
        f"/api/v1/requests/{rid}/reveal", json={"reason": "核实地址"}, headers=s.auth("supervisor1")
    )
    assert revealed.status_code == 200, revealed.text
    # the address is not in clear in the read models
    assert ADDRESS not in _on_disk(s) and BUILDING not in _on_disk(s)

    # the photo as kept: without its EXIF, readable by those who may read the request
    photo_url = f"/api/v1/requests/{rid}/photos/{jpeg['id']}"
    answer = await s.http.get(photo_url, headers=s.auth("worker1"))
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    assert images.exif_of(answer.content) == {} and b"PhoneMaker" not in answer.content
    thumb = await s.http.get(photo_url, params={"size": "thumb"}, headers=s.auth("worker1"))
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert max(image.size) == 320
    # a worker of another grid, or of another town, is told there is no such request
    for stranger in ("worker2", "stranger"):
        refused = await s.http.get(photo_url, headers=s.auth(stranger))
        assert (refused.status_code, refused.json()["code"]) == (404, "request_not_found")
    # a photo that is not this request's is not served through it
    other = await _upload(s, images.webp())
    missing = await s.http.get(
        f"/api/v1/requests/{rid}/photos/{other['id']}", headers=s.auth("worker1")
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "photo_not_found")

    # the resident, through the tracking link, sees their photos
    tracked = (await s.http.get(f"/api/v1/track/{token}")).json()
    assert [p["id"] for p in tracked["photos"]] == [jpeg["id"], png["id"]]
    own = await s.http.get(f"/api/v1/track/{token}/photos/{png['id']}")
    assert own.status_code == 200 and own.content.startswith(b"\x89PNG")
    assert own.headers["referrer-policy"] == "no-referrer"
    assert (await s.http.get(f"/api/v1/track/not-a-token/photos/{png['id']}")).status_code == 404


async def test_staff_correct_the_location_on_the_timeline(make_stack: StackFactory) -> None:
    s = await make_stack()
    await _stranger(s)
    rid = (await s.file(GRID1, lat=39.1, long=100.5, address=ADDRESS))["id"]
    await s.projected(rid)
    # a handler of another town may not know of it; a reason is needed
    body = {"lat": 39.2, "long": 100.6, "address": NEW_ADDRESS, "reason": "居民电话更正"}
    refused = await s.act("stranger", rid, "location", body)
    assert (refused.status_code, refused.json()["code"]) == (404, "request_not_found")
    blank = await s.act("worker1", rid, "location", {**body, "reason": " "})
    assert blank.status_code == 422
    wrong = await s.act("worker1", rid, "location", {**body, "lat": 91})
    assert (wrong.status_code, wrong.json()["code"], wrong.json()["field"]) == (
        422,
        "location_out_of_range",
        "lat",
    )

    answer = await s.act("worker1", rid, "location", body)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["lat"], answer.json()["address"]) == (39.2, NEW_ADDRESS)
    view = await s.projected(rid, lambda r: r["timeline"][-1]["type"] == "LocationCorrected")
    entry = view["timeline"][-1]
    assert (entry["lat"], entry["long"], entry["reason"], entry["actor"]) == (
        39.2,
        100.6,
        "居民电话更正",
        "worker1",
    )
    assert entry["address_changed"] is True and "address" not in entry
    assert (view["lat"], view["long"]) == (39.2, 100.6)
    mine = (await s.http.get(f"/api/v1/requests/{rid}", headers=s.auth("worker1"))).json()
    assert mine["address"] == NEW_ADDRESS
    assert NEW_ADDRESS not in _on_disk(s) and ADDRESS not in _on_disk(s)
    # the supervisor and the dispatcher may correct it too (no address: it stays)
    by_supervisor = await s.act(
        "supervisor1", rid, "location", {"lat": 39.3, "long": 100.7, "reason": "地图核对"}
    )
    assert by_supervisor.status_code == 200, by_supervisor.text
    mine = (await s.http.get(f"/api/v1/requests/{rid}", headers=s.auth("worker1"))).json()
    await s.projected(rid, lambda r: r["lat"] == 39.3)
    mine = (await s.http.get(f"/api/v1/requests/{rid}", headers=s.auth("worker1"))).json()
    assert (mine["lat"], mine["address"]) == (39.3, NEW_ADDRESS)


async def test_before_and_after_photos_of_the_handler(make_stack: StackFactory) -> None:
    s = await make_stack()
    rid = (await s.file(GRID1))["id"]
    before = await _upload(s, images.jpeg_with_gps())
    after = await _upload(s, images.webp())
    assert (await s.act("worker1", rid, "accept")).status_code == 200
    noted = await s.act("worker1", rid, "progress", {"note": "到场查看", "photos": [before["id"]]})
    assert noted.status_code == 200, noted.text
    done = await s.act("worker1", rid, "resolve", {"resolution": "已修好", "photos": [after["id"]]})
    assert done.status_code == 200, done.text
    view = await s.projected(rid, lambda r: r["status"] == "resolved")
    assert [(p["hash"], p["stage"], p["by"]) for p in view["photos"]] == [
        (before["id"], "before", "worker1"),
        (after["id"], "after", "worker1"),
    ]
    kinds = [e["type"] for e in view["timeline"] if e.get("photos")]
    assert kinds == ["ProgressNoted", "Resolved"]


async def test_refusals_write_nothing(make_stack: StackFactory) -> None:
    s = await make_stack()
    photos = [(await _upload(s, images.png((100 + i, 100)))).get("id") for i in range(5)]
    before = _rows(s)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"photos": photos}, "too_many_photos", "photos"),  # the 5th photo
        ({"photos": ["0" * 64]}, "photo_unknown", "photos"),
        ({"lat": 95.0, "long": 100.0}, "location_out_of_range", "lat"),
        ({"lat": 39.0, "long": -181.0}, "location_out_of_range", "long"),
        ({"lat": 39.0}, "location_incomplete", "long"),
    ]
    for extra, code, field in cases:
        body = {
            "grid_id": s.grids[GRID1],
            "category": "water_leak",
            "description": "楼上漏水",
            "channel": "app",
            "resident": {"name": "李先生", "phone": "13800000001"},
            **extra,
        }
        answer = await s.http.post("/api/v1/requests", json=body)
        assert answer.status_code == 422, answer.text
        assert (answer.json()["code"], answer.json()["field"]) == (code, field), extra
    filed = await s.file(GRID1, photos=photos[:4])  # four are fine
    await s.projected(filed["id"])
    assert _rows(s) == before + 1
