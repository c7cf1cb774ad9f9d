"""The extension asks waiting for a handler's decision (the handlers' page), and the
operations' part of several requests at once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from domain.ladder import Level, Tier
from domain.state import Assignment
from projections.queries import extension_asks, operations_of
from tests.projections.conftest import T0, RequestLog
from tests.projections.test_queries import project


def ask(log: RequestLog, request_id: str, hours: float) -> None:
    """The current level asks for a deadline a little later than the current one."""
    state = log.states[request_id]
    assert state.deadline is not None
    until = state.deadline + timedelta(hours=1)
    log._move(
        request_id,
        state.decide_ask_extension("worker", until, "parts", T0 + timedelta(hours=hours), 1),
    )


def test_asks_one_level_below_a_post_on_its_units(
    log: RequestLog, database_url: str, engine: Engine
) -> None:
    h = timedelta(hours=1)
    at_g1 = log.file(T0 + h, grid="g1", community="c1", town="t1")  # grid worker, g1
    at_g2 = log.file(T0 + h, grid="g2", community="c1", town="t1")  # grid worker, g2
    branch_g1 = log.file(T0 + h, grid="g1", community="c1", town="t1", tier=Tier.D3)
    community_c1 = log.file(T0 + h, grid="g1", community="c1", town="t1", tier=Tier.D5)
    quiet = log.file(T0 + h, grid="g1", community="c1", town="t1")  # no ask
    for request_id in (at_g1, at_g2, branch_g1, community_c1):
        ask(log, request_id, 2)
    project(log, database_url)

    def found(*posts: tuple[str, Level]) -> set[str]:
        return {
            str(item["id"])
            for item in extension_asks(engine, [Assignment(u, level) for u, level in posts])
        }

    # a grid party branch decides its grid's workers' asks
    assert found(("g1", Level.GRID_BRANCH)) == {at_g1}
    assert found(("g1", Level.GRID_BRANCH), ("g2", Level.GRID_BRANCH)) == {at_g1, at_g2}
    # a community committee its community's branches'; a town committee its communities'
    assert found(("c1", Level.COMMUNITY_COMMITTEE)) == {branch_g1}
    assert found(("t1", Level.TOWN_COMMITTEE)) == {community_c1}
    # nobody decides for a grid worker below them; another unit's post sees nothing
    assert found(("g1", Level.GRID_WORKER)) == set()
    assert found(("g3", Level.GRID_BRANCH), ("c2", Level.COMMUNITY_COMMITTEE)) == set()
    assert extension_asks(engine, [("g1", "grid_branch")])[0]["extension_pending"] is True

    # decided: no longer waiting
    state = log.states[at_g1]
    log._move(at_g1, state.decide_extension("branch", True, "ok", T0 + 3 * h))
    project(log, database_url)
    assert found(("g1", Level.GRID_BRANCH)) == set()

    ops = operations_of(engine, [at_g2, quiet, "no-such-request"])
    assert set(ops) == {at_g2, quiet}
    assert ops[at_g2]["extension"]["reason"] == "parts"
    assert ops[quiet]["extension"] is None and ops[quiet]["cohandlers"] == []
    assert operations_of(engine, []) == {}
