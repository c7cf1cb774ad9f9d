"""Likely duplicates of a request (疑似重复): the rule, checked once here.

When a request is filed, the staff who sort and handle it are shown the open requests that
look like the same problem reported again, so that they can handle them together (merging
them is a separate move). Another request is a *likely duplicate* of this one when

- it is open: waiting for dispatch, assigned or in progress (not resolved, not closed);
- it is not this request;
- it was filed within ``days`` days of this one, before or after (``CLOSELOOP_DUPLICATE_DAYS``,
  14 by default; calendar days);
- and either
  - **nearby**: both have a point, they are in the same category, and the points are at most
    ``distance_m`` metres apart (``CLOSELOOP_DUPLICATE_DISTANCE_M``, 100 by default;
    great-circle distance on the WGS-84 mean radius), or
  - **similar text**: both are in the same grid and their descriptions are similar
    (:func:`similarity` at least :data:`SIMILAR_TEXT`), whatever their category.

Each suggestion says why (``reasons``): ``nearby`` with ``distance_m``, ``similar_text``
with ``similarity``. Suggestions are ranked strongest first (:func:`rank_key`).

Nothing here reads a database: the read side (``projections.duplicates``) narrows the
candidates in SQL (the same town or grid, the time window, a bounding box around the point)
and asks this module for the exact answer.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from domain.lifecycle import Status

#: The statuses of a request that can still take a duplicate (somebody is working on it or
#: about to): resolved and closed requests are never suggested.
OPEN = frozenset({Status.WAITING_DISPATCH, Status.ASSIGNED, Status.IN_PROGRESS})

#: The defaults of ``CLOSELOOP_DUPLICATE_DISTANCE_M`` and ``CLOSELOOP_DUPLICATE_DAYS``.
DEFAULT_DISTANCE_M = 100.0
DEFAULT_DAYS = 14
#: The bounds the settings accept: a distance above 0 and at most 5 km (further than that is
#: not "the same spot", and keeps the bounding box small), 1 to 365 days.
MAX_DISTANCE_M = 5000.0
MAX_DAYS = 365

#: How similar two descriptions must be (:func:`similarity`, 0 to 1) to count as "similar
#: text". Chosen on real pairs (tests/domain/test_duplicates.py): the same leak told twice
#: in other words ("楼上漏水，厨房天花板一直滴水" and "厨房天花板漏水，应该是楼上渗下来的")
#: scores 0.56, the same blocked stairwell ("楼道堆放杂物，存在消防隐患" and "楼道里堆了很多
#: 杂物，有消防安全隐患") 0.49, the same street light in English 0.83; two different
#: problems at the same gate ("小区门口有个大坑" and "小区门口垃圾堆放") score 0.46 and
#: stay out, unrelated ones score under 0.4. It is a suggestion: some rewordings are missed
#: ("电动车在楼道充电，很危险" and "楼道里有人给电动车充电，存在火灾隐患": 0.44).
SIMILAR_TEXT = 0.48

#: The mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8

#: English words too common to say anything about the problem.
_STOPWORDS = frozenset(
    {"a", "an", "the", "is", "are", "was", "were", "be", "been", "of", "in", "on", "at",
     "to", "for", "from", "by", "with", "and", "or", "but", "it", "its", "this", "that",
     "there", "here", "has", "have", "had", "not", "no", "very", "so", "please", "our",
     "my", "we", "i"}
)  # fmt: skip
#: A run of Chinese characters (CJK unified ideographs and extension A), with the digits
#: and Latin letters written inside it (``3号楼2单元``).
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(rf"[{_CJK}0-9a-z]*[{_CJK}][{_CJK}0-9a-z]*")
_WORD = re.compile(r"[0-9a-z]+")


def distance_m(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """The great-circle distance between two WGS-84 points in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(long2 - long1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bounding_box(lat: float, long: float, radius_m: float) -> tuple[float, float, float, float]:
    """``(min_lat, max_lat, min_long, max_long)`` holding every point within ``radius_m``
    of the point (a little more: it is a box), for narrowing candidates in SQL. Near a
    pole the longitudes span the whole circle; across the antimeridian the box is widened
    to every longitude (rare enough not to matter for a street office)."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    min_lat, max_lat = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    widest = max(abs(min_lat), abs(max_lat))
    if widest >= 89.9:
        return min_lat, max_lat, -180.0, 180.0
    dlong = math.degrees(radius_m / (EARTH_RADIUS_M * math.cos(math.radians(widest))))
    min_long, max_long = long - dlong, long + dlong
    if min_long < -180.0 or max_long > 180.0:
        return min_lat, max_lat, -180.0, 180.0
    return min_lat, max_lat, min_long, max_long


def _stem(word: str) -> str:
    """A light English stem: ``leaking``, ``leaked``, ``leaks`` all read ``leak``."""
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _words(norm: str) -> set[str]:
    """The words outside the Chinese runs (English), stemmed, without the commonest."""
    rest = _CJK_RUN.sub(" ", norm)
    return {_stem(w) for w in _WORD.findall(rest) if w not in _STOPWORDS}


def tokens(text: str) -> frozenset[str]:
    """A description's pairs: its Chinese text as overlapping pairs of characters (one
    character alone when the run is that short; digits and Latin letters inside a Chinese
    run count as characters) and its other words (English) as lightly stemmed words
    without the commonest ones. The text is normalised first (NFKC: full-width letters and
    digits are the half-width ones; case folded); punctuation and spaces separate runs."""
    norm = _normal(text)
    out: set[str] = set()
    for run in _CJK_RUN.findall(norm):
        if len(run) == 1:
            out.add(run)
        out.update(run[i : i + 2] for i in range(len(run) - 1))
    return frozenset(out | _words(norm))


def characters(text: str) -> frozenset[str]:
    """A description's single characters of its Chinese runs, and its English words as
    :func:`tokens` reads them."""
    norm = _normal(text)
    out = {c for run in _CJK_RUN.findall(norm) for c in run}
    return frozenset(out | _words(norm))


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


def similarity(a: str, b: str) -> float:
    """How alike two descriptions are, 0 (nothing shared) to 1 (the same words): the mean
    of two Dice coefficients (``2|A∩B| / (|A|+|B|)``), one of the pairs of characters
    (:func:`tokens`: the order of the words counts) and one of the single characters
    (:func:`characters`: the same things said in another order, or with words between,
    still meet). English text is compared by words in both. Dice rather than Jaccard, so
    that a short report and a longer one of the same thing still meet."""
    return (_dice(tokens(a), tokens(b)) + _dice(characters(a), characters(b))) / 2


@dataclass(frozen=True)
class Filing:
    """What the rule needs of a request."""

    id: str
    status: Status
    category: str
    grid_id: str
    description: str
    created_at: datetime
    lat: float | None = None
    long: float | None = None

    @property
    def point(self) -> tuple[float, float] | None:
        if self.lat is None or self.long is None:
            return None
        return self.lat, self.long

    @classmethod
    def of(cls, view: dict[str, Any]) -> Filing:
        """From a request view (the read model's item or view)."""
        created = view["created_at"]
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        return cls(
            id=view["id"],
            status=Status(view["status"]),
            category=view["category"],
            grid_id=view["grid_id"],
            description=view["description"],
            created_at=created,
            lat=view.get("lat"),
            long=view.get("long"),
        )


@dataclass(frozen=True)
class Rule:
    """The thresholds in force (the settings)."""

    distance_m: float = DEFAULT_DISTANCE_M
    days: int = DEFAULT_DAYS
    similar_text: float = SIMILAR_TEXT

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.days)


@dataclass(frozen=True)
class Match:
    """Why ``other`` is a likely duplicate: each reason with its measure."""

    other: Filing
    distance_m: float | None = None  # set when nearby
    similarity: float | None = None  # set when the text is similar
    time_apart: timedelta = field(default=timedelta(0))

    @property
    def reasons(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.distance_m is not None:
            out.append({"code": "nearby", "distance_m": round(self.distance_m, 1)})
        if self.similarity is not None:
            out.append({"code": "similar_text", "similarity": round(self.similarity, 2)})
        return out

    def strength(self, rule: Rule) -> float:
        """0 to 1: the larger of the closeness (1 at the same spot, 0 at the distance
        limit) and the text's similarity."""
        near = 0.0
        if self.distance_m is not None:
            near = max(0.0, 1.0 - self.distance_m / rule.distance_m) if rule.distance_m else 1.0
        return max(near, self.similarity or 0.0)


def match(this: Filing, other: Filing, rule: Rule | None = None) -> Match | None:
    """Whether ``other`` is a likely duplicate of ``this`` and why; None when it is not."""
    rule = rule or Rule()
    if other.id == this.id or other.status not in OPEN:
        return None
    apart = abs(other.created_at - this.created_at)
    if apart > rule.window:
        return None
    distance = None
    if other.category == this.category and this.point and other.point:
        d = distance_m(*this.point, *other.point)
        if d <= rule.distance_m:
            distance = d
    similar = None
    if other.grid_id == this.grid_id:
        s = similarity(this.description, other.description)
        if s >= rule.similar_text:
            similar = s
    if distance is None and similar is None:
        return None
    return Match(other, distance, similar, apart)


def rank_key(m: Match, rule: Rule) -> tuple[float, float, timedelta, str]:
    """Strongest first: both reasons before one, then the larger strength, then the
    nearer in time, then by id (a stable order)."""
    both = m.distance_m is not None and m.similarity is not None
    return (0.0 if both else 1.0, -m.strength(rule), m.time_apart, m.other.id)


def suggest(
    this: Filing, candidates: Iterable[Filing], rule: Rule | None = None, limit: int = 10
) -> list[Match]:
    """The likely duplicates of ``this`` among ``candidates``, strongest first, at most
    ``limit``."""
    rule = rule or Rule()
    found = [m for m in (match(this, c, rule) for c in candidates) if m is not None]
    found.sort(key=lambda m: rank_key(m, rule))
    return found[:limit]
