"""Temporal down: every command answers 503 with Retry-After and writes nothing; reads work.

The stack runs on the session's dev server; a second app on the same database and roster
talks to a Temporal that really cannot be reached: a dev server of its own, started (and
answering) and then shut down, or an address nothing listens on (a lazily connected client).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.service import RetryConfig, RPCError

from api.app import create_app
from closeloop.temporal_server import DevServer
from tests.stack.conftest import ADMIN_PASSWORD, Stack, StackFactory

SENTENCE = "the workflow service is unavailable; try again shortly"
#: Give up on a stopped server quickly: the retries are Temporal's, not what is tested.
QUICK = RetryConfig(initial_interval_millis=50, max_interval_millis=200,
                    max_elapsed_time_millis=800, max_retries=3)  # fmt: skip
YES = {"reached": True, "completion": "yes", "progress": "yes", "effect": "yes",
       "satisfaction": "yes", "comment": "满意"}  # fmt: skip


async def _stopped_server() -> Client:
    """A client of a dev server that answered and then was shut down."""
    with tempfile.TemporaryDirectory() as logs:
        server = DevServer(None, 0, None, Path(logs) / "temporal.log")
        try:
            await server.start_on_free_ports()  # and waits until it answers
            client = await Client.connect(server.address, retry_config=QUICK)
            assert await client.service_client.check_health()  # it answers
        finally:
            await asyncio.to_thread(server.stop)
    with pytest.raises(RPCError):  # and now it does not
        await client.service_client.check_health()
    return client


async def _nothing_listens() -> Client:
    """A lazily connected client of a port nothing listens on."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    return await Client.connect(f"127.0.0.1:{port}", lazy=True, retry_config=QUICK)


@pytest_asyncio.fixture(params=["stopped-server", "nothing-listens"])
async def down(request: pytest.FixtureRequest) -> Client:
    return await (_stopped_server() if request.param == "stopped-server" else _nothing_listens())


@pytest_asyncio.fixture
async def stack(make_stack: StackFactory) -> Stack:
    return await make_stack()


@pytest_asyncio.fixture
async def cut_off(stack: Stack, down: Client) -> AsyncIterator[httpx.AsyncClient]:
    """The API on the stack's database and roster, with Temporal unreachable."""
    app = create_app(stack.settings, stack.engine, temporal=down)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://down.test") as http:
        yield http


#: request id -> its tracking token, for the requests filed by :func:`_in_states`.
LINKS: dict[str, str] = {}


async def _in_states(s: Stack) -> dict[str, str]:
    """Requests each command may be sent to: filed, in progress, resolved; projected.
    (The first one's tracking link is kept apart: :data:`LINKS`.)"""
    first = await s.file()
    filed = first["id"]
    in_progress = (await s.file())["id"]
    assert (await s.act("worker1", in_progress, "accept")).status_code == 200
    resolved = (await s.file())["id"]
    assert (await s.act("worker1", resolved, "accept")).status_code == 200
    answer = await s.act("worker1", resolved, "resolve", {"resolution": "修好了"})
    assert answer.status_code == 200
    await s.projected(filed)
    await s.projected(in_progress, lambda r: r["status"] == "in_progress")
    await s.projected(resolved, lambda r: r["status"] == "resolved")
    LINKS[filed] = first["tracking_token"]
    return {"filed": filed, "in_progress": in_progress, "resolved": resolved}


def _commands(s: Stack, ids: dict[str, str]) -> list[tuple[str, str | None, dict[str, Any]]]:
    intake = {
        "grid_id": s.grids["医院西路社区第一网格"], "category": "noise",
        "description": "半夜装修", "channel": "hotline",
        "resident": {"name": "王女士", "phone": "13900000000"},
    }  # fmt: skip
    one = "/api/v1/requests/{}/{}"
    return [
        ("/api/v1/requests", None, intake),
        (one.format(ids["filed"], "accept"), "worker1", {}),
        (one.format(ids["in_progress"], "progress"), "worker1", {"note": "约了物业"}),
        (one.format(ids["in_progress"], "escalate"), "worker1", {"reason": "需要协调"}),
        (one.format(ids["in_progress"], "resolve"), "worker1", {"resolution": "修好了"}),
        (one.format(ids["resolved"], "review"), "caller1", YES),
    ]


async def test_every_command_answers_503_and_writes_nothing(
    stack: Stack, cut_off: httpx.AsyncClient
) -> None:
    s = stack
    ids = await _in_states(s)
    before = s.store.recorder.max_notification_id()
    timelines = {k: len((await s.projected(v))["timeline"]) for k, v in ids.items()}
    for url, user, body in _commands(s, ids):
        for query, key in [("", None), ("?consistent=true", None), ("", str(uuid.uuid4())),
                           ("?consistent=true", str(uuid.uuid4()))]:  # fmt: skip
            headers = {
                **(s.auth(user) if user else {}),
                **({"Idempotency-Key": key} if key else {}),
            }
            answer = await cut_off.post(url + query, json=body, headers=headers)
            assert answer.status_code == 503, (url, query, key, answer.text)
            assert answer.headers["Retry-After"] == "5", answer.headers
            assert answer.json() == {"detail": SENTENCE, "code": "unavailable"}
    assert s.store.recorder.max_notification_id() == before  # nothing was written
    for k, v in ids.items():
        assert len((await s.projected(v))["timeline"]) == timelines[k]
    # and the same commands go through once Temporal answers again (the stack's own app)
    for url, user, body in _commands(s, ids):
        answer = await s.http.post(url, json=body, headers=s.auth(user) if user else {})
        assert answer.status_code in (200, 201), (url, answer.text)
        if "escalate" in url:  # the request went up to the branch: the worker may not resolve
            break


async def test_reads_keep_working_while_temporal_is_down(
    stack: Stack, cut_off: httpx.AsyncClient
) -> None:
    s = stack
    ids = await _in_states(s)
    reads = [
        ("/api/v1/requests", "supervisor1"),
        (f"/api/v1/requests/{ids['in_progress']}", "supervisor1"),
        ("/api/v1/requests?status=resolved", "supervisor1"),
        ("/api/v1/stats", "supervisor1"),
        ("/api/v1/tasks", "worker1"),
        ("/api/v1/followups", "caller1"),
        ("/api/v1/units", "admin"),
        ("/api/v1/users", "admin"),
        ("/api/v1/auth/me", "worker1"),
        (f"/api/v1/track/{LINKS[ids['filed']]}", None),
        (f"/track/{LINKS[ids['filed']]}", None),
        ("/", None),
    ]
    for url, user in reads:
        answer = await cut_off.get(url, headers=s.auth(user) if user else {})
        assert answer.status_code == 200, (url, answer.text)
    board = (await cut_off.get("/api/v1/requests", headers=s.auth("supervisor1"))).json()
    assert {item["id"] for item in board["items"]} >= set(ids.values())
    tasks = (await cut_off.get("/api/v1/tasks", headers=s.auth("worker1"))).json()
    assert {t["id"] for t in tasks} >= {ids["filed"], ids["in_progress"]}
    followups = (await cut_off.get("/api/v1/followups", headers=s.auth("caller1"))).json()
    assert [f["id"] for f in followups] == [ids["resolved"]]
    signed_in = await cut_off.post(
        "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text


def test_the_api_process_starts_and_serves_reads_while_temporal_is_away(
    tmp_path: Path,
) -> None:
    """`closeloop api` started while Temporal does not answer still comes up: /health says
    which part is down, reads answer from the read models."""
    from closeloop.temporal_server import free_ports

    api_port, dead_port = free_ports(2)
    env = {
        **os.environ,
        "CLOSELOOP_DATA_DIR": str(tmp_path),
        "CLOSELOOP_TEMPORAL_ADDRESS": f"127.0.0.1:{dead_port}",
        "CLOSELOOP_API_PORT": str(api_port),
        "CLOSELOOP_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    env.pop("CLOSELOOP_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "closeloop.cli", "bootstrap"], env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{api_port}/api/v1"
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        api = subprocess.Popen(
            [sys.executable, "-m", "closeloop.cli", "api"], env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        end = time.monotonic() + 180
        while True:
            assert api.poll() is None, log.read_text()
            try:
                health = httpx.get(f"{base}/health", timeout=5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < end, log.read_text()
                time.sleep(0.3)
        assert health.status_code == 503
        assert health.json()["temporal"].startswith("unavailable")
        assert health.json()["store"] == "ok"
        signed_in = httpx.post(
            f"{base}/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        auth = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        board = httpx.get(f"{base}/requests", headers=auth, timeout=10)
        assert board.status_code == 200, board.text
        assert "serving reads" in log.read_text()
    finally:
        api.terminate()
        api.wait(30)
