"""The assessment's arithmetic (考核): indicators to points, a missing rate's weight shared
by the others, adjustments kept within 0..100, the grade thresholds, the quota for 优秀 with
its ties, too little data, and a scheme's rules naming the field that breaks them."""

from __future__ import annotations

from typing import Any

import pytest

from domain.assessment import (
    BASICALLY_COMPETENT,
    COMPETENT,
    EXCELLENT,
    INCOMPETENT,
    INSUFFICIENT_DATA,
    NO_VALUES,
    Indicator,
    Scheme,
    SchemeError,
    Subject,
    Thresholds,
    assess,
    grade_counts,
    score,
)
from domain.performance import POST_COUNTS


def counts(**values: int) -> dict[str, int]:
    return {**dict.fromkeys(POST_COUNTS, 0), **values}


def record(
    assigned: int = 10,
    responded: int = 10,
    kept: int = 10,
    reached: int = 10,
    satisfied: int = 10,
    resolved: int = 10,
    on_time: int = 10,
) -> dict[str, int]:
    return counts(
        assigned=assigned,
        responded=responded,
        resolved_kept=kept,
        reviews_reached=reached,
        reviews_satisfied=satisfied,
        resolved=resolved,
        resolved_on_time=on_time,
    )


def test_each_rate_becomes_points_on_a_line_between_zero_at_and_full_at() -> None:
    indicator = Indicator("satisfaction_rate", 30, zero_at=0.6, full_at=1.0)
    assert indicator.points(0.0) == 0.0
    assert indicator.points(0.6) == 0.0
    assert indicator.points(0.8) == pytest.approx(50.0)
    assert indicator.points(0.9) == pytest.approx(75.0)
    assert indicator.points(1.0) == 100.0


def test_points_are_the_weighted_mean_of_the_default_indicators() -> None:
    # response 9/10 -> 80, resolution 8/10 -> 60, satisfaction 9/10 -> 75, on time 5/10 -> 0
    scores, points = score(Scheme(), record(responded=9, kept=8, satisfied=9, on_time=5))
    by_rate = {s.rate: s for s in scores}
    assert by_rate["response_rate"].points == 80.0
    assert by_rate["resolution_rate"].points == 60.0
    assert by_rate["satisfaction_rate"].points == 75.0
    assert by_rate["on_time_rate"].points == 0.0
    assert (by_rate["response_rate"].numerator, by_rate["response_rate"].denominator) == (9, 10)
    assert points == (30 * 80 + 30 * 60 + 30 * 75 + 10 * 0) / 100  # 64.5


def test_an_indicator_without_a_value_is_left_out_and_its_weight_shared() -> None:
    # no review reached: satisfaction has no value; 90 of weight remain
    scores, points = score(Scheme(), record(responded=9, kept=8, reached=0, satisfied=0))
    satisfaction = next(s for s in scores if s.rate == "satisfaction_rate")
    assert (satisfaction.value, satisfaction.points, satisfaction.share) == (None, None, 0.0)
    assert points == round((30 * 80 + 30 * 60 + 10 * 100) / 70, 2)  # 74.29
    response = next(s for s in scores if s.rate == "response_rate")
    assert response.share == round(30 / 70, 4)


def test_no_value_at_all_gives_no_points_and_no_grade() -> None:
    scheme = Scheme(indicators=(Indicator("satisfaction_rate", 1, 0.5, 1.0),))
    [result] = assess(scheme, [Subject("w1", record(reached=0, satisfied=0))])
    assert (result.computed, result.final, result.grade) == (None, None, None)
    assert result.ungraded == NO_VALUES


@pytest.mark.parametrize(
    ("points", "grade"),
    [
        (100.0, EXCELLENT),
        (90.0, EXCELLENT),
        (89.99, COMPETENT),
        (75.0, COMPETENT),
        (74.99, BASICALLY_COMPETENT),
        (60.0, BASICALLY_COMPETENT),
        (59.99, INCOMPETENT),
        (0.0, INCOMPETENT),
    ],
)
def test_grades_by_thresholds(points: float, grade: str) -> None:
    assert Thresholds().grade(points) == grade


def test_adjustments_add_to_the_computed_points_within_0_to_100() -> None:
    perfect, poor = record(), record(responded=5, kept=5, satisfied=6, on_time=5)
    results = assess(
        Scheme(excellent_quota=None),
        [
            Subject("up", perfect, [15, 5]),
            Subject("down", poor, [-20]),
            Subject("mixed", record(responded=9, kept=8, satisfied=9, on_time=5), [10, -2]),
        ],
    )
    by_name = {r.username: r for r in results}
    assert (by_name["up"].computed, by_name["up"].adjustment, by_name["up"].final) == (
        100.0,
        20.0,
        100.0,
    )
    assert (by_name["down"].computed, by_name["down"].final) == (0.0, 0.0)
    assert by_name["mixed"].final == 72.5
    assert by_name["mixed"].grade == BASICALLY_COMPETENT
    # an adjustment lifts a grade: 64.5 + 8 = 72.5 is still below 75; + 11 reaches it
    [lifted] = assess(
        Scheme(), [Subject("m", record(responded=9, kept=8, satisfied=9, on_time=5), [11])]
    )
    assert (lifted.final, lifted.grade) == (75.5, COMPETENT)


def test_the_quota_keeps_excellent_for_the_top_ones_only() -> None:
    # ten graded workers, a 20% quota: two places; four reach excellent
    subjects = [Subject(f"w{i}", record(), [-i]) for i in range(4)]  # 100, 99, 98, 97
    subjects += [Subject(f"x{i}", record(responded=8)) for i in range(6)]  # 88 each
    results = assess(Scheme(excellent_quota=0.2), subjects)
    by_name = {r.username: r for r in results}
    assert [by_name[f"w{i}"].grade for i in range(4)] == [
        EXCELLENT,
        EXCELLENT,
        COMPETENT,
        COMPETENT,
    ]
    assert [by_name[f"w{i}"].capped_by_quota for i in range(4)] == [False, False, True, True]
    assert not any(r.capped_by_quota for r in results if r.username.startswith("x"))
    assert [r.rank for r in results[:4]] == [1, 2, 3, 4]
    assert grade_counts(results) == {
        EXCELLENT: 2,
        COMPETENT: 8,
        BASICALLY_COMPETENT: 0,
        INCOMPETENT: 0,
        "ungraded": 0,
    }


def test_quota_ties_go_to_more_assigned_stints_then_username() -> None:
    # five graded, 40%: two places; three at 100 points
    subjects = [
        Subject("carol", record(assigned=10, responded=10)),
        Subject("bob", record(assigned=12, responded=12, kept=12)),
        Subject("alice", record(assigned=10, responded=10)),
        Subject("dan", record(responded=5)),
        Subject("eve", record(responded=5)),
    ]
    results = assess(Scheme(excellent_quota=0.4), subjects)
    assert [(r.username, r.grade, r.rank) for r in results[:3]] == [
        ("bob", EXCELLENT, 1),
        ("alice", EXCELLENT, 2),
        ("carol", COMPETENT, 3),
    ]
    assert results[2].capped_by_quota


def test_the_quota_rounds_down_and_none_means_no_quota() -> None:
    five = [Subject(f"w{i}", record()) for i in range(4)]  # 4 graded, 20%: 0.8 -> 0 places
    assert {r.grade for r in assess(Scheme(excellent_quota=0.2), five)} == {COMPETENT}
    assert {r.grade for r in assess(Scheme(excellent_quota=None), five)} == {EXCELLENT}
    assert Scheme(excellent_quota=0.29).quota_places(100) == 29  # not 28.999... rounded down


def test_too_few_assigned_stints_give_no_grade_and_no_place_in_the_quota() -> None:
    subjects = [
        Subject("busy", record()),
        Subject(
            "new",
            record(assigned=2, responded=2, kept=2, reached=1, satisfied=1, resolved=2, on_time=2),
        ),
        Subject("idle", counts()),
    ]
    results = assess(Scheme(excellent_quota=None, min_assigned=3), subjects)
    by_name = {r.username: r for r in results}
    assert by_name["busy"].grade == EXCELLENT and by_name["busy"].rank == 1
    assert (by_name["new"].grade, by_name["new"].ungraded, by_name["new"].rank) == (
        None,
        INSUFFICIENT_DATA,
        None,
    )
    assert by_name["new"].computed == 100.0  # shown, but not graded
    assert by_name["idle"].ungraded == INSUFFICIENT_DATA
    assert [r.username for r in results] == ["busy", "idle", "new"]
    # with one graded worker, a 100% quota leaves the grade alone
    assert assess(Scheme(excellent_quota=1.0, min_assigned=3), subjects)[0].grade == EXCELLENT


def test_a_scheme_round_trips_through_json() -> None:
    scheme = Scheme(
        indicators=(Indicator("satisfaction_rate_requests", 2.5, 0.7, 0.95),),
        grades=Thresholds(95, 80, 50),
        excellent_quota=None,
        min_assigned=5,
    )
    assert Scheme.from_json(scheme.json()) == scheme
    assert Scheme.from_json(Scheme().json()) == Scheme()


def _with(path: str, value: Any) -> dict[str, Any]:
    data = Scheme().json()
    target: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        ("indicators.0.weight", 0, "indicators.0.weight", "more than 0"),
        ("indicators.1.weight", -3, "indicators.1.weight", "more than 0"),
        ("indicators.2.zero_at", 1.0, "indicators.2.full_at", "more than zero_at"),
        ("indicators.0.full_at", 1.5, "indicators.0.full_at", "from 0 to 1"),
        ("indicators.0.zero_at", -0.1, "indicators.0.zero_at", "from 0 to 1"),
        ("indicators.3.rate", "speed", "indicators.3.rate", "not a rate"),
        ("indicators.3.rate", "reopen_rate", "indicators.3.rate", "better when lower"),
        ("indicators.3.rate", "response_rate", "indicators.3.rate", "twice"),
        ("indicators.0.weight", "30", "indicators.0.weight", "a number"),
        ("indicators.0.weight", float("nan"), "indicators.0.weight", "finite"),
        ("indicators.0.weight", KeyError, "indicators.0.weight", "missing"),
        ("indicators", [], "indicators", "at least one"),
        ("grades.excellent", 101, "grades.excellent", "from 0 to 100"),
        ("grades.competent", 90, "grades.competent", "below grades.excellent"),
        ("grades.basically_competent", 80, "grades.basically_competent", "below grades.competent"),
        ("grades.outstanding", 99, "grades.outstanding", "not a threshold"),
        ("excellent_quota", 1.2, "excellent_quota", "from 0 to 1"),
        ("excellent_quota", -0.1, "excellent_quota", "from 0 to 1"),
        ("min_assigned", -1, "min_assigned", "from 0"),
        ("min_assigned", 1.5, "min_assigned", "whole number"),
        ("colour", "red", "colour", "not a part"),
    ],
)
def test_a_broken_scheme_is_refused_naming_the_field(
    path: str, value: Any, field: str, words: str
) -> None:
    with pytest.raises(SchemeError) as refused:
        Scheme.from_json(_with(path, value))
    assert refused.value.field == field
    assert words in refused.value.message


def test_no_quota_and_zero_quota_are_both_valid() -> None:
    assert Scheme.from_json(_with("excellent_quota", None)).excellent_quota is None
    zero = Scheme.from_json(_with("excellent_quota", 0))
    [result] = assess(zero, [Subject("w", record())])
    assert (result.grade, result.capped_by_quota) == (COMPETENT, True)
