"""A resident request's state, the changes (events) that move it, and the decisions that make them.

The workflow holds a :class:`RequestState` and asks its ``decide_*`` methods for the next
:class:`Change`; an activity records that change on the aggregate, which applies it with
the same :meth:`RequestState.apply`. The rule lives here once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from domain.ladder import (
    LEVEL_UNIT_KIND,
    TIER_LEVEL,
    Level,
    Tier,
    UnitKind,
    deadline_for,
    next_tier,
)
from domain.lifecycle import Action, NotAssigned, Refused, Status, is_open, require
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
EVENT_TYPES = (FILED, ACCEPTED, PROGRESS_NOTED, ESCALATED, MARKED_OVERDUE, RESOLVED, REVIEWED)


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
    deadline: datetime
    created_at: datetime
    updated_at: datetime
    status: Status = Status.ASSIGNED
    overdue: bool = False
    escalations: int = 0
    reopens: int = 0
    unreached_attempts: int = 0
    urgent: bool = False
    timeline: list[dict[str, Any]] = field(default_factory=list)

    # ---- intake -------------------------------------------------------------------

    @staticmethod
    def decide_file(intake: Intake, at: datetime, actor: str, day_seconds: float) -> Change:
        level = TIER_LEVEL[intake.tier]
        data = asdict(intake)
        if not intake.urgent:  # a filing's change holds no urgent key unless it is urgent
            del data["urgent"]
        data.update(
            tier=intake.tier.value,
            level=level.value,
            level_unit_id=_unit_for(level, intake.grid_id, intake.community_id, intake.town_id),
            deadline=_iso(deadline_for(intake.tier, at, day_seconds)),
        )
        return Change(FILED, at, actor, data)

    @classmethod
    def from_filed(cls, change: Change) -> RequestState:
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
            deadline=datetime.fromisoformat(d["deadline"]),
            created_at=change.at,
            updated_at=change.at,
            urgent=bool(d.get("urgent", False)),
        )
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

    def decide_progress(self, actor: str, note: str, at: datetime) -> Change:
        require(Action.PROGRESS, self.status)
        return Change(PROGRESS_NOTED, at, actor, {"note": note})

    def decide_escalate(self, actor: str, reason: str, at: datetime, day_seconds: float) -> Change:
        """A handler pushes the request up at once (上报)."""
        require(Action.ESCALATE, self.status)
        up = next_tier(self.tier)
        if up is None:
            raise Refused(
                "cannot escalate: the request is already at the top of the ladder",
                "top_of_ladder",
            )
        return self._escalation(up, actor, reason, at, day_seconds, automatic=False)

    def decide_deadline(self, at: datetime, day_seconds: float) -> Change | None:
        """The tier's deadline passed: up one level, or overdue at the top; None if moot."""
        if not is_open(self.status) or at < self.deadline:
            return None
        up = next_tier(self.tier)
        if up is None:
            if self.overdue:
                return None
            return Change(MARKED_OVERDUE, at, SYSTEM_ACTOR, {"deadline": _iso(self.deadline)})
        reason = f"the {self.tier.value} deadline passed"
        return self._escalation(up, SYSTEM_ACTOR, reason, at, day_seconds, automatic=True)

    def decide_resolve(self, actor: str, resolution: str, at: datetime) -> Change:
        require(Action.RESOLVE, self.status)
        return Change(
            RESOLVED, at, actor, {"resolution": resolution, "on_time": at <= self.deadline}
        )

    def decide_review(self, actor: str, review: Review, at: datetime, day_seconds: float) -> Change:
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
            data["deadline"] = _iso(deadline_for(self.tier, at, day_seconds))
        return Change(REVIEWED, at, actor, data)

    def _escalation(
        self, up: Tier, actor: str, reason: str, at: datetime, day_seconds: float, automatic: bool
    ) -> Change:
        level = TIER_LEVEL[up]
        return Change(
            ESCALATED,
            at,
            actor,
            {
                "reason": reason,
                "automatic": automatic,
                "from_tier": self.tier.value,
                "tier": up.value,
                "level": level.value,
                "level_unit_id": _unit_for(level, self.grid_id, self.community_id, self.town_id),
                "deadline": _iso(deadline_for(up, at, day_seconds)),
            },
        )

    # ---- applying a recorded change -------------------------------------------------

    def apply(self, change: Change) -> None:
        """Move the state by one recorded change (also used by the aggregate)."""
        d = change.data
        if change.type == ACCEPTED:
            require(Action.ACCEPT, self.status)
            self.status = Status.IN_PROGRESS
        elif change.type == PROGRESS_NOTED:
            require(Action.PROGRESS, self.status)
        elif change.type == ESCALATED:
            require(Action.ESCALATE, self.status)
            self.tier = Tier(d["tier"])
            self.level = Level(d["level"])
            self.level_unit_id = d["level_unit_id"]
            self.deadline = datetime.fromisoformat(d["deadline"])
            self.status = Status.ASSIGNED
            self.escalations += 1
        elif change.type == MARKED_OVERDUE:
            require(Action.DEADLINE, self.status)
            self.overdue = True
        elif change.type == RESOLVED:
            require(Action.RESOLVE, self.status)
            self.status = Status.RESOLVED
        elif change.type == REVIEWED:
            require(Action.REVIEW, self.status)
            outcome = Outcome(d["outcome"])
            self.unreached_attempts = d["attempts"]
            if outcome in (Outcome.CLOSED, Outcome.UNREACHABLE):
                self.status = Status.CLOSED
            elif outcome is Outcome.REOPENED:
                self.status = Status.ASSIGNED
                self.deadline = datetime.fromisoformat(d["deadline"])
                self.overdue = False
                self.reopens += 1
        else:
            raise ValueError(f"unknown change type {change.type!r}")
        self.updated_at = change.at
        self.timeline.append(timeline_entry(change))

    def view(self) -> dict[str, Any]:
        """The request as users read it (the API adds assignees)."""
        return {
            "id": self.id,
            "status": self.status.value,
            "tier": self.tier.value,
            "level": self.level.value,
            "level_unit_id": self.level_unit_id,
            "deadline": _iso(self.deadline),
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
        }


def _unit_for(level: Level, grid_id: str, community_id: str, town_id: str) -> str:
    kind = LEVEL_UNIT_KIND[level]
    return {UnitKind.GRID: grid_id, UnitKind.COMMUNITY: community_id, UnitKind.TOWN: town_id}[kind]


def timeline_entry(change: Change) -> dict[str, Any]:
    """A change as a timeline row: type, at, actor and the change's own fields."""
    entry: dict[str, Any] = {"type": change.type, "at": _iso(change.at), "actor": change.actor}
    if change.type != FILED:
        entry.update(change.data)
    return entry
