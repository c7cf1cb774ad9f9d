"""The worker: runs ``RequestWorkflow`` and the store activity on one task queue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from closeloop.store import RequestStore
from domain.ladder import Tier
from workflows.activities import DeadlineActivities, LinkActivities, StoreActivities
from workflows.request import RequestWorkflow

#: Activities still running at shutdown get this long to finish before they are cancelled
#: (and then retried by another worker: they are idempotent).
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
ACTIVITY_THREADS = 8


def build_worker(
    client: Client,
    task_queue: str,
    store: RequestStore,
    executor: ThreadPoolExecutor,
    activity_threads: int = ACTIVITY_THREADS,
    interceptors: Sequence[Interceptor] = (),
    due: Callable[[Tier, datetime], datetime] | None = None,
) -> Worker:
    """A worker for ``task_queue``; activities append through ``store`` in ``executor``;
    ``due`` computes working-day deadlines (None: calendar days)."""
    activities = StoreActivities(store)
    deadlines = DeadlineActivities(due)
    links = LinkActivities(client)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[RequestWorkflow],
        activities=[
            activities.settle_change,
            activities.record_change,
            deadlines.deadlines,
            links.link_duplicate,
        ],
        activity_executor=executor,
        max_concurrent_activities=activity_threads,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        interceptors=interceptors,
    )
