"""Container health checks: ``python -m closeloop.healthcheck api|worker|projector|notifier``.

Exit 0 when healthy, 1 with the reason on stderr otherwise. Each checks what its process
is for: the API answers /health; a worker polls its task queue; the projector's database
answers and the read models are not falling behind; the notifier's likewise.
"""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.request

from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from closeloop.db import make_engine
from closeloop.settings import Settings
from closeloop.store import STORE_NAME
from projections.tables import TRACKING_TABLE_NAME

#: Events the read models may trail by before the projector counts as unhealthy.
MAX_LAG = 10_000


def check_api(settings: Settings) -> None:
    url = f"http://127.0.0.1:{settings.api_port}/api/v1/health"
    with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - our own loopback
        if reply.status != 200:
            raise RuntimeError(f"{url} answered {reply.status}")


async def _pollers(settings: Settings) -> int:
    # No payload is read: the client needs no key.
    client = await Client.connect(settings.target, namespace=settings.namespace)
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=settings.namespace,
            task_queue=TaskQueue(name=settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(answer.pollers)


def check_worker(settings: Settings) -> None:
    if asyncio.run(_pollers(settings)) == 0:
        raise RuntimeError(f"no worker polls the task queue {settings.task_queue}")


def check_projector(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(text(f"SELECT max(id) FROM {STORE_NAME}_events")).scalar()
            tracked = conn.execute(
                text(f"SELECT max(notification_id) FROM {TRACKING_TABLE_NAME}")
            ).scalar()
    finally:
        engine.dispose()
    lag = int(stored or 0) - int(tracked or 0)
    if lag > MAX_LAG:
        raise RuntimeError(f"the read models trail the event store by {lag} events")


def check_notifier(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(text(f"SELECT max(id) FROM {STORE_NAME}_events")).scalar()
            notified = conn.execute(text("SELECT max(position) FROM notify_positions")).scalar()
    finally:
        engine.dispose()
    lag = int(stored or 0) - int(notified or 0)
    if lag > MAX_LAG:
        raise RuntimeError(f"the notifier trails the event store by {lag} events")


CHECKS = {
    "api": check_api,
    "worker": check_worker,
    "projector": check_projector,
    "notifier": check_notifier,
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"usage: python -m closeloop.healthcheck {'|'.join(CHECKS)}", file=sys.stderr)
        return 2
    try:
        CHECKS[argv[0]](Settings.from_env())
    except Exception as e:  # noqa: BLE001 - any failure means unhealthy, with its reason
        print(f"unhealthy: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without tearing down Temporal's Rust runtime: a short-lived process that exits
    # while the runtime's threads wind down has been seen to abort (SIGABRT) under load,
    # which a container would read as unhealthy.
    os._exit(code)
