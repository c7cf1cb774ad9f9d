"""The event-sourced ``ResidentRequest`` aggregate: records :class:`~domain.state.Change` s.

Each recorded change carries the id of the workflow command that made it; a command seen
before is not recorded again, so an activity that runs twice appends once.
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
    MARKED_OVERDUE,
    PROGRESS_NOTED,
    RESOLVED,
    REVIEWED,
    Change,
    RequestState,
)


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
            aggregate.state.apply(Change(type(self).__name__, self.at, self.actor, self.data))
            aggregate.command_ids.add(self.command_id)

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

    def __init__(self, command_id: str, at: datetime, actor: str, data: dict[str, Any]):
        self.state = RequestState.from_filed(Change(FILED, at, actor, data))
        self.command_ids: set[str] = {command_id}

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
        """Record a change once per command id; False when the command was seen before."""
        if command_id in self.command_ids:
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
}
