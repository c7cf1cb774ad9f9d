"""An API with only the auth and roster routers, on a fresh SQLite file per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api import errors, roster
from api.app import create_app
from api.routes import auth, units, users
from closeloop.bootstrap import ensure_admin, seed_demo
from closeloop.db import make_engine
from closeloop.runtime import prepare
from closeloop.settings import Settings
from web.session import COOKIE

Login = Callable[[str, str], dict[str, str]]
SITE_ADMIN_PASSWORD = "site-tests-passphrase"


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


@dataclass
class Site:
    """The whole app (API and pages) on the demo town, without Temporal: reads, refusals
    and everything that happens before a command reaches a workflow."""

    client: TestClient
    engine: Engine
    settings: Settings
    headers: dict[str, dict[str, str]]  # username -> Authorization header

    def cookie(self, username: str) -> dict[str, str]:
        """The pages' session cookie of ``username``, as a header."""
        token = self.headers[username]["Authorization"].removeprefix("Bearer ")
        return {"Cookie": f"{COOKIE}={token}"}


def build_site(folder: Path, env: pytest.MonkeyPatch, **variables: str) -> Site:
    """A :class:`Site` on a fresh data folder; ``variables`` are more ``CLOSELOOP_*``."""
    env.setenv("CLOSELOOP_DATA_DIR", str(folder))
    env.setenv("CLOSELOOP_ADMIN_PASSWORD", SITE_ADMIN_PASSWORD)
    for name in ("CLOSELOOP_DATABASE_URL", "CLOSELOOP_JWT_SECRET"):
        env.delenv(name, raising=False)
    for name, value in variables.items():
        env.setenv(name, value)
    settings = Settings.from_env()
    engine = prepare(settings)
    ensure_admin(engine, settings)
    passwords = {**(seed_demo(engine) or {}), "admin": SITE_ADMIN_PASSWORD}
    # no lifespan (never entered): the app has no Temporal client, and needs none here
    client = TestClient(create_app(settings, engine), raise_server_exceptions=False)
    headers = {}
    for username, password in passwords.items():
        answer = client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert answer.status_code == 200, answer.text
        headers[username] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    return Site(client, engine, settings, headers)


@pytest.fixture
def make_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Site]]:
    """Builds a :class:`Site` with more ``CLOSELOOP_*`` variables."""
    sites: list[Site] = []

    def build(**variables: str) -> Site:
        sites.append(build_site(tmp_path / str(len(sites)), monkeypatch, **variables))
        return sites[-1]

    yield build
    for built in sites:
        built.engine.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One :class:`Site` for a module's tests (they must leave it as they found it)."""
    with pytest.MonkeyPatch.context() as env:
        built = build_site(tmp_path_factory.mktemp("site"), env)
    yield built
    built.engine.dispose()
