"""Working-day deadlines across the 2026 Spring Festival and National Day, as published.

The calendar here is the State Council General Office's notice on the 2026 holidays
(国务院办公厅关于2026年部分节假日安排的通知), written out by hand; the first test checks that
the ``chinese-calendar`` package says the same.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from closeloop.workcalendar import package_days
from domain.ladder import Tier, deadline_for
from domain.workdays import (
    DEFAULT_RULES,
    DEFAULT_RULES_TEXT,
    TierRule,
    WorkCalendar,
    add_months,
    deadline,
    format_rules,
    parse_rules,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


#: 2026 as published: 元旦 Jan 1-3 (work Sun Jan 4); 春节 Feb 15-23 (work Sat Feb 14, Sat
#: Feb 28); 清明 Apr 4-6; 劳动节 May 1-5 (work Sat May 9); 端午 Jun 19-21; 中秋 Sep 25-27;
#: 国庆 Oct 1-7 (work Sun Sep 20, Sat Oct 10).
HOLIDAYS_2026 = frozenset(
    _span(date(2026, 1, 1), date(2026, 1, 3))
    + _span(date(2026, 2, 15), date(2026, 2, 23))
    + _span(date(2026, 4, 4), date(2026, 4, 6))
    + _span(date(2026, 5, 1), date(2026, 5, 5))
    + _span(date(2026, 6, 19), date(2026, 6, 21))
    + _span(date(2026, 9, 25), date(2026, 9, 27))
    + _span(date(2026, 10, 1), date(2026, 10, 7))
)
WORKDAYS_2026 = frozenset(
    {
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    }
)
CALENDAR = WorkCalendar(HOLIDAYS_2026, WORKDAYS_2026, frozenset({2026}))

WD1, WD3, WD5 = TierRule("workdays", 1), TierRule("workdays", 3), TierRule("workdays", 5)


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time, aware."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def due(start: datetime, rule: TierRule, calendar: WorkCalendar = CALENDAR) -> datetime:
    result = deadline(start, rule, calendar, SHANGHAI)
    assert result.tzinfo is UTC
    return result


def test_the_package_knows_2026_as_published() -> None:
    days = package_days(2026)
    assert days is not None
    assert set(days.holidays) == HOLIDAYS_2026
    assert set(days.workdays) == WORKDAYS_2026


def test_the_make_up_saturdays_and_sunday_are_working_days() -> None:
    for day in (date(2026, 2, 14), date(2026, 2, 28), date(2026, 9, 20), date(2026, 10, 10)):
        assert day.weekday() >= 5 and CALENDAR.is_workday(day), day
    for day in (date(2026, 2, 16), date(2026, 2, 23), date(2026, 10, 1), date(2026, 10, 7)):
        assert day.weekday() < 5 and not CALENDAR.is_workday(day), day
    assert not CALENDAR.is_workday(date(2026, 3, 7))  # an ordinary Saturday
    assert CALENDAR.is_workday(date(2026, 3, 9))  # an ordinary Monday


# --- Spring Festival: holiday Sun Feb 15 - Mon Feb 23, make-up Sat Feb 14 and Sat Feb 28 ---


@pytest.mark.parametrize(
    ("start", "rule", "expected"),
    [
        # Friday before: the make-up Saturday counts, then nothing until Tue Feb 24
        (at(2026, 2, 13), WD1, at(2026, 2, 14)),
        (at(2026, 2, 13), WD3, at(2026, 2, 25)),
        (at(2026, 2, 13), WD5, at(2026, 2, 27)),
        (at(2026, 2, 12, 16, 30), WD3, at(2026, 2, 24, 16, 30)),
        # filed on the make-up Saturday itself: a working day
        (at(2026, 2, 14, 9), WD1, at(2026, 2, 24, 9)),
        # filed in the holiday: counted from Tue Feb 24 00:00
        (at(2026, 2, 18, 15), WD1, at(2026, 2, 25, 0)),
        (at(2026, 2, 18, 15), WD3, at(2026, 2, 27, 0)),
        (at(2026, 2, 23, 23, 59), WD5, at(2026, 3, 2, 0)),  # whole days 24-27, Sat 28
        # the second make-up Saturday, Feb 28
        (at(2026, 2, 26), WD3, at(2026, 3, 2)),  # Fri 27, Sat 28, Mon Mar 2
        (at(2026, 2, 27, 17), WD1, at(2026, 2, 28, 17)),
        (at(2026, 2, 28, 9), WD1, at(2026, 3, 2, 9)),
    ],
)
def test_spring_festival(start: datetime, rule: TierRule, expected: datetime) -> None:
    assert due(start, rule) == expected


# --- National Day: Mid-Autumn Fri Sep 25 - Sun Sep 27, holiday Oct 1-7, make-up Sun Sep 20
# --- and Sat Oct 10 ---


@pytest.mark.parametrize(
    ("start", "rule", "expected"),
    [
        (at(2026, 9, 18), WD1, at(2026, 9, 20)),  # Fri: the make-up Sunday is next
        (at(2026, 9, 18), WD3, at(2026, 9, 22)),  # Sun 20, Mon 21, Tue 22
        (at(2026, 9, 19, 11), WD1, at(2026, 9, 21, 0)),  # Sat: counted from Sun 20 00:00
        (at(2026, 9, 24), WD3, at(2026, 9, 30)),  # past Mid-Autumn: 28, 29, 30
        (at(2026, 9, 30, 10), WD1, at(2026, 10, 8, 10)),  # Friday 10:00 rule, before the week
        (at(2026, 9, 30, 10), WD5, at(2026, 10, 13, 10)),  # 8, 9, Sat 10, 12, 13
        (at(2026, 10, 3, 20), WD3, at(2026, 10, 12, 0)),  # from Thu Oct 8 00:00: 9, 10, 12
        (at(2026, 10, 9, 16), WD1, at(2026, 10, 10, 16)),
        (at(2026, 10, 10, 16), WD1, at(2026, 10, 12, 16)),
    ],
)
def test_national_day(start: datetime, rule: TierRule, expected: datetime) -> None:
    assert due(start, rule) == expected


def test_working_days_are_those_of_the_local_date_whatever_the_zone_of_start() -> None:
    # Thu Feb 12 20:00 UTC is Fri Feb 13 04:00 in Shanghai: a Friday start
    start = datetime(2026, 2, 12, 20, 0, tzinfo=UTC)
    assert due(start, WD1) == at(2026, 2, 14, 4)
    assert due(start, WD1) == datetime(2026, 2, 13, 20, 0, tzinfo=UTC)


def test_hours_ignore_the_calendar() -> None:
    assert due(at(2026, 2, 14, 10), TierRule("hours", 24)) == at(2026, 2, 15, 10)
    assert due(at(2026, 10, 1, 10), TierRule("hours", 36)) == at(2026, 10, 2, 22)


def test_calendar_days_ignore_the_calendar() -> None:
    assert due(at(2026, 2, 13), TierRule("days", 3)) == at(2026, 2, 16)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (at(2026, 1, 31), 1, at(2026, 2, 28)),
        (at(2028, 1, 31), 1, at(2028, 2, 29)),  # leap year
        (at(2026, 3, 31), 1, at(2026, 4, 30)),
        (at(2026, 1, 15), 1, at(2026, 2, 15)),  # a holiday, but months are calendar months
        (at(2026, 12, 31, 23, 30), 1, at(2027, 1, 31, 23, 30)),
        (at(2026, 11, 30), 3, at(2027, 2, 28)),
    ],
)
def test_months_clamp_to_the_months_last_day(
    start: datetime, months: int, expected: datetime
) -> None:
    assert due(start, TierRule("months", months)) == expected


def test_months_count_in_local_time() -> None:
    # Jan 31 20:00 UTC is already Feb 1 04:00 in Shanghai: due Mar 1 04:00 there
    start = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)
    assert due(start, TierRule("months", 1)) == at(2026, 3, 1, 4)


def test_add_months() -> None:
    assert add_months(date(2026, 8, 31), 1) == date(2026, 9, 30)
    assert add_months(date(2026, 12, 1), 13) == date(2028, 1, 1)


@pytest.mark.parametrize("day_seconds", [1.0, 5.0, 20.0, 3600.0])
def test_the_compressed_clock_counts_calendar_days_as_the_ladder_does(day_seconds: float) -> None:
    start = at(2026, 2, 13)  # a Friday before the Spring Festival: the calendar is ignored
    for tier in Tier:
        expected = deadline_for(tier, start, day_seconds)
        got = deadline(start, DEFAULT_RULES[tier], CALENDAR, SHANGHAI, day_seconds)
        assert got == expected, tier
    assert deadline(start, TierRule("hours", 12), CALENDAR, SHANGHAI, 20.0) == start + timedelta(
        seconds=10
    )


def test_on_real_days_the_24_hour_tier_is_the_ladder_s_day() -> None:
    start = at(2026, 2, 13)
    assert due(start, DEFAULT_RULES[Tier.D1]) == deadline_for(Tier.D1, start, 86400)


def test_a_year_nobody_knows_falls_back_to_monday_to_friday() -> None:
    empty = WorkCalendar()
    # 2027-01-01 is a Friday: a holiday everywhere, but this calendar does not know
    assert empty.is_workday(date(2027, 1, 1))
    assert due(at(2027, 1, 1), WD1, empty) == at(2027, 1, 4)  # Fri -> Mon
    assert due(at(2027, 1, 2), WD1, empty) == at(2027, 1, 5, 0)  # Sat -> from Mon 00:00
    assert due(at(2027, 1, 6), WD5, empty) == at(2027, 1, 13)
    assert empty.missing_years([2027, 2026, 2027]) == (2026, 2027)
    assert CALENDAR.missing_years([2026, 2027]) == (2027,)


def test_a_listed_day_wins_over_the_weekday() -> None:
    # what closeloop.workcalendar builds when the admins' table changes the package's year
    table = WorkCalendar(
        HOLIDAYS_2026 - {date(2026, 2, 23)} | {date(2026, 2, 24)},
        WORKDAYS_2026 - {date(2026, 2, 14)},
        frozenset({2026}),
    )
    assert table.is_workday(date(2026, 2, 23)) and not table.is_workday(date(2026, 2, 24))
    assert not table.is_workday(date(2026, 2, 14))
    assert due(at(2026, 2, 13), WD1, table) == at(2026, 2, 23)
    # a day in both lists (the API refuses it) counts as a working day
    both = WorkCalendar(frozenset({date(2026, 3, 9)}), frozenset({date(2026, 3, 9)}))
    assert both.is_workday(date(2026, 3, 9))


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        deadline(datetime(2026, 2, 13, 10), WD1, CALENDAR, SHANGHAI)


def test_the_default_rules() -> None:
    assert dict(DEFAULT_RULES) == {
        Tier.D1: TierRule("hours", 24),
        Tier.D3: TierRule("workdays", 3),
        Tier.D5: TierRule("workdays", 5),
        Tier.M1: TierRule("months", 1),
    }
    assert format_rules(DEFAULT_RULES) == DEFAULT_RULES_TEXT


def test_rules_parse_with_spaces_and_any_order() -> None:
    rules = parse_rules(" 1m = 30d , 5d=7d,3d=2wd, 1d=1wd ")
    assert rules == {
        Tier.D1: TierRule("workdays", 1),
        Tier.D3: TierRule("workdays", 2),
        Tier.D5: TierRule("days", 7),
        Tier.M1: TierRule("days", 30),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty entry"),
        ("1d=24h,3d=3wd,5d=5wd", "no rule for 1m"),
        ("1d=24h,3d=3wd,5d=5wd,1m=1M,3d=4wd", "two rules"),
        ("2d=24h,3d=3wd,5d=5wd,1m=1M", "'2d' is not a tier"),
        ("1d:24h,3d=3wd,5d=5wd,1m=1M", "must be tier=rule"),
        ("1d=24,3d=3wd,5d=5wd,1m=1M", "must end in h"),
        ("1d=24h,3d=3wd,5d=5wd,1m=1m", "must end in h"),  # minutes? months are M
        ("1d=h,3d=3wd,5d=5wd,1m=1M", "must start with a number"),
        ("1d=0h,3d=3wd,5d=5wd,1m=1M", "at least 1"),
        ("1d=24h,,3d=3wd,5d=5wd,1m=1M", "empty entry"),
    ],
)
def test_a_bad_rule_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rules(text)


def test_a_rule_needs_a_unit_and_a_positive_amount() -> None:
    with pytest.raises(ValueError, match="unit"):
        TierRule("weeks", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        TierRule("hours", 0)
    assert str(TierRule("workdays", 3)) == "3wd"
