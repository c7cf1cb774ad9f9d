"""Workers killed with SIGKILL during a burst: afterwards `closeloop check` finds the
workflows, the event store and the read models in agreement, on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.production.test_cluster import Processes, _free_port, _wait_healthy

N = 12  # requests in the burst


@pytest.fixture
def stack(
    postgres_url: str, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> Iterator[tuple[Processes, str]]:
    target = temporal_env.client.service_client.config.target_host
    env = {
        **os.environ,
        "CLOSELOOP_DATABASE_URL": postgres_url,
        "CLOSELOOP_TEMPORAL_ADDRESS": target,
        "CLOSELOOP_TASK_QUEUE": f"storm-{uuid.uuid4()}",
        "CLOSELOOP_DATA_DIR": str(tmp_path / "data"),
        "CLOSELOOP_JWT_SECRET": "one-secret-for-the-storm-test",
        "CLOSELOOP_ADMIN_PASSWORD": "storm-admin-pw",
        "CLOSELOOP_DAY_SECONDS": "3600",
    }
    processes = Processes(env, tmp_path)
    subprocess.run(
        [sys.executable, "-m", "closeloop.cli", "bootstrap"], env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    port = _free_port()
    processes.start("worker-1", "worker")
    processes.start("projector", "projector")
    processes.start("api", "api", CLOSELOOP_API_PORT=str(port))
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        _wait_healthy(base, processes)
        yield processes, base
    finally:
        for process in processes.running.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.running.values():
            process.wait(30)


def kill(processes: Processes, name: str) -> None:
    """SIGKILL: no clean shutdown, whatever the worker had in hand is lost."""
    process = processes.running.pop(name)
    process.kill()
    process.wait(10)


async def test_workers_killed_mid_burst_leave_nothing_to_disagree(
    stack: tuple[Processes, str],
) -> None:
    processes, base = stack
    async with httpx.AsyncClient(timeout=120) as http:

        async def token(username: str) -> dict[str, str]:
            answer = await http.post(
                f"{base}/auth/token", data={"username": username, "password": f"demo-{username}"}
            )
            assert answer.status_code == 200, answer.text
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}

        sup = await token("supervisor1")
        grids = (await http.get(f"{base}/units", params={"kind": "grid"}, headers=sup)).json()
        grid = next(g["id"] for g in grids if g["name"] == "医院西路社区第一网格")
        worker = await token("worker1")
        caller = await token("caller1")

        async def post(path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
            """As a careful client does: on a failure, send again with the same key."""
            key = {"Idempotency-Key": str(uuid.uuid4())}
            for _ in range(5):
                try:
                    answer = await http.post(f"{base}{path}", json=body, headers=headers | key)
                except httpx.TransportError:
                    await asyncio.sleep(1)
                    continue
                if answer.status_code < 500:
                    assert answer.status_code in (200, 201), (path, answer.text)
                    return answer.json()
                await asyncio.sleep(1)
            raise AssertionError(f"{path} never answered")

        async def file(i: int) -> str:
            body = {
                "grid_id": grid, "category": "noise", "description": f"第{i}号诉求",
                "channel": "hotline", "resident": {"name": f"居民{i}", "phone": "13800000000"},
            }  # fmt: skip
            request: dict[str, Any] = await post("/requests", body, {})
            return str(request["id"])

        yes = {"reached": True, "completion": "yes", "progress": "yes", "effect": "yes",
               "satisfaction": "yes"}  # fmt: skip

        async def handle(rid: str) -> str:
            await post(f"/requests/{rid}/accept", {}, worker)
            await post(f"/requests/{rid}/progress", {"note": "上门查看"}, worker)
            await post(f"/requests/{rid}/resolve", {"resolution": "已处理"}, worker)
            view = await post(f"/requests/{rid}/review", yes, caller)
            return str(view["status"])

        async def storm() -> None:
            """Kill the running worker twice while the burst goes on, starting another."""
            for n in (1, 2):
                await asyncio.sleep(1.5)
                kill(processes, f"worker-{n}")
                processes.start(f"worker-{n + 1}", "worker")

        filing = asyncio.gather(*(file(i) for i in range(N)))
        killing = asyncio.create_task(storm())
        ids = await filing
        statuses = await asyncio.gather(*(handle(rid) for rid in ids))
        await killing
        assert statuses == ["closed"] * N

    check = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "closeloop.cli", "check"],
        env=processes.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"checked {N} requests: workflows, store and read models agree" in check.stdout
    assert f"{N}/{N} requests" in check.stderr  # the progress bar reached the end
    # and one request alone, by id
    one = subprocess.run(
        [sys.executable, "-m", "closeloop.cli", "check", "--request", ids[0]],
        env=processes.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert one.returncode == 0 and "checked 1 requests" in one.stdout, one.stdout + one.stderr
