"""Small inline SVG charts, drawn on the server: nothing to load, nothing to build.

Each function returns markup (``markupsafe.Markup``) scaled by its ``viewBox`` to the
width of its box; colours come from CSS classes (``web/static/closeloop.css``), labels are
escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]  # fractions 0..1, None where undefined
    css: str


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    css: str
    text: str = ""  # the label printed at the bar's end (default: the value)


def _svg(width: int, height: int, body: list[str], label: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet" '
        f'width="{round(width * 1.3)}">' + "".join(body) + "</svg>"
    )


def text_width(text: str, size: float = 14) -> float:
    """A generous estimate of ``text``'s width in user units at ``size`` px (the browser's
    measure is not known here): a CJK character is about 1 em, others about 0.62 em."""
    return sum(size if ord(c) > 0x2E7F else size * 0.62 for c in text)


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def lines(series: Sequence[Series], x_labels: Sequence[str], label: str) -> Markup:
    """Rates (0..1) over periods: one line per series, a dot on each defined value."""
    width, height = 520, 240
    left, right, top, bottom = 48, 16, 12, 62
    if x_labels:  # the last date label is centred on the plot's right edge: room for its half
        right = max(right, int(text_width(x_labels[-1], 13) / 2) + 4)
    # the legend: one line when its entries fit, else one entry per line
    legend_w = [24 + text_width(s.label) + 12 for s in series]
    one_line = sum(legend_w) <= width - left
    if not one_line:
        height += 20 * (len(series) - 1)
        bottom += 20 * (len(series) - 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(1, len(x_labels))
    body: list[str] = []

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(v: float) -> float:
        return top + plot_h * (1 - v)

    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        body.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/><text class="axis" x="{left - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{_pct(tick)}</text>'
        )
    step = max(1, (n + 7) // 8)  # at most about eight date labels
    shown = list(range(0, n, step))
    if shown and shown[-1] != n - 1:  # always the latest period, instead of a crowded one
        if n - 1 - shown[-1] < step / 2:
            shown[-1] = n - 1
        else:
            shown.append(n - 1)
    for i, text in enumerate(x_labels):
        if i in shown:
            body.append(
                f'<text class="axis" x="{x(i):.1f}" y="{top + plot_h + 16}" '
                f'text-anchor="middle">{escape(text)}</text>'
            )
    for s in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append((x(i), y(v)))
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
                body.append(f'<polyline class="line {s.css}" points="{points}"/>')
            for px, py in run:
                body.append(f'<circle class="dot {s.css}" cx="{px:.1f}" cy="{py:.1f}" r="3.5"/>')
    legend_y = top + plot_h + 48
    lx = float(left)
    for i, s in enumerate(series):
        if not one_line:
            lx, legend_y = float(left), top + plot_h + 48 + 20 * i
        body.append(
            f'<rect class="swatch {s.css}" x="{lx:.1f}" y="{legend_y - 9}" width="12" '
            f'height="12" rx="2"/><text class="legend" x="{lx + 17:.1f}" y="{legend_y + 1}">'
            f"{escape(s.label)}</text>"
        )
        lx += legend_w[i]
    return _svg(width, height, body, label)


def columns(bars: Sequence[Bar], label: str) -> Markup:
    """Counts as vertical bars, the count above each bar and its label below."""
    width, height = 320, 200
    left, right, top, bottom = 10, 10, 22, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([b.value for b in bars] + [1.0])
    slot = plot_w / max(1, len(bars))
    body = [f'<line class="base" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
            f'y2="{top + plot_h}"/>']  # fmt: skip
    for i, b in enumerate(bars):
        h = plot_h * b.value / peak
        bx = left + i * slot + slot * 0.2
        by = top + plot_h - h
        body.append(
            f'<rect class="bar {b.css}" x="{bx:.1f}" y="{by:.1f}" width="{slot * 0.6:.1f}" '
            f'height="{h:.1f}" rx="3"/>'
            f'<text class="value" x="{bx + slot * 0.3:.1f}" y="{by - 5:.1f}" '
            f'text-anchor="middle">{escape(b.text or f"{b.value:g}")}</text>'
            f'<text class="axis" x="{bx + slot * 0.3:.1f}" y="{top + plot_h + 18}" '
            f'text-anchor="middle">{escape(b.label)}</text>'
        )
    return _svg(width, height, body, label)


def _fit_labels(names: Sequence[str], label_w: int, width: int) -> tuple[int, int]:
    """The row labels' column widened (and the chart with it) until the longest name fits."""
    need = int(max([text_width(n) for n in names] + [0.0])) + 14
    grow = max(0, need - label_w)
    return label_w + grow, width + grow


def bar_rows(
    rows: Sequence[tuple[str, Sequence[Bar]]],
    label: str,
    scale: float | None = None,
    width: int = 600,
    label_w: int = 170,
) -> Markup:
    """Groups of horizontal bars, one group per row (e.g. per grid: its rates).

    Values are fractions of ``scale`` (default: the largest value, at least 1).
    """
    label_w, width = _fit_labels([name for name, _ in rows], label_w, width)
    per_bar, gap = 19, 14
    bars_per_row = max([len(bars) for _, bars in rows] + [1])
    row_h = bars_per_row * per_bar + gap
    height = max(40, len(rows) * row_h + 6)
    peak = scale or max([b.value for _, bars in rows for b in bars] + [1.0])
    # room after the longest bar for its value (e.g. "100.0% (12/12)")
    value_w = max([text_width(b.text or f"{b.value:g}") for _, bars in rows for b in bars] + [0.0])
    room = max(120, int(value_w) + 12)
    width += room - 120
    plot_w = width - label_w - room
    body: list[str] = []
    for r, (name, bars) in enumerate(rows):
        ry = 4 + r * row_h
        body.append(
            f'<text class="rowlabel" x="{label_w - 8}" y="{ry + len(bars) * per_bar / 2 + 5:.1f}" '
            f'text-anchor="end">{escape(name)}</text>'
        )
        for i, b in enumerate(bars):
            w = plot_w * (b.value / peak if peak else 0)
            by = ry + i * per_bar
            body.append(
                f'<rect class="bar {b.css}" x="{label_w}" y="{by}" width="{max(w, 1.5):.1f}" '
                f'height="{per_bar - 3}" rx="2"/><text class="value" x="{label_w + w + 5:.1f}" '
                f'y="{by + per_bar - 5}">{escape(b.text or f"{b.value:g}")}</text>'
            )
    return _svg(width, height, body, label)


def stacked(
    rows: Sequence[tuple[str, Sequence[Bar]]], label: str, width: int = 600, label_w: int = 170
) -> Markup:
    """One 100% bar per row split into its parts (e.g. yes / partly / no), counts inside."""
    label_w, width = _fit_labels([name for name, _ in rows], label_w, width)
    row_h = 30
    plot_w = width - label_w - 10
    height = max(30, len(rows) * row_h + 4)
    body: list[str] = []
    for r, (name, parts) in enumerate(rows):
        ry = 4 + r * row_h
        total = sum(p.value for p in parts)
        body.append(
            f'<text class="rowlabel" x="{label_w - 8}" y="{ry + 15}" text-anchor="end">'
            f"{escape(name)}</text>"
        )
        if not total:
            body.append(
                f'<rect class="bar empty" x="{label_w}" y="{ry}" width="{plot_w}" '
                f'height="{row_h - 8}" rx="3"/>'
            )
            continue
        px = float(label_w)
        for p in parts:
            w = plot_w * p.value / total
            if w <= 0:
                continue
            body.append(
                f'<rect class="bar {p.css}" x="{px:.1f}" y="{ry}" width="{w:.1f}" '
                f'height="{row_h - 8}"/>'
            )
            if w >= 22:
                body.append(
                    f'<text class="inbar" x="{px + w / 2:.1f}" y="{ry + 15}" '
                    f'text-anchor="middle">{escape(p.text or f"{p.value:g}")}</text>'
                )
            px += w
    return _svg(width, height, body, label)
