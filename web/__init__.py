"""Web pages for the people who use closeloop, served by the API's own FastAPI app.

:func:`install` adds them to an app made by :func:`api.app.create_app`: the pages
(:mod:`web.routes`, which gathers one module per audience), their script and style under
``/static`` (no build step, nothing fetched from elsewhere at run time) and the session
cookie's bridge to the JSON API (:mod:`web.session`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from web.routes import router
from web.session import SessionCookieAuth

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Serve the pages on ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SessionCookieAuth)
