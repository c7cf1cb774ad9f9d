"""Connecting to Temporal, waiting while a freshly started server comes up."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.service import RPCError


async def connect_temporal(target: str, namespace: str, timeout: float = 60.0) -> Client:
    """A client for ``namespace`` at ``target``; retries until the namespace answers."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        try:
            client = await Client.connect(target, namespace=namespace)
            await client.service_client.check_health()
            return client
        except (RuntimeError, RPCError, OSError) as e:
            if loop.time() > end:
                raise RuntimeError(f"Temporal at {target} did not answer: {e}") from e
            await asyncio.sleep(0.5)
