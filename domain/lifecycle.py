"""The request lifecycle: statuses, actions, and the one table that says which move is allowed.

Both the workflow (deciding) and the aggregate (recording) ask :func:`require`.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    ASSIGNED = "assigned"  # waiting for a handler at the current level to accept (签收)
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"  # waiting for the follow-up review (回访)
    CLOSED = "closed"  # the loop is closed (闭环)


class Action(StrEnum):
    ACCEPT = "accept"
    PROGRESS = "progress"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    REVIEW = "review"
    DEADLINE = "deadline"  # the tier's time limit passed (the workflow's timer)


#: action -> the statuses it is allowed from
ALLOWED: dict[Action, frozenset[Status]] = {
    Action.ACCEPT: frozenset({Status.ASSIGNED}),
    Action.PROGRESS: frozenset({Status.IN_PROGRESS}),
    Action.ESCALATE: frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    Action.RESOLVE: frozenset({Status.IN_PROGRESS}),
    Action.REVIEW: frozenset({Status.RESOLVED}),
    Action.DEADLINE: frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
}

_WHY: dict[Status, str] = {
    Status.ASSIGNED: "the request has not been accepted yet",
    Status.IN_PROGRESS: "the request is being handled and has not been resolved",
    Status.RESOLVED: "the request is resolved and waits for its review",
    Status.CLOSED: "the request is closed",
}


#: The stable reason code of a move refused in a status (what the pages translate).
_REASON: dict[Status, str] = {
    Status.ASSIGNED: "not_accepted",
    Status.IN_PROGRESS: "in_progress",
    Status.RESOLVED: "awaiting_review",
    Status.CLOSED: "request_closed",
}


class Refused(Exception):
    """A move the request's state does not allow; the message says why, ``code`` is the
    stable reason code (``not_accepted``, ``top_of_ladder``...)."""

    def __init__(self, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.code = code


class NotAssigned(Exception):
    """The actor is not assigned at the request's current level."""

    code = "not_assigned"


def require(action: Action, status: Status) -> None:
    """Raise :class:`Refused` with the reason unless ``action`` is allowed from ``status``."""
    if status not in ALLOWED[action]:
        raise Refused(f"cannot {action.value}: {_WHY[status]}", _REASON[status])


def is_open(status: Status) -> bool:
    """Open requests are waiting on a handler: their tier's clock runs."""
    return status in (Status.ASSIGNED, Status.IN_PROGRESS)
