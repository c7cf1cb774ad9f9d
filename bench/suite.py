"""The suite: each phase measures closeloop beside its ceiling and turns it into table rows.

Phases, in order: ``engine`` (the bare ceiling, intake, the full loop and the SQLite
projection lag, on ``closeloop dev``), ``postgres`` (intake and the subscription lag on
PostgreSQL), ``rebuild`` and ``reads`` (a million requests), ``open`` (memory with open
requests). A phase that fails leaves rows saying so and the others still run.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import engine, openwf, scale
from bench.history import ensure_history
from bench.load import Load, percentile_ms
from bench.procs import Process, Processes, TemporalServer, python_module
from bench.report import Report, Row, machine
from bench.stacks import Stack, postgres_available, postgres_stack, sqlite_stack
from closeloop.temporal_client import connect_temporal

log = logging.getLogger(__name__)

PHASES = ("engine", "postgres", "rebuild", "reads", "open")

INTAKE_TARGET = 0.70
LOOP_TARGET = 0.50
LAG_SQLITE_P95_MS = 1000.0
LAG_POSTGRES_P95_MS = 200.0
REBUILD_TARGET = 0.30
READ_P95_MS = 50.0


@dataclass(frozen=True)
class Sizes:
    """How much each phase does; the defaults keep a cached run under 15 minutes on 2 cores."""

    intake: int = 500  # intakes, and bare workflows, on SQLite
    concurrency: int = 16  # concurrent clients
    rounds: int = 5  # alternating rounds of bare and intake
    loop: int = 200  # requests taken round the full loop
    pg_intake: int = 300  # intakes, and bare workflows, on PostgreSQL
    history: int = 1_000_000  # requests in the generated history
    rebuild_window: float = 150.0  # seconds of rebuild measured per run; 0: the whole log
    read_samples: int = 40  # calls per read endpoint
    read_time_cap: float = 10.0  # seconds per read endpoint at most (at least 5 calls)
    open_sizes: tuple[int, ...] = (10_000, 50_000)

    @classmethod
    def toy(cls) -> Sizes:
        """Seconds, not minutes: for the smoke test."""
        return cls(
            intake=40,
            concurrency=8,
            rounds=2,
            loop=8,
            pg_intake=20,
            history=200,
            rebuild_window=0.0,
            read_samples=5,
            read_time_cap=2.0,
            open_sizes=(30,),
        )


@dataclass
class Suite:
    root: Path
    sizes: Sizes
    postgres_url: str | None
    pg_database: str = "closeloop_bench"
    phases: tuple[str, ...] = PHASES
    say: Callable[[str], None] = print
    rows: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _noop_pid: int = 0

    def _pids(self, temporal: TemporalServer, stack: Stack) -> dict[str, int]:
        """The processes whose CPU time the engine phases account for."""
        return {
            "temporal": temporal.pid,
            **{p.name.removeprefix("closeloop "): p.pid for p in stack.processes},
            "noop worker": self._noop_pid,
            "bench clients": os.getpid(),
        }

    async def run(self) -> Report:
        started = datetime.now(UTC)
        began = time.monotonic()
        info = machine()
        processes = Processes()
        scratch = self.root / "run"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        try:
            needs_temporal = {"engine", "postgres", "reads"} & set(self.phases)
            temporal: TemporalServer | None = None
            bare: engine.Bare | None = None
            if needs_temporal:
                temporal = TemporalServer(
                    scratch / "temporal" / "temporal.db", scratch / "temporal" / "temporal.log"
                )
                processes.add(temporal)  # stopped at the end even if it never comes up
                await temporal.start_and_wait()
                queue = f"bench-noop-{uuid.uuid4().hex[:8]}"
                noop = Process(
                    "noop worker",
                    python_module("bench.noop", temporal.address, queue),
                    scratch / "noop.log",
                )
                processes.add(noop)
                self._noop_pid = noop.pid
                client = await connect_temporal(temporal.address, "default")
                bare = engine.Bare(client, queue, uuid.uuid4().hex[:8])
            for phase in self.phases:
                self.say(f"[{time.monotonic() - began:5.0f} s] {phase}")
                try:
                    if phase == "engine":
                        assert temporal is not None and bare is not None
                        await self._engine(temporal, bare, processes)
                    elif phase == "postgres":
                        assert temporal is not None and bare is not None
                        await self._postgres(temporal, bare, processes)
                    elif phase == "rebuild":
                        self._rebuild(processes, scratch)
                    elif phase == "reads":
                        assert temporal is not None
                        await self._reads(temporal, processes, scratch)
                    elif phase == "open":
                        await self._open(processes, scratch)
                    else:
                        raise ValueError(f"unknown phase {phase!r}")
                except Exception as error:  # noqa: BLE001 - one phase failing is reported
                    log.error("%s failed: %s", phase, traceback.format_exc())
                    self.failures.append(f"{phase}: {type(error).__name__}: {error}")
                    self.rows.append(
                        Row(
                            key=f"{phase}_failed",
                            what=f"{phase} phase",
                            size="-",
                            unit="",
                            note=f"not run: {type(error).__name__}: "
                            f"{str(error).splitlines()[0] if str(error) else ''}",
                        )
                    )
        finally:
            processes.stop_all()
        return Report(
            rows=self.rows,
            machine=info,
            started=started.isoformat(),
            seconds=time.monotonic() - began,
            sizes=asdict(self.sizes),
            notes=self.notes + self.failures,
        )

    # ---- engine: ceiling, intake, full loop, SQLite lag ----------------------------

    async def _engine(
        self, temporal: TemporalServer, bare: engine.Bare, processes: Processes
    ) -> None:
        s = self.sizes
        with sqlite_stack(self.root, temporal, processes) as stack:
            pids = self._pids(temporal, stack)
            intake = await engine.intake_against_ceiling(
                stack,
                bare,
                count=s.intake,
                concurrency=s.concurrency,
                rounds=s.rounds,
                first=0,
                pids=pids,
            )
            loop = await engine.full_loop(
                stack, count=s.loop, concurrency=s.concurrency, first=1_000_000, pids=pids
            )
            memory = {name: asdict(m) for name, m in stack.memory().items()}
            memory["temporal dev server"] = asdict(temporal.memory())
        size = f"N={intake.intake.count}, {s.concurrency} clients, {s.rounds} rounds"
        ceiling = intake.ceiling.rate
        self.rows.append(
            _load_row(
                "ceiling",
                "bare ceiling: start + complete, 1 no-op activity",
                size,
                "wf/s",
                intake.ceiling,
                note="the same Temporal dev server, rounds alternating with intake; "
                + _cpu_note(intake.cpu_ms_per_bare, "workflow"),
                detail={"cpu_ms_per_workflow": intake.cpu_ms_per_bare},
            )
        )
        local = intake.ceiling_local.rate
        self.rows.append(
            _load_row(
                "ceiling_local",
                "bare ceiling, local activity (as closeloop records)",
                size,
                "wf/s",
                intake.ceiling_local,
                note="the same workflow with its activity local, in the same rounds; against "
                f"it, intake {_ratio(intake.intake.rate, local):.0%}, full loop "
                f"{_ratio(loop.load.rate, local):.0%}",
            )
        )
        self.rows.append(
            _load_row(
                "intake",
                "intake: POST /requests (closeloop dev, SQLite)",
                size,
                "req/s",
                intake.intake,
                ceiling=ceiling,
                target=INTAKE_TARGET,
                note=_cpu_note(intake.cpu_ms_per_intake, "request"),
                detail={"memory": memory, "cpu_ms_per_request": intake.cpu_ms_per_intake},
            )
        )
        self.rows.append(
            _load_row(
                "full_loop",
                "full loop: file, accept, resolve, review",
                f"N={loop.load.count}, {s.concurrency} clients",
                "loops/s",
                loop.load,
                ceiling=ceiling,
                target=LOOP_TARGET,
                note=_cpu_note(loop.cpu_ms_per_loop, "loop")
                + "; p50 per step "
                + ", ".join(f"{k} {percentile_ms(v, 50)} ms" for k, v in loop.steps.items()),
                detail={
                    "cpu_ms_per_loop": loop.cpu_ms_per_loop,
                    "step_p50_ms": {k: percentile_ms(v, 50) for k, v in loop.steps.items()},
                    "step_p95_ms": {k: percentile_ms(v, 95) for k, v in loop.steps.items()},
                },
            )
        )
        self.rows.append(
            _lag_row(
                "lag_sqlite", "projection lag: SQLite, polling projector", intake, LAG_SQLITE_P95_MS
            )
        )

    # ---- PostgreSQL: intake, subscription lag ---------------------------------------

    async def _postgres(
        self, temporal: TemporalServer, bare: engine.Bare, processes: Processes
    ) -> None:
        s = self.sizes
        why = postgres_available(self.postgres_url) if self.postgres_url else "no server URL"
        if why is not None or self.postgres_url is None:
            for key, what in (
                ("intake_postgres", "intake: POST /requests (PostgreSQL)"),
                ("lag_postgres", "projection lag: PostgreSQL, subscription"),
            ):
                self.rows.append(
                    Row(
                        key=key,
                        what=what,
                        size="-",
                        unit="",
                        note=f"not run: PostgreSQL unavailable ({why})",
                    )
                )
            return
        with postgres_stack(
            self.root, temporal, processes, self.postgres_url, self.pg_database
        ) as stack:
            intake = await engine.intake_against_ceiling(
                stack,
                bare,
                count=s.pg_intake,
                concurrency=s.concurrency,
                rounds=max(1, s.rounds * s.pg_intake // max(1, s.intake)),
                first=2_000_000,
                pids=self._pids(temporal, stack),
            )
            memory = {name: asdict(m) for name, m in stack.memory().items()}
        size = f"N={intake.intake.count}, {s.concurrency} clients"
        self.rows.append(
            _load_row(
                "ceiling_postgres",
                "bare ceiling, beside the PostgreSQL run",
                size,
                "wf/s",
                intake.ceiling,
            )
        )
        self.rows.append(
            _load_row(
                "intake_postgres",
                "intake: POST /requests (PostgreSQL; worker, api, projector)",
                size,
                "req/s",
                intake.intake,
                ceiling=intake.ceiling.rate,
                detail={"memory": memory, "cpu_ms_per_request": intake.cpu_ms_per_intake},
                note="closeloop worker and closeloop api as processes; no target of its own; "
                + _cpu_note(intake.cpu_ms_per_intake, "request"),
            )
        )
        self.rows.append(
            _lag_row(
                "lag_postgres",
                "projection lag: PostgreSQL, subscription (LISTEN/NOTIFY)",
                intake,
                LAG_POSTGRES_P95_MS,
            )
        )

    # ---- a million requests: rebuild, reads -----------------------------------------

    def _history(self, processes: Processes) -> Any:
        s = self.sizes
        began = time.monotonic()
        history, made = ensure_history(
            self.root,
            s.history,
            progress=lambda done, total: (
                self.say(f"  generating the history: {done:,} of {total:,} requests")
                if done % 100_000 == 0
                else None
            ),
        )
        if made:
            self.notes.append(
                f"generated the history of {s.history:,} requests "
                f"({history.meta.events:,} events) in this run, "
                f"{time.monotonic() - began:.0f} s; later runs reuse it"
            )
        began = time.monotonic()
        reads = scale.ensure_reads(history, processes, progress=self.say)
        if time.monotonic() - began > 5:
            self.notes.append(
                f"built the whole projection for reads once in this run, "
                f"{time.monotonic() - began:.0f} s"
            )
        return history, reads

    def _rebuild(self, processes: Processes, scratch: Path) -> None:
        s = self.sizes
        history, reads = self._history(processes)
        work = scratch / "rebuild"
        work.mkdir(parents=True, exist_ok=True)
        window = s.rebuild_window or None
        run = scale.run_rebuild(history.events_url, work, processes, window=window)
        read = scale.bare_read(history.events_url, run.events)
        span = (
            "the whole log" if run.complete else f"the first {run.events:,} events ({window:.0f} s)"
        )
        self.rows.append(
            Row(
                key="rebuild",
                what="rebuild: closeloop rebuild vs bare read of the log",
                size=f"{span} of {run.total:,}; {s.history:,} requests",
                unit="events/s",
                value=round(run.rate),
                ceiling=round(read.rate),
                ratio=_ratio(run.rate, read.rate),
                target=f">= {REBUILD_TARGET:.0%} of bare read",
                met=_ratio(run.rate, read.rate) >= REBUILD_TARGET if read.rate else None,
                note=f"start-up (drop and recreate views, count) {run.startup_seconds:.1f} s; "
                f"decoding {read.decode_us:.1f} us/event",
                detail={"rebuild": asdict(run), "bare_read": asdict(read)},
            )
        )
        ratio = _ratio(reads.rebuild_rate, reads.bare_read_rate)
        self.rows.append(
            Row(
                key="rebuild_whole",
                what="rebuild, the whole history (when cached)",
                size=f"{reads.events:,} events; {s.history:,} requests",
                unit="events/s",
                value=reads.rebuild_rate,
                ceiling=reads.bare_read_rate,
                ratio=ratio,
                target=f">= {REBUILD_TARGET:.0%} of bare read",
                met=ratio >= REBUILD_TARGET if reads.bare_read_rate else None,
                note=f"measured when the cache was made ({reads.created[:16]}), not in this run; "
                f"{reads.rebuild['seconds'] / 60:.1f} min",
            )
        )

    async def _reads(self, temporal: TemporalServer, processes: Processes, scratch: Path) -> None:
        s = self.sizes
        history, _ = self._history(processes)
        results = await scale.reads_at_scale(
            history,
            temporal,
            processes,
            scratch / "reads",
            samples=s.read_samples,
            time_cap=s.read_time_cap,
        )
        for result in results:
            pct = result.load.percentiles_ms()
            p95 = pct["p95"]
            self.rows.append(
                Row(
                    key=f"read_{result.endpoint.key}",
                    what=result.endpoint.what,
                    size=f"{s.history:,} requests; {result.load.count} calls; "
                    f"{result.items} items, {result.bytes / 1024:.0f} kB",
                    unit="",
                    p50=pct["p50"],
                    p95=p95,
                    p99=pct["p99"],
                    target=f"p95 < {READ_P95_MS:.0f} ms",
                    met=p95 is not None and p95 < READ_P95_MS and not result.load.errors,
                    note=f"{result.load.errors} errors: {result.load.first_error}"
                    if result.load.errors
                    else "",
                    detail={"params": result.endpoint.params, "path": result.endpoint.path},
                )
            )

    # ---- open requests: memory ---------------------------------------------------------

    async def _open(self, processes: Processes, scratch: Path) -> None:
        sizes = list(self.sizes.open_sizes)
        metas = await openwf.ensure_open_sets(self.root, sizes, processes, progress=self.say)
        for size in sizes:
            m = await openwf.measure_open(
                self.root, scratch / f"open-{size}", size, metas[size], processes
            )
            created = m.meta.created[:10]
            common = (
                f"idle after start {{idle}} MiB; at creation ({created}) {{created}} MiB; "
                f"{m.touched:,} queried"
            )
            self.rows.append(
                Row(
                    key=f"open_{size}_worker",
                    what="open requests: worker RSS (closeloop worker)",
                    size=f"{size:,} open, timers waiting",
                    unit="MiB",
                    value=m.worker.rss_mib,
                    note=common.format(
                        idle=m.worker_idle.rss_mib, created=m.meta.worker_at_creation["rss_mib"]
                    )
                    + f"; peak {m.worker.hwm_mib} MiB",
                    detail=asdict(m),
                )
            )
            self.rows.append(
                Row(
                    key=f"open_{size}_server",
                    what="open requests: Temporal dev server RSS",
                    size=f"{size:,} open, timers waiting",
                    unit="MiB",
                    value=m.server.rss_mib,
                    note=common.format(
                        idle=m.server_idle.rss_mib, created=m.meta.server_at_creation["rss_mib"]
                    )
                    + f"; peak {m.server.hwm_mib} MiB; "
                    f"temporal.db {m.database_bytes / 2**20:,.0f} MiB",
                )
            )


def _cpu_note(cpu_ms: dict[str, float], per: str) -> str:
    """CPU time per operation by process, the largest first."""
    ordered = sorted(cpu_ms.items(), key=lambda item: -item[1])
    return f"CPU per {per}: " + ", ".join(f"{name} {ms:.0f} ms" for name, ms in ordered)


def _ratio(value: float, ceiling: float) -> float:
    return round(value / ceiling, 3) if ceiling else 0.0


def _load_row(
    key: str,
    what: str,
    size: str,
    unit: str,
    load: Load,
    *,
    ceiling: float | None = None,
    target: float | None = None,
    note: str = "",
    detail: dict[str, Any] | None = None,
) -> Row:
    pct = load.percentiles_ms()
    ratio = _ratio(load.rate, ceiling) if ceiling else None
    if load.errors:
        note = (note + "; " if note else "") + f"{load.errors} errors: {load.first_error}"
    return Row(
        key=key,
        what=what,
        size=size,
        unit=unit,
        value=round(load.rate, 2),
        ceiling=round(ceiling, 2) if ceiling else None,
        ceiling_unit="wf/s",
        ratio=ratio,
        p50=pct["p50"],
        p95=pct["p95"],
        p99=pct["p99"],
        target=f">= {target:.0%} of ceiling" if target is not None else "",
        met=(ratio is not None and ratio >= target and not load.errors)
        if target is not None
        else None,
        note=note,
        detail=detail or {},
    )


def _lag_row(key: str, what: str, intake: engine.IntakeResult, target_ms: float) -> Row:
    lags = intake.lags
    p95 = percentile_ms(lags, 95)
    note = f"sampled every {intake.sampler_interval * 1000:.0f} ms"
    if intake.unprojected:
        note += f"; {intake.unprojected} events not projected within 15 s"
    return Row(
        key=key,
        what=what,
        size=f"{len(lags):,} events under the intake load",
        unit="",
        p50=percentile_ms(lags, 50),
        p95=p95,
        p99=percentile_ms(lags, 99),
        target=f"p95 < {target_ms:,.0f} ms",
        met=p95 is not None and p95 < target_ms and not intake.unprojected,
        note=note,
    )
