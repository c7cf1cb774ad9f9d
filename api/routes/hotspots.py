"""Hot spots (主动治理) and the month's topics (每月一题), for supervisors and admins.

``GET /hotspots`` reads the requests' read model (:mod:`projections.hotspots`); the topics
are people's decisions, kept in their own table (:mod:`closeloop.topics`). A refusal is a
4xx with a reason code and writes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from api import roster
from api.bounds import Instant, Limit
from api.deps import CurrentUser, EngineDep, Principal, SettingsDep, require_roles
from api.errors import Refusal
from api.roster import Role, Unit
from api.text import Text, refuse
from closeloop import topics
from closeloop.topics import NOTE_MAX, TITLE_MAX, TopicError
from domain.ladder import UnitKind
from projections import hotspots as spots

router = APIRouter(prefix="/hotspots", tags=["hotspots"])

Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]

#: The period when none is given: the last 30 days.
DEFAULT_DAYS = 30
#: The cells a reply lists by default (``limit``); the totals count them all.
DEFAULT_LIMIT = 100


class TopicIn(BaseModel):
    """A hot spot made the month's topic; the rules are in :mod:`closeloop.topics`."""

    model_config = ConfigDict(extra="forbid")

    month: Text = Field(max_length=20, description="the month, YYYY-MM (e.g. 2026-11)")
    unit_id: Text = Field(max_length=64, description="a grid or a community")
    category: Text = Field(max_length=64, description="a category code of the catalogue")
    title: Text = Field(max_length=TITLE_MAX, description="what the topic is, not blank")
    note: Text = Field(default="", max_length=NOTE_MAX, description="what is to be done")


def _instant(value: datetime | date | None) -> datetime | None:
    """A date means its midnight in UTC, a naive time is taken as UTC (as ``/stats``)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def refusal(error: TopicError) -> Refusal:
    return Refusal(
        error.status, error.code, str(error), field=error.field, params=error.params or None
    )


def _units(engine: Engine) -> dict[str, Unit]:
    return {u.id: u for u in roster.list_units(db=engine)}


def _name(units: dict[str, Unit], unit_id: str | None) -> str | None:
    unit = units.get(unit_id or "")
    return None if unit is None else unit.name


def _named(item: dict[str, Any], units: dict[str, Unit]) -> dict[str, Any]:
    """A cell or a grid's total with the names of its grid, community and town."""
    return {
        **item,
        "grid_name": _name(units, item["grid_id"]),
        "community_name": _name(units, item["community_id"]),
        "town_name": _name(units, item["town_id"]),
    }


def hotspots_of(
    engine: Engine,
    *,
    unit_id: str | None,
    date_from: datetime,
    date_to: datetime,
    repeat_count: int,
    repeat_days: int,
    limit: int | None,
) -> dict[str, Any]:
    """The hot spots, with the units' names; 422 ``unknown_unit`` for a unit the roster
    lacks (the pages use this too)."""
    units = _units(engine)
    unit = None
    if unit_id is not None:
        unit = units.get(unit_id)
        if unit is None:
            raise Refusal(
                422, "unknown_unit", f"no unit has the id {unit_id[:50]}", field="unit_id"
            )
    with engine.connect() as conn:
        found = spots.hotspots(
            conn,
            unit_id=unit_id,
            unit_kind=None if unit is None else unit.kind,
            date_from=date_from,
            date_to=date_to,
            repeat_count=repeat_count,
            repeat_days=repeat_days,
            limit=limit,
        )
    return {
        **found,
        "unit": None
        if unit is None
        else {"id": unit.id, "name": unit.name, "kind": unit.kind.value},
        "cells": [_named(c, units) for c in found["cells"]],
        "by_grid": [_named(g, units) for g in found["by_grid"]],
    }


@router.get("")
def get_hotspots(
    user: Supervisor,
    engine: EngineDep,
    unit_id: Text | None = None,
    date_from: Annotated[Instant | None, Query(alias="from")] = None,
    date_to: Annotated[Instant | None, Query(alias="to")] = None,
    repeat_count: Annotated[int, Query(ge=2, le=100)] = spots.REPEAT_COUNT,
    repeat_days: Annotated[int, Query(ge=1, le=366)] = spots.REPEAT_DAYS,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Counts by category and grid of the requests received in ``[from, to)`` (default:
    the last 30 days) under ``unit_id``, against the previous period of the same length,
    with the repeats (``repeat_count`` or more of one category in one grid within
    ``repeat_days`` days) and the totals by category and by grid."""
    end = _instant(date_to) or datetime.now(UTC)
    start = _instant(date_from) or end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise Refusal(422, "bad_period", "'from' must be before 'to'", field="from")
    return hotspots_of(
        engine,
        unit_id=unit_id,
        date_from=start,
        date_to=end,
        repeat_count=repeat_count,
        repeat_days=repeat_days,
        limit=limit,
    )


def this_month(zone: str) -> str:
    """The month it is now where the grids are (``CLOSELOOP_TIMEZONE``)."""
    return datetime.now(ZoneInfo(zone)).strftime("%Y-%m")


def topic_json(topic: topics.Topic, units: dict[str, Unit]) -> dict[str, Any]:
    unit = units.get(topic.unit_id)
    return {
        **topic.json(),
        "unit_name": None if unit is None else unit.name,
        "unit_kind": None if unit is None else unit.kind.value,
        # a grid's community, so that a page can tell a community's topic covers the grid
        "community_id": unit.parent_id if unit is not None and unit.kind is UnitKind.GRID else None,
    }


@router.get("/topics")
def list_topics(
    _user: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
    month: Annotated[Text | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    """The month's topics (default: this month), open and closed, in the order they were
    made."""
    try:
        month = topics.check_month(month or this_month(settings.timezone))
        found = topics.list_topics(month, db=engine)
    except TopicError as error:
        raise refusal(error) from None
    units = _units(engine)
    return {"month": month, "items": [topic_json(t, units) for t in found]}


@router.post("/topics", status_code=status.HTTP_201_CREATED)
def add_topic(body: TopicIn, user: Supervisor, engine: EngineDep) -> dict[str, Any]:
    """Make a category in a grid or a community the month's topic."""
    try:
        made = topics.add_topic(
            body.month,
            body.unit_id,
            body.category,
            body.title,
            body.note,
            by=user.username,
            db=engine,
        )
    except TopicError as error:
        raise refusal(error) from None
    return topic_json(made, _units(engine))


@router.post("/topics/{topic_id}/close")
def close_topic(topic_id: str, user: Supervisor, engine: EngineDep) -> dict[str, Any]:
    """Close a topic (solved, or withdrawn); it stays listed, with who closed it when."""
    refuse(topic_id, "path", "topic_id")
    try:
        closed = topics.close_topic(topic_id, by=user.username, db=engine)
    except TopicError as error:
        raise refusal(error) from None
    return topic_json(closed, _units(engine))
