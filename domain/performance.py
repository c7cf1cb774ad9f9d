"""Posts and their figures: how each level's handling of a request is counted (考核).

A request passes through *posts*: a level on a unit (the grid worker of grid 3, the
community committee of community 2, ...). Each stay of the request at a post is a
:class:`Stint`; it starts when the post is given the request (filed, dispatched,
escalated, re-tiered, redirected, appealed, reopened by a review) and ends when the
request moves on (escalated by a missed deadline or by hand, re-tiered, redirected,
returned, closed as out of scope) or is closed by its review.

Everything the assessment counts is a count over stints (:data:`POST_COUNTS`), and the
three rates (三率) are quotients of those counts (:data:`RATES`):

- response rate (响应率): stints accepted within the response window / stints assigned;
- resolution rate (解决率): stints resolved at that post and not reopened / assigned;
- satisfaction rate (满意率): satisfied reviews / reached reviews, and per request: a
  request counts as satisfied when its last reached review is (that review's stint holds
  the request's count, no earlier one);

plus the on-time rate (resolved on time / resolved) and the reopen rate (reopened /
resolved).

A stint's *handler* is whoever accepted it ("" while nobody has): a worker's record is
the stints they accepted, and the untouched ones at their posts.

This module is pure: :class:`Stints` moves a request's stints by its recorded changes;
the read models keep them (:mod:`projections.posts`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from domain.lifecycle import Status
from domain.review import Outcome, is_satisfied
from domain.state import (
    ACCEPTED,
    APPEALED,
    CLOSED_OUT_OF_SCOPE,
    DISPATCHED,
    ESCALATED,
    FILED,
    MARKED_OVERDUE,
    MERGED,
    REDIRECTED,
    RESOLVED,
    RETIERED,
    RETURNED,
    REVIEWED,
    UNMERGED,
    URGED,
    Change,
    RequestState,
)

#: How a stint ended ("" while the request is still at the post).
ESCALATED_MISSED = "escalated"  # its deadline passed: the request went up (逐级上报)
ESCALATED_HAND = "escalated_hand"  # the handler pushed it up (上报)
ENDED_RETIERED = "retiered"  # the platform moved it to another tier
ENDED_REDIRECTED = "redirected"  # the platform moved it to another grid (改派)
ENDED_RETURNED = "returned"  # the post sent it back to the platform (退单)
ENDED_OUT_OF_SCOPE = "out_of_scope"
ENDED_REOPENED = "reopened"  # its resolution was reopened by a review
ENDED_CLOSED = "closed"  # its resolution closed the request (闭环, or unreachable)
#: merged into another request (合并): a duplicate is one piece of work with the request
#: it follows, counted at that one's posts, so its stint counts for nothing
ENDED_MERGED = "merged"

#: What each stint counts for, in this order (the columns of the figures' buckets).
POST_COUNTS: tuple[str, ...] = (
    "assigned",  # stints begun at the post (受理)
    "accepted",  # accepted at all
    "responded",  # accepted within the response window
    "resolved",  # resolved at the post
    "resolved_on_time",  # resolved before the post's deadline
    "resolved_kept",  # resolved and not reopened by a review
    "reopened",  # resolved, then reopened by a review
    "escalated_missed",  # went up because the deadline passed
    "escalated_hand",  # pushed up by hand
    "overdue",  # marked overdue at the top of the ladder
    "returned",  # sent back to the platform
    "redirected",  # moved to another grid by the platform
    "urged",  # urges received (催办)
    "reviews_reached",  # follow-up reviews that reached the resident
    "reviews_satisfied",  # ... of them satisfied
    "requests_reviewed",  # requests whose last reached review is this stint's
    "requests_satisfied",  # ... and it is satisfied
)

#: Each rate: its numerator and denominator among :data:`POST_COUNTS`.
RATES: dict[str, tuple[str, str]] = {
    "response_rate": ("responded", "assigned"),  # 响应率
    "resolution_rate": ("resolved_kept", "assigned"),  # 解决率
    "satisfaction_rate": ("reviews_satisfied", "reviews_reached"),  # 满意率, per review
    "satisfaction_rate_requests": ("requests_satisfied", "requests_reviewed"),  # per request
    "on_time_rate": ("resolved_on_time", "resolved"),
    "reopen_rate": ("reopened", "resolved"),
}
#: The three rates (三率), which the league tables rank and flag by default.
THREE_RATES: tuple[str, ...] = ("response_rate", "resolution_rate", "satisfaction_rate")

PostPart = tuple[int, ...]
POST_ZERO: PostPart = (0,) * len(POST_COUNTS)
_AT = {name: i for i, name in enumerate(POST_COUNTS)}

#: Whether a post that got a request at ``start`` and accepted it at ``accepted``
#: responded in time (the response window; see :func:`wall_clock_window`).
Responded = Callable[[datetime, datetime], bool]

DEFAULT_RESPONSE_HOURS = 2.0


def wall_clock_window(hours: float = DEFAULT_RESPONSE_HOURS) -> Responded:
    """In time when accepted at most ``hours`` after the request reached the post."""
    limit = hours * 3600.0

    def responded(start: datetime, accepted: datetime) -> bool:
        return (accepted - start).total_seconds() <= limit

    return responded


@dataclass(frozen=True)
class PostRule:
    """What the projection needs to count stints: the response window, and the time
    zone whose months the figures are kept by (``CLOSELOOP_TIMEZONE``)."""

    responded: Responded = field(default_factory=wall_clock_window)
    zone: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    def month(self, at: datetime) -> str:
        """The local month (``YYYY-MM``) a stint begun at ``at`` is counted in."""
        return at.astimezone(self.zone).strftime("%Y-%m")


@dataclass
class Stint:
    """One stay of a request at a post."""

    request_id: str
    seq: int  # 0, 1, 2, ... within the request
    level: str
    unit_id: str
    grid_id: str
    community_id: str
    town_id: str
    category: str
    started_at: datetime
    handler: str = ""  # who accepted it; "" while nobody has
    accepted_at: datetime | None = None
    responded: bool = False
    resolved_at: datetime | None = None
    on_time: bool = False
    overdue: bool = False
    ended: str = ""  # how it ended (ESCALATED_MISSED, ...); "" while current
    ended_at: datetime | None = None
    urges: int = 0
    reviews_reached: int = 0
    reviews_satisfied: int = 0
    last_satisfied: bool | None = None  # its last reached review's verdict; None: none
    final: bool = False  # it holds the request's last reached review (set by Stints)
    #: a duplicate's stay at the post that resolved its primary (合并): it counts its
    #: resident's reviews there and nothing else (the work is the primary's stint's)
    followed: bool = False

    @property
    def current(self) -> bool:
        return not self.ended

    @property
    def resolve_seconds(self) -> float | None:
        """From reaching the post to its resolution; None while unresolved."""
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.started_at).total_seconds()

    def part(self) -> PostPart:
        """What this stint counts for (:data:`POST_COUNTS`)."""
        if self.ended == ENDED_MERGED:
            return POST_ZERO
        part = [0] * len(POST_COUNTS)
        part[_AT["assigned"]] = 0 if self.followed else 1
        if self.accepted_at is not None:
            part[_AT["accepted"]] = 1
            if self.responded:
                part[_AT["responded"]] = 1
        if self.resolved_at is not None:
            part[_AT["resolved"]] = 1
            if self.on_time:
                part[_AT["resolved_on_time"]] = 1
            if self.ended == ENDED_REOPENED:
                part[_AT["reopened"]] = 1
            else:
                part[_AT["resolved_kept"]] = 1
        if self.ended == ESCALATED_MISSED:
            part[_AT["escalated_missed"]] = 1
        elif self.ended == ESCALATED_HAND:
            part[_AT["escalated_hand"]] = 1
        elif self.ended == ENDED_RETURNED:
            part[_AT["returned"]] = 1
        elif self.ended == ENDED_REDIRECTED:
            part[_AT["redirected"]] = 1
        if self.overdue:
            part[_AT["overdue"]] = 1
        part[_AT["urged"]] = self.urges
        part[_AT["reviews_reached"]] = self.reviews_reached
        part[_AT["reviews_satisfied"]] = self.reviews_satisfied
        if self.final:
            part[_AT["requests_reviewed"]] = 1
            if self.last_satisfied:
                part[_AT["requests_satisfied"]] = 1
        return tuple(part)

    def row(self) -> dict[str, Any]:
        """The stint as a row of ``view_posts``."""
        return {
            "request_id": self.request_id,
            "seq": self.seq,
            "level": self.level,
            "unit_id": self.unit_id,
            "grid_id": self.grid_id,
            "community_id": self.community_id,
            "town_id": self.town_id,
            "category": self.category,
            "started_at": self.started_at,
            "handler": self.handler,
            "accepted_at": self.accepted_at,
            "responded": self.responded,
            "resolved_at": self.resolved_at,
            "on_time": self.on_time,
            "overdue": self.overdue,
            "ended": self.ended,
            "ended_at": self.ended_at,
            "urges": self.urges,
            "reviews_reached": self.reviews_reached,
            "reviews_satisfied": self.reviews_satisfied,
            "last_satisfied": self.last_satisfied,
            "final": self.final,
            "followed": self.followed,
        }

    @classmethod
    def from_row(cls, row: Any) -> Stint:
        m = row._mapping if hasattr(row, "_mapping") else row
        return cls(**{name: m[name] for name in _FIELDS})


_FIELDS: tuple[str, ...] = tuple(Stint.__dataclass_fields__)

#: The changes that begin a stint at the post the request is at afterwards.
_BEGINS = frozenset({FILED, DISPATCHED, ESCALATED, RETIERED, REDIRECTED, APPEALED, UNMERGED})
#: The changes that end the current stint, and how.
_ENDS = {
    RETIERED: ENDED_RETIERED,
    REDIRECTED: ENDED_REDIRECTED,
    RETURNED: ENDED_RETURNED,
    CLOSED_OUT_OF_SCOPE: ENDED_OUT_OF_SCOPE,
    MERGED: ENDED_MERGED,
}
#: The changes that move stints at all (the others leave them as they are).
MOVING = frozenset(
    {*_BEGINS, *_ENDS, ACCEPTED, RESOLVED, REVIEWED, URGED, MARKED_OVERDUE, ESCALATED}
)


@dataclass
class Stints:
    """A request's stints, oldest first; :meth:`apply` moves them by one change."""

    request_id: str
    items: list[Stint] = field(default_factory=list)
    #: the stints moved since :meth:`saved` (by seq), and how many were saved before
    moved: set[int] = field(default_factory=set)
    stored: int = 0

    @classmethod
    def of(cls, request_id: str, stints: Iterable[Stint]) -> Stints:
        items = sorted(stints, key=lambda s: s.seq)
        return cls(request_id, items, stored=len(items))

    def saved(self) -> None:
        """The moved stints are written: nothing is moved now."""
        self.moved.clear()
        self.stored = len(self.items)

    @property
    def last(self) -> Stint | None:
        return self.items[-1] if self.items else None

    def apply(self, change: Change, after: RequestState, responded: Responded) -> bool:
        """Move the stints by ``change``, ``after`` being the request's state once it is
        applied; returns whether anything moved."""
        kind = change.type
        if kind not in MOVING:
            return False
        at = change.at
        d = change.data
        last = self.last
        current = last if last is not None and last.current else None
        if current is not None:
            self.moved.add(current.seq)
        if kind == ACCEPTED and current is not None:
            current.accepted_at = at
            current.handler = change.actor
            current.responded = responded(current.started_at, at)
        elif kind == RESOLVED and current is not None:
            current.resolved_at = at
            current.on_time = bool(d.get("on_time", True))
        elif kind == RESOLVED and d.get("post"):
            # a duplicate resolved with its primary: its resident's review counts at the
            # post that resolved it, in a stint that counts nothing else
            self._begin_followed(d["post"], after, change.actor, at)
        elif kind == URGED and current is not None:
            current.urges += 1
        elif kind == MARKED_OVERDUE and current is not None:
            current.overdue = True
        elif kind == REVIEWED and current is not None:
            self._review(current, change, after)
        elif kind == REVIEWED and after.status is Status.ASSIGNED:
            # a duplicate resolved with its primary (no stint of its own) was reopened by
            # its resident's review: its own work again, at its own post
            self._begin(after, at)
        elif kind == ESCALATED and current is not None:
            self._end(current, ESCALATED_MISSED if d.get("automatic") else ESCALATED_HAND, at)
        elif kind in _ENDS and current is not None:
            self._end(current, _ENDS[kind], at)
        if kind in _BEGINS and after.status in _AT_A_POST:
            self._begin(after, at)
        return True

    def _review(self, stint: Stint, change: Change, after: RequestState) -> None:
        d = change.data
        if d.get("reached"):
            satisfied = is_satisfied(d.get("satisfaction"))
            stint.reviews_reached += 1
            stint.reviews_satisfied += int(satisfied)
            stint.last_satisfied = satisfied
            for other in self.items:
                if other.final and other is not stint:
                    other.final = False
                    self.moved.add(other.seq)
            stint.final = True
        outcome = d.get("outcome")
        if outcome == Outcome.REOPENED:
            self._end(stint, ENDED_REOPENED, change.at)
            self._begin(after, change.at)
        elif outcome in (Outcome.CLOSED, Outcome.UNREACHABLE):
            self._end(stint, ENDED_CLOSED, change.at)

    @staticmethod
    def _end(stint: Stint, how: str, at: datetime) -> None:
        stint.ended = how
        stint.ended_at = at

    def _begin_followed(
        self, post: dict[str, str], after: RequestState, handler: str, at: datetime
    ) -> None:
        self.moved.add(len(self.items))
        self.items.append(
            Stint(
                request_id=self.request_id,
                seq=len(self.items),
                level=post["level"],
                unit_id=post["unit_id"],
                grid_id=post["grid_id"],
                community_id=post["community_id"],
                town_id=post["town_id"],
                category=after.category,
                started_at=at,
                handler=handler,
                followed=True,
            )
        )

    def _begin(self, after: RequestState, at: datetime) -> None:
        self.moved.add(len(self.items))
        self.items.append(
            Stint(
                request_id=self.request_id,
                seq=len(self.items),
                level=after.level.value,
                unit_id=after.level_unit_id,
                grid_id=after.grid_id,
                community_id=after.community_id,
                town_id=after.town_id,
                category=after.category,
                started_at=at,
            )
        )


#: The statuses at which a request is at a post (waiting for dispatch, closed: at none).
_AT_A_POST = frozenset({Status.ASSIGNED, Status.IN_PROGRESS, Status.RESOLVED})


def add_parts(total: list[int], part: Sequence[int]) -> None:
    for i, value in enumerate(part):
        total[i] += value


def rates(counts: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Each rate of :data:`RATES` with its numerator and denominator (None when the
    denominator is 0: no rate, rather than 0% or 100%)."""
    out: dict[str, dict[str, Any]] = {}
    for name, (top, bottom) in RATES.items():
        numerator, denominator = counts.get(top, 0), counts.get(bottom, 0)
        out[name] = {
            "value": round(numerator / denominator, 4) if denominator else None,
            "numerator": numerator,
            "numerator_count": top,
            "denominator": denominator,
            "denominator_count": bottom,
        }
    return out
