"""Process wiring: the pieces each ``closeloop`` command runs, and their clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import uvicorn
from eventsourcing.projection import ProjectionRunner
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import Engine, text
from temporalio.client import Client

from api.app import create_app
from closeloop.bootstrap import ensure_admin, seed_demo, wants_demo
from closeloop.db import make_engine
from closeloop.files import private_dir, private_file, private_sqlite, sqlite_path
from closeloop.keys import Keyring, keyring
from closeloop.projector_lock import projector_lock
from closeloop.schema import migrate
from closeloop.settings import Settings
from closeloop.store import RequestStore, store_env
from closeloop.temporal_client import connect_temporal
from closeloop.temporal_server import DevServer
from closeloop.workcalendar import Deadlines, post_rule
from domain.performance import PostRule
from projections.projection import RequestProjection
from projections.runner import Projector
from projections.views import RequestViews
from workflows.worker import ACTIVITY_THREADS, build_worker

log = logging.getLogger("closeloop")


def prepare(settings: Settings) -> Engine:
    """The data folder and every table (event store, read models, roster) exist after this;
    the folder is 0700 and a SQLite database 0600 (see :mod:`closeloop.files`)."""
    if settings.is_sqlite:
        private_dir(settings.data_dir)
        database = sqlite_path(settings.database_url)
        if database is not None:
            private_dir(database.parent)
            private_sqlite(database)
    engine = make_engine(settings.database_url)
    migrate(engine)
    RequestStore(env=store_env(settings.database_url, keyring(settings))).close()  # the table
    return engine


def bootstrap(engine: Engine, settings: Settings, seed: bool) -> None:
    """The first admin, and the demo town when asked; prints passwords it made up."""
    generated = ensure_admin(engine, settings)
    if generated:
        print(f"\n  created user 'admin' with password: {generated}\n  (shown once)\n", flush=True)
    if seed:
        demo = seed_demo(engine)
        if demo:
            print("\n  demo town 城关镇 seeded; log-ins:", flush=True)
            for username, password in demo.items():
                print(f"    {username:<12} {password}", flush=True)
            print(flush=True)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: closeloop stops it in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def serve_api(
    settings: Settings, engine: Engine, client: Client, stop: asyncio.Event
) -> None:
    app = create_app(settings, engine, temporal=client)
    server = _Server(
        # Open event streams (the pages' live updates) would hold shutdown up for their
        # whole 20 s; the pages reconnect on their own.
        uvicorn.Config(
            app,
            host=settings.api_host,
            port=settings.api_port,
            log_level="info",
            timeout_graceful_shutdown=3,
            # Log-in throttling counts by client address: only a configured proxy may name
            # it (X-Forwarded-For); without one, no header can make a client someone else.
            proxy_headers=settings.trusted_proxies is not None,
            forwarded_allow_ips=settings.trusted_proxies or "",
        )
    )
    task = asyncio.create_task(_serve(server))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await task
    stopper.cancel()
    if task in done and not stop.is_set():
        raise RuntimeError("the API server stopped on its own (is the port in use?)")


async def _serve(server: uvicorn.Server) -> None:
    """uvicorn ends the process (SystemExit, through the event loop) when it cannot start,
    e.g. when the port is in use: here that is a failure of the API alone."""
    try:
        await server.serve()
    except SystemExit as exit_:
        raise RuntimeError(f"the API server could not start (exit status {exit_.code})") from None


async def run_worker(settings: Settings, client: Client, stop: asyncio.Event) -> None:
    """Run workflows and activities until ``stop``; in-flight activities get a grace period."""
    store = RequestStore(env=store_env(settings.database_url, keyring(settings)))
    # working-day deadlines read the admins' calendar (closeloop.workcalendar)
    engine = make_engine(settings.database_url)
    deadlines = Deadlines(engine, settings)
    try:
        with ThreadPoolExecutor(ACTIVITY_THREADS, thread_name_prefix="activity") as pool:
            worker = build_worker(client, settings.task_queue, store, pool, due=deadlines.due)
            task = asyncio.create_task(worker.run())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not task.done():
                await worker.shutdown()
            await task
    finally:
        store.close()
        engine.dispose()


async def run_projector(settings: Settings, stop: asyncio.Event) -> None:
    """Keep the read models current until ``stop``, holding the one-projector lock.

    On SQLite the projector polls the notification log; on PostgreSQL eventsourcing's
    ProjectionRunner follows it with LISTEN/NOTIFY. Both run the same projection.
    """
    async with projector_lock(settings.database_url, settings.data_dir, stop) as held:
        if not held:
            return
        keys = keyring(settings)  # the store's events and the views' sealed contacts
        # the response window and months of the posts' figures (the calendar is read
        # through an engine of its own)
        rule = post_rule(settings, make_engine(settings.database_url))
        if settings.is_sqlite:
            projector = Projector(
                settings.database_url,
                poll_seconds=settings.poll_seconds,
                sealer=keys,
                keys=keys,
                posts_rule=rule,
            )
            projector.start()
            try:
                await stop.wait()
            finally:
                await asyncio.to_thread(projector.close)
        else:
            await asyncio.to_thread(
                _follow_with_subscription, settings.database_url, stop, keys, rule
            )


async def run_notifier(settings: Settings, stop: asyncio.Event) -> None:
    """Tell people what happened until ``stop``: the notifier follows the event log and
    writes the inbox and the outbox; the sender delivers the outbox (SMS, webhooks).
    Several may run at once: the notifier's position and the sender's claims keep each
    message written and sent once."""
    from notify.channels import build_channels, policy_of
    from notify.notifier import Notifier
    from notify.sender import Sender

    keys = keyring(settings)
    engine = make_engine(settings.database_url)
    notifier = Notifier(settings.database_url, keys, engine=engine)
    sender = Sender(
        engine,
        build_channels(engine, keys, settings),
        keys,
        policy_of(settings),
        poll_seconds=min(settings.poll_seconds * 2.5, 1.0),
    )
    notifier.start()
    sender.start()
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(sender.stop)
        await asyncio.to_thread(notifier.close)
        engine.dispose()


#: A part of ``closeloop dev`` that fails is started again after this pause, doubling
#: with each failure up to the longest; a part that ran this long starts with the first.
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
RESTART_RESET_SECONDS = 60.0


def _follow_with_subscription(
    database_url: str,
    stop: asyncio.Event,
    keys: Keyring,
    rule: PostRule | None = None,
    *,
    retry_seconds: float = RESTART_FIRST_SECONDS,
) -> None:
    """Follow the log with eventsourcing's ProjectionRunner until ``stop`` is set; ``keys``
    open the store's sealed events and seal the views' contacts.

    An event the projection fails on is quarantined by :class:`RequestProjection` and the
    runner goes on. When the runner stops on a passing failure (the database went away,
    the position moved), it is started again from the tracked position, after a pause
    that doubles up to ``RESTART_MAX_SECONDS``.
    """
    pause = retry_seconds
    while not stop.is_set():
        started = time.monotonic()
        try:
            runner = ProjectionRunner(
                application_class=RequestStore,
                projection_class=RequestProjection,
                view_class=RequestViews.sealing_with(keys, rule),
                env=store_env(database_url, keys),
            )
            with runner:
                # The runner's thread processes each event in its own transaction;
                # stopping lets the event in hand commit (or roll back) before it ends.
                wake = _Wake(runner)
                while not stop.is_set():
                    runner.run_forever(timeout=0.5)
                    if runner.is_interrupted.is_set():
                        raise RuntimeError("the projection runner stopped by itself")
                    wake()
            return
        except Exception:
            if time.monotonic() - started >= RESTART_RESET_SECONDS:
                pause = retry_seconds
            log.exception("following the event store failed; starting again in %.0f s", pause)
        deadline = time.monotonic() + pause
        while not stop.is_set() and time.monotonic() < deadline:
            time.sleep(min(0.1, pause))
        pause = min(pause * 2, RESTART_MAX_SECONDS)


class _Wake:
    """Wakes a PostgreSQL subscription that missed the announcement of new events.

    eventsourcing's subscription first selects what is recorded, then starts LISTENing in
    another thread: events recorded between the two are never announced to it, and it
    would wait for the next event to be written (on a quiet system, for a long time). Called
    every half second, this sends the log's channel a NOTIFY when the views' position has
    stayed behind the log's last event for two calls in a row; the subscription then
    selects what it missed. Each call costs two indexed reads.
    """

    def __init__(self, runner: ProjectionRunner[RequestStore, RequestViews]):
        self.runner = runner
        self.behind_at: int | None = None

    def __call__(self) -> None:
        runner = self.runner
        recorder = runner.app.recorder
        if not isinstance(recorder, SQLAlchemyApplicationRecorder):
            return
        engine = recorder.datastore.engine
        if not isinstance(engine, Engine) or engine.dialect.name != "postgresql":
            return
        position = runner.view.max_tracking_id(runner.app.name) or 0
        if (recorder.max_notification_id() or 0) <= position:
            self.behind_at = None
            return
        if self.behind_at != position:  # behind, but maybe only for now: look again
            self.behind_at = position
            return
        log.warning("the projector missed new events after %d; waking it", position)
        with engine.connect() as conn:  # the channel is named after the events' table
            conn.execute(text(f"NOTIFY {recorder.channel_name}"))
            conn.commit()
        self.behind_at = None


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    first: float = RESTART_FIRST_SECONDS,
    longest: float = RESTART_MAX_SECONDS,
    reset_after: float = RESTART_RESET_SECONDS,
) -> int:
    """Run the part ``run()`` until ``stop`` is set, starting it again whenever it fails.

    A failure (or a return before ``stop``) is logged, and the part is started again after
    a pause: ``first`` seconds, doubling to ``longest``, back to ``first`` once it has run
    ``reset_after`` seconds. Setting ``stop`` ends the pause at once. The other parts are
    never touched. Returns how many times the part was started again.
    """
    loop = asyncio.get_running_loop()
    pause = first
    restarts = 0
    while True:
        started = loop.time()
        error: Exception | None = None
        try:
            await run()
        except Exception as e:
            error = e
        if stop.is_set():
            if error is not None:
                log.error("%s failed while stopping", name, exc_info=error)
            return restarts
        if loop.time() - started >= reset_after:
            pause = first
        log.error(
            "%s %s; starting it again in %.1f s",
            name,
            "failed" if error is not None else "stopped on its own",
            pause,
            exc_info=error,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
        if stop.is_set():
            return restarts
        pause = min(pause * 2, longest)
        restarts += 1
        log.info("starting %s again (restart %d)", name, restarts)


async def dev(settings: Settings) -> None:
    """The whole stack in one process: dev server, worker, projector and API."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    server: DevServer | None = None
    if settings.temporal_address is None:
        private_dir(settings.data_dir)
        # Temporal's own database holds the workflows' (sealed) payloads; its log is ours.
        private_sqlite(settings.data_dir / "temporal.db", create=False)
        private_file(settings.data_dir / "temporal.log")
        server = DevServer(
            db_file=settings.data_dir / "temporal.db",
            port=settings.temporal_port,
            ui_port=settings.temporal_ui_port,
            log_file=settings.data_dir / "temporal.log",
        )
        server.start()
    try:
        if server is not None:
            await server.wait_ready()
        client = await connect_temporal(settings.target, settings.namespace, keys=keyring(settings))
        engine = prepare(settings)
        bootstrap(engine, settings, seed=wants_demo(settings.seed_demo, development=True))
        print(
            f"closeloop is up: API http://{settings.api_host}:{settings.api_port}/docs"
            + (f", Temporal UI http://127.0.0.1:{settings.temporal_ui_port}" if server else ""),
            flush=True,
        )
        # Each part is supervised on its own: one that fails is logged and started again
        # with back-off while the others go on; only ``stop`` (Ctrl-C, SIGTERM) ends them.
        runs: dict[str, Callable[[], Awaitable[None]]] = {
            "worker": lambda: run_worker(settings, client, stop),
            "projector": lambda: run_projector(settings, stop),
            "api": lambda: serve_api(settings, engine, client, stop),
        }
        if settings.notify:
            runs["notifier"] = lambda: run_notifier(settings, stop)
        parts = [
            asyncio.create_task(supervise(name, run, stop), name=name) for name, run in runs.items()
        ]
        try:
            await asyncio.gather(*parts)
        finally:
            stop.set()
            results = await asyncio.gather(*parts, return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
    print("closeloop stopped", flush=True)
