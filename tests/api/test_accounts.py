"""Staff accounts: log-in throttling, the password policy, revoking tokens (log-out, a new
password, disabling a user), and usernames that are one user in any case."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select

import web
from api import roster, throttle
from api.passwords import MIN_LENGTH, common_passwords, password_problem
from api.security import ALGORITHM, signing_secret
from closeloop import cli
from closeloop.bootstrap import DEMO_PASSWORDS, AdminPasswordRefused, ensure_admin, seed_demo
from closeloop.db import make_engine
from closeloop.schema import _config, migrate
from closeloop.settings import Settings, SettingsError
from tests.api.conftest import Login
from tests.databases import BACKENDS, postgres_database
from web.i18n import EN, ZH, Translator
from web.session import COOKIE

TOKEN = "/api/v1/auth/token"
LOGOUT = "/api/v1/auth/logout"
PASSWORD = "/api/v1/auth/password"
ME = "/api/v1/auth/me"
USERS = "/api/v1/users"

SUN_PASSWORD = "river-stone-77"


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    web.install(app)  # the browser's log-in and log-out too
    return app


@pytest.fixture
def admin_password(engine: Engine, settings: Settings) -> str:
    password = ensure_admin(engine, settings)
    assert password is not None
    return password


@pytest.fixture
def sun(client: TestClient, admin: dict[str, str]) -> str:
    """A follow-up caller ``sun`` (password :data:`SUN_PASSWORD`); their id."""
    body = {
        "username": "sun",
        "password": SUN_PASSWORD,
        "display_name": "回访员小孙",
        "role": "caller",
    }
    answer = client.post(USERS, json=body, headers=admin)
    assert answer.status_code == 201, answer.text
    user_id: str = answer.json()["id"]
    return user_id


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    """The throttle's clock, moved by hand: ``clock[0] += timedelta(...)``."""
    now = [datetime(2026, 11, 28, 8, 0, tzinfo=UTC)]
    monkeypatch.setattr(throttle, "_now", lambda: now[0])
    yield now


def log_in(client: TestClient, username: str, password: str) -> Response:
    return client.post(TOKEN, data={"username": username, "password": password})


def bearer(answer: Response) -> dict[str, str]:
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def retry_after(answer: Response) -> int:
    assert answer.status_code == 429, answer.text
    assert answer.json()["code"] == "too_many_attempts"
    seconds = int(answer.headers["Retry-After"])
    assert answer.json()["params"] == {"retry_after": seconds}
    return seconds


# ---- throttling -----------------------------------------------------------------------


def test_thirty_wrong_passwords_for_one_account_are_refused_after_five(
    client: TestClient, admin_password: str
) -> None:
    answers = [log_in(client, "admin", f"wrong-guess-{n}") for n in range(30)]

    assert [a.status_code for a in answers[:5]] == [401] * 5
    assert {a.json()["code"] for a in answers[:5]} == {"bad_credentials"}
    assert [a.status_code for a in answers[5:]] == [429] * 25
    assert all(0 < retry_after(a) <= 60 for a in answers[5:])
    # While locked, not even the right password gets in: it is not checked at all.
    assert retry_after(log_in(client, "admin", admin_password)) > 0


def test_an_unknown_username_is_throttled_like_a_real_one(client: TestClient) -> None:
    answers = [log_in(client, "nobody", f"wrong-guess-{n}") for n in range(6)]

    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert retry_after(answers[5]) > 0


def test_twenty_failures_from_one_address_lock_it_for_every_account(
    client: TestClient, admin_password: str
) -> None:
    answers = [log_in(client, f"user{n}", "wrong-guess") for n in range(30)]

    assert [a.status_code for a in answers[:20]] == [401] * 20
    assert [a.status_code for a in answers[20:]] == [429] * 10
    assert all(0 < retry_after(a) <= 60 for a in answers[20:])
    assert retry_after(log_in(client, "admin", admin_password)) > 0


def test_each_further_lock_lasts_twice_as_long(
    client: TestClient, admin_password: str, clock: list[datetime]
) -> None:
    waits = []
    for _ in range(4):
        answers = [log_in(client, "admin", "wrong-guess") for _ in range(6)]
        assert [a.status_code for a in answers] == [401] * 5 + [429]
        waits.append(retry_after(answers[5]))
        clock[0] += timedelta(seconds=waits[-1])  # the lock has just run out

    assert waits == [60, 120, 240, 480]


def test_retry_after_counts_down_and_the_lock_ends(
    client: TestClient, admin_password: str, clock: list[datetime]
) -> None:
    for _ in range(5):
        log_in(client, "admin", "wrong-guess")
    clock[0] += timedelta(seconds=45)

    assert retry_after(log_in(client, "admin", admin_password)) == 15
    clock[0] += timedelta(seconds=15)
    assert log_in(client, "admin", admin_password).status_code == 200


def test_a_success_resets_the_accounts_count(client: TestClient, admin_password: str) -> None:
    for _ in range(4):
        assert log_in(client, "admin", "wrong-guess").status_code == 401
    assert log_in(client, "admin", admin_password).status_code == 200

    answers = [log_in(client, "admin", "wrong-guess") for _ in range(5)]

    assert [a.status_code for a in answers] == [401] * 5
    assert log_in(client, "admin", "wrong-guess").status_code == 429


def test_the_account_is_counted_in_any_case(client: TestClient, admin_password: str) -> None:
    for name in ("admin", "ADMIN", "Admin", "aDmIn", "admin"):
        assert log_in(client, name, "wrong-guess").status_code == 401

    assert retry_after(log_in(client, "ADMIN", admin_password)) > 0


def test_the_counts_are_shared_by_every_process_and_survive_a_restart(
    client: TestClient, admin_password: str, settings: Settings
) -> None:
    for _ in range(5):
        log_in(client, "admin", "wrong-guess")

    other = FastAPI()
    other.state.engine = make_engine(settings.database_url)  # another process's engine
    other.state.settings = settings
    from api import errors
    from api.routes import auth

    errors.install(other)
    other.include_router(auth.router, prefix="/api/v1")
    with TestClient(other) as restarted:
        assert retry_after(log_in(restarted, "admin", admin_password)) > 0
    other.state.engine.dispose()


def test_the_limits_come_from_the_settings(
    client: TestClient,
    app: FastAPI,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    admin_password: str,
) -> None:
    monkeypatch.setenv("CLOSELOOP_LOGIN_ACCOUNT_LIMIT", "2")
    monkeypatch.setenv("CLOSELOOP_LOGIN_LOCK_SECONDS", "30")
    app.state.settings = Settings.from_env()

    answers = [log_in(client, "admin", "wrong-guess") for _ in range(3)]

    assert [a.status_code for a in answers] == [401, 401, 429]
    # the lock's 30 seconds, less what the three log-ins took on a busy machine
    assert 20 <= retry_after(answers[2]) <= 30


def test_the_throttle_settings_and_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CLOSELOOP_LOGIN_ACCOUNT_LIMIT",
        "CLOSELOOP_LOGIN_ADDRESS_LIMIT",
        "CLOSELOOP_LOGIN_WINDOW_MINUTES",
        "CLOSELOOP_LOGIN_LOCK_SECONDS",
        "CLOSELOOP_LOGIN_MAX_LOCK_MINUTES",
        "CLOSELOOP_TOKEN_MINUTES",
        "CLOSELOOP_TRUSTED_PROXIES",
    ):
        monkeypatch.delenv(name, raising=False)
    limits = throttle.Limits.of(Settings.from_env())

    assert limits == throttle.Limits(5, 20, timedelta(minutes=15), 60.0, 3600.0)
    assert Settings.from_env().token_minutes == 60
    assert Settings.from_env().trusted_proxies is None
    monkeypatch.setenv("CLOSELOOP_LOGIN_ACCOUNT_LIMIT", "0")
    with pytest.raises(SettingsError, match="CLOSELOOP_LOGIN_ACCOUNT_LIMIT must be at least 1"):
        Settings.from_env()


def test_the_web_log_in_is_throttled_and_the_page_says_why_in_both_languages(
    client: TestClient, admin_password: str
) -> None:
    for _ in range(5):
        client.post("/web/session", data={"username": "admin", "password": "wrong-guess"})

    answer = client.post("/web/session", data={"username": "admin", "password": admin_password})

    seconds = retry_after(answer)
    assert COOKIE not in answer.cookies
    params = answer.json()["params"]
    assert Translator(ZH)("reason.too_many_attempts", **params) == (
        f"登录失败次数过多，请 {seconds} 秒后再试"
    )
    assert Translator(EN)("reason.too_many_attempts", **params) == (
        f"Too many failed log-ins: try again in {seconds} seconds"
    )
    assert Translator(EN)("error.429") == "Too many attempts"


# ---- the password policy --------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "code", "sentence"),
    [
        ("short-pw", "password_too_short", "a password needs at least 10 characters"),
        (
            "qwertyuiop",
            "password_common",
            "this password is one of the 10,000 most common passwords; choose another",
        ),
        ("Password12", "password_common", None),
        ("my-SUNNY-days", "password_contains_username", "a password must not contain the username"),
    ],
)
def test_a_password_that_breaks_the_policy_is_refused_with_its_reason(
    client: TestClient, admin: dict[str, str], password: str, code: str, sentence: str | None
) -> None:
    body = {"username": "Sunny", "password": password, "display_name": "小孙", "role": "caller"}

    answer = client.post(USERS, json=body, headers=admin)

    assert answer.status_code == 422
    assert answer.json()["code"] == code
    assert answer.json()["field"] == "password"
    if sentence:
        assert answer.json()["detail"] == sentence
    assert [u.username for u in roster.list_users(db=client.app.state.engine)] == ["admin"]  # type: ignore[attr-defined]


def test_the_shipped_list_holds_the_10000_most_common_passwords() -> None:
    passwords = common_passwords()

    assert len(passwords) == 10_000
    assert {"123456", "password", "qwerty", "iloveyou", "1q2w3e4r5t", "basketball"} <= passwords
    assert MIN_LENGTH == 10


def test_the_demo_passwords_meet_the_policy_and_are_printed_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for username, password in DEMO_PASSWORDS.items():
        assert password_problem(password, username) is None, username
        assert f"| `{username}` | `{password}` |" in readme


def test_the_demo_users_sign_in_with_their_passwords(
    engine: Engine, client: TestClient, login: Login
) -> None:
    passwords = seed_demo(engine)
    assert passwords is not None
    for username, password in passwords.items():
        assert client.get(ME, headers=login(username, password)).json()["username"] == username


def test_an_admin_password_that_breaks_the_policy_stops_the_first_start(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("CLOSELOOP_ADMIN_PASSWORD", "admin-password")
    configured = Settings.from_env()

    with pytest.raises(AdminPasswordRefused) as refused:
        ensure_admin(engine, configured)

    assert str(refused.value) == (
        "CLOSELOOP_ADMIN_PASSWORD is refused: a password must not contain the username "
        "(password_contains_username); set another, or unset it to have one generated"
    )
    assert roster.count_users(db=engine) == 0
    monkeypatch.setenv("CLOSELOOP_SEED_DEMO", "0")
    monkeypatch.setenv("CLOSELOOP_DATA_DIR", str(settings.data_dir / "first-start"))
    assert cli.main(["bootstrap"]) == 2
    assert "CLOSELOOP_ADMIN_PASSWORD is refused" in capsys.readouterr().err


def test_a_generated_admin_password_meets_the_policy(engine: Engine, settings: Settings) -> None:
    password = ensure_admin(engine, settings)

    assert password is not None and password_problem(password, "admin") is None


# ---- revoking tokens ------------------------------------------------------------------


def test_log_out_revokes_the_token(
    client: TestClient, admin: dict[str, str], sun: str, login: Login
) -> None:
    token = login("sun", SUN_PASSWORD)
    assert client.get(ME, headers=token).status_code == 200

    assert client.post(LOGOUT, headers=token).status_code == 204

    answer = client.get(ME, headers=token)
    assert answer.status_code == 401
    assert answer.json()["code"] == "token_invalid"
    assert answer.json()["detail"] == (
        "the token was revoked: signed out, password changed or user disabled"
    )
    assert client.get(ME, headers=login("sun", SUN_PASSWORD)).status_code == 200
    assert client.get(ME, headers=admin).status_code == 200  # others stay signed in


def test_logging_out_needs_a_sign_in(client: TestClient) -> None:
    assert client.post(LOGOUT).json()["code"] == "sign_in"


def test_the_web_log_out_revokes_the_cookies_token(client: TestClient, admin_password: str) -> None:
    signed_in = client.post("/web/session", data={"username": "admin", "password": admin_password})
    assert signed_in.status_code == 200
    token = client.cookies[COOKIE]
    assert client.get(ME).status_code == 200  # by the cookie

    client.post("/web/session/logout", headers={"X-Closeloop-Web": "1"})

    answer = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.json()["code"] == "token_invalid"


def test_changing_ones_password_revokes_the_old_tokens(
    client: TestClient, sun: str, login: Login
) -> None:
    old = login("sun", SUN_PASSWORD)
    other_device = login("sun", SUN_PASSWORD)

    answer = client.post(
        PASSWORD,
        json={"old_password": SUN_PASSWORD, "new_password": "lantern-hill-12"},
        headers=old,
    )

    new = bearer(answer)
    for token in (old, other_device):
        assert client.get(ME, headers=token).json()["code"] == "token_invalid"
    assert client.get(ME, headers=new).json()["username"] == "sun"
    assert log_in(client, "sun", SUN_PASSWORD).json()["code"] == "bad_credentials"
    assert log_in(client, "sun", "lantern-hill-12").status_code == 200


def test_a_password_change_needs_the_old_password_and_a_good_new_one(
    client: TestClient, sun: str, login: Login, engine: Engine
) -> None:
    token = login("sun", SUN_PASSWORD)

    wrong = client.post(
        PASSWORD, json={"old_password": "not-it-at-all", "new_password": "x" * 12}, headers=token
    )
    weak = client.post(
        PASSWORD, json={"old_password": SUN_PASSWORD, "new_password": "sun-and-moon"}, headers=token
    )

    assert (wrong.status_code, wrong.json()["code"], wrong.json()["field"]) == (
        403,
        "wrong_password",
        "old_password",
    )
    assert (weak.status_code, weak.json()["code"], weak.json()["field"]) == (
        422,
        "password_contains_username",
        "new_password",
    )
    assert client.get(ME, headers=token).status_code == 200  # nothing changed
    assert log_in(client, "sun", SUN_PASSWORD).status_code == 200


def test_wrong_old_passwords_are_throttled_like_log_ins(
    client: TestClient, sun: str, login: Login
) -> None:
    token = login("sun", SUN_PASSWORD)
    body = {"old_password": "not-it-at-all", "new_password": "lantern-hill-12"}

    answers = [client.post(PASSWORD, json=body, headers=token) for _ in range(6)]

    assert [a.status_code for a in answers] == [403] * 5 + [429]
    assert retry_after(answers[5]) > 0


def test_an_admin_resets_a_password_and_the_users_tokens_are_revoked(
    client: TestClient, admin: dict[str, str], sun: str, login: Login
) -> None:
    token = login("sun", SUN_PASSWORD)

    answer = client.patch(f"{USERS}/{sun}", json={"password": "meadow-gate-31"}, headers=admin)

    assert answer.status_code == 200
    assert answer.json()["username"] == "sun" and answer.json()["disabled"] is False
    assert client.get(ME, headers=token).json()["code"] == "token_invalid"
    assert log_in(client, "sun", "meadow-gate-31").status_code == 200
    weak = client.patch(f"{USERS}/{sun}", json={"password": "sunflower-7"}, headers=admin)
    assert (weak.status_code, weak.json()["code"]) == (422, "password_contains_username")
    assert log_in(client, "sun", "meadow-gate-31").status_code == 200


def test_a_disabled_user_is_signed_out_and_cannot_log_in(
    client: TestClient, admin: dict[str, str], sun: str, login: Login
) -> None:
    token = login("sun", SUN_PASSWORD)

    answer = client.patch(f"{USERS}/{sun}", json={"disabled": True}, headers=admin)

    assert answer.status_code == 200 and answer.json()["disabled"] is True
    assert client.get(ME, headers=token).json()["code"] == "token_invalid"
    refused = log_in(client, "sun", SUN_PASSWORD)
    wrong = log_in(client, "sun", "wrong-guess")
    assert (refused.status_code, refused.json()) == (wrong.status_code, wrong.json())
    assert refused.json()["code"] == "bad_credentials"
    listed = {u["username"]: u["disabled"] for u in client.get(USERS, headers=admin).json()}
    assert listed == {"admin": False, "sun": True}

    enabled = client.patch(f"{USERS}/{sun}", json={"disabled": False}, headers=admin)
    assert enabled.json()["disabled"] is False
    assert log_in(client, "sun", SUN_PASSWORD).status_code == 200


def test_what_an_admin_may_not_change(
    client: TestClient, admin: dict[str, str], sun: str, login: Login, engine: Engine
) -> None:
    me = client.get(ME, headers=admin).json()["id"]

    itself = client.patch(f"{USERS}/{me}", json={"disabled": True}, headers=admin)
    nothing = client.patch(f"{USERS}/{sun}", json={}, headers=admin)
    unknown = client.patch(f"{USERS}/no-such-id", json={"disabled": True}, headers=admin)
    by_a_caller = client.patch(
        f"{USERS}/{sun}", json={"disabled": True}, headers=login("sun", SUN_PASSWORD)
    )

    assert (itself.status_code, itself.json()["code"], itself.json()["field"]) == (
        422,
        "disable_self",
        "disabled",
    )
    assert (nothing.status_code, nothing.json()["code"]) == (422, "nothing_to_change")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "user_not_found")
    assert (by_a_caller.status_code, by_a_caller.json()["code"]) == (403, "role_required")
    assert client.get(ME, headers=admin).status_code == 200
    assert log_in(client, "sun", SUN_PASSWORD).status_code == 200


def test_tokens_are_short_lived(
    client: TestClient, admin_password: str, settings: Settings
) -> None:
    token = log_in(client, "admin", admin_password).json()["access_token"]

    claims = jwt.decode(token, signing_secret(settings), algorithms=[ALGORITHM])

    assert claims["exp"] - claims["iat"] == 60 * 60


# ---- usernames in any case ------------------------------------------------------------


def test_admin_and_ADMIN_are_one_user(  # noqa: N802 - the names under test
    client: TestClient, admin_password: str
) -> None:
    admin = bearer(log_in(client, "admin", admin_password))
    body = {"username": "ADMIN", "password": "harbour-kite-88", "display_name": "x"}
    body["role"] = "admin"

    answer = client.post(USERS, json=body, headers=admin)

    assert answer.status_code == 409
    assert answer.json()["code"] == "username_taken"
    assert answer.json()["field"] == "username"
    assert answer.json()["detail"] == (
        "the username 'ADMIN' is taken (as 'admin'; case does not matter)"
    )
    assert roster.count_users(db=client.app.state.engine) == 1  # type: ignore[attr-defined]
    me = client.get(ME, headers=bearer(log_in(client, "ADMIN", admin_password))).json()
    assert me["username"] == "admin"


# ---- the migration --------------------------------------------------------------------


def _at_0003(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = _config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    return engine


def _add_old_user(engine: Engine, username: str) -> None:
    from api.security import hash_password

    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO users (id, username, display_name, role, password_hash, created_at) "
            "VALUES (?, ?, 'x', 'caller', ?, '2026-01-01 00:00:00')",
            (username + "-id", username, hash_password(SUN_PASSWORD)),
        )


def test_the_migration_keys_existing_users_by_their_folded_name(tmp_path: Path) -> None:
    engine = _at_0003(tmp_path)
    _add_old_user(engine, "Sun")

    migrate(engine)

    found = roster.authenticate("SUN", SUN_PASSWORD, db=engine)
    assert found is not None and found[0].username == "Sun" and found[1] == 0
    with pytest.raises(roster.UsernameTaken):
        roster.create_user("sun", "lantern-hill-12", "x", roster.Role.CALLER, db=engine)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(roster.login_throttle_table))
        assert count.scalar_one() == 0
    engine.dispose()


def test_the_migration_refuses_two_users_that_differ_only_in_case(tmp_path: Path) -> None:
    engine = _at_0003(tmp_path)
    _add_old_user(engine, "sun")
    _add_old_user(engine, "SUN")

    with pytest.raises(RuntimeError, match="the users 'sun' and 'SUN' differ only in case"):
        migrate(engine)
    engine.dispose()


# ---- the counts in the database, on each backend ---------------------------------------


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of each backend the suite runs on."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'throttle.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    with postgres_database("closeloop_throttle") as url:
        engine = make_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


def test_parallel_attempts_cannot_slip_past_the_limit(store: Engine) -> None:
    limits = throttle.Limits()

    def attempt(n: int) -> bool:
        try:
            throttle.admit("admin", f"10.0.0.{n}", limits, db=store)
        except throttle.TooManyAttempts:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = list(pool.map(attempt, range(30)))

    assert admitted.count(True) == 5


def test_a_success_gives_the_address_its_attempt_back(store: Engine) -> None:
    limits = throttle.Limits(account=100, address=3)
    for name in ("a", "b"):
        throttle.admit(name, "10.0.0.1", limits, db=store)  # two failures

    throttle.succeeded(throttle.admit("c", "10.0.0.1", limits, db=store), limits, db=store)

    throttle.admit("d", "10.0.0.1", limits, db=store)  # the third failure locks it
    with pytest.raises(throttle.TooManyAttempts) as locked:
        throttle.admit("e", "10.0.0.1", limits, db=store)
    assert locked.value.retry_after == 60


def test_quiet_keys_are_swept_out_and_the_others_kept(
    store: Engine, clock: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(throttle, "SWEEP_CHANCE", 0.0)
    limits = throttle.Limits()
    throttle.admit("old", "10.0.0.1", limits, db=store)
    for _ in range(5):
        throttle.admit("locked", "10.0.0.2", limits, db=store)  # locked for 60 s
    clock[0] += timedelta(minutes=15, seconds=30)
    throttle.admit("new", "10.0.0.3", limits, db=store)

    assert throttle.sweep(limits, db=store) == 3

    with store.connect() as conn:
        keys = set(conn.execute(select(roster.login_throttle_table.c.key)).scalars())
    assert keys == {"account:locked", "account:new", "address:10.0.0.3"}
