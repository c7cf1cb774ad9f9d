"""The command side as the API and tests use it: file a request, send a handler action.

Temporal's errors are turned into :class:`CommandError` with a kind the API maps to an
HTTP status, so no caller needs to know Temporal's exception types.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.state import Intake
from workflows.messages import (
    INVALID,
    NOT_ASSIGNED,
    REFUSED,
    UNKNOWN,
    HandlerCommand,
    LinkCommand,
    LocateCommand,
    MergeCommand,
    OpsCommand,
    RequestInput,
    ReviewCommand,
    workflow_id,
)
from workflows.request import RequestWorkflow

#: A request lives at most a few months; its workflow must outlast that.
REQUEST_LIFETIME = timedelta(days=3650)
# how long to wait for an ended workflow's result before falling back to the read models
FINAL_VIEW_SECONDS = 10.0

HANDLER_ACTIONS = ("accept", "progress", "escalate", "resolve")
#: The street-office moves (workflow update names).
OPS_ACTIONS = (
    "dispatch",
    "return",
    "redirect",
    "retier",
    "urge",
    "extension",
    "extension_decision",
    "add_cohandler",
    "cohandler_done",
    "close_out_of_scope",
    "appeal",
)


class CommandError(Exception):
    """A command that was not carried out; ``kind`` is refused, not_assigned, invalid,
    not_found, closed or unavailable (Temporal could not be reached: try again)."""

    def __init__(
        self,
        kind: str,
        message: str,
        code: str | None = None,
        field: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code or kind  # the stable reason code (see api.errors)
        self.field = field
        self.params = params or {}

    @classmethod
    def of(cls, failure: ApplicationError) -> CommandError:
        """The refusal a workflow's update failed with, with the reason in its details."""
        reason = failure.details[0] if failure.details else None
        if not isinstance(reason, dict):
            reason = {}
        return cls(
            _KINDS.get(failure.type or "", "refused"),
            failure.message,
            code=reason.get("code"),
            field=reason.get("field"),
            params=reason.get("params"),
        )


_KINDS = {
    REFUSED: "refused",
    NOT_ASSIGNED: "not_assigned",
    INVALID: "invalid",
    UNKNOWN: "not_found",
}

#: What an Update of a request's workflow carries.
Command = HandlerCommand | ReviewCommand | OpsCommand | LocateCommand | MergeCommand | LinkCommand

UNAVAILABLE = "the workflow service is unavailable; try again shortly"


def _unavailable(error: BaseException) -> CommandError | None:
    """The ``unavailable`` CommandError when ``error`` means Temporal could not be reached
    or did not answer in time (any RPC failure but NOT_FOUND); None for anything else."""
    if isinstance(error, RPCError) and error.status != RPCStatusCode.NOT_FOUND:
        return CommandError("unavailable", UNAVAILABLE)
    if isinstance(error, WorkflowUpdateRPCTimeoutOrCancelledError | ConnectionError):
        return CommandError("unavailable", UNAVAILABLE)
    # A lazily connected client that cannot connect raises "Failed client connect: ...".
    if isinstance(error, RuntimeError) and "client connect" in str(error):
        return CommandError("unavailable", UNAVAILABLE)
    return None


async def file_request(
    client: Client,
    task_queue: str,
    intake: Intake,
    actor: str,
    day_seconds: float,
    *,
    warn_share: float | None = None,
    max_extensions: int = 1,
    working_days: bool = False,
    self_review_seconds: float | None = None,
) -> dict[str, Any]:
    """Start the request's workflow (or find it running) and return the request once filed.

    ``warn_share``, ``max_extensions``, ``working_days`` and ``self_review_seconds`` are
    the rules of its clock
    (:class:`~workflows.messages.RequestInput`). Raises :class:`CommandError` ``closed``
    when a request with this id exists and is closed.
    """
    inp = RequestInput(
        intake=intake,
        actor=actor,
        day_seconds=day_seconds,
        warn_share=warn_share,
        max_extensions=max_extensions,
        working_days=working_days,
        self_review_seconds=self_review_seconds,
    )
    start = WithStartWorkflowOperation(
        RequestWorkflow.run,
        inp,
        id=workflow_id(intake.request_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        execution_timeout=REQUEST_LIFETIME,
    )
    try:
        result: dict[str, Any] = await client.execute_update_with_start_workflow(
            RequestWorkflow.filed, start_workflow_operation=start
        )
    except WorkflowAlreadyStartedError:
        raise CommandError(
            "closed", "this request exists and is closed", "request_closed"
        ) from None
    except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError, RuntimeError, ConnectionError) as e:
        unavailable = _unavailable(e)
        if unavailable is None:
            raise
        raise unavailable from e
    return result


async def send(
    client: Client,
    request_id: str,
    action: str,
    command: Command,
    update_id: str | None = None,
) -> dict[str, Any]:
    """Send accept/progress/escalate/resolve/review; return the request as it now stands."""
    handle = client.get_workflow_handle(workflow_id(request_id))
    try:
        result: dict[str, Any] = await handle.execute_update(
            action, command, id=update_id, result_type=dict
        )
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError):
            raise CommandError.of(cause) from None
        raise
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            if "completed" in e.message or "closed" in e.message:
                raise CommandError(
                    "closed", "cannot act: the request is closed", "request_closed"
                ) from None
            raise CommandError("not_found", "no such request", "request_not_found") from None
        raise CommandError("unavailable", UNAVAILABLE) from e
    except (WorkflowUpdateRPCTimeoutOrCancelledError, RuntimeError, ConnectionError) as e:
        unavailable = _unavailable(e)
        if unavailable is None:
            raise
        raise unavailable from e
    return result


async def final_view(client: Client, request_id: str) -> dict[str, Any] | None:
    """The request as its ended workflow left it (the workflow's result, read from its
    history; no worker is needed), or None when it did not end with one. The read models
    may not have caught up with the last change yet; this is the record itself."""
    handle = client.get_workflow_handle(workflow_id(request_id), result_type=dict)
    try:
        result: dict[str, Any] | None = await asyncio.wait_for(
            handle.result(follow_runs=False), FINAL_VIEW_SECONDS
        )
    except (TimeoutError, WorkflowFailureError, RPCError, ConnectionError, RuntimeError):
        return None
    return result if isinstance(result, dict) else None
