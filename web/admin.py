"""The admins' pages: the working-day calendar of a year (holidays and make-up working
days), with the ``chinese-calendar`` package's days beside them for comparison.

The page reads through :mod:`closeloop.workcalendar`; saving goes to the JSON API
(``PUT /api/v1/calendar/{year}``) from the page script, so the API's checks and refusals
are the only ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response

from api.bounds import FIRST_YEAR, LAST_YEAR, Year
from api.deps import EngineDep, SettingsDep
from api.roster import Role
from closeloop import workcalendar
from closeloop.workcalendar import HOLIDAY, WORKDAY, YearCalendar
from web.common import Denied, fragment, render, signed_in
from web.present import local

router = APIRouter(include_in_schema=False)

ADMINS = (Role.ADMIN,)


@dataclass(frozen=True)
class DayRow:
    """One listed day: what it is in force and what the package says it is."""

    day: str
    weekday: int
    kind: str | None
    package_kind: str | None

    @property
    def differs(self) -> bool:
        return self.kind != self.package_kind


def _kinds(holidays: tuple[date, ...], workdays: tuple[date, ...]) -> dict[date, str]:
    return {**{d: HOLIDAY for d in holidays}, **{d: WORKDAY for d in workdays}}


def _context(found: YearCalendar) -> dict[str, Any]:
    in_force = _kinds(found.holidays, found.workdays)
    package = found.package
    by_package = _kinds(package.holidays, package.workdays) if package else {}
    rows = [
        DayRow(day.isoformat(), day.weekday(), in_force.get(day), by_package.get(day))
        for day in sorted(in_force.keys() | by_package.keys())
    ]
    return {
        "year": found.year,
        "calendar": found,
        "rows": rows,
        "set_at": local(found.set_at) if found.set_at else "",
    }


def _year_of(raw: str | None, settings_zone: str) -> int:
    """The year asked for in the query (this year when none); out of range: a 422."""
    if not raw:
        return datetime.now(ZoneInfo(settings_zone)).year
    try:
        year = int(raw)
    except ValueError:
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal" if year > LAST_YEAR else "greater_than_equal",
                    "loc": ("query", "year"),
                    "msg": f"the year must be between {FIRST_YEAR} and {LAST_YEAR}",
                    "input": raw,
                    "ctx": {"ge": FIRST_YEAR, "le": LAST_YEAR},
                }
            ]
        )
    return year


@router.get("/admin/calendar")
def calendar_now(request: Request, settings: SettingsDep) -> Response:
    """This year's calendar, or the one of ``?year=`` (the page's year picker)."""
    user = signed_in(request, ADMINS)
    if isinstance(user, Denied):
        return user.response
    year = _year_of(request.query_params.get("year"), settings.timezone)
    lang = request.query_params.get("lang")
    target = f"/admin/calendar/{year}" + (f"?lang={lang}" if lang in ("zh-CN", "en") else "")
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.get("/admin/calendar/{year}")
def calendar_page(request: Request, year: Year, engine: EngineDep) -> Response:
    user = signed_in(request, ADMINS)
    if isinstance(user, Denied):
        return user.response
    found = workcalendar.year_of(year, db=engine)
    context = _context(found)
    context.update(
        first_year=FIRST_YEAR,
        last_year=LAST_YEAR,
        holidays_text="\n".join(d.isoformat() for d in found.holidays),
        workdays_text="\n".join(d.isoformat() for d in found.workdays),
    )
    return render(request, "admin_calendar.html", context, user=user)


@router.get("/admin/calendar/{year}/days")
def calendar_days(request: Request, year: Year, engine: EngineDep) -> Response:
    """The list of the year's days, reloaded after a save."""
    user = signed_in(request, ADMINS, fragment=True)
    if isinstance(user, Denied):
        return user.response
    found = workcalendar.year_of(year, db=engine)
    return fragment(request, "_calendar_days.html", _context(found))
