"""Deadlines in working days: each tier's rule, the calendar of working days, one function.

The 1351 ladder's limits read "1 day, 3 days, 5 days, 1 month"; the offices that keep them
count 3 and 5 in working days (工作日), which in China are Monday to Friday minus the
statutory holidays, plus the make-up working days (调休上班) the State Council's yearly
notice moves onto weekends. Each tier has a :class:`TierRule`; the setting
``CLOSELOOP_TIER_RULES`` spells them as ``1d=24h,3d=3wd,5d=5wd,1m=1M``
(:func:`parse_rules`). :class:`WorkCalendar` says which days are working days;
:func:`deadline` is the rule.

Pure: no I/O and nothing but the standard library, so a Temporal workflow may import it.
Where the calendar's days come from (the ``chinese-calendar`` package, the admins' table)
is :mod:`closeloop.workcalendar`'s business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from domain.ladder import DEFAULT_DAY_SECONDS, Tier

Unit = Literal["hours", "workdays", "days", "months"]

#: The suffix of each unit in a rule's text: ``24h``, ``3wd``, ``7d``, ``1M``.
SUFFIXES: dict[str, Unit] = {"h": "hours", "wd": "workdays", "d": "days", "M": "months"}
UNIT_SUFFIX: dict[Unit, str] = {unit: suffix for suffix, unit in SUFFIXES.items()}

#: A month of the compressed demo clock, in its days (as ``domain.ladder`` counts it).
COMPRESSED_MONTH_DAYS = 30

#: How far :func:`deadline` looks for the next working day before it gives up.
MAX_SEARCH_DAYS = 800


@dataclass(frozen=True)
class TierRule:
    """A tier's time limit: ``amount`` hours, working days, calendar days or months."""

    unit: Unit
    amount: int

    def __post_init__(self) -> None:
        if self.unit not in UNIT_SUFFIX:
            raise ValueError(f"unit must be one of {', '.join(UNIT_SUFFIX)}, got {self.unit!r}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise ValueError(f"amount must be a whole number, got {self.amount!r}")
        if self.amount < 1:
            raise ValueError(f"amount must be at least 1, got {self.amount}")

    def __str__(self) -> str:
        return f"{self.amount}{UNIT_SUFFIX[self.unit]}"


#: The rules as the setting spells them by default.
DEFAULT_RULES_TEXT = "1d=24h,3d=3wd,5d=5wd,1m=1M"


def _parse_rule(tier: str, text: str) -> TierRule:
    digits = len(text) - len(text.lstrip("0123456789"))
    number, suffix = text[:digits], text[digits:]
    if not number:
        raise ValueError(f"the rule of {tier} must start with a number, got {text!r}")
    if suffix not in SUFFIXES:
        raise ValueError(
            f"the rule of {tier} must end in h (hours), wd (working days), d (calendar days) "
            f"or M (calendar months), got {text!r}"
        )
    amount = int(number)
    if amount < 1:
        raise ValueError(f"the rule of {tier} must be at least 1, got {text!r}")
    return TierRule(SUFFIXES[suffix], amount)


def parse_rules(text: str) -> dict[Tier, TierRule]:
    """The rules of ``tier=rule`` pairs separated by commas, e.g. ``1d=24h,3d=3wd,5d=5wd,1m=1M``.

    Every tier (1d, 3d, 5d, 1m) appears exactly once; a rule is a whole number of at least
    1 followed by ``h`` (hours), ``wd`` (working days), ``d`` (calendar days) or ``M``
    (calendar months; the capital tells it from minutes). Spaces around the parts are
    ignored. A :class:`ValueError` says what is wrong.
    """
    rules: dict[Tier, TierRule] = {}
    tiers = ", ".join(t.value for t in Tier)
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"an empty entry in {text!r}: write tier=rule pairs with commas")
        name, equals, rule = part.partition("=")
        name, rule = name.strip(), rule.strip()
        if not equals:
            raise ValueError(f"{part!r} must be tier=rule, e.g. 3d=3wd")
        try:
            tier = Tier(name)
        except ValueError:
            raise ValueError(f"{name!r} is not a tier: use {tiers}") from None
        if tier in rules:
            raise ValueError(f"the tier {tier.value} has two rules")
        rules[tier] = _parse_rule(tier.value, rule)
    missing = [t.value for t in Tier if t not in rules]
    if missing:
        raise ValueError(f"no rule for {', '.join(missing)}: every tier ({tiers}) needs one")
    return rules


def format_rules(rules: Mapping[Tier, TierRule]) -> str:
    """The setting's text for ``rules`` (what :func:`parse_rules` reads back)."""
    return ",".join(f"{tier.value}={rules[tier]}" for tier in Tier if tier in rules)


DEFAULT_RULES: Mapping[Tier, TierRule] = parse_rules(DEFAULT_RULES_TEXT)


@dataclass(frozen=True)
class WorkCalendar:
    """Which days are working days.

    ``holidays`` are days off although they may fall Monday to Friday; ``workdays`` are
    make-up working days although they may fall on a weekend. Every other day is a working
    day from Monday to Friday. ``known_years`` are the years whose holidays are known (by
    the package or the admins' table); for any other year the Monday-Friday rule is a
    guess, and :meth:`missing_years` names it.
    """

    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)
    known_years: frozenset[int] = field(default_factory=frozenset)

    def is_workday(self, day: date) -> bool:
        """A listed make-up day is a working day, a listed holiday is not, else Mon-Fri."""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def missing_years(self, years: Iterable[int]) -> tuple[int, ...]:
        """Those of ``years`` whose calendar is not known, in order."""
        return tuple(sorted({y for y in years if y not in self.known_years}))

    def next_workday(self, day: date) -> date:
        """The first working day after ``day``."""
        for offset in range(1, MAX_SEARCH_DAYS + 1):
            candidate = day + timedelta(days=offset)
            if self.is_workday(candidate):
                return candidate
        raise ValueError(f"no working day within {MAX_SEARCH_DAYS} days after {day}")


def _days_in_month(year: int, month: int) -> int:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (following - date(year, month, 1)).days


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's last day (Jan 31 + 1: Feb 28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, _days_in_month(year, month)))


def _at(day: date, local: datetime, tz: tzinfo) -> datetime:
    """``local``'s wall-clock time on ``day`` in ``tz``, in UTC."""
    return datetime.combine(day, local.time(), tzinfo=tz).astimezone(UTC)


def deadline(
    start: datetime,
    rule: TierRule,
    calendar: WorkCalendar,
    tz: tzinfo,
    day_seconds: float = DEFAULT_DAY_SECONDS,
) -> datetime:
    """When a request that entered a tier at ``start`` is due under ``rule``; aware, in UTC.

    ``start`` must be aware. Days, months and working days are those of ``tz`` (the local
    time zone, ``CLOSELOOP_TIMEZONE``).

    - ``hours``: ``amount`` hours after ``start``.
    - ``days``: the same local time ``amount`` calendar days later.
    - ``months``: the same local time and day of the month ``amount`` months later; past
      the end of a shorter month, its last day (Jan 31 + 1 month: Feb 28 or 29).
    - ``workdays``: the same local time of day on the ``amount``-th working day after
      ``start``'s local date. Filed on Friday 10:00 before the National Day week, a 1-working-day
      request is due at 10:00 on the first working day after it. A ``start`` on a day that is
      not a working day (a weekend, a holiday) counts as 00:00 of the next working day: the
      deadline is then 00:00 of the ``amount``-th working day after that one, which leaves
      ``amount`` whole working days (filed on Saturday, 3 working days: due Thursday 00:00,
      the end of Wednesday, in a week without holidays).

    Compressed clock: when ``day_seconds`` is not 86400 (the demo's short days) every rule
    counts calendar days of ``day_seconds`` seconds, exactly as
    :func:`domain.ladder.deadline_for`: an hour is ``day_seconds / 24``, a working day or a
    day is ``day_seconds``, a month 30 days; the calendar is not consulted.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start must be an aware datetime, got {start!r}")
    if day_seconds != DEFAULT_DAY_SECONDS:
        days = {
            "hours": rule.amount / 24,
            "workdays": rule.amount,
            "days": rule.amount,
            "months": rule.amount * COMPRESSED_MONTH_DAYS,
        }[rule.unit]
        return (start + timedelta(seconds=days * day_seconds)).astimezone(UTC)
    if rule.unit == "hours":
        return (start + timedelta(hours=rule.amount)).astimezone(UTC)
    local = start.astimezone(tz)
    if rule.unit == "days":
        return _at(local.date() + timedelta(days=rule.amount), local, tz)
    if rule.unit == "months":
        return _at(add_months(local.date(), rule.amount), local, tz)
    day = local.date()
    if not calendar.is_workday(day):
        day = calendar.next_workday(day)
        local = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    for _ in range(rule.amount):
        day = calendar.next_workday(day)
    return _at(day, local, tz)


def working_seconds(start: datetime, end: datetime, calendar: WorkCalendar, tz: tzinfo) -> float:
    """The seconds from ``start`` to ``end`` that fall on working days (local days of
    ``tz``): the clock of a response window stops on weekends and holidays."""
    if end <= start:
        return 0.0
    total = 0.0
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    while day <= last:
        if calendar.is_workday(day):
            begins = max(start, datetime.combine(day, time(), tz))
            ends = min(end, datetime.combine(day + timedelta(days=1), time(), tz))
            total += max((ends - begins).total_seconds(), 0.0)
        day += timedelta(days=1)
    return total
