"""An API with only the auth and roster routers, on a fresh SQLite file per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api import errors, roster
from api.routes import auth, units, users
from closeloop.bootstrap import ensure_admin
from closeloop.db import make_engine
from closeloop.settings import Settings

Login = Callable[[str, str], dict[str, str]]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CLOSELOOP_DATA_DIR", str(tmp_path))
    for name in ("CLOSELOOP_DATABASE_URL", "CLOSELOOP_JWT_SECRET", "CLOSELOOP_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return Settings.from_env()


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    roster.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def app(engine: Engine, settings: Settings) -> FastAPI:
    app = FastAPI()
    errors.install(app)  # coded bodies, as the real app answers
    for module in (auth, units, users):
        app.include_router(module.router, prefix="/api/v1")
    app.state.engine = engine
    app.state.settings = settings
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def login(client: TestClient) -> Login:
    """Sign in and return the Authorization header to send."""

    def sign_in(username: str, password: str) -> dict[str, str]:
        answer = client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    return sign_in


@pytest.fixture
def admin(engine: Engine, settings: Settings, login: Login) -> dict[str, str]:
    """The first-start admin, signed in."""
    password = ensure_admin(engine, settings)
    assert password is not None
    return login("admin", password)
