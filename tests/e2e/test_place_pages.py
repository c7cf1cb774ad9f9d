"""The place and photos on the pages: the resident files with an address, coordinates and
photos (each uploaded first, a refusal shown next to the field), sees their photos on the
tracking page, and the handler sees them, with the address, on the request page and
corrects the location there."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import GRID1, HTTP_SECONDS, Dev, People, log_in
from tests.media import images

ADDRESS = "祥和苑7号楼1单元302室"
#: An image that the browser loaded and decoded (the API answered it).
LOADED = "(img) => img.complete && img.naturalWidth > 0"


#: True once an <img> has loaded a picture it could decode.
LOADED = "(img) => img.complete && img.naturalWidth > 0"


def test_the_resident_files_with_a_place_and_photos(
    people: People, stack: Dev, tmp_path: Path
) -> None:
    jpeg = tmp_path / "leak.jpg"
    jpeg.write_bytes(images.jpeg_with_gps())
    fake = tmp_path / "notes.jpg"
    fake.write_bytes(b"not a picture\n")
    resident = people.page(phone=True)
    resident.goto("/")
    report = resident.locator("#report")
    report.locator("select[name=grid_id]").select_option(label=GRID1)
    report.locator("select[name=category]").select_option("water_leak")
    report.locator("textarea[name=description]").fill("楼上漏水，墙皮掉了")
    report.locator("input[name='resident.name']").fill("钱阿姨")
    report.locator("input[name='resident.phone']").fill("13700000009")
    report.locator("input[name=address]").fill(ADDRESS)
    report.locator("input[name=lat]").fill("39.19")
    report.locator("input[name=long]").fill("99.83")
    # a text file named .jpg: refused next to the photos, nothing filed
    report.locator("input[name=photos]").set_input_files([str(fake)])
    report.locator("button[type=submit]").click()
    expect(report.locator("[data-error-for=photos]")).to_have_text(
        "照片只能是 JPEG、PNG 或 WebP 图片"
    )
    expect(report.locator("input[name=photos]")).to_have_attribute("aria-invalid", "true")
    expect(resident.locator("[data-track-link]")).to_have_count(0)
    # a latitude out of range: next to it
    report.locator("input[name=photos]").set_input_files([str(jpeg)])
    report.locator("input[name=lat]").fill("99")
    report.locator("button[type=submit]").click()
    expect(report.locator("[data-error-for=lat]")).to_contain_text("位置超出范围")
    report.locator("input[name=lat]").fill("39.19")
    report.locator("button[type=submit]").click()
    link = resident.locator("[data-track-link]")
    expect(link).to_be_visible()

    # the tracking page shows the photo, with its alt text, and no address
    href = link.get_attribute("href") or ""
    resident.goto(href)
    photo = resident.locator("ul.photos img")
    expect(photo).to_have_count(1)
    expect(photo).to_have_attribute("alt", "居民上传的照片 1")
    # the image is shown once it has loaded (waited for: it arrives after the page)
    resident.wait_for_function(LOADED, arg=photo.element_handle(), timeout=15_000)
    assert ADDRESS not in resident.inner_text("body")

    # the grid's worker sees the address and the photo on the request page
    token = href.rsplit("/", 1)[-1]
    request_id = _request_of(stack, token)
    worker = people.page()
    log_in(worker, "worker1")
    worker.goto(f"/requests/{request_id}")
    expect(worker.locator("[data-address]")).to_have_text(ADDRESS)
    expect(worker.locator("[data-point]")).to_contain_text("39.19")
    staff_photo = worker.locator("ul.photos img")
    expect(staff_photo).to_have_attribute("alt", "居民上传的照片 1")
    worker.wait_for_function(LOADED, arg=staff_photo.element_handle(), timeout=15_000)
    # and corrects the location, which the timeline then shows
    worker.locator("summary[data-action=locate]").click()
    form = worker.locator("form[data-key^=locate]")
    form.locator("input[name=lat]").fill("39.2")
    form.locator("textarea[name=reason]").fill("现场核实")
    form.locator("button[type=submit]").click()
    expect(worker.locator(".timeline li").last).to_contain_text("位置已更正")
    expect(worker.locator(".timeline li").last).to_contain_text("现场核实")
    expect(worker.locator("[data-point]")).to_contain_text("39.2")


def _request_of(stack: Dev, token: str) -> str:
    answer = httpx.get(f"{stack.api}/track/{token}", timeout=HTTP_SECONDS)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])
