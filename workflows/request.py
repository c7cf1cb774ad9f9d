"""``RequestWorkflow``: one durable workflow per resident request, the only writer of its events.

The workflow keeps the request's :class:`~domain.state.RequestState`, asks it for each next
change, has an activity append that change to the event store, then applies it. Handler
actions arrive as Updates whose validators reject what the state does not allow, so a
refused command leaves nothing in the history and nothing in the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.lifecycle import NotAssigned, Refused, Status, is_open
    from domain.review import Answer, Review
    from domain.state import Change, RequestState
    from workflows.messages import (
        INVALID,
        NOT_ASSIGNED,
        RECORD_CHANGE,
        REFUSED,
        HandlerCommand,
        RecordInput,
        RequestInput,
        ReviewCommand,
    )

Decide = Callable[[RequestState, datetime], Change]

#: The patch that made the append a local activity (workflow.patched): histories from
#: before it hold regular activities and still replay that way.
LOCAL_RECORD = "record-as-local-activity"

_RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[REFUSED],
)


@workflow.defn
class RequestWorkflow:
    @workflow.init
    def __init__(self, inp: RequestInput) -> None:
        self._input = inp
        self._state: RequestState | None = None
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, inp: RequestInput) -> dict[str, Any]:
        filed = RequestState.decide_file(inp.intake, workflow.now(), inp.actor, inp.day_seconds)
        await self._record(filed, position=0)
        self._state = state = RequestState.from_filed(filed)
        while state.status is not Status.CLOSED:
            try:
                await workflow.wait_condition(
                    _moved_from(state, len(state.timeline)), timeout=self._time_left(state)
                )
            except TimeoutError:
                async with self._lock:
                    change = state.decide_deadline(workflow.now(), inp.day_seconds)
                    if change is not None:
                        await self._commit(state, change)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state.view()

    @staticmethod
    def _time_left(state: RequestState) -> timedelta | None:
        """The tier's clock runs while the request is open and not yet overdue at the top."""
        if not is_open(state.status) or state.overdue:
            return None
        return max(state.deadline - workflow.now(), timedelta(milliseconds=1))

    # ---- intake -------------------------------------------------------------------

    @workflow.update
    async def filed(self) -> dict[str, Any]:
        """Returns the request once its filing is recorded (used with update-with-start)."""
        await workflow.wait_condition(lambda: self._state is not None)
        assert self._state is not None
        return self._state.view()

    @workflow.query
    def view(self) -> dict[str, Any] | None:
        return self._state.view() if self._state else None

    # ---- handler actions ---------------------------------------------------------

    @workflow.update
    async def accept(self, cmd: HandlerCommand) -> dict[str, Any]:
        return await self._handle(cmd, lambda s, at: s.decide_accept(cmd.actor.username, at))

    @accept.validator
    def _validate_accept(self, cmd: HandlerCommand) -> None:
        self._dry_run(cmd, lambda s, at: s.decide_accept(cmd.actor.username, at))

    @workflow.update
    async def progress(self, cmd: HandlerCommand) -> dict[str, Any]:
        return await self._handle(cmd, self._progress(cmd))

    @progress.validator
    def _validate_progress(self, cmd: HandlerCommand) -> None:
        self._dry_run(cmd, self._progress(cmd))

    @workflow.update
    async def escalate(self, cmd: HandlerCommand) -> dict[str, Any]:
        return await self._handle(cmd, self._escalate(cmd))

    @escalate.validator
    def _validate_escalate(self, cmd: HandlerCommand) -> None:
        self._dry_run(cmd, self._escalate(cmd))

    @workflow.update
    async def resolve(self, cmd: HandlerCommand) -> dict[str, Any]:
        return await self._handle(cmd, self._resolve(cmd))

    @resolve.validator
    def _validate_resolve(self, cmd: HandlerCommand) -> None:
        self._dry_run(cmd, self._resolve(cmd))

    @workflow.update
    async def review(self, cmd: ReviewCommand) -> dict[str, Any]:
        async with self._lock:
            state = self._checked_state()
            change = self._decide(lambda s, at: self._review(cmd, s, at), state)
            await self._commit(state, change)
            return state.view()

    @review.validator
    def _validate_review(self, cmd: ReviewCommand) -> None:
        self._decide(lambda s, at: self._review(cmd, s, at), self._checked_state())

    # ---- decisions -----------------------------------------------------------------

    def _progress(self, cmd: HandlerCommand) -> Decide:
        return lambda s, at: s.decide_progress(cmd.actor.username, _required(cmd.text, "note"), at)

    def _escalate(self, cmd: HandlerCommand) -> Decide:
        return lambda s, at: s.decide_escalate(
            cmd.actor.username, _required(cmd.text, "reason"), at, self._input.day_seconds
        )

    def _resolve(self, cmd: HandlerCommand) -> Decide:
        return lambda s, at: s.decide_resolve(
            cmd.actor.username, _required(cmd.text, "resolution"), at
        )

    def _review(self, cmd: ReviewCommand, state: RequestState, at: datetime) -> Change:
        try:
            review = Review(
                reached=cmd.reached,
                completion=_answer(cmd.completion),
                progress=_answer(cmd.progress),
                effect=_answer(cmd.effect),
                satisfaction=_answer(cmd.satisfaction),
                comment=cmd.comment,
            )
        except ValueError as e:
            raise ApplicationError(str(e), type=INVALID, non_retryable=True) from None
        return state.decide_review(cmd.actor.username, review, at, self._input.day_seconds)

    # ---- machinery -------------------------------------------------------------------

    def _checked_state(self) -> RequestState:
        if self._state is None:
            raise ApplicationError(
                "the request is still being filed", type=REFUSED, non_retryable=True
            )
        return self._state

    def _dry_run(self, cmd: HandlerCommand, decide: Decide) -> None:
        """Validator: the handler is assigned here and the state allows the move."""
        state = self._checked_state()
        self._check_assigned(cmd, state)
        self._decide(decide, state)

    @staticmethod
    def _check_assigned(cmd: HandlerCommand, state: RequestState) -> None:
        try:
            state.check_handler(cmd.actor.assignments)
        except NotAssigned as e:
            raise ApplicationError(str(e), type=NOT_ASSIGNED, non_retryable=True) from None

    @staticmethod
    def _decide(decide: Decide, state: RequestState) -> Change:
        try:
            return decide(state, workflow.now())
        except Refused as e:
            raise ApplicationError(str(e), type=REFUSED, non_retryable=True) from None

    async def _handle(self, cmd: HandlerCommand, decide: Decide) -> dict[str, Any]:
        # Checked again under the lock: the state may have moved since validation.
        async with self._lock:
            state = self._checked_state()
            self._check_assigned(cmd, state)
            change = self._decide(decide, state)
            await self._commit(state, change)
            return state.view()

    async def _commit(self, state: RequestState, change: Change) -> None:
        await self._record(change, position=len(state.timeline))
        state.apply(change)

    async def _record(self, change: Change, position: int) -> None:
        # The command id is the change's position in this request's history: the same
        # on every retry of the activity, so the store appends it once.
        request_id = self._input.intake.request_id
        record = RecordInput(request_id, f"{request_id}/{position}", change)
        if workflow.patched(LOCAL_RECORD):
            # A local activity: run by this worker inside the workflow task, so a change
            # costs one workflow task instead of a task, an activity and another task.
            # Retries stay safe: the command id makes the append happen once.
            await workflow.execute_local_activity(
                RECORD_CHANGE,
                record,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_RECORD_RETRY,
            )
        else:  # histories recorded before the patch replay as they ran
            await workflow.execute_activity(
                RECORD_CHANGE,
                record,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_RECORD_RETRY,
            )


def _moved_from(state: RequestState, seen: int) -> Callable[[], bool]:
    """True once a change beyond the first ``seen`` has been applied."""
    return lambda: len(state.timeline) != seen


def _required(text: str, name: str) -> str:
    if not text.strip():
        raise ApplicationError(f"a {name} is required", type=INVALID, non_retryable=True)
    return text.strip()


def _answer(value: str | None) -> Answer | None:
    if value is None:
        return None
    try:
        return Answer(value)
    except ValueError:
        raise ApplicationError(
            f"an answer is yes, partly or no, not {value!r}", type=INVALID, non_retryable=True
        ) from None
