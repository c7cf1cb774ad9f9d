"""Security headers on every response; a policy the pages keep (nothing inline to allow);
HSTS and Secure cookies only behind TLS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from api.headers import CONTENT_SECURITY_POLICY, SecurityHeaders
from closeloop.bootstrap import demo_password
from tests.api.conftest import Site

WEB = Path(__file__).resolve().parents[2] / "web"
NO_REQUEST = "00000000-0000-4000-8000-000000000000"

#: (path, who is signed in to the pages or None, expected status)
PAGES = [
    ("/", None, 200),
    ("/login", None, 200),
    ("/board", "supervisor1", 200),
    ("/board?lang=en", "admin", 200),
    ("/board/list", "supervisor1", 200),
    ("/board/figures", "supervisor1", 200),
    ("/board/requests.csv", "supervisor1", 200),
    ("/tasks", "worker1", 200),
    ("/tasks/list", "worker1", 200),
    ("/followups", "caller1", 200),
    ("/board", "worker1", 403),
    ("/board?from=0001-01-01", "supervisor1", 422),
    (f"/requests/{NO_REQUEST}", "supervisor1", 404),
    (f"/track/{NO_REQUEST}", None, 404),
    ("/static/closeloop.js", None, 200),
    ("/static/closeloop.css", None, 200),
    ("/openapi.json", None, 200),
    ("/api/v1/requests", None, 401),
    ("/api/v1/requests", "supervisor1", 200),
    ("/api/v1/requests?offset=-1", "supervisor1", 422),
    ("/api/v1/units", "admin", 200),
    ("/no/such/page", None, 404),
]


def _assert_headers(answer: httpx.Response, referrer: str = "same-origin") -> None:
    h = answer.headers
    assert h["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h.get_list("referrer-policy") == [referrer]
    assert "camera=()" in h["permissions-policy"]
    assert "microphone=()" in h["permissions-policy"]
    assert "geolocation=()" in h["permissions-policy"]
    assert "strict-transport-security" not in h  # not behind TLS


@pytest.mark.parametrize(("path", "who", "status"), PAGES)
def test_every_answer_carries_the_security_headers(
    site: Site, path: str, who: str | None, status: int
) -> None:
    headers: dict[str, str] = {}
    if who and path.startswith("/api/"):
        headers = site.headers[who]
    elif who:
        headers = site.cookie(who)
    answer = site.client.get(path, headers=headers)
    assert answer.status_code == status, answer.text[:300]
    # the tracking page's address is the resident's secret: it sends no referrer at all
    _assert_headers(answer, "no-referrer" if path.startswith("/track/") else "same-origin")


def test_refusals_before_any_route_carry_them_too(site: Site) -> None:
    answer = site.client.post("/api/v1/requests", content=b"x" * (70 * 1024))
    assert answer.status_code == 413
    _assert_headers(answer)
    answer = site.client.post("/api/v1/requests", json={})
    assert answer.status_code == 422
    _assert_headers(answer)


def test_the_policy_allows_no_inline_script_style_or_frame() -> None:
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in CONTENT_SECURITY_POLICY.split("; ")
    )
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "unsafe-eval" not in CONTENT_SECURITY_POLICY


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
STYLE = re.compile(r"<style|\sstyle\s*=", re.I)
JS_URL = re.compile(r"javascript:", re.I)


def _inline(html: str) -> list[str]:
    found = []
    for name, pattern in [
        ("inline script", INLINE_SCRIPT),
        ("event handler", HANDLER),
        ("inline style", STYLE),
        ("javascript: URL", JS_URL),
    ]:
        found += [f"{name}: {m.group(0)!r}" for m in pattern.finditer(html)]
    return found


@pytest.mark.parametrize("template", sorted(p.name for p in (WEB / "templates").glob("*.html")))
def test_templates_hold_nothing_the_policy_refuses(template: str) -> None:
    assert _inline((WEB / "templates" / template).read_text()) == []


def test_the_page_script_writes_no_inline_style_or_code() -> None:
    script = (WEB / "static" / "closeloop.js").read_text()
    for refused in ("eval(", "new Function", 'setAttribute("style"', "setAttribute('style'"):
        assert refused not in script
    assert not re.search(r"""\son[a-z]+=["']""", script)  # no handler written into HTML


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/", None),
        ("/login", None),
        ("/board?from=2026-01-01&to=2026-12-31", "supervisor1"),
        ("/board/figures", "supervisor1"),
        ("/tasks", "worker1"),
        ("/followups", "caller1"),
    ],
)
def test_rendered_pages_hold_nothing_the_policy_refuses(
    site: Site, path: str, who: str | None
) -> None:
    """The charts are SVG drawn on the server: their size is an attribute, not a style."""
    answer = site.client.get(path, headers=site.cookie(who) if who else {})
    assert answer.status_code == 200
    assert _inline(answer.text) == []


def test_the_openapi_pages_run_their_inline_script_by_nonce_only(site: Site) -> None:
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
        answer = site.client.get(path)
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        nonce = re.search(r"'nonce-([^']+)'", policy)
        assert nonce, policy
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        for tag in re.findall(r"<(?:script|style)(?![^>]*\bsrc=)[^>]*>", answer.text):
            assert f'nonce="{nonce.group(1)}"' in tag
        assert answer.headers["x-frame-options"] == "DENY"
    first, second = (site.client.get("/docs").headers["content-security-policy"] for _ in "ab")
    assert first != second  # a fresh nonce each time


def test_a_response_keeps_its_own_referrer_policy() -> None:
    """The tracking page (its URL is the resident's key) says ``no-referrer`` itself."""
    app = FastAPI()

    @app.get("/private")
    def private() -> Any:
        return PlainTextResponse("x", headers={"Referrer-Policy": "no-referrer"})

    app.add_middleware(SecurityHeaders)
    answer = TestClient(app).get("/private")
    assert answer.headers.get_list("referrer-policy") == ["no-referrer"]
    assert answer.headers["x-content-type-options"] == "nosniff"


def _log_in(site: Site, base_url: str) -> httpx.Response:
    site.client.base_url = httpx.URL(base_url)
    answer = site.client.post(
        "/web/session", data={"username": "caller1", "password": demo_password("caller1")}
    )
    assert answer.status_code == 200, answer.text
    site.client.cookies.clear()  # the module's other tests name their user themselves
    return answer


def test_not_behind_tls_no_hsts_and_the_cookie_is_not_secure(site: Site) -> None:
    answer = _log_in(site, "http://testserver")
    assert "strict-transport-security" not in answer.headers
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie


def test_behind_tls_hsts_and_secure_cookies(make_site: Any) -> None:
    site = make_site(CLOSELOOP_BEHIND_TLS="1")
    # the proxy ends TLS: the app itself is reached over plain HTTP
    answer = _log_in(site, "http://testserver")
    assert answer.headers["strict-transport-security"].startswith("max-age=31536000")
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    page = site.client.get("/login?lang=en")  # the language cookie too
    assert "secure" in page.headers["set-cookie"].lower()
    assert page.headers["strict-transport-security"].startswith("max-age=")


def test_behind_tls_a_cookie_is_secure_whatever_its_value() -> None:
    app = FastAPI()

    @app.get("/cookies")
    def set_cookies() -> Any:
        answer = PlainTextResponse("x")
        answer.set_cookie("mode", "insecure")
        answer.set_cookie("done", "1", secure=True)
        return answer

    app.add_middleware(SecurityHeaders, behind_tls=True)
    cookies = TestClient(app).get("/cookies").headers.get_list("set-cookie")
    assert [c.lower().count("secure") for c in cookies] == [2, 1]  # "insecure; secure", "secure"
    assert all(c.endswith("Secure") or "; Secure" in c for c in cookies)
