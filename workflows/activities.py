"""The activity that appends a workflow's change to the event store."""

from __future__ import annotations

from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from closeloop.store import RequestStore
from domain.lifecycle import Refused
from workflows.messages import RECORD_CHANGE, REFUSED, RecordInput


class StoreActivities:
    """Activities bound to one event store; run in the worker's thread pool."""

    def __init__(self, store: RequestStore) -> None:
        self.store = store

    @activity.defn(name=RECORD_CHANGE)
    def record_change(self, inp: RecordInput) -> bool:
        """Append the change once per command id; True when it was appended now."""
        try:
            return self.store.record(UUID(inp.request_id), inp.command_id, inp.change)
        except Refused as e:
            # The aggregate disagrees with the workflow: retrying cannot help.
            raise ApplicationError(str(e), type=REFUSED, non_retryable=True) from e
