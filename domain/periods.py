"""Assessment periods: a month (``2026-11``), a quarter (``2026Q4``), a year (``2026``) or
any span, in the office's time zone (``CLOSELOOP_TIMEZONE``).

A period knows its local start and end (end exclusive), the months it covers when it is
made of whole months (the posts' buckets are kept by month), and the period before it of
the same length (the league tables' change in rank, the hot spots' change).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
FIRST_YEAR, LAST_YEAR = 2000, 2100


class PeriodError(ValueError):
    """A period that cannot be read."""


@dataclass(frozen=True)
class Period:
    """A span of local time; ``months`` lists its ``YYYY-MM`` when it is whole months."""

    label: str  # 2026-11, 2026Q4, 2026, or from..to
    start: datetime
    end: datetime
    months: tuple[str, ...] | None

    def previous(self) -> Period:
        """The period of the same kind (or length) just before this one."""
        if self.months is not None:
            first = _month_start(self.months[0])
            count = len(self.months)
            year, month = first.year, first.month - count
            while month < 1:
                month += 12
                year -= 1
            return whole_months(year, month, count, self.start.tzinfo, _label_before(self))
        length = self.end - self.start
        return Period(
            f"{(self.start - length).isoformat()}..{self.start.isoformat()}",
            self.start - length,
            self.start,
            None,
        )


def _month_start(month: str) -> date:
    year, number = month.split("-")
    return date(int(year), int(number), 1)


def _label_before(period: Period) -> str | None:
    label = period.label
    if (m := _MONTH.match(label)) is not None:
        year, month = int(m.group(1)), int(m.group(2)) - 1
        return f"{year - 1}-12" if month == 0 else f"{year}-{month:02d}"
    if (m := _QUARTER.match(label)) is not None:
        year, quarter = int(m.group(1)), int(m.group(2)) - 1
        return f"{year - 1}Q4" if quarter == 0 else f"{year}Q{quarter}"
    if (m := _YEAR.match(label)) is not None:
        return str(int(m.group(1)) - 1)
    return None


def whole_months(
    year: int, month: int, count: int, zone: tzinfo | None, label: str | None = None
) -> Period:
    """``count`` months from ``year``-``month``, local midnight to local midnight."""
    months = []
    y, m = year, month
    for _ in range(count):
        months.append(f"{y:04d}-{m:02d}")
        m += 1
        if m > 12:
            m, y = 1, y + 1
    start = datetime.combine(date(year, month, 1), time(), zone)
    end = datetime.combine(date(y, m, 1), time(), zone)
    return Period(label or f"{months[0]}..{months[-1]}", start, end, tuple(months))


def parse_period(text: str, zone: tzinfo) -> Period:
    """``2026-11``, ``2026Q4`` or ``2026``; raises :class:`PeriodError` with the reason."""
    text = text.strip()
    if (m := _MONTH.match(text)) is not None:
        year, month = int(m.group(1)), int(m.group(2))
        _check_year(year, text)
        if not 1 <= month <= 12:
            raise PeriodError(f"{text!r} has no month {month}: use 01 to 12")
        return whole_months(year, month, 1, zone, text)
    if (m := _QUARTER.match(text)) is not None:
        year, quarter = int(m.group(1)), int(m.group(2))
        _check_year(year, text)
        return whole_months(year, 3 * quarter - 2, 3, zone, f"{year}Q{quarter}")
    if (m := _YEAR.match(text)) is not None:
        year = int(m.group(1))
        _check_year(year, text)
        return whole_months(year, 1, 12, zone, text)
    raise PeriodError(
        f"{text[:40]!r} is not a period: write a month (2026-11), a quarter (2026Q4) "
        "or a year (2026)"
    )


def _check_year(year: int, text: str) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PeriodError(f"{text!r}: the year must be {FIRST_YEAR} to {LAST_YEAR}")


def span(start: datetime, end: datetime, zone: tzinfo) -> Period:
    """Any span ``[start, end)``; whole months when both ends are local month starts."""
    if end <= start:
        raise PeriodError("'from' must be before 'to'")
    if end - start > timedelta(days=366 * 5):
        raise PeriodError("a period may last at most five years")
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if _is_month_start(local_start) and _is_month_start(local_end):
        count = (local_end.year - local_start.year) * 12 + local_end.month - local_start.month
        period = whole_months(local_start.year, local_start.month, count, zone)
        return Period(f"{start.isoformat()}..{end.isoformat()}", start, end, period.months)
    return Period(f"{start.isoformat()}..{end.isoformat()}", start, end, None)


def _is_month_start(at: datetime) -> bool:
    return at.day == 1 and at.time() == time()


def current_month(now: datetime, zone: tzinfo) -> Period:
    local = now.astimezone(zone)
    return whole_months(local.year, local.month, 1, zone, f"{local.year:04d}-{local.month:02d}")


def weeks_before(now: datetime, zone: tzinfo, count: int) -> list[tuple[date, datetime, datetime]]:
    """The last ``count`` local weeks (Monday to Monday), the current one last: each its
    Monday, start and end."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    weeks = []
    for back in range(count - 1, -1, -1):
        first = monday - timedelta(weeks=back)
        weeks.append(
            (
                first,
                datetime.combine(first, time(), zone),
                datetime.combine(first + timedelta(days=7), time(), zone),
            )
        )
    return weeks
