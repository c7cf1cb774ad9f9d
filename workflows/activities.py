"""The activities that append a workflow's changes to the event store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from closeloop.store import RequestStore, StoreBehind
from domain.aggregate import ConflictingCommand
from domain.ladder import DEFAULT_DAY_SECONDS, LADDER, Tier, deadline_for
from domain.lifecycle import Refused
from domain.state import RecordedChange
from workflows.commands import CommandError, send
from workflows.messages import (
    DEADLINES,
    DEFECT,
    INVALID,
    LINK_DUPLICATE,
    NOT_ASSIGNED,
    RECORD_CHANGE,
    REFUSED,
    SETTLE_CHANGE,
    UNKNOWN,
    DeadlinesInput,
    LinkInput,
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


#: A refusal's kind as the failure type the requesting workflow turns back into a refusal.
_FAILURE_TYPES = {
    "refused": REFUSED,
    "closed": REFUSED,
    "invalid": INVALID,
    "not_assigned": NOT_ASSIGNED,
    "not_found": UNKNOWN,
}


class LinkActivities:
    """Messages between two requests' workflows that need an answer: a duplicate's
    workflow asks its primary's to take it in or let it go (an Update, whose validator
    and state may refuse). The Update id is fixed by the asking workflow, so a retried
    activity is the same Update: the primary records it once."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @activity.defn(name=LINK_DUPLICATE)
    async def link_duplicate(self, inp: LinkInput) -> dict[str, Any] | None:
        """None when the primary agreed; else its refusal: ``type`` (the failure type),
        ``message`` and ``reason`` (code, field, params). Temporal being unreachable is
        raised, and retried."""
        try:
            await send(self.client, inp.primary, inp.action, inp.command, update_id=inp.update_id)
        except CommandError as e:
            if e.kind == "unavailable":
                raise
            code = "primary_not_open" if e.kind == "closed" else e.code
            if e.kind == "not_found":
                code = "primary_not_found"
            return {
                "type": _FAILURE_TYPES.get(e.kind, REFUSED),
                "message": e.message,
                "reason": {"code": code, "field": e.field or "into", "params": e.params},
            }
        return None
