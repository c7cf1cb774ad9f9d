"""The request lifecycle: statuses, actions, and the one table that says which move is allowed.

Both the workflow (deciding) and the aggregate (recording) ask :func:`require`.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    WAITING_DISPATCH = "waiting_dispatch"  # at the community platform, to be handed out (分解交办)
    ASSIGNED = "assigned"  # waiting for a handler at the current level to accept (签收)
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"  # waiting for the follow-up review (回访)
    CLOSED = "closed"  # the loop is closed (闭环)
    #: merged into another request (a duplicate): it follows that one, its own clock stopped
    MERGED = "merged"


class Action(StrEnum):
    ACCEPT = "accept"
    PROGRESS = "progress"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    REVIEW = "review"
    DEADLINE = "deadline"  # the tier's time limit passed (the workflow's timer)
    DISPATCH = "dispatch"  # the platform hands the request to a grid and tier (交办)
    RETURN = "return"  # the current level sends it back to the platform (退单)
    REDIRECT = "redirect"  # the platform moves it to another grid, same level (改派)
    RETIER = "retier"  # the platform moves it to another tier
    WARN = "warn"  # most of the tier's time has passed (预警)
    URGE = "urge"  # a supervisor or a higher level urges it (催办)
    ASK_EXTENSION = "ask_extension"  # the current level asks for more time (延期)
    DECIDE_EXTENSION = "decide_extension"
    COHANDLE = "cohandle"  # co-handlers are added, note progress, finish their part
    CLOSE_OUT_OF_SCOPE = "close_out_of_scope"  # 不予受理 / 无法办理
    MERGE = "merge"  # the request is merged into another (a duplicate of it)
    UNMERGE = "unmerge"  # ... and taken out again while that one is open
    FOLLOW = "follow"  # the request it is merged into was resolved: so is it
    ATTACH = "attach"  # another request is merged into this one, or taken out


#: action -> the statuses it is allowed from
ALLOWED: dict[Action, frozenset[Status]] = {
    Action.ACCEPT: frozenset({Status.ASSIGNED}),
    Action.PROGRESS: frozenset({Status.IN_PROGRESS}),
    Action.ESCALATE: frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    Action.RESOLVE: frozenset({Status.IN_PROGRESS}),
    Action.REVIEW: frozenset({Status.RESOLVED}),
    Action.DEADLINE: frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    Action.DISPATCH: frozenset({Status.WAITING_DISPATCH}),
    Action.RETURN: frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    Action.REDIRECT: frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    Action.RETIER: frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    Action.WARN: frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    Action.URGE: frozenset({Status.WAITING_DISPATCH, Status.ASSIGNED, Status.IN_PROGRESS}),
    Action.ASK_EXTENSION: frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    Action.DECIDE_EXTENSION: frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    Action.COHANDLE: frozenset({Status.ASSIGNED, Status.IN_PROGRESS}),
    Action.CLOSE_OUT_OF_SCOPE: frozenset(
        {Status.WAITING_DISPATCH, Status.ASSIGNED, Status.IN_PROGRESS}
    ),
    Action.MERGE: frozenset({Status.WAITING_DISPATCH, Status.ASSIGNED, Status.IN_PROGRESS}),
    Action.UNMERGE: frozenset({Status.MERGED}),
    Action.FOLLOW: frozenset({Status.MERGED}),
    Action.ATTACH: frozenset({Status.WAITING_DISPATCH, Status.ASSIGNED, Status.IN_PROGRESS}),
}

_WHY: dict[Status, str] = {
    Status.WAITING_DISPATCH: "the request waits to be dispatched",
    Status.ASSIGNED: "the request has not been accepted yet",
    Status.IN_PROGRESS: "the request is being handled and has not been resolved",
    Status.RESOLVED: "the request is resolved and waits for its review",
    Status.CLOSED: "the request is closed",
    Status.MERGED: "the request is merged into another and follows it",
}


#: The stable reason code of a move refused in a status (what the pages translate).
_REASON: dict[Status, str] = {
    Status.WAITING_DISPATCH: "waiting_dispatch",
    Status.ASSIGNED: "not_accepted",
    Status.IN_PROGRESS: "in_progress",
    Status.RESOLVED: "awaiting_review",
    Status.CLOSED: "request_closed",
    Status.MERGED: "request_merged",
}


class Refused(Exception):
    """A move the request's state does not allow; the message says why, ``code`` is the
    stable reason code (``not_accepted``, ``top_of_ladder``...)."""

    def __init__(self, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.code = code


class Invalid(Exception):
    """A move whose values the rules refuse (422): ``code`` is the stable reason and
    ``field`` the part of the command it concerns."""

    def __init__(self, message: str, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


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
