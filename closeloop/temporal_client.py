"""Connecting to Temporal, waiting while a freshly started server comes up.

A dev server that has just opened its port is not ready yet: for a while it answers
``Unavailable: Frontend is not healthy yet``, and its namespace may not be registered.
:func:`connect_temporal` retries until the server answers a real call, up to a deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from closeloop.keys import Keyring
from closeloop.payload_codec import data_converter

#: How long callers wait by default for a server that is starting (a busy machine is slow).
CONNECT_TIMEOUT = 120.0
#: The longest one attempt may take before it is abandoned and tried again.
_ATTEMPT_TIMEOUT = 20.0
#: Answers that mean "not ready yet, ask again" (anything else is a real refusal).
_TRANSIENT = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.NOT_FOUND,  # the namespace is not registered yet
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.ABORTED,
}


class NotReady(RuntimeError):
    """The server answered, but is not ready to serve the namespace yet."""


async def probe(target: str, namespace: str, keys: Keyring | None = None) -> Client:
    """One attempt: a client for ``namespace`` once the server passes a real health check
    (the frontend reports SERVING and describes the namespace); raises otherwise.

    With ``keys`` the client seals every payload it sends and opens the ones it reads.
    """
    call_timeout = timedelta(seconds=_ATTEMPT_TIMEOUT / 2)
    client = await Client.connect(target, namespace=namespace, data_converter=data_converter(keys))
    try:
        serving = await client.service_client.check_health(timeout=call_timeout)
    except RPCError as e:
        # A server without the gRPC health service still answers: the namespace call decides.
        if e.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        serving = True
    if not serving:
        raise NotReady(f"Temporal at {target} reports that it is not serving yet")
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), timeout=call_timeout
        )
    except RPCError as e:
        if e.status in _TRANSIENT:
            raise
        # Not allowed to describe it (PERMISSION_DENIED, ...): the server answered all the same.
    return client


def _transient(error: BaseException) -> bool:
    if isinstance(error, RPCError):
        return error.status in _TRANSIENT
    # Client.connect raises RuntimeError("Failed client connect: ...") for refused
    # connections and for a frontend that is not healthy yet.
    return isinstance(error, (RuntimeError, OSError, TimeoutError))


async def connect_temporal(
    target: str,
    namespace: str,
    timeout: float = CONNECT_TIMEOUT,
    check: Callable[[], None] | None = None,
    *,
    keys: Keyring | None = None,
) -> Client:
    """A client for ``namespace`` at ``target``, retrying until the server answers.

    Retries while the server is unreachable, starting (``Frontend is not healthy yet``) or
    has not registered the namespace, for up to ``timeout`` seconds; then raises
    :class:`TimeoutError` naming the last answer. ``check`` is called between attempts and
    may raise to give up early (e.g. when the server's process has exited). ``keys``:
    seal the payloads (every closeloop process passes them, see :mod:`closeloop.payload_codec`).
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    delay = 0.1
    attempts = 0
    while True:
        attempts += 1
        remaining = end - loop.time()
        try:
            return await asyncio.wait_for(
                probe(target, namespace, keys), timeout=max(1.0, min(_ATTEMPT_TIMEOUT, remaining))
            )
        except (RPCError, RuntimeError, OSError, TimeoutError) as e:
            if not _transient(e):
                raise
            last: BaseException = e
        if check is not None:
            check()
        if loop.time() + delay > end:
            raise TimeoutError(
                f"Temporal at {target} (namespace {namespace!r}) did not answer within "
                f"{timeout:.0f} s ({attempts} attempts); last answer: "
                f"{type(last).__name__}: {last}"
            ) from last
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
