"""First start: the admin account, and a demo town to try the 1351 ladder on.

The demo follows the seeds: Gaotai county's Chengguan town (高台县城关镇), whose
community workers knock on doors in 医院西路社区 and help residents of 祥和苑.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, Engine

from api import roster
from api.passwords import password_problem
from api.roster import Role, UsernameTaken
from closeloop.settings import Settings, SettingsError
from domain.ladder import Level, UnitKind
from domain.state import Assignment

ADMIN_USERNAME = "admin"

DEMO_TOWN = "城关镇"
#: community -> its grids; the first community's grids get the demo handlers.
DEMO_COMMUNITIES: dict[str, tuple[str, ...]] = {
    "医院西路社区": ("医院西路社区第一网格", "医院西路社区第二网格"),
    "祥和苑社区": ("祥和苑社区第一网格", "祥和苑社区第二网格"),
}


#: The demo users' fixed passwords, as printed in the README: easy to type, and each meets
#: the password policy (10 characters, not a common password, not the username).
DEMO_PASSWORDS = {
    "worker1": "door-to-door-1",
    "worker2": "door-to-door-2",
    "branch1": "talk-it-over-3",
    "community1": "special-topic-5",
    "town1": "coordinate-31",
    "caller1": "four-questions",
    "supervisor1": "close-the-loop",
    "dispatcher1": "sort-and-hand-out",
    "partner1": "lend-a-hand-7",
}

#: The demo partner's outside organisation: the property company that helps the workers.
DEMO_PARTNER_ORGANISATION = "城关物业公司"


def demo_password(username: str) -> str:
    """A demo user's fixed password, as printed in the README."""
    return DEMO_PASSWORDS[username]


class AdminPasswordRefused(SettingsError):
    """``CLOSELOOP_ADMIN_PASSWORD`` does not meet the password policy."""


def ensure_admin(engine: Engine, settings: Settings) -> str | None:
    """Create ``admin`` when the roster has no users; return its password if generated.

    The password is ``settings.admin_password`` or, when unset, a random one the caller
    prints once. Returns None when nothing was generated (users exist, or it was set).
    A configured password that fails the policy raises :class:`AdminPasswordRefused`:
    the first start stops rather than create an admin anyone could guess.
    """
    if roster.count_users(db=engine) > 0:
        return None
    password = settings.admin_password
    if password is not None:
        problem = password_problem(password, ADMIN_USERNAME)
        if problem is not None:
            raise AdminPasswordRefused(
                f"CLOSELOOP_ADMIN_PASSWORD is refused: {problem[1]} "
                f"({problem[0]}); set another, or unset it to have one generated"
            )
    else:
        password = secrets.token_urlsafe(12)
        while password_problem(password, ADMIN_USERNAME) is not None:
            password = secrets.token_urlsafe(12)
    try:
        roster.create_user(ADMIN_USERNAME, password, "管理员", Role.ADMIN, db=engine)
    except UsernameTaken:
        return None  # another process started at the same time and created it
    return None if settings.admin_password else password


def wants_demo(setting: bool | None, *, development: bool, asked: bool = False) -> bool:
    """Whether a first start adds the demo town, whose users have published passwords.

    ``setting`` is ``CLOSELOOP_SEED_DEMO`` (None when unset). ``closeloop dev`` (``make
    run``) is for trying closeloop out: it seeds unless the setting says 0. Everything
    else is production's (``closeloop bootstrap``, the compose file's ``migrate``): it
    seeds only when ``asked`` (``--seed-demo``) or the setting says 1.
    """
    if development:
        return setting is not False
    return asked or setting is True


def seed_demo(engine: Engine) -> dict[str, str] | None:
    """Add the demo town, its communities, grids and users when there are no units yet.

    Returns ``{username: password}`` for the demo users, or None when units existed.
    Everything is written in one transaction: a demo is all there or not at all.
    """
    if roster.count_units(db=engine) > 0:
        return None
    try:
        with engine.begin() as conn:
            return _seed(conn)
    except UsernameTaken:
        return None  # another process seeded at the same time; this one rolled back


def _seed(conn: Connection) -> dict[str, str]:
    town = roster.create_unit(DEMO_TOWN, UnitKind.TOWN, db=conn)
    community_ids: dict[str, str] = {}
    grid_ids: dict[str, list[str]] = {}
    for community_name, grid_names in DEMO_COMMUNITIES.items():
        community = roster.create_unit(community_name, UnitKind.COMMUNITY, town.id, db=conn)
        community_ids[community_name] = community.id
        grid_ids[community_name] = [
            roster.create_unit(name, UnitKind.GRID, community.id, db=conn).id for name in grid_names
        ]
    hospital = community_ids["医院西路社区"]
    first, second = grid_ids["医院西路社区"]
    demo_users: list[tuple[str, str, Role, list[Assignment]]] = [
        ("worker1", "网格员小孙", Role.HANDLER, [Assignment(first, Level.GRID_WORKER)]),
        ("worker2", "网格员小候", Role.HANDLER, [Assignment(second, Level.GRID_WORKER)]),
        (
            "branch1",
            "网格党支部书记老王",
            Role.HANDLER,
            [Assignment(first, Level.GRID_BRANCH), Assignment(second, Level.GRID_BRANCH)],
        ),
        (
            "community1",
            "社区党委书记老李",
            Role.HANDLER,
            [Assignment(hospital, Level.COMMUNITY_COMMITTEE)],
        ),
        ("town1", "镇党委委员老张", Role.HANDLER, [Assignment(town.id, Level.TOWN_COMMITTEE)]),
        ("caller1", "回访员小刘", Role.CALLER, []),
        ("supervisor1", "督办员小赵", Role.SUPERVISOR, []),
    ]
    passwords: dict[str, str] = {}
    for username, display_name, role, posts in demo_users:
        password = demo_password(username)
        roster.create_user(username, password, display_name, role, posts, db=conn)
        passwords[username] = password
    # Every demo community stays dispatched "auto": the dispatcher has the platform's
    # post, and an admin may switch 医院西路社区 to "manual" to try dispatching.
    roster.create_user(
        "dispatcher1",
        demo_password("dispatcher1"),
        "社区平台派单员小周",
        Role.DISPATCHER,
        db=conn,
        dispatch_units=[hospital],
    )
    roster.create_user(
        "partner1",
        demo_password("partner1"),
        "物业管家小吴",
        Role.PARTNER,
        db=conn,
        organisation=DEMO_PARTNER_ORGANISATION,
    )
    passwords["dispatcher1"] = demo_password("dispatcher1")
    passwords["partner1"] = demo_password("partner1")
    return passwords
