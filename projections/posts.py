"""The posts' read models: every stint as a row, their counts by month, level, grid and
handler, and by month and unit (grid, community, town), written by
:mod:`projections.views` in the transaction of the events that moved them
(:mod:`domain.performance` says what a stint is and what it counts for).

A stint's counts move when it does (accepted, resolved, reviewed, ...) and its bucket can
change too (accepting it gives it a handler): :class:`PostTally` takes its part out of
the bucket it was counted in and adds the new part to the bucket it is in now, and
:meth:`PostTally.write` adds the batch's differences with one upsert per bucket, and
one per unit and month.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select

from domain.ladder import UnitKind
from domain.performance import POST_COUNTS, POST_ZERO, PostPart, PostRule, Stint, Stints
from projections.bulk import adding, insert_rows, update_rows
from projections.tables import post_counts, posts, unit_counts

#: A bucket of :data:`~projections.tables.post_counts`: month, level, grid, handler.
Key = tuple[str, str, str, str]
#: A stint as counted: its bucket (with its community and town) and its part.
Counted = tuple[Key, str, str, PostPart]

_SIZE = len(POST_COUNTS)
_FETCH_CHUNK = 500


def counted(stint: Stint, rule: PostRule) -> Counted:
    """Where and how much ``stint`` counts now."""
    key = (rule.month(stint.started_at), stint.level, stint.grid_id, stint.handler)
    return key, stint.community_id, stint.town_id, stint.part()


class PostTally:
    """Differences of the buckets gathered over a batch."""

    def __init__(self) -> None:
        self.buckets: dict[Key, list[Any]] = {}  # key -> [community, town, *counts]

    def move(self, before: Counted | None, after: Counted) -> None:
        if before == after:
            return
        if before is not None:
            self._add(before, -1)
        self._add(after, 1)

    def _add(self, what: Counted, sign: int) -> None:
        key, community_id, town_id, part = what
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = [community_id, town_id, *([0] * _SIZE)]
        for i, value in enumerate(part):
            if value:
                bucket[i + 2] += sign * value

    def write(self, conn: Connection) -> None:
        rows = [
            {
                "month": key[0],
                "level": key[1],
                "grid_id": key[2],
                "handler": key[3],
                "community_id": bucket[0],
                "town_id": bucket[1],
                **dict(zip(POST_COUNTS, bucket[2:], strict=True)),
            }
            for key, bucket in sorted(self.buckets.items())
            if any(bucket[2:])
        ]
        if rows:
            conn.execute(adding(post_counts, conn.dialect.name, POST_COUNTS), rows)
        # A bucket that stints left (accepting one moves it to its handler's) may now hold
        # none: it goes, so that the table is the same however the events were batched.
        # Every stint counts in ``assigned`` but a followed one, which counts a reached
        # review (domain.performance): a bucket with neither holds nothing.
        left = [
            {"m": key[0], "l": key[1], "g": key[2], "h": key[3]}
            for key, bucket in self.buckets.items()
            if any(value < 0 for value in bucket[2:])
        ]
        if left:
            conn.execute(_DELETE_EMPTY, left)
        self._write_units(conn)

    def unit_totals(self) -> dict[tuple[str, str, str], list[int]]:
        """The buckets summed by month and unit (each bucket's grid, community and town),
        those all zero left out."""
        units = self._units()
        return {key: part for key, part in units.items() if any(part)}

    def _units(self) -> dict[tuple[str, str, str], list[int]]:
        units: dict[tuple[str, str, str], list[int]] = {}
        for (month, _, grid_id, _), bucket in self.buckets.items():
            community_id, town_id, *part = bucket
            for kind, unit_id in (
                (UnitKind.GRID.value, grid_id),
                (UnitKind.COMMUNITY.value, community_id),
                (UnitKind.TOWN.value, town_id),
            ):
                total = units.get((month, kind, unit_id))
                if total is None:
                    units[(month, kind, unit_id)] = list(part)
                else:
                    for i, value in enumerate(part):
                        total[i] += value
        return units

    def _write_units(self, conn: Connection) -> None:
        """The same differences by month and unit (the grid, community and town of each
        bucket), added to :data:`~projections.tables.unit_counts` the same way."""
        units = self._units()
        rows = [
            {
                "month": key[0],
                "kind": key[1],
                "unit_id": key[2],
                **dict(zip(POST_COUNTS, part, strict=True)),
            }
            for key, part in sorted(units.items())
            if any(part)
        ]
        if rows:
            conn.execute(adding(unit_counts, conn.dialect.name, POST_COUNTS), rows)
        left = [
            {"m": key[0], "k": key[1], "u": key[2]}
            for key, part in units.items()
            if any(value < 0 for value in part)
        ]
        if left:
            conn.execute(_DELETE_EMPTY_UNIT, left)


_DELETE_EMPTY_UNIT = (
    delete(unit_counts)
    .where(unit_counts.c.month == bindparam("m"))
    .where(unit_counts.c.kind == bindparam("k"))
    .where(unit_counts.c.unit_id == bindparam("u"))
    .where(unit_counts.c.assigned == 0, unit_counts.c.reviews_reached == 0)
)
_DELETE_EMPTY = (
    delete(post_counts)
    .where(post_counts.c.month == bindparam("m"))
    .where(post_counts.c.level == bindparam("l"))
    .where(post_counts.c.grid_id == bindparam("g"))
    .where(post_counts.c.handler == bindparam("h"))
    .where(post_counts.c.assigned == 0, post_counts.c.reviews_reached == 0)
)


def write_stints(
    conn: Connection, fresh: list[dict[str, Any]], moved: list[dict[str, Any]]
) -> None:
    """Insert the new stints' rows and update the moved ones' (straight through the
    driver on SQLite: :mod:`projections.bulk`)."""
    insert_rows(conn, posts, fresh)
    if moved:
        rows = [{**row, "r_id": row["request_id"], "r_seq": row["seq"]} for row in moved]
        for row in rows:
            del row["request_id"], row["seq"]
        update_rows(conn, posts, rows, {"request_id": "r_id", "seq": "r_seq"})


def read_stints(conn: Connection, request_ids: Iterable[str]) -> dict[str, Stints]:
    """The stints of these requests (every one has a :class:`Stints`, maybe empty)."""
    wanted = sorted(set(request_ids))
    found: dict[str, list[Stint]] = {request_id: [] for request_id in wanted}
    for i in range(0, len(wanted), _FETCH_CHUNK):
        chunk = wanted[i : i + _FETCH_CHUNK]
        for row in conn.execute(select(posts).where(posts.c.request_id.in_(chunk))):
            found[row.request_id].append(Stint.from_row(row))
    return {request_id: Stints.of(request_id, items) for request_id, items in found.items()}


def refill(conn: Connection, rule: PostRule, chunk: int = 50_000) -> int:
    """Count the buckets (and the units' rows) again from the stints' rows; returns the
    buckets."""
    tally = PostTally()
    for row in conn.execute(select(posts).execution_options(yield_per=chunk)):
        tally.move(None, counted(Stint.from_row(row), rule))
    conn.execute(delete(post_counts))
    conn.execute(delete(unit_counts))
    tally.write(conn)
    return len(tally.buckets)


__all__ = ["POST_ZERO", "PostTally", "counted", "read_stints", "refill", "write_stints"]
