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
import socket
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
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)

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

GRID1 = "医院西路社区第一网格"
GRID2 = "医院西路社区第二网格"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Dev:
    """``closeloop dev`` as a user runs it, in its own process, with the demo town."""

    def __init__(self, data_dir: Path, day_seconds: float | None = None) -> None:
        self.api_port = _free_port()
        self.env = {
            **os.environ,
            "CLOSELOOP_DATA_DIR": str(data_dir),
            "CLOSELOOP_API_PORT": str(self.api_port),
            "CLOSELOOP_TEMPORAL_PORT": str(_free_port()),
            "CLOSELOOP_TEMPORAL_UI_PORT": str(_free_port()),
            "CLOSELOOP_ADMIN_PASSWORD": "e2e-admin-password",
            "CLOSELOOP_POLL_SECONDS": "0.1",
        }
        if day_seconds is not None:
            self.env["CLOSELOOP_DAY_SECONDS"] = str(day_seconds)
        else:
            self.env.pop("CLOSELOOP_DAY_SECONDS", None)
        for name in (
            "CLOSELOOP_DATABASE_URL",
            "CLOSELOOP_TEMPORAL_ADDRESS",
            "CLOSELOOP_JWT_SECRET",
        ):
            self.env.pop(name, None)
        self.data_dir = data_dir
        self.log = data_dir.parent / f"dev-{self.api_port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.api = f"{self.url}/api/v1"
        self._tokens: dict[str, dict[str, str]] = {}

    def start(self) -> Dev:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "closeloop.cli", "dev"],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            )  # fmt: skip
        end = time.monotonic() + 90
        while time.monotonic() < end:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("closeloop dev did not come up:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            log = self.log.read_text()
            raise AssertionError("closeloop dev did not stop on SIGTERM:\n" + log) from None

    # ---- the JSON API, for setting the scene and checking what the pages show ------

    def auth(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            answer = httpx.post(
                f"{self.api}/auth/token",
                data={"username": username, "password": f"demo-{username}"},
            )
            assert answer.status_code == 200, answer.text
            self._tokens[username] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return self._tokens[username]

    def grid(self, name: str) -> str:
        units = httpx.get(
            f"{self.api}/units", params={"kind": "grid"}, headers=self.auth("supervisor1")
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
        answer = httpx.post(f"{self.api}/requests", params={"consistent": "true"}, json=body)
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
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def request(self, request_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.api}/requests/{request_id}", headers=self.auth("supervisor1"))
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


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
        dev.stop()


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
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page

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
    page.fill("input[name=password]", password or f"demo-{username}")
    page.click("#login button[type=submit]")
    page.wait_for_url(re.compile(r"/(board|tasks|followups)"))


@pytest.fixture
def people(browser: Browser, stack: Dev) -> Iterator[People]:
    crowd = People(browser, stack)
    yield crowd
    crowd.close()
    assert not crowd.errors, f"script errors in the pages: {crowd.errors}"


def screenshot(page: Page, name: str) -> None:
    """The whole page at desktop and phone widths: ``<name>-desktop.png``, ``<name>-phone.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or DESKTOP
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(150)  # let the layout settle
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(size)
