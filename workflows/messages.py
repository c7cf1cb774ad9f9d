"""What crosses the Temporal boundary: workflow input, commands, the activity's input.

Plain dataclasses from :mod:`domain` so that workflow code imports nothing with I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.state import Assignment, Change, Intake

#: The local activity that appends a change, or returns what the store holds in its place.
SETTLE_CHANGE = "settle_change"
#: The activity of the recording paths before it (histories and requests started then).
RECORD_CHANGE = "record_change"

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
