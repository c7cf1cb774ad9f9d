"""The roster: units (town > community > grid), the users who work them, and their posts.

Tables live in their own :data:`metadata`. Service functions take the database as the
keyword-only ``db``: an :class:`~sqlalchemy.Engine` (each call runs in its own
transaction) or a :class:`~sqlalchemy.Connection` (the call joins the caller's
transaction, so several writes commit together). A broken rule raises
:class:`InvalidRoster` (the API answers 422) or :class:`UsernameTaken` (409) before
anything is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    MetaData,
    Row,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError

from api.security import burn_verification, hash_password, verify_password
from api.text import control_character
from domain.ladder import LEVEL_UNIT_KIND, PARENT_KIND, Level, UnitKind
from domain.state import Assignment

MIN_PASSWORD_LENGTH = 8
USERNAME_LENGTH = 64
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
    UniqueConstraint("username", name="uq_users_username"),
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


class Role(StrEnum):
    """What a user may do."""

    ADMIN = "admin"  # keeps the roster
    SUPERVISOR = "supervisor"  # 督办: watches closure, overdue and escalated requests
    HANDLER = "handler"  # works requests at the levels of their assignments
    CALLER = "caller"  # 回访员: records the four-dimension review


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


@dataclass(frozen=True)
class User:
    """A staff member and their posts; the password hash never leaves this module."""

    id: str
    username: str
    display_name: str
    role: Role
    assignments: tuple[Assignment, ...]
    created_at: datetime


Db = Engine | Connection


@contextmanager
def _connect(db: Db) -> Iterator[Connection]:
    if isinstance(db, Engine):
        with db.begin() as conn:
            yield conn
    else:
        yield db


def _now() -> datetime:
    return datetime.now(UTC)


def _text(value: str, missing: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidRoster(missing)
    found = control_character(value)
    if found is not None:  # the API refuses it first; this guards the CLI and the seed
        raise InvalidRoster(f"{value[:20]!r} must not contain control characters (found {found})")
    if len(value) > limit:
        raise InvalidRoster(f"{value[:20]}... is longer than {limit} characters")
    return value


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
)


def _unit(row: Row[Any]) -> Unit:
    return Unit(row.id, row.name, UnitKind(row.kind), row.parent_id, row.created_at)


def _find_unit(conn: Connection, unit_id: str) -> Unit | None:
    row = conn.execute(select(*_UNIT_COLUMNS).where(unit_table.c.id == unit_id)).first()
    return _unit(row) if row else None


def create_unit(name: str, kind: UnitKind, parent_id: str | None = None, *, db: Db) -> Unit:
    """Add a unit under ``parent_id``: a grid under a community, a community under a town."""
    name = _text(name, "a unit needs a name", NAME_LENGTH)
    kind = _choice(UnitKind, kind, "unit kind")
    parent_kind = PARENT_KIND[kind]
    with _connect(db) as conn:
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
            )
        )
    return unit


def list_units(*, db: Db, kind: UnitKind | None = None, parent_id: str | None = None) -> list[Unit]:
    """Units in the order they were added, optionally of one kind or under one parent."""
    query = select(*_UNIT_COLUMNS).order_by(unit_table.c.created_at, unit_table.c.name)
    if kind is not None:
        query = query.where(unit_table.c.kind == UnitKind(kind).value)
    if parent_id is not None:
        query = query.where(unit_table.c.parent_id == parent_id)
    with _connect(db) as conn:
        return [_unit(row) for row in conn.execute(query)]


def get_unit(unit_id: str, *, db: Db) -> Unit | None:
    """The unit with ``unit_id``, or None."""
    with _connect(db) as conn:
        return _find_unit(conn, unit_id)


def unit_chain(grid_id: str, *, db: Db) -> tuple[Unit, Unit, Unit]:
    """The grid, its community and its town: where a request filed in the grid climbs."""
    with _connect(db) as conn:
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
    with _connect(db) as conn:
        return int(conn.execute(select(func.count()).select_from(unit_table)).scalar_one())


# ---- users ------------------------------------------------------------------------


def _check_assignments(
    conn: Connection, role: Role, posts: Sequence[Assignment]
) -> tuple[Assignment, ...]:
    if role is not Role.HANDLER:
        if posts:
            raise InvalidRoster(f"only handlers have assignments, not a {role.value}")
        return ()
    if not posts:
        raise InvalidRoster("a handler needs at least one assignment")
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


def create_user(
    username: str,
    password: str,
    display_name: str,
    role: Role,
    assignments: Sequence[Assignment] = (),
    *,
    db: Db,
) -> User:
    """Add a user; a handler's assignments must each fit the kind of their unit."""
    username = _text(username, "a user needs a username", USERNAME_LENGTH)
    display_name = _text(display_name, "a user needs a display name", NAME_LENGTH)
    role = _choice(Role, role, "role")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRoster(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
            "password_too_short",
            "password",
        )
    # argon2 is slow on purpose: hash before the transaction, not while holding it.
    password_hash = hash_password(password)
    with _connect(db) as conn:
        posts = _check_assignments(conn, role, assignments)
        if _user_row(conn, username) is not None:
            raise UsernameTaken(f"the username {username!r} is taken")
        user = User(str(uuid.uuid4()), username, display_name, role, posts, _now())
        try:
            conn.execute(
                user_table.insert().values(
                    id=user.id,
                    username=user.username,
                    display_name=user.display_name,
                    role=user.role.value,
                    password_hash=password_hash,
                    created_at=user.created_at,
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
    return user


_USER_COLUMNS = (
    user_table.c.id,
    user_table.c.username,
    user_table.c.display_name,
    user_table.c.role,
    user_table.c.created_at,
)


def _user_row(conn: Connection, username: str) -> Row[Any] | None:
    return conn.execute(
        select(*_USER_COLUMNS, user_table.c.password_hash).where(user_table.c.username == username)
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
    return [
        User(
            row.id,
            row.username,
            row.display_name,
            Role(row.role),
            tuple(posts[row.id]),
            row.created_at,
        )
        for row in rows
    ]


def list_users(*, db: Db, role: Role | None = None) -> list[User]:
    """Users by username, optionally of one role."""
    query = select(*_USER_COLUMNS).order_by(user_table.c.username)
    if role is not None:
        query = query.where(user_table.c.role == Role(role).value)
    with _connect(db) as conn:
        return _users(conn, conn.execute(query))


def get_user(user_id: str, *, db: Db) -> User | None:
    """The user with ``user_id``, or None."""
    with _connect(db) as conn:
        rows = _users(conn, conn.execute(select(*_USER_COLUMNS).where(user_table.c.id == user_id)))
    return rows[0] if rows else None


def get_user_by_username(username: str, *, db: Db) -> User | None:
    """The user called ``username``, or None."""
    with _connect(db) as conn:
        row = _user_row(conn, username)
        return _users(conn, [row])[0] if row else None


def authenticate(username: str, password: str, *, db: Db) -> User | None:
    """The user when ``password`` is theirs; None for a wrong password or unknown user."""
    with _connect(db) as conn:
        row = _user_row(conn, username)
        if row is None:
            burn_verification(password)
            return None
        if not verify_password(row.password_hash, password):
            return None
        return _users(conn, [row])[0]


def count_users(*, db: Db) -> int:
    """How many users the roster holds."""
    with _connect(db) as conn:
        return int(conn.execute(select(func.count()).select_from(user_table)).scalar_one())


def assignments_of(user_id: str, *, db: Db) -> list[Assignment]:
    """A user's posts: the levels they hold and on which units."""
    with _connect(db) as conn:
        found = conn.execute(
            select(assignment_table.c.unit_id, assignment_table.c.level)
            .where(assignment_table.c.user_id == user_id)
            .order_by(assignment_table.c.level, assignment_table.c.unit_id)
        )
        return [Assignment(unit_id=unit_id, level=Level(level)) for unit_id, level in found]


def users_assigned(unit_id: str, level: Level, *, db: Db) -> list[User]:
    """The handlers holding ``level`` on ``unit_id``: who a request there waits on."""
    query = (
        select(*_USER_COLUMNS)
        .join(assignment_table, assignment_table.c.user_id == user_table.c.id)
        .where(
            assignment_table.c.unit_id == unit_id, assignment_table.c.level == Level(level).value
        )
        .order_by(user_table.c.username)
    )
    with _connect(db) as conn:
        return _users(conn, conn.execute(query))
