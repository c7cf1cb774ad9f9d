"""How the API refuses: an English sentence for people, a stable code for programs.

Every error body is ``{"detail": ..., "code": ...}``, plus ``field`` when the refusal
concerns one field of the body (its name as the body spells it, e.g. ``satisfaction`` or
``resident.phone``) and ``params`` when the sentence has values in it. ``detail`` is what
it always was (a sentence, or FastAPI's list of validation errors); ``code`` never changes
once published, so the pages translate by it (``reason.<code>`` in :mod:`web.i18n`) and a
client may branch on it. The codes are listed in the README ("Errors").

Raise :class:`Refusal` for a refusal with a code of its own; a plain ``HTTPException``
gets the code of its status (:data:`STATUS_CODES`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

#: The code of a refusal that names no code of its own, by HTTP status.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
    504: "lagging",
}

#: The code of a body, query or header that does not fit the endpoint's schema; ``detail``
#: is then the list of errors, each with the ``loc`` of its field.
INVALID_INPUT = "invalid_input"


class Refusal(HTTPException):
    """An HTTP refusal with a stable ``code`` and, when it concerns one, the ``field``."""

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail=detail, headers=headers)
        self.code = code
        self.field = field
        self.params = params or {}


def request_not_found() -> Refusal:
    """The 404 for a request that does not exist or that the caller may not know of."""
    return Refusal(404, "request_not_found", "no such request")


def body_of(error: HTTPException) -> dict[str, Any]:
    """The JSON body that answers ``error``."""
    code = getattr(error, "code", None) or STATUS_CODES.get(error.status_code, "error")
    body: dict[str, Any] = {"detail": error.detail, "code": code}
    field = getattr(error, "field", None)
    if field:
        body["field"] = field
    params = getattr(error, "params", None)
    if params:
        body["params"] = params
    return body


def printable(value: Any) -> Any:
    """``value`` made safe to send back as JSON: lone surrogates escaped, bytes (a binary
    form part) shown as escaped text instead of failing the reply."""
    if isinstance(value, bytes | bytearray):
        return bytes(value[:200]).decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(printable(v) for v in value)
    return value


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    # an interface with an error format of its own (Open311) answers under its prefix
    for prefix, answer in request.app.state.error_formats.items():
        if request.url.path.startswith(prefix):
            answered: Response = answer(request, error)
            return answered
    headers = getattr(error, "headers", None)
    if error.status_code in (204, 304):  # no body allowed
        return JSONResponse(None, status_code=error.status_code, headers=headers)
    return JSONResponse(body_of(error), status_code=error.status_code, headers=headers)


async def _invalid_input(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = jsonable_encoder(printable(list(error.errors())))
    return JSONResponse({"detail": errors, "code": INVALID_INPUT}, status_code=422)


def install(app: FastAPI) -> None:
    """Answer every HTTP error and validation error of ``app`` with a coded body; under a
    prefix in ``app.state.error_formats`` (path prefix -> answer), that answer instead."""
    app.state.error_formats = {}
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_input)
