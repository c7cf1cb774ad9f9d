"""Who sees a resident's name and phone: the one rule, used by the API, the pages, the CSV
export and the event stream, and printed as the README's table (``python -m domain.privacy``).

A request belongs to three units: its grid, community and town. Staff see a request when
it is theirs to know of; then they see the resident's contact either in full or masked:

- handlers assigned (a level on a unit) at the request's current level, or at a level it
  has been at, see it in full: they are the ones who call the resident back;
- follow-up callers see it in full while the request waits for its review (回访);
- everyone else who may see the request sees ``138****5678`` and ``张*``: supervisors and
  admins may *reveal* it by stating why, which leaves an audit record;
- handlers with no post on the request's units do not see the request at all (404);
- a dispatcher posted at the request's community or town sees it in full while it waits
  for dispatch (they sort it, and may call to clarify), masked otherwise;
- a co-handler called in by username (a partner organisation's user, or a staff member)
  sees it in full while their part is open, masked after; a partner sees no other request.

Supervisors, callers and admins serve the whole street office (the roster gives posts on
units to handlers only), so every request is within their units.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from domain.ladder import LEVEL_UNIT_KIND, TIER_LEVEL, Level, Tier, UnitKind
from domain.lifecycle import Status
from domain.place import PRIVATE_KEYS
from domain.state import Assignment


class Sight(StrEnum):
    """How much of a request's resident a viewer sees."""

    NONE = "none"  # the request is not theirs to know of: 404
    MASKED = "masked"  # the request, with the contact masked
    FULL = "full"  # the request with the resident's name and phone


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a role (``admin``, ``supervisor``, ``handler``, ``caller``) and, for
    a handler, the posts; ``None`` role is an anonymous caller (a resident)."""

    role: str | None
    assignments: tuple[Assignment, ...] = ()
    username: str | None = None
    dispatch_units: tuple[str, ...] = ()  # a dispatcher's posts (communities, towns)


@dataclass(frozen=True)
class RequestFacts:
    """What the rule needs to know of a request."""

    grid_id: str
    community_id: str
    town_id: str
    status: Status
    levels: frozenset[Level]  # the current level and every level the request has been at
    cohandlers: frozenset[str] = frozenset()  # co-handlers whose part is open
    past_cohandlers: frozenset[str] = frozenset()  # co-handlers whose part is done

    @classmethod
    def of(cls, view: Mapping[str, Any]) -> RequestFacts:
        """From a request view (the workflow's, or the read model's)."""
        levels = {Level(view["level"])}
        for entry in view.get("timeline", ()):
            if entry.get("type") in _TIER_MOVES:
                for key in ("from_tier", "tier"):
                    if entry.get(key):
                        levels.add(TIER_LEVEL[Tier(entry[key])])
        # the levels it went up from: the request's ``assisting``, a work list's
        # ``went_up_from`` (where ``assisting`` says whether the reader assists)
        for left in (*_listed(view.get("assisting")), *_listed(view.get("went_up_from"))):
            levels.add(Level(left["level"]))
        cohandlers = view.get("cohandlers") or ()
        return cls(
            grid_id=view["grid_id"],
            community_id=view["community_id"],
            town_id=view["town_id"],
            status=Status(view["status"]),
            levels=frozenset(levels),
            cohandlers=frozenset(c["username"] for c in cohandlers if not c["done"]),
            past_cohandlers=frozenset(c["username"] for c in cohandlers if c["done"]),
        )

    def unit_at(self, level: Level) -> str:
        kind = LEVEL_UNIT_KIND[level]
        return {
            UnitKind.GRID: self.grid_id,
            UnitKind.COMMUNITY: self.community_id,
            UnitKind.TOWN: self.town_id,
        }[kind]

    @property
    def units(self) -> frozenset[str]:
        return frozenset((self.grid_id, self.community_id, self.town_id))


def _listed(value: Any) -> list[dict[str, str]]:
    return value if isinstance(value, list) else []


#: The timeline entries that move a request between tiers (and so between levels).
_TIER_MOVES = frozenset({"Escalated", "Retiered", "Dispatched", "Returned", "Appealed"})

#: Roles that may reveal a masked contact (with a reason, audited).
REVEALERS = frozenset({"supervisor", "admin"})
#: Roles that serve the whole street office (no posts on units).
OFFICE_WIDE = frozenset({"supervisor", "admin", "caller"})


def sight(viewer: Viewer, request: RequestFacts) -> Sight:
    """How much of ``request``'s resident ``viewer`` sees."""
    if viewer.username is not None and viewer.role in ("handler", "partner"):
        if viewer.username in request.cohandlers:
            return Sight.FULL
        if viewer.username in request.past_cohandlers and viewer.role == "partner":
            return Sight.MASKED
    if viewer.role == "partner":
        return Sight.NONE
    if viewer.role == "dispatcher":
        if not {request.community_id, request.town_id} & set(viewer.dispatch_units):
            return Sight.NONE
        return Sight.FULL if request.status is Status.WAITING_DISPATCH else Sight.MASKED
    if viewer.role == "handler":
        posts = viewer.assignments
        if any(a.level in request.levels and a.unit_id == request.unit_at(a.level) for a in posts):
            return Sight.FULL
        if any(a.unit_id in request.units for a in posts):
            return Sight.MASKED
        return Sight.NONE
    if viewer.role == "caller" and request.status is Status.RESOLVED:
        return Sight.FULL
    if viewer.role in OFFICE_WIDE:
        return Sight.MASKED
    return Sight.NONE


def may_reveal(viewer: Viewer, request: RequestFacts) -> bool:
    """Whether ``viewer`` may reveal the masked contact (stating why; audited)."""
    return viewer.role in REVEALERS and sight(viewer, request) is Sight.MASKED


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``: enough to recognise, not enough to call."""
    digits = [c for c in phone if c.isdigit()]
    if len(digits) < 7:
        return "*" * len(digits)
    return "".join(digits[:3]) + "****" + "".join(digits[-4:])


def mask_name(name: str) -> str:
    """``张三丰`` -> ``张*``, ``Li Lei`` -> ``L*``: the first character only."""
    name = name.strip()
    return name[:1] + "*" if name else ""


def masked(resident: Mapping[str, str]) -> dict[str, str]:
    """A resident's contact as a viewer with a masked sight sees it."""
    return {"name": mask_name(resident["name"]), "phone": mask_phone(resident["phone"])}


class Sealer(Protocol):
    """Encrypts text for the read models (``closeloop.keys.Keyring``)."""

    def seal_text(self, text: str) -> str: ...

    def open_text(self, sealed: str) -> str: ...

    def derive(self, purpose: str) -> bytes: ...


def seal_contact(sealer: Sealer, resident: Mapping[str, str]) -> str:
    """A resident's name and phone as one sealed text, for the read models."""
    return sealer.seal_text(json.dumps({"name": resident["name"], "phone": resident["phone"]}))


def open_contact(sealer: Sealer, sealed: str) -> dict[str, str]:
    """The name and phone of :func:`seal_contact`'s text."""
    contact = json.loads(sealer.open_text(sealed))
    return {"name": str(contact["name"]), "phone": str(contact["phone"])}


def seal_place(sealer: Sealer, place: Mapping[str, Any]) -> str | None:
    """A request's address and building (personal data, :mod:`domain.place`) as one
    sealed text for the read models; None when it has neither."""
    kept = {k: place[k] for k in PRIVATE_KEYS if place.get(k)}
    return sealer.seal_text(json.dumps(kept, ensure_ascii=False)) if kept else None


def open_place(sealer: Sealer, sealed: str) -> dict[str, str]:
    """The address and building of :func:`seal_place`'s text (those it holds)."""
    place = json.loads(sealer.open_text(sealed))
    return {k: str(place[k]) for k in PRIVATE_KEYS if place.get(k)}


# ---- the README's table, derived from the rule ------------------------------------------


@dataclass(frozen=True)
class Case:
    """One row of the table: a viewer, where they stand, and the request's state."""

    who: str
    viewer: Viewer
    status: Status
    levels: tuple[Level, ...]


def _cases() -> Sequence[Case]:
    """Representative viewers against a request in grid ``g1`` (community ``c1``, town
    ``t1``); ``g2`` is another grid of ``c1``, ``t2`` another town."""
    worker = Level.GRID_WORKER
    branch = Level.GRID_BRANCH
    waiting = Status.WAITING_DISPATCH
    community = Level.COMMUNITY_COMMITTEE
    open_, resolved = Status.IN_PROGRESS, Status.RESOLVED

    def handler(unit: str, level: Level) -> Viewer:
        return Viewer("handler", (Assignment(unit, level),))

    on_way = (worker,)
    return [
        Case("grid worker of its grid, at its level", handler("g1", worker), open_, on_way),
        Case(
            "grid worker of its grid, after it went up to the branch",
            handler("g1", worker), open_, (worker, branch),
        ),
        Case("grid branch of its grid, before it went up", handler("g1", branch), open_, on_way),
        Case(
            "community committee of its community, at that level",
            handler("c1", community), open_, (worker, branch, community),
        ),
        Case(
            "community committee of its community, before it went up",
            handler("c1", community), open_, on_way,
        ),
        Case("grid worker of another grid", handler("g2", worker), open_, on_way),
        Case("handler of another town", handler("t2", Level.TOWN_COMMITTEE), open_, on_way),
        Case("follow-up caller, while it waits for its review", Viewer("caller"), resolved, on_way),
        Case("follow-up caller, at any other time", Viewer("caller"), open_, on_way),
        Case(
            "dispatcher of its community or town, while it waits for dispatch",
            Viewer("dispatcher", dispatch_units=("c1",)), waiting, on_way,
        ),
        Case(
            "dispatcher of its community or town, once dispatched",
            Viewer("dispatcher", dispatch_units=("t1",)), open_, on_way,
        ),
        Case(
            "dispatcher of another town",
            Viewer("dispatcher", dispatch_units=("t2",)), waiting, on_way,
        ),
        Case(
            "partner called in as a co-handler, while their part is open",
            Viewer("partner", username="p1"), open_, on_way,
        ),
        Case(
            "partner called in as a co-handler, once their part is done",
            Viewer("partner", username="p2"), open_, on_way,
        ),
        Case("partner not called in", Viewer("partner", username="p3"), open_, on_way),
        Case("supervisor", Viewer("supervisor"), open_, on_way),
        Case("admin", Viewer("admin"), open_, on_way),
        Case("resident (no sign-in)", Viewer(None), open_, on_way),
    ]  # fmt: skip


def _facts(case: Case) -> RequestFacts:
    # "p1" is a co-handler of the request with an open part, "p2" one whose part is done
    return RequestFacts(
        "g1", "c1", "t1", case.status, frozenset(case.levels), frozenset({"p1"}), frozenset({"p2"})
    )


_SHOWN = {
    Sight.FULL: "name and phone in full",
    Sight.MASKED: "masked (`张*`, `138****5678`)",
    Sight.NONE: "nothing: 404",
}


def table(cases: Iterable[Case] | None = None) -> str:
    """The README's table of who sees what, computed from :func:`sight`."""
    lines = [
        "| who | sees the resident | may reveal |",
        "| --- | --- | --- |",
    ]
    for case in cases or _cases():
        facts = _facts(case)
        shown = _SHOWN[sight(case.viewer, facts)]
        if case.viewer.role is None:
            shown = "only the tracking page (no name, no phone; of the staff, the contact card)"
        reveal = "yes, stating why (audited)" if may_reveal(case.viewer, facts) else "no"
        lines.append(f"| {case.who} | {shown} | {reveal} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
