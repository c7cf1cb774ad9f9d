"""The board, the work lists and the follow-up list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from domain.ladder import Level, Tier
from domain.state import Assignment
from projections.queries import count_followups, followups, get_request, list_requests, tasks
from projections.runner import Projector
from tests.projections.conftest import T0, RequestLog, Scenario, file_scenario


def project(log: RequestLog, database_url: str) -> None:
    projector = Projector(database_url, store=log.store)
    while projector.run_batch():
        pass
    projector.close()


@pytest.fixture
def scenario(log: RequestLog, database_url: str, engine: Engine) -> Scenario:
    filed = file_scenario(log)
    project(log, database_url)
    return filed


def ids(items: list[dict[str, object]]) -> list[object]:
    return [item["id"] for item in items]


def test_list_items_are_views_without_the_timeline(scenario: Scenario, engine: Engine) -> None:
    page = list_requests(engine)
    assert page["total"] == 6
    for item in page["items"]:
        full = get_request(engine, str(item["id"]))
        assert full is not None
        del full["timeline"]
        # the lists say of the operations what the work lists show
        listed = {k: item.pop(k) for k in ("extension_pending", "cohandlers_open")}
        assert listed == {"extension_pending": False, "cohandlers_open": 0}
        assert item == {k: v for k, v in full.items() if k in item}
        assert set(full) - set(item) == {
            "tier_started_at",
            "extension",
            "extensions_approved",
            "cohandlers",
            "assisting",
            "dispatch_wait_seconds",
            "returns",
            "redirects",
            "out_of_scope",
            "appeal",
            "merged",
            "duplicates",
        }


def test_open_requests_come_first_soonest_deadline_first(
    scenario: Scenario, engine: Engine
) -> None:
    page = list_requests(engine)
    # E is due at 5d from day 2 plus; F at 1m from day 3 plus: E first. Then the closed
    # ones, most recently changed first.
    assert ids(page["items"])[:2] == [scenario.escalated_twice, scenario.overdue_at_top]
    closed = page["items"][2:]
    assert [i["updated_at"] for i in closed] == sorted(
        (i["updated_at"] for i in closed), reverse=True
    )


def test_filters(scenario: Scenario, engine: Engine) -> None:
    s = scenario
    assert ids(list_requests(engine, status="assigned")["items"]) == [
        s.escalated_twice,
        s.overdue_at_top,
    ]
    assert list_requests(engine, status="closed")["total"] == 4
    assert ids(list_requests(engine, overdue=True)["items"]) == [s.overdue_at_top]
    assert list_requests(engine, overdue=False)["total"] == 5
    assert ids(list_requests(engine, tier="5d")["items"]) == [s.escalated_twice]
    assert ids(list_requests(engine, category="noise")["items"]) == [s.reopened_then_closed]
    assert set(ids(list_requests(engine, unit_id="c1")["items"])) == {
        s.closed_yes,
        s.closed_partly_late,
        s.reopened_then_closed,
    }
    assert set(ids(list_requests(engine, unit_id="g1")["items"])) == {
        s.closed_yes,
        s.reopened_then_closed,
    }
    assert list_requests(engine, unit_id="t2", status="closed") == {"items": [], "total": 0}
    with pytest.raises(ValueError):
        list_requests(engine, status="lost")


def test_pages(scenario: Scenario, engine: Engine) -> None:
    everything = ids(list_requests(engine, limit=100)["items"])
    pages = [list_requests(engine, limit=4, offset=o) for o in (0, 4)]
    assert [p["total"] for p in pages] == [6, 6]
    assert ids(pages[0]["items"]) + ids(pages[1]["items"]) == everything
    # pages of every size and start, across the line between open and the rest
    for size in (1, 2, 3):
        for start in range(7):
            page = list_requests(engine, limit=size, offset=start)
            assert ids(page["items"]) == everything[start : start + size], (size, start)
    assert list_requests(engine, limit=0) == {"items": [], "total": 6}


def test_tasks_are_the_open_requests_at_a_handlers_posts(
    scenario: Scenario, engine: Engine
) -> None:
    s = scenario
    # E is at c3's committee; F went up from it to the town: c3's committee assists
    community = tasks(engine, assignments=[("c3", "community_committee")])
    assert ids(community) == [s.escalated_twice, s.overdue_at_top]
    assert [t["assisting"] for t in community] == [False, True]
    both = tasks(
        engine,
        assignments=[
            ("t2", Level.TOWN_COMMITTEE),
            Assignment("c3", Level.COMMUNITY_COMMITTEE),
        ],
    )
    assert ids(both) == [s.escalated_twice, s.overdue_at_top]
    assert [t["assisting"] for t in both] == [False, False]  # each at one of the posts
    # the grid worker of g4 no longer holds E, but assists it; closed requests are never
    # tasks
    grid = tasks(engine, assignments=[("g4", "grid_worker"), ("g1", "grid_worker")])
    assert ids(grid) == [s.escalated_twice] and grid[0]["assisting"] is True
    assert tasks(engine, assignments=[]) == []
    posts = [("t2", "town_committee"), ("c3", "community_committee")]
    assert ids(tasks(engine, assignments=posts, limit=1)) == [s.escalated_twice]


def test_tasks_include_accepted_requests(
    log: RequestLog, database_url: str, engine: Engine
) -> None:
    waiting = log.file(T0, grid="g9")
    working = log.file(T0 - timedelta(hours=1), grid="g9")
    log.accept(working, T0)
    elsewhere = log.file(T0, grid="g8")
    project(log, database_url)
    mine = tasks(engine, assignments=[("g9", "grid_worker")])
    assert ids(mine) == [working, waiting]  # the earlier deadline first
    assert [t["status"] for t in mine] == ["in_progress", "assigned"]
    assert elsewhere not in ids(mine)


def test_followups_are_resolved_requests_oldest_resolve_first(
    log: RequestLog, database_url: str, engine: Engine
) -> None:
    h = timedelta(hours=1)
    late = log.file(T0, name="Li Lei", phone="139")
    early = log.file(T0 + h, name="Han Meimei", phone="137")
    called_once = log.file(T0 + 2 * h, tier=Tier.D3)
    done = log.file(T0 + 3 * h)
    for request_id in (late, early, called_once, done):
        log.accept(request_id, T0 + 4 * h)
    log.resolve(early, T0 + 5 * h)
    log.resolve(called_once, T0 + 6 * h)
    log.resolve(late, T0 + 7 * h)
    log.resolve(done, T0 + 8 * h)
    log.review(called_once, T0 + 9 * h)  # not reached: still waiting for a call
    log.review(done, T0 + 9 * h, "yes yes yes yes")
    project(log, database_url)

    waiting = followups(engine)
    assert ids(waiting) == [early, called_once, late]
    assert waiting[0]["resident"] == {"name": "H*", "phone": "***"}  # masked in the rows
    assert waiting[0]["resolved_at"] == (T0 + 5 * h).isoformat()
    assert waiting[1]["unreached_attempts"] == 1
    assert ids(followups(engine, limit=2)) == [early, called_once]
    assert ids(followups(engine, limit=2, offset=2)) == [late]
    assert count_followups(engine) == 3
