"""Where a request is, and the photos it carries: the rules, checked once here.

A place is a point (``lat``, ``long``: WGS-84 degrees, both or neither), an ``address``
(free text) and a ``building`` (the building or household inside the grid, free text).
The address and the building are the resident's personal data: the read models keep them
sealed, as they keep the resident's contact (:mod:`domain.privacy`).

A photo is named by the SHA-256 of its stored (metadata-stripped) bytes and carries its
content type; the images themselves live in the media store (``closeloop.media``), never in
the event store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from domain.lifecycle import Invalid

#: The longest address and building reference kept.
MAX_ADDRESS = 300
MAX_BUILDING = 100
#: Photos a resident attaches to a filing, or a handler to one progress note or resolve.
MAX_PHOTOS = 4
#: The image types accepted (checked by content, not by name).
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
#: Where a photo was attached: by the resident when filing, by a handler before the work
#: is done (a progress note) or after it (the resolve).
FILED_STAGE = "filed"
BEFORE = "before"
AFTER = "after"
STAGES = (FILED_STAGE, BEFORE, AFTER)

#: The keys of a place that are personal data (sealed in the read models, never on the
#: timeline's rows).
PRIVATE_KEYS = ("address", "building")

_HASH = re.compile(r"^[0-9a-f]{64}$")


def check_point(lat: float | None, long: float | None) -> tuple[float, float] | None:
    """The point as two finite degrees in range, or None when neither is given."""
    if lat is None and long is None:
        return None
    if lat is None or long is None:
        missing = "lat" if lat is None else "long"
        raise Invalid("lat and long are given together, or neither", "location_incomplete", missing)
    for name, value, limit in (("lat", lat, 90.0), ("long", long, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"{name} is a number of degrees", "location_out_of_range", name)
        if not math.isfinite(value) or not -limit <= value <= limit:
            raise Invalid(
                f"{name} is between -{limit:g} and {limit:g} degrees (WGS-84)",
                "location_out_of_range",
                name,
            )
    return float(lat), float(long)


def check_text(value: str | None, name: str, limit: int) -> str | None:
    """A free-text part of a place, stripped; None when blank."""
    if value is None:
        return None
    text = value.strip()
    if len(text) > limit:
        raise Invalid(f"{name} is at most {limit} characters", "text_too_long", name)
    return text or None


def place(
    lat: float | None, long: float | None, address: str | None, building: str | None
) -> dict[str, Any]:
    """A place as changes carry it: only the parts given (an empty dict: no place)."""
    out: dict[str, Any] = {}
    point = check_point(lat, long)
    if point is not None:
        out["lat"], out["long"] = point
    for name, value, limit in (
        ("address", address, MAX_ADDRESS),
        ("building", building, MAX_BUILDING),
    ):
        text = check_text(value, name, limit)
        if text is not None:
            out[name] = text
    return out


def photo_ref(ref: Mapping[str, Any], stage: str) -> dict[str, str]:
    """A photo as changes carry it: its content hash, its type and where it was added."""
    digest, kind = ref.get("hash"), ref.get("type")
    if not isinstance(digest, str) or not _HASH.match(digest):
        raise Invalid("a photo is named by its SHA-256 (64 hex digits)", "photo_unknown", "photos")
    if kind not in PHOTO_TYPES:
        raise Invalid("a photo is JPEG, PNG or WebP", "photo_type", "photos")
    if stage not in STAGES:
        raise ValueError(f"unknown photo stage {stage!r}")
    return {"hash": digest, "type": str(kind), "stage": stage}


def photo_refs(refs: Sequence[Mapping[str, Any]], stage: str) -> list[dict[str, str]]:
    """At most :data:`MAX_PHOTOS` photos, each once, as changes carry them."""
    if len(refs) > MAX_PHOTOS:
        raise Invalid(
            f"at most {MAX_PHOTOS} photos at a time, not {len(refs)}", "too_many_photos", "photos"
        )
    out: list[dict[str, str]] = []
    for ref in refs:
        checked = photo_ref(ref, stage)
        if all(p["hash"] != checked["hash"] for p in out):
            out.append(checked)
    return out
