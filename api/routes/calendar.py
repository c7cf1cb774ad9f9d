"""The working-day calendar of a year: holidays and make-up working days.

Deadlines counted in working days (``CLOSELOOP_TIER_RULES``) use the ``chinese-calendar``
package's days where it knows the year, and an admin's days (this ``PUT``) over them; a
year that neither knows counts Monday to Friday (see :mod:`closeloop.workcalendar`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from api.bounds import Year
from api.deps import AdminUser, CurrentUser, EngineDep
from api.errors import Refusal
from closeloop import workcalendar
from closeloop.workcalendar import CalendarError, YearCalendar

router = APIRouter(prefix="/calendar", tags=["calendar"])


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError("date_type", "Input should be a date as YYYY-MM-DD")
    return value


#: A day as ``YYYY-MM-DD`` (a number is not taken for one).
Day = Annotated[date, BeforeValidator(_text)]
#: At most this many days in either list.
MAX_DAYS = 366


class CalendarIn(BaseModel):
    """A year's days as an admin sets them; both empty: back to the package's."""

    model_config = ConfigDict(extra="forbid")

    holidays: list[Day] = Field(max_length=MAX_DAYS)
    workdays: list[Day] = Field(max_length=MAX_DAYS)


class PackageDays(BaseModel):
    """What the ``chinese-calendar`` package says of the year (empty when not ``known``)."""

    known: bool
    holidays: list[date]
    workdays: list[date]


class CalendarOut(BaseModel):
    """The days in force for ``year`` and where they come from: ``table`` (an admin set
    them), ``package`` or ``none`` (Monday to Friday)."""

    year: int
    source: Literal["table", "package", "none"]
    holidays: list[date]
    workdays: list[date]
    package: PackageDays
    set_by: str | None
    set_at: datetime | None

    @classmethod
    def of(cls, found: YearCalendar) -> CalendarOut:
        package = found.package
        return cls(
            year=found.year,
            source=found.source,
            holidays=list(found.holidays),
            workdays=list(found.workdays),
            package=PackageDays(
                known=package is not None,
                holidays=list(package.holidays) if package else [],
                workdays=list(package.workdays) if package else [],
            ),
            set_by=found.set_by,
            set_at=found.set_at,
        )


def refusal(error: CalendarError) -> Refusal:
    """A refused calendar as HTTP: 422 with its code, field and values."""
    return Refusal(422, error.code, str(error), field=error.field, params=error.params)


@router.get("/{year}", response_model=CalendarOut)
def get_calendar(year: Year, _user: CurrentUser, engine: EngineDep) -> CalendarOut:
    """The year's holidays and make-up working days, their source, and the package's."""
    return CalendarOut.of(workcalendar.year_of(year, db=engine))


@router.put("/{year}", response_model=CalendarOut)
def put_calendar(year: Year, body: CalendarIn, admin: AdminUser, engine: EngineDep) -> CalendarOut:
    """Replace the year's days (they win over the package's); nothing is written on a
    refusal: a date of another year, a date twice in a list, a date in both lists."""
    try:
        found = workcalendar.set_year(year, body.holidays, body.workdays, admin.username, db=engine)
    except CalendarError as error:
        raise refusal(error) from None
    return CalendarOut.of(found)
