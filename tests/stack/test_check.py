"""`closeloop check` on a stack that agrees, and on one that was tampered with."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from pytest import MonkeyPatch
from sqlalchemy import update
from temporalio.testing import WorkflowEnvironment

from closeloop.check import OPS_UNKNOWN, Checker, compare, lines
from closeloop.workcalendar import post_rule
from domain.ladder import Tier
from domain.state import ACCEPTED, Change, Intake, RequestState
from projections.tables import posts, requests, timeline, unit_counts
from tests.stack.conftest import StackFactory


async def test_check_agrees_then_names_each_disagreement(
    make_stack: StackFactory, temporal_env: WorkflowEnvironment
) -> None:
    s = await make_stack()
    first = await s.file()
    second = await s.file(description="路灯不亮")
    answer = await s.act("worker1", first["id"], "accept")
    assert answer.status_code == 200
    await s.projected(first["id"], lambda r: r["status"] == "in_progress")
    await s.projected(second["id"])

    checker = Checker(temporal_env.client, s.store, s.engine, s.settings.task_queue)
    seen: list[tuple[int, int]] = []
    report = await checker.run(progress=lambda done, total: seen.append((done, total)))
    assert report.ok, list(lines(report))
    assert report.checked >= 2 and seen[-1] == (report.checked, report.checked)
    assert list(lines(report))[-1].endswith("workflows, store and read models agree")

    # the read models drift from the store: a changed deadline, a lost timeline entry
    with s.engine.begin() as conn:
        conn.execute(update(requests).where(requests.c.id == first["id"]).values(escalations=7))
        conn.execute(
            timeline.delete().where(
                (timeline.c.request_id == second["id"]) & (timeline.c.position == 1)
            )
        )
    # a request in the store that no workflow made
    orphan = str(uuid.uuid4())
    intake = Intake(orphan, "g", "c", "t", "noise", "鼓声", "app", "张", "1", Tier.D1)
    filed = RequestState.decide_file(intake, datetime.now(UTC), "resident", 3600)
    s.store.settle(uuid.UUID(orphan), 0, "filed", filed)

    import closeloop.check as check_module

    check_module.RECHECK_PAUSE = 0.05
    report = await checker.run(catch_up=0)
    said = [str(d) for d in report.disagreements]
    assert not report.ok
    assert any(
        first["id"] in d and "store / read model: escalations" in d and "0 vs 7" in d for d in said
    ), said
    assert any(second["id"] in d and "change 0 (Filed" in d and "not in the read model" in d
               for d in said), said  # fmt: skip
    assert any(orphan in d and "no workflow" in d for d in said), said
    # one request alone
    alone = await checker.run(request_id=first["id"], catch_up=0)
    assert alone.checked == 1 and not alone.ok


async def test_repair_has_the_workflow_adopt_what_the_store_holds_beyond_it(
    make_stack: StackFactory, temporal_env: WorkflowEnvironment
) -> None:
    """As after a lost workflow task whose update was never delivered again."""
    s = await make_stack()
    request = await s.file()
    rid = request["id"]
    accept = Change(ACCEPTED, datetime.now(UTC), "worker1", {})
    s.store.settle(uuid.UUID(rid), 1, "update:never-delivered", accept)
    await s.projected(rid, lambda r: r["status"] == "in_progress")

    import closeloop.check as check_module

    check_module.RECHECK_PAUSE = 0.05
    report = await Checker(temporal_env.client, s.store, s.engine, s.settings.task_queue).run(
        request_id=rid
    )
    said = [str(d) for d in report.disagreements]
    assert any("change 1 (Accepted" in d and "in the store but not in the workflow" in d
               for d in said), said  # fmt: skip

    repaired = await Checker(
        temporal_env.client, s.store, s.engine, s.settings.task_queue, repair=True
    ).run(request_id=rid)
    assert repaired.ok, [str(d) for d in repaired.disagreements]
    assert repaired.repaired == [
        f"request {rid}: the workflow adopted 1 changes the store held beyond its last one"
    ]
    # the workflow goes on from the adopted accept
    answer = await s.act("worker1", rid, "progress", {"note": "已上门"})
    assert answer.status_code == 200, answer.text
    assert [e["type"] for e in answer.json()["timeline"]] == ["Filed", "Accepted", "ProgressNoted"]


def test_compare_names_each_operation_that_disagrees() -> None:
    intake = Intake(str(uuid.uuid4()), "g", "c", "t", "noise", "鼓声", "app", "张", "1", Tier.D1)
    state = RequestState.from_filed(
        RequestState.decide_file(intake, datetime.now(UTC), "resident", 3600)
    )
    view = state.view()
    assert compare(state.id, ("workflow", "store"), view, dict(view)) == []
    other = {
        **view,
        "urges": 1,
        "extension": {"until": "2030-01-01T00:00:00+00:00"},
        "cohandlers": [{"username": "物业", "done": True}],
        "out_of_scope": {"reason": "court"},
        "deadline": None,
    }
    said = {d.what for d in compare(state.id, ("workflow", "store"), view, other)}
    assert said == {
        f"workflow / store: {name}"
        for name in ("urges", "extension_pending", "cohandlers", "out_of_scope", "deadline")
    }
    # a read-model row from before the operations were kept: not compared on them
    unknown = {**other, "deadline": view["deadline"], OPS_UNKNOWN: True}
    assert compare(state.id, ("store", "read model"), view, unknown) == []


async def test_check_compares_the_operations_and_skips_rows_projected_before_them(
    make_stack: StackFactory, temporal_env: WorkflowEnvironment
) -> None:
    s = await make_stack()
    first = await s.file()
    second = await s.file(description="路灯不亮")
    await s.projected(first["id"])
    await s.projected(second["id"])
    checker = Checker(temporal_env.client, s.store, s.engine, s.settings.task_queue)
    report = await checker.run()
    assert report.ok, list(lines(report))

    ops = {"cohandlers": [{"username": "物业", "done": False}], "appeal": {"reason": "x"}}
    with s.engine.begin() as conn:
        here = requests.c.id == first["id"]
        conn.execute(update(requests).where(here).values(urges=2, ops=json.dumps(ops)))
        # as revision 0009 leaves a row projected before it; its columns are not read
        there = requests.c.id == second["id"]
        conn.execute(update(requests).where(there).values(ops=None, warned=True))

    import closeloop.check as check_module

    check_module.RECHECK_PAUSE = 0.05
    report = await checker.run(catch_up=0)
    said = [str(d) for d in report.disagreements]
    assert any(first["id"] in d and "store / read model: urges: 0 vs 2" in d for d in said), said
    assert any(first["id"] in d and "store / read model: cohandlers" in d for d in said), said
    assert any(first["id"] in d and "store / read model: appeal" in d for d in said), said
    assert not any(second["id"] in d for d in said), said


async def test_check_compares_each_requests_stints_and_the_count_tables(
    make_stack: StackFactory, temporal_env: WorkflowEnvironment, monkeypatch: MonkeyPatch
) -> None:
    """With the posts' rule, the stints the read models keep are compared with those the
    store's changes make, and the monthly count tables with a recount of the stints."""
    import closeloop.check as check_module

    monkeypatch.setattr(check_module, "RECHECK_PAUSE", 0.05)
    s = await make_stack()
    first = await s.file()
    second = await s.file(description="路灯不亮")
    assert (await s.act("worker1", first["id"], "accept")).status_code == 200
    assert (
        await s.act("worker1", first["id"], "resolve", {"resolution": "修好了"})
    ).status_code == 200
    await s.projected(first["id"], lambda r: r["status"] == "resolved")
    await s.projected(second["id"])
    checker = Checker(
        temporal_env.client, s.store, s.engine, s.settings.task_queue,
        rule=post_rule(s.settings, s.engine),
    )  # fmt: skip
    report = await checker.run()
    assert report.ok, list(lines(report))

    # a stint's handler and a unit's count drift from what the events say
    with s.engine.begin() as conn:
        conn.execute(
            update(posts).where(posts.c.request_id == first["id"]).values(handler="mallory")
        )
        conn.execute(update(unit_counts).where(unit_counts.c.kind == "town").values(assigned=99))
    report = await checker.run(catch_up=0)
    said = [str(d) for d in report.disagreements]
    assert any(
        first["id"] in d and "stint 0: handler" in d and "'worker1' vs 'mallory'" in d for d in said
    ), said
    assert any(d.startswith("request -: view_unit_counts ") and "town" in d for d in said), said
    # the buckets by handler no longer match the stints either (worker1's moved to mallory)
    assert any("view_post_counts" in d for d in said), said
    assert not any(second["id"] in d for d in said), said
