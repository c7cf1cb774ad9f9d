"""Security headers on every response, and the OpenAPI pages under the same policy.

The pages load their script and style from ``/static`` only and keep no inline script,
inline style or ``on...=`` handler (``tests/api/test_headers.py`` checks the templates),
so the Content-Security-Policy allows scripts and styles from this origin alone: an
injected ``<script>`` or handler does not run even if some text escaped its escaping.
Frames are refused (``frame-ancestors 'none'``, ``X-Frame-Options``), types are not
sniffed, the referrer stays on this site unless a response says otherwise (the resident's
tracking page sends none: its URL is the resident's only key), and the browser features
the app never uses are switched off.

Behind TLS (``CLOSELOOP_BEHIND_TLS=1``: a proxy ends HTTPS in front of the API, so the app
itself sees plain HTTP) responses add ``Strict-Transport-Security`` and every cookie the
app sets gets ``Secure``.

``/docs`` and ``/redoc`` are FastAPI's pages, which need an inline script and the viewers'
files from their CDN: they are served here with a per-response nonce on the inline parts
and a policy that names the CDN, instead of loosening the policy for every page.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def page_policy(image_sources: tuple[str, ...] = ()) -> str:
    """The pages' policy: everything from this origin, nothing inline, no frames; images
    also from ``image_sources`` (the board's map tiles' origin, when a tile server is set:
    ``CLOSELOOP_MAP_TILES``; only the board's page names it)."""
    images = " ".join(("'self'", "data:", *image_sources))
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {images}; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
        "object-src 'none'"
    )


#: The pages' policy: everything from this origin, nothing inline, no frames.
CONTENT_SECURITY_POLICY = page_policy()
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
REFERRER_POLICY = "same-origin"
HSTS = "max-age=31536000; includeSubDomains"

#: Where FastAPI's documentation pages take their viewers from.
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_PATH = "/docs"
DOCS_REDIRECT_PATH = "/docs/oauth2-redirect"
REDOC_PATH = "/redoc"


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp, behind_tls: bool = False) -> None:
        self.app = app
        self.behind_tls = behind_tls
        defaults = [
            (b"content-security-policy", CONTENT_SECURITY_POLICY),
            (b"x-content-type-options", "nosniff"),
            (b"x-frame-options", "DENY"),
            (b"referrer-policy", REFERRER_POLICY),
            (b"permissions-policy", PERMISSIONS_POLICY),
        ]
        if behind_tls:
            defaults.append((b"strict-transport-security", HSTS))
        self.defaults = [(name, value.encode("latin-1")) for name, value in defaults]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in self.defaults if k not in present]
                if self.behind_tls:
                    headers = [_secure_cookie(name, value) for name, value in headers]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secure_cookie(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    if name.lower() != b"set-cookie":
        return name, value
    attributes = {part.strip().lower() for part in value.split(b";")[1:]}
    return name, value if b"secure" in attributes else value + b"; Secure"


def _nonced(page: HTMLResponse, directives: Callable[[str], str]) -> HTMLResponse:
    """``page`` with a fresh nonce on its inline ``<script>`` and ``<style>``, and the
    policy ``directives(nonce)`` that allows exactly those."""
    nonce = secrets.token_urlsafe(16)
    html = bytes(page.body).decode()
    html = html.replace("<script>", f'<script nonce="{nonce}">')
    html = html.replace("<style>", f'<style nonce="{nonce}">')
    return HTMLResponse(html, headers={"Content-Security-Policy": directives(nonce)})


def _docs_policy(nonce: str) -> str:
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}' {DOCS_CDN}; "
        f"style-src 'self' 'nonce-{nonce}' {DOCS_CDN} https://fonts.googleapis.com; "
        "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:; "
        f"connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'; object-src 'none'"
    )


def install(app: FastAPI, behind_tls: bool) -> None:
    """The headers middleware on ``app`` (made with ``docs_url=None, redoc_url=None``),
    and its documentation pages served under a nonce policy."""
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=DOCS_REDIRECT_PATH,
        )
        return _nonced(page, _docs_policy)

    @app.get(DOCS_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _nonced(get_swagger_ui_oauth2_redirect_html(), _docs_policy)

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(openapi_url=openapi_url, title=f"{app.title} - ReDoc")
        return _nonced(page, _docs_policy)

    app.add_middleware(SecurityHeaders, behind_tls=behind_tls)
