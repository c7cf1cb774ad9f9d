"""Stop the whole stack (`closeloop dev`) mid-escalation, start it again on the same data folder:
the request keeps its history and escalates on time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

DAY = 2.0  # seconds: 1d = 2 s, 3d = 6 s


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Dev:
    """``closeloop dev`` as a user runs it, in its own process."""

    def __init__(self, data_dir: Path) -> None:
        self.api_port = _free_port()
        self.env = {
            **os.environ,
            "CLOSELOOP_DATA_DIR": str(data_dir),
            "CLOSELOOP_API_PORT": str(self.api_port),
            "CLOSELOOP_TEMPORAL_PORT": str(_free_port()),
            "CLOSELOOP_TEMPORAL_UI_PORT": str(_free_port()),
            "CLOSELOOP_DAY_SECONDS": str(DAY),
            "CLOSELOOP_ADMIN_PASSWORD": "restart-admin-pw",
            "CLOSELOOP_POLL_SECONDS": "0.1",
        }
        self.env.pop("CLOSELOOP_DATABASE_URL", None)
        self.env.pop("CLOSELOOP_TEMPORAL_ADDRESS", None)
        self.log = data_dir / f"dev-{self.api_port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.api_port}/api/v1"

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "closeloop.cli", "dev"],
                env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        end = time.monotonic() + 60
        while time.monotonic() < end:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("closeloop dev did not come up:\n" + self.log.read_text())

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def token(self, username: str) -> dict[str, str]:
        answer = httpx.post(
            f"{self.base}/auth/token",
            data={"username": username, "password": f"demo-{username}"},
        )
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def request(self, request_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.base}/requests/{request_id}", headers=self.token("supervisor1"))
        if answer.status_code != 200:
            return {}
        result: dict[str, Any] = answer.json()
        return result


def _wait(pred: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_restart_mid_escalation_keeps_history_and_timers(tmp_path: Path) -> None:
    first = Dev(tmp_path / "data")
    first.start()
    try:
        grids = httpx.get(f"{first.base}/units", params={"kind": "grid"},
                          headers=first.token("supervisor1")).json()  # fmt: skip
        grid = next(g for g in grids if g["name"] == "医院西路社区第一网格")
        filed = httpx.post(f"{first.base}/requests", json={
            "grid_id": grid["id"], "category": "water_leak", "description": "楼上漏水",
            "channel": "app", "resident": {"name": "李先生", "phone": "13800000000"},
        }).json()  # fmt: skip
        rid = filed["id"]
        # the 1d deadline passes: up to the grid branch (3d)
        _wait(lambda: first.request(rid).get("tier") == "3d", 20, "the first escalation")
    finally:
        assert first.stop() == 0
    log = first.log.read_text()
    assert "closeloop stopped" in log

    time.sleep(1.0)  # the stack is down for a while; the 3d timer keeps counting

    second = Dev(tmp_path / "data")
    second.start()
    try:
        view = _wait(lambda: (v := second.request(rid)) and v["tier"] == "5d" and v, 30,
                     "the escalation after restart")  # fmt: skip
    finally:
        assert second.stop() == 0
    types = [e["type"] for e in view["timeline"]]
    assert types == ["Filed", "Escalated", "Escalated"]
    assert view["level"] == "community_committee" and view["escalations"] == 2
    entered_3d = datetime.fromisoformat(view["timeline"][1]["at"])
    entered_5d = datetime.fromisoformat(view["timeline"][2]["at"])
    waited = (entered_5d - entered_3d).total_seconds()
    # on time: not before the 3d deadline, and not long after it
    assert 3 * DAY <= waited < 3 * DAY + 10, waited
    # the demo town and the admin were made once, not again on the second start
    assert "seeded" in first.log.read_text()
    assert "seeded" not in second.log.read_text()
