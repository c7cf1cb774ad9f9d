"""The monthly report as an Excel file (``GET /api/v1/reports/monthly``): it opens with
openpyxl, its cells equal what the API answers for the same month and unit
(``/performance``, ``/stats``, ``/rankings``, ``/requests/{id}``), its headers are in the
language asked for, no cell holds a resident's name, phone or description, and a bad month
or an unknown unit is refused."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from httpx import Response
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from api.report_xlsx import MEDIA_TYPE, grid_header, request_header
from domain.performance import POST_COUNTS, RATES, THREE_RATES
from tests.api.assessment_scene import (
    COMMUNITY_OF,
    FORMULA_CATEGORY,
    A,
    B,
    C,
    D,
    Scene,
    scene_site,
)
from tests.api.conftest import Site
from web.i18n import EN, ZH, Translator

ZONE = ZoneInfo("Asia/Shanghai")
MONTH = "2026-11"
#: The month's local start and end, as /stats is asked for them.
START, END = "2026-11-01T00:00:00+08:00", "2026-12-01T00:00:00+08:00"
STATS_KEYS = (
    "received", "closed", "completion_rate", "completion_rate_reached", "on_time_rate",
    "reviews_reached", "satisfied", "satisfaction_rate", "escalations", "overdue", "returned",
    "redirected", "urged", "warned", "extensions_asked", "extensions_approved", "out_of_scope",
    "closed_unreached",
)  # fmt: skip


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Scene]]:
    site, filled = scene_site(tmp_path_factory.mktemp("report"))
    yield site, filled
    site.engine.dispose()


def _get(site: Site, path: str, who: str = "supervisor1", **params: Any) -> Response:
    return site.client.get(path, params=params, headers=site.headers[who])


def _api(site: Site, path: str, **params: Any) -> Any:
    answer = _get(site, f"/api/v1{path}", **params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _download(site: Site, **params: Any) -> tuple[Response, Workbook]:
    answer = _get(site, "/api/v1/reports/monthly", **params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == MEDIA_TYPE
    return answer, load_workbook(io.BytesIO(answer.content))


def _keyed(sheet: Worksheet) -> dict[str, tuple[Any, ...]]:
    """The figures' sheet by its key column: key -> (measure, value, numerator, denominator)."""
    rows = {}
    for row in sheet.iter_rows(values_only=True):
        if isinstance(row[4], str) and "." in row[4]:
            rows[row[4]] = row[:4]
    return rows


def _rows(sheet: Worksheet) -> list[tuple[Any, ...]]:
    return [row for row in sheet.iter_rows(min_row=2, values_only=True) if any(row)]


@pytest.mark.parametrize("lang", [ZH, EN])
def test_the_town_s_file_holds_the_api_s_figures_for_the_month(
    scene: tuple[Site, Scene], lang: str
) -> None:
    site, s = scene
    answer, book = _download(site, month=MONTH, unit_id=s.town, lang=lang)
    name = f"closeloop-report-{MONTH}-{s.town}.xlsx"
    named = quote(f"closeloop-report-{MONTH}-城关镇.xlsx", safe="")
    assert answer.headers["content-disposition"] == (
        f"attachment; filename=\"{name}\"; filename*=UTF-8''{named}"
    )
    t = Translator(lang)
    assert book.sheetnames == [
        t("report.sheet.figures"),
        t("report.sheet.grids"),
        t("report.sheet.requests"),
    ]
    assert book.sheetnames[0] == ("总体指标" if lang == ZH else "figures")
    figures, grids, listed = book.worksheets

    # ---- sheet 1: the posts' figures as /performance, the received as /stats
    header = [t(f"report.col.{c}") for c in ("measure", "value", "numerator", "denominator")]
    assert [c.value for c in figures[5][:4]] == header
    keyed = _keyed(figures)
    perf = _api(site, "/performance", unit_id=s.town, period=MONTH)
    for count in POST_COUNTS:
        label = t(f"perf.count.{count}")
        assert keyed[f"posts.{count}"] == (label, perf["counts"][count], None, None)
    for rate in RATES:
        r = perf["rates"][rate]
        assert keyed[f"posts.{rate}"] == (
            t(f"perf.rate.{rate}"),
            r["value"],
            r["numerator"],
            r["denominator"],
        )
    assert keyed["posts.three_rates"][1] == perf["three_rates"]
    for key in ("p50", "p90", "count"):
        assert keyed[f"posts.resolve_hours.{key}"][1] == perf["resolve_hours"][key]
    stats = _api(site, "/stats", unit_id=s.town, **{"from": START, "to": END})
    for key in STATS_KEYS:
        assert keyed[f"stats.{key}"][1] == stats[key], key
    assert keyed["stats.satisfaction_rate"][2:] == (stats["satisfied"], stats["reviews_reached"])
    # what the scene holds, counted by hand: six requests received in November
    assert keyed["stats.received"][1] == 6
    assert keyed["posts.reopened"][1] == 3 and keyed["posts.overdue"][1] == 1

    # ---- sheet 2: every grid of the town, as the grids' league table has them
    assert [c.value for c in grids[1]] == grid_header(t)
    table = _api(site, "/rankings", level="grid", period=MONTH)
    expected = []
    for item in table["items"]:
        row: list[Any] = [item["rank"], item["rank_change"], item["name"]]
        row.append(next(c for c, names in COMMUNITY_OF.items() if item["name"] in names))
        row.append(item["three_rates"])
        for rate in THREE_RATES:
            r = item["rates"][rate]
            row += [r["value"], r["numerator"], r["denominator"]]
        row += [item["counts"][c] for c in ("assigned", "resolved", "overdue", "reopened")]
        expected.append(row)
    got = [list(row[:-1]) for row in _rows(grids)]
    assert got == expected
    assert [row[2] for row in got] == [A, B, C, D]  # A rose above B: ranks 1 and 2
    assert [row[:2] for row in got] == [[1, 1], [2, -1], [3, None], [None, None]]
    below = dict((row[2], row[-1]) for row in _rows(grids))
    sep = "、" if lang == ZH else ", "
    assert below[C] == sep.join(t(f"perf.rate.{rate}") for rate in THREE_RATES)
    assert below[D] is None  # no requests: nothing is below a floor

    # ---- sheet 3: the overdue and reopened requests, as the API reads them
    assert [c.value for c in listed[1]] == request_header(t)
    rows = _rows(listed)
    assert {row[0] for row in rows} == s.flagged
    for row in rows:
        request = _api(site, f"/requests/{row[0]}")
        deadline = datetime.fromisoformat(request["deadline"]).astimezone(ZONE)
        grid = next(n for n, i in s.grids.items() if i == request["grid_id"])
        assert row[1] == grid
        assert row[4] == t(f"status.{request['status']}")
        assert row[5] == deadline.replace(tzinfo=None)
        assert row[6:8] == (request["escalations"], request["reopens"])
    by_id = {row[0]: row for row in rows}
    assert by_id[s.ids["overdue_a"]][8:] == (1, 0)  # overdue here, not reopened
    assert by_id[s.ids["reopened_a"]][8:] == (0, 1)
    formula = next(c for c in listed["D"] if c.value == FORMULA_CATEGORY)
    assert formula.data_type == "s"  # a category named like a formula stays text


def test_a_community_s_file_holds_its_grids_only(scene: tuple[Site, Scene]) -> None:
    site, s = scene
    community = s.communities["医院西路社区"]
    answer, book = _download(site, month=MONTH, unit_id=community, lang=EN)
    assert (
        f'filename="closeloop-report-{MONTH}-{community}.xlsx"'
        in (answer.headers["content-disposition"])
    )
    figures, grids, listed = book.worksheets
    perf = _api(site, "/performance", unit_id=community, period=MONTH)
    keyed = _keyed(figures)
    assert keyed["posts.assigned"][1] == perf["counts"]["assigned"]
    assert keyed["posts.response_rate"][1:] == (
        perf["rates"]["response_rate"]["value"],
        perf["rates"]["response_rate"]["numerator"],
        perf["rates"]["response_rate"]["denominator"],
    )
    assert [row[2] for row in _rows(grids)] == [A, B]
    assert {row[0] for row in _rows(listed)} == {
        s.ids["reopened_a"],
        s.ids["overdue_a"],
        s.ids["reopened_b"],
    }


def test_the_whole_office_s_file_is_named_by_its_month(scene: tuple[Site, Scene]) -> None:
    site, s = scene
    answer, book = _download(site, month=MONTH)
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="closeloop-report-{MONTH}.xlsx"'
    )
    assert book.sheetnames[0] == "总体指标"  # Chinese unless asked otherwise
    assert {row[0] for row in _rows(book.worksheets[2])} == s.flagged
    # October: nothing overdue or reopened, every grid listed
    _, october = _download(site, month="2026-10", lang=EN)
    assert [row[0] for row in _rows(october.worksheets[2])] == []
    assert len(_rows(october.worksheets[1])) == 4


def test_no_cell_holds_a_resident_s_name_phone_or_description(scene: tuple[Site, Scene]) -> None:
    site, s = scene
    private = [text for pair in s.residents for text in pair]
    private.append("water drips from the flat above")  # every request's description
    assert len(s.residents) == 10  # four requests in October, six in November
    for unit in (None, s.town, s.communities["医院西路社区"], s.grids[A]):
        for lang in (ZH, EN):
            params = {"month": MONTH, "lang": lang, **({"unit_id": unit} if unit else {})}
            _, book = _download(site, **params)
            cells = [
                str(cell.value)
                for sheet in book.worksheets
                for row in sheet.iter_rows()
                for cell in row
                if cell.value is not None
            ]
            assert len(cells) > 100
            found = [text for text in private for cell in cells if text in cell]
            assert not found, (unit, lang, found)


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"month": "2026-13"}, "bad_period", "month"),
        ({"month": "2026Q4"}, "bad_period", "month"),  # a quarter is not a month
        ({"month": "2026"}, "bad_period", "month"),
        ({"month": "November"}, "bad_period", "month"),
        ({"month": "1999-12"}, "bad_period", "month"),
        ({"month": MONTH, "unit_id": "no-such-unit"}, "unknown_unit", "unit_id"),
        ({"month": "2026-13", "format": "html"}, "bad_period", "month"),
        ({"month": MONTH, "unit_id": "nope", "format": "html"}, "unknown_unit", "unit_id"),
    ],
)
def test_a_bad_month_or_an_unknown_unit_is_refused(
    scene: tuple[Site, Scene], params: dict[str, str], code: str, field: str
) -> None:
    site, _ = scene
    answer = _get(site, "/api/v1/reports/monthly", **params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert (body["code"], body["field"]) == (code, field)
    assert body["detail"]
    assert "content-disposition" not in answer.headers


def test_who_may_have_the_report(scene: tuple[Site, Scene]) -> None:
    site, _ = scene
    assert _get(site, "/api/v1/reports/monthly", "admin", month=MONTH).status_code == 200
    for who in ("worker1", "caller1", "dispatcher1"):
        answer = _get(site, "/api/v1/reports/monthly", who, month=MONTH)
        assert answer.status_code == 403
        assert answer.json()["code"] == "role_required"
    anonymous = site.client.get("/api/v1/reports/monthly", params={"month": MONTH})
    assert anonymous.status_code == 401
    wrong = _get(site, "/api/v1/reports/monthly", month=MONTH, format="pdf")
    assert (wrong.status_code, wrong.json()["code"]) == (422, "invalid_input")


def test_the_html_form_is_the_printable_page(scene: tuple[Site, Scene]) -> None:
    site, s = scene
    unit = s.communities["祥和苑社区"]
    answer = site.client.get(
        "/api/v1/reports/monthly",
        params={"month": MONTH, "unit_id": unit, "format": "html", "lang": "en"},
        headers=site.headers["supervisor1"],
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/reports/monthly?month={MONTH}&lang=en&unit_id={unit}"
