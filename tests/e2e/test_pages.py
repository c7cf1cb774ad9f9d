"""The pages on ordinary days: log-in and landing pages, refusals shown where they happen
without losing what was typed, the language switch, the resident's tracking page, the
board's filters and CSV exports."""

from __future__ import annotations

import csv
import io
import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from closeloop.bootstrap import demo_password
from tests.e2e.conftest import GRID1, GRID2, HTTP_SECONDS, Dev, People, log_in, screenshot

XIANGHE2 = "祥和苑社区第二网格"


def test_each_role_lands_on_its_own_page(people: People) -> None:
    for username, path, heading in (
        ("supervisor1", "/board", "督办看板"),
        ("worker1", "/tasks", "我的任务"),
        ("caller1", "/followups", "回访队列"),
        ("admin", "/board", "督办看板"),
    ):
        page = people.page()
        page.goto("/login")
        page.fill("input[name=username]", username)
        password = "e2e-tests-passphrase" if username == "admin" else demo_password(username)
        page.fill("input[name=password]", password)
        page.click("#login button[type=submit]")
        expect(page).to_have_url(re.compile(f"{path}$"))
        expect(page.locator("h1")).to_have_text(heading)


def test_log_in_refusals_and_protected_pages(people: People, stack: Dev) -> None:
    page = people.page(phone=True)
    page.goto("/tasks")  # not signed in: off to the log-in page, and back after it
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ftasks$"))
    page.click("#login button[type=submit]")  # nothing typed: the API's 422, per field
    expect(page.locator("[data-error-for=username]")).to_have_text("此项必填")
    expect(page.locator("[data-error-for=password]")).to_have_text("此项必填")
    page.fill("input[name=username]", "worker1")
    page.fill("input[name=password]", "not-the-password")
    page.click("#login button[type=submit]")
    expect(page.locator('#login [data-error-for=""]')).to_have_text(
        "身份验证未通过（401）：用户名或密码错误"
    )
    expect(page.locator("input[name=username]")).to_have_value("worker1")  # still there
    page.fill("input[name=password]", demo_password("worker1"))
    page.click("#login button[type=submit]")
    expect(page).to_have_url(re.compile(r"/tasks$"))

    page.goto("/board")  # a handler on the supervisors' page: a readable 403
    expect(page.locator("[data-error-page]")).to_have_text(
        "此页面需要督办员 / 管理员身份；您当前以办理人员身份登录。"
    )

    # the session runs out while a note is being typed: the 401 is shown, the note stays
    filed = stack.file(description="垃圾桶满了没人收")
    page.goto("/tasks")
    task = page.locator(f'li.card[data-id="{filed["id"]}"]')
    task.locator("button[data-action=accept]").click()
    expect(task.locator("[data-status]")).to_have_text("办理中")
    task.locator("summary[data-action=progress]").click()
    task.locator("textarea[name=note]").fill("已通知环卫")
    page.context.clear_cookies()
    task.locator("form[data-key^=progress] button[type=submit]").click()
    expect(task.locator('form[data-key^=progress] [data-error-for=""]')).to_have_text(
        "身份验证未通过（401）：请先登录"
    )
    expect(page.locator("#signed-out a")).to_have_attribute("target", "_blank")
    expect(task.locator("textarea[name=note]")).to_have_value("已通知环卫")
    log_in(page, "worker1")
    page.click("[data-logout]")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/tasks")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_too_many_failed_log_ins_are_refused_in_the_pages_language(people: People) -> None:
    page = people.page()
    page.goto("/login?lang=en")
    probe = f"probe-{uuid.uuid4().hex[:8]}"  # locks only this account
    page.fill("input[name=username]", probe)
    general = page.locator('#login [data-error-for=""]')
    for n in range(5):
        page.fill("input[name=password]", f"wrong-guess-{n}")
        page.click("#login button[type=submit]")
        expect(general).to_have_text("Not signed in (401): Wrong username or password")

    page.click("#login button[type=submit]")

    expect(general).to_have_text(
        re.compile(
            r"^Too many attempts \(429\): Too many failed log-ins: try again in \d+ seconds$"
        )
    )
    expect(page.locator("input[name=password]")).to_have_value("wrong-guess-4")  # kept
    page.goto("/login?lang=zh")
    page.fill("input[name=username]", probe.upper())  # the same account in any case
    page.fill("input[name=password]", "wrong-guess-5")
    page.click("#login button[type=submit]")
    expect(general).to_have_text(
        re.compile(r"^尝试次数过多（429）：登录失败次数过多，请 \d+ 秒后再试$")
    )


def test_forms_show_refusals_next_to_the_field_and_keep_what_was_typed(
    people: People, stack: Dev
) -> None:
    # the resident's form: the API's 422s, each next to its field
    resident = people.page(phone=True)
    resident.goto("/")
    report = resident.locator("#report")
    report.locator("textarea[name=description]").fill("   ")
    report.locator("input[name='resident.name']").fill("赵大爷")
    report.locator("input[name='resident.phone']").fill("call me")
    report.locator("button[type=submit]").click()
    expect(report.locator("[data-error-for=grid_id]")).to_have_text("请选择一项")
    expect(report.locator("[data-error-for=category]")).to_have_text("请选择一项")
    expect(report.locator("[data-error-for=description]")).to_have_text("不能为空")
    expect(report.locator("[data-error-for='resident.phone']")).to_have_text("格式不正确")
    expect(report.locator("[data-error-for='resident.name']")).to_be_hidden()
    expect(report.locator('[data-error-for=""]')).to_have_text("请检查填写内容（422）")
    expect(report.locator("input[name='resident.phone']")).to_have_attribute("aria-invalid", "true")
    expect(report.locator("input[name='resident.name']")).to_have_value("赵大爷")
    expect(report.locator("input[name='resident.phone']")).to_have_value("call me")
    report.locator("select[name=grid_id]").select_option(label=GRID2)
    report.locator("select[name=category]").select_option("elderly_care")
    report.locator("textarea[name=description]").fill("独居老人家里暖气不热")
    report.locator("input[name='resident.phone']").fill("13700000002")
    report.locator("button[type=submit]").click()
    expect(resident.locator("[data-track-link]")).to_be_visible()
    expect(report.locator("[data-error-for='resident.phone']")).to_be_hidden()

    # the worker: resolving before accepting is the API's 409, next to the action
    filed = stack.file(description="单元门禁坏了")
    worker = people.staff("worker1", phone=True)
    task = worker.locator(f'li.card[data-id="{filed["id"]}"]')
    task.locator("summary[data-action=resolve]").click()
    task.locator("textarea[name=resolution]").fill("门禁已修好")
    task.locator("form[data-key^=resolve] button[type=submit]").click()
    expect(task.locator('form[data-key^=resolve] [data-error-for=""]')).to_have_text(
        "当前状态不允许此操作（409）：该诉求尚未签收，请先签收"
    )
    expect(task.locator("textarea[name=resolution]")).to_have_value("门禁已修好")
    # an empty progress note: the 422 next to the note
    task.locator("button[data-action=accept]").click()
    expect(task.locator("[data-status]")).to_have_text("办理中")
    expect(task.locator("textarea[name=resolution]")).to_have_value("门禁已修好")  # kept
    task.locator("summary[data-action=progress]").click()
    task.locator("form[data-key^=progress] button[type=submit]").click()
    expect(task.locator("form[data-key^=progress] [data-error-for=note]")).to_have_text("不能为空")
    # a new request arrives and the list is redrawn while the worker types: nothing is lost
    task.locator("textarea[name=note]").fill("正在联系门禁公司")
    arrived = stack.file(description="楼顶水箱漏水")
    expect(worker.locator(f'li.card[data-id="{arrived["id"]}"]')).to_be_visible()
    expect(task.locator("textarea[name=note]")).to_have_value("正在联系门禁公司")
    expect(task.locator("textarea[name=note]")).to_be_focused()
    expect(task.locator("details[data-key^=progress-open]")).to_have_attribute("open", "")
    expect(task.locator("form[data-key^=progress] [data-error-for=note]")).to_have_text("不能为空")

    # another grid's worker may not know of the request: the page is a 404
    stranger = people.staff("worker2")
    stranger.goto(f"/requests/{filed['id']}")
    expect(stranger.locator("[data-error-page]")).to_have_text("没有找到这条诉求。")
    expect(stranger.locator("body")).not_to_contain_text("单元门禁坏了")
    # the grid's party branch may, but is not assigned yet: the API's 403, by the action
    other = people.staff("branch1")
    other.goto(f"/requests/{filed['id']}")
    other.locator("summary[data-action=escalate]").click()
    other.locator("form[data-key^=escalate] textarea[name=reason]").fill("需要社区协调")
    other.locator("form[data-key^=escalate] button[type=submit]").click()
    expect(other.locator('form[data-key^=escalate] [data-error-for=""]')).to_have_text(
        "无权进行此操作（403）：您不是该诉求当前层级的办理人员"
    )
    expect(other.locator("form[data-key^=escalate] textarea[name=reason]")).to_have_value(
        "需要社区协调"
    )

    # the caller: "reached" with a question unanswered is the API's 422, in Chinese next to
    # that question (its radios point at it with aria-describedby), the comment kept
    stack.act("worker1", filed["id"], "resolve", {"resolution": "门禁已修好"})
    caller = people.staff("caller1")
    item = caller.locator(f'li.card[data-id="{filed["id"]}"]')
    item.locator("input[name=reached][value=true]").check()
    for dimension in ("completion", "progress", "effect"):
        item.locator(f"input[name={dimension}][value=yes]").check()
    item.locator("textarea[name=comment]").fill("居民说还要再看看")
    item.locator("button[type=submit]").click()
    refusal = item.locator("[data-error-for=satisfaction]")
    expect(refusal).to_have_text("请回答此项")
    expect(item.locator('[data-error-for=""]')).to_have_text("请检查填写内容（422）")
    expect(item.locator("[data-error-for=completion]")).to_be_hidden()
    refusal_id = refusal.get_attribute("id")
    assert refusal_id
    expect(item.locator("input[name=satisfaction][value=yes]")).to_have_attribute(
        "aria-describedby", refusal_id
    )
    expect(item.locator("textarea[name=comment]")).to_have_value("居民说还要再看看")
    # not reached: the dimensions are not asked, and the attempt is counted at once
    item.locator("input[name=reached][value=false]").check()
    expect(item.locator("input[name=completion][value=yes]")).to_be_disabled()
    item.locator("button[type=submit]").click()
    outcome = caller.locator(f'#outcomes li[data-id="{filed["id"]}"]')
    expect(outcome).to_have_attribute("data-outcome", "attempt")
    expect(outcome).to_contain_text("未接通，已记一次 (1/3)")
    expect(item.locator("[data-attempts]")).to_have_text("已未接通 1 次（共 3 次机会）")
    # the success cleared the refusal: no message, no field pointing at one
    expect(item.locator("[data-error-for=satisfaction]")).to_be_hidden()
    expect(item.locator('[data-error-for=""]')).to_be_hidden()
    expect(item.locator("input[name=satisfaction][value=yes]")).not_to_have_attribute(
        "aria-describedby", re.compile(".")
    )


def test_language_switch(people: People) -> None:
    page = people.page()
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("我要反映")
    page.click("[data-lang-switch]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Report a problem")
    expect(page.locator("select[name=category] option[value=water_leak]")).to_have_text(
        "Water leak"
    )
    screenshot(page, "resident-en")
    # the choice is kept (a cookie) on the next pages, the refusals included
    page.goto("/login")
    page.fill("input[name=username]", "caller1")
    page.fill("input[name=password]", "not-the-password")
    page.click("#login button[type=submit]")
    expect(page.locator('#login [data-error-for=""]')).to_have_text(
        "Not signed in (401): Wrong username or password"
    )
    log_in(page, "caller1")
    expect(page.locator("h1")).to_have_text("Follow-up queue")
    page.goto("/board")
    expect(page.locator("[data-error-page]")).to_have_text(
        "This page needs the supervisor / administrator role; you are logged in as "
        "follow-up caller."
    )
    supervisor = people.page()
    supervisor.goto("/login?lang=en")
    log_in(supervisor, "supervisor1")
    expect(supervisor.locator("h1")).to_have_text("Supervisor board")
    expect(supervisor.locator(".kpi .k").first).to_have_text("Received")
    expect(supervisor.locator("figure[data-chart=rates] figcaption")).to_have_text(
        "Rates over time (by day received)"
    )
    screenshot(supervisor, "board-en")
    supervisor.click("[data-lang-switch]")
    expect(supervisor.locator("h1")).to_have_text("督办看板")
    expect(supervisor.locator("figure[data-chart=dimensions]")).to_contain_text("群众是否满意")


def test_tracking_page_shows_progress_but_no_staff_or_contact_data(
    people: People, stack: Dev
) -> None:
    filed = stack.file(
        description="楼道灯不亮", resident={"name": "周女士", "phone": "13611112222"}
    )
    rid = filed["id"]
    stack.act("worker1", rid, "accept")
    stack.act("worker1", rid, "progress", {"note": "已报物业，明天上午换灯"})
    page = people.page(phone=True)
    assert page.goto(f"/track/{rid}").status == 404  # the request id is not the link
    response = page.goto(f"/track/{filed['tracking_token']}")
    assert response is not None and response.headers["referrer-policy"] == "no-referrer"
    expect(page.locator("[data-status]")).to_have_text("办理中")
    expect(page.locator(".level")).to_contain_text("网格员")
    timeline = page.locator(".timeline li")
    expect(timeline).to_have_count(3)
    expect(timeline.nth(0)).to_contain_text("居民")
    expect(timeline.nth(1)).to_contain_text("签收")
    expect(timeline.nth(1)).to_contain_text("工作人员")
    expect(timeline.nth(2)).to_contain_text("已报物业，明天上午换灯")
    page.evaluate("() => { window.__marker = 1; }")
    stack.act("worker1", rid, "resolve", {"resolution": "灯已换好"})
    expect(page.locator("[data-status]")).to_have_text("待回访")  # live, no reload
    expect(timeline).to_have_count(4)
    assert page.evaluate("() => window.__marker") == 1
    text = page.inner_text("body")
    for private in ("worker1", "周女士", "13611112222"):
        assert private not in text, private
    # staff are named only on the contact card (the handlers at the request's level, by
    # display name), never in the timeline
    expect(page.locator("[data-contacts]")).to_contain_text("网格员小孙")
    assert "网格员小孙" not in page.inner_text(".timeline")

    token = filed["tracking_token"]
    public = httpx.get(f"{stack.api}/track/{token}", timeout=HTTP_SECONDS).json()
    assert "resident" not in public and "assignees" not in public
    assert all("actor" not in entry for entry in public["timeline"])
    assert "13611112222" not in str(public) and "worker1" not in str(public)
    assert [e["by"] for e in public["timeline"]] == ["resident", "staff", "staff", "staff"]

    missing = people.page()
    answer = missing.goto(f"/track/{uuid.uuid4()}")
    assert answer is not None and answer.status == 404
    expect(missing.locator("[data-error-page]")).to_have_text(
        "没有找到这条诉求，请检查链接是否完整。"
    )
    assert httpx.get(f"{stack.api}/track/not-an-id", timeout=HTTP_SECONDS).status_code == 404


def _download(page: Page, selector: str) -> list[list[str]]:
    with page.expect_download() as info:
        page.click(selector)
    path = info.value.path()
    text = path.read_text(encoding="utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_board_filters_and_csv_exports(people: People, stack: Dev) -> None:
    pothole = stack.file(XIANGHE2, category="pothole", description="小区门口路面塌陷")
    care = stack.file(XIANGHE2, category="elderly_care", description="独居老人需要代买药")
    leak = stack.file(XIANGHE2, category="water_leak", description="厨房水管渗水")
    elsewhere = stack.file(GRID1, category="pothole", description="另一个网格的坑")
    board = people.staff("supervisor1")
    board.evaluate("() => { window.__marker = 1; }")
    board.select_option("select[name=unit_id]", label=XIANGHE2)
    rows = board.locator("tr.row")
    expect(rows).to_have_count(3)
    expect(board.locator(".figures-head .scope")).to_have_text(XIANGHE2)  # figures too
    expect(board.locator("figure[data-chart=grids] svg")).to_contain_text(XIANGHE2)
    assert "医院西路社区第一网格" not in board.inner_text("figure[data-chart=grids]")
    expect(board.locator("[data-figure=received]")).to_have_text("3")
    # tiers: the pothole and the elderly person start at 3d with the grid party branch
    board.select_option("select[name=tier]", "3d")
    expect(rows).to_have_count(2)
    expect(board.locator(f'tr.row[data-id="{leak["id"]}"]')).to_have_count(0)
    expect(board.locator(f'tr.row[data-id="{care["id"]}"] td.level')).to_have_text("网格党支部")
    board.select_option("select[name=category]", "pothole")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", pothole["id"])
    expect(board.locator(f'tr.row[data-id="{elsewhere["id"]}"]')).to_have_count(0)
    assert "category=pothole" in board.url and "tier=3d" in board.url
    assert board.evaluate("() => window.__marker") == 1  # filtered without a reload

    listed = _download(board, "a[data-csv='/board/requests.csv']")
    assert listed[0][:3] == ["id", "诉求", "问题描述"]
    assert [line[0] for line in listed[1:]] == [pothole["id"]]
    assert listed[1][1:4] == ["道路坑洼", "小区门口路面塌陷", XIANGHE2]

    board.select_option("select[name=status]", "closed")
    expect(board.locator("p.empty")).to_have_text("没有符合条件的诉求。")
    stats = _download(board, "a[data-csv='/board/stats.csv']")
    assert stats[0] == ["section", "item", "measure", "value"]
    assert ["scope", "unit", "name", XIANGHE2] in stats
    assert ["summary", "", "received", "3"] in stats
    assert ["summary", "", "completion_rate", "0.0"] in stats
    assert ["summary", "", "satisfaction_rate", ""] in stats
    assert ["open_by_tier", "3d", "open", "2"] in stats
    assert ["grid", XIANGHE2, "received", "3"] in stats

    # the URL keeps the filters: opened again, the board shows the same
    again = people.staff("supervisor1")
    again.goto(board.url.replace("status=closed", "status=open"))
    expect(again.locator("tr.row")).to_have_count(1)
    expect(again.locator("select[name=category]")).to_have_value("pothole")


def test_a_worker_escalates_with_a_reason_and_the_branch_takes_it(
    people: People, stack: Dev
) -> None:
    filed = stack.file(GRID2, category="parking_charging", tier="1d", description="飞线充电")
    worker = people.staff("worker2", phone=True)
    task = worker.locator(f'li.card[data-id="{filed["id"]}"]')
    expect(task.locator("[data-tier]")).to_have_text("1天")
    task.locator("summary[data-action=escalate]").click()
    task.locator("form[data-key^=escalate] textarea[name=reason]").fill(
        "涉及整栋楼，需要网格党支部协调物业"
    )
    task.locator("form[data-key^=escalate] button[type=submit]").click()
    expect(worker.locator("#toast")).to_have_text("已上报至上一级")
    expect(task).to_have_count(0)  # off the worker's list at once

    branch = people.staff("branch1")
    taken = branch.locator(f'li.card[data-id="{filed["id"]}"]')
    expect(taken.locator("[data-tier]")).to_have_text("3天")
    expect(taken.locator("[data-status]")).to_have_text("待签收")
    taken.locator("a", has_text="查看时间线").click()
    entry = branch.locator(".timeline li").nth(1)
    expect(entry).to_contain_text("主动上报：1天 → 3天（网格党支部）")
    expect(entry).to_contain_text("涉及整栋楼，需要网格党支部协调物业")
    expect(entry).to_contain_text("网格员小候")
