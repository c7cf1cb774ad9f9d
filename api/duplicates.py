"""Likely duplicates as a reader may see them: the rule in force (the settings), the
candidates the read side finds (:mod:`projections.duplicates`), only those the reader may
know of (:mod:`domain.privacy`). Used by ``GET /requests/{id}/duplicates`` and the pages."""

from __future__ import annotations

from typing import Any

from api import privacy
from closeloop.settings import Settings
from domain.duplicates import Rule
from domain.privacy import Sight
from projections import duplicates
from projections.reading import Bind

#: Suggestions shown for one request, at most (the API's ``limit`` goes up to MAX_LIMIT).
DEFAULT_LIMIT = 10
MAX_LIMIT = 50


def rule_of(settings: Settings) -> Rule:
    return Rule(distance_m=settings.duplicate_distance_m, days=settings.duplicate_days)


def for_reader(
    bind: Bind,
    view: dict[str, Any],
    user: privacy.Person,
    rule: Rule,
    limit: int = DEFAULT_LIMIT,
) -> list[dict[str, Any]]:
    """The likely duplicates of the request ``view`` that ``user`` may know of, strongest
    first, at most ``limit``. The caller has checked that ``user`` may know of ``view``."""
    found = duplicates.candidates(bind, view, rule)
    known = [c for c in found if privacy.sight_of(c, user) is not Sight.NONE]
    return duplicates.likely_duplicates(view, known, rule, limit)
