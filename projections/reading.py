"""Reading the views: a connection from an engine or a connection, rows as JSON-ready dicts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, func, or_

from domain.lifecycle import Status
from domain.state import OUT_OF_SCOPE
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


#: What ``RequestState.operations()`` gives for a request that saw none of them: the
#: ``ops`` column keeps only the values that differ from these (most requests hold one,
#: their tier's start), and rows projected before it was kept (``ops`` NULL) read as these.
NO_OPERATIONS: dict[str, Any] = {
    "tier_started_at": None,
    "warned": False,
    "urges": 0,
    "last_urged_at": None,
    "extension": None,
    "extensions_approved": 0,
    "cohandlers": [],
    "assisting": [],
    "waiting_since": None,
    "dispatch_wait_seconds": 0.0,
    "returns": 0,
    "redirects": 0,
    "out_of_scope": None,
    "appeal": None,
    "merged_into": None,
    "merged": None,
    "duplicates": [],
}


def _fresh_lists() -> dict[str, list[Any]]:
    """The list values of :data:`NO_OPERATIONS`, new (a view's lists are its own)."""
    return {"cohandlers": [], "assisting": [], "duplicates": []}


def pack_operations(ops: dict[str, Any]) -> str:
    """``RequestState.operations()`` as the ``ops`` column keeps it: JSON of the values
    that differ from :data:`NO_OPERATIONS`."""
    kept = {k: v for k, v in ops.items() if k not in NO_OPERATIONS or v != NO_OPERATIONS[k]}
    return json.dumps(kept, separators=(",", ":"), ensure_ascii=False)


def unpack_operations(ops: str) -> dict[str, Any]:
    """The ``ops`` column's text as ``RequestState.operations()`` gave it."""
    return {**NO_OPERATIONS, **_fresh_lists(), **json.loads(ops)}


def operations(row: Row[Any]) -> dict[str, Any] | None:
    """The row's ``RequestState.operations()`` part; None for a row projected before it
    was kept (``ops`` NULL)."""
    return None if row.ops is None else unpack_operations(row.ops)


def request_item(row: Row[Any]) -> dict[str, Any]:
    """A request row as ``RequestState.view()`` shows it, without the timeline and the
    operations' lists (co-handlers, assisting levels...), with what the work lists show of
    them: ``warned``, ``urges``, ``last_urged_at``, ``extension_pending``,
    ``cohandlers_open`` (co-handlers whose part is not done) and ``waiting_since``
    (waiting for dispatch since; None when not waiting)."""
    return {
        "id": row.id,
        "status": row.status,
        "tier": row.tier,
        "level": row.level,
        "level_unit_id": row.level_unit_id,
        "deadline": iso_or_none(row.deadline),
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
        "warned": bool(row.warned),
        "urges": row.urges,
        "last_urged_at": iso_or_none(row.last_urged_at),
        "extension_pending": bool(row.extension_pending),
        "cohandlers_open": row.cohandlers_open,
        "waiting_since": iso_or_none(row.waiting_since),
        "review_until": iso_or_none(row.review_until),
        "lat": row.lat,
        "long": row.long,
        # the address and building: sealed; api.privacy opens them for those who may see
        "address": None,
        "building": None,
        "place_sealed": row.place_sealed,  # never sent
        "photos": json.loads(row.photos) if row.photos else [],
        "merged_into": row.merged_into,
    }


def request_view(row: Row[Any]) -> dict[str, Any]:
    """A request row as ``RequestState.view()`` shows it, without the timeline: the
    operations' part whole (co-handlers and their state, the pending extension, assisting
    levels, out of scope, appeal...; :data:`NO_OPERATIONS` for rows projected before it
    was kept), and not the list items' ``extension_pending`` and ``cohandlers_open``."""
    item = request_item(row)
    # the view says these whole: the extension ask, each co-handler
    del item["extension_pending"], item["cohandlers_open"]
    ops = operations(row)
    item.update({**NO_OPERATIONS, **_fresh_lists()} if ops is None else ops)
    return item


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


def operation_filters(
    *,
    warned: bool | None = None,
    urged: bool | None = None,
    extension_pending: bool | None = None,
    cohandled: bool | None = None,
    waiting_dispatch: bool | None = None,
    out_of_scope: bool | None = None,
) -> list[ColumnElement[bool]]:
    """The board's filters on the street-office operations; each None: either way.

    ``warned``: warned (预警) in its current tier; ``urged``: urged (催办) at least once;
    ``extension_pending``: an extension ask waits for its decision; ``cohandled``: a
    co-handler's part is still to do; ``waiting_dispatch``: waiting for dispatch;
    ``out_of_scope``: closed as out of scope (不予受理), and not reopened by an appeal.
    """
    c = requests.c
    conditions: list[ColumnElement[bool]] = []
    if warned is not None:
        conditions.append(c.warned == warned)
    if urged is not None:
        conditions.append(c.urges > 0 if urged else c.urges == 0)
    if extension_pending is not None:
        conditions.append(c.extension_pending == extension_pending)
    if cohandled is not None:
        conditions.append(c.cohandlers_open > 0 if cohandled else c.cohandlers_open == 0)
    if waiting_dispatch is not None:
        waiting = c.status == Status.WAITING_DISPATCH.value
        conditions.append(waiting if waiting_dispatch else ~waiting)
    if out_of_scope is not None:
        # closed_outcome is None again once an appeal reopens the request
        closed_so = func.coalesce(c.closed_outcome, "") == OUT_OF_SCOPE
        conditions.append(closed_so if out_of_scope else ~closed_so)
    return conditions
