"""Quiet hours: the local hours in which residents get no text message (SMS); a message
due then waits for their end.

``(22, 8)`` is from 22:00 to 08:00 local time, across midnight; ``(1, 5)`` from 01:00 to
05:00 of one night. The start hour is in, the end hour is out: at 22:00 a message waits,
at 08:00 it goes.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def in_quiet_hours(hour: int, hours: tuple[int, int]) -> bool:
    """Whether the local ``hour`` (0-23) falls in ``hours`` (from, to)."""
    start, end = hours
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end  # across midnight


def quiet_until(now: datetime, hours: tuple[int, int] | None, zone: str) -> datetime | None:
    """When ``now`` falls in the quiet ``hours`` of the time zone ``zone``, the next end of
    them (in UTC); else None. ``hours`` None: no quiet hours. A naive ``now`` is UTC."""
    if hours is None:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    if not in_quiet_hours(local.hour, hours):
        return None
    day = local.date()
    end = datetime.combine(day, time(hours[1]), tzinfo=tz)
    if end <= local:  # the end hour is tomorrow's
        end = datetime.combine(day + timedelta(days=1), time(hours[1]), tzinfo=tz)
    return end.astimezone(UTC)
