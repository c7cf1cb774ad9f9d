"""The admins' Open311 keys page, in both languages: the menu leads there; the issue form's
refusals show by their fields; a key issued is shown once in the live region and files a
request through GeoReport; revoking asks first, then the key is listed as revoked and
refused."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import GRID1, Dev, People, log_in, screenshot

SAYS = {
    "zh-CN": {
        "title": "Open311 接口密钥",
        "empty": "不能为空",
        "choose": "请选择一项",
        "once": "密钥只显示这一次",
        "grid": "提交到：" + GRID1,
        "confirm": "确定吊销这个密钥吗？",
        "revoked": "密钥已吊销",
        "state": "已吊销",
    },
    "en": {
        "title": "Open311 API keys",
        "empty": "This cannot be empty",
        "choose": "Please choose one",
        "once": "The key is shown only now",
        "grid": "Files into: " + GRID1,
        "confirm": "Revoke this key?",
        "revoked": "Key revoked",
        "state": "Revoked",
    },
}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_an_admin_issues_a_key_shown_once_and_revokes_it(
    people: People, stack: Dev, lang: str
) -> None:
    says = SAYS[lang]
    page = people.page(lang=lang)
    log_in(page, "admin")
    page.goto(f"/board?lang={lang}")
    page.click("nav a[href='/admin/open311']")  # the admin's menu leads there
    expect(page).to_have_url(re.compile(r"/admin/open311$"))
    expect(page.locator("h1")).to_have_text(says["title"])

    form = page.locator("#open311-issue")
    form.locator("button[type=submit]").click()  # nothing filled in: both fields refused
    expect(form.locator("[data-error-for=name]")).to_have_text(says["empty"])
    expect(form.locator("[data-error-for=grid_id]")).to_have_text(says["choose"])
    expect(form.locator("input[name=name]")).to_have_attribute("aria-invalid", "true")

    name = f"街道随手拍 ({lang})"
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=grid_id]").select_option(label=GRID1)
    form.locator("button[type=submit]").click()
    shown = page.locator("#open311-new-key")
    expect(shown).to_contain_text(says["once"])
    key = shown.locator("[data-new-key]").inner_text()
    assert key.startswith("o311_")
    card = page.locator("li.open311-key", has_text=name)
    expect(card.locator("[data-grid]")).to_have_text(says["grid"])
    expect(card).to_have_attribute("data-state", "live")
    expect(page.locator("#open311-keys")).not_to_contain_text(key)  # never listed
    screenshot(page, f"open311-{lang}")

    # the key files a request through GeoReport
    place = {"service_code": "noise", "address_string": "文化路 12 号"}
    filed = httpx.post(f"{stack.url}/open311/v2/requests.json", data={**place, "api_key": key})
    assert filed.status_code == 200, filed.text
    assert filed.json()[0]["service_request_id"]

    card.locator("summary[data-action=revoke]").click()
    expect(card.locator("[data-confirm]")).to_contain_text(says["confirm"])
    card.locator("button[data-action=confirm-revoke]").click()
    expect(page.locator("#toast")).to_have_text(says["revoked"])
    expect(card).to_have_attribute("data-state", "revoked")
    expect(card.locator(".key-state")).to_have_text(says["state"])
    refused = httpx.post(f"{stack.url}/open311/v2/requests.json", data={**place, "api_key": key})
    assert refused.status_code == 403, refused.text


def test_the_open311_page_is_for_admins(people: People) -> None:
    page = people.staff("supervisor1")
    expect(page.locator("nav a[href='/admin/open311']")).to_have_count(0)
    page.goto("/admin/open311")
    expect(page.locator("[data-error-page]")).to_be_visible()
