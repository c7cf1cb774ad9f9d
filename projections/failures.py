"""Telling a poison event from a passing failure, and saying what went wrong in words.

An event is *poison* when the projection fails on it for a reason of its own (data the
database refuses, such as a NUL byte in PostgreSQL text, or a bug the event runs into):
processing it again fails again, so it is quarantined (:mod:`projections.quarantine`).
A *passing* failure (the connection dropped, the database is locked or restarting, a
serialisation conflict, another projector moved the position) is no fault of the event:
the projector retries it with back-off and quarantines nothing.
"""

from __future__ import annotations

import re

import sqlalchemy.exc
from eventsourcing import persistence

#: How much of an error's text a dead-letter row keeps.
MAX_ERROR_CHARS = 1000

_PASSING = (
    sqlalchemy.exc.OperationalError,  # connection lost, database locked, serialisation
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # the connection pool's
    persistence.OperationalError,
    persistence.InterfaceError,
    OSError,  # ConnectionError and TimeoutError included
    MemoryError,
)


class PositionMoved(persistence.IntegrityError):
    """The tracked position is no longer where this projector expected it: another
    projector (or a rebuild, or a retry) wrote meanwhile. Read the position again."""


def _causes(error: BaseException) -> list[BaseException]:
    """``error``, what it was raised from, and the driver's own error under SQLAlchemy's."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(seen) < 10 and current not in seen:
        seen.append(current)
        orig = getattr(current, "orig", None)
        if isinstance(current, sqlalchemy.exc.StatementError) and isinstance(orig, BaseException):
            seen.append(orig)
        current = current.__cause__
    return seen


def caused_by(
    error: BaseException, kinds: type[BaseException] | tuple[type[BaseException], ...]
) -> bool:
    """True when ``error`` or what it was raised from is one of ``kinds``."""
    return any(isinstance(cause, kinds) for cause in _causes(error))


_PASSING_DRIVER_ERRORS = frozenset(
    {"OperationalError", "InterfaceError", "UndefinedTable", "UndefinedColumn"}
)


def is_passing(error: BaseException) -> bool:
    """True when ``error`` says nothing about the event: retry it later, never quarantine."""
    for cause in _causes(error):
        if isinstance(cause, (PositionMoved, *_PASSING)):
            return True
        if isinstance(cause, sqlalchemy.exc.DBAPIError) and cause.connection_invalidated:
            return True
        # the drivers' own (sqlite3, psycopg): "no such table", "database is locked", ...
        # and PostgreSQL's missing table or column (a schema being changed or restored):
        # the views' fault, not the event's
        if type(cause).__name__ in _PASSING_DRIVER_ERRORS:
            return True
    return False


#: PostgreSQL's words that quote a row's values: a refused row, a duplicate key.
_QUOTED_VALUES = (
    (re.compile(r"(Failing row contains )\(.*?\)\.?(?=\n|$)", re.S), r"\1(...)."),
    (
        re.compile(r"(Key \([^)]*\))=\(.*?\)(?= already exists| is not present| conflicts)"),
        r"\1=(...)",
    ),
)


def _without_data(message: str) -> str:
    """``message`` without the values PostgreSQL quotes from a row (its DETAIL) or the
    statement's data (its CONTEXT): they may be a resident's name, phone or description,
    and the text is logged and stored."""
    message = re.split(r"\n\s*CONTEXT:", message, maxsplit=1)[0]
    for pattern, replacement in _QUOTED_VALUES:
        message = pattern.sub(replacement, message)
    return message


def describe(error: BaseException) -> str:
    """The error in one line, as the database driver put it when there is one (without
    SQLAlchemy's statement and parameters), safe to store in any text column."""
    causes = _causes(error)
    innermost = causes[-1]
    for cause in causes:
        if not isinstance(cause, persistence.PersistenceError | sqlalchemy.exc.SQLAlchemyError):
            innermost = cause
            break
    message = " ".join(_without_data(str(innermost)).split())
    text = f"{type(innermost).__name__}: {message}" if message else type(innermost).__name__
    return text.replace("\x00", "\\x00")[:MAX_ERROR_CHARS]
