"""Reading the views: a connection from an engine or a connection, rows as JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, or_

from domain.lifecycle import Status
from projections.tables import requests

#: Queries take either; an engine lends a connection for the one query.
Bind = Connection | Engine

#: Open requests wait on a handler (as ``domain.lifecycle.is_open`` says).
OPEN_STATUSES = (Status.ASSIGNED.value, Status.IN_PROGRESS.value)


@contextmanager
def connected(bind: Bind) -> Iterator[Connection]:
    """The connection itself, or a fresh one from the engine, closed afterwards."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


def iso(at: datetime) -> str:
    """ISO 8601 in UTC, with ``+00:00``."""
    return at.astimezone(UTC).isoformat()


def iso_or_none(at: datetime | None) -> str | None:
    return None if at is None else iso(at)


def request_item(row: Row[Any]) -> dict[str, Any]:
    """A request row as ``RequestState.view()`` shows it, without the timeline."""
    return {
        "id": row.id,
        "status": row.status,
        "tier": row.tier,
        "level": row.level,
        "level_unit_id": row.level_unit_id,
        "deadline": iso(row.deadline),
        "overdue": bool(row.overdue),
        "escalations": row.escalations,
        "reopens": row.reopens,
        "unreached_attempts": row.unreached_attempts,
        "urgent": bool(row.urgent),
        "grid_id": row.grid_id,
        "community_id": row.community_id,
        "town_id": row.town_id,
        "category": row.category,
        "description": row.description,
        "channel": row.channel,
        "resident": {"name": row.resident_name, "phone": row.resident_phone},  # masked
        "resident_sealed": row.resident_sealed,  # never sent: api.privacy opens it for some
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def timeline_item(row: Row[Any]) -> dict[str, Any]:
    """A timeline row as ``domain.state.timeline_entry`` shapes it."""
    return {"type": row.type, "at": iso(row.at), "actor": row.actor, **row.data}


def in_unit(unit_id: str) -> ColumnElement[bool]:
    """A request lies in a unit when the unit is its town, its community or its grid."""
    return or_(
        requests.c.town_id == unit_id,
        requests.c.community_id == unit_id,
        requests.c.grid_id == unit_id,
    )
