"""Where the time goes, for the measures that miss their targets.

``python -m bench.profile rebuild [EVENTS]``
    pyinstrument over the first EVENTS events of a rebuild of the cached history (its
    ``events.db``), summarised by stage: reading the log, decoding events, applying them,
    writing rows, committing.
``py-spy record --idle -f raw -o rebuild.raw -p <pid of closeloop rebuild> -d 30``, then
``python -m bench.profile pyspy-rebuild --raw rebuild.raw``
    the same stages from py-spy samples of a running ``closeloop rebuild`` (any size).
``py-spy record --threads -f raw -o dev.raw -p <pid of closeloop dev>`` during a run,
then ``python -m bench.profile pyspy-dev --raw dev.raw``
    where ``closeloop dev``'s CPU goes, by part: workflow sandbox, activities, projector,
    API threads, event loop.
``python -m bench.profile reads``
    each read endpoint's query on the cached projection (``reads.db``): SQLite's plan, the
    query alone, and the whole endpoint in process (pyinstrument), to tell the database's
    time from Python's.

Both read ``data/bench`` (``--data-dir`` or ``CLOSELOOP_BENCH_DIR``) and need the history
that ``python -m bench`` caches there.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from sqlalchemy import Engine, text

from bench.history import History, load_history
from bench.suite import Sizes

#: (stage, function names whose time counts for it); a frame counts for the first stage
#: that names it, and the frames below it are not counted again.
REBUILD_STAGES: tuple[tuple[str, frozenset[str]], ...] = (
    ("read the log (select_notifications)", frozenset({"select_notifications"})),
    ("decode events (mapper.to_domain_event)", frozenset({"to_domain_event"})),
    ("fetch request rows", frozenset({"fetch"})),
    ("apply events (RequestState.apply, row dicts)", frozenset({"process_event"})),
    ("write rows (executemany)", frozenset({"write"})),
    ("commit", frozenset({"commit"})),
    # py-spy does not always see into the views.batch generator as it ends: the write and
    # commit above, unattributed
    ("write + commit (frames hidden from py-spy)", frozenset({"__exit__"})),
)


def _stage_times(
    profiler: Profiler, stages: Iterable[tuple[str, frozenset[str]]]
) -> dict[str, float]:
    session = profiler.last_session
    assert session is not None
    root = session.root_frame()
    assert root is not None
    stages = list(stages)
    totals = {name: 0.0 for name, _ in stages}
    totals["other"] = 0.0

    def walk(frame: Any) -> float:
        for name, functions in stages:
            if frame.function in functions:
                totals[name] += frame.time
                return float(frame.time)
        covered = sum(walk(child) for child in frame.children)
        return covered

    covered = walk(root)
    totals["other"] = max(0.0, root.time - covered)
    return totals


def profile_rebuild(history: History, events: int, batch_size: int) -> str:
    from projections.rebuild import reset
    from projections.runner import Projector

    projector = Projector(history.events_url, batch_size=batch_size)
    try:
        reset(projector.views)
        profiler = Profiler(interval=0.002)
        done = 0
        began = time.perf_counter()
        profiler.start()
        while done < events:
            batch = projector.run_batch()
            if batch is None:
                break
            done += batch.count
        profiler.stop()
        seconds = time.perf_counter() - began
    finally:
        projector.close()
    totals = _stage_times(profiler, REBUILD_STAGES)
    whole = sum(totals.values()) or 1.0
    lines = [
        f"rebuild of the first {done:,} events of {history.meta.events:,}, batches of "
        f"{batch_size}: {seconds:.1f} s, {done / seconds:,.0f} events/s (under the profiler)",
        "",
        "| stage | seconds | share |",
        "| --- | ---: | ---: |",
    ]
    for name, value in sorted(totals.items(), key=lambda item: -item[1]):
        lines.append(f"| {name} | {value:.2f} | {value / whole:.0%} |")
    lines += ["", profiler.output_text(unicode=True, color=False, show_all=False)]
    return "\n".join(lines)


def summarise_pyspy(raw: Path, stages: Iterable[tuple[str, frozenset[str]]]) -> str:
    """py-spy's raw output (``-f raw``: one stack a line, then its sample count) by stage:
    a stack counts for the first stage (outermost frame first) one of its frames names."""
    stages = list(stages)
    totals = {name: 0 for name, _ in stages}
    totals["other"] = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        functions = [frame.split(" (")[0].rpartition(".")[2] for frame in stack.split(";")]
        for name, names in stages:
            if any(f in names for f in functions):
                totals[name] += int(count)
                break
        else:
            totals["other"] += int(count)
    whole = sum(totals.values()) or 1
    lines = ["| stage | samples | share |", "| --- | ---: | ---: |"]
    for name, value in sorted(totals.items(), key=lambda item: -item[1]):
        lines.append(f"| {name} | {value} | {value / whole:.0%} |")
    return "\n".join(lines)


#: Leaf frames of a thread that is waiting, not working (py-spy counts them as active).
_IDLE_LEAVES = (
    "EpollSelector.select",
    "Condition.wait",
    "_worker (concurrent/futures",
    "BaseSelectorEventLoop._read_from_self",
    "Event.wait",
    "thread (",
)

#: (what, a substring of the stack that marks it), the first that matches counts.
STACK_PARTS: tuple[tuple[str, str], ...] = (
    ("workflow sandbox: a new workflow instance (module re-import)", "workflow_sandbox/_runner"),
    ("workflow activations (sandboxed workflow code, SDK)", "temporal_workflow"),
    ("store activity: load the aggregate, append (eventsourcing, SQLite)", "activity_"),
    ("projector: poll, project, commit", "closeloop-projector"),
    ("API thread pool: sign-in, roster and read queries", "AnyIO worker thread"),
    ("event loop: HTTP (uvicorn, FastAPI), Temporal client and worker glue", "MainThread"),
)


def summarise_pyspy_stack(raw: Path) -> str:
    """py-spy's raw output of ``closeloop dev`` (``--threads -f raw``) by part of the stack,
    waiting threads left out."""
    totals: dict[str, int] = {name: 0 for name, _ in STACK_PARTS}
    totals["other threads"] = 0
    idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        leaf = stack.rsplit(";", 1)[-1]
        if not stack or any(leaf.startswith(x) for x in _IDLE_LEAVES):
            idle += int(count) if stack else 0
            continue
        for name, marker in STACK_PARTS:
            if marker in stack:
                totals[name] += int(count)
                break
        else:
            totals["other threads"] += int(count)
    busy = sum(totals.values()) or 1
    lines = [
        f"{busy} busy samples ({idle} waiting left out)",
        "",
        "| part | samples | share |",
        "| --- | ---: | ---: |",
    ]
    for name, value in sorted(totals.items(), key=lambda item: -item[1]):
        lines.append(f"| {name} | {value} | {value / busy:.0%} |")
    return "\n".join(lines)


def _time(call: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    """The median seconds of ``repeat`` calls, and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - began)
    return sorted(times)[len(times) // 2], result


def profile_reads(history: History) -> str:
    from api import roster
    from api.routes.requests import _with_assignees as _present
    from closeloop.bootstrap import DEMO_TOWN
    from closeloop.db import make_engine
    from domain.ladder import UnitKind
    from projections import queries

    engine: Engine = make_engine(history.reads_url)
    town = next(u.id for u in roster.list_units(db=engine, kind=UnitKind.TOWN)
                if u.name == DEMO_TOWN)  # fmt: skip
    worker = roster.get_user_by_username("worker1", db=engine)
    assert worker is not None
    posts = [(a.unit_id, a.level.value) for a in worker.assignments]
    end = history.meta.end_at
    calls: list[tuple[str, Callable[[], Any], Callable[[Any], Any]]] = [
        ("board: GET /requests", lambda: queries.list_requests(engine),
         lambda page: [_present(i, engine) for i in page["items"]]),
        ("board: a town's waiting requests",
         lambda: queries.list_requests(engine, unit_id=town, status="assigned"),
         lambda page: [_present(i, engine) for i in page["items"]]),
        ("tasks (worker1)", lambda: queries.tasks(engine, assignments=posts),
         lambda items: [_present(i, engine) for i in items]),
        ("follow-ups", lambda: queries.followups(engine), lambda items: items),
        ("stats (all, all time)", lambda: queries.stats(engine), lambda figures: figures),
        ("stats (a town, 30 days)",
         lambda: queries.stats(engine, unit_id=town, date_from=end - timedelta(days=30),
                               date_to=end),
         lambda figures: figures),
    ]  # fmt: skip
    lines = [
        f"reads over {history.meta.requests:,} requests ({history.reads_file})",
        "",
        "| endpoint | query ms | + presenting ms | rows |",
        "| --- | ---: | ---: | ---: |",
    ]
    profiles = []
    for name, query, present in calls:
        query_s, result = _time(query)
        present_s, _ = _time(partial(present, result))
        rows = len(result["items"]) if isinstance(result, dict) and "items" in result else (
            len(result) if isinstance(result, list) else 1
        )  # fmt: skip
        lines.append(f"| {name} | {query_s * 1000:.1f} | {present_s * 1000:.1f} | {rows} |")
        profiler = Profiler(interval=0.001)
        profiler.start()
        for _ in range(3):
            present(query())
        profiler.stop()
        profiles.append(f"## {name}\n\n" + profiler.output_text(unicode=True, color=False))
    lines += ["", "SQLite's plans:", ""]
    with engine.connect() as conn:
        for sql in _plans(town):
            plan = conn.execute(text("EXPLAIN QUERY PLAN " + sql[1])).all()
            lines.append(f"- {sql[0]}: " + "; ".join(row[-1] for row in plan))
    engine.dispose()
    return "\n".join(lines + [""] + profiles)


def _plans(town: str) -> list[tuple[str, str]]:
    """The shape of each endpoint's main query, for EXPLAIN QUERY PLAN."""
    open_ = "status IN ('assigned', 'in_progress')"
    return [
        ("board", "SELECT * FROM view_requests ORDER BY CASE WHEN " + open_ + " THEN 0 ELSE 1 "
         "END, CASE WHEN " + open_ + " THEN deadline END, updated_at DESC, id LIMIT 50"),
        ("board count", "SELECT count(*) FROM view_requests"),
        ("follow-ups", "SELECT * FROM view_requests WHERE status = 'resolved' "
         "ORDER BY resolved_at, id"),
        ("stats by request", "SELECT count(*), sum(CASE WHEN status = 'closed' THEN 1 ELSE 0 "
         "END), sum(escalations) FROM view_requests"),
        ("stats by review", "SELECT count(*) FROM view_reviews JOIN view_requests "
         "ON view_reviews.request_id = view_requests.id WHERE view_reviews.reached"),
        ("stats, a town", f"SELECT count(*) FROM view_requests WHERE (town_id = '{town}' OR "
         f"community_id = '{town}' OR grid_id = '{town}') AND created_at >= '2025-01-01'"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("what", choices=("rebuild", "reads", "pyspy-rebuild", "pyspy-dev"))
    parser.add_argument("--raw", type=Path, help="pyspy-rebuild: py-spy's -f raw output")
    parser.add_argument("events", nargs="?", type=int, default=300_000)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--history", type=int, default=Sizes().history)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("CLOSELOOP_BENCH_DIR", "data/bench"))
    )
    args = parser.parse_args(argv)  # fmt: skip
    if args.what == "pyspy-rebuild":
        print(summarise_pyspy(args.raw, REBUILD_STAGES))
        return 0
    if args.what == "pyspy-dev":
        print(summarise_pyspy_stack(args.raw))
        return 0
    history = load_history(args.data_dir.resolve(), args.history)
    if history is None:
        print(f"no cached history of {args.history:,} requests in {args.data_dir}: "
              "run python -m bench first", file=sys.stderr)  # fmt: skip
        return 2
    if args.what == "rebuild":
        from projections.rebuild import REBUILD_BATCH_SIZE

        print(profile_rebuild(history, args.events, args.batch_size or REBUILD_BATCH_SIZE))
    else:
        print(profile_reads(history))
    return 0


if __name__ == "__main__":
    sys.exit(main())
