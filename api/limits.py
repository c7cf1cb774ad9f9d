"""How big a request body may be: refused with 413 before any route reads it.

Every body the API takes is a small JSON document or form (a request's intake, a note, a
review, a log-in); a larger one is a mistake or an attack on memory. :class:`BodyLimit`
answers 413 ``too_large`` at once when ``Content-Length`` says the body is too big, and,
for a body sent without a length (chunked), as soon as the bytes read pass the limit:
the route that was reading it gets the refusal instead of the rest, so nothing it would
have done with the body happens.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import open311
from api.errors import Refusal

#: The default of ``CLOSELOOP_MAX_BODY_BYTES``.
DEFAULT_MAX_BODY_BYTES = 64 * 1024


def too_large(limit: int) -> Refusal:
    return Refusal(
        413,
        "too_large",
        f"the request body is larger than {limit} bytes",
        params={"max_bytes": limit},
    )


class BodyLimit:
    """ASGI middleware: bodies over ``max_bytes`` get 413 ``too_large`` (see above)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = DEFAULT_MAX_BODY_BYTES,
        larger: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        #: paths that take larger bodies (photo uploads), each with its own limit
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", ""), self.max_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(send, scope["path"], limit)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except Refusal as refusal:
            # a route that reads the body outside FastAPI's own parsing lets it through
            if refusal.status_code != 413 or started:
                raise
            await self._refuse(send, scope["path"], limit)

    async def _refuse(self, send: Send, path: str, limit: int) -> None:
        refusal = too_large(limit)
        content_type = b"application/json"
        if path.startswith(open311.PREFIX):  # GeoReport's own error format
            fmt = open311.format_of(path)
            error = open311.Open311Error(413, str(refusal.detail))
            body = open311.render_errors(error, fmt).encode()
            content_type = open311.CONTENT_TYPES[fmt].encode()
        else:
            body = json.dumps(
                {"detail": refusal.detail, "code": refusal.code, "params": refusal.params}
            ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
