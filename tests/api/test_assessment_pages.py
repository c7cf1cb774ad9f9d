"""The assessment's pages in both languages, against the JSON API's answers for the same
month: the league tables (``/rankings``), a unit's figures (``/rankings/unit``), a
handler's month (``/me/month``) and the printable monthly report (``/reports/monthly``);
their refusals next to the field, and who may open them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from domain.performance import POST_COUNTS, RATES, THREE_RATES
from tests.api.assessment_scene import A, B, C, D, Scene, scene_site
from tests.api.conftest import Site
from web.i18n import EN, ZH, Translator
from web.present import percent

MONTH = "2026-11"
LANGS = [ZH, EN]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Scene]]:
    site, filled = scene_site(tmp_path_factory.mktemp("pages"))
    yield site, filled
    site.engine.dispose()


def _page(site: Site, who: str, path: str, status: int = 200) -> str:
    answer = site.client.get(path, headers=site.cookie(who))
    assert answer.status_code == status, answer.text[:2000]
    return answer.text


def _api(site: Site, path: str, who: str = "supervisor1", **params: Any) -> Any:
    answer = site.client.get(f"/api/v1{path}", params=params, headers=site.headers[who])
    assert answer.status_code == 200, answer.text
    return answer.json()


def _rate_cell(rate: dict[str, Any], t: Translator) -> str:
    """How a rate reads on the pages: its value and its numerator and denominator."""
    value = percent(rate["value"]) if rate["value"] is not None else t("perf.no_value")
    fraction = t("perf.rate_of", n=rate["numerator"], d=rate["denominator"])
    return f'<span class="rate-value">{value}</span> <span class="rate-frac">({fraction})</span>'


def _count_row(name: str, value: int, t: Translator) -> str:
    return f'<tr data-count="{name}"><th scope="row">{t(f"perf.count.{name}")}</th><td>{value}</td>'


def _rate_item(name: str, rate: dict[str, Any], t: Translator) -> str:
    return f'data-rate="{name}"><dt>{t(f"perf.rate.{name}")}</dt><dd>{_rate_cell(rate, t)}</dd>'


def _row(html: str, unit_id: str) -> str:
    found = re.search(rf'<tr class="league-row[^"]*" data-unit="{unit_id}".*?</tr>', html, re.S)
    assert found, unit_id
    return found.group(0)


def _change(text: str, label: str) -> str:
    return f'<span aria-hidden="true">{text}</span><span class="sr-only">{label}</span>'


@pytest.mark.parametrize("lang", LANGS)
def test_the_league_table_is_the_api_s_with_changes_and_floors_in_words(
    scene: tuple[Site, Scene], lang: str
) -> None:
    site, s = scene
    t = Translator(lang)
    html = _page(site, "supervisor1", f"/rankings?period={MONTH}&lang={lang}")
    table = _api(site, "/rankings", level="grid", period=MONTH)
    rows = re.findall(
        r'<tr class="league-row( below-floor)?" data-unit="([^"]+)" data-rank="(\d*)" '
        r'data-flagged="(\d)"',
        html,
    )
    assert [r[1] for r in rows] == [item["unit_id"] for item in table["items"]]
    assert [r[1] for r in rows] == [s.grids[name] for name in (A, B, C, D)]
    for (below, _, rank, flagged), item in zip(rows, table["items"], strict=True):
        assert rank == str(item["rank"] or "")
        assert bool(below) == bool(int(flagged)) == item["flagged"]
        row = _row(html, item["unit_id"])
        for rate in THREE_RATES:
            assert f'data-rate="{rate}">{_rate_cell(item["rates"][rate], t)}</td>' in row
        assert f'data-count="assigned">{item["counts"]["assigned"]}</td>' in row
        assert f">{item['name']}</a>" in row
    # the change in rank: an arrow and its words for screen readers
    assert _change("↑1", t("rank.up_label", n=1)) in _row(html, s.grids[A])
    assert _change("↓1", t("rank.down_label", n=1)) in _row(html, s.grids[B])
    assert _change(t("rank.new"), t("rank.new_label")) in _row(html, s.grids[C])
    assert _change("—", t("rank.unranked")) in _row(html, s.grids[D])
    # below a floor: said in words in the row; a grid without data is not "at the floor"
    sep = "、" if lang == ZH else ", "
    below = t("rank.below", rates=sep.join(t(f"perf.rate.{r}") for r in THREE_RATES))
    assert f"▲ {below}</strong>" in _row(html, s.grids[C])
    assert t("rank.unmeasured") in _row(html, s.grids[D])
    assert "below-floor" not in _row(html, s.grids[D])
    # the floors stated, the previous period named
    floors = (
        "底线：响应率 90%、解决率 90%、满意率 90%。"
        if lang == ZH
        else "Floors: Response rate 90%, Resolution rate 90%, Satisfaction rate 90%."
    )
    assert f"<strong>{floors}</strong>" in html
    assert t("rank.previous", period="2026-10") in html
    # the unit's page and the month's report are a link away
    assert f'href="/rankings/unit?unit_id={s.grids[A]}&amp;period={MONTH}"' in html
    assert f'href="/reports/monthly?month={MONTH}"' in html
    assert 'href="/rankings" aria-current="page"' in html


@pytest.mark.parametrize("lang", LANGS)
def test_the_trend_is_a_chart_and_a_table_of_twelve_weeks(
    scene: tuple[Site, Scene], lang: str
) -> None:
    site, _ = scene
    t = Translator(lang)
    html = _page(site, "supervisor1", f"/rankings?lang={lang}")
    trend = _api(site, "/performance/trend", weeks=12)["weeks"]
    assert f'role="img" aria-label="{t("rank.trend")}"' in html
    weeks = re.findall(r'<tr data-week="([\d-]+)"><th scope="row">[\d-]+</th>(.*?)</tr>', html)
    assert [w for w, _ in weeks] == [row["week"] for row in trend]
    assert len(weeks) == 12
    for (_, cells), row in zip(weeks, trend, strict=True):
        values = [
            percent(row[name]) if row[name] is not None else t("perf.no_value")
            for name in THREE_RATES
        ]
        assert cells == "".join(f"<td>{v}</td>" for v in [*values, row["assigned"]])
    assert f'<caption id="trend-table">{t("perf.trend_table")}</caption>' in html


def test_other_levels_metrics_and_periods(scene: tuple[Site, Scene]) -> None:
    site, s = scene
    t = Translator(EN)
    html = _page(
        site, "supervisor1", "/rankings?level=community&metric=response_rate&period=2026Q4&lang=en"
    )
    table = _api(site, "/rankings", level="community", metric="response_rate", period="2026Q4")
    units = re.findall(r'<tr class="league-row[^"]*" data-unit="([^"]+)"', html)
    assert units == [item["unit_id"] for item in table["items"]]
    assert set(units) == set(s.communities.values())
    caption = t("rank.caption", level="Communities", period="2026Q4", metric="Response rate")
    assert caption in html
    assert '<option value="community" selected>' in html
    assert '<option value="response_rate" selected>' in html


@pytest.mark.parametrize("lang", LANGS)
def test_a_period_that_is_not_one_is_refused_next_to_its_field(
    scene: tuple[Site, Scene], lang: str
) -> None:
    site, _ = scene
    t = Translator(lang)
    html = _page(site, "supervisor1", f"/rankings?period=2026-13&lang={lang}", status=422)
    field = re.search(r'<input id="rank-period"[^>]*>', html)
    assert field
    assert 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="rank-period-error rank-period-hint"' in field.group(0)
    assert f'id="rank-period-error" data-error-for role="alert">{t("perf.period_invalid")}' in html
    assert 'value="2026-13"' in field.group(0)  # what was typed stays
    assert "league-row" not in html


@pytest.mark.parametrize("lang", LANGS)
def test_a_unit_s_page_has_its_figures_rank_and_units(scene: tuple[Site, Scene], lang: str) -> None:
    site, s = scene
    t = Translator(lang)
    community = s.communities["医院西路社区"]
    html = _page(
        site, "supervisor1", f"/rankings/unit?unit_id={community}&period={MONTH}&lang={lang}"
    )
    perf = _api(site, "/performance", unit_id=community, period=MONTH)
    for name in POST_COUNTS:
        assert _count_row(name, perf["counts"][name], t) in html
    for name in RATES:
        assert _rate_item(name, perf["rates"][name], t) in html
    for key in ("p50", "p90"):
        hours = t("perf.hours", h=perf["resolve_hours"][key])
        assert f'data-hours="{key}"><dt>{t(f"perf.resolve_{key}")}</dt><dd>{hours}</dd>' in html
    league = _api(site, "/rankings", level="community", period=MONTH)
    mine = next(item for item in league["items"] if item["unit_id"] == community)
    ranked = sum(1 for item in league["items"] if item["rank"] is not None)
    assert t("rank.of", rank=mine["rank"], of=ranked) in html
    # its grids, ranked among themselves as in the grids' table
    assert re.findall(r'<tr class="league-row[^"]*" data-unit="([^"]+)"', html) == [
        s.grids[A],
        s.grids[B],
    ]
    assert f'href="/reports/monthly?month={MONTH}&amp;unit_id={community}"' in html
    # a grid has no units in it; the whole office is the default
    grid = _page(site, "supervisor1", f"/rankings/unit?unit_id={s.grids[D]}&period={MONTH}")
    assert 'id="children-title"' not in grid and "league-row" not in grid
    assert f"<strong>{Translator(ZH)('rank.unranked')}</strong>" in grid  # no requests: no rank
    assert Translator(ZH)("rank.unmeasured") in grid
    whole = _page(site, "supervisor1", f"/rankings/unit?period={MONTH}&lang={lang}")
    everything = _api(site, "/performance", period=MONTH)
    assert f"<span data-unit-name>{t('unitfig.whole')}</span>" in whole
    assert _count_row("assigned", everything["counts"]["assigned"], t) in whole


def test_an_unknown_unit_is_refused_next_to_the_unit_field(scene: tuple[Site, Scene]) -> None:
    site, _ = scene
    html = _page(site, "supervisor1", "/rankings/unit?unit_id=nope&lang=en", status=422)
    assert (
        '<select id="unit-choice" name="unit_id" aria-invalid="true" '
        'aria-describedby="unit-choice-error">' in html
    )
    assert 'id="unit-choice-error" data-error-for role="alert">There is no such unit' in html
    assert 'data-count="assigned"' not in html


@pytest.mark.parametrize("lang", LANGS)
def test_a_handler_s_month_is_their_record(scene: tuple[Site, Scene], lang: str) -> None:
    site, s = scene
    t = Translator(lang)
    html = _page(site, "worker1", f"/me/month?period={MONTH}&lang={lang}")
    record = _api(site, "/performance/me", "worker1", period=MONTH)
    for name in ("assigned", "accepted", "resolved", "reopened", "escalated_missed", "overdue"):
        count = record["counts"][name]
        assert f'data-count="{name}"><dt>{t(f"perf.count.{name}")}</dt><dd>{count}</dd>' in html
    for name in THREE_RATES:
        rate = record["rates"][name]
        value = percent(rate["value"]) if rate["value"] is not None else t("perf.no_value")
        fraction = t("perf.rate_of", n=rate["numerator"], d=rate["denominator"])
        assert (
            f'data-rate="{name}"><span class="k">{t(f"perf.rate.{name}")}</span>'
            f'<span class="v">{value}</span><span class="frac">{fraction}</span>' in html
        )
    [standing] = record["standing"]  # worker1 holds one post: 医院西路社区第一网格
    assert standing["unit_id"] == s.grids[A]
    assert t("rank.of", rank=standing["rank"], of=standing["of"]) in html
    assert _change("↑1", t("rank.up_label", n=1)) in html
    # the requests behind the counts, each a link to its page
    linked = re.findall(r'<li class="card stint" data-id="([^"]+)"', html)
    assert linked == [item["request_id"] for item in record["requests"]]
    assert {s.ids["closed_a"], s.ids["reopened_a"], s.ids["overdue_a"]} <= set(linked)
    assert s.ids["late_b"] not in linked  # worker2's
    for request_id in set(linked):
        assert f'<a href="/requests/{request_id}">' in html
    assert 'href="/me/month" aria-current="page"' in html
    assert 'href="/me/month"' in _page(site, "worker1", "/tasks")  # in the handlers' navigation
    # a month without requests says so
    empty = _page(site, "worker1", f"/me/month?period=2025-01&lang={lang}")
    assert t("mymonth.empty") in empty


def test_a_month_that_is_not_one_is_refused_next_to_the_month(scene: tuple[Site, Scene]) -> None:
    site, _ = scene
    html = _page(site, "worker1", "/me/month?period=2026Q4&lang=en", status=422)
    assert 'aria-invalid="true" aria-describedby="my-month-error"' in html
    assert 'id="my-month-error" data-error-for role="alert">Choose a month' in html
    assert "card stint" not in html


@pytest.mark.parametrize("lang", LANGS)
def test_the_printable_report_is_the_file_s_figures(scene: tuple[Site, Scene], lang: str) -> None:
    site, s = scene
    t = Translator(lang)
    html = _page(
        site, "supervisor1", f"/reports/monthly?month={MONTH}&unit_id={s.town}&lang={lang}"
    )
    assert t("report.heading", unit="城关镇", month=MONTH) in html
    download = f"/api/v1/reports/monthly?month={MONTH}&amp;format=xlsx&amp;lang={lang}"
    assert f'href="{download}&amp;unit_id={s.town}" data-download download>' in html
    sections = re.findall(r'<section class="report-section"[^>]*data-section="(\w+)"', html)
    assert sections == ["posts", "received", "grids", "weeks", "requests"]
    perf = _api(site, "/performance", unit_id=s.town, period=MONTH)
    for name in RATES:
        assert _rate_item(name, perf["rates"][name], t) in html
    for name in POST_COUNTS:
        assert _count_row(name, perf["counts"][name], t) in html
    month = {"from": "2026-11-01T00:00:00+08:00", "to": "2026-12-01T00:00:00+08:00"}
    stats = _api(site, "/stats", unit_id=s.town, **month)
    for key in ("received", "closed", "escalations", "overdue"):
        assert f'<tr data-stat="{key}"><th scope="row">' in html
        assert re.search(
            rf'data-stat="{key}"><th scope="row">[^<]+</th><td>{stats[key]}</td>', html
        )
    satisfaction = t("perf.rate_of", n=stats["satisfied"], d=stats["reviews_reached"])
    assert re.search(
        rf'data-stat="satisfaction_rate">.*?<td>{re.escape(percent(stats["satisfaction_rate"]))}'
        rf"</td><td>{re.escape(satisfaction)}</td>",
        html,
    )
    table = _api(site, "/rankings", level="grid", period=MONTH)
    grids = re.findall(r'<tr class="league-row[^"]*" data-unit="([^"]+)"', html)
    assert grids == [item["unit_id"] for item in table["items"]]
    listed = re.findall(r'<tr data-id="([^"]+)">', html)
    assert set(listed) == s.flagged
    assert html.count('<svg class="chart"') == 2  # the grids' rates and the weeks, inline
    for name, phone in s.residents:
        assert name not in html and phone not in html
    assert "water drips" not in html
    # printing: the report's own style sheet, which hides the navigation and breaks pages
    assert '<link rel="stylesheet" href="/static/assessment.css">' in html
    css = site.client.get("/static/assessment.css").text
    printing = css[css.index("@media print") :]
    assert ".top" in printing and "display: none" in printing
    assert ".report-section { break-before: page;" in printing


def test_the_page_s_xlsx_form_is_the_api_s_file(scene: tuple[Site, Scene]) -> None:
    site, s = scene
    path = f"/reports/monthly?month={MONTH}&unit_id={s.town}&format=xlsx&lang=en"
    answer = site.client.get(path, headers=site.cookie("supervisor1"), follow_redirects=False)
    assert answer.status_code == 303
    target = answer.headers["location"]
    assert target == f"/api/v1/reports/monthly?month={MONTH}&unit_id={s.town}&format=xlsx&lang=en"
    file = site.client.get(target, headers=site.cookie("supervisor1"))  # the session cookie
    assert file.status_code == 200
    assert file.headers["content-disposition"].startswith("attachment; ")


def test_the_report_page_refuses_next_to_its_fields(scene: tuple[Site, Scene]) -> None:
    site, _ = scene
    html = _page(site, "supervisor1", "/reports/monthly?month=2026-13&unit_id=nope&lang=en", 422)
    assert 'aria-invalid="true" aria-describedby="report-month-error"' in html
    assert 'id="report-month-error" data-error-for role="alert">That is not a month' in html
    assert 'aria-invalid="true" aria-describedby="report-unit-error"' in html
    assert 'id="report-unit-error" data-error-for role="alert">There is no such unit' in html
    assert "report-section" not in html and "data-download" not in html


def test_who_opens_which_page(scene: tuple[Site, Scene]) -> None:
    site, _ = scene
    for path in ("/rankings", "/rankings/unit", "/reports/monthly"):
        _page(site, "admin", path)
        for who in ("worker1", "caller1", "partner1"):
            _page(site, who, path, status=403)
    for who in ("supervisor1", "caller1"):
        _page(site, who, "/me/month", status=403)
    signed_out = site.client.get("/rankings", follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/login?next=")
    board = _page(site, "supervisor1", "/board")
    assert 'href="/reports/monthly" data-report-link>' in board
    assert 'href="/rankings"' in board
