"""The benchmark suite at a toy size, so that its machinery cannot rot: every row is there
and its numbers are sane. (Speed is what ``make bench`` measures, not this test.)

Smaller still than ``--toy``: most of the run is starting the processes each phase
measures, and what the rows count only has to be more than one of each."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from bench.__main__ import main
from bench.suite import PHASES

#: ``--toy`` with fewer of each: intakes (and bare workflows) in two rounds of four, on four
#: clients; two full loops; four intakes on PostgreSQL; a history of 100 requests; three
#: calls per read; 10 open requests.
SIZES = [
    "--toy", "--intake", "8", "--concurrency", "4", "--rounds", "2", "--loop", "2",
    "--pg-intake", "4", "--history", "100", "--read-samples", "3", "--read-time-cap", "1",
    "--open-sizes", "10",
]  # fmt: skip
ROWS = (
    "ceiling", "ceiling_local", "intake", "full_loop", "lag_sqlite",
    "intake_postgres", "lag_postgres",
    "rebuild", "rebuild_whole",
    "read_board", "read_board_town_assigned", "read_tasks", "read_followups", "read_stats",
    "read_stats_town_month",
    "open_10_worker", "open_10_server",
)  # fmt: skip


def test_the_suite_runs_at_a_toy_size_and_reports_every_row(tmp_path: Path) -> None:
    postgres = os.environ.get("CLOSELOOP_TEST_POSTGRES_URL", "").strip()
    out = tmp_path / "out.json"
    database = f"closeloop_bench_smoke_{uuid.uuid4().hex[:8]}"  # runs side by side differ
    code = main([
        *SIZES, "--data-dir", str(tmp_path / "bench"), "--json", str(out),
        "--postgres-url", postgres, "--pg-database", database,
    ])  # fmt: skip
    report = json.loads(out.read_text())
    rows = {row["key"]: row for row in report["rows"]}
    assert code == 0, report["notes"]
    assert set(ROWS) <= rows.keys(), sorted(rows)
    assert report["sizes"]["history"] == 100 and report["machine"]["cpus"]

    for key in ("ceiling", "intake", "full_loop"):
        assert rows[key]["value"] > 0 and rows[key]["p50"] > 0, rows[key]
        assert rows[key]["p50"] <= rows[key]["p95"] <= rows[key]["p99"], rows[key]
    for key in ("intake", "full_loop"):
        assert rows[key]["ceiling"] == rows["ceiling"]["value"]
        assert rows[key]["ratio"] > 0 and rows[key]["met"] in (True, False)
    assert rows["intake"]["size"] == "N=8, 4 clients, 2 rounds", rows["intake"]
    assert rows["full_loop"]["size"] == "N=2, 4 clients", rows["full_loop"]

    lags = {"lag_sqlite": 8} | ({"lag_postgres": 4} if postgres else {})
    for key, events in lags.items():
        assert rows[key]["size"].startswith(f"{events} events"), rows[key]
        assert 0 <= rows[key]["p50"] <= rows[key]["p95"], rows[key]  # no bound: not a speed test
    if postgres:
        assert rows["intake_postgres"]["value"] > 0
    else:
        assert rows["intake_postgres"]["note"].startswith("not run")

    rebuild = rows["rebuild"]
    assert rebuild["value"] > 0 and rebuild["ceiling"] > 0 and rebuild["ratio"] > 0
    assert rebuild["detail"]["rebuild"]["complete"]
    assert rebuild["detail"]["rebuild"]["events"] == rebuild["detail"]["bare_read"]["events"]
    assert rows["rebuild_whole"]["value"] > 0

    for key in ROWS:
        if key.startswith("read_"):
            assert 0 < rows[key]["p50"] <= rows[key]["p95"], rows[key]
            assert rows[key]["met"] in (True, False) and not rows[key]["note"], rows[key]
        if key.startswith("open_"):
            assert 10 < rows[key]["value"] < 4096, rows[key]  # MiB

    # the cached data is reused: a second run of the data phases makes nothing again
    assert any("generated the history" in note for note in report["notes"])
    code = main([
        *SIZES, "--data-dir", str(tmp_path / "bench"), "--json", str(out),
        "--only", "rebuild,open", "--postgres-url", "",
    ])  # fmt: skip
    again = json.loads(out.read_text())
    assert code == 0 and not any("generated" in note for note in again["notes"])
    assert {row["key"] for row in again["rows"]} >= {"rebuild", "open_10_worker"}
    assert set(PHASES) == {"engine", "postgres", "rebuild", "reads", "open"}
