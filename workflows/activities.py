"""The activities that append a workflow's changes to the event store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from closeloop.store import RequestStore, StoreBehind
from domain.aggregate import ConflictingCommand
from domain.ladder import DEFAULT_DAY_SECONDS, LADDER, Tier, deadline_for
from domain.lifecycle import Refused
from domain.state import RecordedChange
from workflows.messages import (
    DEADLINES,
    DEFECT,
    RECORD_CHANGE,
    REFUSED,
    SETTLE_CHANGE,
    DeadlinesInput,
    RecordInput,
    SettleInput,
)

log = logging.getLogger("closeloop.activities")


class StoreActivities:
    """Activities bound to one event store; run in the worker's thread pool."""

    def __init__(self, store: RequestStore) -> None:
        self.store = store

    @activity.defn(name=SETTLE_CHANGE)
    def settle_change(self, inp: SettleInput) -> list[RecordedChange]:
        """Append the change at its position, or return what the store holds from there.

        Store errors (the database down, a lost connection) are retried; a store that
        disagrees with the workflow in a way no retry can mend is a defect, reported as
        non-retryable so the workflow task fails (and is retried, visibly) instead of
        anything being written.
        """
        try:
            return self.store.settle(UUID(inp.request_id), inp.position, inp.command_id, inp.change)
        except (StoreBehind, ConflictingCommand, Refused) as e:
            log.error("request %s: %s", inp.request_id, e)
            raise ApplicationError(str(e), type=DEFECT, non_retryable=True) from e

    @activity.defn(name=RECORD_CHANGE)
    def record_change(self, inp: RecordInput) -> bool:
        """The append of the recording path before :meth:`settle_change`, kept for requests
        whose workflows started on it. True when the change was appended now."""
        try:
            return self.store.record(UUID(inp.request_id), inp.command_id, inp.change)
        except ConflictingCommand as e:
            # That path cannot adopt the store's version; `closeloop check` reports the
            # drift. Failing here would only fail the request's workflow.
            log.error("request %s: %s", inp.request_id, e)
            return False
        except Refused as e:
            # The aggregate disagrees with the workflow: retrying cannot help.
            raise ApplicationError(str(e), type=REFUSED, non_retryable=True) from e


class DeadlineActivities:
    """The deadline of each tier from a moment, by the working-day calendar and the tier
    rules (``due``: see :class:`closeloop.workcalendar.Deadlines`); run as a local activity
    so its answer is in the workflow's history and replays unchanged."""

    def __init__(self, due: Callable[[Tier, datetime], datetime] | None = None) -> None:
        self.due = due or (lambda tier, at: deadline_for(tier, at, DEFAULT_DAY_SECONDS))

    @activity.defn(name=DEADLINES)
    def deadlines(self, inp: DeadlinesInput) -> dict[str, str]:
        """Each tier's deadline from ``inp.at``, as ISO text."""
        return {tier.value: self.due(tier, inp.at).isoformat() for tier in LADDER}
