"""Likely duplicates (疑似重复) where the dispatcher and the handlers look: a section of the
staff request page (``_duplicates.html``) and a count on each row of the dispatch queue.
The suggestions come from :mod:`api.duplicates` (the reader sees only requests they may
know of, and never a resident's contact or address)."""

from __future__ import annotations

from typing import Any

from api import duplicates
from api.deps import Principal
from api.roster import Role
from domain.duplicates import Rule
from projections.reading import Bind
from web.i18n import Translator
from web.present import Directory, local

#: Who is shown the suggestions on a request's page.
READERS = frozenset({Role.DISPATCHER, Role.HANDLER, Role.SUPERVISOR, Role.ADMIN})


def shown(
    bind: Bind,
    view: dict[str, Any],
    user: Principal,
    rule: Rule,
    directory: Directory,
    t: Translator,
) -> list[dict[str, Any]] | None:
    """The suggestions for ``view`` as the page shows them (labels, local times, the
    reason in words); None for a reader who is not shown suggestions."""
    if user.role not in READERS:
        return None
    items = duplicates.for_reader(bind, view, user, rule)
    return [
        {
            **item,
            "category_label": t.category(item["category"]),
            "status_label": t("status." + item["status"]),
            "grid_name": directory.name(item["grid_id"]),
            "created_local": local(item["created_at"]),
            "why": [_why(reason, t) for reason in item["reasons"]],
        }
        for item in items
    ]


def _why(reason: dict[str, Any], t: Translator) -> str:
    if reason["code"] == "nearby":
        return t("dup.nearby", m=f"{reason['distance_m']:.0f}")
    return t("dup.similar_text", pct=f"{reason['similarity'] * 100:.0f}")


def count(bind: Bind, view: dict[str, Any], user: Principal, rule: Rule) -> int:
    """How many likely duplicates of ``view`` the reader may know of (at most the page's
    limit)."""
    return len(duplicates.for_reader(bind, view, user, rule))
