"""Supervisors' and admins' hot spots (``/hotspots``): the requests received in a period by
category and grid against the previous period, the repeats marked in words, and on each
row a form that makes it the month's topic (每月一题); the month's topics above, each with
a form to close it. The topics of this month are also shown on the board
(:func:`month_topics`, used by :mod:`web.supervisor`).

The period is in CST days (``from`` and ``to`` inclusive, the last 30 days by default), as
the board's. The forms send to the JSON API (``/api/v1/hotspots/topics``); the table and
the topics are the fragment ``/hotspots/list``, reloaded after each change.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api.bounds import EARLIEST, LATEST
from api.deps import EngineDep
from api.routes.hotspots import hotspots_of
from closeloop import topics
from closeloop.topics import TopicError
from projections.hotspots import REPEAT_COUNT, REPEAT_DAYS
from web.common import SUPERVISORS, Denied, fragment, query_date, render, signed_in, translator
from web.i18n import Translator
from web.present import CST, Directory, day_start, local, parse, percent, today

router = APIRouter(include_in_schema=False)

#: The default period: the last 30 days (today included).
DEFAULT_PERIOD_DAYS = 30
#: The table shows at most this many cells (the totals count them all).
TABLE_LIMIT = 200


@dataclass(frozen=True)
class Choices:
    """What the page's form asks: the unit, the period (CST days, ``to`` inclusive), the
    repeat rule, and the month whose topics are shown and made."""

    unit_id: str | None
    date_from: date
    date_to: date
    repeat_count: int
    repeat_days: int
    month: str

    @classmethod
    def of(cls, request: Request, directory: Directory) -> Choices:
        q = request.query_params
        unit_id = q.get("unit_id") or None
        if unit_id is not None and unit_id not in directory.units:
            unit_id = None
        end = query_date(q, "to") or today()
        start = query_date(q, "from") or max(
            end - timedelta(days=DEFAULT_PERIOD_DAYS - 1), EARLIEST
        )
        if start > end:
            start, end = end, start
        month = this_month()
        with suppress(TopicError):  # not a month: this month's topics
            month = topics.check_month(q.get("month") or month)
        return cls(
            unit_id,
            start,
            end,
            _number(q.get("repeat_count"), REPEAT_COUNT, 2, 100),
            _number(q.get("repeat_days"), REPEAT_DAYS, 1, 366),
            month,
        )

    @property
    def period(self) -> tuple[datetime, datetime]:
        return day_start(self.date_from), day_start(self.date_to + timedelta(days=1))

    def query(self) -> str:
        return urlencode(
            {
                "unit_id": self.unit_id or "",
                "from": self.date_from.isoformat(),
                "to": self.date_to.isoformat(),
                "repeat_count": self.repeat_count,
                "repeat_days": self.repeat_days,
                "month": self.month,
            }
        )


def _number(value: str | None, default: int, low: int, high: int) -> int:
    """A whole number from the form within ``[low, high]``; else the default."""
    if value is None or not value.strip().isdigit() or len(value.strip()) > 4:
        return default
    return min(max(int(value), low), high)


def this_month() -> str:
    return datetime.now(CST).strftime("%Y-%m")


def _day(at: str) -> str:
    """``11-02`` in CST."""
    return parse(at).astimezone(CST).strftime("%m-%d")


def _change_text(item: dict[str, Any], t: Translator) -> str:
    change, share = item["change"], item["change_share"]
    if item["previous"] == 0:
        return t("hotspots.change_new") if change else t("hotspots.change_same")
    if change == 0:
        return t("hotspots.change_same")
    sign = "+" if change > 0 else "−"
    return f"{sign}{abs(change)} ({sign}{percent(abs(share))})"


def _topic_rows(found: list[topics.Topic], directory: Directory, t: Translator) -> list[Any]:
    rows = []
    for topic in found:
        unit = directory.units.get(topic.unit_id)
        rows.append(
            {
                **topic.json(),
                "open": topic.open,
                "unit_name": directory.name(topic.unit_id),
                "category_label": t.category(topic.category),
                "where": t(
                    "topics.where",
                    kind=t(f"unit.kind.{unit.kind.value}") if unit else "",
                    unit=directory.name(topic.unit_id),
                    category=t.category(topic.category),
                ),
                "made": t(
                    "topics.made_by",
                    who=directory.display_name(topic.created_by),
                    at=local(topic.created_at),
                ),
                "closed": ""
                if topic.open
                else t(
                    "topics.closed",
                    who=directory.display_name(topic.closed_by or ""),
                    at=local(topic.closed_at),
                ),
            }
        )
    return rows


def _context(engine: Engine, choices: Choices, t: Translator, directory: Directory) -> Any:
    start, end = choices.period
    found = hotspots_of(
        engine,
        unit_id=choices.unit_id,
        date_from=start,
        date_to=end,
        repeat_count=choices.repeat_count,
        repeat_days=choices.repeat_days,
        limit=TABLE_LIMIT,
    )
    month_topics = topics.list_topics(choices.month, db=engine)
    # open topics by (unit, category): a row is a topic when its grid or its community is
    topical = {(x.unit_id, x.category) for x in month_topics if x.open}
    rows = []
    for cell in found["cells"]:
        run = cell["run"]
        grid = cell["grid_name"] or cell["grid_id"]
        community = cell["community_name"] or cell["community_id"]
        category = t.category(cell["category"])
        rows.append(
            {
                **cell,
                "key": f"{cell['grid_id']}-{cell['category']}",
                "category_label": category,
                "grid_label": grid,
                "place": t("hotspots.place", community=community, town=cell["town_name"] or ""),
                "community_label": community,
                "change_text": _change_text(cell, t),
                "repeat_text": t(
                    "hotspots.repeat_yes",
                    n=run["count"],
                    days=choices.repeat_days,
                    first=_day(run["first"]),
                    last=_day(run["last"]),
                )
                if run
                else t("hotspots.repeat_no"),
                "is_topic": (cell["grid_id"], cell["category"]) in topical
                or (cell["community_id"], cell["category"]) in topical,
                "title": t("hotspots.topic_title_default", place=grid, category=category),
            }
        )
    categories = [
        {
            **total,
            "category_label": t.category(total["category"]),
            "change_text": _change_text(total, t),
        }
        for total in found["by_category"]
    ]
    total = found["total"]
    return {
        "choices": choices,
        "query": choices.query(),
        "rows": rows,
        "cells_total": found["cells_total"],
        "categories": categories,
        "summary": t(
            "hotspots.summary",
            start=choices.date_from.isoformat(),
            end=choices.date_to.isoformat(),
            count=total["count"],
            previous=total["previous"],
            change=_change_text(total, t),
            repeats=total["repeats"],
            days=(choices.date_to - choices.date_from).days + 1,
        ),
        "topics": _topic_rows(month_topics, directory, t),
        "unit_name": directory.name(choices.unit_id) if choices.unit_id else t("unit.any"),
    }


def _page(request: Request, engine: Engine, part: bool) -> Response:
    user = signed_in(request, SUPERVISORS, fragment=part)
    if isinstance(user, Denied):
        return user.response
    t = translator(request)
    directory = Directory.load(engine)
    try:
        choices = Choices.of(request, directory)
    except RequestValidationError as refused:  # a date out of range: say which, as a page
        name = refused.errors()[0]["loc"][-1]
        message = t("field.date_out_of_range", earliest=EARLIEST, latest=LATEST)
        return render(
            request,
            "error.html",
            {"message": f"{t('board.' + name)}: {message}", "code": 422},
            user=user,
            status_code=422,
        )
    context = _context(engine, choices, t, directory)
    if part:
        return fragment(request, "_hotspots_list.html", context)
    return render(
        request,
        "hotspots.html",
        {
            **context,
            "earliest": EARLIEST.isoformat(),
            "latest": LATEST.isoformat(),
            "units": directory.tree(),
        },
        user=user,
    )


@router.get("/hotspots", response_class=HTMLResponse)
def hotspots_page(request: Request, engine: EngineDep) -> Response:
    return _page(request, engine, part=False)


@router.get("/hotspots/list", response_class=HTMLResponse)
def hotspots_list(request: Request, engine: EngineDep) -> Response:
    return _page(request, engine, part=True)


def month_topics(engine: Engine, t: Translator, directory: Directory) -> dict[str, Any]:
    """This month's open topics, for the board's small section."""
    month = this_month()
    found = topics.list_topics(month, db=engine, include_closed=False)
    return {"topics_month": month, "month_topics": _topic_rows(found, directory, t)}
