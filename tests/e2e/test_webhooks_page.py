"""The admins' webhook page, in both languages: the menu leads there; a subscription is
listed with its latest deliveries; the add form's refusals show by their fields in the
page's language (the events ticked are sent as a list); deleting asks first, then the
subscription leaves the list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Dev, People, log_in, screenshot
from tests.notify.rows import delivered_subscription

SAYS = {
    "zh-CN": {
        "title": "事件推送（Webhook）",
        "unresolved": "找不到这个主机名，请检查拼写",
        "scheme": "地址须以 http:// 或 https:// 开头",
        "no_events": "请至少选择一种事件",
        "secret": "密钥须为 16–200 个字符",
        "last": "最近一次：已放弃",
        "sent": "已送达",
        "confirm": "确定删除这个订阅吗？",
        "deleted": "订阅已删除",
    },
    "en": {
        "title": "Webhooks",
        "unresolved": "This host name has no address: check its spelling",
        "scheme": "The URL must start with http:// or https://",
        "no_events": "Choose at least one event type",
        "secret": "The secret is 16 to 200 characters long",
        "last": "Latest: Given up",
        "sent": "Delivered",
        "confirm": "Delete this subscription?",
        "deleted": "Subscription deleted",
    },
}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_an_admin_sees_refusals_by_their_fields_and_deletes_a_subscription(
    people: People, stack: Dev, lang: str
) -> None:
    says = SAYS[lang]
    # the subscription takes every event: the shared stack's earlier events, were the
    # notifier still at them, would push its deliveries off the five the page lists
    stack.notifier_caught_up()
    subscription = delivered_subscription(stack.data_dir)
    page = people.page(lang=lang)
    log_in(page, "admin")
    page.goto(f"/board?lang={lang}")
    page.click("nav a[href='/admin/webhooks']")  # the admin's menu leads there
    expect(page).to_have_url(re.compile(r"/admin/webhooks$"))
    expect(page.locator("h1")).to_have_text(says["title"])

    card = page.locator(f'li.webhook[data-id="{subscription}"]')
    expect(card.locator("[data-url]")).to_have_text("http://127.0.0.1:9/closeloop")
    expect(card.locator(".last-delivery")).to_have_text(re.compile(re.escape(says["last"])))
    expect(card.locator("li.delivery[data-state=sent] .delivery-state")).to_have_text(says["sent"])

    form = page.locator("#webhook-add")
    url = form.locator("input[name=url]")
    secret = form.locator("input[name=secret]")
    url.fill("ftp://1.1.1.1/closeloop")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=url]")).to_have_text(says["scheme"])
    expect(url).to_have_attribute("aria-invalid", "true")
    url.fill("https://no-such-host.invalid/closeloop")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=url]")).to_have_text(says["unresolved"])
    # a public address: now the events (none ticked: an empty list), then the secret
    url.fill("https://1.1.1.1/closeloop")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=events]")).to_have_text(says["no_events"])
    expect(form.locator("[data-error-for=url]")).to_be_hidden()
    form.locator("input[name=events][value=Resolved]").check()
    form.locator("input[name=events][value=Reviewed]").check()
    secret.fill("too-short")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=secret]")).to_have_text(says["secret"])
    expect(form.locator("[data-error-for=events]")).to_be_hidden()
    expect(url).to_have_value("https://1.1.1.1/closeloop")  # what was typed stays
    screenshot(page, f"webhooks-{lang}")

    card.locator("summary[data-action=delete]").click()
    expect(card.locator("[data-confirm]")).to_contain_text(says["confirm"])
    card.locator("button[data-action=confirm-delete]").click()
    expect(page.locator("#toast")).to_have_text(says["deleted"])
    expect(card).to_have_count(0)


def test_the_webhook_page_is_for_admins(people: People) -> None:
    page = people.staff("supervisor1")
    expect(page.locator("nav a[href='/admin/webhooks']")).to_have_count(0)
    page.goto("/admin/webhooks")
    expect(page.locator("[data-error-page]")).to_be_visible()
