"""End-to-end: the real ``closeloop dev`` (its own process, free ports, a fresh data folder)
driven by Debian's Chromium through Playwright for Python.

Screenshots of every page at phone and desktop widths go to ``test-artifacts/screenshots/``
(``CLOSELOOP_SCREENSHOTS`` overrides it).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from closeloop.bootstrap import demo_password
from closeloop.temporal_server import free_ports

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("CLOSELOOP_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))
CHROMIUM = os.environ.get("CLOSELOOP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1366, height=900)
#: A font with Chinese glyphs, so that the screenshots can be read (Debian's package name).
CJK_FONT_PACKAGE = "fonts-wqy-microhei"

#: The admin's password in every ``closeloop dev`` the tests start.
ADMIN_PASSWORD = "e2e-tests-passphrase"


def _password(username: str) -> str:
    return ADMIN_PASSWORD if username == "admin" else demo_password(username)


GRID1 = "医院西路社区第一网格"
GRID2 = "医院西路社区第二网格"


#: Generous deadlines: the CI machine is shared and sometimes busy.
START_SECONDS = 180.0
STOP_SECONDS = 90.0
#: For the JSON API calls (a ``consistent`` command waits for the read models).
HTTP_SECONDS = 60.0
#: For Playwright's actions and its auto-waiting ``expect``.
BROWSER_MS = 60_000
expect.set_options(timeout=BROWSER_MS)


class Dev:
    """``closeloop dev`` as a user runs it, in its own process, with the demo town."""

    def __init__(
        self,
        data_dir: Path,
        day_seconds: float | None = None,
        self_review_hours: float | None = 0.0,
    ) -> None:
        self.data_dir = data_dir
        self.day_seconds = day_seconds
        #: the residents' self-review window (None: the default, 72 hours); 0 by default
        #: here, so that a resolved request waits for a caller at once, as the older tests
        #: expect; the self-review tests open it
        self.self_review_hours = self_review_hours
        self.env: dict[str, str] = {}
        self.api_port = 0
        self.log = data_dir.parent / "dev.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.api = ""
        self._tokens: dict[str, dict[str, str]] = {}

    def _configure(self) -> None:
        """Fresh free ports for the API, Temporal and its UI."""
        self.api_port, temporal_port, ui_port = free_ports(3)
        self.env = {
            **os.environ,
            "CLOSELOOP_DATA_DIR": str(self.data_dir),
            "CLOSELOOP_API_PORT": str(self.api_port),
            "CLOSELOOP_TEMPORAL_PORT": str(temporal_port),
            "CLOSELOOP_TEMPORAL_UI_PORT": str(ui_port),
            "CLOSELOOP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "CLOSELOOP_POLL_SECONDS": "0.1",
        }
        if self.day_seconds is not None:
            self.env["CLOSELOOP_DAY_SECONDS"] = str(self.day_seconds)
        else:
            self.env.pop("CLOSELOOP_DAY_SECONDS", None)
        if self.self_review_hours is not None:
            self.env["CLOSELOOP_SELF_REVIEW_HOURS"] = str(self.self_review_hours)
        else:
            self.env.pop("CLOSELOOP_SELF_REVIEW_HOURS", None)
        for name in (
            "CLOSELOOP_DATABASE_URL",
            "CLOSELOOP_TEMPORAL_ADDRESS",
            "CLOSELOOP_JWT_SECRET",
        ):
            self.env.pop(name, None)
        self.log = self.data_dir.parent / f"dev-{self.api_port}.log"
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.api = f"{self.url}/api/v1"

    def start(self, attempts: int = 3) -> Dev:
        """Start on free ports and wait until it answers; a start that fails (a chosen port
        was taken before it was bound) is tried again on other ports."""
        for attempt in range(1, attempts + 1):
            self._configure()
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("wb") as out:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "closeloop.cli", "dev"],
                    env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                )  # fmt: skip
            failure = self._until_healthy()
            if failure is None:
                return self
            log = self.log.read_text(errors="replace")
            self.stop()
            if attempt == attempts:
                raise AssertionError(f"closeloop dev did not come up ({failure}):\n{log}")
        raise AssertionError("not started")  # attempts < 1

    def _until_healthy(self) -> str | None:
        """None once /health answers 200; otherwise why the start failed."""
        assert self.process is not None
        end = time.monotonic() + START_SECONDS
        while time.monotonic() < end:
            if self.process.poll() is not None:
                return f"exited with {self.process.returncode}"
            if "could not start" in self.log.read_text(errors="replace"):
                return "the API could not start (its port was taken?)"
            try:
                if httpx.get(f"{self.api}/health", timeout=10).status_code == 200:
                    return None
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        return f"no healthy answer in {START_SECONDS:.0f} s"

    def stop(self) -> None:
        """SIGTERM, and wait until it has stopped (it must within ``STOP_SECONDS``)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        self._stopped()

    def stop_soon(self) -> None:
        """SIGTERM, without waiting: its clean stop takes seconds, in which the next tests
        run. The package's end waits for it (:func:`stopping`), and fails as :meth:`stop`
        does if it does not stop."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        _STOPPING.append(self)

    def _stopped(self) -> None:
        assert self.process is not None
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            log = self.log.read_text()
            raise AssertionError("closeloop dev did not stop on SIGTERM:\n" + log) from None

    # ---- the JSON API, for setting the scene and checking what the pages show ------

    def notifier_caught_up(self) -> None:
        """Until the notifier has handled every stored event (``/health``'s notifications
        lag is 0): what it still had to handle would add messages after the scene's."""
        end = time.monotonic() + HTTP_SECONDS
        while True:
            health = httpx.get(f"{self.api}/health", timeout=HTTP_SECONDS).json()
            if health.get("notifications", {}).get("lag") == 0:
                return
            assert time.monotonic() < end, f"the notifier lags: {health}"
            time.sleep(0.1)

    def auth(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            answer = httpx.post(
                f"{self.api}/auth/token",
                data={"username": username, "password": _password(username)},
                timeout=HTTP_SECONDS,
            )
            assert answer.status_code == 200, answer.text
            self._tokens[username] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return self._tokens[username]

    def grid(self, name: str) -> str:
        units = httpx.get(
            f"{self.api}/units",
            params={"kind": "grid"},
            headers=self.auth("supervisor1"),
            timeout=HTTP_SECONDS,
        ).json()
        return str(next(u["id"] for u in units if u["name"] == name))

    def file(self, grid: str = GRID1, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "grid_id": self.grid(grid),
            "category": "water_leak",
            "description": "楼上漏水，天花板泡坏了",
            "channel": "app",
            "resident": {"name": "李先生", "phone": "13800000000"},
        }
        body.update(overrides)
        answer = httpx.post(
            f"{self.api}/requests",
            params={"consistent": "true"},
            json=body,
            # only staff set a tier: such a request is filed by the grid's worker
            headers=self.auth("worker1") if "tier" in overrides else {},
            timeout=HTTP_SECONDS,
        )
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def act(
        self, username: str, request_id: str, action: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.api}/requests/{request_id}/{action}",
            params={"consistent": "true"},
            json=body or {},
            headers=self.auth(username),
            timeout=HTTP_SECONDS,
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def request(self, request_id: str) -> dict[str, Any]:
        answer = httpx.get(
            f"{self.api}/requests/{request_id}",
            headers=self.auth("supervisor1"),
            timeout=HTTP_SECONDS,
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


#: The ``closeloop dev`` processes told to stop by :meth:`Dev.stop_soon`.
_STOPPING: list[Dev] = []


@pytest.fixture(scope="package", autouse=True)
def stopping() -> Iterator[None]:
    """At the package's end (after every other fixture here), each ``closeloop dev`` told
    to stop has stopped."""
    yield
    failures: list[str] = []
    for dev in _STOPPING:
        try:
            dev._stopped()
        except AssertionError as failure:
            failures.append(str(failure))
    _STOPPING.clear()
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """One ``closeloop dev`` on ordinary days for the tests that need no escalation."""
    dev = Dev(tmp_path_factory.mktemp("e2e") / "data").start()
    try:
        yield dev
    finally:
        dev.stop()


StackFactory = Callable[[float], Dev]


@pytest.fixture
def short_days_stack(tmp_path: Path) -> Iterator[StackFactory]:
    """Starts a ``closeloop dev`` whose days last the given seconds (stopped after the test)."""
    started: list[Dev] = []

    def start(day_seconds: float) -> Dev:
        dev = Dev(tmp_path / "data", day_seconds=day_seconds).start()
        started.append(dev)
        return dev

    yield start
    for dev in started:
        dev.stop_soon()


def _check_cjk_font() -> None:
    """Chinese glyphs for the screenshots come from a font ``make browser`` installs
    (Debian's WenQuanYi); the tests read text, not pixels, so without it they only warn."""
    fc_list = shutil.which("fc-list") or "fc-list"
    try:
        found = subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True).stdout
    except OSError:
        found = ""
    if not found:
        print(f"no Chinese font ({CJK_FONT_PACKAGE}): the screenshots will show boxes")


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright's sync API runs an event loop of its own while it is started: it must be
    stopped before any other package's asyncio tests run, hence package scope."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    _check_cjk_font()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


class People:
    """One browser context (its own cookies) per person, phone-sized or desktop-sized."""

    def __init__(self, browser: Browser, dev: Dev) -> None:
        self.browser = browser
        self.dev = dev
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []  # script errors on any page
        self.violations: list[str] = []  # what the Content-Security-Policy refused

    def page(self, phone: bool = False, lang: str = "zh-CN") -> Page:
        context = self.browser.new_context(
            base_url=self.dev.url,
            viewport=PHONE if phone else DESKTOP,
            is_mobile=phone,
            has_touch=phone,
            locale=lang,
            timezone_id="Asia/Shanghai",
            accept_downloads=True,
        )
        context.set_default_timeout(BROWSER_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._watch_console)
        return page

    def _watch_console(self, message: ConsoleMessage) -> None:
        # Chromium reports a refused inline script, style or handler on the console
        if message.type == "error" and "Content Security Policy" in message.text:
            self.violations.append(message.text)

    def staff(self, username: str, phone: bool = False) -> Page:
        """A staff member's page after logging in through the log-in page."""
        page = self.page(phone=phone)
        log_in(page, username)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def log_in(page: Page, username: str, password: str | None = None) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password or _password(username))
    page.click("#login button[type=submit]")
    page.wait_for_url(re.compile(r"/(board|tasks|followups|dispatch|partner)"))


@pytest.fixture
def people(browser: Browser, stack: Dev) -> Iterator[People]:
    crowd = People(browser, stack)
    yield crowd
    crowd.close()
    assert not crowd.errors, f"script errors in the pages: {crowd.errors}"
    assert not crowd.violations, f"the pages break their CSP: {crowd.violations}"


def _settled(page: Page) -> None:
    """Until the page has laid out and painted what it shows (two animation frames)."""
    page.evaluate(
        "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )


def screenshot(page: Page, name: str) -> None:
    """The whole page at desktop and phone widths: ``<name>-desktop.png``, ``<name>-phone.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or DESKTOP
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        _settled(page)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(size)
