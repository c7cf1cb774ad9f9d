"""The street office's roles on the roster: dispatchers (posted at communities or towns),
partners (of an outside organisation), and each community's dispatch mode, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api import roster
from api.deps import Principal
from api.roster import DispatchMode, Role
from closeloop.bootstrap import demo_password
from domain.ladder import UnitKind
from tests.api.conftest import Login, Site
from tests.api.test_auth_roster import ME, UNITS, USERS, add_unit, user_body, written
from web.i18n import EN, ZH, Translator
from web.session import COOKIE


def posts_written(engine: Engine) -> int:
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(roster.dispatch_post_table))
        return int(count.scalar_one())


@pytest.fixture
def tree(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    """A town with two communities, one grid in the first; and a second town."""
    town = add_unit(client, admin, "城关镇", "town")
    community = add_unit(client, admin, "医院西路社区", "community", town)
    other = add_unit(client, admin, "祥和苑社区", "community", town)
    grid = add_unit(client, admin, "第一网格", "grid", community)
    far_town = add_unit(client, admin, "宣化镇", "town")
    far = add_unit(client, admin, "宣化社区", "community", far_town)
    return {
        "town": town,
        "community": community,
        "other": other,
        "grid": grid,
        "far_town": far_town,
        "far": far,
    }


def dispatcher(**changes: Any) -> dict[str, Any]:
    return user_body(username="zhou", role="dispatcher", display_name="派单员小周", **changes)


def partner(**changes: Any) -> dict[str, Any]:
    return user_body(username="wu", role="partner", display_name="物业管家小吴", **changes)


# ---- dispatchers ----------------------------------------------------------------------


def test_a_dispatcher_posted_at_a_community_signs_in_and_sees_their_post(
    client: TestClient, admin: dict[str, str], tree: dict[str, str], login: Login
) -> None:
    answer = client.post(USERS, json=dispatcher(dispatch_units=[tree["community"]]), headers=admin)

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert {k: v for k, v in body.items() if k != "id"} == {
        "username": "zhou",
        "display_name": "派单员小周",
        "role": "dispatcher",
        "assignments": [],
        "disabled": False,
        "organisation": None,
        "dispatch_units": [tree["community"]],
        "work_phone": None,
    }
    me = client.get(ME, headers=login("zhou", "long-enough"))
    assert me.status_code == 200
    assert (me.json()["role"], me.json()["dispatch_units"]) == ("dispatcher", [tree["community"]])
    listed = client.get(USERS, params={"role": "dispatcher"}, headers=admin).json()
    assert [(u["username"], u["dispatch_units"]) for u in listed] == [("zhou", [tree["community"]])]


def test_a_dispatcher_posted_at_a_town_covers_all_its_communities(
    client: TestClient, engine: Engine, admin: dict[str, str], tree: dict[str, str]
) -> None:
    posts = [tree["town"], tree["far"], tree["town"]]  # the same post twice is one post
    answer = client.post(USERS, json=dispatcher(dispatch_units=posts), headers=admin)

    assert answer.status_code == 201, answer.text
    assert answer.json()["dispatch_units"] == sorted({tree["town"], tree["far"]})
    user = roster.get_user(answer.json()["id"], db=engine)
    assert user is not None
    # a request's community and town: the town's post covers both of its communities
    assert roster.covers(user, tree["community"], tree["town"])
    assert roster.covers(user, tree["other"], tree["town"])
    assert roster.covers(Principal.of(user), tree["far"], tree["far_town"])
    assert roster.covers([tree["town"]], tree["other"], tree["town"])
    assert not roster.covers([tree["community"]], tree["other"], tree["town"])
    assert not roster.covers(tree["community"], tree["far"], tree["far_town"])
    assert not roster.covers((), tree["community"], tree["town"])
    who = roster.dispatchers_of([tree["other"], tree["town"]], db=engine)
    assert [u.username for u in who] == ["zhou"]
    assert roster.dispatchers_of([tree["grid"]], db=engine) == []
    assert roster.dispatchers_of([], db=engine) == []


def test_a_disabled_dispatcher_dispatches_nothing(
    client: TestClient, engine: Engine, admin: dict[str, str], tree: dict[str, str]
) -> None:
    made = client.post(USERS, json=dispatcher(dispatch_units=[tree["town"]]), headers=admin)
    client.patch(f"{USERS}/{made.json()['id']}", json={"disabled": True}, headers=admin)

    assert roster.dispatchers_of([tree["community"], tree["town"]], db=engine) == []


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"dispatch_units": ["{grid}"]}, "dispatch_unit_kind"),
        ({"dispatch_units": ["{community}", "{grid}"]}, "dispatch_unit_kind"),
        ({"dispatch_units": []}, "dispatch_unit_required"),
        ({}, "dispatch_unit_required"),
        ({"dispatch_units": ["no-such-unit"]}, "unknown_unit"),
    ],
)
def test_a_dispatcher_needs_posts_at_communities_or_towns(
    client: TestClient,
    engine: Engine,
    admin: dict[str, str],
    tree: dict[str, str],
    changes: dict[str, Any],
    code: str,
) -> None:
    if "dispatch_units" in changes:
        changes["dispatch_units"] = [u.format(**tree) for u in changes["dispatch_units"]]
    before = written(engine), posts_written(engine)

    answer = client.post(USERS, json=dispatcher(**changes), headers=admin)

    assert answer.status_code == 422, answer.text
    assert (answer.json()["code"], answer.json()["field"]) == (code, "dispatch_units")
    assert (written(engine), posts_written(engine)) == before


@pytest.mark.parametrize("role", ["handler", "admin", "supervisor", "caller", "partner"])
def test_only_dispatchers_have_dispatch_posts(
    client: TestClient, engine: Engine, admin: dict[str, str], tree: dict[str, str], role: str
) -> None:
    body = user_body(
        role=role,
        organisation="城关物业公司",
        dispatch_units=[tree["community"]],
        assignments=[{"unit_id": tree["grid"], "level": "grid_worker"}],
    )
    before = written(engine), posts_written(engine)

    answer = client.post(USERS, json=body, headers=admin)

    assert answer.status_code == 422
    if role == "handler":
        assert (answer.json()["code"], answer.json()["field"]) == (
            "dispatch_units_not_allowed",
            "dispatch_units",
        )
    else:  # the assignments are refused first
        assert (answer.json()["code"], answer.json()["field"]) == ("invalid_roster", "assignments")
    assert (written(engine), posts_written(engine)) == before


def test_a_dispatcher_has_no_assignments(
    client: TestClient, engine: Engine, admin: dict[str, str], tree: dict[str, str]
) -> None:
    post = {"unit_id": tree["grid"], "level": "grid_worker"}
    body = dispatcher(dispatch_units=[tree["community"]], assignments=[post])

    answer = client.post(USERS, json=body, headers=admin)

    assert answer.status_code == 422
    assert answer.json()["detail"] == "only handlers have assignments, not a dispatcher"
    assert answer.json()["field"] == "assignments"


def test_an_admin_moves_a_dispatchers_posts_and_they_count_at_once(
    client: TestClient, engine: Engine, admin: dict[str, str], tree: dict[str, str], login: Login
) -> None:
    made = client.post(USERS, json=dispatcher(dispatch_units=[tree["community"]]), headers=admin)
    zhou = login("zhou", "long-enough")
    path = f"{USERS}/{made.json()['id']}"

    moved = client.patch(path, json={"dispatch_units": [tree["far_town"]]}, headers=admin)

    assert moved.status_code == 200, moved.text
    assert moved.json()["dispatch_units"] == [tree["far_town"]]
    # the token stays good, and the next request reads the new post
    assert client.get(ME, headers=zhou).json()["dispatch_units"] == [tree["far_town"]]
    assert [u.username for u in roster.dispatchers_of([tree["far_town"]], db=engine)] == ["zhou"]
    assert roster.dispatchers_of([tree["community"], tree["town"]], db=engine) == []

    for units, code in (([tree["grid"]], "dispatch_unit_kind"), ([], "dispatch_unit_required")):
        refused = client.patch(path, json={"dispatch_units": units}, headers=admin)
        assert refused.status_code == 422
        assert (refused.json()["code"], refused.json()["field"]) == (code, "dispatch_units")
    assert client.get(ME, headers=zhou).json()["dispatch_units"] == [tree["far_town"]]


def test_patching_a_handlers_dispatch_posts_is_refused(
    client: TestClient, engine: Engine, admin: dict[str, str], tree: dict[str, str]
) -> None:
    post = {"unit_id": tree["grid"], "level": "grid_worker"}
    made = client.post(USERS, json=user_body(assignments=[post]), headers=admin)
    path = f"{USERS}/{made.json()['id']}"

    refused = client.patch(path, json={"dispatch_units": [tree["community"]]}, headers=admin)

    assert refused.status_code == 422
    assert refused.json()["code"] == "dispatch_units_not_allowed"
    assert posts_written(engine) == 0
    # an empty list asks for nothing a handler lacks
    assert client.patch(path, json={"dispatch_units": []}, headers=admin).status_code == 200


# ---- partners --------------------------------------------------------------------------


def test_a_partner_of_an_organisation_signs_in(
    client: TestClient, admin: dict[str, str], login: Login
) -> None:
    answer = client.post(USERS, json=partner(organisation="  城关物业公司 "), headers=admin)

    assert answer.status_code == 201, answer.text
    assert answer.json()["organisation"] == "城关物业公司"
    assert answer.json()["assignments"] == answer.json()["dispatch_units"] == []
    me = client.get(ME, headers=login("wu", "long-enough")).json()
    assert (me["role"], me["organisation"]) == ("partner", "城关物业公司")
    listed = client.get(USERS, params={"role": "partner"}, headers=admin).json()
    assert [(u["username"], u["organisation"]) for u in listed] == [("wu", "城关物业公司")]


@pytest.mark.parametrize("organisation", [None, "", "   "])
def test_a_partner_without_an_organisation_is_refused(
    client: TestClient, engine: Engine, admin: dict[str, str], organisation: str | None
) -> None:
    body = partner()
    if organisation is not None:
        body["organisation"] = organisation
    before = written(engine)

    answer = client.post(USERS, json=body, headers=admin)

    assert answer.status_code == 422
    assert (answer.json()["code"], answer.json()["field"]) == (
        "organisation_required",
        "organisation",
    )
    assert written(engine) == before


def test_an_organisation_that_cannot_be_stored_is_refused(
    client: TestClient, engine: Engine, admin: dict[str, str]
) -> None:
    before = written(engine)

    control = client.post(USERS, json=partner(organisation="城关\x00物业"), headers=admin)
    long = client.post(USERS, json=partner(organisation="物" * 201), headers=admin)

    assert control.status_code == 422
    assert control.json()["detail"][0]["loc"] == ["body", "organisation"]
    assert control.json()["detail"][0]["type"] == "control_character"
    assert long.status_code == 422
    assert (long.json()["code"], long.json()["field"]) == ("invalid_roster", "organisation")
    assert written(engine) == before
    # exactly as long as a display name may be is fine
    longest = client.post(USERS, json=partner(organisation="物" * 200), headers=admin)
    assert longest.status_code == 201


def test_staff_may_name_an_organisation_or_leave_it_out(
    client: TestClient, admin: dict[str, str]
) -> None:
    named = client.post(
        USERS, json=user_body(username="zhao", role="supervisor", organisation="城关镇街道办"),
        headers=admin,
    )  # fmt: skip
    blank = client.post(
        USERS, json=user_body(username="liu", role="caller", organisation=" "), headers=admin
    )

    assert named.status_code == 201 and named.json()["organisation"] == "城关镇街道办"
    assert blank.status_code == 201 and blank.json()["organisation"] is None


def test_an_admin_changes_a_partners_organisation_but_never_clears_it(
    client: TestClient, admin: dict[str, str], login: Login
) -> None:
    made = client.post(USERS, json=partner(organisation="城关物业公司"), headers=admin)
    path = f"{USERS}/{made.json()['id']}"
    wu = login("wu", "long-enough")

    changed = client.patch(path, json={"organisation": "祥和物业"}, headers=admin)

    assert changed.status_code == 200, changed.text
    assert changed.json()["organisation"] == "祥和物业"
    assert client.get(ME, headers=wu).json()["organisation"] == "祥和物业"
    for cleared in (None, ""):
        refused = client.patch(path, json={"organisation": cleared}, headers=admin)
        assert refused.status_code == 422
        assert refused.json()["code"] == "organisation_required"
    assert client.get(ME, headers=wu).json()["organisation"] == "祥和物业"


def test_a_refused_organisation_leaves_the_password_alone(
    client: TestClient, admin: dict[str, str], login: Login
) -> None:
    made = client.post(USERS, json=partner(organisation="城关物业公司"), headers=admin)
    path = f"{USERS}/{made.json()['id']}"

    refused = client.patch(
        path, json={"password": "a-new-passphrase", "organisation": None}, headers=admin
    )

    assert refused.status_code == 422
    login("wu", "long-enough")  # still the old password
    # and a refused password leaves the organisation alone
    weak = client.patch(path, json={"password": "short", "organisation": "祥和物业"}, headers=admin)
    assert weak.status_code == 422 and weak.json()["code"] == "password_too_short"
    assert (
        client.get(USERS, params={"role": "partner"}, headers=admin).json()[0]["organisation"]
        == "城关物业公司"
    )


def test_a_staff_members_organisation_is_cleared_with_null(
    client: TestClient, admin: dict[str, str]
) -> None:
    made = client.post(
        USERS, json=user_body(role="caller", organisation="城关镇街道办"), headers=admin
    )
    path = f"{USERS}/{made.json()['id']}"

    cleared = client.patch(path, json={"organisation": None}, headers=admin)

    assert cleared.status_code == 200 and cleared.json()["organisation"] is None


def test_patch_without_anything_to_change_is_still_refused(
    client: TestClient, admin: dict[str, str]
) -> None:
    made = client.post(USERS, json=user_body(role="caller"), headers=admin)
    path = f"{USERS}/{made.json()['id']}"

    for body in ({}, {"password": None, "dispatch_units": None}):
        answer = client.patch(path, json=body, headers=admin)
        assert answer.status_code == 422 and answer.json()["code"] == "nothing_to_change"


# ---- a community's dispatch mode -------------------------------------------------------


def test_an_admin_switches_a_community_to_manual_dispatch_and_back(
    client: TestClient, engine: Engine, admin: dict[str, str], tree: dict[str, str]
) -> None:
    assert roster.dispatch_mode(tree["community"], db=engine) is DispatchMode.AUTO

    path = f"{UNITS}/{tree['community']}"
    manual = client.patch(path, json={"dispatch": "manual"}, headers=admin)

    assert manual.status_code == 200, manual.text
    assert manual.json() == {
        "id": tree["community"],
        "name": "医院西路社区",
        "kind": "community",
        "parent_id": tree["town"],
        "dispatch": "manual",
    }
    assert roster.dispatch_mode(tree["community"], db=engine) == "manual"
    assert roster.dispatch_mode(tree["other"], db=engine) == "auto"
    shown = {u["id"]: u["dispatch"] for u in client.get(UNITS, headers=admin).json()}
    assert shown == {
        tree["town"]: None,
        tree["community"]: "manual",
        tree["other"]: "auto",
        tree["grid"]: None,
        tree["far_town"]: None,
        tree["far"]: "auto",
    }
    back = client.patch(f"{UNITS}/{tree['community']}", json={"dispatch": "auto"}, headers=admin)
    assert back.json()["dispatch"] == "auto"
    assert roster.dispatch_mode(tree["community"], db=engine) == "auto"


def test_an_unknown_unit_is_dispatched_automatically(engine: Engine, tree: dict[str, str]) -> None:
    assert roster.dispatch_mode("no-such-unit", db=engine) == "auto"
    assert roster.dispatch_mode(tree["town"], db=engine) == "auto"


@pytest.mark.parametrize(
    ("unit", "dispatch", "status", "code"),
    [
        ("community", "sometimes", 422, "bad_dispatch_mode"),
        ("community", "MANUAL", 422, "bad_dispatch_mode"),
        ("town", "manual", 422, "not_a_community"),
        ("grid", "manual", 422, "not_a_community"),
        ("nowhere", "manual", 404, "unit_not_found"),
    ],
)
def test_a_dispatch_mode_that_does_not_fit_is_refused(
    client: TestClient,
    engine: Engine,
    admin: dict[str, str],
    tree: dict[str, str],
    unit: str,
    dispatch: str,
    status: int,
    code: str,
) -> None:
    unit_id = tree.get(unit, "0e0e0e0e-0000-0000-0000-000000000000")

    answer = client.patch(f"{UNITS}/{unit_id}", json={"dispatch": dispatch}, headers=admin)

    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    if status == 422:
        assert answer.json()["field"] == "dispatch"
    assert [u.dispatch for u in roster.list_units(db=engine)] == ["auto"] * 6


@pytest.mark.parametrize("body", [{}, {"dispatch": "manual", "name": "x"}, {"dispatch": 1}])
def test_a_unit_patch_of_the_wrong_shape_is_422(
    client: TestClient, admin: dict[str, str], tree: dict[str, str], body: dict[str, Any]
) -> None:
    answer = client.patch(f"{UNITS}/{tree['community']}", json=body, headers=admin)

    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_input"


def test_only_an_admin_sets_a_dispatch_mode(
    client: TestClient, engine: Engine, admin: dict[str, str], tree: dict[str, str], login: Login
) -> None:
    client.post(USERS, json=dispatcher(dispatch_units=[tree["community"]]), headers=admin)
    client.post(USERS, json=user_body(username="zhao", role="supervisor"), headers=admin)
    path = f"{UNITS}/{tree['community']}"

    for username in ("zhou", "zhao"):
        answer = client.patch(
            path, json={"dispatch": "manual"}, headers=login(username, "long-enough")
        )
        assert answer.status_code == 403
        assert answer.json()["code"] == "role_required"
    assert client.patch(path, json={"dispatch": "manual"}).status_code == 401
    assert roster.dispatch_mode(tree["community"], db=engine) == "auto"


# ---- signing in to the pages -----------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "landing", "label"),
    [("dispatcher1", "/dispatch", "派单员"), ("partner1", "/partner", "协办单位人员")],
)
def test_the_new_roles_sign_in_to_the_pages_and_land_on_their_own(
    site: Site, username: str, landing: str, label: str
) -> None:
    try:
        signed_in = site.client.post(
            "/web/session", data={"username": username, "password": demo_password(username)}
        )
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json() == {"redirect": landing}
        assert site.client.get("/api/v1/auth/me").json()["username"] == username
        # another role's page is not theirs: they land on their own instead
        elsewhere = site.client.post(
            "/web/session?next=/board",
            data={"username": username, "password": demo_password(username)},
        )
        assert elsewhere.json() == {"redirect": landing}
        board = site.client.get("/board")
        assert board.status_code == 403
        assert label in board.text
    finally:
        site.client.cookies.clear()


def test_the_demo_dispatcher_and_partner(site: Site) -> None:
    communities = roster.list_units(db=site.engine, kind=UnitKind.COMMUNITY)
    hospital = next(c for c in communities if c.name == "医院西路社区")
    me = site.client.get(ME, headers=site.headers["dispatcher1"]).json()
    assert (me["role"], me["dispatch_units"]) == ("dispatcher", [hospital.id])
    me = site.client.get(ME, headers=site.headers["partner1"]).json()
    assert (me["role"], me["organisation"]) == ("partner", "城关物业公司")
    assert {c.dispatch for c in communities} == {DispatchMode.AUTO}
    assert COOKIE not in site.client.cookies


def test_the_new_roles_and_codes_speak_both_languages() -> None:
    codes = (
        "organisation_required",
        "dispatch_unit_required",
        "dispatch_unit_kind",
        "dispatch_units_not_allowed",
        "unknown_unit",
        "unit_not_found",
        "bad_dispatch_mode",
        "not_a_community",
    )
    for lang in (ZH, EN):
        t = Translator(lang)
        for key in [f"role.{r.value}" for r in Role] + [f"reason.{c}" for c in codes]:
            assert t(key) != key, (lang, key)
