"""The ``closeloop`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime

from sqlalchemy import Engine

from closeloop.keys import keyring, refusals
from closeloop.settings import Settings, SettingsError


def _rebuild(settings: Settings) -> int:
    from closeloop.runtime import prepare
    from projections.rebuild import rebuild

    prepare(settings)
    # Ctrl-C (or SIGTERM) stops after the batch in hand: it commits, the indexes are
    # built, and the projector carries on from there. A second Ctrl-C stops at once.
    stop = threading.Event()

    def stop_soon(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        sys.stdout.write("\n  stopping after this batch (Ctrl-C again to stop now)\n")
        sys.stdout.flush()

    signal.signal(signal.SIGINT, stop_soon)
    signal.signal(signal.SIGTERM, stop_soon)

    def progress(done: int, total: int) -> None:
        width = 40
        filled = width * done // total if total else width
        percent = 100 * done // total if total else 100
        sys.stdout.write(
            f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} events ({percent}%)"
        )
        sys.stdout.flush()

    keys = keyring(settings)  # the store's events and the views' sealed contacts
    from closeloop.db import make_engine
    from closeloop.workcalendar import post_rule

    rule = post_rule(settings, make_engine(settings.database_url))
    count = rebuild(
        settings.database_url,
        progress=progress,
        stop=stop,
        keys=keys,
        sealer=keys,
        posts_rule=rule,
    )
    if stop.is_set():
        print(
            f"\nstopped after {count} events: the read models are behind the store; the "
            "projector (or another rebuild) carries on from there"
        )
        return 130
    print(f"\nrebuilt the read models from {count} events")
    return 0


async def _api(settings: Settings) -> None:
    from temporalio.client import Client

    from closeloop.payload_codec import data_converter
    from closeloop.runtime import prepare, serve_api, stop_on_signals
    from closeloop.temporal_client import connect_temporal

    stop = asyncio.Event()
    stop_on_signals(stop)
    engine = prepare(settings)
    keys = keyring(settings)
    try:
        client = await connect_temporal(settings.target, settings.namespace, timeout=5, keys=keys)
    except (RuntimeError, TimeoutError) as e:
        # Reads come from the read models: serve them while Temporal is away. The client
        # connects on first use; commands answer 503 until Temporal answers.
        logging.getLogger("closeloop").warning(
            "Temporal at %s does not answer (%s); serving reads, commands answer 503 until it does",
            settings.target,
            e,
        )
        client = await Client.connect(
            settings.target,
            namespace=settings.namespace,
            lazy=True,
            data_converter=data_converter(keys),
        )
    await serve_api(settings, engine, client, stop)


async def _worker(settings: Settings) -> None:
    from closeloop.runtime import prepare, run_worker, stop_on_signals
    from closeloop.temporal_client import connect_temporal

    stop = asyncio.Event()
    stop_on_signals(stop)
    prepare(settings)
    client = await connect_temporal(settings.target, settings.namespace, keys=keyring(settings))
    await run_worker(settings, client, stop)


async def _projector(settings: Settings) -> None:
    from closeloop.runtime import prepare, run_projector, stop_on_signals

    stop = asyncio.Event()
    stop_on_signals(stop)
    prepare(settings)
    await run_projector(settings, stop)


async def _notifier(settings: Settings) -> None:
    from closeloop.runtime import prepare, run_notifier, stop_on_signals

    stop = asyncio.Event()
    stop_on_signals(stop)
    prepare(settings)
    await run_notifier(settings, stop)


def _projections(settings: Settings, action: str) -> int:
    """``closeloop projections list|retry``: the quarantined events (the dead-letter table).

    ``retry`` runs beside a running projector (they take turns on the tracking row, see
    ``projections.quarantine``); it exits 0 only when no event is left quarantined.
    """
    from closeloop.runtime import prepare
    from projections.quarantine import DeadLetter, dead_letters_of, retry

    engine = prepare(settings)
    if action == "reseal":
        return _reseal(settings, engine)
    try:
        letters = dead_letters_of(engine)
    finally:
        engine.dispose()
    if action == "list":
        if not letters:
            print("no event is quarantined")
            return 0
        failed = sum(letter.failed for letter in letters)
        print(
            f"{len(letters)} events are quarantined ({failed} failed, "
            f"{len(letters) - failed} waiting behind an earlier event of their request):"
        )
        for letter in letters:
            print(f"  {letter.describe()}")
        print("fix the cause, then run `closeloop projections retry`")
        return 0

    def report(letter: DeadLetter, outcome: str) -> None:
        print(f"  event {letter.position}  request {letter.request_id}  {outcome}", flush=True)

    if letters:
        print(f"retrying {len(letters)} quarantined events, in order:", flush=True)
    try:
        result = retry(settings.database_url, report=report, keys=keyring(settings))
    except Exception as error:  # noqa: BLE001 - told in words; each event is whole or not
        from projections.failures import describe

        print(f"the retry stopped: {describe(error)}; run it again", file=sys.stderr)
        return 1
    print(
        f"applied {result.applied}, failed again {result.failed}; "
        f"{result.remaining} events remain quarantined"
    )
    if result.remaining:
        print("see `closeloop projections list`", file=sys.stderr)
    return 0 if result.remaining == 0 else 1


def _reseal(settings: Settings, engine: Engine) -> int:
    """``closeloop projections reseal``: seal the contacts of rows that hold none."""
    from closeloop.store import RequestStore, store_env
    from projections.reseal import reseal, unsealed

    keys = keyring(settings)  # the store's events and the views' contacts
    store = RequestStore(env=store_env(settings.database_url, keys))
    try:
        total = len(unsealed(engine))
        if not total:
            print("every request's contact is sealed")
            return 0
        print(f"sealing the contacts of {total} requests", flush=True)

        def progress(done: int, total: int) -> None:
            if done == total or done % 100 == 0:
                print(f"  {done}/{total}", file=sys.stderr, flush=True)

        sealed = reseal(engine, store, keys, progress)
    finally:
        store.close()
        engine.dispose()
    print(f"sealed {sealed}")
    return 0


def _aware_time(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-11-28T08:00+08:00"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _bootstrap(settings: Settings, seed_demo: bool) -> None:
    """Production's first start: the demo town only with ``--seed-demo`` or
    ``CLOSELOOP_SEED_DEMO=1`` (its users have published passwords)."""
    from closeloop.bootstrap import wants_demo
    from closeloop.runtime import bootstrap, prepare

    seed = wants_demo(settings.seed_demo, development=False, asked=seed_demo)
    bootstrap(prepare(settings), settings, seed=seed)


#: The subcommands (what a container's command can be).
COMMANDS = {
    "dev": "the whole stack in one process, on the embedded default",
    "api": "the HTTP API only",
    "worker": "the Temporal worker only",
    "projector": "the projector only",
    "notifier": "the notifier and the sender only (inbox, SMS, webhooks)",
    "rebuild": "drop the read models and rebuild them from the events",
    "migrate": "create or upgrade closeloop's tables (Alembic)",
    "bootstrap": "create the tables and the first admin (the demo town with --seed-demo)",
    "check": "compare every request's workflow, events and read models (exit 0 if they agree)",
    "projections": "the read models: list or retry quarantined events, reseal contacts",
}

#: ``closeloop projections <action>``
PROJECTION_ACTIONS = {
    "list": "print the quarantined events: position, request, topic, error",
    "retry": "apply the quarantined events again, in order (exit 0 when none remain)",
    "reseal": "seal the residents' contacts of rows projected before contacts were sealed",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="closeloop", description="Resident requests on the 1351 ladder."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text)
    actions = sub.choices["projections"].add_subparsers(dest="action", required=True)
    for name, help_text in PROJECTION_ACTIONS.items():
        actions.add_parser(name, help=help_text)
    checking = sub.choices["check"]
    checking.add_argument("--request", metavar="ID", help="check this request only")
    checking.add_argument(
        "--repair",
        action="store_true",
        help="have a workflow adopt the changes the store holds beyond its last one",
    )
    checking.add_argument(
        "--since",
        metavar="TIME",
        type=_aware_time,
        help="check the requests changed since TIME (ISO 8601; UTC when no offset)",
    )
    sub.choices["bootstrap"].add_argument(
        "--seed-demo",
        action="store_true",
        help="also add the demo town and its users (as CLOSELOOP_SEED_DEMO=1 does)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("temporalio").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Every file closeloop (and the Temporal dev server it starts) creates is the owner's
    # alone: the SQLite files, the key, the logs hold or tell of residents.
    os.umask(0o077)
    try:
        settings = Settings.from_env()
    except SettingsError as e:
        print(f"closeloop: {e}", file=sys.stderr)
        return 2
    reasons = refusals(settings)
    if reasons:
        for reason in reasons:
            print(f"closeloop: {reason}", file=sys.stderr)
        return 2
    if args.command == "rebuild":
        return _rebuild(settings)
    if args.command == "migrate":
        from closeloop.runtime import prepare
        from closeloop.schema import current_revision

        print(f"closeloop's tables are at revision {current_revision(prepare(settings))}")
        return 0
    if args.command == "check":
        from closeloop.check import check

        return asyncio.run(
            check(settings, request_id=args.request, since=args.since, repair=args.repair)
        )
    try:
        if args.command == "bootstrap":
            _bootstrap(settings, args.seed_demo)
            return 0
        if args.command == "projections":
            return _projections(settings, args.action)
        from closeloop.runtime import dev

        runner = {
            "dev": dev,
            "api": _api,
            "worker": _worker,
            "projector": _projector,
            "notifier": _notifier,
        }
        asyncio.run(runner[args.command](settings))
    except SettingsError as e:  # e.g. CLOSELOOP_ADMIN_PASSWORD failing the password policy
        print(f"closeloop: {e}", file=sys.stderr)
        return 2
    _leave(0)
    return 0


def _leave(code: int) -> None:
    """End a long-running command that stopped cleanly without tearing the interpreter
    down: Temporal's Rust runtime keeps threads that may still call into Python while it
    finalizes, which aborts the process (SIGABRT, "PyGILState_Release ... finalizing";
    temporalio/sdk-python issue 300), and a supervisor would read a clean stop as a
    crash. Everything is stopped and flushed by now."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
