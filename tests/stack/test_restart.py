"""Stop the whole stack (`closeloop dev`) mid-escalation, start it again on the same data folder:
the request keeps its history and escalates on time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from closeloop.bootstrap import demo_password
from closeloop.temporal_server import free_ports

DAY = 2.0  # seconds: 1d = 2 s, 3d = 6 s


#: Generous deadlines: the CI machine is shared and sometimes busy.
START_SECONDS = 180.0
STOP_SECONDS = 90.0
WAIT_SECONDS = 180.0


class Dev:
    """``closeloop dev`` as a user runs it, in its own process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env: dict[str, str] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []
        self.base = ""
        self._tokens: dict[str, dict[str, str]] = {}

    @property
    def log(self) -> Path:
        return self.logs[-1]

    def start(self, attempts: int = 3) -> None:
        """Start on free ports and wait until it answers; a start that fails (a chosen port
        was taken before it was bound) is tried again on other ports."""
        for attempt in range(1, attempts + 1):
            api_port, temporal_port, ui_port = free_ports(3)
            self.env = {
                **os.environ,
                "CLOSELOOP_DATA_DIR": str(self.data_dir),
                "CLOSELOOP_API_PORT": str(api_port),
                "CLOSELOOP_TEMPORAL_PORT": str(temporal_port),
                "CLOSELOOP_TEMPORAL_UI_PORT": str(ui_port),
                "CLOSELOOP_DAY_SECONDS": str(DAY),
                "CLOSELOOP_ADMIN_PASSWORD": "restart-tests-pw",
                "CLOSELOOP_POLL_SECONDS": "0.1",
            }
            self.env.pop("CLOSELOOP_DATABASE_URL", None)
            self.env.pop("CLOSELOOP_TEMPORAL_ADDRESS", None)
            self.base = f"http://127.0.0.1:{api_port}/api/v1"
            self.logs.append(self.data_dir / f"dev-{api_port}.log")
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("wb") as out:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "closeloop.cli", "dev"],
                    env=self.env, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            failure = self._until_healthy()
            if failure is None:
                return
            self.stop()
            if attempt == attempts:
                raise AssertionError(f"closeloop dev did not come up ({failure}):\n{self.text()}")

    def _until_healthy(self) -> str | None:
        """None once /health answers 200; otherwise why the start failed."""
        assert self.process is not None
        end = time.monotonic() + START_SECONDS
        while time.monotonic() < end:
            if self.process.poll() is not None:
                return f"exited with {self.process.returncode}"
            if "could not start" in self.log.read_text(errors="replace"):
                return "the API could not start (its port was taken?)"
            try:
                if httpx.get(f"{self.base}/health", timeout=10).status_code == 200:
                    return None
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        return f"no healthy answer in {START_SECONDS:.0f} s"

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("closeloop dev did not stop on SIGTERM:\n" + self.text()) from None

    def text(self) -> str:
        """Everything it logged, over all its starts."""
        return "".join(log.read_text(errors="replace") for log in self.logs if log.exists())

    def token(self, username: str) -> dict[str, str]:
        """Signed in once per start (each sign-in costs the server an argon2 check, and the
        waits below read the request every 0.2 s)."""
        if username not in self._tokens:
            answer = httpx.post(
                f"{self.base}/auth/token",
                data={"username": username, "password": demo_password(username)},
                timeout=60,
            )
            self._tokens[username] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return self._tokens[username]

    def request(self, request_id: str) -> dict[str, Any]:
        answer = httpx.get(
            f"{self.base}/requests/{request_id}", headers=self.token("supervisor1"), timeout=60
        )
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
                          headers=first.token("supervisor1"), timeout=60).json()  # fmt: skip
        grid = next(g for g in grids if g["name"] == "医院西路社区第一网格")
        filed = httpx.post(f"{first.base}/requests", json={
            "grid_id": grid["id"], "category": "water_leak", "description": "楼上漏水",
            "channel": "app", "resident": {"name": "李先生", "phone": "13800000000"},
        }, timeout=60).json()  # fmt: skip
        rid = filed["id"]
        # the 1d deadline passes: up to the grid branch (3d)
        view = _wait(lambda: (v := first.request(rid)) and v.get("tier") == "3d" and v,
                     WAIT_SECONDS, "the first escalation")  # fmt: skip
    finally:
        assert first.stop() == 0
    assert "closeloop stopped" in first.text()

    # The stack stays down until the 3d deadline has passed: the timer comes due while
    # nothing runs, and fires once the stack is back.
    entered_3d = datetime.fromisoformat(_moves(view)[1]["at"])
    while datetime.now(UTC) < entered_3d + timedelta(seconds=3 * DAY):
        time.sleep(0.2)

    second = Dev(tmp_path / "data")
    second.start()
    try:
        view = _wait(lambda: (v := second.request(rid)) and v["tier"] == "5d" and v,
                     WAIT_SECONDS, "the escalation after restart")  # fmt: skip
    finally:
        assert second.stop() == 0
    types = [e["type"] for e in _moves(view)]
    assert types == ["Filed", "Escalated", "Escalated"]
    assert view["level"] == "community_committee" and view["escalations"] == 2
    assert datetime.fromisoformat(_moves(view)[1]["at"]) == entered_3d
    entered_5d = datetime.fromisoformat(_moves(view)[2]["at"])
    # not before the 3d deadline (how long after it depends only on how busy the machine is)
    assert entered_5d >= entered_3d + timedelta(seconds=3 * DAY), (entered_3d, entered_5d)
    # the demo town and the admin were made once, not again on the second start
    assert "seeded" in first.text()
    assert "seeded" not in second.text()


def _moves(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The timeline without its warnings (预警), which come or not as the machine's load
    lets the warning timer fire before the deadline's."""
    return [e for e in view["timeline"] if e["type"] != "Warned"]
