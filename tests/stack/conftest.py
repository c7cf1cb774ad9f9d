"""The whole stack in-process: real dev server, worker, projector, the FastAPI app over httpx."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api import roster
from api.app import create_app
from closeloop.bootstrap import seed_demo
from closeloop.keys import keyring
from closeloop.runtime import prepare
from closeloop.settings import Settings
from closeloop.store import RequestStore, store_env
from domain.ladder import UnitKind
from projections.runner import Projector
from workflows.worker import build_worker

ADMIN_PASSWORD = "stack-tests-passphrase"


@dataclass
class Stack:
    http: httpx.AsyncClient
    engine: Engine
    store: RequestStore
    projector: Projector
    settings: Settings
    headers: dict[str, dict[str, str]]  # username -> Authorization header
    grids: dict[str, str]  # grid name -> id
    units: dict[str, str]  # any unit name -> id

    def auth(self, username: str) -> dict[str, str]:
        return self.headers[username]

    async def file(
        self, grid: str = "医院西路社区第一网格", by: str | None = None, **overrides: Any
    ) -> dict[str, Any]:
        """File a request as a resident (the reply: the tracking view and link), or
        ``by`` a staff member (the reply: the request as they may see it)."""
        body: dict[str, Any] = {
            "grid_id": self.grids[grid],
            "category": "water_leak",
            "description": "楼上漏水，天花板泡坏了",
            "channel": "app",
            "resident": {"name": "李先生", "phone": "13800000000"},
        }
        body.update(overrides)
        headers = self.auth(by) if by else {}
        answer = await self.http.post("/api/v1/requests", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def act(
        self, username: str, request_id: str, action: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/requests/{request_id}/{action}", json=body or {}, headers=self.auth(username)
        )

    async def projected(
        self,
        request_id: str,
        until: Callable[[dict[str, Any]], bool] = lambda r: True,
        timeout: float = 90.0,
    ) -> dict[str, Any]:
        """The request as the read model shows it, once ``until`` holds (a generous
        ``timeout``: the projector is slow on a busy machine)."""
        end = asyncio.get_running_loop().time() + timeout
        while True:
            answer = await self.http.get(
                f"/api/v1/requests/{request_id}", headers=self.auth("supervisor1")
            )
            if answer.status_code == 200 and until(answer.json()):
                result: dict[str, Any] = answer.json()
                return result
            if asyncio.get_running_loop().time() > end:
                raise AssertionError(f"not projected in time: {answer.status_code} {answer.text}")
            await asyncio.sleep(0.05)


StackFactory = Callable[..., Awaitable[Stack]]


@pytest_asyncio.fixture
async def make_stack(
    temporal_env: WorkflowEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    executor: ThreadPoolExecutor,
) -> AsyncIterator[StackFactory]:
    """Builds a stack on a fresh data folder with the demo town; ``day_seconds`` is settable.

    Everything a stack starts is stopped after the test, last started first, each part
    even when stopping another failed (and also when building the stack failed halfway):
    the worker is shut down and awaited before the test's event loop and the session's
    server go away.
    """
    async with AsyncExitStack() as started:

        async def build(day_seconds: float = 3600.0, self_review_hours: float = 0.0) -> Stack:
            monkeypatch.setenv("CLOSELOOP_DATA_DIR", str(tmp_path))
            monkeypatch.setenv("CLOSELOOP_DAY_SECONDS", str(day_seconds))
            # 0: resolved requests wait for a caller at once (the self-review tests open it)
            monkeypatch.setenv("CLOSELOOP_SELF_REVIEW_HOURS", str(self_review_hours))
            monkeypatch.setenv("CLOSELOOP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            monkeypatch.setenv("CLOSELOOP_TASK_QUEUE", f"stack-{uuid.uuid4()}")
            monkeypatch.setenv("CLOSELOOP_POLL_SECONDS", "0.05")
            monkeypatch.delenv("CLOSELOOP_DATABASE_URL", raising=False)
            settings = Settings.from_env()
            engine = prepare(settings)
            started.callback(engine.dispose)
            from closeloop.bootstrap import ensure_admin

            ensure_admin(engine, settings)
            passwords = seed_demo(engine) or {}
            passwords["admin"] = ADMIN_PASSWORD
            keys = keyring(settings)  # the events are sealed, as `closeloop dev` seals them
            store = RequestStore(env=store_env(settings.database_url, keys))
            started.callback(store.close)
            worker = build_worker(temporal_env.client, settings.task_queue, store, executor)
            worker_task = asyncio.create_task(worker.run())
            started.push_async_callback(_stop_worker, worker, worker_task)
            projector = Projector(
                settings.database_url, poll_seconds=settings.poll_seconds, sealer=keys, keys=keys
            )
            projector.start()
            started.push_async_callback(asyncio.to_thread, projector.close)
            app = create_app(settings, engine, temporal=temporal_env.client)
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://closeloop.test"
            )
            started.push_async_callback(http.aclose)
            headers = {}
            for username, password in passwords.items():
                answer = await http.post(
                    "/api/v1/auth/token", data={"username": username, "password": password}
                )
                assert answer.status_code == 200, answer.text
                headers[username] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            units = {u.name: u.id for u in roster.list_units(db=engine)}
            grids = {u.name: u.id for u in roster.list_units(db=engine, kind=UnitKind.GRID)}
            return Stack(http, engine, store, projector, settings, headers, grids, units)

        yield build


async def _stop_worker(worker: Worker, running: asyncio.Task[None]) -> None:
    """Shut the worker down gracefully and wait until it has stopped (its failure, if it
    failed, is raised here)."""
    if not running.done():
        await worker.shutdown()
    await running
