"""The sane range of every paging and date parameter, one definition for the API and pages.

Without bounds a caller can ask for what the stores cannot answer: ``offset=10**20`` does
not fit SQLite's or PostgreSQL's integers, and a period in year 1 or 9999 overflows the
moment a day is added or a time zone applied. Those were server errors; a value outside
the range here is a 422 ``invalid_input`` naming the parameter, before any query runs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

#: A page holds at most this many items.
MAX_LIMIT = 500
#: Paging goes at most this far; further needs a narrower filter.
MAX_OFFSET = 100_000
#: The dates a period may start or end on (inclusive).
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)

#: The pydantic error type (and ``loc``'s message) of a date outside the range.
DATE_ERROR = "date_out_of_range"
DATE_MESSAGE = "must be between {earliest} and {latest}"

#: The years a working-day calendar may be read or set for (``/calendar/{year}``).
FIRST_YEAR = EARLIEST.year
LAST_YEAR = LATEST.year
Year = Annotated[
    int, Path(ge=FIRST_YEAR, le=LAST_YEAR, description=f"a year, {FIRST_YEAR} to {LAST_YEAR}")
]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"items per page, 1 to {MAX_LIMIT}")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"items to skip, 0 to {MAX_OFFSET}")]


def date_error(value: date) -> PydanticCustomError | None:
    """Why ``value`` (a date, or a time's UTC-independent date) is out of range; else None."""
    day = value.date() if isinstance(value, datetime) else value
    if EARLIEST <= day <= LATEST:
        return None
    return PydanticCustomError(
        DATE_ERROR,
        DATE_MESSAGE,
        {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()},
    )


def _in_range(value: datetime | date) -> datetime | date:
    error = date_error(value)
    if error is not None:
        raise error
    return value


#: A period's end: a date (midnight UTC) or an ISO time, between EARLIEST and LATEST.
Instant = Annotated[datetime | date, AfterValidator(_in_range)]


def refuse_date(name: str, value: Any) -> RequestValidationError:
    """The API's 422 for a query date a page route read itself (``name`` as in the URL)."""
    return RequestValidationError(
        [
            {
                "type": DATE_ERROR,
                "loc": ("query", name),
                "msg": DATE_MESSAGE.format(earliest=EARLIEST, latest=LATEST),
                "input": value,
                "ctx": {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()},
            }
        ]
    )
