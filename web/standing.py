"""How the assessment's figures are shown on the pages (the league tables, a unit's page, the
worker's month, the monthly report): a rate with its numerator and denominator, a change in
rank in words as well as an arrow, the floors, a league table's rows, and the weekly chart
of the three rates with its table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from markupsafe import Markup

from domain.performance import RATES, THREE_RATES
from web import charts
from web.i18n import ZH, Translator
from web.present import percent

#: Each of the three rates' colour on the charts (web/static/assessment.css).
RATE_CSS = {
    "response_rate": "s-response",
    "resolution_rate": "s-resolution",
    "satisfaction_rate": "s-satisfied",
}


def rate_view(rate: dict[str, Any], t: Translator) -> dict[str, str]:
    """A rate as the pages show it: ``92.0%`` and ``23/25`` (``23 of 25``)."""
    value = rate.get("value")
    return {
        "value": percent(value) if value is not None else t("perf.no_value"),
        "fraction": t("perf.rate_of", n=rate["numerator"], d=rate["denominator"]),
        "missing": "1" if value is None else "",
    }


def rates_view(rates: dict[str, dict[str, Any]], t: Translator) -> list[dict[str, str]]:
    """Every rate of :data:`domain.performance.RATES`, named, in their order."""
    return [
        {"name": name, "label": t(f"perf.rate.{name}"), **rate_view(rates[name], t)}
        for name in RATES
    ]


def change_view(rank: int | None, change: int | None, t: Translator) -> dict[str, str]:
    """The change in rank since the period before: what is seen (``↑2``) and what a screen
    reader says (``up 2 places since the previous period``); ``css`` up, down, same, new."""
    if rank is None:
        return {"text": "—", "label": t("rank.unranked"), "css": "none"}
    if change is None:
        return {"text": t("rank.new"), "label": t("rank.new_label"), "css": "new"}
    if change > 0:
        return {"text": f"↑{change}", "label": t("rank.up_label", n=change), "css": "up"}
    if change < 0:
        return {"text": f"↓{-change}", "label": t("rank.down_label", n=-change), "css": "down"}
    return {"text": t("rank.same"), "label": t("rank.same_label"), "css": "same"}


def floors_text(floors: dict[str, float], t: Translator) -> str:
    """``响应率 90%、解决率 90%、满意率 90%`` / ``Response rate 90%, ...``."""
    sep = "、" if t.lang == ZH else ", "
    return sep.join(
        t("rank.floor_item", rate=t(f"perf.rate.{name}"), floor=f"{floor * 100:g}%")
        for name, floor in floors.items()
    )


def below_text(below: Sequence[str], t: Translator) -> str:
    sep = "、" if t.lang == ZH else ", "
    return t("rank.below", rates=sep.join(t(f"perf.rate.{name}") for name in below))


def league_rows(items: Sequence[dict[str, Any]], t: Translator) -> list[dict[str, Any]]:
    """A league table's rows (``perf.ranked``'s) as the pages show them."""
    rows = []
    for item in items:
        rows.append(
            {
                "unit_id": item["unit_id"],
                "name": item["name"],
                "rank": item["rank"],
                "change": change_view(item["rank"], item["rank_change"], t),
                "value": percent(item["value"]) if item["value"] is not None else "",
                "three": [
                    {"name": name, **rate_view(item["rates"][name], t)} for name in THREE_RATES
                ],
                "assigned": item["counts"]["assigned"],
                "flagged": item["flagged"],
                "below": below_text(item["below_floor"], t) if item["flagged"] else "",
                # not below a floor, but with a rate it could not be measured on
                "unmeasured": not item["flagged"]
                and any(item["rates"][name]["value"] is None for name in THREE_RATES),
            }
        )
    return rows


def trend(
    weeks: Sequence[dict[str, Any]], t: Translator, label: str
) -> tuple[Markup, list[dict[str, Any]]]:
    """The three rates week by week as a line chart, and the same as table rows (for
    screen readers and print)."""
    x_labels = [date.fromisoformat(w["week"]).strftime("%m-%d") for w in weeks]
    chart = charts.lines(
        [
            charts.Series(t(f"perf.rate.{name}"), [w[name] for w in weeks], RATE_CSS[name])
            for name in THREE_RATES
        ],
        x_labels,
        label,
    )
    table = [
        {
            "week": w["week"],
            "assigned": w["assigned"],
            "rates": [
                percent(w[name]) if w[name] is not None else t("perf.no_value")
                for name in THREE_RATES
            ],
        }
        for w in weeks
    ]
    return chart, table


def grids_chart(grids: Sequence[dict[str, Any]], t: Translator, label: str) -> Markup:
    """Each grid's three rates as bars, its rate and fraction printed at the bar's end."""
    rows = []
    for grid in grids:
        bars = []
        for name in THREE_RATES:
            rate = grid["rates"][name]
            shown = rate_view(rate, t)
            bars.append(
                charts.Bar(
                    t(f"perf.rate.{name}"),
                    rate["value"] or 0.0,
                    RATE_CSS[name],
                    f"{shown['value']} ({rate['numerator']}/{rate['denominator']})",
                )
            )
        rows.append((grid["name"], bars))
    return charts.bar_rows(rows, label, scale=1.0, width=620, label_w=200)
