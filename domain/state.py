"""A resident request's state, the changes (events) that move it, and the decisions that make them.

The workflow holds a :class:`RequestState` and asks its ``decide_*`` methods for the next
:class:`Change`; an activity records that change on the aggregate, which applies it with
the same :meth:`RequestState.apply`. The rule lives here once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from domain.ladder import (
    LADDER,
    LEVEL_UNIT_KIND,
    TIER_LEVEL,
    Level,
    Tier,
    UnitKind,
    deadline_for,
    next_tier,
)
from domain.lifecycle import Action, Invalid, NotAssigned, Refused, Status, is_open, require
from domain.place import AFTER, BEFORE, FILED_STAGE, PRIVATE_KEYS, photo_refs, place
from domain.review import Outcome, Review

SYSTEM_ACTOR = "system"

# Event type names, as they appear in the timeline and in the event store's topics.
FILED = "Filed"
ACCEPTED = "Accepted"
PROGRESS_NOTED = "ProgressNoted"
ESCALATED = "Escalated"
MARKED_OVERDUE = "MarkedOverdue"
RESOLVED = "Resolved"
REVIEWED = "Reviewed"
# Street-office operations (分解交办, 退单, 改派, 预警, 催办, 延期, 吹哨报到, 不予受理)
DISPATCHED = "Dispatched"
RETURNED = "Returned"
REDIRECTED = "Redirected"
RETIERED = "Retiered"
WARNED = "Warned"
URGED = "Urged"
EXTENSION_ASKED = "ExtensionAsked"
DEADLINE_EXTENDED = "DeadlineExtended"
EXTENSION_REFUSED = "ExtensionRefused"
COHANDLER_ADDED = "CohandlerAdded"
COHANDLER_DONE = "CohandlerDone"
CLOSED_OUT_OF_SCOPE = "ClosedOutOfScope"
APPEALED = "Appealed"
#: The resident's self-review window (限时反馈) passed without their review: callers phone.
REVIEW_WINDOW_CLOSED = "ReviewWindowClosed"
#: Staff corrected where the request is (domain.place).
LOCATION_CORRECTED = "LocationCorrected"
# Duplicates (合并): a request merged into another follows it; the other keeps the list.
MERGED = "Merged"
UNMERGED = "Unmerged"
DUPLICATE_ATTACHED = "DuplicateAttached"
DUPLICATE_DETACHED = "DuplicateDetached"
MERGE_TYPES = (MERGED, UNMERGED, DUPLICATE_ATTACHED, DUPLICATE_DETACHED)
OPERATION_TYPES = (
    DISPATCHED,
    RETURNED,
    REDIRECTED,
    RETIERED,
    WARNED,
    URGED,
    EXTENSION_ASKED,
    DEADLINE_EXTENDED,
    EXTENSION_REFUSED,
    COHANDLER_ADDED,
    COHANDLER_DONE,
    CLOSED_OUT_OF_SCOPE,
    APPEALED,
    *MERGE_TYPES,
)
EVENT_TYPES = (
    FILED,
    ACCEPTED,
    PROGRESS_NOTED,
    ESCALATED,
    MARKED_OVERDUE,
    RESOLVED,
    REVIEWED,
    *OPERATION_TYPES,
    REVIEW_WINDOW_CLOSED,
    LOCATION_CORRECTED,
)

#: Who acts when the resident reviews their own request from the tracking link.
RESIDENT_ACTOR = "resident"
#: Where a review came from: a follow-up call, or the resident's own (by link).
SOURCE_CALLER = "caller"
SOURCE_RESIDENT = "resident"

#: The outcome of a request closed as outside the office's scope (不予受理 / 无法办理).
OUT_OF_SCOPE = "out_of_scope"
#: A request closed out of scope may be appealed once within this many days.
APPEAL_DAYS = 7
#: Where an appeal reopens a request: the community party committee (专题研办).
APPEAL_TIER = Tier.D5

#: A deadline rule: a tier and the moment it is entered -> its deadline. The workflow
#: passes one that knows the working-day calendar; a number is a day's length in seconds
#: (calendar days, as :func:`domain.ladder.deadline_for` counts them).
Due = Callable[[Tier, datetime], datetime]
DueRule = Due | float


def due_at(rule: DueRule, tier: Tier, at: datetime) -> datetime:
    """The deadline of ``tier`` entered at ``at`` under ``rule``."""
    if callable(rule):
        return rule(tier, at)
    return deadline_for(tier, at, rule)


@dataclass(frozen=True)
class Change:
    """One domain event: what happened, when, by whom; ``data`` holds JSON values only."""

    type: str
    at: datetime
    actor: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedChange:
    """A change as the event store holds it, with the id of the command that recorded it."""

    command_id: str
    change: Change


@dataclass(frozen=True)
class Intake:
    """What a request is filed with."""

    request_id: str
    grid_id: str
    community_id: str
    town_id: str
    category: str
    description: str
    channel: str
    resident_name: str
    resident_phone: str
    tier: Tier
    urgent: bool = False  # the resident marked it urgent (a dispatcher sees it)
    manual: bool = False  # its community dispatches by hand: it waits for dispatch
    # where it is (domain.place): a point, an address, a building or household
    lat: float | None = None
    long: float | None = None
    address: str | None = None
    building: str | None = None
    #: the resident's photos: each {"hash", "type"} of the media store
    photos: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Assignment:
    """A handler's post: a level on a unit."""

    unit_id: str
    level: Level


def _iso(at: datetime) -> str:
    return at.isoformat()


@dataclass
class RequestState:
    """Everything the lifecycle needs to know about one request."""

    id: str
    grid_id: str
    community_id: str
    town_id: str
    category: str
    description: str
    channel: str
    resident: dict[str, str]
    tier: Tier
    level: Level
    level_unit_id: str
    deadline: datetime | None  # None while waiting for dispatch: no tier clock runs
    created_at: datetime
    updated_at: datetime
    status: Status = Status.ASSIGNED
    overdue: bool = False
    escalations: int = 0
    reopens: int = 0
    unreached_attempts: int = 0
    urgent: bool = False
    timeline: list[dict[str, Any]] = field(default_factory=list)
    # ---- street-office operations (None/0/empty for requests that never saw them) ----
    tier_started_at: datetime | None = None  # when the current tier's clock started
    warned: bool = False  # 预警: most of the tier's time has passed
    urges: int = 0  # 催办
    last_urged_at: datetime | None = None
    extension: dict[str, Any] | None = None  # the pending ask: until, reason, by, at
    extensions_approved: int = 0  # in the current tier
    cohandlers: list[dict[str, Any]] = field(default_factory=list)
    assisting: list[dict[str, str]] = field(default_factory=list)  # levels it went up from
    waiting_since: datetime | None = None  # waiting for dispatch since
    dispatch_wait_seconds: float = 0.0  # all the time spent waiting for dispatch
    returns: int = 0
    redirects: int = 0
    out_of_scope: dict[str, Any] | None = None  # reason, at, by
    appeal: dict[str, Any] | None = None  # reason, at
    # ---- the resident's self-review (限时反馈) ----
    review_until: datetime | None = None  # the latest resolution's window; None: none
    review_window_closed: bool = False  # its ReviewWindowClosed is recorded
    # ---- where it is, and its photos (domain.place) ----
    place: dict[str, Any] = field(default_factory=dict)  # lat, long, address, building
    photos: list[dict[str, Any]] = field(default_factory=list)  # hash, type, stage, at, by
    # ---- duplicates (合并) ----
    #: merged into another request: into, reason, by, at, and the status it left; kept
    #: after the other's resolution (the work was that one's), cleared by a reopen
    merged: dict[str, Any] | None = None
    duplicates: list[str] = field(default_factory=list)  # the requests merged into this one

    # ---- intake -------------------------------------------------------------------

    @staticmethod
    def decide_file(intake: Intake, at: datetime, actor: str, day_seconds: DueRule) -> Change:
        level = TIER_LEVEL[intake.tier]
        data = asdict(intake)
        # a filing's change holds no urgent or manual key unless it is set, and no place
        # or photos unless given (filings from before them stay as they were)
        for flag in ("urgent", "manual", "lat", "long", "address", "building", "photos"):
            del data[flag]
        data.update(place(intake.lat, intake.long, intake.address, intake.building))
        photos = photo_refs(intake.photos, FILED_STAGE)
        if photos:
            data["photos"] = photos
        for flag in ("urgent", "manual"):
            if getattr(intake, flag):
                data[flag] = True
        data.update(
            tier=intake.tier.value,
            level=level.value,
            level_unit_id=_unit_for(level, intake.grid_id, intake.community_id, intake.town_id),
            # waiting for dispatch, no tier clock runs yet
            deadline=None if intake.manual else _iso(due_at(day_seconds, intake.tier, at)),
        )
        return Change(FILED, at, actor, data)

    @classmethod
    def from_filed(cls, change: Change, *, timeline: bool = True) -> RequestState:
        d = change.data
        state = cls(
            id=d["request_id"],
            grid_id=d["grid_id"],
            community_id=d["community_id"],
            town_id=d["town_id"],
            category=d["category"],
            description=d["description"],
            channel=d["channel"],
            resident={"name": d["resident_name"], "phone": d["resident_phone"]},
            tier=Tier(d["tier"]),
            level=Level(d["level"]),
            level_unit_id=d["level_unit_id"],
            deadline=_when(d["deadline"]),
            created_at=change.at,
            updated_at=change.at,
            urgent=bool(d.get("urgent", False)),
            place={k: d[k] for k in ("lat", "long", *PRIVATE_KEYS) if k in d},
        )
        state._add_photos(d, change)
        if d.get("manual"):
            state.status = Status.WAITING_DISPATCH
            state.waiting_since = change.at
        else:
            state.tier_started_at = change.at
        if timeline:
            state.timeline.append(timeline_entry(change))
        return state

    # ---- decisions: each returns the change to record, or raises Refused ----------

    def may_handle(self, assignments: list[Assignment]) -> bool:
        """A handler acts on a request only when assigned at its current level and unit."""
        return any(a.level == self.level and a.unit_id == self.level_unit_id for a in assignments)

    def check_handler(self, assignments: list[Assignment]) -> None:
        if not self.may_handle(assignments):
            raise NotAssigned(
                f"you are not assigned as {self.level.value} on unit {self.level_unit_id}"
            )

    def decide_accept(self, actor: str, at: datetime) -> Change:
        require(Action.ACCEPT, self.status)
        return Change(ACCEPTED, at, actor, {})

    def decide_progress(
        self, actor: str, note: str, at: datetime, photos: list[dict[str, str]] | None = None
    ) -> Change:
        """A progress note, with the handler's "before" photos if any."""
        require(Action.PROGRESS, self.status)
        data: dict[str, Any] = {"note": note}
        refs = photo_refs(photos or [], BEFORE)
        if refs:
            data["photos"] = refs
        return Change(PROGRESS_NOTED, at, actor, data)

    def decide_correct_location(
        self,
        actor: str,
        lat: float | None,
        long: float | None,
        address: str | None,
        building: str | None,
        reason: str,
        at: datetime,
    ) -> Change:
        """Staff correct where the request is: a new point, and the address and building
        when given (those not given stay as they were)."""
        if self.status is Status.CLOSED:
            raise Refused("the request is closed; its place stays as it was", "request_closed")
        if lat is None or long is None:
            missing = "lat" if lat is None else "long"
            raise Invalid("a corrected location has lat and long", "location_incomplete", missing)
        data = place(lat, long, address, building)
        data["reason"] = reason
        return Change(LOCATION_CORRECTED, at, actor, data)

    def decide_escalate(
        self, actor: str, reason: str, at: datetime, day_seconds: DueRule
    ) -> Change:
        """A handler pushes the request up at once (上报)."""
        require(Action.ESCALATE, self.status)
        up = next_tier(self.tier)
        if up is None:
            raise Refused(
                "cannot escalate: the request is already at the top of the ladder",
                "top_of_ladder",
            )
        return self._escalation(up, actor, reason, at, day_seconds, automatic=False)

    def decide_deadline(self, at: datetime, day_seconds: DueRule) -> Change | None:
        """The tier's deadline passed: up one level, or overdue at the top; None if moot."""
        if not is_open(self.status) or self.deadline is None or at < self.deadline:
            return None
        up = next_tier(self.tier)
        if up is None:
            if self.overdue:
                return None
            return Change(MARKED_OVERDUE, at, SYSTEM_ACTOR, {"deadline": _iso(self.deadline)})
        reason = f"the {self.tier.value} deadline passed"
        return self._escalation(up, SYSTEM_ACTOR, reason, at, day_seconds, automatic=True)

    def decide_resolve(
        self,
        actor: str,
        resolution: str,
        at: datetime,
        review_seconds: float | None = None,
        photos: list[dict[str, str]] | None = None,
    ) -> Change:
        """``review_seconds``: how long the resident may then review it themselves (None:
        only a caller reviews it); ``photos``: the handler's "after" photos."""
        require(Action.RESOLVE, self.status)
        data: dict[str, Any] = {
            "resolution": resolution,
            "on_time": self.deadline is None or at <= self.deadline,
        }
        refs = photo_refs(photos or [], AFTER)
        if refs:
            data["photos"] = refs
        if review_seconds:
            data["review_until"] = _iso(at + timedelta(seconds=review_seconds))
        return Change(RESOLVED, at, actor, self._lapsing(data))

    def decide_self_review(self, review: Review, at: datetime, day_seconds: DueRule) -> Change:
        """The resident reviews the resolution themselves, from the tracking link, within
        the window the resolution opened: a reached review with source ``resident``."""
        require(Action.REVIEW, self.status)
        if self.review_until is None:
            raise Refused(
                "this request is reviewed by a follow-up call, not from the tracking link",
                "self_review_off",
            )
        if at > self.review_until:
            raise Refused(
                "the time for your own review has passed; a caller will phone you",
                "review_window_closed",
            )
        if not review.reached:
            raise Invalid("a review of one's own request is reached", "invalid_input", "reached")
        change = self.decide_review(RESIDENT_ACTOR, review, at, day_seconds)
        return Change(
            change.type, change.at, change.actor, {**change.data, "source": SOURCE_RESIDENT}
        )

    def decide_review_window_closed(self, at: datetime) -> Change | None:
        """The self-review window passed without the resident's review: the callers take
        it (None when there is nothing to record)."""
        if (
            self.status is not Status.RESOLVED
            or self.review_until is None
            or self.review_window_closed
            or at < self.review_until
        ):
            return None
        return Change(
            REVIEW_WINDOW_CLOSED, at, SYSTEM_ACTOR, {"review_until": _iso(self.review_until)}
        )

    def decide_review(
        self, actor: str, review: Review, at: datetime, day_seconds: DueRule
    ) -> Change:
        require(Action.REVIEW, self.status)
        outcome = review.outcome(self.unreached_attempts)
        data: dict[str, Any] = {
            "reached": review.reached,
            **{k: (v.value if v else None) for k, v in review.answers().items()},
            "comment": review.comment,
            "outcome": outcome.value,
            "attempts": self.unreached_attempts + (0 if review.reached else 1),
        }
        if outcome is Outcome.REOPENED:
            data["deadline"] = _iso(due_at(day_seconds, self.tier, at))
        return Change(REVIEWED, at, actor, data)

    def _escalation(
        self, up: Tier, actor: str, reason: str, at: datetime, day_seconds: DueRule, automatic: bool
    ) -> Change:
        level = TIER_LEVEL[up]
        data = {
            "reason": reason,
            "automatic": automatic,
            "from_tier": self.tier.value,
            "tier": up.value,
            "level": level.value,
            "level_unit_id": _unit_for(level, self.grid_id, self.community_id, self.town_id),
            "deadline": _iso(due_at(day_seconds, up, at)),
        }
        return Change(ESCALATED, at, actor, self._lapsing(data))

    def _lapsing(self, data: dict[str, Any]) -> dict[str, Any]:
        """A move that ends the tier (or the work) lets a pending extension ask lapse."""
        if self.extension is not None:
            data["extension_lapsed"] = True
        return data

    # ---- street-office operations ---------------------------------------------------

    def decide_dispatch(
        self,
        actor: str,
        grid_id: str,
        tier: Tier,
        at: datetime,
        day_seconds: DueRule,
        category: str | None = None,
        note: str = "",
    ) -> Change:
        """The platform hands a waiting request to a grid of its community and a tier."""
        require(Action.DISPATCH, self.status)
        level = TIER_LEVEL[tier]
        since = self.waiting_since or self.created_at
        data: dict[str, Any] = {
            "grid_id": grid_id,
            "tier": tier.value,
            "level": level.value,
            "level_unit_id": _unit_for(level, grid_id, self.community_id, self.town_id),
            "deadline": _iso(due_at(day_seconds, tier, at)),
            "waited_seconds": max((at - since).total_seconds(), 0.0),
            "note": note,
        }
        if category is not None and category != self.category:
            data["category"] = category
        return Change(DISPATCHED, at, actor, data)

    def decide_return(self, actor: str, reason: str, at: datetime) -> Change:
        """The current level sends the request back to its community's platform (退单)."""
        require(Action.RETURN, self.status)
        data = {"reason": reason, "from_tier": self.tier.value, "from_unit_id": self.level_unit_id}
        return Change(RETURNED, at, actor, self._lapsing(data))

    def decide_redirect(self, actor: str, grid_id: str, reason: str, at: datetime) -> Change:
        """The platform moves the request to another grid at the same level (改派); the
        clock keeps running."""
        require(Action.REDIRECT, self.status)
        if grid_id == self.grid_id:
            raise Refused("cannot redirect: the request is already at that grid", "same_grid")
        level_unit = _unit_for(self.level, grid_id, self.community_id, self.town_id)
        data = {
            "grid_id": grid_id,
            "from_grid_id": self.grid_id,
            "level_unit_id": level_unit,
            "reason": reason,
        }
        return Change(REDIRECTED, at, actor, data)

    def decide_retier(
        self, actor: str, tier: Tier, reason: str, at: datetime, day_seconds: DueRule
    ) -> Change:
        """The platform moves the request to another tier: its level owns it and its
        deadline counts from now."""
        require(Action.RETIER, self.status)
        if tier is self.tier:
            raise Refused(f"cannot re-tier: the request is already on {tier.value}", "same_tier")
        level = TIER_LEVEL[tier]
        data = {
            "reason": reason,
            "from_tier": self.tier.value,
            "tier": tier.value,
            "level": level.value,
            "level_unit_id": _unit_for(level, self.grid_id, self.community_id, self.town_id),
            "deadline": _iso(due_at(day_seconds, tier, at)),
        }
        return Change(RETIERED, at, actor, self._lapsing(data))

    def warn_at(self, share: float) -> datetime | None:
        """When ``share`` of the tier's time will have passed (None: no warning is due)."""
        if (
            not is_open(self.status)
            or self.warned
            or self.deadline is None
            or self.tier_started_at is None
        ):
            return None
        return self.tier_started_at + (self.deadline - self.tier_started_at) * share

    def decide_warn(self, at: datetime, share: float) -> Change | None:
        """预警: ``share`` of the tier's time has passed; None if moot."""
        when = self.warn_at(share)
        if when is None or at < when or self.deadline is None or at >= self.deadline:
            return None
        return Change(WARNED, at, SYSTEM_ACTOR, {"deadline": _iso(self.deadline), "share": share})

    def decide_urge(self, actor: str, note: str, at: datetime) -> Change:
        require(Action.URGE, self.status)
        return Change(URGED, at, actor, {"note": note})

    def decide_ask_extension(
        self, actor: str, until: datetime, reason: str, at: datetime, max_approved: int
    ) -> Change:
        """The current level asks for a later deadline (延期); the clock keeps running."""
        require(Action.ASK_EXTENSION, self.status)
        if self.deadline is None or self.tier_started_at is None:
            raise Refused("cannot ask for more time: no deadline runs", "no_deadline")
        if self.extension is not None:
            raise Refused(
                "an extension ask is already waiting for its decision", "extension_pending"
            )
        if self.extensions_approved >= max_approved:
            raise Refused(
                f"this tier has had its {max_approved} approved extension(s)",
                "extension_limit",
            )
        if until <= self.deadline:
            raise Invalid(
                f"the new deadline must be later than the current one ({_iso(self.deadline)})",
                "extension_not_later",
                "until",
            )
        longest = self.deadline + (self.deadline - self.tier_started_at)
        if until > longest:
            raise Invalid(
                f"an extension is at most the tier's own length again: until {_iso(longest)}",
                "extension_too_long",
                "until",
            )
        return Change(EXTENSION_ASKED, at, actor, {"until": _iso(until), "reason": reason})

    def decide_extension(self, actor: str, approve: bool, note: str, at: datetime) -> Change:
        """The level above decides an extension ask: the deadline moves, or stays."""
        require(Action.DECIDE_EXTENSION, self.status)
        if self.extension is None:
            raise Refused("no extension ask is waiting for a decision", "no_extension_pending")
        until = self.extension["until"]
        if approve:
            data = {"until": until, "previous_deadline": _iso_or_none(self.deadline), "note": note}
            return Change(DEADLINE_EXTENDED, at, actor, data)
        return Change(EXTENSION_REFUSED, at, actor, {"until": until, "note": note})

    def decide_add_cohandler(
        self,
        actor: str,
        username: str,
        task: str,
        at: datetime,
        due: datetime | None = None,
        organisation: str | None = None,
    ) -> Change:
        """Call in a co-handler (吹哨报到): a partner organisation or another staff member."""
        require(Action.COHANDLE, self.status)
        if any(c["username"] == username and not c["done"] for c in self.cohandlers):
            raise Refused(f"{username} is already a co-handler of this request", "cohandler_exists")
        data: dict[str, Any] = {"username": username, "task": task, "due": _iso_or_none(due)}
        if organisation:
            data["organisation"] = organisation
        return Change(COHANDLER_ADDED, at, actor, data)

    def is_cohandler(self, username: str) -> bool:
        return any(c["username"] == username and not c["done"] for c in self.cohandlers)

    def decide_cohandler_done(self, username: str, note: str, at: datetime) -> Change:
        """A co-handler marks their part done."""
        require(Action.COHANDLE, self.status)
        if not self.is_cohandler(username):
            raise Refused(f"{username} has no open part in this request", "not_cohandler")
        return Change(COHANDLER_DONE, at, username, {"username": username, "note": note})

    def is_assisting(self, assignments: list[Assignment]) -> bool:
        """A handler of a level the request went up from (it stays on it, 协助)."""
        return any(
            a.level.value == left["level"] and a.unit_id == left["unit_id"]
            for a in assignments
            for left in self.assisting
        )

    def decide_assist_note(
        self, actor: str, note: str, at: datetime, photos: list[dict[str, str]] | None = None
    ) -> Change:
        """An assisting handler or a co-handler notes progress (with "before" photos)."""
        require(Action.COHANDLE, self.status)
        data: dict[str, Any] = {"note": note, "assisting": True}
        refs = photo_refs(photos or [], BEFORE)
        if refs:
            data["photos"] = refs
        return Change(PROGRESS_NOTED, at, actor, data)

    def decide_close_out_of_scope(self, actor: str, reason: str, at: datetime) -> Change:
        """Close the request as outside the office's scope; the resident may appeal."""
        require(Action.CLOSE_OUT_OF_SCOPE, self.status)
        return Change(
            CLOSED_OUT_OF_SCOPE,
            at,
            actor,
            self._lapsing({"reason": reason, "outcome": OUT_OF_SCOPE}),
        )

    def appeal_until(self, day_seconds: float) -> datetime | None:
        """Until when the resident may appeal an out-of-scope closure (None: not at all)."""
        if self.status is not Status.CLOSED or self.out_of_scope is None or self.appeal:
            return None
        closed = datetime.fromisoformat(self.out_of_scope["at"])
        return closed + timedelta(seconds=APPEAL_DAYS * day_seconds)

    def decide_appeal(
        self, actor: str, reason: str, at: datetime, day_seconds: float, due: DueRule
    ) -> Change:
        """The resident appeals an out-of-scope closure: it reopens at community level."""
        if self.status is not Status.CLOSED or self.out_of_scope is None:
            raise Refused("only a request closed as out of scope can be appealed", "not_appealable")
        if self.appeal is not None:
            raise Refused("this request has been appealed once already", "appeal_used")
        until = self.appeal_until(day_seconds)
        if until is None or at > until:
            raise Refused(
                f"the appeal window of {APPEAL_DAYS} days has passed", "appeal_window_passed"
            )
        level = TIER_LEVEL[APPEAL_TIER]
        data = {
            "reason": reason,
            "tier": APPEAL_TIER.value,
            "level": level.value,
            "level_unit_id": _unit_for(level, self.grid_id, self.community_id, self.town_id),
            "deadline": _iso(due_at(due, APPEAL_TIER, at)),
        }
        return Change(APPEALED, at, actor, data)

    # ---- duplicates (合并) -------------------------------------------------------------

    @property
    def merged_into(self) -> str | None:
        """The request this one is merged into (also once it followed that one's
        resolution); None when it is its own work."""
        return self.merged["into"] if self.merged else None

    def decide_merge(self, actor: str, into: str, reason: str, at: datetime) -> Change:
        """Merge this request into ``into`` (a duplicate of it): it follows that one and
        its own clock stops. The other request's workflow has agreed first."""
        require(Action.MERGE, self.status)
        if into == self.id:
            raise Invalid("a request cannot be merged into itself", "merge_into_self", "into")
        if self.duplicates:
            raise Refused(
                "other requests are merged into this one: take them out first",
                "has_duplicates",
            )
        data = {"into": into, "reason": reason, "status": self.status.value}
        return Change(MERGED, at, actor, self._lapsing(data))

    def decide_unmerge(
        self, actor: str, reason: str, at: datetime, due: DueRule, automatic: bool = False
    ) -> Change:
        """Take the request out of the one it was merged into: it is its own work again,
        where it was, with its tier's clock starting now (or waiting for dispatch)."""
        require(Action.UNMERGE, self.status)
        assert self.merged is not None
        data: dict[str, Any] = {"from": self.merged["into"], "reason": reason}
        if automatic:
            data["automatic"] = True
        back = Status(self.merged["status"])
        data["status"] = back.value
        if back is not Status.WAITING_DISPATCH:
            data.update(
                tier=self.tier.value,
                level=self.level.value,
                level_unit_id=self.level_unit_id,
                deadline=_iso(due_at(due, self.tier, at)),
            )
        return Change(UNMERGED, at, actor, data)

    def decide_follow(
        self,
        primary: str,
        by: str,
        resolution: str,
        on_time: bool,
        at: datetime,
        review_seconds: float | None = None,
        photos: list[dict[str, str]] | None = None,
        post: dict[str, str] | None = None,
    ) -> Change:
        """The request this one is merged into was resolved: this one is resolved with the
        same resolution (and "after" photos), and its resident reviews it on their own;
        ``post``: where the primary was resolved (its resident's review counts there)."""
        require(Action.FOLLOW, self.status)
        if self.merged_into != primary:
            raise Refused(f"this request is not merged into {primary}", "not_merged_into")
        data: dict[str, Any] = {"resolution": resolution, "on_time": on_time, "primary": primary}
        if post:
            data["post"] = dict(post)
        refs = photo_refs(photos or [], AFTER)
        if refs:
            data["photos"] = refs
        if review_seconds:
            data["review_until"] = _iso(at + timedelta(seconds=review_seconds))
        return Change(RESOLVED, at, by, data)

    def decide_attach(self, actor: str, duplicate: str, reason: str, at: datetime) -> Change:
        """Another request is merged into this one (its workflow asks before it merges)."""
        self._require_primary()
        if duplicate == self.id:
            raise Invalid("a request cannot be merged into itself", "merge_into_self", "into")
        if duplicate in self.duplicates:
            raise Refused("that request is merged into this one already", "already_merged")
        return Change(DUPLICATE_ATTACHED, at, actor, {"request_id": duplicate, "reason": reason})

    def decide_detach(self, actor: str, duplicate: str, reason: str, at: datetime) -> Change:
        """A request merged into this one is taken out again (while this one is open)."""
        self._require_primary()
        if duplicate not in self.duplicates:
            raise Refused("that request is not merged into this one", "not_merged_into")
        return Change(DUPLICATE_DETACHED, at, actor, {"request_id": duplicate, "reason": reason})

    def _require_primary(self) -> None:
        try:
            require(Action.ATTACH, self.status)
        except Refused as e:
            why = f"the request to merge into is not open: {e}"
            raise Refused(why, "primary_not_open") from None

    # ---- applying a recorded change -------------------------------------------------

    def apply(self, change: Change, *, timeline: bool = True) -> None:
        """Move the state by one recorded change (also used by the aggregate);
        ``timeline=False`` leaves the timeline out (the read models keep it as rows)."""
        d = change.data
        if change.type == ACCEPTED:
            require(Action.ACCEPT, self.status)
            self.status = Status.IN_PROGRESS
        elif change.type == PROGRESS_NOTED:
            require(Action.COHANDLE if d.get("assisting") else Action.PROGRESS, self.status)
            self._add_photos(d, change)
        elif change.type == ESCALATED:
            require(Action.ESCALATE, self.status)
            self._leave_level()
            self._enter_tier(d, change.at)
            self.status = Status.ASSIGNED
            self.escalations += 1
        elif change.type == MARKED_OVERDUE:
            require(Action.DEADLINE, self.status)
            self.overdue = True
        elif change.type == RESOLVED:
            require(Action.FOLLOW if "primary" in d else Action.RESOLVE, self.status)
            self.status = Status.RESOLVED
            self.extension = None
            self.review_until = _when(d.get("review_until"))
            self.review_window_closed = False
            self._add_photos(d, change)
        elif change.type == REVIEW_WINDOW_CLOSED:
            require(Action.REVIEW, self.status)
            self.review_window_closed = True
        elif change.type == REVIEWED:
            require(Action.REVIEW, self.status)
            self.review_until = None
            self.review_window_closed = False
            outcome = Outcome(d["outcome"])
            self.unreached_attempts = d["attempts"]
            if outcome in (Outcome.CLOSED, Outcome.UNREACHABLE):
                self.status = Status.CLOSED
            elif outcome is Outcome.REOPENED:
                self.status = Status.ASSIGNED
                self.deadline = datetime.fromisoformat(d["deadline"])
                self.overdue = False
                self.reopens += 1
                self.merged = None  # its own work again
                self._restart_clock(change.at)
        elif change.type in OPERATION_TYPES:
            self._apply_operation(change)
        elif change.type == LOCATION_CORRECTED:
            if self.status is Status.CLOSED:
                raise Refused("the request is closed; its place stays as it was")
            self.place.update({k: d[k] for k in ("lat", "long", *PRIVATE_KEYS) if k in d})
        else:
            raise ValueError(f"unknown change type {change.type!r}")
        self.updated_at = change.at
        if timeline:
            self.timeline.append(timeline_entry(change))

    def _apply_operation(self, change: Change) -> None:
        d = change.data
        at = change.at
        kind = change.type
        if kind == DISPATCHED:
            require(Action.DISPATCH, self.status)
            self.grid_id = d["grid_id"]
            self.category = d.get("category", self.category)
            self._enter_tier(d, at)
            self.status = Status.ASSIGNED
            self.dispatch_wait_seconds += float(d["waited_seconds"])
            self.waiting_since = None
        elif kind == RETURNED:
            require(Action.RETURN, self.status)
            self.status = Status.WAITING_DISPATCH
            self.deadline = None
            self.tier_started_at = None
            self.waiting_since = at
            self.returns += 1
            self.warned = False
            self.extension = None
        elif kind == REDIRECTED:
            require(Action.REDIRECT, self.status)
            self.grid_id = d["grid_id"]
            self.level_unit_id = d["level_unit_id"]
            self.status = Status.ASSIGNED
            self.redirects += 1
        elif kind == RETIERED:
            require(Action.RETIER, self.status)
            if LADDER.index(Tier(d["tier"])) > LADDER.index(self.tier):
                self._leave_level()
            self._enter_tier(d, at)
            self.status = Status.ASSIGNED
        elif kind == WARNED:
            require(Action.WARN, self.status)
            self.warned = True
        elif kind == URGED:
            require(Action.URGE, self.status)
            self.urges += 1
            self.last_urged_at = at
        elif kind == EXTENSION_ASKED:
            require(Action.ASK_EXTENSION, self.status)
            self.extension = {
                "until": d["until"],
                "reason": d["reason"],
                "by": change.actor,
                "at": _iso(at),
            }
        elif kind == DEADLINE_EXTENDED:
            require(Action.DECIDE_EXTENSION, self.status)
            self.deadline = datetime.fromisoformat(d["until"])
            self.extension = None
            self.extensions_approved += 1
            self.warned = False
        elif kind == EXTENSION_REFUSED:
            require(Action.DECIDE_EXTENSION, self.status)
            self.extension = None
        elif kind == COHANDLER_ADDED:
            require(Action.COHANDLE, self.status)
            self.cohandlers.append(
                {
                    "username": d["username"],
                    "organisation": d.get("organisation"),
                    "task": d["task"],
                    "due": d["due"],
                    "added_by": change.actor,
                    "added_at": _iso(at),
                    "done": False,
                    "done_at": None,
                    "note": "",
                }
            )
        elif kind == COHANDLER_DONE:
            require(Action.COHANDLE, self.status)
            for cohandler in self.cohandlers:
                if cohandler["username"] == d["username"] and not cohandler["done"]:
                    cohandler.update(done=True, done_at=_iso(at), note=d["note"])
        elif kind == CLOSED_OUT_OF_SCOPE:
            require(Action.CLOSE_OUT_OF_SCOPE, self.status)
            self.status = Status.CLOSED
            self.out_of_scope = {"reason": d["reason"], "at": _iso(at), "by": change.actor}
            self.extension = None
            self.waiting_since = None
            self.duplicates = []  # they are released: each is its own work again
        elif kind == APPEALED:
            if self.status is not Status.CLOSED or self.out_of_scope is None or self.appeal:
                raise Refused("only a request closed as out of scope can be appealed once")
            self.appeal = {"reason": d["reason"], "at": _iso(at)}
            self._enter_tier(d, at)
            self.status = Status.ASSIGNED
            self.overdue = False
        elif kind in MERGE_TYPES:
            self._apply_merge(change)

    def _apply_merge(self, change: Change) -> None:
        d = change.data
        at = change.at
        if change.type == MERGED:
            require(Action.MERGE, self.status)
            self.merged = {
                "into": d["into"],
                "reason": d["reason"],
                "status": d["status"],
                "by": change.actor,
                "at": _iso(at),
            }
            self.status = Status.MERGED
            self.deadline = None
            self.tier_started_at = None
            self.waiting_since = None
            self.warned = False
            self.extension = None
        elif change.type == UNMERGED:
            require(Action.UNMERGE, self.status)
            self.merged = None
            back = Status(d["status"])
            if back is Status.WAITING_DISPATCH:
                self.waiting_since = at
            else:
                self._enter_tier(d, at)
            self.status = back
        elif change.type == DUPLICATE_ATTACHED:
            require(Action.ATTACH, self.status)
            self.duplicates.append(d["request_id"])
        elif change.type == DUPLICATE_DETACHED:
            require(Action.ATTACH, self.status)
            self.duplicates.remove(d["request_id"])

    def _add_photos(self, d: dict[str, Any], change: Change) -> None:
        for photo in d.get("photos", ()):
            self.photos.append({**photo, "at": _iso(change.at), "by": change.actor})

    def _enter_tier(self, d: dict[str, Any], at: datetime) -> None:
        """A tier's clock starts: its level owns the request, its deadline counts from now."""
        self.tier = Tier(d["tier"])
        self.level = Level(d["level"])
        self.level_unit_id = d["level_unit_id"]
        self.deadline = datetime.fromisoformat(d["deadline"])
        self._restart_clock(at)

    def _restart_clock(self, at: datetime) -> None:
        self.tier_started_at = at
        self.warned = False
        self.extension = None
        self.extensions_approved = 0

    def _leave_level(self) -> None:
        """Going up: the handlers of the level left stay on the request, assisting."""
        left = {"level": self.level.value, "unit_id": self.level_unit_id}
        if left not in self.assisting:
            self.assisting.append(left)

    def view(self) -> dict[str, Any]:
        """The request as users read it (the API adds assignees)."""
        return {
            "id": self.id,
            "status": self.status.value,
            "tier": self.tier.value,
            "level": self.level.value,
            "level_unit_id": self.level_unit_id,
            "deadline": _iso_or_none(self.deadline),
            "overdue": self.overdue,
            "escalations": self.escalations,
            "reopens": self.reopens,
            "unreached_attempts": self.unreached_attempts,
            "urgent": self.urgent,
            "grid_id": self.grid_id,
            "community_id": self.community_id,
            "town_id": self.town_id,
            "category": self.category,
            "description": self.description,
            "channel": self.channel,
            "resident": dict(self.resident),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "timeline": [dict(e) for e in self.timeline],
            "review_until": _iso_or_none(self.review_until),
            **self.operations(),
            **self.where(),
            "photos": [dict(p) for p in self.photos],
        }

    def where(self) -> dict[str, Any]:
        """Where the request is: ``lat``, ``long``, ``address``, ``building`` (None when
        not known)."""
        return {k: self.place.get(k) for k in ("lat", "long", *PRIVATE_KEYS)}

    def operations(self) -> dict[str, Any]:
        """The street-office operations' part of the view (JSON values only); the read
        models keep it whole beside their columns."""
        return {
            "tier_started_at": _iso_or_none(self.tier_started_at),
            "warned": self.warned,
            "urges": self.urges,
            "last_urged_at": _iso_or_none(self.last_urged_at),
            "extension": dict(self.extension) if self.extension else None,
            "extensions_approved": self.extensions_approved,
            "cohandlers": [dict(c) for c in self.cohandlers],
            "assisting": [dict(a) for a in self.assisting],
            "waiting_since": _iso_or_none(self.waiting_since),
            "dispatch_wait_seconds": self.dispatch_wait_seconds,
            "returns": self.returns,
            "redirects": self.redirects,
            "out_of_scope": dict(self.out_of_scope) if self.out_of_scope else None,
            "appeal": dict(self.appeal) if self.appeal else None,
            "merged_into": self.merged_into,
            "merged": dict(self.merged) if self.merged else None,
            "duplicates": list(self.duplicates),
        }

    def restore_operations(self, ops: dict[str, Any]) -> None:
        """Set the operations' part from :meth:`operations` (the read models' copy)."""
        self.tier_started_at = _when(ops.get("tier_started_at"))
        self.warned = bool(ops.get("warned", False))
        self.urges = int(ops.get("urges", 0))
        self.last_urged_at = _when(ops.get("last_urged_at"))
        self.extension = ops.get("extension")
        self.extensions_approved = int(ops.get("extensions_approved", 0))
        self.cohandlers = [dict(c) for c in ops.get("cohandlers", [])]
        self.assisting = [dict(a) for a in ops.get("assisting", [])]
        self.waiting_since = _when(ops.get("waiting_since"))
        self.dispatch_wait_seconds = float(ops.get("dispatch_wait_seconds", 0.0))
        self.returns = int(ops.get("returns", 0))
        self.redirects = int(ops.get("redirects", 0))
        self.out_of_scope = ops.get("out_of_scope")
        self.appeal = ops.get("appeal")
        self.merged = ops.get("merged")
        self.duplicates = list(ops.get("duplicates", []))


def _iso_or_none(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _unit_for(level: Level, grid_id: str, community_id: str, town_id: str) -> str:
    kind = LEVEL_UNIT_KIND[level]
    return {UnitKind.GRID: grid_id, UnitKind.COMMUNITY: community_id, UnitKind.TOWN: town_id}[kind]


def timeline_entry(change: Change) -> dict[str, Any]:
    """A change as a timeline row: type, at, actor and the change's own fields."""
    entry: dict[str, Any] = {"type": change.type, "at": _iso(change.at), "actor": change.actor}
    entry.update(entry_fields(change))
    return entry


def entry_fields(change: Change) -> dict[str, Any]:
    """A change's own fields as its timeline row keeps them: none for a filing (they are
    the request's own); a corrected address or building only as the fact that it changed
    (they are the resident's personal data, sealed in the request's row)."""
    if change.type == FILED:
        return {}
    fields = {k: v for k, v in change.data.items() if k not in PRIVATE_KEYS}
    for key in PRIVATE_KEYS:
        if key in change.data:
            fields[f"{key}_changed"] = True
    return fields
