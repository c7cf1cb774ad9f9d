"""A SIGKILL storm on the production layout (separate worker, projector and API processes
on PostgreSQL): workers, the projector, the API and the Temporal server itself are killed
during a burst of requests and handler actions. Afterwards every acknowledged request is
closed, every deadline timer has fired, a NUL byte is still refused while the projector
keeps running, and `closeloop check` finds the workflows, the event store and the read
models in agreement."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from closeloop.bootstrap import demo_password
from closeloop.temporal_server import DevServer, free_ports
from tests.production.test_cluster import Processes

N = 12  # requests taken round the loop during the storm
TIMED = 3  # requests left alone, so that their deadline timers fire during the storm
FAST_DAY = 3.0  # seconds in a day for those


def _wait_healthy(base: str, processes: Processes, timeout: float = 120.0) -> None:
    """Until the API answers its health check (its processes must not die meanwhile)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for name, process in processes.running.items():
            assert process.poll() is None, f"{name} died:\n{processes.log(name)}"
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{base} did not become healthy in {timeout:.0f} s")


class Storm:
    def __init__(self, processes: Processes, server: DevServer, ports: dict[str, int]) -> None:
        self.processes = processes
        self.server = server
        self.ports = ports
        self.generation: dict[str, int] = {}

    def base(self, api: str) -> str:
        return f"http://127.0.0.1:{self.ports[api]}/api/v1"

    def start(self, role: str, name: str | None = None, **extra: str) -> None:
        name = name or role
        n = self.generation.get(name, 0) + 1
        self.generation[name] = n
        self.processes.start(f"{name}-{n}", role, **extra)

    def kill(self, name: str) -> None:
        """SIGKILL: no clean shutdown; whatever the process had in hand is lost."""
        process = self.processes.running.pop(f"{name}-{self.generation[name]}")
        process.kill()
        process.wait(10)

    def start_api(self, name: str, day: str = "3600") -> None:
        self.start("api", name, CLOSELOOP_API_PORT=str(self.ports[name]),
                   CLOSELOOP_DAY_SECONDS=day)  # fmt: skip

    async def kill_temporal(self, down_for: float) -> None:
        process = self.server._process
        assert process is not None
        process.kill()
        await asyncio.to_thread(process.wait, 10)
        await asyncio.sleep(down_for)
        self.server.start()  # on the same SQLite file: its workflows and timers are kept
        await self.server.wait_ready()


@pytest_asyncio.fixture
async def storm(postgres_url: str, tmp_path: Path) -> AsyncIterator[Storm]:
    temporal_port, api_port, timed_api_port = free_ports(3)
    server = DevServer(
        db_file=tmp_path / "temporal.db", port=temporal_port, ui_port=None,
        log_file=tmp_path / "temporal.log",
    )  # fmt: skip
    server.start()
    await server.wait_ready()
    env = {
        **os.environ,
        "CLOSELOOP_DATABASE_URL": postgres_url,
        "CLOSELOOP_TEMPORAL_ADDRESS": server.address,
        "CLOSELOOP_TASK_QUEUE": f"storm-{uuid.uuid4()}",
        "CLOSELOOP_DATA_DIR": str(tmp_path / "data"),
        "CLOSELOOP_JWT_SECRET": "one-secret-for-the-storm-test",
        "CLOSELOOP_ADMIN_PASSWORD": "storm-tests-pw",
        "CLOSELOOP_DAY_SECONDS": "3600",
    }
    processes = Processes(env, tmp_path)
    await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "closeloop.cli", "bootstrap", "--seed-demo"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    s = Storm(processes, server, {"api": api_port, "timed-api": timed_api_port})
    s.start("worker")
    s.start("projector")
    s.start_api("api")
    s.start_api("timed-api", day=str(FAST_DAY))
    try:
        await asyncio.to_thread(_wait_healthy, s.base("api"), processes)
        await asyncio.to_thread(_wait_healthy, s.base("timed-api"), processes)
        yield s
    finally:
        for process in processes.running.values():
            process.kill()
        for process in processes.running.values():
            process.wait(10)
        server.stop()


async def test_a_kill_storm_leaves_nothing_lost_and_nothing_to_disagree(storm: Storm) -> None:
    async with httpx.AsyncClient(timeout=60) as http:

        async def post(path: str, body: dict[str, Any], headers: dict[str, str],
                       api: str = "api", until: float = 180.0) -> Any:  # fmt: skip
            """As a careful client does: on no answer or a 5xx, send again with the same
            Idempotency-Key until it is answered."""
            key = {"Idempotency-Key": str(uuid.uuid4())}
            loop = asyncio.get_running_loop()
            end = loop.time() + until
            while True:
                try:
                    answer = await http.post(
                        f"{storm.base(api)}{path}", json=body, headers=headers | key
                    )
                    if answer.status_code < 500:
                        assert answer.status_code in (200, 201), (path, answer.text)
                        return answer.json()
                except httpx.TransportError:
                    pass
                assert loop.time() < end, f"{path} was never answered"
                await asyncio.sleep(0.5)

        async def token(username: str) -> dict[str, str]:
            reply = await http.post(
                f"{storm.base('api')}/auth/token",
                data={"username": username, "password": demo_password(username)},
            )
            assert reply.status_code == 200, reply.text
            return {"Authorization": f"Bearer {reply.json()['access_token']}"}

        sup = await token("supervisor1")
        grids = (
            await http.get(f"{storm.base('api')}/units", params={"kind": "grid"}, headers=sup)
        ).json()
        grid = next(g["id"] for g in grids if g["name"] == "医院西路社区第一网格")
        worker = await token("worker1")
        caller = await token("caller1")

        def intake(i: int) -> dict[str, Any]:
            return {
                "grid_id": grid, "category": "noise", "description": f"第{i}号诉求",
                "channel": "hotline", "resident": {"name": f"居民{i}", "phone": "13800000000"},
            }  # fmt: skip

        yes = {"reached": True, "completion": "yes", "progress": "yes", "effect": "yes",
               "satisfaction": "yes"}  # fmt: skip

        async def loop_one(i: int) -> str:
            rid = (await post("/requests", intake(i), {}))["id"]
            await post(f"/requests/{rid}/accept", {}, worker)
            await post(f"/requests/{rid}/progress", {"note": "上门查看"}, worker)
            await post(f"/requests/{rid}/resolve", {"resolution": "已处理"}, worker)
            view = await post(f"/requests/{rid}/review", yes, caller)
            assert view["status"] == "closed", view
            return str(rid)

        timed = [
            (await post("/requests", intake(100 + i), {}, api="timed-api"))["id"]
            for i in range(TIMED)
        ]

        async def kills() -> None:
            await asyncio.sleep(1.0)
            storm.kill("worker")
            storm.start("worker")
            await asyncio.sleep(1.0)
            storm.kill("projector")
            storm.start("projector")
            await asyncio.sleep(1.0)
            await storm.kill_temporal(down_for=FAST_DAY)  # a deadline comes due meanwhile
            await asyncio.sleep(1.0)
            storm.kill("api")
            storm.start_api("api")
            await asyncio.sleep(1.0)
            storm.kill("worker")
            storm.start("worker")

        killing = asyncio.create_task(kills())
        closed = await asyncio.gather(*(loop_one(i) for i in range(N)))
        await killing
        assert len(set(closed)) == N

        # every timer fired: the left-alone requests climbed from 1d past 3d
        end = asyncio.get_running_loop().time() + 120
        for rid in timed:
            while True:
                answer = await http.get(f"{storm.base('api')}/requests/{rid}", headers=sup)
                if answer.status_code == 200 and answer.json()["escalations"] >= 2:
                    break
                assert asyncio.get_running_loop().time() < end, answer.text
                await asyncio.sleep(0.5)

        # a NUL byte is refused at the door, and the projector keeps running
        bad = await http.post(
            f"{storm.base('api')}/requests", json=intake(999) | {"description": "漏水\x00"}
        )
        assert bad.status_code == 422, bad.text
        health = (await http.get(f"{storm.base('api')}/health")).json()
        assert health["status"] == "ok", health

    check = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "closeloop.cli", "check"],
        env=storm.processes.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    total = N + TIMED
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"checked {total} requests: workflows, store and read models agree" in check.stdout
    assert f"{total}/{total} requests" in check.stderr  # the progress bar reached the end
    one = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "closeloop.cli", "check", "--request", closed[0]],
        env=storm.processes.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert one.returncode == 0 and "checked 1 requests" in one.stdout, one.stdout + one.stderr
    logs = "".join(storm.processes.log(name) for name in storm.processes.running)
    assert "Failed" not in check.stdout and "Traceback" not in logs
