"""Where working days come from: the ``chinese-calendar`` package and the admins' table.

The package knows the State Council's holidays and make-up working days up to the year it
was released for; the table ``calendar_days`` holds a year's days as an admin set them
(``PUT /api/v1/calendar/{year}``). For a year the table has, the table's days replace the
package's whole year; a year that neither knows falls back to Monday to Friday
(:class:`domain.workdays.WorkCalendar`), and ``/api/v1/health`` warns of it.

Service functions take the database as the keyword-only ``db``: an Engine (each call its
own transaction) or a Connection (the call joins the caller's). A refused change raises
:class:`CalendarError` (the API answers 422) before anything is written.

The package is read here only, outside any workflow: a workflow gets its deadlines from
:class:`Deadlines` through an activity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

import chinese_calendar
from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Date,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
)

from api.bounds import FIRST_YEAR, LAST_YEAR
from closeloop.db import Db, connected
from closeloop.settings import Settings
from domain.ladder import DEFAULT_DAY_SECONDS, Tier
from domain.performance import PostRule, wall_clock_window
from domain.workdays import WorkCalendar, deadline, parse_rules, working_seconds
from projections.tables import UtcDateTime

HOLIDAY = "holiday"
WORKDAY = "workday"

Source = Literal["table", "package", "none"]

metadata = MetaData()

calendar_days = Table(
    "calendar_days",
    metadata,
    Column("day", Date(), primary_key=True),
    Column("year", Integer(), nullable=False),
    Column("kind", String(16), nullable=False),  # holiday | workday
    Column("set_by", String(64), nullable=False),  # the admin's username
    Column("set_at", UtcDateTime(), nullable=False),
    CheckConstraint("kind IN ('holiday', 'workday')", name="ck_calendar_days_kind"),
    Index("ix_calendar_days_year", "year"),
)


class CalendarError(ValueError):
    """A refused calendar: ``code`` is stable (the API's reason code), ``field`` names the
    list (``holidays``, ``workdays``) or ``year``, ``params`` the values in the sentence."""

    def __init__(
        self, code: str, message: str, field: str, params: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.params = dict(params or {})


@dataclass(frozen=True)
class Days:
    """One year's holidays and make-up working days, each list in order."""

    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()


@dataclass(frozen=True)
class YearCalendar:
    """A year's calendar as deadlines use it, and where it came from.

    ``holidays`` / ``workdays`` are the days in force: the table's when it has the year
    (``source`` ``"table"``), else the package's (``"package"``), else none (``"none"``:
    Monday to Friday). ``package`` is what the package says, for comparison (None when
    it does not know the year); ``set_by`` / ``set_at`` tell who last set the table's days.
    """

    year: int
    source: Source
    holidays: tuple[date, ...]
    workdays: tuple[date, ...]
    package: Days | None
    set_by: str | None = None
    set_at: datetime | None = None


@cache
def _package_index() -> tuple[range, dict[int, Days]]:
    holidays: dict[int, list[date]] = {}
    workdays: dict[int, list[date]] = {}
    for day in chinese_calendar.holidays:
        holidays.setdefault(day.year, []).append(day)
    for day in chinese_calendar.workdays:
        workdays.setdefault(day.year, []).append(day)
    known = range(min(holidays), max(holidays) + 1)
    years = {
        year: Days(tuple(sorted(holidays.get(year, ()))), tuple(sorted(workdays.get(year, ()))))
        for year in known
    }
    return known, years


def package_years() -> range:
    """The years the ``chinese-calendar`` package knows."""
    return _package_index()[0]


def package_days(year: int) -> Days | None:
    """The package's holidays and make-up working days of ``year``; None if it does not know it."""
    return _package_index()[1].get(year)


def _table_days(conn: Connection, years: Iterable[int]) -> dict[int, list[Any]]:
    wanted = sorted(set(years))
    found: dict[int, list[Any]] = {}
    if not wanted:
        return found
    rows = conn.execute(
        select(calendar_days).where(calendar_days.c.year.in_(wanted)).order_by(calendar_days.c.day)
    )
    for row in rows:
        found.setdefault(row.year, []).append(row)
    return found


def year_of(year: int, *, db: Db) -> YearCalendar:
    """``year``'s calendar: the days in force, where they come from, and the package's."""
    package = package_days(year)
    with connected(db) as conn:
        rows = _table_days(conn, [year]).get(year)
    if rows:
        latest = max(rows, key=lambda r: r.set_at)
        return YearCalendar(
            year,
            "table",
            tuple(r.day for r in rows if r.kind == HOLIDAY),
            tuple(r.day for r in rows if r.kind == WORKDAY),
            package,
            latest.set_by,
            latest.set_at,
        )
    if package is not None:
        return YearCalendar(year, "package", package.holidays, package.workdays, package)
    return YearCalendar(year, "none", (), (), None)


def check_year(year: int) -> None:
    """Refuses a year outside ``FIRST_YEAR``..``LAST_YEAR``."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise CalendarError(
            "year_out_of_range",
            f"the year must be between {FIRST_YEAR} and {LAST_YEAR}, got {year}",
            "year",
            {"year": year, "first": FIRST_YEAR, "last": LAST_YEAR},
        )


def _check_days(year: int, days: Sequence[date], field: str) -> None:
    seen: set[date] = set()
    for day in days:
        if day.year != year:
            raise CalendarError(
                "date_outside_year",
                f"{day.isoformat()} is not in {year}",
                field,
                {"date": day.isoformat(), "year": year},
            )
        if day in seen:
            raise CalendarError(
                "duplicate_date",
                f"{day.isoformat()} is listed twice",
                field,
                {"date": day.isoformat()},
            )
        seen.add(day)


def set_year(
    year: int,
    holidays: Sequence[date],
    workdays: Sequence[date],
    by: str,
    *,
    db: Db,
) -> YearCalendar:
    """Replace ``year``'s days in the table with these (one transaction); ``by`` is the admin.

    Refused (:class:`CalendarError`, nothing written): a year outside 2000-2100
    (``year_out_of_range``), a date of another year (``date_outside_year``), a date twice in
    one list (``duplicate_date``), a date in both lists (``date_in_both``). Both lists
    empty remove the year from the table: the package's days (or Monday to Friday) apply
    again.
    """
    check_year(year)
    _check_days(year, holidays, "holidays")
    _check_days(year, workdays, "workdays")
    both = sorted(set(holidays) & set(workdays))
    if both:
        raise CalendarError(
            "date_in_both",
            f"{both[0].isoformat()} cannot be both a holiday and a working day",
            "workdays",
            {"date": both[0].isoformat()},
        )
    now = datetime.now(UTC)
    rows = [
        {"day": day, "year": year, "kind": kind, "set_by": by, "set_at": now}
        for kind, days in ((HOLIDAY, holidays), (WORKDAY, workdays))
        for day in days
    ]
    with connected(db) as conn:
        conn.execute(delete(calendar_days).where(calendar_days.c.year == year))
        if rows:
            conn.execute(insert(calendar_days), rows)
        return year_of(year, db=conn)


def load_calendar(years: Iterable[int], *, db: Db) -> WorkCalendar:
    """The working days of ``years``: the package's where it knows the year, replaced by
    the table's for the years the table has; ``known_years`` are those either knows."""
    wanted = sorted(set(years))
    with connected(db) as conn:
        table = _table_days(conn, wanted)
    holidays: set[date] = set()
    workdays: set[date] = set()
    known: set[int] = set()
    for year in wanted:
        rows = table.get(year)
        if rows:
            holidays.update(r.day for r in rows if r.kind == HOLIDAY)
            workdays.update(r.day for r in rows if r.kind == WORKDAY)
        else:
            package = package_days(year)
            if package is None:
                continue
            holidays.update(package.holidays)
            workdays.update(package.workdays)
        known.add(year)
    return WorkCalendar(frozenset(holidays), frozenset(workdays), frozenset(known))


def uses_calendar(settings: Settings) -> bool:
    """Whether deadlines consult the calendar: a rule counts working days, on real days."""
    return settings.day_seconds == DEFAULT_DAY_SECONDS and any(
        rule.unit == "workdays" for rule in parse_rules(settings.tier_rules).values()
    )


def missing_years(engine: Db, settings: Settings, today: date | None = None) -> tuple[int, ...]:
    """This year and the next (in ``CLOSELOOP_TIMEZONE``) when neither the package nor
    the table knows them, while deadlines count working days; else none."""
    if not uses_calendar(settings):
        return ()
    if today is None:
        today = datetime.now(ZoneInfo(settings.timezone)).date()
    years = (today.year, today.year + 1)
    return load_calendar(years, db=engine).missing_years(years)


class Deadlines:
    """Deadlines by the settings' rules (``CLOSELOOP_TIER_RULES``, ``CLOSELOOP_TIMEZONE``,
    ``CLOSELOOP_DAY_SECONDS``) and the calendar of the database, read at every call (an
    admin's change applies to the next deadline)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.rules = parse_rules(settings.tier_rules)
        self.tz = ZoneInfo(settings.timezone)
        self.day_seconds = settings.day_seconds

    def calendar_for(self, start: datetime) -> WorkCalendar:
        """The calendar of ``start``'s local year and the next (empty on short days)."""
        if self.day_seconds != DEFAULT_DAY_SECONDS:
            return WorkCalendar()
        year = start.astimezone(self.tz).year
        return load_calendar((year, year + 1), db=self.engine)

    def due(self, tier: Tier, start: datetime) -> datetime:
        """When a request that entered ``tier`` at ``start`` (aware) is due; aware, UTC."""
        rule = self.rules[Tier(tier)]
        calendar = self.calendar_for(start) if rule.unit == "workdays" else WorkCalendar()
        return deadline(start, rule, calendar, self.tz, self.day_seconds)


def post_rule(settings: Settings, engine: Db) -> PostRule:
    """How the projection counts the posts: the response window
    (``CLOSELOOP_RESPONSE_HOURS``, on the request's clock) and the months of
    ``CLOSELOOP_TIMEZONE``. When deadlines count working days, so does the window: its
    clock stops on the calendar's weekends and holidays (each year's calendar is read once
    per process; a rebuild counts again with the calendar as it is then)."""
    zone = ZoneInfo(settings.timezone)
    window = settings.response_seconds
    if not uses_calendar(settings):
        return PostRule(responded=wall_clock_window(window / 3600.0), zone=zone)
    calendars: dict[int, WorkCalendar] = {}

    def calendar_for(start: datetime, end: datetime) -> WorkCalendar:
        first, last = start.astimezone(zone).year, end.astimezone(zone).year
        if first not in calendars:
            calendars[first] = load_calendar(range(first, last + 2), db=engine)
        return calendars[first]

    def responded(start: datetime, accepted: datetime) -> bool:
        calendar = calendar_for(start, accepted)
        return working_seconds(start, accepted, calendar, zone) <= window

    return PostRule(responded=responded, zone=zone)
