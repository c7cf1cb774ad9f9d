"""The monthly report as an Excel file (openpyxl): three sheets, headers in the reader's
language.

1. *figures*: the posts' counts, every rate with its numerator and denominator, the hours
   to resolve, then the figures of the requests received in the month. Each row says its
   measure, value, numerator, denominator and a stable key (``posts.response_rate``,
   ``stats.received``...) for programs that read the file.
2. *grids*: every grid under the unit with its rank, change, the three rates with their
   numerators and denominators, and its assigned, resolved, overdue and reopened counts.
3. *overdue and reopened*: the month's overdue and reopened requests: id, grid, category,
   status, deadline, escalations and reopens. No resident's name, phone or description.

Rates are fractions shown as percentages; a rate without a denominator is an empty cell.
Times are local (``CLOSELOOP_TIMEZONE``): a spreadsheet's dates have no time zone.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from api.report import MonthlyReport
from domain.performance import POST_COUNTS, RATES, THREE_RATES
from projections.performance import THREE

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PERCENT = "0.0%"
WHEN = "yyyy-mm-dd hh:mm"
#: A text starting with one of these would be a formula: it is stored as text instead.
FORMULA_STARTS = ("=", "+", "-", "@")
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)

#: The figures of ``GET /stats`` on sheet 1: key, label key, numerator, denominator.
STATS_ROWS: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("received", "fig.received", None, None),
    ("closed", "fig.closed", None, None),
    ("completion_rate", "fig.completion_rate", "closed", "received"),
    ("completion_rate_reached", "report.fig.completion_rate_reached", "closed_reached", "received"),
    ("on_time_rate", "fig.on_time_rate", None, "closed"),
    ("reviews_reached", "fig.reviews_reached", None, None),
    ("satisfied", "report.fig.satisfied", None, None),
    ("satisfaction_rate", "fig.satisfaction_rate", "satisfied", "reviews_reached"),
    ("escalations", "fig.escalations", None, None),
    ("overdue", "fig.overdue", None, None),
    ("returned", "report.fig.returned", None, None),
    ("redirected", "report.fig.redirected", None, None),
    ("urged", "report.fig.urged", None, None),
    ("warned", "report.fig.warned", None, None),
    ("extensions_asked", "report.fig.extensions_asked", None, None),
    ("extensions_approved", "report.fig.extensions_approved", None, None),
    ("out_of_scope", "report.fig.out_of_scope", None, None),
    ("closed_unreached", "report.fig.closed_unreached", None, None),
)


class Words(Protocol):
    """The words of one language (:class:`web.i18n.Translator`)."""

    @property
    def lang(self) -> str: ...

    def __call__(self, key: str, **values: Any) -> str: ...

    def category(self, category: str) -> str: ...


def _put(sheet: Worksheet, row: int, column: int, value: Any, number_format: str = "") -> None:
    cell = sheet.cell(row=row, column=column)
    cell.value = value
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell.data_type = "s"  # a name or category starting with "=" is text, never a formula
    if number_format:
        cell.number_format = number_format


def _line(sheet: Worksheet, row: int, values: Sequence[Any], formats: Sequence[str] = ()) -> None:
    for column, value in enumerate(values, start=1):
        fmt = formats[column - 1] if column - 1 < len(formats) else ""
        _put(sheet, row, column, value, fmt)


def _header(sheet: Worksheet, row: int, names: Sequence[str]) -> None:
    _line(sheet, row, names)
    for column in range(1, len(names) + 1):
        sheet.cell(row=row, column=column).font = BOLD


def _widths(sheet: Worksheet, widths: Sequence[int]) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _local(report: MonthlyReport, at: datetime | None) -> datetime | None:
    """``at`` as a local time without its zone (what a spreadsheet holds)."""
    if at is None:
        return None
    return at.astimezone(report.month.start.tzinfo).replace(tzinfo=None)


def heading(report: MonthlyReport, t: Words) -> str:
    unit = report.unit.name if report.unit is not None else t("report.whole")
    return t("report.heading", unit=unit, month=report.label)


@dataclass(frozen=True)
class Line:
    """A row of the figures' sheet."""

    label: str
    value: Any
    numerator: int | None
    denominator: int | None
    key: str
    percent: bool = False


def post_lines(report: MonthlyReport, t: Words) -> list[Line]:
    """The posts' counts, rates (with numerator and denominator) and hours to resolve."""
    figures = report.figures
    lines = [
        Line(t(f"perf.count.{name}"), figures["counts"][name], None, None, f"posts.{name}")
        for name in POST_COUNTS
    ]
    for name in RATES:
        rate = figures["rates"][name]
        lines.append(
            Line(
                t(f"perf.rate.{name}"),
                rate["value"],
                rate["numerator"],
                rate["denominator"],
                f"posts.{name}",
                percent=True,
            )
        )
    lines.append(
        Line(t(f"perf.rate.{THREE}"), figures[THREE], None, None, f"posts.{THREE}", percent=True)
    )
    hours = report.resolve_hours
    for key in ("p50", "p90"):
        label = t(f"report.hours_{key}")
        lines.append(Line(label, hours[key], None, None, f"posts.resolve_hours.{key}"))
    lines.append(
        Line(t("perf.resolve_count"), hours["count"], None, None, "posts.resolve_hours.count")
    )
    return lines


def stats_lines(report: MonthlyReport, t: Words) -> list[Line]:
    """The figures of the requests received in the month (``GET /stats``'s)."""
    stats = report.stats
    return [
        Line(
            t(label),
            stats[key],
            stats[top] if top else None,
            stats[bottom] if bottom else None,
            f"stats.{key}",
            percent=key.endswith(("_rate", "_rate_reached")),
        )
        for key, label, top, bottom in STATS_ROWS
    ]


def _figures(sheet: Worksheet, report: MonthlyReport, t: Words) -> None:
    sheet.title = t("report.sheet.figures")
    _put(sheet, 1, 1, heading(report, t))
    sheet.cell(row=1, column=1).font = TITLE
    made = _local(report, report.made_at)
    assert made is not None
    _put(sheet, 2, 1, t("report.made_at", at=made.strftime("%Y-%m-%d %H:%M")))
    columns = [
        t("report.col.measure"),
        t("report.col.value"),
        t("report.col.numerator"),
        t("report.col.denominator"),
        t("report.col.key"),
    ]
    row = 4
    for section, lines in (
        ("report.section.posts", post_lines(report, t)),
        ("report.section.received", stats_lines(report, t)),
    ):
        _put(sheet, row, 1, t(section))
        sheet.cell(row=row, column=1).font = BOLD
        _header(sheet, row + 1, columns)
        row += 2
        for line in lines:
            values = [line.label, line.value, line.numerator, line.denominator, line.key]
            _line(sheet, row, values, ["", PERCENT if line.percent else ""])
            row += 1
        row += 1
    _widths(sheet, [34, 12, 12, 12, 34])


#: The per-grid sheet's columns after rank, change, grid and community: (rate or count,
#: name); a rate is followed by its numerator and denominator.
GRID_RATES = THREE_RATES
GRID_COUNTS = ("assigned", "resolved", "overdue", "reopened")


def grid_header(t: Words) -> list[str]:
    names = [
        t("report.col.rank"),
        t("report.col.change"),
        t("report.col.grid"),
        t("report.col.community"),
        t(f"perf.rate.{THREE}"),
    ]
    for rate in GRID_RATES:
        top, bottom = RATES[rate]
        names += [
            t(f"perf.rate.{rate}"),
            t("report.col.numerator_of", name=t(f"perf.count.{top}")),
            t("report.col.denominator_of", name=t(f"perf.count.{bottom}")),
        ]
    names += [t(f"perf.count.{name}") for name in GRID_COUNTS]
    names.append(t("report.col.below"))
    return names


def _grids(sheet: Worksheet, report: MonthlyReport, t: Words) -> None:
    sheet.title = t("report.sheet.grids")
    header = grid_header(t)
    _header(sheet, 1, header)
    for row, grid in enumerate(report.grids, start=2):
        values: list[Any] = [
            grid["rank"],
            grid["rank_change"],
            grid["name"],
            report.name(grid["community_id"]),
            grid[THREE],
        ]
        formats = ["", "", "", "", PERCENT]
        for rate in GRID_RATES:
            r = grid["rates"][rate]
            values += [r["value"], r["numerator"], r["denominator"]]
            formats += [PERCENT, "", ""]
        values += [grid["counts"][name] for name in GRID_COUNTS]
        below = "、" if t.lang == "zh-CN" else ", "
        values.append(below.join(t(f"perf.rate.{name}") for name in grid["below_floor"]))
        _line(sheet, row, values, formats)
    sheet.freeze_panes = "C2"
    _widths(sheet, [8, 10, 24, 20, *([12] * (len(header) - 5)), 24])


def request_header(t: Words) -> list[str]:
    return [
        t("report.col.id"),
        t("report.col.grid"),
        t("report.col.community"),
        t("report.col.category"),
        t("report.col.status"),
        t("report.col.deadline"),
        t("report.col.escalations"),
        t("report.col.reopens"),
        t("report.col.overdue_here"),
        t("report.col.reopened_here"),
    ]


def _requests(sheet: Worksheet, report: MonthlyReport, t: Words) -> None:
    sheet.title = t("report.sheet.requests")
    _header(sheet, 1, request_header(t))
    for row, item in enumerate(report.requests, start=2):
        _line(
            sheet,
            row,
            [
                item["id"],
                report.name(item["grid_id"]),
                report.name(item["community_id"]),
                t.category(item["category"]),
                t(f"status.{item['status']}"),
                _local(report, item["deadline"]),
                item["escalations"],
                item["reopens"],
                item["overdue"],
                item["reopened"],
            ],
            ["", "", "", "", "", WHEN],
        )
    if report.requests_total > len(report.requests):
        _put(
            sheet,
            len(report.requests) + 3,
            1,
            t("report.requests_more", shown=len(report.requests), total=report.requests_total),
        )
    sheet.freeze_panes = "B2"
    _widths(sheet, [38, 24, 20, 18, 16, 18, 10, 10, 12, 12])


def workbook(report: MonthlyReport, t: Words) -> bytes:
    """The report as the bytes of an ``.xlsx`` file."""
    book = Workbook()
    book.properties.creator = "closeloop"
    book.properties.title = heading(report, t)
    first = book.active
    assert isinstance(first, Worksheet)
    _figures(first, report, t)
    _grids(book.create_sheet(), report, t)
    _requests(book.create_sheet(), report, t)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def filename(report: MonthlyReport) -> tuple[str, str | None]:
    """The file's name: ``closeloop-report-2026-11[-<unit id>].xlsx``, and the same with the
    unit's name (for ``filename*``, which browsers prefer) when it has a unit."""
    base = f"closeloop-report-{report.label}"
    if report.unit is None:
        return f"{base}.xlsx", None
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", report.unit.id)
    return f"{base}-{safe}.xlsx", f"{base}-{report.unit.name}.xlsx"
