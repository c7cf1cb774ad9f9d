"""A quarantined event shows: /health says degraded with the count, the board has a
banner asking for `closeloop projections retry`, which (run while the projector runs)
clears it after the fix."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from closeloop.cli import main
from domain.ladder import Tier
from domain.state import Intake, RequestState
from projections.queries import get_request
from tests.stack.conftest import StackFactory
from web.session import COOKIE

RETRY = "closeloop projections retry"


async def test_health_and_board_tell_of_quarantined_events_until_a_retry(
    make_stack: StackFactory,
) -> None:
    s = await make_stack()
    # The read models refuse this actor's rows: a database refusal the fix will lift.
    with s.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER refuse_mallory BEFORE INSERT ON view_timeline "
                "WHEN NEW.actor = 'mallory' BEGIN SELECT RAISE(ABORT, 'mallory is refused'); END"
            )
        )
    filed = await s.file(by="worker1")
    # A filing straight into the event store (no API, no workflow), as a faulty client could.
    poisoned = str(uuid.uuid4())
    intake = Intake(
        request_id=poisoned,
        grid_id=filed["grid_id"],
        community_id=filed["community_id"],
        town_id=filed["town_id"],
        category="water_leak",
        description="漏水",
        channel="app",
        resident_name="李先生",
        resident_phone="13800000000",
        tier=Tier.D1,
    )
    change = RequestState.decide_file(intake, datetime.now(UTC), "mallory", 3600.0)
    assert s.store.record(uuid.UUID(poisoned), "poison-1", change)
    await asyncio.to_thread(s.projector.catch_up, 10)

    health = (await s.http.get("/api/v1/health")).json()
    assert health["status"] == "degraded", health
    assert health["projection"]["quarantined"] == 1
    assert health["projection"]["lag"] == 0  # tracked past it
    assert (health["temporal"], health["store"]) == ("ok", "ok")

    cookie = {"Cookie": f"{COOKIE}={_token(s.auth('supervisor1'))}"}
    board = await s.http.get("/board", headers=cookie)
    assert board.status_code == 200
    banner = _banner(board.text)
    assert 'role="alert"' in banner and "已隔离 1 个事件" in banner and RETRY in banner
    english = _banner((await s.http.get("/board?lang=en", headers=cookie)).text)
    assert "Events quarantined: 1." in english and "An operator should fix the cause" in english

    # the other requests keep being projected
    accepted = await s.act("worker1", filed["id"], "accept")
    assert accepted.status_code == 200, accepted.text
    await s.projected(filed["id"], until=lambda r: r["status"] == "in_progress")

    # the fix, then the operator's retry while the projector runs
    with s.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_mallory"))
    assert await asyncio.to_thread(main, ["projections", "retry"]) == 0
    assert get_request(s.engine, poisoned) is not None

    health = (await s.http.get("/api/v1/health")).json()
    assert health["status"] == "ok" and health["projection"]["quarantined"] == 0
    board = await s.http.get("/board", headers=cookie)
    assert RETRY not in board.text


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _banner(page: str) -> str:
    start = page.index('class="field-error quarantined"')
    return page[page.rindex("<div", 0, start) : page.index("</div>", start)]
