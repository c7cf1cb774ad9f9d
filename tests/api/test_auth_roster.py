"""Sign-in, the roster of units and users, and the first-start bootstrap, through the API."""

from __future__ import annotations

import dataclasses
import stat
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select

from api import roster
from api.roster import Role
from api.security import SECRET_FILE, create_access_token, signing_secret
from closeloop.bootstrap import DEMO_PASSWORDS, ensure_admin, seed_demo
from closeloop.settings import Settings
from domain.ladder import Level, UnitKind
from tests.api.conftest import Login

UNITS = "/api/v1/units"
USERS = "/api/v1/users"
ME = "/api/v1/auth/me"
TOKEN = "/api/v1/auth/token"


def written(engine: Engine) -> tuple[int, int, int]:
    """Rows in units, users and assignments: what a rejected command must leave alone."""
    with engine.connect() as conn:
        posts = conn.execute(select(func.count()).select_from(roster.assignment_table))
        return roster.count_units(db=conn), roster.count_users(db=conn), posts.scalar_one()


def add_unit(
    client: TestClient, admin: dict[str, str], name: str, kind: str, parent_id: str | None = None
) -> str:
    answer = client.post(
        UNITS, json={"name": name, "kind": kind, "parent_id": parent_id}, headers=admin
    )
    assert answer.status_code == 201, answer.text
    unit_id: str = answer.json()["id"]
    return unit_id


@pytest.fixture
def tree(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    """A town with one community and one grid."""
    town = add_unit(client, admin, "城关镇", "town")
    community = add_unit(client, admin, "医院西路社区", "community", town)
    grid = add_unit(client, admin, "第一网格", "grid", community)
    return {"town": town, "community": community, "grid": grid}


def user_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": "sun",
        "password": "long-enough",
        "display_name": "网格员小孙",
        "role": "handler",
        "assignments": [],
    }
    body.update(changes)
    return body


@pytest.fixture
def handler(
    client: TestClient, admin: dict[str, str], tree: dict[str, str], login: Login
) -> dict[str, str]:
    """A grid worker on the tree's grid, signed in."""
    post = {"unit_id": tree["grid"], "level": "grid_worker"}
    answer = client.post(USERS, json=user_body(assignments=[post]), headers=admin)
    assert answer.status_code == 201, answer.text
    return login("sun", "long-enough")


# ---- signing in -------------------------------------------------------------------


def test_a_user_signs_in_and_sees_their_role_and_posts(
    client: TestClient, handler: dict[str, str], tree: dict[str, str]
) -> None:
    answer = client.get(ME, headers=handler)

    assert answer.status_code == 200
    me = answer.json()
    assert me["username"] == "sun"
    assert me["display_name"] == "网格员小孙"
    assert me["role"] == "handler"
    assert me["assignments"] == [{"unit_id": tree["grid"], "level": "grid_worker"}]
    assert "password" not in me and "password_hash" not in me


def test_the_token_endpoint_answers_the_oauth2_shape(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    ensure_admin(engine, dataclasses.replace(settings, admin_password="kettle-lamp-42"))

    answer = client.post(TOKEN, data={"username": "admin", "password": "kettle-lamp-42"})

    assert answer.status_code == 200
    assert answer.json()["token_type"] == "bearer"
    assert answer.json()["access_token"]


@pytest.mark.parametrize(
    ("username", "password"), [("admin", "wrong-password"), ("nobody", "whatever-1")]
)
def test_a_wrong_password_or_unknown_user_is_401(
    client: TestClient, admin: dict[str, str], username: str, password: str
) -> None:
    answer = client.post(TOKEN, data={"username": username, "password": password})

    assert answer.status_code == 401
    assert answer.json()["detail"] == "wrong username or password"
    assert answer.headers["www-authenticate"] == "Bearer"


def test_signing_in_without_a_password_is_422(client: TestClient) -> None:
    assert client.post(TOKEN, data={"username": "admin"}).status_code == 422


def test_no_token_is_401(client: TestClient) -> None:
    answer = client.get(ME)

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "sign in" in answer.json()["detail"]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-token",
        "Bearer " + create_access_token("x", secret="another-secret-" * 4, minutes=5),
    ],
)
def test_a_bad_token_is_401(client: TestClient, authorization: str) -> None:
    answer = client.get(ME, headers={"Authorization": authorization})

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["detail"] == "the token is not valid"


def test_an_expired_token_is_401(
    client: TestClient, engine: Engine, settings: Settings, admin: dict[str, str]
) -> None:
    user = roster.get_user_by_username("admin", db=engine)
    assert user is not None
    token = create_access_token(user.id, secret=signing_secret(settings), minutes=-1)

    answer = client.get(ME, headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 401
    assert answer.json()["detail"] == "the token has expired"


def test_a_token_of_a_removed_user_is_401(
    client: TestClient, engine: Engine, handler: dict[str, str]
) -> None:
    with engine.begin() as conn:
        conn.execute(delete(roster.assignment_table))
        conn.execute(delete(roster.user_table).where(roster.user_table.c.username == "sun"))

    answer = client.get(ME, headers=handler)

    assert answer.status_code == 401
    assert answer.json()["detail"] == "the token's user no longer exists"


def test_the_generated_secret_is_kept_private_and_survives_a_restart(
    settings: Settings, engine: Engine, client: TestClient, admin: dict[str, str]
) -> None:
    path = settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A restarted process reads the secret from the file: tokens signed with it still pass.
    user = roster.get_user_by_username("admin", db=engine)
    assert user is not None
    token = create_access_token(user.id, secret=path.read_text().strip(), minutes=5)
    assert client.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_configured_secret_is_used_instead_of_the_file(settings: Settings) -> None:
    configured = dataclasses.replace(settings, jwt_secret="configured-secret")

    assert signing_secret(configured) == "configured-secret"
    assert not (settings.data_dir / SECRET_FILE).exists()


# ---- units ------------------------------------------------------------------------


def test_an_admin_builds_town_community_and_grid(client: TestClient, admin: dict[str, str]) -> None:
    town = client.post(UNITS, json={"name": "城关镇", "kind": "town"}, headers=admin)
    assert town.status_code == 201
    assert town.json() == {
        "id": town.json()["id"],
        "name": "城关镇",
        "kind": "town",
        "parent_id": None,
        "dispatch": None,  # only a community is dispatched
    }
    community = client.post(
        UNITS,
        json={"name": "祥和苑社区", "kind": "community", "parent_id": town.json()["id"]},
        headers=admin,
    )
    assert community.status_code == 201
    assert community.json()["dispatch"] == "auto"
    grid = client.post(
        UNITS,
        json={"name": "祥和苑社区第一网格", "kind": "grid", "parent_id": community.json()["id"]},
        headers=admin,
    )
    assert grid.status_code == 201
    assert grid.json()["parent_id"] == community.json()["id"]


def test_any_staff_user_lists_units(
    client: TestClient, handler: dict[str, str], tree: dict[str, str]
) -> None:
    answer = client.get(UNITS, headers=handler)

    assert answer.status_code == 200
    assert [(u["id"], u["kind"]) for u in answer.json()] == [
        (tree["town"], "town"),
        (tree["community"], "community"),
        (tree["grid"], "grid"),
    ]
    grids = client.get(UNITS, params={"kind": "grid"}, headers=handler).json()
    assert [u["id"] for u in grids] == [tree["grid"]]


def test_listing_units_needs_a_sign_in(client: TestClient) -> None:
    assert client.get(UNITS).status_code == 401


def test_only_an_admin_adds_units(
    client: TestClient, engine: Engine, handler: dict[str, str]
) -> None:
    before = written(engine)

    answer = client.post(UNITS, json={"name": "新镇", "kind": "town"}, headers=handler)

    assert answer.status_code == 403
    assert answer.json()["detail"] == ("this needs the admin role; you are signed in as handler")
    assert written(engine) == before


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"name": "某地", "kind": "village"}, None),
        ({"kind": "town"}, None),
        ({"name": "  ", "kind": "town"}, "a unit needs a name"),
        ({"name": "某镇", "kind": "town", "parent_id": "{town}"}, "a town has no parent unit"),
        ({"name": "某社区", "kind": "community"}, "a community needs a parent town"),
        (
            {"name": "某网格", "kind": "grid", "parent_id": "{town}"},
            "a grid's parent must be a community, not a town",
        ),
        (
            {"name": "某社区", "kind": "community", "parent_id": "{grid}"},
            "a community's parent must be a town, not a grid",
        ),
        ({"name": "某网格", "kind": "grid", "parent_id": "no-such-unit"}, "unknown unit"),
    ],
)
def test_a_unit_that_breaks_the_nesting_is_422_and_writes_nothing(
    client: TestClient,
    engine: Engine,
    admin: dict[str, str],
    tree: dict[str, str],
    body: dict[str, str],
    reason: str | None,
) -> None:
    if "parent_id" in body:
        body = {**body, "parent_id": body["parent_id"].format(**tree)}
    before = written(engine)

    answer = client.post(UNITS, json=body, headers=admin)

    assert answer.status_code == 422
    if reason is not None:
        assert reason in answer.json()["detail"]
    assert written(engine) == before


# ---- users ------------------------------------------------------------------------


def test_an_admin_adds_a_handler_who_can_then_sign_in(
    client: TestClient, admin: dict[str, str], tree: dict[str, str], login: Login
) -> None:
    posts = [{"unit_id": tree["grid"], "level": "grid_branch"}]

    answer = client.post(USERS, json=user_body(username="wang", assignments=posts), headers=admin)

    assert answer.status_code == 201
    body = answer.json()
    assert body["id"]
    assert {k: v for k, v in body.items() if k != "id"} == {
        "username": "wang",
        "display_name": "网格员小孙",
        "role": "handler",
        "assignments": posts,
        "disabled": False,
        "organisation": None,
        "dispatch_units": [],
        "work_phone": None,
    }
    me = client.get(ME, headers=login("wang", "long-enough")).json()
    assert me["id"] == body["id"]


@pytest.mark.parametrize("role", ["admin", "supervisor", "caller"])
def test_staff_without_posts_are_added(
    client: TestClient, admin: dict[str, str], role: str
) -> None:
    answer = client.post(USERS, json=user_body(username=f"a-{role}", role=role), headers=admin)

    assert answer.status_code == 201
    assert answer.json()["role"] == role
    assert answer.json()["assignments"] == []


def test_a_taken_username_is_409_and_writes_nothing(
    client: TestClient, engine: Engine, admin: dict[str, str], handler: dict[str, str]
) -> None:
    before = written(engine)

    answer = client.post(USERS, json=user_body(role="caller"), headers=admin)

    assert answer.status_code == 409
    assert answer.json()["detail"] == "the username 'sun' is taken"
    assert written(engine) == before


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"password": "short"}, "a password needs at least 10 characters"),
        ({"role": "handler", "assignments": []}, "a handler needs at least one assignment"),
        (
            {"role": "caller", "assignments": [{"unit_id": "{grid}", "level": "grid_worker"}]},
            "only handlers have assignments, not a caller",
        ),
        (
            {"assignments": [{"unit_id": "{community}", "level": "grid_worker"}]},
            "a grid_worker is assigned on a grid; 医院西路社区 is a community",
        ),
        (
            {"assignments": [{"unit_id": "{grid}", "level": "town_committee"}]},
            "a town_committee is assigned on a town; 第一网格 is a grid",
        ),
        (
            {
                "assignments": [
                    {"unit_id": "{grid}", "level": "grid_worker"},
                    {"unit_id": "no-such-unit", "level": "grid_worker"},
                ]
            },
            "unknown unit no-such-unit",
        ),
        ({"username": " "}, "a user needs a username"),
        ({"display_name": ""}, "a user needs a display name"),
        ({"username": "x" * 65}, "xxxxxxxxxxxxxxxxxxxx... is longer than 64 characters"),
        ({"role": "resident"}, None),
        ({"assignments": [{"unit_id": "{grid}", "level": "mayor"}]}, None),
    ],
)
def test_a_user_that_breaks_a_roster_rule_is_422_and_writes_nothing(
    client: TestClient,
    engine: Engine,
    admin: dict[str, str],
    tree: dict[str, str],
    changes: dict[str, Any],
    reason: str | None,
) -> None:
    if "assignments" in changes:
        changes["assignments"] = [
            {**post, "unit_id": post["unit_id"].format(**tree)} for post in changes["assignments"]
        ]
    before = written(engine)

    answer = client.post(USERS, json=user_body(**changes), headers=admin)

    assert answer.status_code == 422
    if reason is not None:
        assert answer.json()["detail"] == reason
    assert written(engine) == before


@pytest.mark.parametrize("missing", ["username", "password", "display_name", "role"])
def test_a_user_with_a_missing_field_is_422(
    client: TestClient, engine: Engine, admin: dict[str, str], missing: str
) -> None:
    body = user_body(role="caller")
    del body[missing]
    before = written(engine)

    answer = client.post(USERS, json=body, headers=admin)

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", missing]
    assert written(engine) == before


def test_only_an_admin_adds_users(
    client: TestClient, engine: Engine, login: Login, admin: dict[str, str]
) -> None:
    client.post(USERS, json=user_body(username="zhao", role="supervisor"), headers=admin)
    supervisor = login("zhao", "long-enough")
    before = written(engine)

    answer = client.post(USERS, json=user_body(role="caller"), headers=supervisor)

    assert answer.status_code == 403
    assert written(engine) == before


def test_admins_and_supervisors_list_users_and_handlers_do_not(
    client: TestClient, admin: dict[str, str], handler: dict[str, str], login: Login
) -> None:
    client.post(USERS, json=user_body(username="zhao", role="supervisor"), headers=admin)
    supervisor = login("zhao", "long-enough")

    listed = client.get(USERS, headers=supervisor)
    refused = client.get(USERS, headers=handler)

    assert listed.status_code == 200
    assert [u["username"] for u in listed.json()] == ["admin", "sun", "zhao"]
    assert all("password" not in u and "password_hash" not in u for u in listed.json())
    assert client.get(USERS, params={"role": "handler"}, headers=admin).json()[0]["username"] == (
        "sun"
    )
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "this needs the admin or supervisor role; you are signed in as handler"
    )
    assert client.get(USERS).status_code == 401


# ---- roster reads the rest of the API uses ----------------------------------------


def test_a_grid_climbs_to_its_community_and_town(engine: Engine, tree: dict[str, str]) -> None:
    grid, community, town = roster.unit_chain(tree["grid"], db=engine)

    assert (grid.id, community.id, town.id) == (tree["grid"], tree["community"], tree["town"])
    with pytest.raises(roster.InvalidRoster, match="is a community, not a grid"):
        roster.unit_chain(tree["community"], db=engine)
    with pytest.raises(roster.InvalidRoster, match="unknown unit"):
        roster.unit_chain("no-such-unit", db=engine)


def test_a_requests_assignees_are_the_users_posted_at_its_level(
    engine: Engine, handler: dict[str, str], tree: dict[str, str]
) -> None:
    assigned = roster.users_assigned(tree["grid"], Level.GRID_WORKER, db=engine)

    assert [u.username for u in assigned] == ["sun"]
    assert roster.users_assigned(tree["grid"], Level.GRID_BRANCH, db=engine) == []
    assert roster.assignments_of(assigned[0].id, db=engine) == list(assigned[0].assignments)
    # a disabled handler is no one a request can wait on: the board shows nobody there
    roster.set_disabled(assigned[0].id, True, db=engine)
    assert roster.users_assigned(tree["grid"], Level.GRID_WORKER, db=engine) == []


# ---- first start ------------------------------------------------------------------


def test_ensure_admin_generates_a_password_once(
    client: TestClient, engine: Engine, settings: Settings, login: Login
) -> None:
    password = ensure_admin(engine, settings)

    assert password is not None and len(password) >= 10
    assert ensure_admin(engine, settings) is None
    assert roster.count_users(db=engine) == 1
    admin = roster.get_user_by_username("admin", db=engine)
    assert admin is not None and admin.role is Role.ADMIN
    assert client.get(ME, headers=login("admin", password)).json()["role"] == "admin"


def test_ensure_admin_uses_the_configured_password_and_prints_nothing(
    client: TestClient, engine: Engine, settings: Settings, login: Login
) -> None:
    configured = dataclasses.replace(settings, admin_password="configured-1")

    assert ensure_admin(engine, configured) is None
    assert ensure_admin(engine, configured) is None
    assert client.get(ME, headers=login("admin", "configured-1")).status_code == 200


def test_ensure_admin_leaves_an_existing_roster_alone(
    engine: Engine, settings: Settings, admin: dict[str, str]
) -> None:
    roster.create_user("zhao", "long-enough", "督办员", Role.SUPERVISOR, db=engine)
    with engine.begin() as conn:
        conn.execute(delete(roster.user_table).where(roster.user_table.c.username == "admin"))

    assert ensure_admin(engine, settings) is None
    assert roster.get_user_by_username("admin", db=engine) is None


def test_the_demo_town_is_seeded_once_and_its_users_sign_in(
    client: TestClient, engine: Engine, login: Login
) -> None:
    passwords = seed_demo(engine)

    assert passwords == DEMO_PASSWORDS
    assert set(passwords) == {
        "worker1",
        "worker2",
        "branch1",
        "community1",
        "town1",
        "caller1",
        "supervisor1",
        "dispatcher1",
        "partner1",
    }
    assert seed_demo(engine) is None
    assert written(engine) == (7, 9, 6)

    units = {u.name: u for u in roster.list_units(db=engine)}
    first, second = units["医院西路社区第一网格"], units["医院西路社区第二网格"]
    grid, community, town = roster.unit_chain(first.id, db=engine)
    assert (community.name, town.name) == ("医院西路社区", "城关镇")
    assert roster.unit_chain(units["祥和苑社区第二网格"].id, db=engine)[1].name == "祥和苑社区"

    def me(username: str) -> dict[str, Any]:
        answer = client.get(ME, headers=login(username, passwords[username]))
        assert answer.status_code == 200
        body: dict[str, Any] = answer.json()
        return body

    def posts(username: str) -> set[tuple[str, str]]:
        return {(p["unit_id"], p["level"]) for p in me(username)["assignments"]}

    assert me("worker1")["display_name"] == "网格员小孙"
    assert posts("worker1") == {(first.id, "grid_worker")}
    assert posts("worker2") == {(second.id, "grid_worker")}
    assert posts("branch1") == {(first.id, "grid_branch"), (second.id, "grid_branch")}
    assert posts("community1") == {(community.id, "community_committee")}
    assert posts("town1") == {(town.id, "town_committee")}
    assert me("caller1")["role"] == "caller"
    assert me("supervisor1")["role"] == "supervisor"
    dispatcher = me("dispatcher1")
    assert (dispatcher["role"], dispatcher["dispatch_units"]) == ("dispatcher", [community.id])
    assert dispatcher["assignments"] == []
    partner = me("partner1")
    assert (partner["role"], partner["organisation"]) == ("partner", "城关物业公司")
    assert partner["assignments"] == partner["dispatch_units"] == []
    # every demo community is dispatched as before
    communities = [u for u in units.values() if u.kind is UnitKind.COMMUNITY]
    assert [roster.dispatch_mode(c.id, db=engine) for c in communities] == ["auto", "auto"]


def test_the_demo_is_not_seeded_over_an_existing_roster(
    client: TestClient, engine: Engine, tree: dict[str, str]
) -> None:
    before = written(engine)

    assert seed_demo(engine) is None
    assert written(engine) == before
