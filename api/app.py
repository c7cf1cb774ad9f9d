"""The FastAPI application: routers under /api/v1, health, and what the routes share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

import web
from api import errors, headers
from api.limits import BodyLimit
from api.routes import (
    assessment,
    auth,
    board_map,
    calendar,
    categories,
    hotspots,
    merging,
    operations,
    performance,
    place,
    reports,
    requests,
    stream,
    track,
    units,
    users,
    webhooks,
)
from api.routes import inbox as inbox_routes
from api.routes import open311 as open311_routes
from api.routes import sms as sms_routes
from closeloop import media, workcalendar
from closeloop.keys import keyring
from closeloop.settings import Settings
from closeloop.store import STORE_NAME
from closeloop.temporal_client import connect_temporal
from domain.privacy import Sealer
from notify.sender import counts as message_counts
from notify.sender import notifier_position
from projections.quarantine import quarantined_count
from projections.tables import TRACKING_TABLE_NAME

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings,
    engine: Engine,
    temporal: Client | None = None,
    sealer: Sealer | None = None,
    media_store: media.MediaStore | None = None,
) -> FastAPI:
    """The API on ``engine`` (read models and roster); connects to Temporal unless given one.

    The tables must exist (``closeloop.runtime.prepare`` creates them).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if temporal is None:
            app.state.temporal = await connect_temporal(
                settings.target, settings.namespace, keys=keyring(settings)
            )
        yield

    app = FastAPI(
        title="closeloop",
        summary="Resident requests on the 1351 ladder, from intake to the closing review.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by api.headers, under the content security policy
        redoc_url=None,
    )
    errors.install(app)  # every error answers {"detail", "code"[, "field", "params"]}
    app.state.settings = settings
    # opens the sealed contacts of the read models for those allowed (api.privacy)
    app.state.sealer = sealer if sealer is not None else keyring(settings)
    app.state.engine = engine
    # where photos are kept (closeloop.media): the settings' backend unless given one
    app.state.media = media_store if media_store is not None else media.media_of(settings)
    app.state.temporal = temporal
    routers = (auth, units, users, calendar, categories, requests, operations, stream, track)
    for module in (
        *routers,
        webhooks,
        performance,
        hotspots,
        assessment,
        reports,
        place,
        board_map,
        merging,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(sms_routes.router, prefix=API_PREFIX)  # the SMS settings (notify.sms)
    app.include_router(inbox_routes.router, prefix=API_PREFIX)  # the staff's inbox
    open311_routes.install(app, API_PREFIX)  # GeoReport v2 under /open311/, its keys

    @app.get(f"{API_PREFIX}/health", tags=["health"])
    async def health(request: Request) -> JSONResponse:
        """200 once Temporal and the store answer; 503 with the failing part otherwise.

        ``degraded`` (still 200): events wait in the projection's dead-letter table
        (``projection.quarantined``); ``closeloop projections retry`` after a fix.
        ``warnings`` (the status unchanged): ``calendar_missing:<year>`` when deadlines
        count working days and neither the package nor the admins' table knows this year
        or the next (Monday to Friday is counted then); ``notifications_dead:<channel>``
        when messages of a channel were given up.
        ``notifications``: messages per channel (``inbox``, ``sms``, ``webhook``) and state
        (``sent``, ``waiting``, ``failed``, ``dead``), and how far the notifier lags behind
        the event store (``lag``, in events).
        """
        checks: dict[str, Any] = {}
        try:
            client: Client = request.app.state.temporal
            await asyncio.wait_for(client.service_client.check_health(), timeout=3)
            checks["temporal"] = "ok"
        except Exception as e:  # noqa: BLE001 - any failure is reported, not raised
            checks["temporal"] = f"unavailable: {e}"
        try:
            checks["projection"] = await run_in_threadpool(_projection_health, engine)
            checks["store"] = "ok"
        except Exception as e:  # noqa: BLE001
            checks["store"] = f"unavailable: {e}"
        warnings: list[str] = []
        if checks["store"] == "ok":
            try:
                missing = await run_in_threadpool(workcalendar.missing_years, engine, settings)
                warnings += [f"calendar_missing:{year}" for year in missing]
            except Exception as e:  # noqa: BLE001 - a warning never fails the check
                warnings.append(f"calendar_unreadable: {e}")
            try:
                checks["notifications"] = await run_in_threadpool(
                    _notification_health, engine, checks["projection"]["events"]
                )
                warnings += [
                    f"notifications_dead:{channel}"
                    for channel, states in checks["notifications"]["channels"].items()
                    if states.get("dead")
                ]
            except Exception as e:  # noqa: BLE001 - a warning never fails the check
                warnings.append(f"notifications_unreadable: {e}")
        ok = checks["temporal"] == "ok" and checks["store"] == "ok"
        status = "ok" if ok else "unavailable"
        if ok and checks["projection"]["quarantined"]:
            status = "degraded"
        body = {"status": status, **checks, "warnings": warnings}
        return JSONResponse(body, status_code=200 if ok else 503)

    web.install(app)  # the browser pages (web/), their static files and session cookie
    # outermost last: bodies are measured before the session bridge or any route sees them,
    # and every answer, the 413 included, gets the security headers
    # a photo upload may be larger: up to twice a photo's limit reaches the photo's own
    # check (422 photo_too_large), beyond that 413
    uploads = {f"{API_PREFIX}/photos": 2 * media.MAX_BYTES}
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, larger=uploads)
    headers.install(app, behind_tls=settings.behind_tls)
    return app


def _notification_health(engine: Engine, events: int) -> dict[str, Any]:
    """Messages per channel and state, and the notifier's lag behind the store."""
    position = notifier_position(engine)
    return {
        "channels": message_counts(engine),
        "notified": position,
        "lag": max(0, events - position),
    }


def _projection_health(engine: Engine) -> dict[str, int]:
    """How far the read models lag behind the event store (in events), and how many
    events wait in the dead-letter table."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        stored = conn.execute(text(f"SELECT max(id) FROM {STORE_NAME}_events")).scalar() or 0
        tracked = conn.execute(
            text(f"SELECT max(notification_id) FROM {TRACKING_TABLE_NAME}")
        ).scalar()
        quarantined = quarantined_count(conn)
    return {
        "events": int(stored),
        "projected": int(tracked or 0),
        "lag": int(stored) - int(tracked or 0),
        "quarantined": quarantined,
    }
