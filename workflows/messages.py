"""What crosses the Temporal boundary: workflow input, commands, the activity's input.

Plain dataclasses from :mod:`domain` so that workflow code imports nothing with I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.state import Assignment, Change, Intake

#: The local activity that appends a change, or returns what the store holds in its place.
SETTLE_CHANGE = "settle_change"
#: The local activity that computes each tier's deadline from a moment (working days).
DEADLINES = "deadlines"
#: The activity of the recording paths before it (histories and requests started then).
RECORD_CHANGE = "record_change"
#: The activity by which a request's workflow asks another's to take it in as a duplicate
#: (attach) or to let it go (detach): an Update of that workflow, answered yes or no.
LINK_DUPLICATE = "link_duplicate"

#: Failure types the API turns into HTTP status codes.
REFUSED = "Refused"  # 409: the request's state does not allow it
NOT_ASSIGNED = "NotAssigned"  # 403: not a handler at the current level
INVALID = "Invalid"  # 422: a malformed command
UNKNOWN = "Unknown"  # 404: a request the actor may not know of (domain.privacy)
#: The store and the workflow disagree in a way no retry mends: fails the workflow task.
DEFECT = "StoreDefect"


def workflow_id(request_id: str) -> str:
    return f"request-{request_id}"


@dataclass(frozen=True)
class RequestInput:
    intake: Intake
    actor: str
    day_seconds: float
    #: share of a tier's time after which the request is warned (预警); None: never
    warn_share: float | None = None
    #: approved extensions per tier (延期)
    max_extensions: int = 1
    #: count deadlines by the working-day calendar (a local activity computes them);
    #: False: calendar days of ``day_seconds`` (the compressed demo clock)
    working_days: bool = False
    #: seconds after a resolution in which the resident may review it themselves (限时反馈),
    #: on this request's clock; None: only callers review it
    self_review_seconds: float | None = None


@dataclass(frozen=True)
class Actor:
    """Who sends a command, with the posts the API found for them."""

    username: str
    role: str
    assignments: list[Assignment] = field(default_factory=list)


@dataclass(frozen=True)
class HandlerCommand:
    """accept, progress (note), escalate (reason), resolve (resolution)."""

    actor: Actor
    text: str = ""
    #: progress ("before") or resolve ("after") photos: each {"hash", "type"}
    photos: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class LocateCommand:
    """Correct where a request is: a new point, the address and building when given."""

    actor: Actor
    lat: float | None
    long: float | None
    address: str | None = None
    building: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class ReviewCommand:
    actor: Actor
    reached: bool
    completion: str | None = None
    progress: str | None = None
    effect: str | None = None
    satisfaction: str | None = None
    comment: str = ""


@dataclass(frozen=True)
class OpsCommand:
    """A street-office move: dispatch, return, redirect, retier, urge, extension and its
    decision, co-handlers, out-of-scope closure, appeal. ``text`` is its reason or note."""

    actor: Actor
    text: str = ""
    grid_id: str | None = None
    tier: str | None = None
    category: str | None = None
    until: datetime | None = None  # an extension's new deadline
    approve: bool | None = None  # an extension's decision
    username: str | None = None  # a co-handler
    task: str = ""
    due: datetime | None = None
    organisation: str | None = None


@dataclass(frozen=True)
class MergeCommand:
    """Merge the request into ``into`` (a duplicate of it), or take it out again
    (``into`` empty), with a reason."""

    actor: Actor
    reason: str
    into: str = ""


@dataclass(frozen=True)
class LinkCommand:
    """To a primary's workflow: take in, or let go, the duplicate ``request_id``."""

    actor: Actor
    request_id: str
    reason: str


@dataclass(frozen=True)
class LinkInput:
    """The link activity: send ``action`` (attach_duplicate, detach_duplicate) with
    ``command`` to ``primary``'s workflow under ``update_id`` (so a retry is one Update)."""

    primary: str
    action: str
    command: LinkCommand
    update_id: str


@dataclass(frozen=True)
class PrimaryResolved:
    """To a duplicate's workflow: the request it is merged into was resolved."""

    primary: str
    by: str
    resolution: str
    on_time: bool
    photos: list[dict[str, str]] = field(default_factory=list)
    #: the post that resolved it (level, unit_id, grid_id, community_id, town_id): the
    #: duplicate's resident's review counts there (domain.performance)
    post: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PrimaryReleased:
    """To a duplicate's workflow: the request it is merged into was closed without a
    resolution (out of scope): it is its own work again."""

    primary: str
    reason: str


@dataclass(frozen=True)
class DeadlinesInput:
    at: datetime


@dataclass(frozen=True)
class RecordInput:
    request_id: str
    command_id: str
    change: Change


@dataclass(frozen=True)
class SettleInput:
    """Append ``change`` as change number ``position`` of the request (0 is the filing)."""

    request_id: str
    position: int
    command_id: str
    change: Change | None  # None: append nothing, only read what the store holds there
