"""What the handler's page, the request page and the board show of the street-office
operations (warning, urging, extensions, co-handlers, assisting levels, dispatch, out of
scope, appeal), and which of the operations' forms a page offers to whom.

The forms are offered to those the API would let try them (``api.routes.operations`` and
the workflow's checks); the API stays the judge: a refusal is shown next to its field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.deps import Principal
from api.roster import Role
from domain.ladder import LADDER, TIER_LEVEL, Level
from domain.lifecycle import Status
from projections.reading import NO_OPERATIONS
from web.i18n import Translator
from web.present import CST, Directory, duration_text, local, parse

#: The zone of the pages' date-time fields (China Standard Time, no daylight saving): the
#: page script adds it to what a ``datetime-local`` field holds.
ZONE = "+08:00"

#: Each level's place on the ladder (grid worker 0 ... town committee 3).
RANK = {TIER_LEVEL[tier]: rank for rank, tier in enumerate(LADDER)}

UNDISPATCHED = (Status.WAITING_DISPATCH.value, Status.ASSIGNED.value, Status.IN_PROGRESS.value)
OPEN = (Status.ASSIGNED.value, Status.IN_PROGRESS.value)


def field_time(at: str | datetime | None) -> str:
    """A time as a ``datetime-local`` field holds it, in CST: ``2025-11-22T14:05``."""
    if at is None:
        return ""
    return parse(at).astimezone(CST).strftime("%Y-%m-%dT%H:%M")


def with_operations(
    shown: dict[str, Any],
    ops: dict[str, Any] | None,
    directory: Directory,
    t: Translator,
) -> dict[str, Any]:
    """A board row, task card or request (``web.present.row``) with what the pages show of
    its operations; ``ops`` is the operations' part of its view (None: none known)."""
    part = {**NO_OPERATIONS, **(ops or {})}
    extension = part["extension"]
    if extension:
        extension = {
            **extension,
            "until_local": local(extension.get("until")),
            "by_name": directory.display_name(str(extension.get("by", ""))),
            "at_local": local(extension.get("at")),
        }
    cohandlers = [
        {
            **c,
            "display_name": directory.display_name(str(c["username"])),
            "due_local": local(c.get("due")),
            "done_local": local(c.get("done_at")),
        }
        for c in part["cohandlers"]
    ]
    assisting = [
        {
            **a,
            "level_label": t("level." + str(a["level"])),
            "unit_name": directory.name(a.get("unit_id")),
        }
        for a in part["assisting"]
    ]
    until_min = until_max = ""
    deadline, started = shown.get("deadline"), part["tier_started_at"]
    if deadline and started:
        until_min = field_time(deadline)
        until_max = field_time(parse(deadline) + (parse(deadline) - parse(started)))
    out_of_scope = part["out_of_scope"]
    if out_of_scope:
        out_of_scope = {**out_of_scope, "at_local": local(out_of_scope.get("at"))}
    appeal = part["appeal"]
    if appeal:
        appeal = {**appeal, "at_local": local(appeal.get("at"))}
    wait = float(part["dispatch_wait_seconds"] or 0)
    return {
        **shown,
        "warned": bool(part["warned"]),
        "urges": int(part["urges"] or 0),
        "last_urged_local": local(part["last_urged_at"]),
        "extension": extension,
        "extensions_approved": part["extensions_approved"],
        "cohandlers": cohandlers,
        "cohandlers_open": sum(1 for c in cohandlers if not c.get("done")),
        "assisting_levels": assisting,
        "waiting_since_local": local(part["waiting_since"]),
        "dispatch_wait": duration_text(wait, t) if wait else "",
        "returns": part["returns"],
        "redirects": part["redirects"],
        "out_of_scope": out_of_scope,
        "appeal": appeal,
        "until_min": until_min,
        "until_max": until_max,
    }


def _units(view: dict[str, Any]) -> dict[Level, str]:
    """The unit each level would own the request at."""
    return {
        Level.GRID_WORKER: view["grid_id"],
        Level.GRID_BRANCH: view["grid_id"],
        Level.COMMUNITY_COMMITTEE: view["community_id"],
        Level.TOWN_COMMITTEE: view["town_id"],
    }


def _above(user: Principal, view: dict[str, Any], strictly_next: bool) -> bool:
    """A handler posted above the request's current level on its units (``strictly_next``:
    exactly one level up)."""
    if user.role is not Role.HANDLER:
        return False
    current = RANK[Level(view["level"])]
    units = _units(view)
    for post in user.assignments:
        above = RANK[post.level] - current
        if (above == 1 if strictly_next else above >= 1) and units[post.level] == post.unit_id:
            return True
    return False


def _at_current_level(user: Principal, view: dict[str, Any]) -> bool:
    return user.role is Role.HANDLER and any(
        a.level.value == view["level"] and a.unit_id == view["level_unit_id"]
        for a in user.assignments
    )


def allowed(user: Principal, view: dict[str, Any]) -> dict[str, bool]:
    """Which of the operations' forms the request page offers ``user`` on ``view``."""
    status = view["status"]
    supervisor = user.role is Role.SUPERVISOR
    platform = user.role in (Role.SUPERVISOR, Role.ADMIN) or (
        user.role is Role.DISPATCHER
        and bool({view["community_id"], view["town_id"]} & set(user.dispatch_units))
    )
    high = (Level.COMMUNITY_COMMITTEE, Level.TOWN_COMMITTEE)
    units = _units(view)
    committee = user.role is Role.HANDLER and any(
        p.level in high and units[p.level] == p.unit_id for p in user.assignments
    )
    return {
        "urge": status in UNDISPATCHED and (supervisor or _above(user, view, False)),
        "decide": bool(view.get("extension"))
        and status in OPEN
        and (supervisor or _above(user, view, True)),
        "cohandle": status in OPEN and (supervisor or _at_current_level(user, view)),
        "out_of_scope": status in UNDISPATCHED and (supervisor or committee),
        "redirect": status in OPEN and platform,
        "retier": status in OPEN and platform,
        "handle": status in OPEN and user.role is Role.HANDLER,
        # correct where it is: the current level, its platform, a supervisor
        "locate": status != Status.CLOSED.value
        and (supervisor or _dispatcher_of(user, view) or _at_current_level(user, view)),
        # merge it into a likely duplicate (合并), or take it out again: the current level,
        # its platform, a supervisor (POST /api/v1/requests/{id}/merge and /unmerge)
        "merge": status in UNDISPATCHED
        and not view.get("duplicates")
        and (supervisor or _dispatcher_of(user, view) or _at_current_level(user, view)),
        "unmerge": status == Status.MERGED.value
        and (supervisor or _dispatcher_of(user, view) or _at_current_level(user, view)),
    }


def _dispatcher_of(user: Principal, view: dict[str, Any]) -> bool:
    return user.role is Role.DISPATCHER and bool(
        {view["community_id"], view["town_id"]} & set(user.dispatch_units)
    )
