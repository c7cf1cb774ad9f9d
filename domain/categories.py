"""Kinds of requests (categories): the rules a category keeps, and the twelve it began with.

The categories are data an admin edits (the catalogue, :mod:`closeloop.catalogue`); this
module holds only what needs no database: :data:`SEED`, the twelve categories every
catalogue starts with (the migration ``0007`` writes them), and the checks of a
category's code, names and default tier. Each check raises :class:`BadCategory` with a
stable ``code`` and the ``field`` it concerns.
"""

from __future__ import annotations

import re
import unicodedata

from domain.ladder import Tier

#: category -> (default tier, Chinese label, English label): the catalogue's seed.
SEED: dict[str, tuple[Tier, str, str]] = {
    "water_leak": (Tier.D1, "漏水", "Water leak"),
    "utility_fault": (Tier.D1, "水电气暖故障", "Water, power, gas or heating fault"),
    "noise": (Tier.D1, "噪音扰民", "Noise"),
    "safety_hazard": (Tier.D1, "安全隐患", "Safety hazard"),
    "errand": (Tier.D1, "红色代办", "Done-for-you errand"),
    "elderly_care": (Tier.D3, "独居老人关爱", "Care for an elderly person"),
    "neighbour_dispute": (Tier.D3, "邻里纠纷", "Neighbour dispute"),
    "parking_charging": (Tier.D3, "停车与充电", "Parking and EV charging"),
    "pothole": (Tier.D3, "道路坑洼", "Pothole"),
    "water_main": (Tier.D5, "供水主管破裂", "Broken water main"),
    "wage_dispute": (Tier.D5, "欠薪纠纷", "Wage dispute"),
    "other": (Tier.D3, "其他", "Other"),
}

#: A code: lowercase ASCII letters, digits and underscores, 2 to 40 characters.
CODE_PATTERN = re.compile(r"[a-z0-9_]{2,40}")
CODE_MIN, CODE_MAX = 2, 40
#: The longest name, in characters.
NAME_MAX = 60


class BadCategory(ValueError):
    """A category's field breaks a rule: ``code`` is the stable reason, ``field`` the
    field as a body spells it (``code``, ``name_zh``, ``name_en``, ``default_tier``)."""

    def __init__(self, message: str, code: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def seed_tier(category: str) -> Tier:
    """The tier a seed category starts on; KeyError for another category."""
    return SEED[category][0]


def check_code(code: str) -> str:
    """``code`` when it is a valid category code, else :class:`BadCategory`."""
    if not isinstance(code, str) or CODE_PATTERN.fullmatch(code) is None:
        raise BadCategory(
            f"a category code is {CODE_MIN} to {CODE_MAX} lowercase ASCII letters, digits "
            f"or underscores (like water_leak); got {str(code)[:50]!r}",
            "bad_category_code",
            "code",
        )
    return code


def check_name(name: str, field: str) -> str:
    """``name`` without surrounding spaces when it may name a category (not empty, no
    control characters, at most :data:`NAME_MAX` characters), else :class:`BadCategory`."""
    value = name.strip() if isinstance(name, str) else ""
    if not value:
        raise BadCategory(f"{field} is required", "bad_category_name", field)
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp"):
            raise BadCategory(
                f"{field} must not contain control characters (found U+{ord(char):04X})",
                "bad_category_name",
                field,
            )
    if len(value) > NAME_MAX:
        raise BadCategory(
            f"{field} is at most {NAME_MAX} characters; it has {len(value)}",
            "bad_category_name",
            field,
        )
    return value


def check_tier(tier: str) -> Tier:
    """``tier`` as a :class:`~domain.ladder.Tier`, else :class:`BadCategory`."""
    try:
        return Tier(tier)
    except ValueError:
        choices = ", ".join(t.value for t in Tier)
        raise BadCategory(
            f"default_tier is one of {choices}; got {str(tier)[:20]!r}",
            "bad_category_tier",
            "default_tier",
        ) from None
