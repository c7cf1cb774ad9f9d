"""Open311 GeoReport v2 under ``/open311/v2/`` (JSON and XML), its discovery document, and
the admins' API keys under ``/api/v1/open311/keys``.

Reads come from the read models (:func:`projections.queries.public_requests`), mapped and
written by :mod:`api.open311`; a POST files a request through the same workflow start as
``POST /api/v1/requests``, on channel ``open311``, into the dispatch queue of the key's
grid's community. Every refusal under ``/open311/`` is in the specification's error format
(:func:`install` answers this app's HTTP errors there so, the unknown address included).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from api import intake_limits, ledger, open311, open311_keys, roster
from api.deps import AdminUser, EngineDep, SealerDep, SettingsDep
from api.errors import Refusal
from api.intake_limits import Rule, TooManyFilings
from api.open311 import Open311Error
from api.roster import InvalidRoster
from api.routes.requests import TemporalDep, clock_of
from api.text import Text
from closeloop import catalogue
from domain.state import RESIDENT_ACTOR, Intake
from projections import queries
from workflows.commands import CommandError, file_request

router = APIRouter(prefix="/open311", tags=["open311"])
admin_router = APIRouter(prefix="/open311/keys", tags=["open311"])

#: The channel of a request filed through Open311 (``channel.open311`` in the pages).
CHANNEL = "open311"
#: How long a key's filings are counted (``CLOSELOOP_OPEN311_RATE`` per this window).
RATE_WINDOW = timedelta(minutes=1)


def _format(fmt: str) -> str:
    if fmt not in open311.FORMATS:
        raise Open311Error(404, f"format {fmt[:20]!r} is not served; use json or xml")
    return fmt


def _answer(body: str, fmt: str, status_code: int = 200) -> Response:
    return Response(body, status_code=status_code, media_type=open311.CONTENT_TYPES[fmt])


def refusal(request: Request, error: Open311Error) -> Response:
    """``error`` in the specification's format, in the format the address asks for."""
    fmt = open311.format_of(request.url.path)
    return Response(
        open311.render_errors(error, fmt),
        status_code=error.status,
        media_type=open311.CONTENT_TYPES[fmt],
        headers=error.headers,
    )


def _http_refusal(request: Request, error: HTTPException) -> Response:
    """Any other HTTP error under ``/open311/`` (an unknown address, a wrong method, a
    body too large) as the specification's error: 404 and 413 stay, the rest are 400s."""
    code = error.status_code if error.status_code in (403, 404, 413, 429) else 400
    detail = error.detail if isinstance(error.detail, str) else "the request is invalid"
    if error.status_code == 404 and detail == "Not Found":
        detail = "no such resource; see /open311/discovery.xml for what is served"
    return refusal(request, Open311Error(code, detail, dict(error.headers or {})))


def install(app: FastAPI, prefix: str) -> None:
    """Serve GeoReport on ``app`` and the keys' routes under ``prefix``."""
    app.include_router(router)
    app.include_router(admin_router, prefix=prefix)

    async def open311_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, Open311Error)
        return refusal(request, error)

    app.add_exception_handler(Open311Error, open311_error)
    app.state.error_formats[open311.PREFIX] = _http_refusal


def _zh(request: Request) -> bool:
    return open311.chinese(request.headers.get("accept-language"))


# ---- discovery and services --------------------------------------------------------------


@router.get("/discovery.{fmt}")
async def discovery(fmt: str, request: Request) -> Response:
    """The Open311 service discovery document: this one GeoReport v2 endpoint."""
    fmt = _format(fmt)
    base = str(request.base_url).rstrip("/")
    document = {
        "changeset": open311.CHANGESET,
        "contact": "Ask the street office's administrator (管理员) for help and for an API key",
        "key_service": "An administrator issues keys: POST /api/v1/open311/keys",
        "endpoints": [
            {
                "specification": open311.SPECIFICATION,
                "url": f"{base}/open311/v2",
                "changeset": open311.CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return _answer(open311.render_object("discovery", document, fmt), fmt)


@router.get("/v2/services.{fmt}")
async def services(fmt: str, request: Request, engine: EngineDep) -> Response:
    """GET Service List: the active categories of the catalogue."""
    fmt = _format(fmt)
    found = await run_in_threadpool(catalogue.list_categories, db=engine, include_retired=False)
    zh = _zh(request)
    items = [open311.service(c.public(), zh) for c in found]
    return _answer(open311.render_list("services", items, fmt), fmt)


@router.get("/v2/services/{code}.{fmt}")
async def service_definition(code: str, fmt: str, engine: EngineDep) -> Response:
    """GET Service Definition: an active category's attributes (none: an empty list)."""
    fmt = _format(fmt)
    found = await run_in_threadpool(catalogue.get_category, code, db=engine)
    if found is None or found.retired:
        raise Open311Error(404, f"service_code {code[:64]!r} was not found")
    definition = open311.service_definition(found.code)
    return _answer(open311.render_object("service_definition", definition, fmt), fmt)


# ---- service requests --------------------------------------------------------------------


def _shown(engine: Engine, rows: list[dict[str, Any]], zh: bool) -> list[dict[str, Any]]:
    """Read-model rows as GeoReport service requests, with category and unit names."""
    names = {
        c.code: (c.name_zh, c.name_en)
        for c in catalogue.list_categories(db=engine, include_retired=True)
    }
    units = {u.id: u.name for u in roster.list_units(db=engine)}
    return [open311.service_request(row, names, units, zh) for row in rows]


def _documented(names: tuple[str, ...], where: str) -> list[dict[str, Any]]:
    """The arguments a route reads itself (so that every refusal is in the specification's
    format, not FastAPI's), for the OpenAPI page: each an optional string."""
    optional = {"in": where, "required": False, "schema": {"type": "string"}}
    return [{"name": name, **optional} for name in names]


#: ``GET requests``' arguments (every one optional; empty counts as absent).
QUERY_ARGUMENTS = (
    "jurisdiction_id",
    "service_request_id",
    "service_code",
    "start_date",
    "end_date",
    "status",
)
#: A POST's form fields, as the specification lists them (``attribute[...]`` is ignored:
#: no service has attributes).
POST_FIELDS = (
    "api_key",
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
)
POST_BODY = {
    "requestBody": {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {name: {"type": "string"} for name in POST_FIELDS},
                }
            }
        }
    }
}


@router.get(
    "/v2/requests.{fmt}", openapi_extra={"parameters": _documented(QUERY_ARGUMENTS, "query")}
)
async def list_requests(fmt: str, request: Request, engine: EngineDep) -> Response:
    """GET Service Requests: by ``service_request_id`` (comma-delimited; overrides the
    rest), or by ``service_code``, ``status`` (open, closed), ``start_date`` and
    ``end_date`` (at most 90 days; by default the last 90), newest first, at most 1000."""
    fmt = _format(fmt)
    query = open311.request_query(request.query_params, datetime.now(UTC))
    ids = [i for i in query.ids if _is_uuid(i)]

    def read() -> list[dict[str, Any]]:
        if query.ids and not ids:
            return []
        rows = queries.public_requests(
            engine,
            ids=ids,
            categories=query.codes,
            statuses=query.statuses,
            start=query.start,
            end=query.end,
            limit=open311.MAX_REQUESTS,
        )
        return _shown(engine, rows, _zh(request))

    items = await run_in_threadpool(read)
    return _answer(open311.render_list("service_requests", items, fmt), fmt)


@router.get("/v2/requests/{service_request_id}.{fmt}")
async def one_request(
    service_request_id: str, fmt: str, request: Request, engine: EngineDep
) -> Response:
    """GET Service Request: one request, in a one-element list."""
    fmt = _format(fmt)

    def read() -> list[dict[str, Any]]:
        if not _is_uuid(service_request_id):
            return []
        rows = queries.public_requests(engine, ids=[service_request_id], limit=1)
        return _shown(engine, rows, _zh(request))

    items = await run_in_threadpool(read)
    if not items:
        raise Open311Error(404, f"service_request_id {service_request_id[:64]!r} was not found")
    return _answer(open311.render_list("service_requests", items, fmt), fmt)


@router.get("/v2/tokens/{token}.{fmt}")
async def token_of(token: str, fmt: str) -> Response:
    """GET service_request_id from a token. Every service is ``realtime``: a POST answers
    with the request's id at once and never with a token, so no token is ever found."""
    _format(fmt)
    raise Open311Error(
        404,
        f"token {token[:64]!r} was not found: this server issues no tokens, "
        "a POST answers with the service_request_id at once",
    )


@router.post("/v2/requests.{fmt}", openapi_extra=POST_BODY)
async def post_request(
    fmt: str,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    sealer: SealerDep,
    client: TemporalDep,
) -> Response:
    """POST Service Request (``application/x-www-form-urlencoded``), with an ``api_key``
    an admin issued: the request is filed on channel ``open311`` and waits in the dispatch
    queue of the key's grid's community; the answer holds its ``service_request_id``."""
    fmt = _format(fmt)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    supplied = open311.given(form.get("api_key") or request.query_params.get("api_key"))
    key = await run_in_threadpool(open311_keys.authenticate, engine, supplied or "")
    if key is None:
        raise Open311Error(403, "api_key is missing or invalid")
    filed = open311.filing(form)
    fields = open311.intake_fields(filed)  # the place checked before anything is counted
    category = await run_in_threadpool(catalogue.get_category, filed.service_code, db=engine)
    if category is None or category.retired:
        raise Open311Error(404, f"service_code {filed.service_code!r} was not found")
    try:
        grid, community, town = await run_in_threadpool(roster.unit_chain, key.grid_id, db=engine)
    except InvalidRoster:
        raise Open311Error(
            400, "this api_key's grid no longer exists; ask the office for a new key"
        ) from None
    await run_in_threadpool(_count, engine, key.id, settings.open311_rate)
    request_id = str(uuid.uuid4())
    # a tracking token, as every filing has: the resident's SMS on resolving links to it
    await run_in_threadpool(
        ledger.tracking_token,
        engine,
        request_id,
        ledger.fingerprint({"channel": CHANNEL, "key": key.id, **fields}),
        sealer,
    )
    intake = Intake(
        request_id=request_id,
        grid_id=grid.id,
        community_id=community.id,
        town_id=town.id,
        category=category.code,
        channel=CHANNEL,
        tier=category.default_tier,
        description=fields["description"],
        resident_name=fields["resident_name"],
        resident_phone=fields["resident_phone"],
        lat=fields["lat"],
        long=fields["long"],
        address=fields["address"],
        manual=True,  # GeoReport names no grid: the community's dispatcher chooses it
    )
    try:
        await file_request(
            client,
            settings.task_queue,
            intake,
            RESIDENT_ACTOR,
            settings.day_seconds,
            **clock_of(settings),
        )
    except CommandError as e:
        raise Open311Error(400, f"the request could not be filed: {e.message}") from None
    notice = open311.NOTES["waiting_dispatch"][0 if _zh(request) else 1]
    answer = [{"service_request_id": request_id, "service_notice": notice, "account_id": None}]
    return _answer(open311.render_list("service_requests", answer, fmt), fmt)


def _count(engine: Engine, key_id: str, rate: int) -> None:
    """Count a filing on the key; 429 beyond ``rate`` in the last minute."""
    try:
        intake_limits.admit(engine, [("api_key", f"open311:{key_id}", Rule(rate, RATE_WINDOW))])
    except TooManyFilings as e:
        raise Open311Error(
            429,
            f"too many requests with this api_key; try again in {e.retry_after} seconds",
            {"Retry-After": str(e.retry_after)},
        ) from None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# ---- the admins' keys ---------------------------------------------------------------------


class KeyIn(BaseModel):
    """A key for one application, filing into one grid's community."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text = Field(min_length=1, max_length=100)
    grid_id: Text = Field(min_length=1, max_length=64)


@admin_router.post("", status_code=status.HTTP_201_CREATED)
def issue_key(body: KeyIn, admin: AdminUser, engine: EngineDep) -> dict[str, Any]:
    """Issue a key (admins): the answer's ``key`` is shown this once; keep it."""
    try:
        roster.unit_chain(body.grid_id, db=engine)
    except InvalidRoster as e:
        raise Refusal(422, "unknown_grid", str(e), field="grid_id") from None
    issued, key = open311_keys.issue(engine, body.name, body.grid_id, admin.username)
    return {**issued.json(), "key": key}


@admin_router.get("")
def list_keys(admin: AdminUser, engine: EngineDep) -> list[dict[str, Any]]:
    """Every key issued, newest first, revoked ones too (never the keys themselves)."""
    return [k.json() for k in open311_keys.list_keys(engine)]


@admin_router.delete("/{key_id}")
def revoke_key(key_id: str, admin: AdminUser, engine: EngineDep) -> dict[str, Any]:
    """Revoke a key at once; it stays listed with who revoked it and when."""
    revoked = open311_keys.revoke(engine, key_id[:32], admin.username)
    if revoked is None:
        raise Refusal(404, "open311_key_not_found", "no API key has this id")
    return revoked.json()
