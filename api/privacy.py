"""The privacy rule (:mod:`domain.privacy`) applied to what is sent: one request view as
the caller may see it, the resident's contact opened, masked or withheld.

The API's replies, the pages, the CSV export and the event stream all pass their request
views through :func:`present` (or :func:`visible`), so no view leaves with a contact its
reader may not see. A view comes either from the read models (the contact masked, its
sealed copy in ``resident_sealed``) or from the workflow (the contact in clear).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from domain.privacy import (
    RequestFacts,
    Sealer,
    Sight,
    Viewer,
    masked,
    may_reveal,
    open_contact,
    open_place,
    sight,
)
from domain.state import Assignment

SEALED = "resident_sealed"
#: The read models' sealed address and building (domain.place).
PLACE_SEALED = "place_sealed"


class Person(Protocol):
    """A signed-in staff member as the API knows them (``api.deps.Principal``)."""

    @property
    def role(self) -> Any: ...

    @property
    def assignments(self) -> tuple[Assignment, ...] | list[Assignment]: ...


def viewer_of(user: Person | None) -> Viewer:
    if user is None:
        return Viewer(None)
    role = getattr(user.role, "value", user.role)
    return Viewer(
        str(role),
        tuple(user.assignments),
        username=getattr(user, "username", None),
        dispatch_units=tuple(getattr(user, "dispatch_units", ())),
    )


def sight_of(view: Mapping[str, Any], user: Person | None) -> Sight:
    return sight(viewer_of(user), RequestFacts.of(view))


def present(
    view: Mapping[str, Any], user: Person | None, sealer: Sealer | None
) -> dict[str, Any] | None:
    """``view`` as ``user`` may see it, or None when the request is not theirs to know of.

    Adds ``contact`` (``full`` or ``masked``) and ``may_reveal``; drops the sealed copy.
    A full sight of a row without a sealed copy (projected before sealing, or without a
    key) shows the masked contact: the clear one is not there to show. The address and
    building go with the contact: shown to those who see it in full, None to the others
    (a supervisor's or admin's reveal shows them too); the point (``lat``, ``long``) is
    shown to all who may see the request.
    """
    viewer = viewer_of(user)
    facts = RequestFacts.of(view)
    seen = sight(viewer, facts)
    if seen is Sight.NONE:
        return None
    shown = {k: v for k, v in view.items() if k not in (SEALED, PLACE_SEALED)}
    contact = clear_contact(view, sealer) if seen is Sight.FULL else None
    where = clear_place(view, sealer) if contact is not None else {}
    shown["address"] = where.get("address")
    shown["building"] = where.get("building")
    if contact is None:
        shown["resident"] = masked(view["resident"])
        shown["contact"] = Sight.MASKED.value
    else:
        shown["resident"] = contact
        shown["contact"] = Sight.FULL.value
    shown["may_reveal"] = shown["contact"] == Sight.MASKED.value and may_reveal(viewer, facts)
    return shown


def visible(
    views: Iterable[Mapping[str, Any]], user: Person | None, sealer: Sealer | None
) -> list[dict[str, Any]]:
    """The views ``user`` may know of, each as :func:`present` shows it."""
    shown = (present(view, user, sealer) for view in views)
    return [view for view in shown if view is not None]


def clear_place(view: Mapping[str, Any], sealer: Sealer | None) -> dict[str, str]:
    """The request's address and building in clear (those it has; empty when none or
    when they cannot be had)."""
    if SEALED not in view:  # the workflow's view: in clear
        return {k: view[k] for k in ("address", "building") if view.get(k)}
    sealed = view.get(PLACE_SEALED)
    if sealed is None or sealer is None:
        return {}
    return open_place(sealer, sealed)


def clear_contact(view: Mapping[str, Any], sealer: Sealer | None) -> dict[str, str] | None:
    """The resident's name and phone in clear, or None when they cannot be had."""
    if SEALED not in view:  # the workflow's view: the contact is in clear
        return {"name": view["resident"]["name"], "phone": view["resident"]["phone"]}
    sealed = view[SEALED]
    if sealed is None or sealer is None:
        return None
    return open_contact(sealer, sealed)
