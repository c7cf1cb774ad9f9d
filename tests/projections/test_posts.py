"""The posts (每一段岗位办理) and their figures: a hand-checked life, and for random lives
the monthly buckets, the stints' rows and a recount straight from the events agree for
every unit, level and period."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from domain.ladder import LEVEL_UNIT_KIND, Level, Tier, UnitKind
from domain.performance import POST_COUNTS, PostRule, wall_clock_window
from domain.periods import parse_period, span
from domain.review import is_satisfied
from domain.state import Change, RequestState
from domain.workdays import WorkCalendar, working_seconds
from projections import performance as perf
from projections.posts import refill
from projections.runner import Projector
from projections.tables import post_counts, posts, unit_counts
from tests.projections.conftest import RequestLog

ZONE = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)
#: 2026-03-30 10:00 local: lives run over the end of March into April (two months).
START = datetime(2026, 3, 30, 2, tzinfo=UTC)
UNITS = {"g1": ("g1", "c1", "t1"), "g2": ("g2", "c1", "t1"), "g3": ("g3", "c2", "t1"),
         "g4": ("g4", "c3", "t2")}  # fmt: skip


class Recording(RequestLog):
    """A request log that also keeps every change with the request's state after it."""

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.changes: dict[str, list[tuple[Change, RequestState]]] = defaultdict(list)

    def file(self, at: datetime, **kwargs: Any) -> str:
        request_id = super().file(at, **kwargs)
        state = self.states[request_id]
        self.changes[request_id].append((Change("Filed", at, "intake", {}), _copy(state)))
        return request_id

    def _move(self, request_id: str, change: Change) -> None:
        super()._move(request_id, change)
        self.changes[request_id].append((change, _copy(self.states[request_id])))


def _copy(state: RequestState) -> RequestState:
    return RequestState(
        **{name: getattr(state, name) for name in RequestState.__dataclass_fields__}
    )


def project(database_url: str, log: RequestLog, batch_size: int) -> None:
    rule = PostRule(responded=wall_clock_window(2.0), zone=ZONE)
    projector = Projector(database_url, store=log.store, batch_size=batch_size, posts_rule=rule)
    while projector.run_batch():
        pass
    projector.close()


@pytest.fixture
def recording(store: Any) -> Recording:
    return Recording(store)


def stints_of(engine: Engine, request_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(posts).where(posts.c.request_id == request_id).order_by("seq"))
        return [dict(r._mapping) for r in rows]


def test_a_life_across_three_posts_is_counted_post_by_post(
    recording: Recording, database_url: str, engine: Engine
) -> None:
    log = recording
    t = START
    # quick: accepted within the window, resolved, reviewed satisfied, closed
    quick = log.file(t, grid="g1")
    log.accept(quick, t + H)
    log.resolve(quick, t + 3 * H)
    log.review(quick, t + 4 * H, "yes yes yes partly")
    # slow: accepted late, its 1-day deadline passes: up to the branch, which resolves;
    # the review reopens it at the branch, which resolves again and is thanked
    slow = log.file(t, grid="g1")
    log.accept(slow, t + 3 * H, actor="worker")
    log.deadline(slow, log.due(slow))
    up = log.due(slow) - timedelta(days=3) + H  # the branch's tier began at the old deadline
    log.accept(slow, up, actor="branch")
    log.resolve(slow, up + H)
    log.review(slow, up + 2 * H, "no no no no")
    log.accept(slow, up + 3 * H, actor="branch")
    log.resolve(slow, up + 4 * H)
    log.review(slow, up + 5 * H, "yes yes yes yes")
    # ignored: nobody accepts it at g2, it goes up by itself, is urged at the branch
    ignored = log.file(t, grid="g2")
    log.deadline(ignored, log.due(ignored))
    log.urge(ignored, log.due(ignored) - timedelta(days=2))
    project(database_url, log, batch_size=5)

    [one] = stints_of(engine, quick)
    assert (one["level"], one["unit_id"], one["handler"]) == ("grid_worker", "g1", "worker")
    assert one["responded"] and one["on_time"] and one["ended"] == "closed"
    assert (one["reviews_reached"], one["reviews_satisfied"], one["final"]) == (1, 1, True)

    first, second, third = stints_of(engine, slow)
    assert (first["handler"], first["responded"], first["ended"]) == ("worker", False, "escalated")
    assert (second["level"], second["handler"], second["ended"]) == (
        "grid_branch",
        "branch",
        "reopened",
    )
    assert (second["reviews_reached"], second["reviews_satisfied"], second["final"]) == (
        1,
        0,
        False,
    )
    assert (third["ended"], third["final"], third["last_satisfied"]) == ("closed", True, True)

    left, at_branch = stints_of(engine, ignored)
    assert (left["handler"], left["accepted_at"], left["ended"]) == ("", None, "escalated")
    assert (at_branch["level"], at_branch["ended"], at_branch["urges"]) == ("grid_branch", "", 1)

    march = parse_period("2026-03", ZONE)
    with engine.connect() as conn:
        g1 = perf.present(perf.counts(conn, march, perf.Scope(UnitKind.GRID, "g1")))
        worker = perf.counts(conn, march, perf.Scope(handler="worker"))
        # the untouched stint of g2's grid worker post counts in its holder's record
        holder = perf.counts(
            conn, march, perf.Scope.of_worker("worker2", [perf.Post("grid_worker", "g2")])
        )
    c = g1["counts"]
    # quick 1 stint, slow 3 (all begun in March: the branch's by the first deadline)
    assert (c["assigned"], c["accepted"], c["responded"]) == (4, 4, 3)
    assert (c["resolved"], c["resolved_kept"], c["reopened"]) == (3, 2, 1)
    assert (c["escalated_missed"], c["reviews_reached"], c["reviews_satisfied"]) == (1, 3, 2)
    assert (c["requests_reviewed"], c["requests_satisfied"]) == (2, 2)
    rates = g1["rates"]
    assert rates["response_rate"] == {
        "value": 0.75, "numerator": 3, "numerator_count": "responded",
        "denominator": 4, "denominator_count": "assigned",
    }  # fmt: skip
    assert rates["resolution_rate"]["value"] == 0.5
    assert rates["satisfaction_rate"]["value"] == round(2 / 3, 4)
    assert rates["satisfaction_rate_requests"]["value"] == 1.0
    assert (worker["assigned"], worker["responded"], worker["escalated_missed"]) == (2, 1, 1)
    assert (holder["assigned"], holder["accepted"], holder["escalated_missed"]) == (1, 0, 1)


def test_a_review_of_a_later_stint_takes_the_request_count_from_the_earlier(
    recording: Recording, database_url: str, engine: Engine
) -> None:
    log = recording
    request = log.file(START, grid="g1")
    log.accept(request, START + H)
    log.resolve(request, START + 2 * H)
    log.review(request, START + 3 * H, "yes no yes no")  # reopened, not satisfied
    project(database_url, log, batch_size=100)
    with engine.connect() as conn:
        before = perf.counts(conn, parse_period("2026-03", ZONE))
    assert (before["requests_reviewed"], before["requests_satisfied"]) == (1, 0)
    log.accept(request, START + 4 * H)
    log.resolve(request, START + 5 * H)
    log.review(request, START + 6 * H, "yes yes yes yes")
    project(database_url, log, batch_size=100)
    with engine.connect() as conn:
        after = perf.counts(conn, parse_period("2026-03", ZONE))
    # one request, satisfied at last: counted once, by its last reached review
    assert (after["requests_reviewed"], after["requests_satisfied"]) == (1, 1)
    assert (after["reviews_reached"], after["reviews_satisfied"]) == (2, 1)


# ---- random lives, counted three ways ---------------------------------------------------


def live(log: Recording, rng: random.Random, n: int) -> None:
    """``n`` requests over five days around the turn of the month, random lives."""
    for _ in range(n):
        at = START + timedelta(hours=rng.uniform(0, 120))
        grid, community, town = UNITS[rng.choice(sorted(UNITS))]
        manual = rng.random() < 0.15
        request = log.file(at, grid=grid, community=community, town=town, manual=manual)
        if manual:
            at += H
            log.dispatch(request, at, grid=grid, tier=rng.choice([Tier.D1, Tier.D3]))
        for _step in range(rng.randrange(9)):
            at += timedelta(hours=rng.choice([0.5, 1, 3]))
            state = log.states[request]
            status = state.status.value
            move = rng.random()
            if status == "assigned":
                if move < 0.5:
                    log.accept(request, at, actor=rng.choice(["w1", "w2"]))
                elif move < 0.6 and state.tier is not Tier.M1:
                    log.escalate(request, at)
                elif move < 0.7:
                    log.urge(request, at)
                elif move < 0.75:
                    log.return_(request, at)
                elif move < 0.85 and state.deadline is not None and not state.overdue:
                    at = max(at, state.deadline)
                    log.deadline(request, at)
                elif move < 0.9 and state.level is Level.GRID_WORKER:
                    other = "g2" if state.grid_id == "g1" else "g1"
                    if UNITS[other][1] == state.community_id:
                        log.redirect(request, at, other)
            elif status == "in_progress":
                if move < 0.6:
                    log.resolve(request, at)
                elif move < 0.7:
                    log.urge(request, at)
                elif move < 0.75:
                    log.close_out_of_scope(request, at)
                elif move < 0.8 and state.tier is not Tier.M1:
                    log.escalate(request, at)
            elif status == "resolved":
                answers = rng.choice(["yes yes yes yes", "no no partly no", "yes yes yes no", None])
                log.review(request, at, answers)
            elif status == "waiting_dispatch":
                log.dispatch(request, at, grid=state.grid_id)
            else:
                break


def recount(log: Recording, rule: PostRule) -> dict[tuple[str, str, str, str], list[int]]:
    """The counts by (month, level, grid, handler), straight from the recorded changes,
    written without domain.performance: each post's stay from the state before and after
    each change."""
    out: dict[tuple[str, str, str, str], list[int]] = defaultdict(lambda: [0] * len(POST_COUNTS))
    at = {name: i for i, name in enumerate(POST_COUNTS)}
    for changes in log.changes.values():
        stays: list[dict[str, Any]] = []
        before: RequestState | None = None
        for change, after in changes:
            stay = stays[-1] if stays and not stays[-1]["end"] else None
            kind = change.type
            moved_on = before is not None and (
                (after.level, after.level_unit_id) != (before.level, before.level_unit_id)
                or kind in ("Retiered", "Dispatched", "Appealed")
            )
            if stay is not None:
                if kind == "Accepted":
                    stay.update(handler=change.actor, accepted=change.at)
                elif kind == "Resolved":
                    stay.update(resolved=True, on_time=change.data["on_time"])
                elif kind == "Urged":
                    stay["urges"] += 1
                elif kind == "MarkedOverdue":
                    stay["overdue"] = True
                elif kind == "Reviewed":
                    if change.data["reached"]:
                        good = is_satisfied(change.data["satisfaction"])
                        stay["reached"] += 1
                        stay["satisfied"] += good
                        for other in stays:
                            other["final"] = other is stay
                        stay["last"] = good
                    if change.data["outcome"] in ("reopened", "closed", "unreachable"):
                        stay["end"] = change.data["outcome"]
                elif kind == "Escalated":
                    stay["end"] = "auto" if change.data["automatic"] else "hand"
                elif kind in ("Returned", "Redirected", "Retiered", "ClosedOutOfScope"):
                    stay["end"] = kind
            starts = (
                kind == "Filed"
                or moved_on
                or (kind == "Reviewed" and change.data["outcome"] == "reopened")
            )
            if starts and after.status.value in ("assigned", "in_progress"):
                stays.append({
                    "level": after.level.value, "grid": after.grid_id, "start": change.at,
                    "handler": "", "accepted": None, "resolved": False, "on_time": False,
                    "urges": 0, "overdue": False, "reached": 0, "satisfied": 0,
                    "final": False, "last": None, "end": "",
                })  # fmt: skip
            before = after
        for s in stays:
            counts = out[(rule.month(s["start"]), s["level"], s["grid"], s["handler"])]
            counts[at["assigned"]] += 1
            if s["accepted"] is not None:
                counts[at["accepted"]] += 1
                counts[at["responded"]] += rule.responded(s["start"], s["accepted"])
            if s["resolved"]:
                counts[at["resolved"]] += 1
                counts[at["resolved_on_time"]] += s["on_time"]
                counts[at["reopened" if s["end"] == "reopened" else "resolved_kept"]] += 1
            for end, name in (("auto", "escalated_missed"), ("hand", "escalated_hand"),
                              ("Returned", "returned"), ("Redirected", "redirected")):  # fmt: skip
                counts[at[name]] += s["end"] == end
            counts[at["overdue"]] += s["overdue"]
            counts[at["urged"]] += s["urges"]
            counts[at["reviews_reached"]] += s["reached"]
            counts[at["reviews_satisfied"]] += s["satisfied"]
            counts[at["requests_reviewed"]] += s["final"]
            counts[at["requests_satisfied"]] += bool(s["final"] and s["last"])
    return {key: value for key, value in out.items() if value[at["assigned"]]}


def table(engine: Engine) -> dict[tuple[str, str, str, str], list[int]]:
    with engine.connect() as conn:
        return {
            (r.month, r.level, r.grid_id, r.handler): [r._mapping[n] for n in POST_COUNTS]
            for r in conn.execute(select(post_counts))
        }


def unit_table(engine: Engine) -> dict[tuple[str, str, str], list[int]]:
    with engine.connect() as conn:
        return {
            (r.month, r.kind, r.unit_id): [r._mapping[n] for n in POST_COUNTS]
            for r in conn.execute(select(unit_counts))
        }


def summed_by_unit(
    buckets: dict[tuple[str, str, str, str], list[int]],
) -> dict[tuple[str, str, str], list[int]]:
    """The buckets summed by month and each unit they are in (grid, community, town)."""
    community_of = {grid: community for grid, community, _ in UNITS.values()}
    town_of = {grid: town for grid, _, town in UNITS.values()}
    out: dict[tuple[str, str, str], list[int]] = {}
    for (month, _, grid, _), values in buckets.items():
        for kind, unit in (("grid", grid), ("community", community_of[grid]),
                           ("town", town_of[grid])):  # fmt: skip
            total = out.setdefault((month, kind, unit), [0] * len(values))
            for i, value in enumerate(values):
                total[i] += value
    return out


def test_the_buckets_the_rows_and_a_recount_from_the_events_agree(
    recording: Recording, database_url: str, engine: Engine
) -> None:
    rule = PostRule(responded=wall_clock_window(2.0), zone=ZONE)
    live(recording, random.Random(1351), 90)
    project(database_url, recording, batch_size=7)  # lives span batches
    kept = table(engine)
    expected = recount(recording, rule)
    assert {k[0] for k in kept} == {"2026-03", "2026-04"}
    assert kept == expected
    units = unit_table(engine)
    assert units == summed_by_unit(expected)
    with engine.begin() as conn:
        refill(conn, rule)
    assert table(engine) == kept
    assert unit_table(engine) == units

    levels: list[str | None] = [None, *(level.value for level in Level)]
    periods = [
        parse_period("2026-03", ZONE),
        parse_period("2026-04", ZONE),
        parse_period("2026Q2", ZONE),
        span(START + 5 * H, START + timedelta(days=3, hours=7), ZONE),  # no whole month
    ]
    units: list[tuple[UnitKind | None, str | None]] = [(None, None)]
    for grid, community, town in UNITS.values():
        units += [(UnitKind.GRID, grid), (UnitKind.COMMUNITY, community), (UnitKind.TOWN, town)]
    with engine.connect() as conn:
        for period in periods:
            for kind, unit_id in units:
                for level in levels:
                    where = perf.Scope(kind, unit_id, level)
                    by_rows = perf.counts(conn, period, where, by_rows=True)
                    assert perf.counts(conn, period, where) == by_rows, (period, where)
                    if period.months is not None:
                        assert by_rows == _from_recount(
                            expected, period.months, kind, unit_id, level
                        )
            held = {
                "w1": [perf.Post("grid_worker", "g1")],
                "w2": [perf.Post("grid_worker", "g2"), perf.Post("grid_branch", "g2")],
                "nobody": [perf.Post("community_committee", "c1")],
            }
            bulk = perf.worker_counts(conn, period, held)
            for username, its_posts in held.items():
                one = perf.counts(conn, period, perf.Scope.of_worker(username, its_posts))
                assert bulk[username] == one, (period, username)
            by_unit = perf.counts_by_unit(conn, period, UnitKind.COMMUNITY)
            for community in ("c1", "c2", "c3"):
                alone = perf.counts(conn, period, perf.Scope(UnitKind.COMMUNITY, community))
                assert by_unit.get(community, dict.fromkeys(POST_COUNTS, 0)) == alone


def _from_recount(
    expected: dict[tuple[str, str, str, str], list[int]],
    months: tuple[str, ...],
    kind: UnitKind | None,
    unit_id: str | None,
    level: str | None,
) -> dict[str, int]:
    total = [0] * len(POST_COUNTS)
    for (month, lvl, grid, _handler), counts in expected.items():
        place = dict(zip(("grid", "community", "town"), UNITS[grid], strict=True))
        if month not in months or (level is not None and lvl != level):
            continue
        if kind is not None and place[kind.value] != unit_id:
            continue
        total = [a + b for a, b in zip(total, counts, strict=True)]
    return dict(zip(POST_COUNTS, total, strict=True))


def test_the_response_window_stops_on_days_off() -> None:
    # Friday 17:00 local to Monday 09:00: 7 hours of Friday, 9 of Monday
    friday = datetime(2026, 11, 27, 17, tzinfo=ZONE)
    monday = datetime(2026, 11, 30, 9, tzinfo=ZONE)
    assert working_seconds(friday, monday, WorkCalendar(), ZONE) == 16 * 3600
    holiday = WorkCalendar(holidays=frozenset({datetime(2026, 11, 30).date()}))
    assert working_seconds(friday, monday, holiday, ZONE) == 7 * 3600
    assert LEVEL_UNIT_KIND[Level.GRID_BRANCH] is UnitKind.GRID
