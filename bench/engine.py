"""The loop under load against the bare engine: intake, the full loop, projection lag.

The bare ceiling and closeloop's intake run in alternating rounds on the same Temporal
server, so that both see the same background load on a shared machine; their ratio is
taken over all rounds.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.client import Client

from bench.lag import LagSampler
from bench.load import Load, drive
from bench.noop import NoopLocalWorkflow, NoopWorkflow
from bench.procs import CpuMeter
from bench.stacks import Stack, sign_in

#: The demo grid whose grid worker (worker1) takes the full loop's requests.
LOOP_GRID = "医院西路社区第一网格"

_DESCRIPTIONS = ("楼上漏水，天花板泡坏了", "路灯不亮", "楼道堆物有消防隐患", "暖气不热")


def request_body(i: int, grid_id: str) -> dict[str, Any]:
    return {
        "grid_id": grid_id,
        "category": "water_leak",
        "description": f"{_DESCRIPTIONS[i % len(_DESCRIPTIONS)]}（{i}）",
        "channel": ("app", "hotline", "visit", "walk_in")[i % 4],
        "resident": {"name": "李先生", "phone": f"138{i:08d}"},
    }


@dataclass
class IntakeResult:
    ceiling: Load
    intake: Load
    ceiling_local: Load = field(default_factory=Load)  # the bare workflow, local activity
    lags: list[float] = field(default_factory=list)
    unprojected: int = 0  # events the read models had not reached when sampling ended
    sampler_interval: float = 0.0
    cpu_ms_per_bare: dict[str, float] = field(default_factory=dict)  # by process
    cpu_ms_per_intake: dict[str, float] = field(default_factory=dict)


class Bare:
    """Start-and-complete of the no-op workflow on the suite's server (``local``: the one
    whose activity is a local activity)."""

    def __init__(self, client: Client, task_queue: str, run_id: str, local: bool = False) -> None:
        self.client = client
        self.task_queue = task_queue
        self.run_id = run_id
        self.local = local

    def as_local(self) -> Bare:
        return Bare(self.client, self.task_queue, self.run_id + "-local", local=True)

    async def __call__(self, i: int) -> None:
        if self.local:
            await self.client.execute_workflow(
                NoopLocalWorkflow.run,
                i,
                id=f"bench-noop-{self.run_id}-{i}",
                task_queue=self.task_queue,
            )
            return
        await self.client.execute_workflow(
            NoopWorkflow.run, i, id=f"bench-noop-{self.run_id}-{i}", task_queue=self.task_queue
        )


async def _grids(http: httpx.AsyncClient) -> dict[str, str]:
    headers = await sign_in(http, "supervisor1")
    answer = await http.get("/units", params={"kind": "grid"}, headers=headers)
    answer.raise_for_status()
    return {unit["name"]: unit["id"] for unit in answer.json()}


async def intake_against_ceiling(
    stack: Stack,
    bare: Bare,
    *,
    count: int,
    concurrency: int,
    rounds: int,
    first: int,
    pids: dict[str, int],
) -> IntakeResult:
    """``count`` intakes (POST /requests) and ``count`` bare workflows, in alternating rounds,
    with the projection lag sampled while the intakes run."""
    async with httpx.AsyncClient(base_url=stack.base, timeout=120) as http:
        grid_ids = list((await _grids(http)).values())

        async def intake(i: int) -> None:
            answer = await http.post("/requests", json=request_body(i, grid_ids[i % len(grid_ids)]))
            if answer.status_code != 201:
                raise RuntimeError(f"POST /requests answered {answer.status_code}: {answer.text}")

        # warm-up: connections, the workers' caches, the sandbox's first imports
        await drive(bare, min(10, count), concurrency, start=first)
        await drive(bare.as_local(), min(10, count), concurrency, start=first)
        await drive(intake, min(10, count), concurrency, start=first)
        per_round = math.ceil(count / rounds)
        result = IntakeResult(Load(), Load())
        bare_cpu, intake_cpu = CpuMeter(pids), CpuMeter(pids)
        read, close = stack.positions()
        try:
            start = first + 100
            for _ in range(rounds):
                bare_cpu.start()
                result.ceiling.add(await drive(bare, per_round, concurrency, start=start))
                bare_cpu.stop()
                local = bare.as_local()
                result.ceiling_local.add(await drive(local, per_round, concurrency, start=start))
                with LagSampler(read) as sampler:
                    intake_cpu.start()
                    result.intake.add(await drive(intake, per_round, concurrency, start=start))
                    intake_cpu.stop()
                    await asyncio.to_thread(sampler.finish, 15.0)
                result.lags += sampler.lags()
                result.unprojected += sampler.unprojected
                result.sampler_interval = sampler.interval
                start += per_round
        finally:
            close()
    result.cpu_ms_per_bare = bare_cpu.per_operation_ms(result.ceiling.count)
    result.cpu_ms_per_intake = intake_cpu.per_operation_ms(result.intake.count)
    return result


@dataclass
class LoopResult:
    load: Load
    steps: dict[str, list[float]]
    cpu_ms_per_loop: dict[str, float]


async def full_loop(
    stack: Stack, *, count: int, concurrency: int, first: int, pids: dict[str, int]
) -> LoopResult:
    """``count`` requests taken through file, accept, resolve and review to closed; each
    client takes one request round the whole loop before starting the next."""
    steps: dict[str, list[float]] = {"file": [], "accept": [], "resolve": [], "review": []}
    async with httpx.AsyncClient(base_url=stack.base, timeout=120) as http:
        grid = (await _grids(http))[LOOP_GRID]
        worker = await sign_in(http, "worker1")
        caller = await sign_in(http, "caller1")
        review = {
            "reached": True,
            "completion": "yes",
            "progress": "yes",
            "effect": "partly",
            "satisfaction": "yes",
            "comment": "满意",
        }

        async def timed(
            step: str, call: Callable[[], Awaitable[httpx.Response]], expected: int
        ) -> dict[str, Any]:
            began = time.perf_counter()
            answer = await call()
            steps[step].append(time.perf_counter() - began)
            if answer.status_code != expected:
                raise RuntimeError(f"{step} answered {answer.status_code}: {answer.text}")
            body: dict[str, Any] = answer.json()
            return body

        async def loop(i: int) -> None:
            filed = await timed(
                "file", lambda: http.post("/requests", json=request_body(i, grid)), 201
            )
            rid = filed["id"]
            await timed("accept", lambda: http.post(f"/requests/{rid}/accept", headers=worker), 200)
            await timed(
                "resolve",
                lambda: http.post(
                    f"/requests/{rid}/resolve", json={"resolution": "已更换水管"}, headers=worker
                ),
                200,
            )
            closed = await timed(
                "review",
                lambda: http.post(f"/requests/{rid}/review", json=review, headers=caller),
                200,
            )
            if closed["status"] != "closed":
                raise RuntimeError(f"request {rid} is {closed['status']} after its review")

        await drive(loop, min(4, count), concurrency, start=first)  # warm-up
        for values in steps.values():
            values.clear()
        cpu = CpuMeter(pids)
        cpu.start()
        load = await drive(loop, count, concurrency, start=first + 10)
        cpu.stop()
    return LoopResult(load, steps, cpu.per_operation_ms(count))
