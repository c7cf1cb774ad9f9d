"""The roster: units (town > community > grid), the users who work them, and their posts.

Tables live in their own :data:`metadata`. Service functions take the database as the
keyword-only ``db``: an :class:`~sqlalchemy.Engine` (each call runs in its own
transaction) or a :class:`~sqlalchemy.Connection` (the call joins the caller's
transaction, so several writes commit together). A broken rule raises
:class:`InvalidRoster` (the API answers 422) or :class:`UsernameTaken` (409) before
anything is written.

Users have a :class:`Role`. A handler holds posts on the ladder (``assignments``: a
:class:`~domain.ladder.Level` on a unit of its kind); a dispatcher holds dispatch posts
(``dispatch_posts``: communities or towns whose new requests they sort and hand out; a
post at a town covers all its communities, :func:`covers`); a partner works for an
outside organisation (``organisation``, required for them) and holds no posts. Each
community is dispatched ``auto`` (a new request goes straight to the level of its tier)
or ``manual`` (it waits for a dispatcher): :func:`dispatch_mode`.

Usernames are unique regardless of case: ``username_key`` (the case-folded username) has
the unique index, and log-ins look users up by it. A user's ``token_version`` is written
into the tokens issued to them; raising it (log-out, a new password, disabling) revokes
every token issued before.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy import false as sa_false
from sqlalchemy.exc import IntegrityError

from api.passwords import password_problem
from api.security import burn_verification, hash_password, verify_password
from api.text import control_character
from closeloop.db import Db, connected
from domain.ladder import LEVEL_UNIT_KIND, PARENT_KIND, Level, UnitKind
from domain.state import Assignment

USERNAME_LENGTH = 64
#: Case folding may lengthen a username (ß folds to ss): room for the longest.
USERNAME_KEY_LENGTH = 3 * USERNAME_LENGTH
NAME_LENGTH = 200

metadata = MetaData()

unit_table = Table(
    "units",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("parent_id", String(36), ForeignKey("units.id"), nullable=True, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # 'auto' or 'manual' (DispatchMode); only a community's is read.
    Column("dispatch", String(16), nullable=False, server_default="auto"),
)

user_table = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(USERNAME_LENGTH), nullable=False),
    Column("display_name", String(NAME_LENGTH), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Every insert sets it; the default only lets SQLite add the column to existing rows.
    Column("username_key", String(USERNAME_KEY_LENGTH), nullable=False, server_default=""),
    Column("token_version", Integer, nullable=False, server_default="0"),
    Column("disabled", Boolean, nullable=False, server_default=sa_false()),
    # The outside organisation a partner works for (others may name theirs, or not).
    Column("organisation", String(NAME_LENGTH), nullable=True),
    # A work phone the staff member gave themselves, for residents' contact cards (never a
    # home phone); revision 0010.
    Column("work_phone", String(32), nullable=True),
    UniqueConstraint("username", name="uq_users_username"),
    Index("uq_users_username_key", "username_key", unique=True),
)

#: Failed log-ins per account and per client address (see :mod:`api.throttle`); in the
#: database so that every API process counts the same and a restart forgets nothing.
login_throttle_table = Table(
    "login_throttle",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=True),
    Column("last_failure", DateTime(timezone=True), nullable=True),
    Column("locks", Integer, nullable=False),
    Column("locked_until", DateTime(timezone=True), nullable=True),
)

assignment_table = Table(
    "assignments",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", String(36), ForeignKey("units.id"), primary_key=True),
    Column("level", String(32), primary_key=True),
    # A request's assignees are looked up by its current level and unit.
    Index("ix_assignments_unit_level", "unit_id", "level"),
)

#: A dispatcher's posts: the communities and towns whose new requests they dispatch.
dispatch_post_table = Table(
    "dispatch_posts",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", String(36), ForeignKey("units.id"), primary_key=True),
    # A request's dispatchers are looked up by its community and town.
    Index("ix_dispatch_posts_unit", "unit_id"),
)


class Role(StrEnum):
    """What a user may do."""

    ADMIN = "admin"  # keeps the roster
    SUPERVISOR = "supervisor"  # 督办: watches closure, overdue and escalated requests
    HANDLER = "handler"  # works requests at the levels of their assignments
    CALLER = "caller"  # 回访员: records the four-dimension review
    DISPATCHER = "dispatcher"  # 派单员: the platform operator of a community or town
    PARTNER = "partner"  # 协办单位: a user of an outside organisation, a co-handler


class DispatchMode(StrEnum):
    """How a community's new requests reach a handler."""

    AUTO = "auto"  # straight to the grid's level of the tier (the 1351 ladder)
    MANUAL = "manual"  # they wait for a dispatcher (waiting_dispatch)


#: The kinds of unit a dispatcher may be posted at.
DISPATCH_UNIT_KINDS = (UnitKind.COMMUNITY, UnitKind.TOWN)


class RosterError(Exception):
    """A roster command that was refused; the message says why, ``code`` is the stable
    reason (see :mod:`api.errors`) and ``field`` the part of the body it concerns."""

    default_code = "invalid_roster"

    def __init__(self, message: str, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.field = field


class InvalidRoster(RosterError):
    """The command breaks a roster rule."""


class UsernameTaken(RosterError):
    """Another user already has the username."""

    default_code = "username_taken"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="username")


@dataclass(frozen=True)
class Unit:
    """A town (镇/街道), community (社区) or grid (网格)."""

    id: str
    name: str
    kind: UnitKind
    parent_id: str | None
    created_at: datetime
    #: How the community's new requests are dispatched (stored, unread, for other kinds).
    dispatch: DispatchMode = DispatchMode.AUTO


@dataclass(frozen=True)
class User:
    """A staff member and their posts; the password hash never leaves this module."""

    id: str
    username: str
    display_name: str
    role: Role
    assignments: tuple[Assignment, ...]
    created_at: datetime
    disabled: bool = False
    organisation: str | None = None
    #: A dispatcher's posts: the ids of the communities and towns they dispatch for.
    dispatch_units: tuple[str, ...] = ()
    #: The work phone they gave for residents' contact cards (:func:`work_phone`), or None.
    work_phone: str | None = None


class UnknownUser(RosterError):
    """No user has the id."""

    default_code = "user_not_found"


class UnknownUnit(RosterError):
    """No unit has the id (the one a command is about, as in ``PATCH /units/{id}``)."""

    default_code = "unit_not_found"


def _now() -> datetime:
    return datetime.now(UTC)


def _text(value: str, missing: str, limit: int, field: str | None = None) -> str:
    value = value.strip()
    if not value:
        raise InvalidRoster(missing, field=field)
    found = control_character(value)
    if found is not None:  # the API refuses it first; this guards the CLI and the seed
        raise InvalidRoster(
            f"{value[:20]!r} must not contain control characters (found {found})", field=field
        )
    if len(value) > limit:
        raise InvalidRoster(f"{value[:20]}... is longer than {limit} characters", field=field)
    return value


def _organisation(role: Role, organisation: str | None) -> str | None:
    """The organisation as stored: blank is none; a partner must name theirs."""
    value = (organisation or "").strip()
    if not value:
        if role is Role.PARTNER:
            raise InvalidRoster(
                "a partner needs an organisation: the outside organisation they work for",
                "organisation_required",
                "organisation",
            )
        return None
    return _text(value, "", NAME_LENGTH, "organisation")


E = TypeVar("E", bound=StrEnum)


def _choice(enum: type[E], value: str, what: str) -> E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidRoster(f"{value!r} is not a {what}; use one of {allowed}") from None


# ---- units ------------------------------------------------------------------------


_UNIT_COLUMNS = (
    unit_table.c.id,
    unit_table.c.name,
    unit_table.c.kind,
    unit_table.c.parent_id,
    unit_table.c.created_at,
    unit_table.c.dispatch,
)


def _mode(value: str | None) -> DispatchMode:
    try:
        return DispatchMode(value or DispatchMode.AUTO)
    except ValueError:  # a hand-edited table: today's behaviour
        return DispatchMode.AUTO


def _unit(row: Row[Any]) -> Unit:
    return Unit(
        row.id, row.name, UnitKind(row.kind), row.parent_id, row.created_at, _mode(row.dispatch)
    )


def _find_unit(conn: Connection, unit_id: str) -> Unit | None:
    row = conn.execute(select(*_UNIT_COLUMNS).where(unit_table.c.id == unit_id)).first()
    return _unit(row) if row else None


def create_unit(name: str, kind: UnitKind, parent_id: str | None = None, *, db: Db) -> Unit:
    """Add a unit under ``parent_id``: a grid under a community, a community under a town."""
    name = _text(name, "a unit needs a name", NAME_LENGTH)
    kind = _choice(UnitKind, kind, "unit kind")
    parent_kind = PARENT_KIND[kind]
    with connected(db) as conn:
        if parent_kind is None:
            if parent_id is not None:
                raise InvalidRoster(f"a {kind.value} has no parent unit")
        else:
            if parent_id is None:
                raise InvalidRoster(f"a {kind.value} needs a parent {parent_kind.value}")
            parent = _find_unit(conn, parent_id)
            if parent is None:
                raise InvalidRoster(f"unknown unit {parent_id}")
            if parent.kind is not parent_kind:
                raise InvalidRoster(
                    f"a {kind.value}'s parent must be a {parent_kind.value}, "
                    f"not a {parent.kind.value}"
                )
        unit = Unit(str(uuid.uuid4()), name, kind, parent_id, _now())
        conn.execute(
            unit_table.insert().values(
                id=unit.id,
                name=unit.name,
                kind=unit.kind.value,
                parent_id=unit.parent_id,
                created_at=unit.created_at,
                dispatch=unit.dispatch.value,
            )
        )
    return unit


def set_dispatch_mode(unit_id: str, mode: str, *, db: Db) -> Unit:
    """Set how a community's new requests are dispatched: ``auto`` (straight to the grid's
    level, today's behaviour) or ``manual`` (they wait for a dispatcher).
    :class:`UnknownUnit` for an unknown id."""
    try:
        chosen = DispatchMode(mode)
    except ValueError:
        allowed = ", ".join(m.value for m in DispatchMode)
        raise InvalidRoster(
            f"{str(mode)[:20]!r} is not a dispatch mode; use one of {allowed}",
            "bad_dispatch_mode",
            "dispatch",
        ) from None
    with connected(db) as conn:
        unit = _find_unit(conn, unit_id)
        if unit is None:
            raise UnknownUnit(f"no unit has the id {unit_id}")
        if unit.kind is not UnitKind.COMMUNITY:
            raise InvalidRoster(
                f"only a community is dispatched; {unit.name} is a {unit.kind.value}",
                "not_a_community",
                "dispatch",
            )
        conn.execute(
            update(unit_table).where(unit_table.c.id == unit.id).values(dispatch=chosen.value)
        )
    return dataclasses.replace(unit, dispatch=chosen)


def dispatch_mode(community_id: str, *, db: Db) -> DispatchMode:
    """How the community's new requests are dispatched; ``auto`` for an unknown unit (or
    one that is not a community)."""
    with connected(db) as conn:
        row = conn.execute(
            select(unit_table.c.dispatch).where(
                unit_table.c.id == community_id, unit_table.c.kind == UnitKind.COMMUNITY.value
            )
        ).first()
    return _mode(row.dispatch) if row else DispatchMode.AUTO


class HasDispatchPosts(Protocol):
    """A user or principal: what :func:`covers` reads of them."""

    @property
    def dispatch_units(self) -> tuple[str, ...]: ...


def covers(
    posts: HasDispatchPosts | Iterable[str], community_id: str | None, town_id: str | None
) -> bool:
    """Whether dispatch posts (a dispatcher, or their unit ids) cover a request of this
    community and town: a post at the community, or at its town (which covers all its
    communities). A request's own ``community_id`` and ``town_id`` are the ones to pass."""
    if isinstance(posts, str):  # one unit id
        units: Iterable[str] = (posts,)
    elif hasattr(posts, "dispatch_units"):
        units = posts.dispatch_units
    else:
        units = posts
    places = {place for place in (community_id, town_id) if place}
    return any(unit_id in places for unit_id in units)


def dispatchers_of(unit_ids: Iterable[str], *, db: Db) -> list[User]:
    """The enabled dispatchers posted at any of ``unit_ids`` (pass a request's community
    and town: who may dispatch it), by username."""
    wanted = sorted({unit_id for unit_id in unit_ids if unit_id})
    if not wanted:
        return []
    query = (
        select(*_USER_COLUMNS)
        .where(
            user_table.c.id.in_(
                select(dispatch_post_table.c.user_id).where(
                    dispatch_post_table.c.unit_id.in_(wanted)
                )
            ),
            user_table.c.role == Role.DISPATCHER.value,
            user_table.c.disabled == sa_false(),
        )
        .order_by(user_table.c.username)
    )
    with connected(db) as conn:
        return _users(conn, conn.execute(query))


def list_units(*, db: Db, kind: UnitKind | None = None, parent_id: str | None = None) -> list[Unit]:
    """Units in the order they were added, optionally of one kind or under one parent."""
    query = select(*_UNIT_COLUMNS).order_by(unit_table.c.created_at, unit_table.c.name)
    if kind is not None:
        query = query.where(unit_table.c.kind == UnitKind(kind).value)
    if parent_id is not None:
        query = query.where(unit_table.c.parent_id == parent_id)
    with connected(db) as conn:
        return [_unit(row) for row in conn.execute(query)]


def unit_names(*, db: Db, kind: UnitKind) -> list[dict[str, Any]]:
    """Every unit of ``kind`` as ``{"id", "name", "parent_id"}``, in the order they were
    added (what a league table lists: lighter than :func:`list_units` on a thousand)."""
    query = (
        select(unit_table.c.id, unit_table.c.name, unit_table.c.parent_id)
        .where(unit_table.c.kind == UnitKind(kind).value)
        .order_by(unit_table.c.created_at, unit_table.c.name)
    )
    with connected(db) as conn:
        return [{"id": i, "name": n, "parent_id": p} for i, n, p in conn.execute(query)]


def get_unit(unit_id: str, *, db: Db) -> Unit | None:
    """The unit with ``unit_id``, or None."""
    with connected(db) as conn:
        return _find_unit(conn, unit_id)


def unit_chain(grid_id: str, *, db: Db) -> tuple[Unit, Unit, Unit]:
    """The grid, its community and its town: where a request filed in the grid climbs."""
    with connected(db) as conn:
        grid = _find_unit(conn, grid_id)
        if grid is None:
            raise InvalidRoster(f"unknown unit {grid_id}")
        if grid.kind is not UnitKind.GRID:
            raise InvalidRoster(f"unit {grid_id} is a {grid.kind.value}, not a grid")
        # create_unit's parent rules make both present; a hand-edited table may not.
        community = _find_unit(conn, grid.parent_id or "")
        town = _find_unit(conn, community.parent_id or "") if community else None
        if community is None or town is None:
            raise RuntimeError(f"grid {grid_id} is not under a community and a town")
    return grid, community, town


def count_units(*, db: Db) -> int:
    """How many units the roster holds."""
    with connected(db) as conn:
        return int(conn.execute(select(func.count()).select_from(unit_table)).scalar_one())


# ---- users ------------------------------------------------------------------------


def _check_assignments(
    conn: Connection, role: Role, posts: Sequence[Assignment]
) -> tuple[Assignment, ...]:
    if role is not Role.HANDLER:
        if posts:
            raise InvalidRoster(
                f"only handlers have assignments, not a {role.value}", field="assignments"
            )
        return ()
    if not posts:
        raise InvalidRoster("a handler needs at least one assignment", field="assignments")
    checked: list[Assignment] = []
    for post in posts:
        level = _choice(Level, post.level, "level")
        unit = _find_unit(conn, post.unit_id)
        if unit is None:
            raise InvalidRoster(f"unknown unit {post.unit_id}")
        fits = LEVEL_UNIT_KIND[level]
        if unit.kind is not fits:
            raise InvalidRoster(
                f"a {level.value} is assigned on a {fits.value}; {unit.name} is a {unit.kind.value}"
            )
        fitted = Assignment(unit_id=unit.id, level=level)
        if fitted not in checked:  # the same post listed twice is one post
            checked.append(fitted)
    return tuple(checked)


def _check_dispatch_posts(conn: Connection, role: Role, unit_ids: Sequence[str]) -> tuple[str, ...]:
    """A dispatcher's posts: at least one, each a community or a town (sorted, once each)."""
    field = "dispatch_units"
    if role is not Role.DISPATCHER:
        if unit_ids:
            raise InvalidRoster(
                f"only dispatchers have dispatch posts, not a {role.value}",
                "dispatch_units_not_allowed",
                field,
            )
        return ()
    if not unit_ids:
        raise InvalidRoster(
            "a dispatcher needs at least one post: a community or a town",
            "dispatch_unit_required",
            field,
        )
    checked: set[str] = set()
    for unit_id in unit_ids:
        unit = _find_unit(conn, unit_id)
        if unit is None:
            raise InvalidRoster(f"unknown unit {str(unit_id)[:40]}", "unknown_unit", field)
        if unit.kind not in DISPATCH_UNIT_KINDS:
            raise InvalidRoster(
                f"a dispatcher is posted at a community or a town; {unit.name} is a "
                f"{unit.kind.value}",
                "dispatch_unit_kind",
                field,
            )
        checked.add(unit.id)
    return tuple(sorted(checked))


def _write_dispatch_posts(conn: Connection, user_id: str, unit_ids: Sequence[str]) -> None:
    conn.execute(dispatch_post_table.delete().where(dispatch_post_table.c.user_id == user_id))
    if unit_ids:
        conn.execute(
            dispatch_post_table.insert(),
            [{"user_id": user_id, "unit_id": unit_id} for unit_id in unit_ids],
        )


def create_user(
    username: str,
    password: str,
    display_name: str,
    role: Role,
    assignments: Sequence[Assignment] = (),
    *,
    db: Db,
    organisation: str | None = None,
    dispatch_units: Sequence[str] = (),
) -> User:
    """Add a user; a handler's assignments must each fit the kind of their unit, a
    dispatcher's posts (``dispatch_units``) are communities or towns, a partner names their
    ``organisation``."""
    username = _text(username, "a user needs a username", USERNAME_LENGTH, "username")
    display_name = _text(display_name, "a user needs a display name", NAME_LENGTH, "display_name")
    role = _choice(Role, role, "role")
    organisation = _organisation(role, organisation)
    check_password(password, username)
    # argon2 is slow on purpose: hash before the transaction, not while holding it.
    password_hash = hash_password(password)
    with connected(db) as conn:
        posts = _check_assignments(conn, role, assignments)
        dispatch_posts = _check_dispatch_posts(conn, role, dispatch_units)
        taken = _user_row(conn, username)
        if taken is not None:
            raise UsernameTaken(_taken(username, taken.username))
        user = User(
            str(uuid.uuid4()),
            username,
            display_name,
            role,
            posts,
            _now(),
            organisation=organisation,
            dispatch_units=dispatch_posts,
        )
        try:
            conn.execute(
                user_table.insert().values(
                    id=user.id,
                    username=user.username,
                    username_key=username_key(user.username),
                    display_name=user.display_name,
                    role=user.role.value,
                    password_hash=password_hash,
                    created_at=user.created_at,
                    organisation=user.organisation,
                )
            )
        except IntegrityError:
            # Taken between the check and the insert by a concurrent command.
            raise UsernameTaken(f"the username {username!r} is taken") from None
        if posts:
            conn.execute(
                assignment_table.insert(),
                [{"user_id": user.id, "unit_id": p.unit_id, "level": p.level.value} for p in posts],
            )
        _write_dispatch_posts(conn, user.id, user.dispatch_units)
    return user


def username_key(username: str) -> str:
    """What makes two usernames the same: ``admin`` and ``ADMIN`` are one user."""
    return username.strip().casefold()


def check_password(password: str, username: str) -> None:
    """Refuse ``password`` for ``username`` unless it meets :mod:`api.passwords`' policy."""
    problem = password_problem(password, username)
    if problem is not None:
        code, sentence = problem
        raise InvalidRoster(sentence, code, "password")


def _taken(wanted: str, holder: str) -> str:
    if wanted == holder:
        return f"the username {wanted!r} is taken"
    return f"the username {wanted!r} is taken (as {holder!r}; case does not matter)"


_USER_COLUMNS = (
    user_table.c.id,
    user_table.c.username,
    user_table.c.display_name,
    user_table.c.role,
    user_table.c.created_at,
    user_table.c.disabled,
    user_table.c.organisation,
    user_table.c.work_phone,
)


def _user_row(conn: Connection, username: str) -> Row[Any] | None:
    return conn.execute(
        select(*_USER_COLUMNS, user_table.c.password_hash, user_table.c.token_version).where(
            user_table.c.username_key == username_key(username)
        )
    ).first()


def _users(conn: Connection, rows: Iterable[Row[Any]]) -> list[User]:
    rows = list(rows)
    posts: dict[str, list[Assignment]] = {row.id: [] for row in rows}
    if posts:
        found = conn.execute(
            select(assignment_table.c.user_id, assignment_table.c.unit_id, assignment_table.c.level)
            .where(assignment_table.c.user_id.in_(posts))
            .order_by(assignment_table.c.level, assignment_table.c.unit_id)
        )
        for user_id, unit_id, level in found:
            posts[user_id].append(Assignment(unit_id=unit_id, level=Level(level)))
    dispatch: dict[str, list[str]] = {row.id: [] for row in rows}
    if dispatch:
        for user_id, unit_id in conn.execute(
            select(dispatch_post_table.c.user_id, dispatch_post_table.c.unit_id)
            .where(dispatch_post_table.c.user_id.in_(dispatch))
            .order_by(dispatch_post_table.c.unit_id)
        ):
            dispatch[user_id].append(unit_id)
    return [
        User(
            row.id,
            row.username,
            row.display_name,
            Role(row.role),
            tuple(posts[row.id]),
            row.created_at,
            bool(row.disabled),
            row.organisation,
            tuple(dispatch[row.id]),
            row.work_phone,
        )
        for row in rows
    ]


def list_users(*, db: Db, role: Role | None = None) -> list[User]:
    """Users by username, optionally of one role."""
    query = select(*_USER_COLUMNS).order_by(user_table.c.username)
    if role is not None:
        query = query.where(user_table.c.role == Role(role).value)
    with connected(db) as conn:
        return _users(conn, conn.execute(query))


def get_user(user_id: str, *, db: Db) -> User | None:
    """The user with ``user_id``, or None."""
    with connected(db) as conn:
        rows = _users(conn, conn.execute(select(*_USER_COLUMNS).where(user_table.c.id == user_id)))
    return rows[0] if rows else None


def get_user_by_username(username: str, *, db: Db) -> User | None:
    """The user called ``username``, or None."""
    with connected(db) as conn:
        row = _user_row(conn, username)
        return _users(conn, [row])[0] if row else None


def authenticate(username: str, password: str, *, db: Db) -> tuple[User, int] | None:
    """The user (found by any case of ``username``) and their current token version when
    ``password`` is theirs; None for a wrong password, an unknown or a disabled user."""
    with connected(db) as conn:
        row = _user_row(conn, username)
    if row is None:
        burn_verification(password)
        return None
    # A disabled user's password is still checked: the answer takes as long as for others.
    if not verify_password(row.password_hash, password) or row.disabled:
        return None
    with connected(db) as conn:
        return _users(conn, [row])[0], int(row.token_version)


def token_user(user_id: str, version: int, *, db: Db) -> User | None:
    """The user a token names, while the token is still theirs: None when the user is gone
    or disabled, or their tokens were revoked after this one was issued."""
    query = select(*_USER_COLUMNS).where(
        user_table.c.id == user_id,
        user_table.c.token_version == version,
        user_table.c.disabled == sa_false(),
    )
    with connected(db) as conn:
        rows = _users(conn, conn.execute(query))
    return rows[0] if rows else None


def _change(conn: Connection, user_id: str, **values: Any) -> int:
    """Write ``values`` to the user and revoke their tokens; the new token version."""
    changed = conn.execute(
        update(user_table)
        .where(user_table.c.id == user_id)
        .values(token_version=user_table.c.token_version + 1, **values)
        .returning(user_table.c.token_version)
    ).first()
    if changed is None:
        raise UnknownUser(f"no user has the id {user_id}")
    return int(changed.token_version)


def revoke_tokens(user_id: str, *, db: Db) -> int:
    """Revoke every token issued to the user so far (log-out); the new token version."""
    with connected(db) as conn:
        return _change(conn, user_id)


def set_password(user_id: str, password: str, *, db: Db) -> int:
    """Give the user a new password (the policy applies) and revoke their tokens; the new
    token version."""
    user = get_user(user_id, db=db)
    if user is None:
        raise UnknownUser(f"no user has the id {user_id}")
    check_password(password, user.username)
    password_hash = hash_password(password)  # slow: outside the transaction
    with connected(db) as conn:
        return _change(conn, user_id, password_hash=password_hash)


def change_password(user_id: str, old: str, new: str, *, db: Db) -> int | None:
    """The user's own change: None when ``old`` is not their password (nothing written),
    else as :func:`set_password`."""
    with connected(db) as conn:
        row = conn.execute(
            select(user_table.c.password_hash).where(user_table.c.id == user_id)
        ).first()
    if row is None:
        raise UnknownUser(f"no user has the id {user_id}")
    if not verify_password(row.password_hash, old):
        return None
    return set_password(user_id, new, db=db)


def set_disabled(user_id: str, disabled: bool, *, db: Db) -> None:
    """Disable a user (they cannot log in, their tokens are revoked) or enable them again."""
    with connected(db) as conn:
        _change(conn, user_id, disabled=disabled)


#: ``change_user``'s "leave it as it is".
KEEP: Any = object()


def change_user(
    user_id: str,
    *,
    organisation: str | None = KEEP,
    dispatch_units: Sequence[str] | None = KEEP,
    db: Db,
) -> User:
    """Change a user's ``organisation`` (None or blank clears it; a partner must keep one)
    and/or replace a dispatcher's posts (``dispatch_units``; only a dispatcher has any).
    Everything is checked before anything is written; the user's tokens stay valid (each
    request reads the roster anew, so the change counts at once)."""
    with connected(db) as conn:
        found = _users(conn, conn.execute(select(*_USER_COLUMNS).where(user_table.c.id == user_id)))
        if not found:
            raise UnknownUser(f"no user has the id {user_id}")
        user = found[0]
        if organisation is not KEEP:
            user = dataclasses.replace(user, organisation=_organisation(user.role, organisation))
        if dispatch_units is not KEEP and dispatch_units is not None:
            posts = _check_dispatch_posts(conn, user.role, dispatch_units)
            user = dataclasses.replace(user, dispatch_units=posts)
        if organisation is not KEEP:
            conn.execute(
                update(user_table)
                .where(user_table.c.id == user_id)
                .values(organisation=user.organisation)
            )
        if dispatch_units is not KEEP and dispatch_units is not None:
            _write_dispatch_posts(conn, user_id, user.dispatch_units)
    return user


# ---- the work phone --------------------------------------------------------------

#: The stored work phone's longest form (the column's width).
WORK_PHONE_LENGTH = 32
#: A mobile number: 1, then 3 to 9, then nine digits (an optional +86 or 86 in front).
_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
#: A landline's digits: the area code (010 and 02x have three digits, the others four),
#: then the number (seven or eight digits, never starting with 0).
_LANDLINE = re.compile(r"(0(?:10|2\d|[3-9]\d{2}))([1-9]\d{6,7})")
#: An extension named as such at the end: 转 123, ext 123, ext. 123, x123.
_EXTENSION = re.compile(r"(.+?)\s*(?:转|ext\.?|x)\s*(\d{1,6})", re.IGNORECASE)
#: What may stand between the groups of digits.
_SEPARATORS = re.compile(r"[\s\-()]+")


def _landline(groups: list[str]) -> str | None:
    found = _LANDLINE.fullmatch("".join(groups))
    return f"{found.group(1)}-{found.group(2)}" if found else None


def work_phone(value: str | None) -> str | None:
    """A work phone as stored: a mobile number as its eleven digits (``13912345678``), a
    landline as ``0539-1234567`` (with its extension: ``0539-1234567-123``); None for None
    or a blank. Full-width characters count as their ASCII twins; spaces, dashes and
    parentheses between the groups of digits are dropped, and a last short group after the
    number (``0539-1234567-123``, or ``转123``) is the extension. Anything else is refused
    (``work_phone_invalid``)."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        return None
    refused = InvalidRoster(
        f"{text[:40]!r} is not a Chinese phone number: give a mobile number (11 digits, "
        "starting 13 to 19) or a landline with its area code, such as 0539-1234567, "
        "optionally with an extension (0539-1234567-123)",
        "work_phone_invalid",
        "work_phone",
    )
    if len(text) > 64:
        raise refused
    mobile = _MOBILE.fullmatch(_SEPARATORS.sub("", text))
    if mobile:
        return mobile.group(1)
    extension = None
    named = _EXTENSION.fullmatch(text)
    if named:
        text, extension = named.groups()
    groups = [group for group in _SEPARATORS.split(text) if group]
    if not groups or not all(group.isascii() and group.isdigit() for group in groups):
        raise refused
    number = None
    if extension is None and len(groups) > 1 and len(groups[-1]) <= 6:
        number = _landline(groups[:-1])  # 0539-1234567-123: the last group is the extension
        if number is not None:
            extension = groups[-1]
    if number is None:
        number = _landline(groups)
    if number is None:
        raise refused
    return number + (f"-{extension}" if extension else "")


def set_work_phone(user_id: str, value: str | None, *, db: Db) -> User:
    """Give the user a work phone (:func:`work_phone` checks and normalises it) or clear it
    (None or blank). The user's tokens stay valid."""
    phone = work_phone(value)
    with connected(db) as conn:
        changed = conn.execute(
            update(user_table).where(user_table.c.id == user_id).values(work_phone=phone)
        )
        if changed.rowcount == 0:
            raise UnknownUser(f"no user has the id {user_id}")
        found = conn.execute(select(*_USER_COLUMNS).where(user_table.c.id == user_id))
        return _users(conn, found)[0]


def count_users(*, db: Db) -> int:
    """How many users the roster holds."""
    with connected(db) as conn:
        return int(conn.execute(select(func.count()).select_from(user_table)).scalar_one())


def assignments_of(user_id: str, *, db: Db) -> list[Assignment]:
    """A user's posts: the levels they hold and on which units."""
    with connected(db) as conn:
        found = conn.execute(
            select(assignment_table.c.unit_id, assignment_table.c.level)
            .where(assignment_table.c.user_id == user_id)
            .order_by(assignment_table.c.level, assignment_table.c.unit_id)
        )
        return [Assignment(unit_id=unit_id, level=Level(level)) for unit_id, level in found]


def users_assigned(unit_id: str, level: Level, *, db: Db) -> list[User]:
    """The handlers holding ``level`` on ``unit_id``: who a request there waits on (a
    disabled handler is not: with nobody left, the board shows the level unmanned)."""
    query = (
        select(*_USER_COLUMNS)
        .join(assignment_table, assignment_table.c.user_id == user_table.c.id)
        .where(
            assignment_table.c.unit_id == unit_id,
            assignment_table.c.level == Level(level).value,
            user_table.c.disabled == sa_false(),
        )
        .order_by(user_table.c.username)
    )
    with connected(db) as conn:
        return _users(conn, conn.execute(query))
