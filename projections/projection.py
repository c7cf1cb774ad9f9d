"""The projection: from the event store's domain events to the request views."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.aggregate import ResidentRequest
from domain.state import Change
from projections.tables import PROJECTION_NAME
from projections.views import RequestViews


class RequestProjection(Projection[RequestViews]):
    """Keeps the request, timeline and review rows up to date, one event at a time.

    Also usable with eventsourcing's ``ProjectionRunner`` (PostgreSQL subscriptions): its
    factory names the tracking table after :attr:`name`, the same table used here.
    """

    name = PROJECTION_NAME

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, ResidentRequest.Filed | ResidentRequest.Changed):
            change = Change(
                type(domain_event).__name__,
                domain_event.at,
                domain_event.actor,
                domain_event.data,
            )
            self.view.record(
                str(domain_event.originator_id),
                domain_event.originator_version,
                change,
                tracking,
            )
        else:
            # Not ours, but tracked all the same: the position must move past it.
            self.view.insert_tracking(tracking)
