"""``RequestWorkflow``: one durable workflow per resident request, the only writer of its events.

The workflow keeps the request's :class:`~domain.state.RequestState`, asks it for each next
change, has a local activity settle that change with the event store, then applies what
the store holds. Handler actions arrive as Updates whose validators reject what the state
does not allow, so a refused command leaves nothing in the history and nothing in the store.

Why the store and the workflow cannot disagree: the local activity runs inside the
workflow task that decides the change, before that task is in history. If the task is
lost after the append (worker killed, task timeout), Temporal runs it again and the
workflow may decide something else at that position (a later time, another order of
updates and timers). So the append names the position it extends, and the store answers
with what it holds from that position on: the new change when the position was free, or
the earlier attempt's changes when it was not. The workflow applies exactly that answer,
never its own decision, then decides again if its own change is not among them. An update
whose change the store already holds (recorded under the update's id) is answered from
it, whatever the state says now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from domain.lifecycle import NotAssigned, Refused, Status, is_open
    from domain.privacy import RequestFacts, Sight, Viewer, sight
    from domain.review import Answer, IncompleteReview, Review
    from domain.state import Change, RecordedChange, RequestState
    from workflows.messages import (
        DEFECT,
        INVALID,
        NOT_ASSIGNED,
        RECORD_CHANGE,
        REFUSED,
        SETTLE_CHANGE,
        UNKNOWN,
        HandlerCommand,
        RecordInput,
        RequestInput,
        ReviewCommand,
        SettleInput,
    )

Decide = Callable[[RequestState, datetime], Change]

#: The patch that made the append a local activity (workflow.patched): histories from
#: before it hold regular activities and still replay that way.
LOCAL_RECORD = "record-as-local-activity"
#: The patch after which the workflow applies what the store holds (settle_change);
#: histories and running requests from before it keep their recording path.
SETTLE = "record-settles-with-store"

#: The command id of the filing; updates use their update id, deadlines their position.
FILED_COMMAND = "filed"


class StoreDisagrees(RuntimeError):
    """Fails the workflow task (Temporal retries it, and it is logged with the workflow id,
    which holds the request id) instead of failing the request's workflow for good."""


_RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[REFUSED],
)
#: 1 ms, not 0: a zero threshold means "unset" to the SDK.
_IN_WORKER_RETRIES = timedelta(milliseconds=1)
#: No limit on attempts: a store that is down is waited for, never given up on.
_SETTLE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[DEFECT],
)


@workflow.defn
class RequestWorkflow:
    @workflow.init
    def __init__(self, inp: RequestInput) -> None:
        self._input = inp
        self._state: RequestState | None = None
        self._lock = asyncio.Lock()
        #: command ids of the changes applied (updates: "update:<update id>")
        self._applied: set[str] = set()

    @workflow.run
    async def run(self, inp: RequestInput) -> dict[str, Any]:
        filed = RequestState.decide_file(inp.intake, workflow.now(), inp.actor, inp.day_seconds)
        recorded = await self._record(filed, FILED_COMMAND, position=0)
        self._state = state = RequestState.from_filed(recorded[0].change)
        self._applied.add(recorded[0].command_id)
        for later in recorded[1:]:
            self._apply(state, later)
        while state.status is not Status.CLOSED:
            try:
                await workflow.wait_condition(
                    _moved_from(state, len(state.timeline)), timeout=self._time_left(state)
                )
            except TimeoutError:
                async with self._lock:
                    change = state.decide_deadline(workflow.now(), inp.day_seconds)
                    if change is not None:
                        await self._commit(state, change, f"deadline:{len(state.timeline)}")
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
        return await self._handle(None, lambda s, at: self._review(cmd, s, at))

    @review.validator
    def _validate_review(self, cmd: ReviewCommand) -> None:
        state = self._checked_state()
        if _update_command_id() not in self._applied:
            self._decide(lambda s, at: self._review(cmd, s, at), state)

    @workflow.update
    async def sync(self) -> dict[str, Any]:
        """Adopt what the store holds beyond the workflow's last change (an operator's
        repair, sent by ``closeloop check --repair``): after a lost workflow task whose
        update was never delivered again, the store can hold a change that the workflow
        would otherwise only adopt at its next one."""
        async with self._lock:
            state = self._checked_state()
            if workflow.patched(SETTLE):
                for recorded in await self._settle(None, "sync", len(state.timeline)):
                    self._apply(state, recorded)
            return state.view()

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
                completion=_answer(cmd.completion, "completion"),
                progress=_answer(cmd.progress, "progress"),
                effect=_answer(cmd.effect, "effect"),
                satisfaction=_answer(cmd.satisfaction, "satisfaction"),
                comment=cmd.comment,
            )
        except IncompleteReview as e:
            raise _refusal(INVALID, e, e.code, field=e.missing[0], missing=e.missing) from None
        return state.decide_review(cmd.actor.username, review, at, self._input.day_seconds)

    # ---- machinery -------------------------------------------------------------------

    def _checked_state(self) -> RequestState:
        if self._state is None:
            raise _refusal(REFUSED, "the request is still being filed", "still_filing")
        return self._state

    def _dry_run(self, cmd: HandlerCommand, decide: Decide) -> None:
        """Validator: the handler is assigned here and the state allows the move (or the
        store already holds this update's change: a retried workflow task adopted it)."""
        state = self._checked_state()
        if _update_command_id() in self._applied:
            return
        self._check_assigned(cmd, state)
        self._decide(decide, state)

    @staticmethod
    def _check_assigned(cmd: HandlerCommand, state: RequestState) -> None:
        try:
            state.check_handler(cmd.actor.assignments)
        except NotAssigned as e:
            viewer = Viewer("handler", tuple(cmd.actor.assignments))
            if sight(viewer, RequestFacts.of(state.view())) is Sight.NONE:
                # not a request of their units: no hint that it exists
                raise _refusal(UNKNOWN, "no such request", "request_not_found") from None
            raise _refusal(NOT_ASSIGNED, e, e.code) from None

    @staticmethod
    def _decide(decide: Decide, state: RequestState) -> Change:
        try:
            return decide(state, workflow.now())
        except Refused as e:
            raise _refusal(REFUSED, e, e.code) from None

    async def _handle(self, cmd: HandlerCommand | None, decide: Decide) -> dict[str, Any]:
        """Decide under the lock (the state may have moved since validation), settle with
        the store, and decide again if the store held other changes at that position."""
        command_id = _update_command_id()
        async with self._lock:
            while True:
                state = self._checked_state()
                if command_id in self._applied:
                    return state.view()
                if cmd is not None:
                    self._check_assigned(cmd, state)
                change = self._decide(decide, state)
                if await self._commit(state, change, command_id):
                    return state.view()

    async def _commit(self, state: RequestState, change: Change, command_id: str) -> bool:
        """Record ``change`` as the state's next change and apply what the store holds
        there; True when ``change`` is among it (as the store holds it)."""
        mine = False
        for recorded in await self._record(change, command_id, position=len(state.timeline)):
            self._apply(state, recorded)
            mine = mine or recorded.command_id == command_id
        return mine

    def _apply(self, state: RequestState, recorded: RecordedChange) -> None:
        state.apply(recorded.change)
        self._applied.add(recorded.command_id)

    async def _record(self, change: Change, command_id: str, position: int) -> list[RecordedChange]:
        """Append ``change`` at ``position``; the store's changes from there on."""
        request_id = self._input.intake.request_id
        if workflow.patched(SETTLE):
            return await self._settle(change, command_id, position)
        # Histories recorded before SETTLE replay as they ran: the command id is the
        # change's position, and the workflow applies its own decision.
        legacy = RecordInput(request_id, f"{request_id}/{position}", change)
        if workflow.patched(LOCAL_RECORD):
            await workflow.execute_local_activity(
                RECORD_CHANGE,
                legacy,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_RECORD_RETRY,
            )
        else:
            await workflow.execute_activity(
                RECORD_CHANGE,
                legacy,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_RECORD_RETRY,
            )
        return [RecordedChange(command_id, change)]

    async def _settle(
        self, change: Change | None, command_id: str, position: int
    ) -> list[RecordedChange]:
        # A local activity: run by this worker inside the workflow task, so a change
        # costs one workflow task instead of a task, an activity and another task.
        request_id = self._input.intake.request_id
        try:
            recorded: list[RecordedChange] = await workflow.execute_local_activity(
                SETTLE_CHANGE,
                SettleInput(request_id, position, command_id, change),
                result_type=list[RecordedChange],
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_SETTLE_RETRY,
                # Retries wait on a workflow timer rather than inside the worker: a retry
                # inside it leaves the first attempt's timeout armed, which can time out a
                # later attempt and aborts the process when it fires after the worker
                # stopped (temporalio/sdk-rust issue 1454).
                local_retry_threshold=_IN_WORKER_RETRIES,
            )
        except CancelledError:
            raise
        except FailureError as e:
            # Retries are exhausted only for a defect (a non-retryable failure); a local
            # activity's failure arrives as ActivityError or as its cause itself. Either
            # way: fail the workflow task, never the request's workflow.
            cause = e.cause if isinstance(e, ActivityError) else e
            why = cause.message if isinstance(cause, FailureError) else str(e)
            raise StoreDisagrees(f"{why} (workflow task retried)") from e
        return recorded


def _update_command_id() -> str:
    """The command id of the update being handled or validated: its update id."""
    info = workflow.current_update_info()
    if info is None:
        raise RuntimeError("not inside an update")
    return f"update:{info.id}"


def _moved_from(state: RequestState, seen: int) -> Callable[[], bool]:
    """True once a change beyond the first ``seen`` has been applied."""
    return lambda: len(state.timeline) != seen


def _refusal(
    kind: str, why: str | Exception, code: str, field: str | None = None, **params: Any
) -> ApplicationError:
    """A refused command: ``kind`` gives the HTTP status, ``code`` the stable reason the
    pages translate, ``field`` the part of the body it concerns (all in the details)."""
    reason = {"code": code, "field": field, "params": params}
    return ApplicationError(str(why), reason, type=kind, non_retryable=True)


def _required(text: str, name: str) -> str:
    if not text.strip():
        raise _refusal(INVALID, f"a {name} is required", "required", field=name)
    return text.strip()


def _answer(value: str | None, dimension: str) -> Answer | None:
    if value is None:
        return None
    try:
        return Answer(value)
    except ValueError:
        raise _refusal(
            INVALID, f"an answer is yes, partly or no, not {value!r}", "bad_answer", dimension
        ) from None
