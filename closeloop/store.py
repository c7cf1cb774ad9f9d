"""The event store: an eventsourcing application of ``ResidentRequest`` aggregates."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from domain.aggregate import ResidentRequest
from domain.state import FILED, Change

#: The application's name; its events live in the ``closeloop_events`` table.
STORE_NAME = "closeloop"


def store_env(database_url: str) -> dict[str, str]:
    """eventsourcing's environment for eventsourcing-sqlalchemy on ``database_url``."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing_sqlalchemy",
        "SQLALCHEMY_URL": database_url,
        "CREATE_TABLE": "yes",
    }


class RequestStore(Application[UUID]):
    """Appends each request's changes; the only writer is the request's workflow."""

    name = STORE_NAME

    def record(self, request_id: UUID, command_id: str, change: Change) -> bool:
        """Append ``change`` unless ``command_id`` was recorded before; True when appended."""
        if change.type == FILED:
            try:
                self.repository.get(request_id)
                return False  # filed before: a retried intake
            except AggregateNotFoundError:
                request = ResidentRequest.file(command_id, change)
        else:
            request = self.get_request(request_id)
            if not request.record(command_id, change):
                return False
        self.save(request)
        return True

    def get_request(self, request_id: UUID) -> ResidentRequest:
        request: ResidentRequest = self.repository.get(request_id)
        return request
