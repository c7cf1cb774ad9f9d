"""Likely duplicates of a request, read from the request views (:mod:`domain.duplicates`).

The candidates are narrowed in SQL and never by reading all requests: two indexed,
bounded queries, each limited to open requests filed within the window of the request,

- *nearby*: the same town (``ix_view_requests_town_created``: town, filed), the same
  category, and a point inside the bounding box of the distance around the request's point
  (only when the request has a point);
- *similar text*: the same grid (``ix_view_requests_grid_created``: grid, filed);

and the exact rule (distance, similarity) is then applied in Python. Neither depends on who
reads: the caller filters the suggestions by what the reader may know of
(:func:`api.privacy.visible`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select

from domain.duplicates import OPEN, Filing, Match, Rule, bounding_box, suggest
from projections.reading import Bind, connected, request_view
from projections.tables import requests

#: At most this many candidates are read by each query (the nearest in time first): a
#: bound on the work for one request even in a town that files thousands a fortnight.
CANDIDATE_LIMIT = 500

_OPEN = sorted(status.value for status in OPEN)


def _window(created_at: datetime, rule: Rule) -> list[ColumnElement[bool]]:
    return [
        requests.c.created_at >= created_at - rule.window,
        requests.c.created_at <= created_at + rule.window,
        requests.c.status.in_(_OPEN),
    ]


def candidates(bind: Bind, view: dict[str, Any], rule: Rule) -> list[dict[str, Any]]:
    """The open requests that may be likely duplicates of the request ``view`` (a superset:
    the rule decides), as request views (with their operations, for the privacy rule)."""
    this = Filing.of(view)
    window = _window(this.created_at, rule)
    not_this = requests.c.id != this.id
    queries = [
        select(requests)
        .where(requests.c.grid_id == this.grid_id, *window, not_this)
        .order_by(requests.c.created_at.desc())
        .limit(CANDIDATE_LIMIT)
    ]
    if this.point is not None:
        min_lat, max_lat, min_long, max_long = bounding_box(*this.point, rule.distance_m)
        queries.append(
            select(requests)
            .where(
                requests.c.town_id == view["town_id"],
                *window,
                requests.c.category == this.category,
                requests.c.lat.between(min_lat, max_lat),
                requests.c.long.between(min_long, max_long),
                not_this,
            )
            .order_by(requests.c.created_at.desc())
            .limit(CANDIDATE_LIMIT)
        )
    found: dict[str, dict[str, Any]] = {}
    with connected(bind) as conn:
        for query in queries:
            for row in conn.execute(query):
                found.setdefault(row.id, request_view(row))
    return list(found.values())


def suggestion(m: Match, view: dict[str, Any]) -> dict[str, Any]:
    """One likely duplicate as the API shows it: what staff need to judge it, never the
    resident (no name, phone, address or building)."""
    return {
        "id": view["id"],
        "status": view["status"],
        "category": view["category"],
        "grid_id": view["grid_id"],
        "community_id": view["community_id"],
        "description": view["description"],
        "created_at": view["created_at"],
        "urgent": view["urgent"],
        "lat": view["lat"],
        "long": view["long"],
        "reasons": m.reasons,
        "distance_m": m.reasons[0]["distance_m"] if m.distance_m is not None else None,
        "similarity": round(m.similarity, 2) if m.similarity is not None else None,
    }


def likely_duplicates(
    view: dict[str, Any],
    candidate_views: list[dict[str, Any]],
    rule: Rule,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """The suggestions for ``view`` among ``candidate_views`` (those the reader may know
    of), strongest first, at most ``limit``."""
    by_id = {v["id"]: v for v in candidate_views}
    matches = suggest(Filing.of(view), (Filing.of(v) for v in candidate_views), rule, limit)
    return [suggestion(m, by_id[m.other.id]) for m in matches]
