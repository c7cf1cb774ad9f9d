"""Who is told what when a request changes: the notifications' rule.

:func:`notices` looks at one recorded change, with the request's state before and after
it, and names the audiences and what each is told. It is pure: the notifier
(:mod:`notify.notifier`) finds the people of each audience in the roster and writes the
messages. Nothing here holds the resident's contact: an SMS names the resident as its
audience, and only the sender reads the phone.

| moment (change) | who | channel |
| --- | --- | --- |
| assigned to a level (filed, escalated, dispatched, redirected, re-tiered, appealed) |
|   the handlers at that level's unit | inbox |
| filed waiting for dispatch | the dispatchers of its community and town | inbox |
| warned, marked overdue | the handlers at its level, and the level above | inbox |
| escalated away | the handlers of the level it left | inbox |
| urged; an extension decided | the handlers at its level | inbox |
| an extension asked | the handlers of the level above (who decide it) | inbox |
| a co-handler called in | that co-handler | inbox |
| resolved | the resident | SMS |
| the self-review window passed | the callers of its town | inbox |
| reopened by a review | the handlers at its level | inbox |
| taken out of a merge (unmerged) | the handlers at its level, or its dispatchers when it |
|   waits for dispatch again | inbox |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.ladder import LEVEL_UNIT_KIND, TIER_LEVEL, Level, UnitKind, next_tier
from domain.lifecycle import Status
from domain.review import Outcome
from domain.state import (
    APPEALED,
    COHANDLER_ADDED,
    DEADLINE_EXTENDED,
    DISPATCHED,
    ESCALATED,
    EXTENSION_ASKED,
    EXTENSION_REFUSED,
    FILED,
    MARKED_OVERDUE,
    REDIRECTED,
    RESOLVED,
    RETIERED,
    REVIEW_WINDOW_CLOSED,
    REVIEWED,
    UNMERGED,
    URGED,
    WARNED,
    Change,
    RequestState,
)

INBOX = "inbox"
SMS = "sms"


@dataclass(frozen=True)
class Handlers:
    """The handlers posted at ``level`` on ``unit_id``."""

    level: Level
    unit_id: str


@dataclass(frozen=True)
class Person:
    """One staff member (or partner) by username."""

    username: str


@dataclass(frozen=True)
class Dispatchers:
    """The dispatchers posted at any of these units (a community, its town)."""

    unit_ids: tuple[str, ...]


@dataclass(frozen=True)
class Callers:
    """The callers who phone the residents of this town."""

    town_id: str


@dataclass(frozen=True)
class Resident:
    """The resident who filed the request (by SMS; the sender reads the phone)."""


Audience = Handlers | Person | Dispatchers | Callers | Resident


@dataclass(frozen=True)
class Notice:
    audience: Audience
    kind: str
    channel: str = INBOX
    params: dict[str, Any] = field(default_factory=dict)


#: How a request came to its level, by the change that brought it there.
ASSIGNED_VIA: dict[str, str] = {
    FILED: "filed",
    ESCALATED: "escalated",
    DISPATCHED: "dispatched",
    REDIRECTED: "redirected",
    RETIERED: "retiered",
    APPEALED: "appealed",
}


def unit_at(state: RequestState, level: Level) -> str:
    kind = LEVEL_UNIT_KIND[level]
    return {
        UnitKind.GRID: state.grid_id,
        UnitKind.COMMUNITY: state.community_id,
        UnitKind.TOWN: state.town_id,
    }[kind]


def _here(state: RequestState) -> Handlers:
    return Handlers(state.level, state.level_unit_id)


def _above(state: RequestState) -> Handlers | None:
    up = next_tier(state.tier)
    if up is None:
        return None
    level = TIER_LEVEL[up]
    return Handlers(level, unit_at(state, level))


def _clock(state: RequestState) -> dict[str, Any]:
    return {
        "tier": state.tier.value,
        "level": state.level.value,
        "deadline": None if state.deadline is None else state.deadline.isoformat(),
    }


def notices(change: Change, before: RequestState | None, after: RequestState) -> list[Notice]:
    """What the change tells whom (``before`` is None for a filing)."""
    kind, d = change.type, change.data
    if kind in (FILED, UNMERGED) and after.status is Status.WAITING_DISPATCH:
        units = (after.community_id, after.town_id)
        return [Notice(Dispatchers(units), "waiting_dispatch", params={"category": after.category})]
    found: list[Notice] = []
    if kind in ASSIGNED_VIA:
        params = {"via": ASSIGNED_VIA[kind], **_clock(after), "category": after.category}
        found.append(Notice(_here(after), "assigned", params=params))
        if kind == ESCALATED and before is not None:
            away = {
                "from_tier": d["from_tier"],
                "tier": d["tier"],
                "level": d["level"],
                "automatic": bool(d["automatic"]),
            }
            found.append(Notice(_here(before), "escalated_away", params=away))
    elif kind in (WARNED, MARKED_OVERDUE):
        told = "warned" if kind == WARNED else "overdue"
        found.append(Notice(_here(after), told, params=_clock(after)))
        above = _above(after)
        if above is not None:
            found.append(Notice(above, told, params=_clock(after)))
    elif kind == URGED:
        params = {"by": change.actor, "note": d.get("note", "")}
        found.append(Notice(_here(after), "urged", params=params))
    elif kind == EXTENSION_ASKED:
        above = _above(after)
        if above is not None:
            params = {"by": change.actor, "until": d["until"], "reason": d.get("reason", "")}
            found.append(Notice(above, "extension_asked", params=params))
    elif kind in (DEADLINE_EXTENDED, EXTENSION_REFUSED):
        params = {
            "approved": kind == DEADLINE_EXTENDED,
            "until": d.get("until"),
            "by": change.actor,
        }
        found.append(Notice(_here(after), "extension_decided", params=params))
    elif kind == COHANDLER_ADDED:
        params = {"by": change.actor, "note": d.get("task", d.get("note", ""))}
        found.append(Notice(Person(d["username"]), "cohandler_added", params=params))
    elif kind == RESOLVED:
        found.append(
            Notice(Resident(), "resolved", SMS, params={"review_until": d.get("review_until")})
        )
    elif kind == REVIEW_WINDOW_CLOSED:
        found.append(
            Notice(Callers(after.town_id), "review_due", params={"review_until": d["review_until"]})
        )
    elif kind == UNMERGED:
        params = {"via": "unmerged", **_clock(after), "category": after.category}
        found.append(Notice(_here(after), "assigned", params=params))
    elif kind == REVIEWED and d.get("outcome") == Outcome.REOPENED.value:
        found.append(Notice(_here(after), "reopened", params=_clock(after)))
    return found
