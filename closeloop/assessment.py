"""What people decide about the assessment (考核): the scheme in force and the supervisors'
adjustments of a worker's points.

Both are the app's own tables (in :data:`metadata`, created by migration ``0013``), not
read models: nothing in the event store holds them, and ``closeloop rebuild`` leaves them
alone. Service functions take the database as the keyword-only ``db``, as
:mod:`api.roster` does: an Engine (each call its own transaction) or a Connection (the call
joins the caller's transaction). A refused command raises :class:`AssessmentError` (a
stable ``code``, the ``field`` it concerns) before anything is written.

- ``assessment_scheme`` holds one row, the scheme as JSON with who saved it and when; no
  row means :class:`domain.assessment.Scheme`'s defaults.
- ``assessment_adjustments`` holds each adjustment: the worker, the period it belongs to
  (``2026-11``, ``2026Q4`` or ``2026``), whole points from -20 to +20 (never 0), the reason,
  who made it and when. Adjustments are never deleted: a withdrawn one stops counting and
  keeps who withdrew it and when (``withdrawn_by``, ``withdrawn_at``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from closeloop.db import Db, connected
from domain.assessment import Scheme, SchemeError
from projections.tables import UtcDateTime

log = logging.getLogger(__name__)

#: An adjustment's points: whole points within this bound, either way, never 0.
MAX_ADJUSTMENT = 20
#: The longest reason, in characters.
REASON_MAX = 500
#: The scheme table's one row.
SCHEME_ROW = 1

metadata = MetaData()

scheme_table = Table(
    "assessment_scheme",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("scheme", Text(), nullable=False),  # domain.assessment.Scheme.json()
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

adjustment_table = Table(
    "assessment_adjustments",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("period", String(16), nullable=False),  # 2026-11, 2026Q4 or 2026
    Column("points", Integer(), nullable=False),
    Column("reason", String(REASON_MAX), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("withdrawn_by", String(64), nullable=True),
    Column("withdrawn_at", UtcDateTime(), nullable=True),
    CheckConstraint(
        f"points BETWEEN -{MAX_ADJUSTMENT} AND {MAX_ADJUSTMENT} AND points <> 0",
        name="ck_assessment_adjustments_points",
    ),
    Index("ix_assessment_adjustments_period", "period", "username"),
)


class AssessmentError(ValueError):
    """A refused command: ``code`` is the stable reason, ``field`` the body's field."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class StoredScheme:
    """The scheme in force; ``updated_by`` / ``updated_at`` are None for the defaults."""

    scheme: Scheme
    updated_by: str | None = None
    updated_at: datetime | None = None

    @property
    def default(self) -> bool:
        return self.updated_by is None

    def json(self) -> dict[str, Any]:
        return {
            **self.scheme.json(),
            "default": self.default,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


@dataclass(frozen=True)
class Adjustment:
    """A supervisor's adjustment of a worker's points for a period."""

    id: int
    username: str
    period: str
    points: int
    reason: str
    created_by: str
    created_at: datetime
    withdrawn_by: str | None = None
    withdrawn_at: datetime | None = None

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "period": self.period,
            "points": self.points,
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "withdrawn": self.withdrawn,
            "withdrawn_by": self.withdrawn_by,
            "withdrawn_at": self.withdrawn_at.isoformat() if self.withdrawn_at else None,
        }


def _now() -> datetime:
    return datetime.now(UTC)


# ---- the scheme ---------------------------------------------------------------------------


def load_scheme(*, db: Db) -> StoredScheme:
    """The scheme in force: the stored one, else the defaults. A stored scheme that no
    longer passes the rules (written by another version) is logged and the defaults apply."""
    with connected(db) as conn:
        row = conn.execute(select(scheme_table).where(scheme_table.c.id == SCHEME_ROW)).first()
    if row is None:
        return StoredScheme(Scheme())
    try:
        scheme = Scheme.from_json(json.loads(row.scheme))
    except (ValueError, SchemeError) as error:
        log.error("the stored assessment scheme is refused (%s): the defaults apply", error)
        return StoredScheme(Scheme())
    return StoredScheme(scheme, row.updated_by, row.updated_at)


def save_scheme(data: Any, by: str, *, db: Db) -> StoredScheme:
    """Check ``data`` (a scheme as JSON) and make it the scheme in force; a refused scheme
    raises :class:`SchemeError` naming the field, and nothing is written."""
    scheme = Scheme.from_json(data)
    now = _now()
    with connected(db) as conn:
        conn.execute(delete(scheme_table).where(scheme_table.c.id == SCHEME_ROW))
        conn.execute(
            insert(scheme_table).values(
                id=SCHEME_ROW, scheme=json.dumps(scheme.json()), updated_by=by, updated_at=now
            )
        )
    return StoredScheme(scheme, by, now)


# ---- adjustments --------------------------------------------------------------------------


def check_points(value: Any) -> int:
    """Whole points from -20 to +20 but 0 (a number, or a text of one as a form sends
    it); else :class:`AssessmentError` ``bad_adjustment_points``."""
    refused = AssessmentError(
        "bad_adjustment_points",
        f"points must be a whole number from -{MAX_ADJUSTMENT} to {MAX_ADJUSTMENT}, not 0",
        "points",
    )
    number: float
    if isinstance(value, bool):
        raise refused
    if isinstance(value, int):
        if abs(value) > MAX_ADJUSTMENT:  # before any float: 10**400 has none
            raise refused
        number = value
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str) and len(value) <= 20:
        try:
            number = float(value.strip().replace("＋", "+").replace("－", "-"))
        except ValueError:
            raise refused from None
    else:
        raise refused
    if not math.isfinite(number) or number != int(number):
        raise refused
    points = int(number)
    if points == 0 or abs(points) > MAX_ADJUSTMENT:
        raise refused
    return points


def check_reason(value: Any) -> str:
    """The reason as stored: required, at most 500 characters (the API's ``Text`` field
    has refused control characters before)."""
    if not isinstance(value, str) or not value.strip():
        raise AssessmentError("required", "give the reason for the adjustment", "reason")
    reason = value.strip().replace("\r\n", "\n")
    if len(reason) > REASON_MAX:
        raise AssessmentError(
            "reason_too_long", f"the reason is longer than {REASON_MAX} characters", "reason"
        )
    return reason


def add_adjustment(
    username: str, period: str, points: Any, reason: Any, by: str, *, db: Db
) -> Adjustment:
    """Record an adjustment (``username`` and ``period`` checked by the caller: a worker
    who is assessed, a period label); refused points or reason write nothing."""
    checked_points, checked_reason = check_points(points), check_reason(reason)
    now = _now()
    with connected(db) as conn:
        new_id = conn.execute(
            insert(adjustment_table).values(
                username=username,
                period=period,
                points=checked_points,
                reason=checked_reason,
                created_by=by,
                created_at=now,
            )
        ).inserted_primary_key
    assert new_id is not None
    return Adjustment(int(new_id[0]), username, period, checked_points, checked_reason, by, now)


def _adjustment(row: Any) -> Adjustment:
    return Adjustment(
        id=int(row.id),
        username=row.username,
        period=row.period,
        points=int(row.points),
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
        withdrawn_by=row.withdrawn_by,
        withdrawn_at=row.withdrawn_at,
    )


def adjustments_of(
    period: str, *, db: Db, usernames: Iterable[str] | None = None
) -> dict[str, list[Adjustment]]:
    """The adjustments of ``period`` by worker, oldest first, the withdrawn ones too."""
    query = select(adjustment_table).where(adjustment_table.c.period == period)
    if usernames is not None:
        query = query.where(adjustment_table.c.username.in_(sorted(set(usernames))))
    out: dict[str, list[Adjustment]] = {}
    with connected(db) as conn:
        for row in conn.execute(query.order_by(adjustment_table.c.id)):
            out.setdefault(row.username, []).append(_adjustment(row))
    return out


def get_adjustment(adjustment_id: int, *, db: Db) -> Adjustment | None:
    with connected(db) as conn:
        row = conn.execute(
            select(adjustment_table).where(adjustment_table.c.id == adjustment_id)
        ).first()
    return _adjustment(row) if row is not None else None


def withdraw_adjustment(adjustment_id: int, by: str, *, db: Db) -> Adjustment | None:
    """Withdraw the adjustment (it stops counting, the record stays); withdrawing it again
    changes nothing. None when there is no such adjustment."""
    with connected(db) as conn:
        conn.execute(
            update(adjustment_table)
            .where(
                adjustment_table.c.id == adjustment_id, adjustment_table.c.withdrawn_at.is_(None)
            )
            .values(withdrawn_by=by, withdrawn_at=_now())
        )
        return get_adjustment(adjustment_id, db=conn)
