"""The category catalogue: the kinds of request residents may file, as data an admin edits.

The ``categories`` table lives in its own :data:`metadata` (created by migration ``0007``,
which writes the twelve of :data:`domain.categories.SEED`). Service functions take the
database as the keyword-only ``db``, as :mod:`api.roster` does: an Engine (each call in
its own transaction) or a Connection (the call joins the caller's transaction). A refused
command raises a :class:`CatalogueError` before anything is written: ``code`` is the stable
reason, ``field`` the body field it concerns, ``status`` the HTTP status the API answers
with (409 ``category_exists``, 404 ``category_not_found``, 422 for a bad field).

A category is never deleted: it is retired (no new request may be filed in it) and may be
restored; requests filed in it keep it.

**The cache.** Pages and the intake read the catalogue all the time, so
:func:`list_categories` on an Engine keeps the rows in memory, per engine, for at most
:data:`CACHE_SECONDS` (a time-to-live). A change made through this module empties the cache
of its engine at once, so this process sees it on its next read; another process (a second
API behind the same database) sees it within :data:`CACHE_SECONDS`. The intake does not
rely on the cache for its decision: :func:`get_category` always reads the database (one
primary-key lookup), so a retired category refuses new filings in every process at once.
Reads on a Connection (inside a caller's transaction) never use the cache.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    MetaData,
    Row,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy import false as sa_false
from sqlalchemy.exc import IntegrityError

from closeloop.db import Db, connected
from domain.categories import (
    CODE_MAX,
    NAME_MAX,
    SEED,
    BadCategory,
    check_code,
    check_name,
    check_tier,
)
from domain.ladder import Tier
from projections.tables import UtcDateTime

#: How long a process may answer from its cache after another process changed the catalogue.
CACHE_SECONDS = 5.0
#: The catch-all category, listed last.
OTHER = "other"
_SEED_ORDER = {code: i for i, code in enumerate(SEED)}
#: Who wrote the seed rows.
SEED_AUTHOR = "seed"

metadata = MetaData()

category_table = Table(
    "categories",
    metadata,
    Column("code", String(CODE_MAX), primary_key=True),
    Column("name_zh", String(NAME_MAX), nullable=False),
    Column("name_en", String(NAME_MAX), nullable=False),
    Column("default_tier", String(8), nullable=False),
    Column("retired", Boolean, nullable=False, server_default=sa_false()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("updated_by", String(64), nullable=False),
)


@dataclass(frozen=True)
class Category:
    """A kind of request, with its names in both languages and the tier it starts on."""

    code: str
    name_zh: str
    name_en: str
    default_tier: Tier
    retired: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    def name(self, chinese: bool) -> str:
        return self.name_zh if chinese else self.name_en

    def public(self) -> dict[str, Any]:
        """What anyone may read (the resident's form needs it)."""
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "default_tier": self.default_tier.value,
            "retired": self.retired,
        }

    def json(self) -> dict[str, Any]:
        """What staff read: also who made and last changed it, and when."""
        return {
            **self.public(),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "updated_at": self.updated_at.isoformat(),
            "updated_by": self.updated_by,
        }


class CatalogueError(Exception):
    """A refused catalogue command: ``code`` the stable reason, ``field`` the body's field,
    ``status`` the HTTP status it is answered with."""

    def __init__(self, message: str, code: str, field: str | None, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.status = status


class CategoryExists(CatalogueError):
    def __init__(self, code: str) -> None:
        super().__init__(f"the category {code} exists already", "category_exists", "code", 409)


class UnknownCategory(CatalogueError):
    def __init__(self, code: str) -> None:
        super().__init__(f"no category has the code {code[:50]}", "category_not_found", None, 404)


class InvalidCategory(CatalogueError):
    """A field breaks a rule of :mod:`domain.categories`."""

    def __init__(self, error: BadCategory) -> None:
        super().__init__(str(error), error.code, error.field, 422)


def _now() -> datetime:
    return datetime.now(UTC)


def _category(row: Row[Any]) -> Category:
    return Category(
        code=row.code,
        name_zh=row.name_zh,
        name_en=row.name_en,
        default_tier=Tier(row.default_tier),
        retired=bool(row.retired),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


# ---- the cache ------------------------------------------------------------------------

#: The clock of the cache (tests move it instead of waiting).
clock = time.monotonic

_lock = threading.Lock()
_cache: weakref.WeakKeyDictionary[Engine, tuple[float, tuple[Category, ...]]] = (
    weakref.WeakKeyDictionary()
)


def _read_all(conn: Connection) -> tuple[Category, ...]:
    rows = conn.execute(select(category_table).order_by(category_table.c.code)).all()
    return tuple(_category(r) for r in rows)


def _all(db: Db) -> tuple[Category, ...]:
    if not isinstance(db, Engine):
        return _read_all(db)
    with _lock:
        cached = _cache.get(db)
    if cached is not None and clock() - cached[0] < CACHE_SECONDS:
        return cached[1]
    read_at = clock()
    with db.connect() as conn:
        found = _read_all(conn)
    with _lock:
        _cache[db] = (read_at, found)
    return found


def forget(db: Db) -> None:
    """Empty the cache of ``db``'s engine: the next read goes to the database."""
    engine = db if isinstance(db, Engine) else db.engine
    with _lock:
        _cache.pop(engine, None)


# ---- reading ----------------------------------------------------------------------------


def list_categories(*, db: Db, include_retired: bool = True) -> list[Category]:
    """The catalogue: the seed's categories in their own order, then the others by code,
    ``other`` last (cached, see the module's docstring)."""
    found = _all(db)
    if not include_retired:
        found = tuple(c for c in found if not c.retired)
    return sorted(found, key=lambda c: (c.code == OTHER, _SEED_ORDER.get(c.code, 99), c.code))


def active_codes(*, db: Db) -> list[str]:
    """The codes a new request may be filed in."""
    return [c.code for c in list_categories(db=db, include_retired=False)]


def names(*, db: Db) -> dict[str, tuple[str, str]]:
    """code -> (Chinese name, English name) of every category, retired ones too (cached)."""
    return {c.code: (c.name_zh, c.name_en) for c in list_categories(db=db)}


def get_category(code: str, *, db: Db) -> Category | None:
    """The category with ``code`` read from the database now (never the cache), or None."""
    if not isinstance(code, str) or len(code) > CODE_MAX:
        return None
    with connected(db) as conn:
        row = conn.execute(select(category_table).where(category_table.c.code == code)).first()
    return _category(row) if row is not None else None


# ---- changing -----------------------------------------------------------------------------


def add_category(
    code: str, name_zh: str, name_en: str, default_tier: str, *, by: str, db: Db
) -> Category:
    """Add an active category; :class:`CategoryExists` when the code is taken (retired
    categories too: restore it instead), :class:`InvalidCategory` for a bad field."""
    try:
        code = check_code(code)
        name_zh = check_name(name_zh, "name_zh")
        name_en = check_name(name_en, "name_en")
        tier = check_tier(default_tier)
    except BadCategory as error:
        raise InvalidCategory(error) from None
    now = _now()
    added = Category(code, name_zh, name_en, tier, False, now, by, now, by)
    row = {**added.__dict__, "default_tier": tier.value}
    try:
        with connected(db) as conn:
            if conn.execute(
                select(category_table.c.code).where(category_table.c.code == code)
            ).first():
                raise CategoryExists(code)
            conn.execute(insert(category_table).values(**row))
    except IntegrityError:  # added meanwhile by someone else
        raise CategoryExists(code) from None
    finally:
        forget(db)
    return added


def change_category(
    code: str,
    name_zh: str | None = None,
    name_en: str | None = None,
    default_tier: str | None = None,
    retired: bool | None = None,
    *,
    by: str,
    db: Db,
) -> Category:
    """Rename a category, change the tier it starts on, retire or restore it (the fields
    given; None leaves one as it is). Requests already filed keep their category and tier.
    :class:`UnknownCategory` when there is no such category, :class:`InvalidCategory` for a
    bad field."""
    values: dict[str, Any] = {}
    try:
        if name_zh is not None:
            values["name_zh"] = check_name(name_zh, "name_zh")
        if name_en is not None:
            values["name_en"] = check_name(name_en, "name_en")
        if default_tier is not None:
            values["default_tier"] = check_tier(default_tier).value
    except BadCategory as error:
        raise InvalidCategory(error) from None
    if retired is not None:
        values["retired"] = bool(retired)
    with connected(db) as conn:
        if values:
            values.update(updated_at=_now(), updated_by=by)
            done = conn.execute(
                update(category_table).where(category_table.c.code == code).values(**values)
            )
            if done.rowcount == 0:
                raise UnknownCategory(code)
        row = conn.execute(select(category_table).where(category_table.c.code == code)).first()
    forget(db)
    if row is None:
        raise UnknownCategory(code)
    return _category(row)


def seed(*, db: Db) -> int:
    """Write the seed's categories that are missing (a database made without the
    migrations, e.g. by ``metadata.create_all``); how many were written."""
    now = _now()
    with connected(db) as conn:
        have = set(conn.execute(select(category_table.c.code)).scalars())
        rows = [
            {
                "code": code,
                "name_zh": zh,
                "name_en": en,
                "default_tier": tier.value,
                "retired": False,
                "created_at": now,
                "created_by": SEED_AUTHOR,
                "updated_at": now,
                "updated_by": SEED_AUTHOR,
            }
            for code, (tier, zh, en) in SEED.items()
            if code not in have
        ]
        if rows:
            conn.execute(insert(category_table), rows)
    forget(db)
    return len(rows)
