"""Two workers, two API processes and the projector on PostgreSQL and one Temporal server:
a burst of requests and handler actions lands every event exactly once, and the figures
agree with a count taken from the event store."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from closeloop.bootstrap import demo_password
from closeloop.keys import Keyring, new_key, parse_key
from closeloop.store import RequestStore, store_env
from closeloop.temporal_server import free_ports

N = 24  # requests in the burst


#: Generous deadlines: the CI machine is shared and sometimes busy.
START_SECONDS = 180.0
#: The key every process shares, as production gives it (the events are sealed with it).
KEY = new_key()
STOP_SECONDS = 90.0


class Processes:
    """``closeloop <role>`` processes, configured only by environment variables."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, role: str, **extra: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as out:
            self.running[name] = subprocess.Popen(
                [sys.executable, "-m", "closeloop.cli", role],
                env={**self.env, **extra}, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def stop(self, name: str) -> int:
        process = self.running.pop(name)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"{name} did not stop on SIGTERM:\n{self.log(name)}") from None

    def stop_all(self) -> dict[str, int | str]:
        """Stops every process, each even when another did not stop; their exit codes."""
        codes: dict[str, int | str] = {}
        for name in list(self.running):
            try:
                codes[name] = self.stop(name)
            except AssertionError as e:
                codes[name] = str(e)
        return codes


@pytest.fixture
def cluster(
    postgres_url: str, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> Iterator[tuple[Processes, list[str], str]]:
    target = temporal_env.client.service_client.config.target_host
    env = {
        **os.environ,
        "CLOSELOOP_DATABASE_URL": postgres_url,
        "CLOSELOOP_TEMPORAL_ADDRESS": target,
        "CLOSELOOP_TASK_QUEUE": f"cluster-{uuid.uuid4()}",
        "CLOSELOOP_DATA_DIR": str(tmp_path / "data"),
        "CLOSELOOP_JWT_SECRET": "one-secret-for-every-api-process",
        "CLOSELOOP_ADMIN_PASSWORD": "cluster-tests-pw",
        "CLOSELOOP_DAY_SECONDS": "3600",
        "CLOSELOOP_ENCRYPTION_KEY": KEY,
    }
    processes = Processes(env, tmp_path)
    subprocess.run(
        [sys.executable, "-m", "closeloop.cli", "bootstrap", "--seed-demo"], env=env,
        check=True, capture_output=True, timeout=START_SECONDS,
    )  # fmt: skip
    try:
        processes.start("worker-a", "worker")
        processes.start("worker-b", "worker")
        processes.start("projector-1", "projector")
        ports = [_start_api(processes, name) for name in ("api-a", "api-b")]
        bases = [f"http://127.0.0.1:{port}/api/v1" for port in ports]
        # the containers' health checks, run as the plain processes they would run; a
        # worker that has just started may not poll yet: asked again until it does
        for role, extra in (
            ("api", {"CLOSELOOP_API_PORT": str(ports[0])}),
            ("worker", {}),
            ("projector", {}),
        ):
            _until_healthcheck(role, {**env, **extra}, processes)
        idle = subprocess.run(
            [sys.executable, "-m", "closeloop.healthcheck", "worker"],
            env={**env, "CLOSELOOP_TASK_QUEUE": "nobody-polls-this"}, capture_output=True,
            text=True,
        )  # fmt: skip
        assert idle.returncode == 1 and "no worker polls" in idle.stderr
        # a second projector waits for the first one's lock instead of double-counting
        processes.start("projector-2", "projector")
        _until(
            lambda: "another projector holds the lock" in processes.log("projector-2"),
            "the second projector to find the lock taken",
            processes,
        )
        yield processes, bases, postgres_url
    finally:
        codes = processes.stop_all()
        assert all(code == 0 for code in codes.values()), codes


def _until(condition: Callable[[], bool], what: str, processes: Processes) -> None:
    """Until ``condition`` holds, while every process runs (a generous deadline)."""
    end = time.monotonic() + START_SECONDS
    while not condition():
        for name, process in processes.running.items():
            assert process.poll() is None, f"{name} died:\n{processes.log(name)}"
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def _start_api(processes: Processes, name: str, attempts: int = 3) -> int:
    """``closeloop api`` on a free port, answering /health; its port. A start whose port
    was taken before it was bound is tried again on another port."""
    for attempt in range(1, attempts + 1):
        (port,) = free_ports(1)
        base = f"http://127.0.0.1:{port}/api/v1"
        processes.start(name, "api", CLOSELOOP_API_PORT=str(port))
        api = processes.running[name]
        end = time.monotonic() + START_SECONDS
        while api.poll() is None and not _healthy(base):
            for other, process in processes.running.items():
                assert process.poll() is None or other == name, (
                    f"{other} died:\n{processes.log(other)}"
                )
            assert time.monotonic() < end, f"{name} did not become healthy:\n{processes.log(name)}"
            time.sleep(0.2)
        if api.poll() is None:
            return port
        processes.running.pop(name)
        if attempt == attempts:
            raise AssertionError(f"{name} exited while starting:\n{processes.log(name)}")
    raise AssertionError("not started")  # attempts < 1


def _until_healthcheck(role: str, env: dict[str, str], processes: Processes) -> None:
    """Until ``python -m closeloop.healthcheck <role>`` passes (a generous deadline)."""
    last = ""

    def passes() -> bool:
        nonlocal last
        check = subprocess.run(
            [sys.executable, "-m", "closeloop.healthcheck", role],
            env=env, capture_output=True, text=True, timeout=START_SECONDS,
        )  # fmt: skip
        last = check.stderr
        return check.returncode == 0

    try:
        _until(passes, f"the {role} health check", processes)
    except AssertionError as e:
        raise AssertionError(f"{e}; last answer: {last}") from None


async def test_burst_lands_every_event_once_and_figures_agree(
    cluster: tuple[Processes, list[str], str],
) -> None:
    processes, bases, database_url = cluster
    async with httpx.AsyncClient(timeout=60) as http:

        async def token(base: str, username: str) -> dict[str, str]:
            answer = await http.post(
                f"{base}/auth/token",
                data={"username": username, "password": demo_password(username)},
            )
            assert answer.status_code == 200, answer.text
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}

        # a token from one API process works on the other (one signing secret)
        sup = await token(bases[0], "supervisor1")
        grids = (await http.get(f"{bases[1]}/units", params={"kind": "grid"}, headers=sup)).json()
        grid = next(g["id"] for g in grids if g["name"] == "医院西路社区第一网格")
        worker = await token(bases[1], "worker1")
        caller = await token(bases[0], "caller1")

        async def file(i: int) -> str:
            body = {
                "grid_id": grid, "category": "noise", "description": f"第{i}号诉求",
                "channel": "hotline", "resident": {"name": f"居民{i}", "phone": "13800000000"},
            }  # fmt: skip
            key = {"Idempotency-Key": f"burst-{i}"}
            # the same request sent to both API processes at once: one request
            first, second = await asyncio.gather(
                http.post(f"{bases[0]}/requests", json=body, headers=key),
                http.post(f"{bases[1]}/requests", json=body, headers=key),
            )
            assert first.status_code == second.status_code == 201, (first.text, second.text)
            assert first.json()["id"] == second.json()["id"]
            rid: str = first.json()["id"]
            return rid

        ids = await asyncio.gather(*(file(i) for i in range(N)))
        assert len(set(ids)) == N

        async def act(i: int, rid: str, action: str, body: dict[str, Any] | None = None,
                      headers: dict[str, str] = worker) -> dict[str, Any]:  # fmt: skip
            answer = await http.post(
                f"{bases[i % 2]}/requests/{rid}/{action}", json=body or {}, headers=headers
            )
            assert answer.status_code == 200, (action, answer.text)
            result: dict[str, Any] = answer.json()
            return result

        yes = {"reached": True, "completion": "yes", "progress": "yes", "effect": "yes",
               "satisfaction": "yes"}  # fmt: skip
        no = {**yes, "effect": "no"}

        async def handle(i: int, rid: str) -> str:
            await act(i, rid, "accept")
            await act(i + 1, rid, "progress", {"note": "上门查看"})
            if i % 4 == 3:
                view = await act(i, rid, "escalate", {"reason": "需要支部协调"})
                assert view["level"] == "grid_branch"
                return "escalated"
            await act(i, rid, "resolve", {"resolution": "已处理"})
            if i % 4 == 2:
                view = await act(i + 1, rid, "review", no, headers=caller)
                assert view["status"] == "assigned"
                await act(i, rid, "accept")
                await act(i + 1, rid, "resolve", {"resolution": "返工完成"})
            if i % 4 == 1:
                view = await act(i, rid, "review", {"reached": False}, headers=caller)
                assert view["status"] == "resolved"
                return "attempt"
            view = await act(i, rid, "review", yes, headers=caller)
            assert view["status"] == "closed"
            return "closed"

        half = N // 2
        outcomes = list(await asyncio.gather(*(handle(i, r) for i, r in enumerate(ids[:half]))))
        # one worker stops (SIGTERM) mid-burst; the other carries on alone
        stopping = asyncio.create_task(asyncio.to_thread(processes.stop, "worker-a"))
        outcomes += await asyncio.gather(
            *(handle(i, r) for i, r in enumerate(ids[half:], start=half))
        )
        assert await stopping == 0
        expected = Counter(outcomes)

        # wait until the projector has passed every event
        store = RequestStore(env=store_env(database_url, Keyring(parse_key(KEY))))
        try:
            last = store.recorder.max_notification_id()
            end = time.monotonic() + START_SECONDS
            while True:
                health = (await http.get(f"{bases[0]}/health")).json()
                if health["projection"]["projected"] >= (last or 0):
                    break
                assert time.monotonic() < end, health
                await asyncio.sleep(0.1)
            figures = (await http.get(f"{bases[1]}/stats", headers=sup)).json()
            counted = _count_the_store(store, ids)
        finally:
            store.close()

    # every change once: no (request, command) twice, versions without gaps
    assert counted["duplicates"] == 0 and counted["gaps"] == 0
    reopened = sum(1 for i in range(N) if i % 4 == 2)
    assert counted["Filed"] == N
    assert counted["Accepted"] == N + reopened
    assert counted["ProgressNoted"] == N
    assert counted["Escalated"] == expected["escalated"]
    assert counted["Resolved"] == N - expected["escalated"] + reopened
    # the figures agree with the store
    assert figures["received"] == counted["Filed"]
    assert figures["closed"] == counted["closed"] == expected["closed"]
    assert figures["escalations"] == counted["Escalated"]
    assert figures["reviews_reached"] == counted["reached"]
    assert figures["satisfied"] == counted["satisfied"]
    assert figures["dimensions"]["effect"]["no"] == reopened
    assert figures["completion_rate"] == round(expected["closed"] / N, 4)
    # the second projector never took over while the first held the lock
    assert "another projector holds the lock" in processes.log("projector-2")
    assert "Traceback" not in processes.log("worker-a") + processes.log("worker-b")


def _count_the_store(store: RequestStore, ids: list[str]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for rid in ids:
        events = list(store.events.get(uuid.UUID(rid)))
        commands = [getattr(e, "command_id", None) for e in events]
        counted["duplicates"] += len(commands) - len(set(commands))
        versions = [e.originator_version for e in events]
        counted["gaps"] += versions != list(range(1, len(events) + 1))
        for event in events:
            kind = type(event).__name__
            counted[kind] += 1
            if kind == "Reviewed":
                data = event.data  # type: ignore[attr-defined]
                counted["reached"] += data["reached"]
                counted["satisfied"] += data["satisfaction"] in ("yes", "partly")
                counted["closed"] += data["outcome"] in ("closed", "unreachable")
    return counted
