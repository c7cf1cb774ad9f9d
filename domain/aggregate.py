"""The event-sourced ``ResidentRequest`` aggregate: records :class:`~domain.state.Change` s.

Each recorded change carries the id of the workflow command that made it. A command id is
recorded once: the same id with the same content again is a no-op (an activity that runs
twice appends once), the same id with different content is refused with
:class:`ConflictingCommand`, never silently ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.state import (
    ACCEPTED,
    ESCALATED,
    FILED,
    LOCATION_CORRECTED,
    MARKED_OVERDUE,
    OPERATION_TYPES,
    PROGRESS_NOTED,
    RESOLVED,
    REVIEW_WINDOW_CLOSED,
    REVIEWED,
    Change,
    RequestState,
)


class ConflictingCommand(Exception):
    """A command id seen before arrived with different content."""

    def __init__(self, command_id: str, stored: Change, offered: Change) -> None:
        super().__init__(
            f"command {command_id} was recorded as {_describe(stored)}; "
            f"refusing a different {_describe(offered)} under the same id"
        )
        self.command_id = command_id
        self.stored = stored
        self.offered = offered


def _describe(change: Change) -> str:
    # The data's fields, never its values: this is logged and becomes a Temporal failure
    # message (which the payload codec does not seal), and a filing's data is a resident's.
    return f"{change.type} at {change.at.isoformat()} by {change.actor} with {sorted(change.data)}"


def same_change(a: Change, b: Change) -> bool:
    """Equal content: type, time (as an instant), actor and data."""
    return a.type == b.type and a.at == b.at and a.actor == b.actor and a.data == b.data


class ResidentRequest(Aggregate):
    """One resident request (诉求) as a sequence of events."""

    class Filed(Aggregate.Created):
        command_id: str
        at: datetime
        actor: str
        data: dict[str, Any]

    class Changed(Aggregate.Event):
        """Base of every change after filing; applied through :meth:`RequestState.apply`."""

        command_id: str
        at: datetime
        actor: str
        data: dict[str, Any]

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, ResidentRequest)
            change = Change(type(self).__name__, self.at, self.actor, self.data)
            aggregate.state.apply(change)
            aggregate.changes.append((self.command_id, change))

    class Accepted(Changed):
        pass

    class ProgressNoted(Changed):
        pass

    class Escalated(Changed):
        pass

    class MarkedOverdue(Changed):
        pass

    class Resolved(Changed):
        pass

    class Reviewed(Changed):
        pass

    # street-office operations
    class Dispatched(Changed):
        pass

    class Returned(Changed):
        pass

    class Redirected(Changed):
        pass

    class Retiered(Changed):
        pass

    class Warned(Changed):
        pass

    class Urged(Changed):
        pass

    class ExtensionAsked(Changed):
        pass

    class DeadlineExtended(Changed):
        pass

    class ExtensionRefused(Changed):
        pass

    class CohandlerAdded(Changed):
        pass

    class CohandlerDone(Changed):
        pass

    class ClosedOutOfScope(Changed):
        pass

    class Appealed(Changed):
        pass

    # duplicates (合并)
    class Merged(Changed):
        pass

    class Unmerged(Changed):
        pass

    class DuplicateAttached(Changed):
        pass

    class DuplicateDetached(Changed):
        pass

    # notifications
    class ReviewWindowClosed(Changed):
        pass

    # where it is (domain.place)
    class LocationCorrected(Changed):
        pass

    def __init__(self, command_id: str, at: datetime, actor: str, data: dict[str, Any]):
        filed = Change(FILED, at, actor, data)
        self.state = RequestState.from_filed(filed)
        #: every recorded change in order, with the command id that made it
        self.changes: list[tuple[str, Change]] = [(command_id, filed)]

    @property
    def command_ids(self) -> set[str]:
        return {command_id for command_id, _ in self.changes}

    def recorded(self, command_id: str) -> Change | None:
        """The change recorded under ``command_id``, if any."""
        for seen, change in self.changes:
            if seen == command_id:
                return change
        return None

    @classmethod
    def file(cls, command_id: str, change: Change) -> ResidentRequest:
        if change.type != FILED:
            raise ValueError(f"a request starts with {FILED}, not {change.type}")
        return cls._create(
            cls.Filed,
            id=UUID(change.data["request_id"]),
            command_id=command_id,
            at=change.at,
            actor=change.actor,
            data=change.data,
        )

    def record(self, command_id: str, change: Change) -> bool:
        """Record a change once per command id; False when the same change was recorded
        before under this id. Raises :class:`ConflictingCommand` when the id holds another
        change, and :class:`~domain.lifecycle.Refused` when the state does not allow it."""
        stored = self.recorded(command_id)
        if stored is not None:
            if not same_change(stored, change):
                raise ConflictingCommand(command_id, stored, change)
            return False
        event_class = _CHANGE_EVENTS[change.type]
        self.trigger_event(
            event_class, command_id=command_id, at=change.at, actor=change.actor, data=change.data
        )
        return True


_CHANGE_EVENTS: dict[str, type[ResidentRequest.Changed]] = {
    ACCEPTED: ResidentRequest.Accepted,
    PROGRESS_NOTED: ResidentRequest.ProgressNoted,
    ESCALATED: ResidentRequest.Escalated,
    MARKED_OVERDUE: ResidentRequest.MarkedOverdue,
    RESOLVED: ResidentRequest.Resolved,
    REVIEWED: ResidentRequest.Reviewed,
    REVIEW_WINDOW_CLOSED: ResidentRequest.ReviewWindowClosed,
    LOCATION_CORRECTED: ResidentRequest.LocationCorrected,
    **{
        name: getattr(ResidentRequest, name)
        for name in OPERATION_TYPES  # each operation's event class bears its type's name
    },
}
