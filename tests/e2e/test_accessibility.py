"""Every page checked by axe-core (WCAG 2 A/AA and axe's best practices) in both languages,
at phone (390 px) and desktop (1366x768) widths, in each state worth seeing: empty, with
requests, with a refusal shown, after a live update arrived. Any violation of serious or
critical impact fails, naming the rule and the element.

axe-core is pinned in the repository's ``package.json`` / ``package-lock.json``; ``make test``
installs it (``npm ci``) when ``node_modules`` lacks it. It is injected into each page from
that file; nothing is fetched while the tests run.

The pages checked are the web routes' pages: a GET route added to the pages (one module per
audience, gathered in :data:`web.routes.router`) that is neither in :data:`PAGES` nor in
:data:`PARTS` fails :func:`test_every_web_route_is_checked`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from closeloop.db import make_engine
from notify import inbox
from tests.e2e.conftest import BROWSER_MS, GRID1, HTTP_SECONDS, ROOT, SCREENSHOTS, Dev, log_in
from tests.media import images
from tests.notify.rows import delivered_subscription

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1366, height=768)
WIDTHS = (("desktop", DESKTOP), ("phone", PHONE))
LANGS = ("zh-CN", "en")
#: What fails the test.
SEVERE = ("serious", "critical")

#: The pages, each with who opens it.
PAGES = {
    "/": "resident",
    "/login": "resident",
    "/track/{token}": "resident",
    "/board": "supervisor1",
    "/hotspots": "supervisor1",
    "/tasks": "worker1",
    "/followups": "caller1",
    "/requests/{request_id}": "worker1",
    "/admin/categories": "admin",
    "/admin/calendar/{year}": "admin",
    "/admin/sms": "admin",
    "/admin/webhooks": "admin",
    "/admin/open311": "admin",
    "/dispatch": "dispatcher1",
    "/partner": "partner1",
    "/profile": "worker1",
    "/inbox": "worker1",
    "/assessment": "supervisor1",
    "/assessment/workers/{username}": "supervisor1",
    "/rankings": "supervisor1",
    "/rankings/unit": "supervisor1",
    "/reports/monthly": "supervisor1",
    "/me/month": "worker1",
}
#: The year the calendar page shows: one the package knows, its days listed.
CALENDAR_YEAR = "2026"
#: Web routes that are not pages of their own: the parts a page reloads (checked inside
#: that page) and the CSV files.
PARTS = {
    "/track/{token}/body": "/track/{token}",
    "/board/list": "/board",
    "/board/figures": "/board",
    "/board/map/list": "/board",
    "/board/requests.csv": "a CSV file",
    "/board/stats.csv": "a CSV file",
    "/hotspots/list": "/hotspots",
    "/tasks/list": "/tasks",
    "/followups/list": "/followups",
    "/requests/{request_id}/body": "/requests/{request_id}",
    "/admin/categories/list": "/admin/categories",
    "/admin/sms/settings": "/admin/sms",
    "/admin/calendar": "a redirect to /admin/calendar/{year}",
    "/admin/calendar/{year}/days": "/admin/calendar/{year}",
    "/admin/webhooks/list": "/admin/webhooks",
    "/admin/open311/list": "/admin/open311",
    "/dispatch/list": "/dispatch",
    "/partner/list": "/partner",
    "/inbox/list": "/inbox",
    "/assessment/table": "/assessment",
}

#: Starts axe on the page as it is (the pages' runs go on side by side); AXE_RESULT awaits it.
#: Rules whose impact is always below ``SEVERE`` (e.g. ``region``, ``heading-order``) cannot
#: fail the test: they are not run, which halves the time axe takes.
AXE_START = """(severe) => {
  const low = ((axe._audit && axe._audit.rules) || [])
    .filter((r) => r.impact && !severe.includes(r.impact))
    .map((r) => [r.id, { enabled: false }]);
  const options = { resultTypes: ["violations"], rules: Object.fromEntries(low) };
  window.__axeRun = axe.run(document, options).then((result) =>
    result.violations
    .filter((v) => severe.includes(v.impact))
    .map((v) => ({
      rule: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({
        target: n.target.join(" "),
        html: n.html.slice(0, 160),
        why: (n.failureSummary || "").split("\\n").slice(1, 2).join("").trim(),
      })),
    })));
}"""
AXE_RESULT = "() => window.__axeRun"


#: The chart labels that stick out of their chart's drawing.
CUT_LABELS = """() => [...document.querySelectorAll("svg.chart")].flatMap((svg) => {
  const v = svg.viewBox.baseVal;
  return [...svg.querySelectorAll("text")].filter((t) => {
    const b = t.getBBox();
    return b.width && (b.x < v.x - 1 || b.x + b.width > v.x + v.width + 1 || b.y < v.y - 1
      || b.y + b.height > v.y + v.height + 1);
  }).map((t) => `${svg.closest("figure")?.dataset.chart}: ${t.textContent}`);
})"""


@dataclass
class Findings:
    """The serious and critical violations found, by page, state, language and width."""

    lines: list[str] = field(default_factory=list)
    by_rule: dict[str, int] = field(default_factory=dict)
    checked: set[tuple[str, str]] = field(default_factory=set)  # (page, state)

    def check_all(
        self, pages: dict[str, Page], state: str, lang: str, states: dict[str, str] | None = None
    ) -> None:
        """Runs axe on each of ``pages`` (by route) as they are, at both widths, side by side;
        each is in ``state`` unless ``states`` names another for it."""
        states = {route: (states or {}).get(route, state) for route in pages}
        for route, page in pages.items():
            self.checked.add((route, states[route]))
            if not page.evaluate("() => typeof window.axe === 'object'"):
                # evaluated by the browser's debugging protocol: a <script> tag added to the
                # page would be an inline script, which the pages' CSP refuses
                page.evaluate("() => {\n" + AXE.read_text() + "\n}")
        for width, viewport in WIDTHS:
            for page in pages.values():
                page.set_viewport_size(viewport)
            for page in pages.values():
                _settled(_front(page))
                page.evaluate(AXE_START, list(SEVERE))
            for route, page in pages.items():
                where = f"{route} [{states[route]}, {lang}, {width}]"
                self._note(page.evaluate(AXE_RESULT), where)
        for page in pages.values():
            page.set_viewport_size(DESKTOP)

    def _note(self, violations: list[dict[str, Any]], where: str) -> None:
        for v in violations:
            self.by_rule[v["rule"]] = self.by_rule.get(v["rule"], 0) + len(v["nodes"])
            for node in v["nodes"][:5]:
                self.lines.append(
                    f"{where} {v['rule']} ({v['impact']}): {v['help']}\n"
                    f"    at {node['target']}: {node['html']}\n    {node['why']}"
                )

    def assert_none(self) -> None:
        summary = ", ".join(f"{rule}: {n}" for rule, n in sorted(self.by_rule.items()))
        assert not self.lines, (
            f"axe found {sum(self.by_rule.values())} serious/critical violations ({summary}):\n"
            + "\n".join(self.lines[:60])
        )


def _front(page: Page) -> Page:
    """``page`` brought to the front of its window. A person's pages are tabs of one window
    (one browser context), and a tab behind another gets about one animation frame a
    second, for which Playwright's actions and :func:`_settled` wait."""
    page.bring_to_front()
    return page


def _settled(page: Page) -> None:
    page.evaluate(
        "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """A ``closeloop dev`` of this file's own, so that its pages start empty."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is not installed ({AXE.relative_to(ROOT)}): run `make axe`")
    dev = Dev(tmp_path_factory.mktemp("a11y") / "data").start()
    try:
        yield dev
    finally:
        dev.stop_soon()


class Contexts:
    """One desktop-sized browser context per person for the whole file (each signs in once)."""

    def __init__(self, browser: Browser, dev: Dev) -> None:
        self.browser, self.dev = browser, dev
        self.contexts: dict[str, BrowserContext] = {}
        self.errors: list[str] = []

    def of(self, who: str) -> BrowserContext:
        if who not in self.contexts:
            context = self.browser.new_context(
                base_url=self.dev.url, viewport=DESKTOP, timezone_id="Asia/Shanghai"
            )
            context.set_default_timeout(BROWSER_MS)
            context.on("weberror", lambda error: self.errors.append(str(error.error)))
            if who != "resident":
                page = context.new_page()
                log_in(page, who)
                page.close()
            self.contexts[who] = context
        return self.contexts[who]

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


@pytest.fixture(scope="module")
def contexts(browser: Browser, fresh: Dev) -> Iterator[Contexts]:
    every = Contexts(browser, fresh)
    yield every
    every.close()


class Visitors:
    """The pages open in one language (the ``lang`` query sets the language cookie)."""

    def __init__(self, contexts: Contexts, lang: str) -> None:
        self.contexts, self.lang = contexts, lang
        self.pages: list[Page] = []

    def open(self, route: str, request_id: str = "") -> Page:
        page = self.contexts.of(PAGES[route]).new_page()
        self.pages.append(page)
        path = route.replace("{request_id}", request_id).replace("{token}", request_id)
        path = path.replace("{year}", CALENDAR_YEAR).replace("{username}", "worker1")
        page.goto(path + f"?lang={self.lang}")
        expect(page.locator("html")).to_have_attribute("lang", self.lang)
        return page

    def close(self) -> None:
        for page in self.pages:
            page.close()


@pytest.fixture(params=LANGS)
def visitors(request: pytest.FixtureRequest, contexts: Contexts) -> Iterator[Visitors]:
    crowd = Visitors(contexts, request.param)
    contexts.errors.clear()
    yield crowd
    crowd.close()
    assert not contexts.errors, f"script errors in the pages: {contexts.errors}"


def _web_routes() -> set[str]:
    from web.routes import router

    # the router includes each audience's router: iter_route_contexts walks into them
    return {
        c.path
        for c in iter_route_contexts(router.routes)
        if isinstance(c.original_route, APIRoute) and c.path and "GET" in (c.methods or ())
    }


def test_every_web_route_is_checked() -> None:
    routes = _web_routes()
    unknown = routes - set(PAGES) - set(PARTS)
    assert not unknown, (
        f"add these web routes to PAGES (or PARTS) in {Path(__file__).name}: {sorted(unknown)}"
    )
    assert set(PAGES) | set(PARTS) <= routes, "PAGES or PARTS names a route that is gone"


def test_empty_pages(visitors: Visitors) -> None:
    """Before anyone filed anything (unknown requests: the 404 pages). The resident's and the
    log-in pages show no requests: they are checked with a refusal shown (all they show, and
    more), in the next test."""
    found = Findings()
    nobody = str(uuid.uuid4())
    pages = {route: visitors.open(route, nobody) for route in set(PAGES) - {"/", "/login"}}
    for route in ("/board", "/tasks", "/followups", "/dispatch", "/partner", "/inbox"):
        expect(pages[route].locator("p.empty").first).to_be_visible()
    found.check_all(pages, "empty", visitors.lang)
    assert {r for r, _ in found.checked} == set(PAGES) - {"/", "/login"}
    found.assert_none()


def _dispatch_mode(dev: Dev, mode: str) -> None:
    """医院西路社区 dispatched by hand (``manual``) or straight to its grids (``auto``)."""
    units = httpx.get(
        f"{dev.api}/units", params={"kind": "community"}, headers=dev.auth("admin"), timeout=60
    ).json()
    community = next(u["id"] for u in units if u["name"] == "医院西路社区")
    answer = httpx.patch(
        f"{dev.api}/units/{community}",
        json={"dispatch": mode},
        headers=dev.auth("admin"),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text


def _waiting(dev: Dev, description: str) -> str:
    """A request that waits for dispatch (the community is manual only while it is filed)."""
    _dispatch_mode(dev, "manual")
    try:
        return str(dev.file(category="pothole", description=description)["id"])
    finally:
        _dispatch_mode(dev, "auto")


def _cohandled(dev: Dev, request_id: str) -> None:
    dev.act("worker1", request_id, "cohandlers", {"username": "partner1", "task": "检查管道"})


def _message(dev: Dev, kind: str, request_id: str, **params: Any) -> int:
    """A message in worker1's inbox, written into the stack's database as the notifier does."""
    engine = make_engine(f"sqlite:///{dev.data_dir / 'closeloop.db'}")
    try:
        return inbox.add_message("worker1", kind, params, db=engine, request_id=request_id)
    finally:
        engine.dispose()


def _photo(dev: Dev) -> str:
    """A photo uploaded as a resident uploads one; its id."""
    answer = httpx.post(
        f"{dev.api}/photos",
        files={"file": ("photo.png", images.png(), "image/png")},
        timeout=HTTP_SECONDS,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _scene(dev: Dev, lang: str) -> dict[str, str]:
    """Requests in each state worth seeing: assigned, in progress, resolved; one waiting
    for dispatch, one co-handled by partner1."""
    mark = f"({lang})"
    # with a place and a photo: the request page and the tracking page show them
    photo = _photo(dev)
    assigned = dev.file(
        description=f"楼道灯坏了 {mark}", lat=39.19, long=99.83, address="祥和苑3号楼",
        building="3号楼2单元", photos=[photo],
    )["id"]  # fmt: skip
    # its likely duplicate, 22 m away, waiting for dispatch: the request page lists it (with
    # the platform's merge form), the dispatch queue marks it
    _dispatch_mode(dev, "manual")
    try:
        dev.file(
            description=f"楼道的灯也不亮了 {mark}", lat=39.1902, long=99.83,
            resident={"name": "赵先生", "phone": "13800000011"},
        )  # fmt: skip
    finally:
        _dispatch_mode(dev, "auto")
    # with a point too: the board's map shows both, in two states
    working_filed = dev.file(
        description=f"下水道堵了，污水漫到院子里 {mark}", photos=[photo], lat=39.192, long=99.835
    )
    working = working_filed["id"]
    dev.act("worker1", working, "accept")
    dev.act("worker1", working, "progress", {"note": "已联系物业，明天上午疏通"})
    resolved = dev.file(description=f"小区门口路灯不亮 {mark}")["id"]
    dev.act("worker1", resolved, "accept")
    dev.act("worker1", resolved, "resolve", {"resolution": "已更换灯泡"})
    _waiting(dev, f"小区北门路面塌陷 {mark}")
    _cohandled(dev, working)
    _message(dev, "urged", working, by="supervisor1", note=f"今天务必处理 {mark}")
    _message(dev, "assigned", assigned, via="filed", tier="1d", level="grid_worker",
             category="water_leak")  # fmt: skip
    return {
        "assigned": assigned,
        "working": working,
        "working_link": working_filed["tracking_token"],
        "resolved": resolved,
    }


def _board_list_first(page: Page, lang: str) -> None:
    """The board's list is in view without scrolling at both widths; on a phone the charts
    start folded behind their toggle, which opens them."""
    for width, viewport in WIDTHS:
        page.set_viewport_size(viewport)
        page.reload()
        first = page.locator("#board-list tr.row").first
        expect(first).to_be_visible()
        expect(first).to_be_in_viewport()
        charts = page.locator("details[data-charts]")
        if width == "phone":
            expect(charts).not_to_have_attribute("open", "")
            page.screenshot(
                path=str(SCREENSHOTS / f"a11y-board-{lang}-{width}.png"), full_page=True
            )
            charts.locator("summary").press("Enter")  # the keyboard opens them
            expect(charts).to_have_attribute("open", "")
        else:
            expect(charts).to_have_attribute("open", "")
            page.screenshot(
                path=str(SCREENSHOTS / f"a11y-board-{lang}-{width}.png"), full_page=True
            )
        cut = page.evaluate(CUT_LABELS)  # the labels fit their charts
        assert not cut, f"chart labels cut off ({lang}, {width}): {cut}"
    page.set_viewport_size(DESKTOP)


def _keyboard_reaches(page: Page, selector: str) -> None:
    """Tab from the top of the page reaches ``selector``, with a visible focus outline."""
    page.locator("body").focus()
    target = page.locator(selector)
    for _ in range(20):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            break
    expect(target).to_be_focused()
    outline = target.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline not in ("none", ""), f"no visible focus on {selector}"


def _card(page: Page, request_id: str) -> Any:
    return page.locator(f'li.card[data-id="{request_id}"]')


def test_pages_with_requests_refusals_and_live_updates(visitors: Visitors, fresh: Dev) -> None:
    found = Findings()
    lang = visitors.lang
    ids = _scene(fresh, lang)
    shown = {"/track/{token}": ids["working_link"], "/requests/{request_id}": ids["assigned"]}
    delivered_subscription(fresh.data_dir)  # listed with its deliveries on /admin/webhooks

    # every page open, showing requests (checked below, once a refusal and a live update
    # were added to what they show)
    pages: dict[str, Page] = {}
    for route in PAGES:
        pages[route] = page = visitors.open(route, shown.get(route, ""))
        if route in ("/board", "/tasks", "/followups", "/dispatch", "/partner", "/inbox"):
            expect(page.locator("p.empty")).to_have_count(0)
    _board_list_first(pages["/board"], lang)
    # the board's map drew its markers (checked with the page, keyboard-reachable buttons)
    board_map = pages["/board"].locator("#board-map")
    expect(board_map.locator(f'.map-pin[data-request-id="{ids["working"]}"]')).to_be_visible()
    expect(board_map).to_have_attribute("data-ground", "plain")

    # ---- a refusal shown (the resident's and the log-in forms) ------------------------------
    page = _front(pages["/"])
    _keyboard_reaches(page, "#report select[name=grid_id]")
    page.locator("#report button[type=submit]").click()
    expect(page.locator("#report [data-error-for]:not([hidden])").first).to_be_visible()
    grid = page.locator("#report select[name=grid_id]")  # the refusal is the field's description
    expect(grid).to_have_attribute("aria-invalid", "true")
    expect(grid).to_have_attribute("aria-describedby", re.compile(r"\bcl-error-"))
    described = grid.get_attribute("aria-describedby") or ""
    expect(page.locator(f"#{described.split()[-1]}")).to_have_attribute("data-error-for", "grid_id")
    login = _front(pages["/login"])
    login.fill("input[name=username]", "worker1")
    login.fill("input[name=password]", "not-the-password")
    login.click("#login button[type=submit]")
    expect(login.locator("#login [data-error-for]:not([hidden])").first).to_be_visible()
    catalogue = _front(pages["/admin/categories"])
    catalogue.locator("#category-add button[type=submit]").click()  # nothing typed: 422s
    expect(catalogue.locator("#category-add [data-error-for=code]")).to_be_visible()
    catalogue.locator("li.category summary[data-action=edit]").first.click()
    calendar = _front(pages["/admin/calendar/{year}"])  # a day of another year
    calendar.locator("textarea[name=holidays]").fill("2025-12-31")
    calendar.locator("#calendar-form button[type=submit]").click()
    holidays = calendar.locator("textarea[name=holidays]")
    expect(holidays).to_have_attribute("aria-invalid", "true")
    expect(holidays).to_have_attribute("aria-describedby", re.compile(r"calendar-format cl-error-"))
    hooks = _front(pages["/admin/webhooks"])  # a subscription's delete confirmation open, a refusal
    hooks.locator("li.webhook summary[data-action=delete]").first.click()
    hooks.locator("#webhook-add input[name=url]").fill("ftp://1.1.1.1/closeloop")
    hooks.locator("#webhook-add button[type=submit]").click()
    expect(hooks.locator("#webhook-add [data-error-for=url]")).to_be_visible()
    expect(hooks.locator("li.delivery").first).to_be_visible()
    refusals = {
        "/": page,
        "/login": login,
        "/admin/categories": catalogue,
        "/admin/calendar/{year}": calendar,
        "/admin/webhooks": hooks,
    }
    found.check_all(refusals, "refusal", lang)

    # the next success clears the refusal; the confirmation is checked too
    report = _front(page).locator("#report")
    report.locator("select[name=grid_id]").select_option(label=GRID1)
    report.locator("select[name=category]").select_option("water_leak")
    report.locator("textarea[name=description]").fill(f"井盖松动 ({lang})")
    report.locator("input[name='resident.name']").fill("王阿姨")
    report.locator("input[name='resident.phone']").fill("13700000003")
    report.locator("button[type=submit]").click()
    expect(page.locator("[data-track-link]")).to_be_visible()
    expect(report.locator("[data-error-for]:not([hidden])")).to_have_count(0)
    expect(grid).not_to_have_attribute("aria-describedby", re.compile(r"\bcl-error-"))
    # (checked with the pages below)

    # ---- the pages with requests: a refusal shown (where there is a form), then a live update
    # arrives (the refusal stays), then axe
    card = _card(_front(pages["/tasks"]), ids["assigned"])
    card.locator("summary[data-action=resolve]").click()
    card.locator("textarea[name=resolution]").fill("已修好")
    card.locator("form[data-key^=resolve] button[type=submit]").click()  # not accepted: 409
    card = _card(_front(pages["/followups"]), ids["resolved"])
    card.locator("input[name=reached][value=true]").check()
    card.locator("button[type=submit]").click()  # reached without the answers: 422
    page = _front(pages["/requests/{request_id}"])
    page.locator("summary[data-action=escalate]").click()
    page.locator("form[data-key^=escalate] button[type=submit]").click()  # no reason: 422
    dispatch = _front(pages["/dispatch"]).locator("li.card").first  # a note too long: 422
    dispatch.locator("textarea[name=note]").fill("长" * 4001)
    dispatch.locator("button[data-action=dispatch]").click()
    partner = _front(pages["/partner"]).locator("li.card").first
    partner.locator("summary[data-action=progress]").click()
    partner.locator("form[data-key^=partner-progress] button[type=submit]").click()  # blank
    with_forms = ("/tasks", "/followups", "/requests/{request_id}", "/dispatch", "/partner")
    for route in with_forms:
        shown_error = pages[route].locator("[data-error-for]:not([hidden])").first
        expect(shown_error).to_be_visible()

    arrived = fresh.file(description=f"电梯困人，请尽快处理 ({lang})")["id"]
    done = fresh.file(description=f"垃圾桶满了 ({lang})")["id"]
    fresh.act("worker1", done, "accept")
    fresh.act("worker1", done, "resolve", {"resolution": "已清运"})
    fresh.act("worker1", ids["working"], "progress", {"note": "疏通队已到现场"})
    fresh.act("worker1", ids["assigned"], "accept")
    waiting = _waiting(fresh, f"路面又塌了一块 ({lang})")
    _cohandled(fresh, ids["assigned"])
    message = _message(fresh, "warned", ids["assigned"], tier="1d", level="grid_worker")
    live = {
        "/board": pages["/board"].locator(f'tr.row[data-id="{arrived}"]'),
        "/tasks": _card(pages["/tasks"], arrived),
        "/followups": _card(pages["/followups"], done),
        "/track/{token}": pages["/track/{token}"].locator(".timeline", has_text="疏通队已到现场"),
        "/requests/{request_id}": pages["/requests/{request_id}"].locator(
            '.request [data-status="in_progress"]'
        ),
        "/dispatch": _card(pages["/dispatch"], waiting),
        "/partner": _card(pages["/partner"], ids["assigned"]),
        "/inbox": pages["/inbox"].locator(f'li.msg[data-id="{message}"]'),
    }
    for route, arrival in live.items():
        expect(arrival).to_be_visible()
        if route in ("/board", "/tasks", "/followups", "/dispatch", "/partner"):  # announced
            expect(pages[route].locator("#announcer[aria-live=polite]")).not_to_be_empty()
        if route in with_forms:
            expect(pages[route].locator("[data-error-for]:not([hidden])").first).to_be_visible()
    state = "requests, a refusal, a live update"
    checked = {route: pages[route] for route in [*live, "/"]}
    found.check_all(checked, state, lang, states={"/": "filed"})

    expected = {
        "refusal": {
            "/",
            "/login",
            "/admin/categories",
            "/admin/calendar/{year}",
            "/admin/webhooks",
        },
        "filed": {"/"},
        "requests, a refusal, a live update": set(live),
    }
    for state, routes in expected.items():
        assert {r for r, s in found.checked if s == state} == routes, state
    found.assert_none()


def _operations_scene(dev: Dev, lang: str) -> dict[str, str]:
    """A request with the operations' marks (an extension ask waiting, an urge, a
    co-handler at work) and one that went up from the grid worker (who assists)."""
    mark = f"({lang})"
    asked = dev.file(description=f"单元门禁坏了 {mark}")["id"]
    deadline = datetime.fromisoformat(dev.request(asked)["deadline"])
    until = (deadline + timedelta(hours=1)).isoformat()
    dev.act("worker1", asked, "extension", {"until": until, "reason": "等厂家上门"})
    dev.act("supervisor1", asked, "urge", {"note": "今天务必处理"})
    dev.act("supervisor1", asked, "cohandlers", {"username": "partner1", "task": "联系厂家"})
    went_up = dev.file(description=f"楼顶防水层破损 {mark}")["id"]
    dev.act("worker1", went_up, "escalate", {"reason": "需要支部协调"})
    return {"asked": asked, "went_up": went_up}


def test_the_operations_states(visitors: Visitors, fresh: Dev) -> None:
    """The handler's page with the operations' marks, a refusal next to the extension's
    date-time field and the assisting section; the level above's extension asks; the board
    filtered with an urge form open; the request page's oversight forms."""
    found = Findings()
    lang = visitors.lang
    ids = _operations_scene(fresh, lang)

    def open_as(who: str, path: str) -> Page:
        page = visitors.contexts.of(who).new_page()
        visitors.pages.append(page)
        page.goto(f"{path}{'&' if '?' in path else '?'}lang={lang}")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        return page

    tasks = open_as("worker1", "/tasks")
    mine = _card(tasks, ids["asked"])
    expect(mine.locator("[data-extension-pending]")).to_be_visible()
    expect(tasks.locator(f'li.card.assist[data-assist-id="{ids["went_up"]}"]')).to_be_visible()
    mine.locator("summary[data-action=extension]").click()
    form = mine.locator("form[data-key^=extension]")
    form.locator("input[name=until]").fill("2100-01-01T09:00")
    form.locator("button[type=submit]").click()  # an ask waits already, and no reason: refused
    expect(form.locator("[data-error-for]:not([hidden])").first).to_be_visible()

    asks = open_as("branch1", "/tasks")
    expect(asks.locator(f'li.card.ask[data-ask-id="{ids["asked"]}"]')).to_be_visible()

    board = open_as("supervisor1", "/board?extension_pending=1&urged=1")
    row = board.locator(f'#board-list tr.row[data-id="{ids["asked"]}"]')
    expect(row.locator("[data-warned], [data-urges]").first).to_be_visible()
    row.locator("summary[data-action=urge]").click()
    row.locator("form[data-key^=urge] button[type=submit]").click()  # no note: refused
    expect(row.locator("[data-error-for=note]")).to_be_visible()

    request = open_as("supervisor1", f"/requests/{ids['asked']}")
    for action in ("urge", "redirect", "retier", "out-of-scope"):
        request.locator(f"summary[data-action={action}]").click()
    expect(request.locator("form.decision")).to_be_visible()

    found.check_all(
        {
            "/tasks": tasks,
            "/tasks (the level above)": asks,
            "/board": board,
            "/requests/{request_id}": request,
        },
        "operations",
        lang,
    )
    found.assert_none()


def test_the_merged_request_pages(visitors: Visitors, fresh: Dev) -> None:
    """Merging (合并): the merged request's page with its banner, the unmerge form open and
    a refusal next to its reason; the primary's page listing it; the resident's tracking
    page saying the report is handled jointly."""
    found = Findings()
    lang = visitors.lang
    mark = f"({lang})"
    primary = fresh.file(description=f"三号楼楼顶漏水 {mark}")["id"]
    filed = fresh.file(
        description=f"三号楼顶楼天花板渗水 {mark}",
        resident={"name": "钱女士", "phone": "13800000021"},
    )
    duplicate = filed["id"]
    fresh.act("worker1", duplicate, "merge", {"into": primary, "reason": f"同一处漏水 {mark}"})

    def open_as(who: str, path: str) -> Page:
        page = visitors.contexts.of(who).new_page()
        visitors.pages.append(page)
        page.goto(f"{path}?lang={lang}")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        return page

    merged = open_as("dispatcher1", f"/requests/{duplicate}")
    expect(merged.locator(f'[data-merged-into="{primary}"]')).to_be_visible()
    merged.locator("summary[data-action=unmerge]").click()
    merged.locator("details.unmerge button[type=submit]").click()  # no reason: refused
    expect(merged.locator("details.unmerge [data-error-for=reason]")).to_be_visible()
    listing = open_as("dispatcher1", f"/requests/{primary}")
    expect(listing.locator(f'[data-merged-duplicate="{duplicate}"]')).to_be_visible()
    tracked = open_as("resident", f"/track/{filed['tracking_token']}")
    expect(tracked.locator("[data-merged]")).to_be_visible()
    found.check_all(
        {
            "/requests/{request_id}": merged,
            "/requests/{request_id} (the primary)": listing,
            "/track/{token}": tracked,
        },
        "merged",
        lang,
    )
    found.assert_none()


def test_the_sms_page(visitors: Visitors, fresh: Dev) -> None:
    """The admins' SMS page: a template refused next to its field, a test to a number that
    is not a mobile refused next to it; then a save (the form reloads with who changed it)
    and a test sent through the log provider, its answer announced."""
    found = Findings()
    page = visitors.open("/admin/sms")
    form = page.locator("#sms-settings-form")
    template = form.locator("textarea[name='templates.test']")
    template.fill("测试短信 {foo}")
    form.locator("button[type=submit]").click()
    expect(template).to_have_attribute("aria-invalid", "true")
    expect(form.locator("[data-error-for='templates.test']")).to_contain_text("{foo}")
    test = page.locator("#sms-test")
    test.locator("input[name=phone]").fill("12345")
    test.locator("button[type=submit]").click()
    expect(test.locator("[data-error-for=phone]")).to_be_visible()
    found.check_all({"/admin/sms": page}, "refusal", visitors.lang)
    page.screenshot(path=str(SCREENSHOTS / f"a11y-sms-{visitors.lang}.png"), full_page=True)

    template = page.locator("#sms-settings-form textarea[name='templates.test']")
    template.fill(f"测试短信（{visitors.lang}）{{sent_at}}")
    page.locator("#sms-settings-form button[type=submit]").click()
    expect(page.locator("#sms-settings-form [data-template=test] [data-changed]")).to_be_visible()
    expect(page.locator("#sms-settings-form [data-error-for]:not([hidden])")).to_have_count(0)
    test.locator("input[name=phone]").fill("13800000009")
    test.locator("button[type=submit]").click()
    expect(page.locator("#sms-test-result[aria-live=polite] [data-ok=true]")).to_be_visible()
    expect(test.locator("[data-error-for=phone]")).to_be_hidden()
    found.check_all({"/admin/sms": page}, "saved, test sent", visitors.lang)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / f"a11y-sms-{visitors.lang}-sent.png"), full_page=True)
    found.assert_none()
    sent = (fresh.data_dir / "sms" / "sms.log").read_text(encoding="utf-8")
    assert "138****0009" in sent and "13800000009" not in sent
    assert f"测试短信（{visitors.lang}）" in sent


# ---- the staff's profile, and the resident's contact card and own review ------------------


@pytest.fixture(scope="module")
def reviewing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """A ``closeloop dev`` whose residents may review a resolution themselves, so that the
    tracking page offers its review form (``fresh`` has the window off, for the callers'
    queue)."""
    dev = Dev(tmp_path_factory.mktemp("a11y-review") / "data", self_review_hours=72.0).start()
    try:
        yield dev
    finally:
        dev.stop_soon()


def test_the_profile_and_the_residents_review(
    visitors: Visitors, reviewing: Dev, browser: Browser
) -> None:
    """The profile page with its work phone refused, and the tracking page with the
    contact card and the review form open, a question's refusal shown."""
    found = Findings()
    lang = visitors.lang
    profile = visitors.open("/profile")
    form = profile.locator("#profile-form")
    field = form.locator("input[name=work_phone]")
    field.fill("12345")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=work_phone]")).to_be_visible()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", re.compile(r"work-phone-format cl-error-"))

    dev = reviewing
    answer = httpx.patch(
        f"{dev.api}/auth/me",
        json={"work_phone": "0539-1234567-8"},
        headers=dev.auth("worker1"),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    filed = dev.file(description=f"楼道灯不亮 ({lang})")
    dev.act("worker1", filed["id"], "accept")
    dev.act("worker1", filed["id"], "resolve", {"resolution": "已更换灯泡"})
    context = browser.new_context(base_url=dev.url, viewport=DESKTOP, timezone_id="Asia/Shanghai")
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    try:
        track = context.new_page()
        track.goto(f"/track/{filed['tracking_token']}?lang={lang}#review")
        expect(track.locator("html")).to_have_attribute("lang", lang)
        expect(track.locator("[data-contacts] a[data-work-phone]")).to_be_visible()
        review = track.locator("#review")
        review.locator("fieldset[data-dimension=completion] input[value=yes]").check()
        review.locator("button[type=submit]").click()  # three questions unanswered: 422
        expect(review.locator("[data-error-for=progress]")).to_be_visible()
        radio = review.locator("input[name=progress]").first
        expect(radio).to_have_attribute("aria-invalid", "true")
        found.check_all(
            {"/profile": profile, "/track/{token}": track}, "a refusal, the review form", lang
        )
        for width, viewport in WIDTHS:
            track.set_viewport_size(viewport)
            track.screenshot(
                path=str(SCREENSHOTS / f"a11y-track-review-{lang}-{width}.png"), full_page=True
            )
    finally:
        context.close()
    assert not errors, f"script errors in the tracking page: {errors}"
    found.assert_none()
