"""The results: one row per measure, printed as a table and written as JSON."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One measure beside its ceiling and its target.

    ``value`` is in ``unit``; ``ceiling`` (same unit) is the bare engine's figure measured
    in the same run; ``ratio`` = value / ceiling. ``met`` is None when there is no target
    (or the measure could not run: then ``note`` says why).
    """

    key: str
    what: str
    size: str
    unit: str
    value: float | None = None
    ceiling: float | None = None
    ceiling_unit: str = ""  # when it differs from ``unit``
    ratio: float | None = None
    p50: float | None = None  # ms
    p95: float | None = None
    p99: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def machine() -> dict[str, Any]:
    """What the run ran on."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [
                line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
            ]
        if names:
            info["cpu"] = names[0]
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as meminfo:
            total = next(line for line in meminfo if line.startswith("MemTotal"))
        info["memory_gib"] = round(int(total.split()[1]) / 1024 / 1024, 1)
    except (OSError, StopIteration):
        pass
    with contextlib.suppress(OSError):
        info["load_before"] = [round(x, 2) for x in os.getloadavg()]
    return info


@dataclass
class Report:
    rows: list[Row]
    machine: dict[str, Any]
    started: str
    seconds: float
    sizes: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "seconds": round(self.seconds, 1),
            "machine": self.machine,
            "sizes": self.sizes,
            "notes": self.notes,
            "rows": [asdict(row) for row in self.rows],
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _met(row: Row) -> str:
    if row.met is None:
        return "-" if not row.note.startswith("not run") else "not run"
    return "yes" if row.met else "**no**"


def markdown_table(rows: list[Row]) -> str:
    head = (
        "| measure | size | result | ceiling | ratio | p50 ms | p95 ms | p99 ms | target | met |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n"
    )
    lines = []
    for r in rows:
        result = f"{_num(r.value)} {r.unit}" if r.value is not None else "-"
        ceiling = f"{_num(r.ceiling)} {r.ceiling_unit or r.unit}" if r.ceiling is not None else "-"
        ratio = f"{r.ratio:.0%}" if r.ratio is not None else "-"
        lines.append(
            f"| {r.what} | {r.size} | {result} | {ceiling} | {ratio} | {_num(r.p50)} | "
            f"{_num(r.p95)} | {_num(r.p99)} | {r.target or '-'} | {_met(r)} |"
        )
    return head + "\n".join(lines) + "\n"


def text_table(rows: list[Row]) -> str:
    """The same table for a terminal: aligned columns, no markup."""
    header = ["measure", "size", "result", "ceiling", "ratio", "p50", "p95", "p99", "target", "met"]
    body = []
    for r in rows:
        body.append(
            [
                r.what,
                r.size,
                f"{_num(r.value)} {r.unit}" if r.value is not None else "-",
                f"{_num(r.ceiling)} {r.ceiling_unit or r.unit}" if r.ceiling is not None else "-",
                f"{r.ratio:.0%}" if r.ratio is not None else "-",
                _num(r.p50),
                _num(r.p95),
                _num(r.p99),
                r.target or "-",
                _met(r).replace("*", ""),
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
    out = []
    for line in [header, ["-" * w for w in widths], *body]:
        out.append("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)))
    return "\n".join(out) + "\n"


def notes_text(rows: list[Row]) -> str:
    return "".join(f"  {r.what}: {r.note}\n" for r in rows if r.note)


README_BEGIN = "<!-- bench:table:begin -->"
README_END = "<!-- bench:table:end -->"


def update_readme(readme: Path, report: Report) -> None:
    """Replace the table between the markers in ``readme`` with this run's."""
    m = report.machine
    when = datetime.fromisoformat(report.started).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"{README_BEGIN}\n"
        f"Run {when}, {report.seconds / 60:.1f} minutes, on {m.get('cpus')} cores "
        f"({m.get('cpu', 'unknown CPU')}), {m.get('memory_gib', '?')} GiB, Python "
        f"{m.get('python')}, load average before the run {m.get('load_before')} (the machine "
        f"is shared: figures are noisy).\n\n"
        + markdown_table(report.rows)
        + "".join(f"\n- {r.what}: {r.note}" for r in report.rows if r.note)
        + ("\n" if any(r.note for r in report.rows) else "")
        + f"{README_END}"
    )
    text = readme.read_text()
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {README_BEGIN} ... {README_END} markers")
    readme.write_text(pattern.sub(lambda _: block, text))
