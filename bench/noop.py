"""The bare engine: a workflow that runs one no-op activity and completes (and the same
with a local activity).

``python -m bench.noop ADDRESS TASK_QUEUE`` runs its worker in a process of its own, as
``closeloop`` runs its worker beside the API: the ceiling and the real stack then differ
only in what closeloop adds.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn(name="bench_noop")
async def noop_activity(value: int) -> int:
    return value


@workflow.defn(name="BenchNoop")
class NoopWorkflow:
    @workflow.run
    async def run(self, value: int) -> int:
        result: int = await workflow.execute_activity(
            noop_activity, value, start_to_close_timeout=timedelta(seconds=30)
        )
        return result


@workflow.defn(name="BenchNoopLocal")
class NoopLocalWorkflow:
    """The same with a local activity, as closeloop's workflow records its changes."""

    @workflow.run
    async def run(self, value: int) -> int:
        result: int = await workflow.execute_local_activity(
            noop_activity, value, start_to_close_timeout=timedelta(seconds=30)
        )
        return result


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[NoopWorkflow, NoopLocalWorkflow],
        activities=[noop_activity],
    )
    async with worker:
        print("noop worker up", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
