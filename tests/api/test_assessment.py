"""The assessment (考核) through the whole app on the demo town: requests appended to the
event store as the workflow appends them and projected by the real projector, then read
as a supervisor, an admin and the workers read them.

worker1 (grid 1) handles four requests perfectly; worker2 (grid 2) answers one late,
has one reopened by an unsatisfied review and lets one go up unaccepted; worker3 (a grid
of the other community) has nothing yet. All in February 2026 (China Standard Time)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from api import roster
from api.roster import Role
from closeloop import workcalendar
from closeloop.assessment import adjustment_table, scheme_table
from closeloop.keys import keyring
from closeloop.store import RequestStore, store_env
from domain.assessment import Scheme
from domain.ladder import Level
from domain.state import Assignment
from projections.runner import Projector
from tests.api.conftest import Site, build_site
from tests.projections.conftest import RequestLog

T = datetime(2026, 2, 2, 1, tzinfo=UTC)  # Monday 2 February 2026, 09:00 in Beijing
H = timedelta(hours=1)
API = "/api/v1"


@dataclass
class Town:
    site: Site
    grid1: str
    grid2: str
    grid3: str  # worker3's, in 祥和苑社区
    community: str  # 医院西路社区 (grids 1 and 2)
    requests: dict[str, list[str]]

    def get(self, path: str, who: str = "supervisor1", **params: Any) -> Any:
        return self.site.client.get(API + path, params=params, headers=self.site.headers[who])

    def send(self, method: str, path: str, who: str, body: Any = None) -> Any:
        return self.site.client.request(
            method, API + path, json=body, headers=self.site.headers[who]
        )


def _where(engine: Any, grid: str) -> dict[str, str]:
    g, community, town = roster.unit_chain(grid, db=engine)
    return {"grid": g.id, "community": community.id, "town": town.id}


def _file_and_project(site: Site, grids: dict[str, str]) -> dict[str, list[str]]:
    keys = keyring(site.settings)
    url = site.settings.database_url
    store = RequestStore(env=store_env(url, keys))
    log = RequestLog(store)
    made: dict[str, list[str]] = {"worker1": [], "worker2": []}
    at1 = _where(site.engine, grids["worker1"])
    for i in range(4):
        r = log.file(T + i * H, category="water_leak", **at1)
        log.accept(r, T + (i + 1) * H, actor="worker1")
        log.resolve(r, T + (i + 2) * H)
        log.review(r, T + (i + 3) * H, "yes yes yes yes")
        made["worker1"].append(r)
    at2 = _where(site.engine, grids["worker2"])
    on_time = log.file(T, category="noise", **at2)
    log.accept(on_time, T + H, actor="worker2")
    log.resolve(on_time, T + 2 * H)
    log.review(on_time, T + 3 * H, "yes yes yes yes")
    late = log.file(T, category="noise", **at2)
    log.accept(late, T + 3 * H, actor="worker2")  # past the 2-hour response window
    log.resolve(late, T + 4 * H)
    log.review(late, T + 5 * H, "yes yes yes yes")
    reopened = log.file(T, category="noise", **at2)
    log.accept(reopened, T + H, actor="worker2")
    log.resolve(reopened, T + 2 * H)
    log.review(reopened, T + 3 * H, "yes yes yes no")  # not satisfied: back to work
    log.accept(reopened, T + 4 * H, actor="worker2")
    log.resolve(reopened, T + 5 * H)
    log.review(reopened, T + 6 * H, "yes yes yes yes")
    ignored = log.file(T, category="noise", **at2)
    log.deadline(ignored, log.due(ignored))  # nobody accepted it: up to the grid branch
    made["worker2"] = [on_time, late, reopened, ignored]
    projector = Projector(
        url, store=store, sealer=keys, posts_rule=workcalendar.post_rule(site.settings, site.engine)
    )
    while projector.run_batch():
        pass
    projector.close()
    store.close()
    return made


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    with pytest.MonkeyPatch.context() as env:
        site = build_site(tmp_path_factory.mktemp("assessment"), env)
    engine = site.engine
    worker1 = roster.get_user_by_username("worker1", db=engine)
    worker2 = roster.get_user_by_username("worker2", db=engine)
    assert worker1 is not None and worker2 is not None
    grid1, grid2 = worker1.assignments[0].unit_id, worker2.assignments[0].unit_id
    community = roster.unit_chain(grid1, db=engine)[1].id
    grid3 = next(
        g.id
        for g in roster.list_units(db=engine, kind="grid")
        if g.name == "祥和苑社区第一网格"  # type: ignore[arg-type]
    )
    roster.create_user(
        "worker3",
        "qian xiao grid keeper 2026",
        "网格员小钱",
        Role.HANDLER,
        [Assignment(grid3, Level.GRID_WORKER)],
        db=engine,
    )
    made = _file_and_project(site, {"worker1": grid1, "worker2": grid2})
    yield Town(site, grid1, grid2, grid3, community, made)
    engine.dispose()


def _workers(reply: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["username"]: w for w in reply["workers"]}


def _adjustments(town: Town) -> int:
    with town.site.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(adjustment_table)).scalar_one())


def test_a_supervisor_sees_every_grid_worker_graded(town: Town) -> None:
    answer = town.get("/assessment", period="2026Q1")
    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert reply["period"]["label"] == "2026Q1" and reply["adjustable"] is True
    workers = _workers(reply)
    assert list(workers) == ["worker1", "worker2", "worker3"]  # ranked, the ungraded last

    one = workers["worker1"]
    assert (one["assigned"], one["computed_points"], one["final_points"]) == (4, 100.0, 100.0)
    # two graded workers and a 20% quota for 优秀: no place, so 100 points are 称职
    assert one["grade"] == {"code": "competent", "zh": "称职", "en": "Competent"}
    assert (one["capped_by_quota"], one["rank"]) == (True, 1)
    assert one["grids"] == [{"id": town.grid1, "name": "医院西路社区第一网格"}]

    two = workers["worker2"]
    indicators = {i["rate"]: i for i in two["indicators"]}
    # 5 stints: the late answer, the reopened one's second stint, the one nobody accepted
    response = indicators["response_rate"]
    assert (
        response["value"],
        response["numerator"],
        response["denominator"],
        response["points"],
        response["weight"],
    ) == (0.6, 3, 5, 20.0, 30.0)
    assert (
        indicators["resolution_rate"]["numerator"],
        indicators["resolution_rate"]["points"],
    ) == (
        3,
        20.0,
    )
    assert (
        indicators["satisfaction_rate"]["value"],
        indicators["satisfaction_rate"]["points"],
    ) == (
        0.75,
        37.5,
    )
    assert (indicators["on_time_rate"]["value"], indicators["on_time_rate"]["points"]) == (
        1.0,
        100.0,
    )
    assert (two["computed_points"], two["final_points"], two["rank"]) == (33.25, 33.25, 2)
    assert two["grade"]["code"] == "incompetent" and two["capped_by_quota"] is False

    three = workers["worker3"]
    assert (three["assigned"], three["grade"], three["ungraded"], three["rank"]) == (
        0,
        None,
        "insufficient_data",
        None,
    )
    assert reply["grade_counts"] == {
        "excellent": 0,
        "competent": 1,
        "basically_competent": 0,
        "incompetent": 1,
        "ungraded": 1,
    }
    assert reply["quota"] == {"share": 0.2, "graded": 2, "places": 0, "capped": 1}
    assert reply["scheme"]["indicators"][0] == {
        "rate": "response_rate",
        "weight": 30.0,
        "zero_at": 0.5,
        "full_at": 1.0,
    }
    # the month and the year hold the same stints
    assert (
        _workers(town.get("/assessment", period="2026-02").json())["worker2"]["computed_points"]
        == 33.25
    )
    assert _workers(town.get("/assessment", period="2026").json())["worker1"]["assigned"] == 4
    march = _workers(town.get("/assessment", period="2026-03").json())
    assert march["worker1"]["assigned"] == 0 and march["worker1"]["ungraded"] == "insufficient_data"


def test_a_unit_narrows_the_list_but_not_the_grades(town: Town) -> None:
    grid = town.get("/assessment", period="2026Q1", unit_id=town.grid1).json()
    assert [w["username"] for w in grid["workers"]] == ["worker1"]
    assert grid["workers"][0]["rank"] == 1 and grid["workers"][0]["capped_by_quota"] is True
    assert grid["grade_counts"]["competent"] == 1 and grid["grade_counts"]["incompetent"] == 0
    assert grid["unit"]["kind"] == "grid"
    community = town.get("/assessment", period="2026Q1", unit_id=town.community).json()
    assert [w["username"] for w in community["workers"]] == ["worker1", "worker2"]
    other = town.get("/assessment", period="2026Q1", unit_id=town.grid3).json()
    assert [w["username"] for w in other["workers"]] == ["worker3"]
    unknown = town.get("/assessment", period="2026Q1", unit_id="nowhere")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_unit")


def test_periods_any_span_and_refusals(town: Town) -> None:
    span = town.get("/assessment", **{"from": "2026-02-01", "to": "2026-02-03"}).json()
    assert span["adjustable"] is False
    assert _workers(span)["worker1"]["assigned"] == 4
    for bad in ("2026Q5", "26Q1", "2026-13"):
        refused = town.get("/assessment", period=bad)
        assert (refused.status_code, refused.json()["code"], refused.json()["field"]) == (
            422,
            "bad_period",
            "period",
        )
    default = town.get("/assessment").json()  # the current quarter
    assert "Q" in default["period"]["label"]


def test_an_adjustment_shows_beside_the_computed_points_with_who_and_when(town: Town) -> None:
    before = datetime.now(UTC)
    made = town.send(
        "POST",
        "/assessment/adjustments",
        "supervisor1",
        {"username": "Worker2", "period": "2026", "points": 10, "reason": "民主测评：群众评价好"},
    )
    assert made.status_code == 201, made.text
    adjustment = made.json()
    assert (adjustment["username"], adjustment["period"], adjustment["points"]) == (
        "worker2",
        "2026",
        10,
    )
    assert adjustment["created_by"] == "supervisor1"
    assert before <= datetime.fromisoformat(adjustment["created_at"]) <= datetime.now(UTC)

    year = _workers(town.get("/assessment", period="2026").json())["worker2"]
    assert (year["computed_points"], year["adjustment_points"], year["final_points"]) == (
        33.25,
        10.0,
        43.25,
    )
    [shown] = year["adjustments"]
    assert shown["reason"] == "民主测评：群众评价好" and shown["created_by"] == "supervisor1"
    assert shown["withdrawn"] is False
    # an adjustment belongs to its period: the quarter's points are the computed ones
    quarter = _workers(town.get("/assessment", period="2026Q1").json())["worker2"]
    assert (quarter["adjustments"], quarter["final_points"]) == ([], 33.25)
    # the worker's own detail shows it too
    mine = town.get("/assessment/workers/worker2", "worker2", period="2026").json()
    assert mine["worker"]["adjustments"][0]["id"] == adjustment["id"]

    withdrawn = town.send("DELETE", f"/assessment/adjustments/{adjustment['id']}", "admin")
    assert withdrawn.status_code == 204
    again = town.send("DELETE", f"/assessment/adjustments/{adjustment['id']}", "supervisor1")
    assert again.status_code == 204
    year = _workers(town.get("/assessment", period="2026").json())["worker2"]
    assert (year["adjustment_points"], year["final_points"]) == (0.0, 33.25)
    [kept] = year["adjustments"]  # still on the record, with who withdrew it
    assert (kept["withdrawn"], kept["withdrawn_by"]) == (True, "admin")
    missing = town.send("DELETE", "/assessment/adjustments/999999", "supervisor1")
    assert (missing.status_code, missing.json()["code"]) == (404, "adjustment_not_found")
    by_worker = town.send("DELETE", f"/assessment/adjustments/{adjustment['id']}", "worker1")
    assert by_worker.status_code == 403


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"points": 0}, "bad_adjustment_points", "points"),
        ({"points": 21}, "bad_adjustment_points", "points"),
        ({"points": -25}, "bad_adjustment_points", "points"),
        ({"points": 2.5}, "bad_adjustment_points", "points"),
        ({"points": "five"}, "bad_adjustment_points", "points"),
        ({"points": None}, "bad_adjustment_points", "points"),
        ({"points": 10**400}, "bad_adjustment_points", "points"),
        ({"points": "1e400"}, "bad_adjustment_points", "points"),
        ({"points": True}, "invalid_input", None),
        ({"reason": ""}, "required", "reason"),
        ({"reason": "  \n "}, "required", "reason"),
        ({"reason": "长" * 501}, "reason_too_long", "reason"),
        ({"period": "2026Q5"}, "bad_period", "period"),
        ({"period": "2026-02-01..2026-03-01"}, "bad_period", "period"),
        ({"username": "nobody"}, "unknown_user", "username"),
        ({"username": "supervisor1"}, "unknown_user", "username"),
        ({"username": "branch1"}, "unknown_user", "username"),  # a handler, not a grid worker
    ],
)
def test_a_refused_adjustment_writes_nothing(
    town: Town, change: dict[str, Any], code: str, field: str | None
) -> None:
    body = {"username": "worker1", "period": "2026Q1", "points": 5, "reason": "考勤", **change}
    before = _adjustments(town)
    answer = town.send("POST", "/assessment/adjustments", "supervisor1", body)
    assert answer.status_code == 422, answer.text
    assert (answer.json()["code"], answer.json().get("field")) == (code, field)
    assert _adjustments(town) == before


def test_only_supervisors_and_admins_adjust_and_list(town: Town) -> None:
    body = {"username": "worker1", "period": "2026Q1", "points": 5, "reason": "考勤"}
    before = _adjustments(town)
    for who in ("worker1", "caller1", "dispatcher1"):
        answer = town.send("POST", "/assessment/adjustments", who, body)
        assert (answer.status_code, answer.json()["code"]) == (403, "role_required")
        assert town.get("/assessment", who, period="2026Q1").status_code == 403
    assert _adjustments(town) == before
    assert town.site.client.get(API + "/assessment").status_code == 401


def test_a_worker_reads_their_own_detail_and_not_another_one(town: Town) -> None:
    mine = town.get("/assessment/workers/worker1", "worker1", period="2026Q1")
    assert mine.status_code == 200, mine.text
    reply = mine.json()
    assert reply["worker"]["username"] == "worker1" and reply["worker"]["rank"] == 1
    assert reply["counts"]["assigned"] == 4
    assert reply["rates"]["response_rate"]["value"] == 1.0
    assert reply["resolve_hours"]["count"] == 4 and reply["resolve_hours"]["p50"] == 2.0
    assert reply["requests_total"] == 4
    assert sorted(r["request_id"] for r in reply["requests"]) == sorted(town.requests["worker1"])
    first = reply["requests"][0]
    assert first["counts"]["responded"] == 1 and first["counts"]["resolved_kept"] == 1
    assert first["counts"]["reviews_satisfied"] == 1

    other = town.get("/assessment/workers/worker2", "worker1", period="2026Q1")
    assert (other.status_code, other.json()["code"]) == (403, "not_your_record")
    nobody = town.get("/assessment/workers/nobody", "worker1", period="2026Q1")
    assert nobody.status_code == 403  # a worker learns nothing of other names
    assert town.get("/assessment/workers/worker1", "caller1").status_code == 403


def test_a_supervisor_reads_the_requests_behind_each_count(town: Town) -> None:
    reply = town.get("/assessment/workers/worker2", period="2026Q1").json()
    assert reply["worker"]["grade"]["code"] == "incompetent"
    stints = reply["requests"]
    assert len(stints) == reply["requests_total"] == 5
    ignored = town.requests["worker2"][3]
    [untouched] = [s for s in stints if s["request_id"] == ignored]
    assert untouched["handler"] == ""  # at worker2's post, accepted by nobody
    assert untouched["counts"] == {"assigned": 1, "escalated_missed": 1}
    reopened = [s for s in stints if s["request_id"] == town.requests["worker2"][2]]
    assert sorted(s["counts"].get("reopened", 0) for s in reopened) == [0, 1]
    late = next(s for s in stints if s["request_id"] == town.requests["worker2"][1])
    assert "responded" not in late["counts"] and late["counts"]["accepted"] == 1
    # the counts behind the rate are the requests listed
    responded = sum(s["counts"].get("responded", 0) for s in stints)
    assert responded == reply["worker"]["indicators"][0]["numerator"] == 3
    for username in ("nobody", "branch1", "supervisor1"):
        missing = town.get(f"/assessment/workers/{username}", period="2026Q1")
        assert (missing.status_code, missing.json()["code"]) == (404, "unknown_user")


def test_the_scheme_is_read_by_staff_and_changed_by_admins_only(town: Town) -> None:
    shown = town.get("/assessment/scheme", "worker1").json()
    assert shown["default"] is True and shown["excellent_quota"] == 0.2
    assert shown["grades"] == {"excellent": 90.0, "competent": 75.0, "basically_competent": 60.0}
    no_quota = {**Scheme().json(), "excellent_quota": None}
    refused = town.send("PUT", "/assessment/scheme", "supervisor1", no_quota)
    assert (refused.status_code, refused.json()["code"]) == (403, "role_required")
    try:
        saved = town.send("PUT", "/assessment/scheme", "admin", no_quota)
        assert saved.status_code == 200, saved.text
        assert (saved.json()["default"], saved.json()["updated_by"]) == (False, "admin")
        # without the quota, worker1's 100 points are 优秀
        one = _workers(town.get("/assessment", period="2026Q1").json())["worker1"]
        assert (one["grade"]["code"], one["capped_by_quota"]) == ("excellent", False)

        broken = {
            **no_quota,
            "grades": {"excellent": 70, "competent": 75, "basically_competent": 60},
        }
        answer = town.send("PUT", "/assessment/scheme", "admin", broken)
        assert answer.status_code == 422
        assert (answer.json()["code"], answer.json()["field"]) == (
            "scheme_invalid",
            "grades.competent",
        )
        weights = {**no_quota, "indicators": [{**no_quota["indicators"][0], "weight": 0}]}
        answer = town.send("PUT", "/assessment/scheme", "admin", weights)
        assert (answer.json()["code"], answer.json()["field"]) == (
            "scheme_invalid",
            "indicators.0.weight",
        )
        typed = town.send("PUT", "/assessment/scheme", "admin", {**no_quota, "grades": "high"})
        assert (typed.status_code, typed.json()["code"]) == (422, "invalid_input")
        # nothing of the refused ones was written
        assert town.get("/assessment/scheme", "admin").json()["excellent_quota"] is None
    finally:
        restored = town.send("PUT", "/assessment/scheme", "admin", Scheme().json())
        assert restored.status_code == 200
    with town.site.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(scheme_table)).scalar_one() == 1


# ---- the pages ------------------------------------------------------------------------------


def test_the_assessment_page_shows_grades_points_and_the_forms(town: Town) -> None:
    site = town.site
    page = site.client.get(
        "/assessment", params={"period": "2026Q1"}, headers=site.cookie("supervisor1")
    )
    assert page.status_code == 200, page.text
    html = page.text
    assert "网格员小孙" in html and "网格员小候" in html and "网格员小钱" in html
    assert "称职" in html and "不称职" in html and "数据不足" in html
    assert "33.25" in html and 'aria-sort="ascending"' in html
    assert 'data-api="/api/v1/assessment/adjustments"' in html
    assert 'href="/assessment/workers/worker2?period=2026Q1"' in html
    english = site.client.get(
        "/assessment", params={"period": "2026Q1", "lang": "en"}, headers=site.cookie("supervisor1")
    ).text
    assert "Incompetent" in english and "Insufficient data" in english
    refused = site.client.get(
        "/assessment", params={"period": "2026Q9"}, headers=site.cookie("supervisor1")
    )
    assert refused.status_code == 422 and "2026Q9" in refused.text
    worker = site.client.get("/assessment", headers=site.cookie("worker1"))
    assert worker.status_code == 403


def test_the_worker_page_lists_the_requests_behind_the_counts(town: Town) -> None:
    site = town.site
    page = site.client.get(
        "/assessment/workers/worker2",
        params={"period": "2026Q1"},
        headers=site.cookie("supervisor1"),
    )
    assert page.status_code == 200, page.text
    for request_id in town.requests["worker2"]:
        assert f'href="/requests/{request_id}"' in page.text
    own = site.client.get(
        "/assessment/workers/worker1", params={"period": "2026Q1"}, headers=site.cookie("worker1")
    )
    assert own.status_code == 200 and town.requests["worker1"][0] in own.text
    other = site.client.get("/assessment/workers/worker2", headers=site.cookie("worker1"))
    assert other.status_code == 403
    unknown = site.client.get("/assessment/workers/nobody", headers=site.cookie("supervisor1"))
    assert unknown.status_code == 404
