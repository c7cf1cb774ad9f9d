"""Many rows at once, straight through the SQLite driver.

A batch of the projection (100,000 events in a rebuild) writes many thousands of rows;
SQLAlchemy's ``executemany`` processes every parameter of every row in Python (type
decorators, JSON, per-row dict handling), which cost a rebuild more than SQLite's own
inserts. On SQLite these functions convert each column once with a plain function (the
same text SQLAlchemy would store: UTC times as ``YYYY-MM-DD HH:MM:SS.ffffff``, JSON as
``json.dumps``) and hand tuples to the driver's ``executemany``; on other databases they
use SQLAlchemy as before. Only the types the view tables use are handled; another type
raises at once rather than being stored differently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Date,
    Executable,
    Float,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    insert,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeEngine

from projections.tables import UtcDateTime

Convert = Callable[[Any], Any] | None


def _utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"a naive datetime has no meaning here: {value!r}")
    # SQLAlchemy's text for SQLite: YYYY-MM-DD HH:MM:SS.ffffff, without the offset
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _date_text(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _converter(kind: TypeEngine[Any]) -> Convert:
    """How a value of this column type is handed to SQLite (None: as it is)."""
    if isinstance(kind, UtcDateTime):
        return _utc_text
    if isinstance(kind, JSON):
        return _json_text
    if isinstance(kind, Date):
        return _date_text
    if isinstance(kind, String | Text | Integer | BigInteger | Float | Boolean):
        return None  # the driver binds str, int, float and bool (as 0/1) as SQLAlchemy does
    raise TypeError(f"no direct conversion for a column of type {kind!r}")


@cache
def _statement(table: Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> str:
    """INSERT (no ``keys``) or UPDATE ... WHERE each of ``keys`` (qmark parameters)."""
    if not keys:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        return f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
    assignments = ", ".join(f'"{c}" = ?' for c in columns)
    where = " AND ".join(f'"{k}" = ?' for k in keys)
    return f'UPDATE "{table.name}" SET {assignments} WHERE {where}'


@cache
def _converters(table: Table, columns: tuple[str, ...]) -> tuple[Convert, ...]:
    return tuple(_converter(table.c[name].type) for name in columns)


def _tuples(
    table: Table, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    converters = _converters(table, columns)
    if not any(converters):
        return [tuple(row[c] for c in columns) for row in rows]
    pairs = tuple(zip(columns, converters, strict=True))
    return [tuple(row[c] if f is None else f(row[c]) for c, f in pairs) for row in rows]


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT every row (all with the keys of the first)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), list(rows))
        return
    columns = tuple(rows[0])
    conn.exec_driver_sql(_statement(table, columns, ()), _tuples(table, columns, rows))


def update_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Mapping[str, str],
) -> None:
    """UPDATE each row's columns where each of ``keys`` (column -> the row's key holding
    its value) matches; every row has the keys of the first."""
    if not rows:
        return
    key_names = tuple(keys.values())
    columns = tuple(name for name in rows[0] if name not in key_names)
    if conn.dialect.name != "sqlite":
        statement = update(table)
        for column, name in keys.items():
            statement = statement.where(table.c[column] == bindparam(name))
        conn.execute(statement, list(rows))
        return
    key_columns = tuple(keys)
    sql = _statement(table, columns, key_columns)
    values = _tuples(table, columns, rows)
    params = [
        (*value, *(row[keys[k]] for k in key_columns))
        for value, row in zip(values, rows, strict=True)
    ]
    conn.exec_driver_sql(sql, params)


def adding(table: Table, dialect: str, names: Sequence[str]) -> Executable:
    """INSERT ... ON CONFLICT (the table's primary key) DO UPDATE SET each of ``names`` =
    itself + the new row's, for the count tables (each row a difference to add)."""
    statement: Any
    if dialect == "postgresql":
        statement = postgresql.insert(table)
    elif dialect == "sqlite":
        statement = sqlite.insert(table)
    else:
        raise NotImplementedError(f"{table.name} on {dialect}")
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=list(table.primary_key.columns),
        set_={name: table.c[name] + statement.excluded[name] for name in names},
    )
