"""The assessment of grid workers (网格员考核): points from their rates, a grade, a quota.

A :class:`Scheme` says how a worker's counts (:data:`domain.performance.POST_COUNTS`)
become points and a grade:

- **Indicators.** Each takes one rate of :data:`domain.performance.RATES` (its numerator
  over its denominator), a weight, and turns the rate into 0-100 points linearly: 0 points
  at or below ``zero_at``, 100 at or above ``full_at``, a straight line between.
- **Points** are the weighted mean of the indicators that have a value. A rate whose
  denominator is 0 (no reviews reached, nothing resolved) has no value: that indicator is
  left out and the others share its weight (their weights over the sum of the weights that
  remain). Without any value there are no points.
- **Adjustments** by supervisors (for what the data cannot see, such as a democratic
  appraisal) are added to the computed points; the sum is kept within 0..100: the *final*
  points.
- **Grades** by the final points: 优秀 excellent at or above ``excellent``, 称职 competent at
  or above ``competent``, 基本称职 basically competent at or above ``basically_competent``,
  else 不称职 incompetent.
- **Quota.** With ``excellent_quota`` (a share, e.g. 0.2: at most 20% of the graded
  workers, rounded down), when more workers reach excellent than the quota allows, only
  the top ones keep it: by final points, ties by more assigned stints, then by username.
  The others are graded competent and marked ``capped_by_quota``.
- **Too little data.** A worker with fewer assigned stints than ``min_assigned`` gets no
  grade ("insufficient data"), is not ranked and does not count for the quota.

Everything here is pure; the scheme in force is kept by :mod:`closeloop.assessment`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.performance import RATES

#: Grade codes, best first, with their Chinese and English names.
EXCELLENT = "excellent"
COMPETENT = "competent"
BASICALLY_COMPETENT = "basically_competent"
INCOMPETENT = "incompetent"
GRADES: tuple[str, ...] = (EXCELLENT, COMPETENT, BASICALLY_COMPETENT, INCOMPETENT)
GRADE_NAMES: dict[str, tuple[str, str]] = {
    EXCELLENT: ("优秀", "Excellent"),
    COMPETENT: ("称职", "Competent"),
    BASICALLY_COMPETENT: ("基本称职", "Basically competent"),
    INCOMPETENT: ("不称职", "Incompetent"),
}

#: Why a worker has no grade.
INSUFFICIENT_DATA = "insufficient_data"  # fewer assigned stints than min_assigned
NO_VALUES = "no_values"  # none of the scheme's rates has a value

#: The rates an indicator may use: those where more is better (a higher reopen rate is
#: worse, and an indicator's points rise with its rate).
INDICATOR_RATES: tuple[str, ...] = tuple(name for name in RATES if name != "reopen_rate")

#: Bounds that keep a scheme sane.
MAX_WEIGHT = 1000.0
MAX_MIN_ASSIGNED = 100_000
FULL_POINTS = 100.0


class SchemeError(ValueError):
    """A scheme that breaks a rule: ``field`` names the part as the JSON spells it
    (``indicators.1.zero_at``, ``grades.competent``, ``excellent_quota``...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Indicator:
    """One rate turned into 0-100 points, with its weight in the points."""

    rate: str
    weight: float
    zero_at: float
    full_at: float

    def points(self, value: float) -> float:
        """0 at or below ``zero_at``, 100 at or above ``full_at``, linear between."""
        if value <= self.zero_at:
            return 0.0
        if value >= self.full_at:
            return FULL_POINTS
        return FULL_POINTS * (value - self.zero_at) / (self.full_at - self.zero_at)

    def json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "weight": self.weight,
            "zero_at": self.zero_at,
            "full_at": self.full_at,
        }


@dataclass(frozen=True)
class Thresholds:
    """The lowest final points of each grade but the last (不称职 is below them all)."""

    excellent: float = 90.0
    competent: float = 75.0
    basically_competent: float = 60.0

    def grade(self, points: float) -> str:
        if points >= self.excellent:
            return EXCELLENT
        if points >= self.competent:
            return COMPETENT
        if points >= self.basically_competent:
            return BASICALLY_COMPETENT
        return INCOMPETENT

    def json(self) -> dict[str, float]:
        return {
            EXCELLENT: self.excellent,
            COMPETENT: self.competent,
            BASICALLY_COMPETENT: self.basically_competent,
        }


DEFAULT_INDICATORS: tuple[Indicator, ...] = (
    Indicator("response_rate", 30.0, 0.5, 1.0),  # 响应率
    Indicator("resolution_rate", 30.0, 0.5, 1.0),  # 解决率
    Indicator("satisfaction_rate", 30.0, 0.6, 1.0),  # 满意率
    Indicator("on_time_rate", 10.0, 0.5, 1.0),
)
DEFAULT_QUOTA = 0.2


@dataclass(frozen=True)
class Scheme:
    """How counts become points and a grade (see the module's description)."""

    indicators: tuple[Indicator, ...] = DEFAULT_INDICATORS
    grades: Thresholds = field(default_factory=Thresholds)
    excellent_quota: float | None = DEFAULT_QUOTA  # None: no quota
    min_assigned: int = 1

    def json(self) -> dict[str, Any]:
        return {
            "indicators": [i.json() for i in self.indicators],
            "grades": self.grades.json(),
            "excellent_quota": self.excellent_quota,
            "min_assigned": self.min_assigned,
        }

    @classmethod
    def from_json(cls, data: Any) -> Scheme:
        """The scheme ``data`` describes (as :meth:`json` writes it), checked by
        :meth:`validate`; :class:`SchemeError` names the first field that is wrong."""
        if not isinstance(data, Mapping):
            raise SchemeError("scheme", "must be an object")
        unknown = sorted(set(data) - {"indicators", "grades", "excellent_quota", "min_assigned"})
        if unknown:
            raise SchemeError(str(unknown[0])[:40], "is not a part of a scheme")
        indicators_data = data.get("indicators")
        if not isinstance(indicators_data, list):
            raise SchemeError("indicators", "must be a list of indicators")
        indicators = []
        for i, item in enumerate(indicators_data):
            where = f"indicators.{i}"
            if not isinstance(item, Mapping):
                raise SchemeError(where, "must be an object with rate, weight, zero_at, full_at")
            extra = sorted(set(item) - {"rate", "weight", "zero_at", "full_at"})
            if extra:
                raise SchemeError(f"{where}.{str(extra[0])[:40]}", "is not a part of an indicator")
            rate = item.get("rate")
            if not isinstance(rate, str):
                raise SchemeError(f"{where}.rate", "must be the name of a rate")
            indicators.append(
                Indicator(
                    rate,
                    _number(item, "weight", where),
                    _number(item, "zero_at", where),
                    _number(item, "full_at", where),
                )
            )
        grades_data = data.get("grades")
        if not isinstance(grades_data, Mapping):
            raise SchemeError("grades", "must be an object with excellent, competent, ...")
        extra = sorted(set(grades_data) - set(GRADES[:-1]))
        if extra:
            raise SchemeError(
                f"grades.{str(extra[0])[:40]}",
                "is not a threshold: give excellent, competent and basically_competent",
            )
        grades = Thresholds(*(_number(grades_data, name, "grades") for name in GRADES[:-1]))
        quota = data.get("excellent_quota", DEFAULT_QUOTA)
        if quota is not None:
            quota = _number(data, "excellent_quota", "")
        min_assigned = data.get("min_assigned", 1)
        if isinstance(min_assigned, bool) or not isinstance(min_assigned, int):
            raise SchemeError("min_assigned", "must be a whole number")
        scheme = cls(tuple(indicators), grades, quota, min_assigned)
        scheme.validate()
        return scheme

    def validate(self) -> None:
        """Raise :class:`SchemeError` naming the first field that breaks a rule."""
        if not self.indicators:
            raise SchemeError("indicators", "a scheme needs at least one indicator")
        seen: set[str] = set()
        for i, indicator in enumerate(self.indicators):
            where = f"indicators.{i}"
            if indicator.rate not in RATES:
                raise SchemeError(
                    f"{where}.rate",
                    f"{indicator.rate[:40]!r} is not a rate: use one of "
                    + ", ".join(INDICATOR_RATES),
                )
            if indicator.rate not in INDICATOR_RATES:
                raise SchemeError(
                    f"{where}.rate",
                    f"{indicator.rate} is better when lower: it cannot earn points; use one "
                    "of " + ", ".join(INDICATOR_RATES),
                )
            if indicator.rate in seen:
                raise SchemeError(f"{where}.rate", f"{indicator.rate} is in the scheme twice")
            seen.add(indicator.rate)
            if not 0 < indicator.weight <= MAX_WEIGHT:
                raise SchemeError(
                    f"{where}.weight", f"must be more than 0 and at most {MAX_WEIGHT:g}"
                )
            for name in ("zero_at", "full_at"):
                if not 0.0 <= getattr(indicator, name) <= 1.0:
                    raise SchemeError(f"{where}.{name}", "must be a rate from 0 to 1")
            if indicator.zero_at >= indicator.full_at:
                raise SchemeError(
                    f"{where}.full_at", "must be more than zero_at (the rate that earns 0 points)"
                )
        previous_name, previous = "", FULL_POINTS
        for name, value in self.grades.json().items():
            if not 0.0 <= value <= FULL_POINTS:
                raise SchemeError(f"grades.{name}", "must be from 0 to 100 points")
            if previous_name and value >= previous:
                raise SchemeError(
                    f"grades.{name}", f"must be below grades.{previous_name} ({previous:g})"
                )
            previous_name, previous = name, value
        if self.excellent_quota is not None and not 0.0 <= self.excellent_quota <= 1.0:
            raise SchemeError("excellent_quota", "must be a share from 0 to 1, or null (no quota)")
        if not 0 <= self.min_assigned <= MAX_MIN_ASSIGNED:
            raise SchemeError("min_assigned", f"must be from 0 to {MAX_MIN_ASSIGNED}")

    def quota_places(self, graded: int) -> int | None:
        """How many of ``graded`` workers may be excellent (rounded down); None: all."""
        if self.excellent_quota is None:
            return None
        # rounded first: 0.29 x 100 is 28.999999999999996 in binary floating point
        return math.floor(round(self.excellent_quota * graded, 6))


def _number(data: Mapping[str, Any], name: str, where: str) -> float:
    path = f"{where}.{name}" if where else name
    if name not in data:
        raise SchemeError(path, "is missing")
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemeError(path, "must be a number")
    if not math.isfinite(value):
        raise SchemeError(path, "must be a finite number")
    return float(value)


@dataclass(slots=True)  # a thousand workers make four thousand of them: kept light
class IndicatorScore:
    """An indicator of one worker: the rate with its numerator and denominator, its
    points (None without a value) and its share of the points (0 when left out)."""

    rate: str
    weight: float
    value: float | None
    numerator: int
    denominator: int
    points: float | None
    share: float  # the indicator's weight over the weights of the indicators with a value

    def json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "weight": self.weight,
            "value": self.value,
            "numerator": self.numerator,
            "numerator_count": RATES[self.rate][0],
            "denominator": self.denominator,
            "denominator_count": RATES[self.rate][1],
            "points": self.points,
            "share": self.share,
            "counted": self.points is not None,
        }


def score(scheme: Scheme, counts: Mapping[str, int]) -> tuple[list[IndicatorScore], float | None]:
    """Each indicator of ``counts`` and the computed points (None when no indicator has a
    value); points are rounded to hundredths."""
    scores = []
    weights = total = 0.0
    for indicator in scheme.indicators:
        top, bottom = RATES[indicator.rate]
        numerator, denominator = int(counts.get(top, 0)), int(counts.get(bottom, 0))
        if denominator:
            points = indicator.points(numerator / denominator)
            weights += indicator.weight
            total += indicator.weight * points
            value: float | None = round(numerator / denominator, 4)
            shown: float | None = round(points, 2)
        else:
            value = shown = None
        scores.append(
            IndicatorScore(
                indicator.rate, indicator.weight, value, numerator, denominator, shown, 0.0
            )
        )
    if not weights:
        return scores, None
    for item in scores:
        if item.points is not None:
            item.share = round(item.weight / weights, 4)
    return scores, round(total / weights, 2)


def clamp(points: float) -> float:
    return min(FULL_POINTS, max(0.0, points))


@dataclass(frozen=True)
class Subject:
    """A worker to assess: their counts and the points of their adjustments."""

    username: str
    counts: Mapping[str, int]
    adjustments: Sequence[float] = ()


@dataclass(slots=True)
class Result:
    """A worker's assessment."""

    username: str
    assigned: int
    indicators: list[IndicatorScore]
    computed: float | None  # the points from the indicators
    adjustment: float  # the sum of the adjustments
    final: float | None  # computed + adjustment, within 0..100
    grade: str | None  # None: no grade (see ``ungraded``)
    ungraded: str | None = None  # INSUFFICIENT_DATA or NO_VALUES
    capped_by_quota: bool = False  # reached excellent, graded competent by the quota
    rank: int | None = None  # 1 is the best; None when not graded

    @property
    def graded(self) -> bool:
        return self.grade is not None


def order_key(result: Result) -> tuple[float, int, str]:
    """Best first: final points, then more assigned stints, then username."""
    return (-(result.final or 0.0), -result.assigned, result.username)


def assess(scheme: Scheme, subjects: Sequence[Subject]) -> list[Result]:
    """Every subject's points and grade under ``scheme``, the quota applied across them:
    the graded in rank order, then the ungraded by username."""
    results = []
    for subject in subjects:
        indicators, computed = score(scheme, subject.counts)
        adjustment = round(sum(subject.adjustments), 2)
        final = None if computed is None else round(clamp(computed + adjustment), 2)
        assigned = int(subject.counts.get("assigned", 0))
        result = Result(subject.username, assigned, indicators, computed, adjustment, final, None)
        if assigned < scheme.min_assigned:
            result.ungraded = INSUFFICIENT_DATA
        elif final is None:
            result.ungraded = NO_VALUES
        else:
            result.grade = scheme.grades.grade(final)
        results.append(result)
    graded = sorted((r for r in results if r.graded), key=order_key)
    places = scheme.quota_places(len(graded))
    excellent = [r for r in graded if r.grade == EXCELLENT]
    if places is not None and len(excellent) > places:
        for capped in excellent[places:]:
            capped.grade = COMPETENT
            capped.capped_by_quota = True
    for rank, result in enumerate(graded, start=1):
        result.rank = rank
    ungraded = sorted((r for r in results if not r.graded), key=lambda r: r.username)
    return graded + ungraded


def grade_counts(results: Sequence[Result]) -> dict[str, int]:
    """How many of ``results`` have each grade, and how many none (``ungraded``)."""
    counts = dict.fromkeys(GRADES, 0)
    counts["ungraded"] = 0
    for result in results:
        counts[result.grade or "ungraded"] += 1
    return counts
