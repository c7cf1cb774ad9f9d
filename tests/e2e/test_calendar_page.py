"""The admins' working-day calendar page, in both languages: a holiday set is listed, a
refusal is shown next to its list, and the package's days are shown for comparison."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import HTTP_SECONDS, Dev, People, screenshot

#: Years the package does not know and no other test uses: the shared stack's deadlines
#: (this year and the next) are not touched.
ZH_YEAR, EN_YEAR = 2030, 2031


def _save(page: Page, holidays: str, workdays: str = "") -> None:
    form = page.locator("#calendar-form")
    form.locator("textarea[name=holidays]").fill(holidays)
    form.locator("textarea[name=workdays]").fill(workdays)
    form.locator("button[type=submit]").click()


def _reset(stack: Dev, year: int) -> None:
    answer = httpx.put(
        f"{stack.api}/calendar/{year}",
        json={"holidays": [], "workdays": []},
        headers=stack.auth("admin"),
        timeout=HTTP_SECONDS,
    )
    assert answer.status_code == 200, answer.text


def test_an_admin_sets_a_holiday_in_chinese(people: People, stack: Dev) -> None:
    page = people.staff("admin")
    page.locator("nav.nav a", has_text="工作日历").click()
    expect(page).to_have_url(re.compile(r"/admin/calendar/\d{4}$"))
    page.goto(f"/admin/calendar/{ZH_YEAR}")
    expect(page.locator("h1")).to_have_text(f"{ZH_YEAR} 年工作日历")
    expect(page.locator("[data-calendar-source]")).to_have_text("无（仅按周一至周五）")
    expect(page.locator("[data-calendar-missing]")).to_be_visible()

    # a day of another year: refused next to the list, nothing saved, nothing lost
    _save(page, f"{ZH_YEAR}-01-01\n{ZH_YEAR - 1}-12-31")
    form = page.locator("#calendar-form")
    expect(form.locator("[data-error-for=holidays]")).to_have_text(
        f"{ZH_YEAR - 1}-12-31 不在 {ZH_YEAR} 年内"
    )
    expect(form.locator("textarea[name=holidays]")).to_have_attribute("aria-invalid", "true")
    expect(form.locator("textarea[name=holidays]")).to_have_value(
        f"{ZH_YEAR}-01-01\n{ZH_YEAR - 1}-12-31"
    )
    expect(page.locator("[data-calendar-source]")).to_have_text("无（仅按周一至周五）")
    # not a date at all: the schema's 422, also at the list
    _save(page, f"{ZH_YEAR}-02-30")
    expect(form.locator("[data-error-for=holidays]")).to_have_text(
        f"“{ZH_YEAR}-02-30”不是日期，请按 YYYY-MM-DD 填写"
    )

    _save(page, f"{ZH_YEAR}-01-01\n{ZH_YEAR}-02-04", f"{ZH_YEAR}-02-09")
    expect(page.locator("#toast")).to_have_text("已保存工作日历")
    expect(form.locator("[data-error-for=holidays]")).to_be_hidden()
    expect(page.locator("[data-calendar-source]")).to_have_text("本表（管理员设置）")
    row = page.locator(f'tr[data-day="{ZH_YEAR}-02-04"]')
    expect(row.locator("[data-in-force]")).to_have_text("放假")
    expect(row.locator("td").first).to_have_text("周一")
    expect(page.locator(f'tr[data-day="{ZH_YEAR}-02-09"] [data-in-force]')).to_have_text("调休上班")
    expect(page.locator("[data-calendar-missing]")).to_have_count(0)
    screenshot(page, "calendar-zh")
    # the next visit lists it too
    page.reload()
    expect(page.locator(f'tr[data-day="{ZH_YEAR}-01-01"] [data-in-force]')).to_have_text("放假")
    _reset(stack, ZH_YEAR)


def test_an_admin_sets_a_holiday_in_english(people: People, stack: Dev) -> None:
    page = people.staff("admin")
    page.goto(f"/admin/calendar/{EN_YEAR}?lang=en")
    expect(page.locator("h1")).to_have_text(f"Working days of {EN_YEAR}")
    expect(page.locator("[data-calendar-source]")).to_have_text("none (Monday to Friday only)")
    form = page.locator("#calendar-form")
    _save(page, f"{EN_YEAR}-01-01", f"{EN_YEAR}-01-01")
    expect(form.locator("[data-error-for=workdays]")).to_have_text(
        f"{EN_YEAR}-01-01 cannot be both a holiday and a make-up working day"
    )
    _save(page, f"{EN_YEAR}-01-01\n{EN_YEAR}-10-01")
    expect(page.locator("#toast")).to_have_text("The calendar is saved")
    expect(page.locator("[data-calendar-source]")).to_have_text("this table (set by an admin)")
    expect(page.locator(f'tr[data-day="{EN_YEAR}-10-01"] [data-in-force]')).to_have_text("Holiday")
    expect(page.locator(f'tr[data-day="{EN_YEAR}-10-01"] td').first).to_have_text("Wed")
    # the year picker
    page.locator("input[name=year]").fill("2026")
    page.locator(".year-pick button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/admin/calendar/2026$"))
    expect(page.locator("h1")).to_have_text("Working days of 2026")
    screenshot(page, "calendar-en")
    _reset(stack, EN_YEAR)


def test_the_package_s_days_are_shown_for_comparison(people: People) -> None:
    page = people.staff("admin")
    page.goto("/admin/calendar/2026")
    expect(page.locator("[data-calendar-source]")).to_have_text("chinese-calendar 包")
    saturday = page.locator('tr[data-day="2026-02-14"]')  # the Spring Festival's make-up day
    expect(saturday.locator("[data-in-force]")).to_have_text("调休上班")
    expect(saturday.locator("[data-package]")).to_have_text("调休上班")
    expect(page.locator('tr[data-day="2026-10-07"] [data-package]')).to_have_text("放假")
    expect(page.locator("textarea[name=workdays]")).to_contain_text("2026-09-20")


def test_only_admins_open_the_calendar(people: People) -> None:
    page = people.staff("supervisor1")
    page.goto("/admin/calendar/2026")
    expect(page.locator("[data-error-page]")).to_have_text(
        "此页面需要管理员身份；您当前以督办员身份登录。"
    )
    expect(page.locator("nav.nav a", has_text="工作日历")).to_have_count(0)
