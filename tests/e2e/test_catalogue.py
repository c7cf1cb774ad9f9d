"""The admins' category catalogue page, in both languages: add a category (a refusal shown
by its field first), see it offered to residents, rename it, retire it (residents no longer
see it, a filing in it is refused) and restore it."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import GRID1, HTTP_SECONDS, Dev, People, log_in, screenshot

#: What the page says, by language.
SAYS = {
    "zh-CN": {
        "title": "诉求类别目录",
        "bad_code": "代码须为 2–40 个小写英文字母、数字或下划线",
        "exists": "该代码已被使用（停用的类别仍占用其代码，可将其恢复使用）",
        "no_name": "请填写名称（不超过 60 个字，不含控制字符）",
        "added": "已新增类别",
        "saved": "已保存",
        "retired_done": "类别已停用",
        "restored": "类别已恢复使用",
        "active": "使用中",
        "retired": "已停用",
        "label": "电梯故障",
        "renamed": "电梯困人",
        "tier": "5天",
    },
    "en": {
        "title": "Request categories",
        "bad_code": "A code is 2 to 40 lowercase letters, digits or underscores",
        "exists": "This code is taken (a retired category keeps its code: restore it instead)",
        "no_name": "Give a name (at most 60 characters, no control characters)",
        "added": "Category added",
        "saved": "Saved",
        "retired_done": "Category retired",
        "restored": "Category restored",
        "active": "Active",
        "retired": "Retired",
        "label": "Lift fault",
        "renamed": "Lift stuck",
        "tier": "5 days",
    },
}


def _option(page: Page, code: str) -> Locator:
    return page.locator(f'#report select[name=category] option[value="{code}"]')


def _filing(stack: Dev, code: str) -> httpx.Response:
    body = {
        "grid_id": stack.grid(GRID1),
        "category": code,
        "description": "电梯停在两层之间",
        "channel": "app",
        "resident": {"name": "李先生", "phone": "13800000009"},
    }
    return httpx.post(f"{stack.api}/requests", json=body, timeout=HTTP_SECONDS)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_an_admin_adds_renames_retires_and_restores_a_category(
    people: People, stack: Dev, lang: str
) -> None:
    says = SAYS[lang]
    code = "lift_fault_" + lang[:2]
    page = people.page(lang=lang)
    log_in(page, "admin")
    page.goto(f"/board?lang={lang}")
    page.click("nav a[href='/admin/categories']")  # the admin's menu leads there
    expect(page).to_have_url(re.compile(r"/admin/categories$"))
    expect(page.locator("h1")).to_have_text(says["title"])

    # a bad code: refused next to the field, what was typed stays
    form = page.locator("#category-add")
    form.locator("input[name=code]").fill("Lift Fault")
    form.locator("input[name=name_zh]").fill("电梯故障")
    form.locator("input[name=name_en]").fill("Lift fault")
    form.locator("select[name=default_tier]").select_option("5d")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=code]")).to_have_text(says["bad_code"])
    expect(form.locator("input[name=code]")).to_have_attribute("aria-invalid", "true")
    expect(form.locator("input[name=name_zh]")).to_have_value("电梯故障")

    # the right code: added, listed, offered to residents
    form.locator("input[name=code]").fill(code)
    form.locator("button[type=submit]").click()
    expect(page.locator("#toast")).to_have_text(says["added"])
    card = page.locator(f'li.category[data-code="{code}"]')
    expect(card.locator("[data-label]")).to_have_text(says["label"])
    expect(card.locator("[data-state]")).to_have_text(says["active"])
    expect(card.locator("[data-tier]")).to_have_text(says["tier"])
    expect(form.locator("input[name=code]")).to_have_value("")
    expect(form.locator("[data-error-for=code]")).to_be_hidden()
    resident = people.page(lang=lang)
    resident.goto(f"/?lang={lang}")
    expect(_option(resident, code)).to_have_text(says["label"])

    # the same code again: taken
    form.locator("input[name=code]").fill(code)
    form.locator("input[name=name_zh]").fill("电梯故障")
    form.locator("input[name=name_en]").fill("Lift fault")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=code]")).to_have_text(says["exists"])

    # renamed: an empty name is refused by its field, then both names change
    card.locator("summary[data-action=edit]").click()
    edit = card.locator("details form")
    edit.locator("input[name=name_en]").fill("")
    edit.locator("button[type=submit]").click()
    expect(edit.locator("[data-error-for=name_en]")).to_have_text(says["no_name"])
    edit.locator("input[name=name_zh]").fill("电梯困人")
    edit.locator("input[name=name_en]").fill("Lift stuck")
    edit.locator("button[type=submit]").click()
    expect(page.locator("#toast")).to_have_text(says["saved"])
    expect(card.locator("[data-label]")).to_have_text(says["renamed"])
    expect(card.locator("details form input[name=name_en]")).to_have_value("Lift stuck")
    screenshot(page, f"catalogue-{lang}")

    # retired: residents no longer see it, a filing in it is refused naming the others
    card.locator("button[data-action=retire]").click()
    expect(page.locator("#toast")).to_have_text(says["retired_done"])
    expect(card.locator("[data-state]")).to_have_text(says["retired"])
    resident.reload()
    expect(_option(resident, code)).to_have_count(0)
    refused = _filing(stack, code)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "category_retired"
    assert "water_leak" in refused.json()["params"]["active"]

    # restored: offered again
    card.locator("button[data-action=restore]").click()
    expect(page.locator("#toast")).to_have_text(says["restored"])
    expect(card.locator("[data-state]")).to_have_text(says["active"])
    resident.reload()
    expect(_option(resident, code)).to_have_text(says["renamed"])


def test_the_catalogue_page_is_for_admins(people: People) -> None:
    page = people.staff("supervisor1")
    expect(page.locator("nav a[href='/admin/categories']")).to_have_count(0)
    page.goto("/admin/categories")
    expect(page.locator("[data-error-page]")).to_have_text(
        "此页面需要管理员身份；您当前以督办员身份登录。"
    )
