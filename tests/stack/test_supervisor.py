"""`closeloop dev` supervises its parts: one that fails is started again with back-off and
never takes the others down; Ctrl-C / SIGTERM still stops everything, promptly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from closeloop.runtime import supervise
from closeloop.store import RequestStore, store_env
from closeloop.temporal_server import free_ports
from domain.ladder import Tier
from domain.state import Intake, RequestState


async def _until(condition: object, timeout: float = 60.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < end, "timed out"
        await asyncio.sleep(0.01)


def _pauses_said(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    """The pauses the supervisor announced for ``name``, in order ("0.2", "0.4", ...)."""
    return [
        r.getMessage().rsplit(" in ", 1)[1].removesuffix(" s")
        for r in caplog.records
        if r.getMessage().startswith(f"{name} ") and "starting it again in" in r.getMessage()
    ]


# Only lower bounds on time: a busy machine makes pauses longer, never shorter.


async def test_a_failing_part_is_restarted_with_back_off_and_the_others_keep_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    starts: dict[str, list[float]] = {"flaky": [], "steady": []}
    failures: list[float] = []

    async def flaky() -> None:
        starts["flaky"].append(loop.time())
        if len(starts["flaky"]) <= 4:
            await asyncio.sleep(0.01)
            failures.append(loop.time())
            raise RuntimeError(f"flaky failure {len(starts['flaky'])}")
        await stop.wait()

    async def steady() -> None:
        starts["steady"].append(loop.time())
        await stop.wait()

    parts = [
        asyncio.create_task(supervise("flaky", flaky, stop, first=0.2, longest=0.6)),
        asyncio.create_task(supervise("steady", steady, stop, first=0.2)),
    ]
    await _until(lambda: len(starts["flaky"]) == 5)
    # pauses of 0.2, 0.4, then 0.6 and 0.6 (doubling, capped: not 0.8, 1.6) between a
    # failure and the restart
    assert _pauses_said(caplog, "flaky") == ["0.2", "0.4", "0.6", "0.6"]
    pauses = [start - failed for failed, start in zip(failures, starts["flaky"][1:], strict=True)]
    for pause, expected in zip(pauses, (0.2, 0.4, 0.6, 0.6), strict=True):
        assert pause >= expected - 0.01, pauses
    # the steady part was never touched
    assert len(starts["steady"]) == 1 and not parts[1].done()
    assert "flaky failed; starting it again in 0.2 s" in caplog.text
    assert "RuntimeError: flaky failure 1" in caplog.text

    stop.set()
    restarts = await asyncio.wait_for(asyncio.gather(*parts), timeout=30)
    assert restarts == [4, 0]


async def test_the_back_off_starts_over_after_a_long_run_and_a_return_counts_as_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    runs: list[tuple[float, float]] = []

    async def part() -> None:
        started = loop.time()
        # the first two runs fail at once; the third runs longer than reset_after
        await asyncio.sleep(0.6 if len(runs) == 2 else 0.0)
        runs.append((started, loop.time()))
        if len(runs) == 4:
            await stop.wait()
        # returning before stop is a failure too

    task = asyncio.create_task(supervise("part", part, stop, first=0.2, reset_after=0.5))
    await _until(lambda: len(runs) == 4)
    # the first pause, doubled, then the first again (the third run lasted), not 0.8
    assert _pauses_said(caplog, "part") == ["0.2", "0.4", "0.2"]
    assert "part stopped on its own; starting it again in 0.2 s" in caplog.text
    pauses = [runs[i + 1][0] - runs[i][1] for i in range(3)]
    assert pauses[0] >= 0.19 and pauses[1] >= 0.39 and pauses[2] >= 0.19, pauses
    stop.set()
    assert await asyncio.wait_for(task, timeout=30) == 3


async def test_stop_ends_a_back_off_at_once() -> None:
    stop = asyncio.Event()
    started: list[float] = []

    async def failing() -> None:
        started.append(time.monotonic())
        raise RuntimeError("down")

    # a pause of an hour: only the stop can end it within the test's time
    task = asyncio.create_task(supervise("part", failing, stop, first=3600))
    await _until(lambda: started)
    stop.set()
    assert await asyncio.wait_for(task, timeout=60) == 0


# ---- the real `closeloop dev`, with the API's port taken -------------------------------


def _wait(condition: object, timeout: float, what: str, process: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert process.poll() is None, f"closeloop dev exited while waiting for {what}"
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_dev_keeps_the_worker_and_projector_while_the_api_cannot_start(tmp_path: Path) -> None:
    api_port, temporal_port, ui_port = free_ports(3)
    env = {
        **os.environ,
        "CLOSELOOP_DATA_DIR": str(tmp_path),
        "CLOSELOOP_API_PORT": str(api_port),
        "CLOSELOOP_TEMPORAL_PORT": str(temporal_port),
        "CLOSELOOP_TEMPORAL_UI_PORT": str(ui_port),
        "CLOSELOOP_ADMIN_PASSWORD": "supervisor-tests-pw",
        "CLOSELOOP_SEED_DEMO": "0",
        "CLOSELOOP_POLL_SECONDS": "0.1",
        "CLOSELOOP_TASK_QUEUE": f"supervised-{uuid.uuid4()}",
    }
    env.pop("CLOSELOOP_DATABASE_URL", None)
    env.pop("CLOSELOOP_TEMPORAL_ADDRESS", None)
    database_url = f"sqlite:///{tmp_path / 'closeloop.db'}"
    base = f"http://127.0.0.1:{api_port}/api/v1"
    log_file = tmp_path / "dev.log"

    squatter = socket.socket()  # holds the API's port: the API cannot start
    squatter.bind(("127.0.0.1", api_port))
    squatter.listen()
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "closeloop.cli", "dev"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait(
            lambda: "api failed; starting it again" in log_file.read_text(),
            90,
            "the API's failure to be logged",
            process,
        )
        # the worker polls its task queue ...
        check = subprocess.run(
            [sys.executable, "-m", "closeloop.healthcheck", "worker"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert check.returncode == 0, check.stderr
        # ... and the projector projects
        store = RequestStore(env=store_env(database_url))
        request_id = str(uuid.uuid4())
        intake = Intake(
            request_id, "g1", "c1", "t1", "water_leak", "leak", "app", "Li", "138", Tier.D1
        )
        filed = RequestState.decide_file(intake, datetime.now(UTC), "intake", 86400)
        assert store.record(uuid.UUID(request_id), "supervised-1", filed)
        store.close()
        engine = create_engine(database_url)

        def projected() -> bool:
            with engine.connect() as conn:
                found = conn.execute(
                    text("SELECT count(*) FROM view_requests WHERE id = :id"), {"id": request_id}
                ).scalar_one()
            return bool(found)

        _wait(projected, 60, "the projector", process)
        engine.dispose()

        squatter.close()  # the port is free again: the API comes up at its next start
        _wait(lambda: _healthy(base), 60, "the API to come up", process)
        text_log = log_file.read_text()
        assert "starting api again" in text_log
        assert "worker failed" not in text_log and "projector failed" not in text_log
    finally:
        squatter.close()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert code == 0, log_file.read_text()
    assert "closeloop stopped" in log_file.read_text()
