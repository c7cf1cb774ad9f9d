"""The browser's sign-in: the API's own bearer token, kept in an HttpOnly cookie.

Logging in (``POST /web/session``) runs the API's token endpoint and puts the token in the
``closeloop_session`` cookie: ``HttpOnly`` (page scripts cannot read it, so an injected
script cannot steal it), ``SameSite=Strict`` (other sites' pages never send it),
``Secure`` over HTTPS, and as long-lived as the token. Pages read it to know who is
looking. The page scripts call the JSON API itself: :class:`SessionCookieAuth` turns the
cookie into ``Authorization: Bearer`` for ``/api/`` requests that carry no token of their
own, on reads (GET, HEAD: the server-sent events too, which cannot set headers) and on
writes that carry the ``X-Closeloop-Web`` header, which no other site's form can send
(custom headers need a CORS preflight, which this app never grants).
"""

from __future__ import annotations

from http.cookies import SimpleCookie

from fastapi import Request
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import Principal, principal_of_token
from api.roster import Role
from api.security import InvalidToken
from closeloop.settings import Settings

COOKIE = "closeloop_session"
#: The header the page scripts send with every write to the JSON API.
WEB_HEADER = "X-Closeloop-Web"
_WEB_HEADER = WEB_HEADER.lower().encode("latin-1")
_SAFE_METHODS = ("GET", "HEAD")

#: Where each role lands after logging in.
LANDING = {
    Role.SUPERVISOR: "/board",
    Role.ADMIN: "/board",
    Role.HANDLER: "/tasks",
    Role.CALLER: "/followups",
    Role.DISPATCHER: "/dispatch",
    Role.PARTNER: "/partner",
}


def _cookie(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is no session
                continue
            if name in jar:
                return jar[name].value
    return None


class SessionCookieAuth:
    """ASGI middleware: the session cookie as a bearer token for the JSON API (see above)."""

    def __init__(self, app: ASGIApp, prefix: str = "/api/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            headers: list[tuple[bytes, bytes]] = list(scope["headers"])
            names = {key for key, _ in headers}
            if b"authorization" not in names and (
                scope["method"] in _SAFE_METHODS or _WEB_HEADER in names
            ):
                token = _cookie(headers, COOKIE)
                if token:
                    headers.append((b"authorization", f"Bearer {token}".encode("latin-1")))
                    scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


def user_of_token(token: str, engine: Engine, settings: Settings) -> Principal | None:
    """The user a token names, or None for a bad, expired or revoked token or a removed or
    disabled user."""
    try:
        return principal_of_token(token, engine, settings)
    except InvalidToken:
        return None


def page_user(request: Request) -> Principal | None:
    """Who the page is for, from the session cookie; None when not (or no longer) signed in."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return user_of_token(token, request.app.state.engine, request.app.state.settings)


def landing(role: Role) -> str:
    return LANDING.get(role, "/")


def safe_next(target: str | None) -> str | None:
    """A same-site path to go back to after logging in, or None."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
