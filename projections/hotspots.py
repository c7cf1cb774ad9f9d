"""Hot spots (主动治理): where requests of one category gather, and where they repeat.

A *cell* is one category in one grid. For the requests received in ``[date_from,
date_to)`` under a unit (a grid, a community, a town; None: everywhere), each cell says:

``count``
    the requests of that category received in that grid in the period.
``previous``
    the same for the previous period of the same length, ``[date_from - (date_to -
    date_from), date_from)``.
``change``, ``change_share``
    ``count - previous``, and that as a share of ``previous`` (rounded to 4 decimals;
    None when ``previous`` is 0).
``repeat``, ``run``
    a repeat (重复诉求) is at least ``repeat_count`` requests of the cell within one span
    of ``repeat_days`` days inside the period (the first and the last of them at most
    ``repeat_days`` days apart: three within 30 days repeat, three spread over 31 do not).
    ``run`` is the densest such span: the most requests within ``repeat_days`` days
    (``count``), the times of the first and the last of them (``first``, ``last``; the
    earliest run when several are as dense); None when the cell is not a repeat.

The cells are counted in SQL (``GROUP BY grid_id, category`` over the period and the
previous one, through the indexes on ``created_at`` and on each unit and ``created_at``).
Times are read only for the cells that could be repeats and whose requests do not all
fall within ``repeat_days`` days anyway (then the run is the whole cell, known from the
aggregate's first and last times); so the default 30-day period reads none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from domain.ladder import UnitKind
from projections.reading import Bind, connected, in_unit, iso
from projections.tables import requests

#: By default a repeat is three or more requests of one category in one grid within 30 days.
REPEAT_COUNT = 3
REPEAT_DAYS = 30
#: How many grids one query for the times of candidate cells names at most.
GRID_CHUNK = 500

_UNIT_COLUMN = {
    UnitKind.GRID: requests.c.grid_id,
    UnitKind.COMMUNITY: requests.c.community_id,
    UnitKind.TOWN: requests.c.town_id,
}


@dataclass(frozen=True)
class Run:
    """The densest span of a cell's requests: how many, the first and the last time."""

    count: int
    first: datetime
    last: datetime

    def json(self) -> dict[str, Any]:
        return {"count": self.count, "first": iso(self.first), "last": iso(self.last)}


@dataclass
class Cell:
    """One category in one grid, in the period and the previous one."""

    grid_id: str
    category: str
    community_id: str
    town_id: str
    count: int = 0
    previous: int = 0
    first: datetime | None = None  # of the period's requests
    last: datetime | None = None
    run: Run | None = None

    @property
    def repeat(self) -> bool:
        return self.run is not None

    def json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "grid_id": self.grid_id,
            "community_id": self.community_id,
            "town_id": self.town_id,
            **_change(self.count, self.previous),
            "repeat": self.repeat,
            "run": None if self.run is None else self.run.json(),
        }


@dataclass
class _Total:
    count: int = 0
    previous: int = 0
    repeats: int = 0
    keys: dict[str, str] = field(default_factory=dict)

    def add(self, cell: Cell) -> None:
        self.count += cell.count
        self.previous += cell.previous
        self.repeats += int(cell.repeat)

    def json(self) -> dict[str, Any]:
        return {**self.keys, **_change(self.count, self.previous), "repeats": self.repeats}


def _change(count: int, previous: int) -> dict[str, Any]:
    change = count - previous
    share = round(change / previous, 4) if previous else None
    return {"count": count, "previous": previous, "change": change, "change_share": share}


def _aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def _where_unit(unit_id: str | None, unit_kind: UnitKind | None) -> list[ColumnElement[bool]]:
    if unit_id is None:
        return []
    if unit_kind is None:  # not told: any of the three (no single index serves it)
        return [in_unit(unit_id)]
    return [_UNIT_COLUMN[UnitKind(unit_kind)] == unit_id]


def hotspots(
    bind: Bind,
    *,
    date_from: datetime,
    date_to: datetime,
    unit_id: str | None = None,
    unit_kind: UnitKind | None = None,
    repeat_count: int = REPEAT_COUNT,
    repeat_days: int = REPEAT_DAYS,
    limit: int | None = None,
) -> dict[str, Any]:
    """The hot spots of the requests received in ``[date_from, date_to)`` under ``unit_id``
    (see the module's docstring). ``unit_kind`` says what ``unit_id`` is (the roster knows);
    without it the unit is matched as a town, community or grid alike, more slowly.

    Returns ``cells`` (those with requests in the period: most first, repeats first among
    equals, then the greater rise; the first ``limit`` of them, ``cells_total`` in all),
    ``by_category`` and ``by_grid`` (every category and grid with requests in
    either period, most first) and ``total``, each with ``count``, ``previous``,
    ``change`` and ``change_share``; the totals also count their ``repeats``.
    """
    _aware("date_from", date_from)
    _aware("date_to", date_to)
    if date_from >= date_to:
        raise ValueError("date_from must be before date_to")
    if repeat_count < 1 or repeat_days < 0:
        raise ValueError("repeat_count must be at least 1 and repeat_days not negative")
    previous_from = date_from - (date_to - date_from)
    span = timedelta(days=repeat_days)
    where_unit = _where_unit(unit_id, unit_kind)
    with connected(bind) as c:
        cells = _count(c, where_unit, previous_from, date_from, date_to)
        _find_runs(c, cells, where_unit, date_from, date_to, repeat_count, span)
    shown = sorted(
        (cell for cell in cells if cell.count),
        key=lambda x: (-x.count, not x.repeat, x.previous - x.count, x.category, x.grid_id),
    )
    return {
        "from": iso(date_from),
        "to": iso(date_to),
        "previous_from": iso(previous_from),
        "previous_to": iso(date_from),
        "unit_id": unit_id,
        "repeat_count": repeat_count,
        "repeat_days": repeat_days,
        "cells": [cell.json() for cell in shown[:limit]],
        "cells_total": len(shown),
        "by_category": _totals(cells, lambda x: {"category": x.category}),
        "by_grid": _totals(
            cells,
            lambda x: {
                "grid_id": x.grid_id,
                "community_id": x.community_id,
                "town_id": x.town_id,
            },
        ),
        "total": _sum(cells).json(),
    }


def _count(
    conn: Connection,
    where_unit: list[ColumnElement[bool]],
    previous_from: datetime,
    date_from: datetime,
    date_to: datetime,
) -> list[Cell]:
    """Every cell with requests in the period or the previous one: two aggregates, one
    over each period (cheaper than one over both that tells them apart row by row)."""
    c = requests.c
    now = (
        select(
            c.grid_id,
            c.category,
            func.count().label("n"),
            func.min(c.created_at).label("first"),
            func.max(c.created_at).label("last"),
            # a grid's community and town never change: any row's are the grid's
            func.max(c.community_id).label("community_id"),
            func.max(c.town_id).label("town_id"),
        )
        .where(*where_unit, c.created_at >= date_from, c.created_at < date_to)
        .group_by(c.grid_id, c.category)
    )
    before = (
        select(
            c.grid_id,
            c.category,
            func.count().label("n"),
            func.max(c.community_id).label("community_id"),
            func.max(c.town_id).label("town_id"),
        )
        .where(*where_unit, c.created_at >= previous_from, c.created_at < date_from)
        .group_by(c.grid_id, c.category)
    )
    found: dict[tuple[str, str], Cell] = {}
    for row in conn.execute(now):
        found[(row.grid_id, row.category)] = Cell(
            row.grid_id,
            row.category,
            row.community_id,
            row.town_id,
            count=int(row.n),
            first=row.first,
            last=row.last,
        )
    for row in conn.execute(before):
        key = (row.grid_id, row.category)
        cell = found.get(key)
        if cell is None:
            cell = found[key] = Cell(row.grid_id, row.category, row.community_id, row.town_id)
        cell.previous = int(row.n)
    return list(found.values())


def _find_runs(
    conn: Connection,
    cells: list[Cell],
    where_unit: list[ColumnElement[bool]],
    date_from: datetime,
    date_to: datetime,
    repeat_count: int,
    span: timedelta,
) -> None:
    """Sets ``run`` on the cells that are repeats."""
    to_read: dict[tuple[str, str], Cell] = {}
    for cell in cells:
        if cell.count < repeat_count or cell.first is None or cell.last is None:
            continue  # too few to be a repeat
        if cell.last - cell.first <= span:  # all of them within one span
            cell.run = Run(cell.count, cell.first, cell.last)
        else:
            to_read[(cell.grid_id, cell.category)] = cell
    if not to_read:
        return
    times = _times(conn, to_read, where_unit, date_from, date_to)
    for key, cell in to_read.items():
        run = densest(times.get(key, []), span)
        if run is not None and run.count >= repeat_count:
            cell.run = run


def _times(
    conn: Connection,
    cells: dict[tuple[str, str], Cell],
    where_unit: list[ColumnElement[bool]],
    date_from: datetime,
    date_to: datetime,
) -> dict[tuple[str, str], list[datetime]]:
    """The period's request times of ``cells``, in order, a chunk of grids per query
    (through the index on grid and time)."""
    c = requests.c
    grids = sorted({grid for grid, _ in cells})
    times: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for start in range(0, len(grids), GRID_CHUNK):
        chunk = grids[start : start + GRID_CHUNK]
        named = set(chunk)
        categories = sorted({cat for grid, cat in cells if grid in named})
        query = (
            select(c.grid_id, c.category, c.created_at)
            .where(
                *where_unit,
                c.grid_id.in_(chunk),
                c.category.in_(categories),
                c.created_at >= date_from,
                c.created_at < date_to,
            )
            .order_by(c.grid_id, c.created_at)
        )
        for grid, category, at in conn.execute(query):
            if (grid, category) in cells:
                times[(grid, category)].append(at)
    for found in times.values():
        found.sort()
    return times


def densest(times: Sequence[datetime], span: timedelta) -> Run | None:
    """The most of ``times`` (sorted) within one ``span`` (the first and the last at most
    ``span`` apart), the earliest such run; None for no times."""
    best: Run | None = None
    start = 0
    for end, at in enumerate(times):
        while at - times[start] > span:
            start += 1
        size = end - start + 1
        if best is None or size > best.count:
            best = Run(size, times[start], at)
    return best


def _totals(cells: Iterable[Cell], keys: Any) -> list[dict[str, Any]]:
    groups: dict[tuple[str, ...], _Total] = {}
    for cell in cells:
        fields = keys(cell)
        total = groups.setdefault(tuple(fields.values()), _Total(keys=fields))
        total.add(cell)
    ordered = sorted(
        groups.values(), key=lambda x: (-x.count, -x.repeats, x.previous, tuple(x.keys.values()))
    )
    return [total.json() for total in ordered]


def _sum(cells: Iterable[Cell]) -> _Total:
    total = _Total()
    for cell in cells:
        total.add(cell)
    return total
