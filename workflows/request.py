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
    from domain.ladder import LADDER, TIER_LEVEL, Level, Tier
    from domain.lifecycle import Invalid, NotAssigned, Refused, Status, is_open
    from domain.privacy import RequestFacts, Sight, Viewer, sight
    from domain.review import Answer, IncompleteReview, Review
    from domain.state import (
        CLOSED_OUT_OF_SCOPE,
        RESIDENT_ACTOR,
        RESOLVED,
        SYSTEM_ACTOR,
        Assignment,
        Change,
        DueRule,
        RecordedChange,
        RequestState,
    )
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
        Actor,
        DeadlinesInput,
        HandlerCommand,
        LinkCommand,
        LinkInput,
        LocateCommand,
        MergeCommand,
        OpsCommand,
        PrimaryReleased,
        PrimaryResolved,
        RecordInput,
        RequestInput,
        ReviewCommand,
        SettleInput,
        workflow_id,
    )

Decide = Callable[[RequestState, datetime], Change]
Check = Callable[[RequestState], None]

#: The patch that made the append a local activity (workflow.patched): histories from
#: before it hold regular activities and still replay that way.
LOCAL_RECORD = "record-as-local-activity"
#: The patch after which the workflow applies what the store holds (settle_change);
#: histories and running requests from before it keep their recording path.
SETTLE = "record-settles-with-store"

#: The patch of the street-office operations: the warning timer (预警), working-day
#: deadlines from a local activity, and the appeal window after an out-of-scope closure.
OPERATIONS = "street-office-operations"
#: The patch of the resident's self-review: a resolution opens a window for it, and the
#: window's end is recorded (ReviewWindowClosed) for the callers.
SELF_REVIEW = "self-review-window"

#: The command id of the filing; updates use their update id, deadlines their position.
FILED_COMMAND = "filed"

#: Who may do what beyond the handlers at the current level (the API checks the role and
#: the posts of dispatchers; the workflow checks what depends on the request's state).
SUPERVISOR = "supervisor"
DISPATCHER = "dispatcher"


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
#: Asking another request's workflow (link_duplicate): Temporal being unreachable is
#: waited for; a refusal is not retried (it is a non-retryable ApplicationError).
_LINK_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
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
        #: the deadline rule of the decision being made under the lock (None: day_seconds)
        self._current_rule: DueRule | None = None
        #: this request is asking another to take it in (merge): it takes in none meanwhile
        self._merging = False
        #: messages to the duplicates, queued as the changes that call for them are applied
        self._outbox: list[tuple[str, PrimaryResolved | PrimaryReleased]] = []

    @workflow.run
    async def run(self, inp: RequestInput) -> dict[str, Any]:
        now = workflow.now()
        rule = await self._due_rule(now) if not inp.intake.manual else inp.day_seconds
        filed = RequestState.decide_file(inp.intake, now, inp.actor, rule)
        recorded = await self._record(filed, FILED_COMMAND, position=0)
        self._state = state = RequestState.from_filed(recorded[0].change)
        self._applied.add(recorded[0].command_id)
        for later in recorded[1:]:
            self._apply(state, later)
        while True:
            while state.status is not Status.CLOSED:
                try:
                    await workflow.wait_condition(
                        _moved_from(state, len(state.timeline)), timeout=self._time_left(state)
                    )
                except TimeoutError:
                    async with self._lock:
                        await self._on_time(state)
            if not await self._appealed(state):
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state.view()

    def _warn_share(self) -> float | None:
        share = self._input.warn_share
        return share if share and workflow.patched(OPERATIONS) else None

    def _time_left(self, state: RequestState) -> timedelta | None:
        """The tier's clock runs while the request is open and not yet overdue at the top;
        it first wakes at the warning time (预警) when warnings are on. A resolved request
        waits for the end of its self-review window, if it has one."""
        window = self._review_window_end(state)
        if window is not None:
            return max(window - workflow.now(), timedelta(milliseconds=1))
        if not is_open(state.status) or state.overdue or state.deadline is None:
            return None
        when = state.deadline
        share = self._warn_share()
        warn_at = state.warn_at(share) if share else None
        if warn_at is not None and warn_at < when:
            when = warn_at
        return max(when - workflow.now(), timedelta(milliseconds=1))

    @staticmethod
    def _review_window_end(state: RequestState) -> datetime | None:
        """When the self-review window of a resolved request ends (None: no window is
        open). Only resolutions made under the SELF_REVIEW patch open one."""
        if state.status is not Status.RESOLVED or state.review_window_closed:
            return None
        return state.review_until

    def _review_seconds(self) -> float | None:
        """The self-review window a resolution opens now (an update handler's question:
        ``patched`` is not asked in validators)."""
        seconds = self._input.self_review_seconds
        return seconds if seconds and workflow.patched(SELF_REVIEW) else None

    async def _on_time(self, state: RequestState) -> None:
        """A timer fired: close the self-review window, warn, or escalate / mark overdue
        at the deadline."""
        now = workflow.now()
        closing = state.decide_review_window_closed(now)
        if closing is not None:
            await self._commit(state, closing, f"review-window:{len(state.timeline)}")
            return
        share = self._warn_share()
        warning = state.decide_warn(now, share) if share else None
        if warning is not None:
            await self._commit(state, warning, f"warn:{len(state.timeline)}")
            return
        if state.deadline is None or now < state.deadline or not is_open(state.status):
            return
        change = state.decide_deadline(now, await self._due_rule(now))  # decided at ``now``
        if change is not None:
            await self._commit(state, change, f"deadline:{len(state.timeline)}")

    async def _appealed(self, state: RequestState) -> bool:
        """After an out-of-scope closure the workflow waits out the appeal window: True
        when the resident appealed (the request is open again)."""
        until = state.appeal_until(self._input.day_seconds)
        if until is None:
            return False
        try:
            await workflow.wait_condition(
                lambda: state.status is not Status.CLOSED,
                timeout=max(until - workflow.now(), timedelta(milliseconds=1)),
            )
        except TimeoutError:
            return False
        return True

    async def _due_rule(self, at: datetime) -> DueRule:
        """The deadline rule for a change decided at ``at``: calendar days of
        ``day_seconds``, or (working days) each tier's deadline from ``at`` as a local
        activity computed it from the working-day calendar and the tier rules."""
        if not self._input.working_days or not workflow.patched(OPERATIONS):
            return self._input.day_seconds
        table: dict[str, str] = await workflow.execute_local_activity(
            DEADLINES,
            DeadlinesInput(at),
            result_type=dict[str, str],
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_SETTLE_RETRY,
            local_retry_threshold=_IN_WORKER_RETRIES,
        )
        return lambda tier, _at: datetime.fromisoformat(table[tier.value])

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
        return await self._handle(_assigned(cmd.actor), self._accept(cmd))

    @accept.validator
    def _validate_accept(self, cmd: HandlerCommand) -> None:
        self._dry_run(_assigned(cmd.actor), self._accept(cmd))

    @workflow.update
    async def progress(self, cmd: HandlerCommand) -> dict[str, Any]:
        return await self._handle(_assigned_or_assisting(cmd.actor), self._progress(cmd))

    @progress.validator
    def _validate_progress(self, cmd: HandlerCommand) -> None:
        self._dry_run(_assigned_or_assisting(cmd.actor), self._progress(cmd))

    @workflow.update
    async def escalate(self, cmd: HandlerCommand) -> dict[str, Any]:
        return await self._handle(_assigned(cmd.actor), self._escalate(cmd), needs_rule=True)

    @escalate.validator
    def _validate_escalate(self, cmd: HandlerCommand) -> None:
        self._dry_run(_assigned(cmd.actor), self._escalate(cmd))

    @workflow.update
    async def resolve(self, cmd: HandlerCommand) -> dict[str, Any]:
        return await self._handle(_assigned(cmd.actor), self._resolve(cmd, self._review_seconds()))

    @resolve.validator
    def _validate_resolve(self, cmd: HandlerCommand) -> None:
        self._dry_run(_assigned(cmd.actor), self._resolve(cmd, None))

    @workflow.update
    async def review(self, cmd: ReviewCommand) -> dict[str, Any]:
        return await self._handle(None, lambda s, at: self._review(cmd, s, at), needs_rule=True)

    @review.validator
    def _validate_review(self, cmd: ReviewCommand) -> None:
        self._dry_run(None, lambda s, at: self._review(cmd, s, at))

    # ---- street-office operations (the API checks roles and dispatchers' posts) --------

    @workflow.update
    async def dispatch(self, cmd: OpsCommand) -> dict[str, Any]:
        return await self._handle(None, self._dispatch(cmd), needs_rule=True)

    @dispatch.validator
    def _validate_dispatch(self, cmd: OpsCommand) -> None:
        self._dry_run(None, self._dispatch(cmd))

    @workflow.update(name="return")
    async def return_(self, cmd: OpsCommand) -> dict[str, Any]:
        return await self._handle(_assigned(cmd.actor), self._return(cmd))

    @return_.validator
    def _validate_return(self, cmd: OpsCommand) -> None:
        self._dry_run(_assigned(cmd.actor), self._return(cmd))

    @workflow.update
    async def redirect(self, cmd: OpsCommand) -> dict[str, Any]:
        return await self._handle(None, self._redirect(cmd))

    @redirect.validator
    def _validate_redirect(self, cmd: OpsCommand) -> None:
        self._dry_run(None, self._redirect(cmd))

    @workflow.update
    async def retier(self, cmd: OpsCommand) -> dict[str, Any]:
        return await self._handle(None, self._retier(cmd), needs_rule=True)

    @retier.validator
    def _validate_retier(self, cmd: OpsCommand) -> None:
        self._dry_run(None, self._retier(cmd))

    @workflow.update
    async def urge(self, cmd: OpsCommand) -> dict[str, Any]:
        return await self._handle(_above(cmd.actor, strictly_next=False), self._urge(cmd))

    @urge.validator
    def _validate_urge(self, cmd: OpsCommand) -> None:
        self._dry_run(_above(cmd.actor, strictly_next=False), self._urge(cmd))

    @workflow.update
    async def extension(self, cmd: OpsCommand) -> dict[str, Any]:
        return await self._handle(_assigned(cmd.actor), self._ask_extension(cmd))

    @extension.validator
    def _validate_extension(self, cmd: OpsCommand) -> None:
        self._dry_run(_assigned(cmd.actor), self._ask_extension(cmd))

    @workflow.update
    async def extension_decision(self, cmd: OpsCommand) -> dict[str, Any]:
        return await self._handle(_above(cmd.actor, strictly_next=True), self._decide_ext(cmd))

    @extension_decision.validator
    def _validate_extension_decision(self, cmd: OpsCommand) -> None:
        self._dry_run(_above(cmd.actor, strictly_next=True), self._decide_ext(cmd))

    @workflow.update
    async def add_cohandler(self, cmd: OpsCommand) -> dict[str, Any]:
        return await self._handle(_assigned_or_supervisor(cmd.actor), self._add_cohandler(cmd))

    @add_cohandler.validator
    def _validate_add_cohandler(self, cmd: OpsCommand) -> None:
        self._dry_run(_assigned_or_supervisor(cmd.actor), self._add_cohandler(cmd))

    @workflow.update
    async def cohandler_done(self, cmd: OpsCommand) -> dict[str, Any]:
        return await self._handle(None, self._cohandler_done(cmd))

    @cohandler_done.validator
    def _validate_cohandler_done(self, cmd: OpsCommand) -> None:
        self._dry_run(None, self._cohandler_done(cmd))

    @workflow.update
    async def close_out_of_scope(self, cmd: OpsCommand) -> dict[str, Any]:
        return await self._handle(_community_or_above(cmd.actor), self._out_of_scope(cmd))

    @close_out_of_scope.validator
    def _validate_close_out_of_scope(self, cmd: OpsCommand) -> None:
        self._dry_run(_community_or_above(cmd.actor), self._out_of_scope(cmd))

    @workflow.update
    async def appeal(self, cmd: OpsCommand) -> dict[str, Any]:
        return await self._handle(None, self._appeal(cmd), needs_rule=True)

    @appeal.validator
    def _validate_appeal(self, cmd: OpsCommand) -> None:
        self._dry_run(None, self._appeal(cmd))

    @workflow.update
    async def locate(self, cmd: LocateCommand) -> dict[str, Any]:
        return await self._handle(_assigned_or_platform(cmd.actor), self._locate(cmd))

    @locate.validator
    def _validate_locate(self, cmd: LocateCommand) -> None:
        self._dry_run(_assigned_or_platform(cmd.actor), self._locate(cmd))

    # ---- duplicates (合并) ---------------------------------------------------------------

    @workflow.update
    async def merge(self, cmd: MergeCommand) -> dict[str, Any]:
        """Merge this request into ``cmd.into``: that request's workflow takes it in
        first (an Update through the link activity), then the merge is recorded here."""
        check = _assigned_or_platform(cmd.actor)
        decide = self._merge_into(cmd)
        command_id = _update_command_id()
        async with self._lock:
            state = self._checked_state()
            if command_id in self._applied:
                return state.view()
            check(state)
            self._decide(decide, state)
            self._merging = True
            try:
                await self._link("attach_duplicate", cmd.into, cmd, command_id)
            finally:
                self._merging = False
            undo = ("detach_duplicate", cmd.into)
            return await self._commit_linked(state, decide, command_id, cmd, undo)

    @merge.validator
    def _validate_merge(self, cmd: MergeCommand) -> None:
        self._dry_run(_assigned_or_platform(cmd.actor), self._merge_into(cmd))

    @workflow.update
    async def unmerge(self, cmd: MergeCommand) -> dict[str, Any]:
        """Take this request out of the one it is merged into, while that one is open:
        that request's workflow lets it go first, then it is recorded here."""
        check = _assigned_or_platform(cmd.actor)
        command_id = _update_command_id()
        async with self._lock:
            state = self._checked_state()
            if command_id in self._applied:
                return state.view()
            check(state)
            self._current_rule = await self._due_rule(workflow.now())
            try:
                decide = self._unmerge(cmd)
                self._decide(decide, state)
                primary = state.merged_into or ""
                await self._link("detach_duplicate", primary, cmd, command_id)
                undo = ("attach_duplicate", primary)
                return await self._commit_linked(state, decide, command_id, cmd, undo)
            finally:
                self._current_rule = None

    @unmerge.validator
    def _validate_unmerge(self, cmd: MergeCommand) -> None:
        self._dry_run(_assigned_or_platform(cmd.actor), self._unmerge(cmd))

    @workflow.update
    async def attach_duplicate(self, cmd: LinkCommand) -> dict[str, Any]:
        """Another request asks to be merged into this one (from its workflow)."""
        # A request that is itself asking to be merged takes nothing in: two requests
        # merging into each other at once would otherwise wait for each other for ever.
        while True:
            self._refuse_while_merging()
            if not self._lock.locked():
                break
            await workflow.wait_condition(lambda: self._merging or not self._lock.locked())
        return await self._handle(None, self._attach(cmd))

    @attach_duplicate.validator
    def _validate_attach_duplicate(self, cmd: LinkCommand) -> None:
        self._refuse_while_merging()
        self._dry_run(None, self._attach(cmd))

    @workflow.update
    async def detach_duplicate(self, cmd: LinkCommand) -> dict[str, Any]:
        """A request merged into this one asks to be taken out (from its workflow)."""
        return await self._handle(None, self._detach(cmd))

    @detach_duplicate.validator
    def _validate_detach_duplicate(self, cmd: LinkCommand) -> None:
        self._dry_run(None, self._detach(cmd))

    @workflow.signal
    async def primary_resolved(self, msg: PrimaryResolved) -> None:
        """The request this one is merged into was resolved: so is this one, with the
        same resolution; its resident reviews it on their own."""
        await workflow.wait_condition(lambda: self._state is not None)
        async with self._lock:
            await self._follow(
                msg.primary,
                lambda s, at: s.decide_follow(
                    msg.primary,
                    msg.by,
                    msg.resolution,
                    msg.on_time,
                    at,
                    self._review_seconds(),
                    msg.photos,
                    msg.post,
                ),
            )

    @workflow.signal
    async def primary_released(self, msg: PrimaryReleased) -> None:
        """The request this one is merged into was closed without a resolution: this one
        is its own work again."""
        await workflow.wait_condition(lambda: self._state is not None)
        async with self._lock:
            rule = await self._due_rule(workflow.now())
            await self._follow(
                msg.primary,
                lambda s, at: s.decide_unmerge(SYSTEM_ACTOR, msg.reason, at, rule, automatic=True),
            )

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
                await self._send_outbox()
            return state.view()

    # ---- decisions -----------------------------------------------------------------

    def _rule(self) -> DueRule:
        """The deadline rule of the decision being made (see :meth:`_handle`)."""
        return self._current_rule if self._current_rule is not None else self._input.day_seconds

    @staticmethod
    def _accept(cmd: HandlerCommand) -> Decide:
        return lambda s, at: s.decide_accept(cmd.actor.username, at)

    def _progress(self, cmd: HandlerCommand) -> Decide:
        def decide(s: RequestState, at: datetime) -> Change:
            note = _required(cmd.text, "note")
            if s.may_handle(cmd.actor.assignments):
                return s.decide_progress(cmd.actor.username, note, at, cmd.photos)
            return s.decide_assist_note(cmd.actor.username, note, at, cmd.photos)

        return decide

    def _escalate(self, cmd: HandlerCommand) -> Decide:
        return lambda s, at: s.decide_escalate(
            cmd.actor.username, _required(cmd.text, "reason"), at, self._rule()
        )

    def _resolve(self, cmd: HandlerCommand, review_seconds: float | None) -> Decide:
        return lambda s, at: s.decide_resolve(
            cmd.actor.username, _required(cmd.text, "resolution"), at, review_seconds, cmd.photos
        )

    @staticmethod
    def _locate(cmd: LocateCommand) -> Decide:
        return lambda s, at: s.decide_correct_location(
            cmd.actor.username,
            cmd.lat,
            cmd.long,
            cmd.address,
            cmd.building,
            _required(cmd.reason, "reason"),
            at,
        )

    @staticmethod
    def _merge_into(cmd: MergeCommand) -> Decide:
        return lambda s, at: s.decide_merge(
            cmd.actor.username, _required(cmd.into, "into"), _required(cmd.reason, "reason"), at
        )

    def _unmerge(self, cmd: MergeCommand) -> Decide:
        return lambda s, at: s.decide_unmerge(
            cmd.actor.username, _required(cmd.reason, "reason"), at, self._rule()
        )

    @staticmethod
    def _attach(cmd: LinkCommand) -> Decide:
        return lambda s, at: s.decide_attach(cmd.actor.username, cmd.request_id, cmd.reason, at)

    @staticmethod
    def _detach(cmd: LinkCommand) -> Decide:
        return lambda s, at: s.decide_detach(cmd.actor.username, cmd.request_id, cmd.reason, at)

    def _refuse_while_merging(self) -> None:
        if self._merging:
            raise _refusal(
                REFUSED,
                "the request to merge into is being merged into another one itself",
                "primary_merging",
                field="into",
            )

    async def _link(self, action: str, primary: str, cmd: MergeCommand, command_id: str) -> None:
        """Ask ``primary``'s workflow to take this request in or let it go; its refusal is
        this command's refusal (nothing is recorded here)."""
        link = LinkInput(
            primary=primary,
            action=action,
            command=LinkCommand(cmd.actor, self._input.intake.request_id, cmd.reason.strip()),
            update_id=f"{action}:{self._input.intake.request_id}:{command_id}",
        )
        refusal: dict[str, Any] | None = await workflow.execute_activity(
            LINK_DUPLICATE,
            link,
            result_type=dict,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_LINK_RETRY,
        )
        if refusal is not None:
            raise ApplicationError(
                refusal["message"], refusal["reason"], type=refusal["type"], non_retryable=True
            )

    async def _commit_linked(
        self,
        state: RequestState,
        decide: Decide,
        command_id: str,
        cmd: MergeCommand,
        undo: tuple[str, str],
    ) -> dict[str, Any]:
        """Record the merge (or unmerge) the other workflow agreed to. Should the store
        hold other changes here that make it moot (a lost workflow task's, adopted), what
        the primary did is undone there (``undo``: the action and the primary), so that
        the two never disagree."""
        while True:
            try:
                change = self._decide(decide, state, workflow.now())
            except ApplicationError:
                action, primary = undo
                await self._link(action, primary, cmd, f"{command_id}:undo")
                raise
            if await self._commit(state, change, command_id):
                return state.view()

    async def _follow(self, primary: str, decide: Decide) -> None:
        """Record what the primary's message calls for, unless this request no longer
        follows that primary (a message that arrives twice is recorded once)."""
        while True:
            state = self._checked_state()
            if state.merged_into != primary or state.status is not Status.MERGED:
                workflow.logger.info("ignoring a message from %s: not merged into it", primary)
                return
            change = self._decide(decide, state)
            if await self._commit(state, change, f"{change.type}:{primary}:{len(state.timeline)}"):
                return

    async def _send_outbox(self) -> None:
        """Tell the duplicates what their primary's changes call for (durable signals)."""
        while self._outbox:
            duplicate, message = self._outbox.pop(0)
            handle = workflow.get_external_workflow_handle(workflow_id(duplicate))
            resolved = isinstance(message, PrimaryResolved)
            name = "primary_resolved" if resolved else "primary_released"
            try:
                await handle.signal(name, message)
            except FailureError as e:  # its workflow has ended: nothing follows this one
                workflow.logger.warning("could not tell %s: %s", duplicate, e)

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
        if cmd.actor.role == RESIDENT_ACTOR:  # from the tracking link (限时反馈)
            return state.decide_self_review(review, at, self._rule())
        return state.decide_review(cmd.actor.username, review, at, self._rule())

    def _dispatch(self, cmd: OpsCommand) -> Decide:
        return lambda s, at: s.decide_dispatch(
            cmd.actor.username,
            _required(cmd.grid_id or "", "grid_id"),
            _tier(cmd.tier),
            at,
            self._rule(),
            category=cmd.category,
            note=cmd.text.strip(),
        )

    @staticmethod
    def _return(cmd: OpsCommand) -> Decide:
        return lambda s, at: s.decide_return(cmd.actor.username, _required(cmd.text, "reason"), at)

    @staticmethod
    def _redirect(cmd: OpsCommand) -> Decide:
        return lambda s, at: s.decide_redirect(
            cmd.actor.username,
            _required(cmd.grid_id or "", "grid_id"),
            _required(cmd.text, "reason"),
            at,
        )

    def _retier(self, cmd: OpsCommand) -> Decide:
        return lambda s, at: s.decide_retier(
            cmd.actor.username, _tier(cmd.tier), _required(cmd.text, "reason"), at, self._rule()
        )

    @staticmethod
    def _urge(cmd: OpsCommand) -> Decide:
        return lambda s, at: s.decide_urge(cmd.actor.username, _required(cmd.text, "note"), at)

    def _ask_extension(self, cmd: OpsCommand) -> Decide:
        def decide(s: RequestState, at: datetime) -> Change:
            if cmd.until is None:
                raise _refusal(INVALID, "a new deadline (until) is required", "required", "until")
            return s.decide_ask_extension(
                cmd.actor.username,
                cmd.until,
                _required(cmd.text, "reason"),
                at,
                self._input.max_extensions,
            )

        return decide

    @staticmethod
    def _decide_ext(cmd: OpsCommand) -> Decide:
        def decide(s: RequestState, at: datetime) -> Change:
            if cmd.approve is None:
                raise _refusal(INVALID, "approve is true or false", "required", "approve")
            return s.decide_extension(cmd.actor.username, cmd.approve, cmd.text.strip(), at)

        return decide

    @staticmethod
    def _add_cohandler(cmd: OpsCommand) -> Decide:
        return lambda s, at: s.decide_add_cohandler(
            cmd.actor.username,
            _required(cmd.username or "", "username"),
            _required(cmd.task, "task"),
            at,
            due=cmd.due,
            organisation=cmd.organisation,
        )

    @staticmethod
    def _cohandler_done(cmd: OpsCommand) -> Decide:
        def decide(s: RequestState, at: datetime) -> Change:
            if cmd.username != cmd.actor.username and cmd.actor.role != SUPERVISOR:
                raise _refusal(
                    NOT_ASSIGNED, "only the co-handler marks their part done", "not_cohandler"
                )
            return s.decide_cohandler_done(
                _required(cmd.username or "", "username"), cmd.text.strip(), at
            )

        return decide

    @staticmethod
    def _out_of_scope(cmd: OpsCommand) -> Decide:
        return lambda s, at: s.decide_close_out_of_scope(
            cmd.actor.username, _required(cmd.text, "reason"), at
        )

    def _appeal(self, cmd: OpsCommand) -> Decide:
        return lambda s, at: s.decide_appeal(
            cmd.actor.username,
            _required(cmd.text, "reason"),
            at,
            self._input.day_seconds,
            self._rule(),
        )

    # ---- machinery -------------------------------------------------------------------

    def _checked_state(self) -> RequestState:
        if self._state is None:
            raise _refusal(REFUSED, "the request is still being filed", "still_filing")
        return self._state

    def _dry_run(self, check: Check | None, decide: Decide) -> None:
        """Validator: the actor may make this move and the state allows it (or the store
        already holds this update's change: a retried workflow task adopted it)."""
        state = self._checked_state()
        if _update_command_id() in self._applied:
            return
        if check is not None:
            check(state)
        self._decide(decide, state)

    @staticmethod
    def _decide(decide: Decide, state: RequestState, at: datetime | None = None) -> Change:
        try:
            return decide(state, at or workflow.now())
        except Refused as e:
            raise _refusal(REFUSED, e, e.code) from None
        except Invalid as e:
            raise _refusal(INVALID, e, e.code, field=e.field) from None

    async def _handle(
        self, check: Check | None, decide: Decide, needs_rule: bool = False
    ) -> dict[str, Any]:
        """Decide under the lock (the state may have moved since validation), settle with
        the store, and decide again if the store held other changes at that position.
        ``needs_rule``: the move sets a deadline, so the rule is fetched first."""
        command_id = _update_command_id()
        async with self._lock:
            while True:
                state = self._checked_state()
                if command_id in self._applied:
                    return state.view()
                if check is not None:
                    check(state)
                # a move that sets a deadline is decided at the moment its rule was
                # fetched for, so the deadline counts from the change's own time
                at = workflow.now()
                if needs_rule:
                    self._current_rule = await self._due_rule(at)
                try:
                    change = self._decide(decide, state, at)
                finally:
                    self._current_rule = None
                if await self._commit(state, change, command_id):
                    return state.view()

    async def _commit(self, state: RequestState, change: Change, command_id: str) -> bool:
        """Record ``change`` as the state's next change and apply what the store holds
        there; True when ``change`` is among it (as the store holds it)."""
        mine = False
        for recorded in await self._record(change, command_id, position=len(state.timeline)):
            self._apply(state, recorded)
            mine = mine or recorded.command_id == command_id
        await self._send_outbox()
        return mine

    def _apply(self, state: RequestState, recorded: RecordedChange) -> None:
        duplicates = list(state.duplicates)
        state.apply(recorded.change)
        self._applied.add(recorded.command_id)
        change = recorded.change
        if not duplicates:
            return
        message: PrimaryResolved | PrimaryReleased | None = None
        if change.type == RESOLVED:
            message = PrimaryResolved(
                primary=state.id,
                by=change.actor,
                resolution=change.data["resolution"],
                on_time=bool(change.data.get("on_time", True)),
                photos=[
                    {"hash": p["hash"], "type": p["type"]} for p in change.data.get("photos", [])
                ],
                post={
                    "level": state.level.value,
                    "unit_id": state.level_unit_id,
                    "grid_id": state.grid_id,
                    "community_id": state.community_id,
                    "town_id": state.town_id,
                },
            )
        elif change.type == CLOSED_OUT_OF_SCOPE:
            message = PrimaryReleased(primary=state.id, reason=change.data["reason"])
        if message is not None:
            self._outbox.extend((duplicate, message) for duplicate in duplicates)

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


def _not_known(actor: Actor, state: RequestState, e: NotAssigned) -> ApplicationError:
    """A handler outside the request's units gets "no such request" (no hint that it
    exists); one inside them is told they are not assigned."""
    viewer = Viewer("handler", tuple(actor.assignments))
    if sight(viewer, RequestFacts.of(state.view())) is Sight.NONE:
        return _refusal(UNKNOWN, "no such request", "request_not_found")
    return _refusal(NOT_ASSIGNED, e, e.code)


def _assigned(actor: Actor) -> Check:
    """The actor is a handler at the request's current level and unit."""

    def check(state: RequestState) -> None:
        try:
            state.check_handler(actor.assignments)
        except NotAssigned as e:
            raise _not_known(actor, state, e) from None

    return check


def _assigned_or_supervisor(actor: Actor) -> Check:
    check = _assigned(actor)
    return (lambda state: None) if actor.role == SUPERVISOR else check


def _assigned_or_platform(actor: Actor) -> Check:
    """A handler at the current level, a supervisor, or a dispatcher (the API checks that
    the dispatcher is posted at the request's community or town)."""
    check = _assigned(actor)
    return (lambda state: None) if actor.role in (SUPERVISOR, DISPATCHER) else check


def _assigned_or_assisting(actor: Actor) -> Check:
    """A handler at the current level, one assisting from a level it left, or one of
    its co-handlers (a partner or a staff member called in)."""
    check = _assigned(actor)

    def either(state: RequestState) -> None:
        if state.is_assisting(actor.assignments) or state.is_cohandler(actor.username):
            return
        check(state)

    return either


def _above(actor: Actor, strictly_next: bool) -> Check:
    """A supervisor, or a handler posted above the request's current level on its units
    (``strictly_next``: exactly one level up, as extension decisions need)."""

    def check(state: RequestState) -> None:
        if actor.role == SUPERVISOR:
            return
        current = LADDER.index(_tier_of(state.level))
        for post in actor.assignments:
            above = LADDER.index(_tier_of(post.level)) - current
            if (above == 1 if strictly_next else above >= 1) and _posted_for(post, state):
                return
        what = "the level just above" if strictly_next else "a level above"
        try:
            raise NotAssigned(f"this needs a supervisor or a handler at {what} the current one")
        except NotAssigned as e:
            raise _not_known(actor, state, e) from None

    return check


def _community_or_above(actor: Actor) -> Check:
    """A supervisor, or a handler of the community or town party committee of the
    request's units (不予受理 is decided there, not at a grid)."""
    high = (Level.COMMUNITY_COMMITTEE, Level.TOWN_COMMITTEE)

    def check(state: RequestState) -> None:
        if actor.role == SUPERVISOR:
            return
        if any(p.level in high and _posted_for(p, state) for p in actor.assignments):
            return
        try:
            raise NotAssigned("this needs a supervisor or a community or town committee handler")
        except NotAssigned as e:
            raise _not_known(actor, state, e) from None

    return check


def _tier_of(level: Level) -> Tier:
    return next(tier for tier, owner in TIER_LEVEL.items() if owner is level)


def _posted_for(post: Assignment, state: RequestState) -> bool:
    """The post is on the unit that its level would own this request at."""
    units = {
        Level.GRID_WORKER: state.grid_id,
        Level.GRID_BRANCH: state.grid_id,
        Level.COMMUNITY_COMMITTEE: state.community_id,
        Level.TOWN_COMMITTEE: state.town_id,
    }
    return units[post.level] == post.unit_id


def _tier(value: str | None) -> Tier:
    try:
        return Tier(value or "")
    except ValueError:
        raise _refusal(
            INVALID, f"tier is one of {', '.join(t.value for t in LADDER)}", "bad_tier", "tier"
        ) from None


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
