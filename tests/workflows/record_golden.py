"""Record a golden history of RequestWorkflow: ``python -m tests.workflows.record_golden NAME``.

The history walks every path once (manual and deadline escalation, progress, resolve,
a reopening review, an unreached attempt, a closing review) and is committed under
``tests/workflows/golden/``. ``test_replay`` replays every committed history with the
current code: a change that breaks an old request's replay fails there.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from closeloop.store import RequestStore, store_env
from closeloop.temporal_client import connect_temporal
from closeloop.temporal_server import DevServer
from domain.ladder import Level, Tier, deadline_for
from domain.state import Assignment, Intake
from workflows.commands import file_request, send
from workflows.messages import (
    Actor,
    HandlerCommand,
    LocateCommand,
    MergeCommand,
    OpsCommand,
    ReviewCommand,
    workflow_id,
)
from workflows.worker import build_worker

GOLDEN = Path(__file__).parent / "golden"


async def record(name: str) -> Path:
    worker_actor = Actor("worker1", "handler", [Assignment("g1", "grid_worker")])  # type: ignore[arg-type]
    branch = Actor("branch1", "handler", [Assignment("g1", "grid_branch")])  # type: ignore[arg-type]
    community = Actor("community1", "handler", [Assignment("c1", "community_committee")])  # type: ignore[arg-type]
    caller = Actor("caller1", "caller")
    day = 1.0
    server = DevServer(None, 0, None, Path(tempfile.gettempdir()) / "golden-temporal.log")
    await server.start_on_free_ports()
    env = WorkflowEnvironment.from_client(await connect_temporal(server.address, "default"))
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(4) as pool:
        store = RequestStore(env=store_env(f"sqlite:///{tmp}/golden.db"))
        async with build_worker(env.client, "golden", store, pool):
            rid = str(uuid.uuid4())
            intake = Intake(
                rid, "g1", "c1", "t1", "water_leak", "ceiling leak", "app", "李", "1", Tier.D1
            )
            c = env.client
            await file_request(c, "golden", intake, "resident", day)
            await send(c, rid, "escalate", HandlerCommand(worker_actor, "beyond the grid"))
            await send(c, rid, "accept", HandlerCommand(branch))
            await asyncio.sleep(3 * day + 1)  # the 3d deadline passes: up to the community
            await send(c, rid, "accept", HandlerCommand(community))
            await send(c, rid, "progress", HandlerCommand(community, "met the property company"))
            await send(c, rid, "resolve", HandlerCommand(community, "pipe replaced"))
            await send(c, rid, "review", ReviewCommand(caller, False))
            await send(c, rid, "review", ReviewCommand(caller, True, "yes", "no", "yes", "partly"))
            await send(c, rid, "accept", HandlerCommand(community))
            await send(c, rid, "resolve", HandlerCommand(community, "followed up in person"))
            await send(c, rid, "review", ReviewCommand(caller, True, "yes", "yes", "yes", "yes"))
            handle = c.get_workflow_handle(workflow_id(rid))
            await handle.result()
            history = await handle.fetch_history()
        store.close()
    await asyncio.to_thread(server.stop)
    GOLDEN.mkdir(exist_ok=True)
    path = GOLDEN / f"{name}.json"
    path.write_text(history.to_json())
    return path


async def record_operations(name: str) -> Path:
    """The street-office operations' history (a name with ``operations`` in it): manual
    dispatch, a warning, an extension, urging, a partner co-handler, a return and a new
    dispatch, a re-tier with the grid worker assisting, a deadline escalation, an
    out-of-scope closure, the resident's appeal and the closing review; deadlines come
    from the deadline activity (working days)."""
    worker = Actor("worker1", "handler", [Assignment("g1", Level.GRID_WORKER)])
    branch = Actor("branch1", "handler", [Assignment("g1", Level.GRID_BRANCH)])
    community = Actor("community1", "handler", [Assignment("c1", Level.COMMUNITY_COMMITTEE)])
    supervisor = Actor("supervisor1", "supervisor")
    partner = Actor("partner1", "partner")
    caller = Actor("caller1", "caller")
    day = 1.0

    def due(tier: Tier, at: datetime) -> datetime:
        return deadline_for(tier, at, day)

    server = DevServer(None, 0, None, Path(tempfile.gettempdir()) / "golden-temporal.log")
    await server.start_on_free_ports()
    env = WorkflowEnvironment.from_client(await connect_temporal(server.address, "default"))
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(4) as pool:
        store = RequestStore(env=store_env(f"sqlite:///{tmp}/golden.db"))
        async with build_worker(env.client, "golden", store, pool, due=due):
            rid = str(uuid.uuid4())
            intake = Intake(
                rid, "g1", "c1", "t1", "water_leak", "ceiling leak", "app", "李", "1", Tier.D1,
                manual=True,
            )  # fmt: skip
            c = env.client
            await file_request(
                c, "golden", intake, "resident", day, warn_share=0.5, working_days=True
            )
            view = await send(c, rid, "dispatch", OpsCommand(supervisor, grid_id="g1", tier="1d"))
            await asyncio.sleep(0.7 * day)  # warned at half the tier's time
            until = datetime.fromisoformat(view["deadline"]) + timedelta(seconds=0.5 * day)
            await send(c, rid, "extension", OpsCommand(worker, "parts", until=until))
            await send(c, rid, "extension_decision", OpsCommand(branch, "ok", approve=True))
            await send(c, rid, "urge", OpsCommand(supervisor, "today please"))
            await send(
                c, rid, "add_cohandler", OpsCommand(worker, username="partner1", task="pipe")
            )
            await send(c, rid, "progress", HandlerCommand(partner, "pipe ordered"))
            await send(c, rid, "cohandler_done", OpsCommand(partner, "done", username="partner1"))
            await send(c, rid, "return", OpsCommand(worker, "a wage dispute, not a leak"))
            await send(c, rid, "dispatch", OpsCommand(supervisor, grid_id="g1", tier="1d"))
            await send(c, rid, "retier", OpsCommand(supervisor, "bigger", tier="3d"))
            await send(c, rid, "progress", HandlerCommand(worker, "assisting"))
            await asyncio.sleep(3 * day + 1)  # the 3d deadline passes: up to the community
            await send(c, rid, "close_out_of_scope", OpsCommand(community, "a court matter"))
            await send(c, rid, "appeal", OpsCommand(Actor("resident", "resident"), "stairwell"))
            await send(c, rid, "accept", HandlerCommand(community))
            await send(c, rid, "resolve", HandlerCommand(community, "stairwell repaired"))
            await send(c, rid, "review", ReviewCommand(caller, True, "yes", "yes", "yes", "yes"))
            handle = c.get_workflow_handle(workflow_id(rid))
            await handle.result()
            history = await handle.fetch_history()
        store.close()
    await asyncio.to_thread(server.stop)
    path = GOLDEN / f"{name}.json"
    path.write_text(history.to_json())
    return path


async def record_place(name: str) -> Path:
    """A request's place and photos (a name with ``place`` in it): filed with a location
    and a photo, the location corrected by its worker, the 1d deadline passing, the
    location corrected by a supervisor, before and after photos, the closing review."""
    worker = Actor("worker1", "handler", [Assignment("g1", Level.GRID_WORKER)])
    branch = Actor("branch1", "handler", [Assignment("g1", Level.GRID_BRANCH)])
    supervisor = Actor("supervisor1", "supervisor")
    caller = Actor("caller1", "caller")
    day = 1.0
    photo = {"hash": "a" * 64, "type": "image/jpeg"}
    server = DevServer(None, 0, None, Path(tempfile.gettempdir()) / "golden-temporal.log")
    await server.start_on_free_ports()
    env = WorkflowEnvironment.from_client(await connect_temporal(server.address, "default"))
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(4) as pool:
        store = RequestStore(env=store_env(f"sqlite:///{tmp}/golden.db"))
        async with build_worker(env.client, "golden", store, pool):
            rid = str(uuid.uuid4())
            intake = Intake(
                rid, "g1", "c1", "t1", "water_leak", "ceiling leak", "app", "李", "1", Tier.D1,
                lat=39.19, long=99.83, address="3 Xianghe Court", building="block 3",
                photos=[photo],
            )  # fmt: skip
            c = env.client
            await file_request(c, "golden", intake, "resident", day)
            await send(c, rid, "locate", LocateCommand(worker, 39.2, 99.8, reason="on site"))
            await asyncio.sleep(day + 1)  # the 1d deadline passes: up to the grid branch
            await send(
                c, rid, "locate", LocateCommand(supervisor, 39.21, 99.81, "5 Xianghe", None, "map")
            )
            await send(c, rid, "accept", HandlerCommand(branch))
            before = {"hash": "b" * 64, "type": "image/png"}
            await send(c, rid, "progress", HandlerCommand(branch, "looked", [before]))
            after = {"hash": "c" * 64, "type": "image/webp"}
            await send(c, rid, "resolve", HandlerCommand(branch, "fixed", [after]))
            await send(c, rid, "review", ReviewCommand(caller, True, "yes", "yes", "yes", "yes"))
            handle = c.get_workflow_handle(workflow_id(rid))
            await handle.result()
            history = await handle.fetch_history()
        store.close()
    await asyncio.to_thread(server.stop)
    path = GOLDEN / f"{name}.json"
    path.write_text(history.to_json())
    return path


async def record_merge(name: str) -> Path:
    """Two requests' histories (a name with ``merge`` in it: ``<name>-primary.json`` and
    ``<name>-duplicate.json``): the duplicate merged into the primary (its workflow asks
    the primary's through the link activity), taken out again and merged again; the
    primary's 1d deadline passing, its resolution signalled to the duplicate, which is
    resolved with it, its self-review window passing, and each request's closing review."""
    worker = Actor("worker1", "handler", [Assignment("g1", Level.GRID_WORKER)])
    branch = Actor("branch1", "handler", [Assignment("g1", Level.GRID_BRANCH)])
    supervisor = Actor("supervisor1", "supervisor")
    caller = Actor("caller1", "caller")
    day = 1.0
    server = DevServer(None, 0, None, Path(tempfile.gettempdir()) / "golden-temporal.log")
    await server.start_on_free_ports()
    env = WorkflowEnvironment.from_client(await connect_temporal(server.address, "default"))
    histories = {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(4) as pool:
        store = RequestStore(env=store_env(f"sqlite:///{tmp}/golden.db"))
        async with build_worker(env.client, "golden", store, pool):
            primary, duplicate = str(uuid.uuid4()), str(uuid.uuid4())
            c = env.client
            for rid, phone in ((primary, "1"), (duplicate, "2")):
                intake = Intake(
                    rid, "g1", "c1", "t1", "water_leak", "ceiling leak", "app", "李", phone,
                    Tier.D1,
                )  # fmt: skip
                await file_request(c, "golden", intake, "resident", day, self_review_seconds=2.0)
            await send(c, duplicate, "merge", MergeCommand(worker, "same leak", into=primary))
            await send(c, duplicate, "unmerge", MergeCommand(supervisor, "another flat"))
            await send(c, duplicate, "merge", MergeCommand(supervisor, "same after all", primary))
            await asyncio.sleep(day + 1)  # the primary's 1d deadline passes: up to the branch
            await send(c, primary, "accept", HandlerCommand(branch))
            await send(c, primary, "resolve", HandlerCommand(branch, "pipe replaced"))
            await asyncio.sleep(3)  # both self-review windows pass
            for rid in (primary, duplicate):
                yes = ReviewCommand(caller, True, "yes", "yes", "yes", "yes")
                await send(c, rid, "review", yes)
                handle = c.get_workflow_handle(workflow_id(rid))
                await handle.result()
                histories[rid] = await handle.fetch_history()
        store.close()
    await asyncio.to_thread(server.stop)
    for rid, part in ((primary, "primary"), (duplicate, "duplicate")):
        path = GOLDEN / f"{name}-{part}.json"
        path.write_text(histories[rid].to_json())
    return GOLDEN / f"{name}-duplicate.json"


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "v1-full-loop"
    recorder = record_operations if "operations" in name else record
    recorder = record_place if "place" in name else recorder
    recorder = record_merge if "merge" in name else recorder
    print(asyncio.run(recorder(name)))
