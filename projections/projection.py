"""The projection: from the event store's domain events to the request views."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from domain.aggregate import ResidentRequest
from domain.state import Change
from projections.failures import describe
from projections.tables import PROJECTION_NAME
from projections.views import RequestViews

log = logging.getLogger(__name__)


class Decoded(NamedTuple):
    """A notification read and decoded elsewhere (a rebuild's reading process): its place
    in the log, its request, and the change it carries (None: not the views').

    A named tuple, not a dataclass: batches of them cross a process boundary pickled, and
    a frozen dataclass with slots costs a ``dataclasses.fields()`` call per object to
    unpickle (an eighth of the rebuild's main process, measured)."""

    id: int
    originator_id: str
    originator_version: int
    topic: str
    change: Change | None


class RequestProjection(Projection[RequestViews]):
    """Keeps the request, timeline and review rows up to date, one event at a time.

    Also usable with eventsourcing's ``ProjectionRunner`` (PostgreSQL subscriptions): its
    factory names the tracking table after :attr:`name`, the same table used here.
    """

    name = PROJECTION_NAME

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Apply one event in its own transaction (eventsourcing's ``ProjectionRunner``).

        An event the views cannot process is quarantined (its request's later events then
        wait behind it) and the runner goes on; a passing failure (the database is away,
        the position moved) is raised for the runner to stop and be started again. Inside
        a batch (:meth:`RequestViews.batch`) every failure is raised: the batch's owner
        decides.
        """
        try:
            self.apply(domain_event, tracking)
        except Exception as error:
            if self.view.in_batch or not self.view.should_quarantine(error):
                raise
            request_id = str(domain_event.originator_id)
            reason = describe(error)
            self.view.quarantine(
                tracking,
                request_id,
                domain_event.originator_version,
                get_topic(type(domain_event)),
                reason,
            )
            log.error(
                "quarantined event %d of request %s: %s (`closeloop projections retry` "
                "applies it after a fix)",
                tracking.notification_id,
                request_id,
                reason,
            )

    def apply(self, domain_event: Any, tracking: Tracking) -> None:
        """Apply one event to the views (joining the batch in hand, if any); raises what
        the views raise."""
        change = self.change_of(domain_event)
        if change is None:
            # Not ours, but tracked all the same: the position must move past it.
            self.view.skip(tracking)
            return
        self.view.record(
            str(domain_event.originator_id),
            domain_event.originator_version,
            change,
            tracking,
            topic=get_topic(type(domain_event)),
        )

    def apply_decoded(self, decoded: Decoded, tracking: Tracking) -> None:
        """:meth:`apply` for an event decoded already."""
        if decoded.change is None:
            self.view.skip(tracking)
            return
        self.view.record(
            decoded.originator_id,
            decoded.originator_version,
            decoded.change,
            tracking,
            topic=decoded.topic,
        )

    @staticmethod
    def change_of(domain_event: Any) -> Change | None:
        """The request change a domain event carries, or None when it is not the views'."""
        if isinstance(domain_event, ResidentRequest.Filed | ResidentRequest.Changed):
            return Change(
                type(domain_event).__name__, domain_event.at, domain_event.actor, domain_event.data
            )
        return None
