"""The working-day calendar over HTTP: who reads and sets a year, refusals that write
nothing, the admins' days winning over the package's, and /health's warning."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import delete

from closeloop import workcalendar
from closeloop.settings import Settings, SettingsError
from closeloop.workcalendar import Deadlines, calendar_days, load_calendar, package_days
from domain.ladder import Tier
from tests.api.conftest import Site

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: A year the package (1.11.0) does not know
UNKNOWN = 2030


def url(year: int | str) -> str:
    return f"/api/v1/calendar/{year}"


@pytest.fixture(autouse=True)
def empty_table(site: Site) -> Iterator[None]:
    """Each test starts and ends without the admins' days (the site is the module's)."""
    with site.engine.begin() as conn:
        conn.execute(delete(calendar_days))
    yield
    with site.engine.begin() as conn:
        conn.execute(delete(calendar_days))


def put(site: Site, year: int | str, body: Any, who: str = "admin") -> httpx.Response:
    return site.client.put(url(year), json=body, headers=site.headers[who])


def get(site: Site, year: int | str, who: str = "worker1") -> dict[str, Any]:
    answer = site.client.get(url(year), headers=site.headers[who])
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_staff_read_a_year_the_package_knows(site: Site) -> None:
    for who in ("worker1", "caller1", "supervisor1", "admin"):
        body = get(site, 2026, who)
        assert body["source"] == "package"
        assert "2026-02-16" in body["holidays"] and "2026-10-01" in body["holidays"]
        assert body["workdays"] == [
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10",
        ]
        assert body["package"] == {
            "known": True,
            "holidays": body["holidays"],
            "workdays": body["workdays"],
        }
        assert (body["set_by"], body["set_at"]) == (None, None)


def test_a_year_nobody_knows_has_no_days(site: Site) -> None:
    body = get(site, UNKNOWN)
    assert body == {
        "year": UNKNOWN,
        "source": "none",
        "holidays": [],
        "workdays": [],
        "package": {"known": False, "holidays": [], "workdays": []},
        "set_by": None,
        "set_at": None,
    }


def test_reading_needs_a_sign_in(site: Site) -> None:
    answer = site.client.get(url(2026))
    assert answer.status_code == 401 and answer.json()["code"] == "sign_in"


@pytest.mark.parametrize("who", ["worker1", "supervisor1", "caller1"])
def test_only_an_admin_sets_a_year(site: Site, who: str) -> None:
    answer = put(site, UNKNOWN, {"holidays": ["2030-01-01"], "workdays": []}, who)
    assert answer.status_code == 403
    assert answer.json()["code"] == "role_required"
    assert get(site, UNKNOWN)["source"] == "none"
    assert site.client.put(url(UNKNOWN), json={"holidays": [], "workdays": []}).status_code == 401


def test_an_admin_sets_a_year_and_everyone_reads_it(site: Site) -> None:
    body = {"holidays": ["2030-02-04", "2030-01-01"], "workdays": ["2030-02-09"]}
    answer = put(site, UNKNOWN, body)
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["source"] == "table"
    assert shown["holidays"] == ["2030-01-01", "2030-02-04"]  # in order
    assert shown["workdays"] == ["2030-02-09"]
    assert shown["set_by"] == "admin" and shown["set_at"]
    assert get(site, UNKNOWN, "worker1") == shown
    calendar = load_calendar([UNKNOWN], db=site.engine)
    assert calendar.known_years == {UNKNOWN}
    assert not calendar.is_workday(date(2030, 1, 1)) and calendar.is_workday(date(2030, 2, 9))


def test_both_lists_empty_give_the_year_back_to_the_package(site: Site) -> None:
    assert put(site, 2026, {"holidays": ["2026-03-09"], "workdays": []}).json()["source"] == "table"
    answer = put(site, 2026, {"holidays": [], "workdays": []})
    assert answer.status_code == 200
    assert answer.json()["source"] == "package"
    assert get(site, 2026)["holidays"] == [d.isoformat() for d in package_days(2026).holidays]  # type: ignore[union-attr]


REFUSALS = [
    ({"holidays": ["2029-12-31"], "workdays": []}, "date_outside_year", "holidays"),
    ({"holidays": [], "workdays": ["2031-01-01"]}, "date_outside_year", "workdays"),
    ({"holidays": ["2030-01-01", "2030-01-01"], "workdays": []}, "duplicate_date", "holidays"),
    ({"holidays": [], "workdays": ["2030-02-09", "2030-02-09"]}, "duplicate_date", "workdays"),
    ({"holidays": ["2030-02-09"], "workdays": ["2030-02-09"]}, "date_in_both", "workdays"),
]


@pytest.mark.parametrize(("body", "code", "field"), REFUSALS)
def test_a_refused_year_writes_nothing(
    site: Site, body: dict[str, list[str]], code: str, field: str
) -> None:
    before = put(site, UNKNOWN, {"holidays": ["2030-10-01"], "workdays": []}).json()
    answer = put(site, UNKNOWN, body)
    assert answer.status_code == 422, answer.text
    refused = answer.json()
    assert (refused["code"], refused["field"]) == (code, field)
    assert refused["params"]["date"] in body[field]
    assert get(site, UNKNOWN) == before


@pytest.mark.parametrize("year", ["1999", "2101", "0", "twenty", "2030.5"])
def test_a_year_out_of_range_is_a_422_naming_it(site: Site, year: str) -> None:
    for answer in (
        put(site, year, {"holidays": [], "workdays": []}),
        site.client.get(url(year), headers=site.headers["worker1"]),
    ):
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert body["code"] == "invalid_input"
        assert [e["loc"] for e in body["detail"]] == [["path", "year"]]


@pytest.mark.parametrize(
    "body",
    [
        {"holidays": [20300101], "workdays": []},
        {"holidays": ["1 Jan 2030"], "workdays": []},
        {"holidays": ["2030-02-30"], "workdays": []},
        {"holidays": []},
        {"holidays": [], "workdays": [], "extra": 1},
        {"holidays": ["2030-01-01"] * 367, "workdays": []},
    ],
)
def test_a_body_that_does_not_fit_is_a_422(site: Site, body: dict[str, Any]) -> None:
    answer = put(site, UNKNOWN, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_input"
    assert get(site, UNKNOWN)["source"] == "none"


def test_the_table_wins_over_the_package_for_deadlines(site: Site) -> None:
    deadlines = Deadlines(site.engine, site.settings)
    in_the_holiday = datetime(2026, 2, 20, 10, tzinfo=SHANGHAI)  # Spring Festival, a Friday
    # the package: off until Mon Feb 23, counted from Tue Feb 24 00:00: 25, 26, 27
    assert deadlines.due(Tier.D3, in_the_holiday) == datetime(2026, 2, 27, tzinfo=SHANGHAI)
    # an admin's 2026: Mon Feb 23 worked, Sat Feb 14 no longer a make-up day
    package = package_days(2026)
    assert package is not None
    holidays = [d.isoformat() for d in package.holidays if d != date(2026, 2, 23)]
    workdays = [d.isoformat() for d in package.workdays if d != date(2026, 2, 14)]
    assert put(site, 2026, {"holidays": holidays, "workdays": workdays}).status_code == 200
    shown = get(site, 2026)
    assert shown["source"] == "table" and "2026-02-23" not in shown["holidays"]
    assert "2026-02-23" in shown["package"]["holidays"]  # the package's, for comparison
    calendar = load_calendar([2026], db=site.engine)
    assert calendar.is_workday(date(2026, 2, 23)) and not calendar.is_workday(date(2026, 2, 14))
    # counted from Mon Feb 23 00:00 now: 24, 25, 26
    assert deadlines.due(Tier.D3, in_the_holiday) == datetime(2026, 2, 26, tzinfo=SHANGHAI)
    assert deadlines.due(Tier.D1, in_the_holiday) == in_the_holiday + timedelta(hours=24)
    # at the year's end the next year's days count too
    late = datetime(2026, 12, 31, 9, tzinfo=SHANGHAI)  # a Thursday
    assert deadlines.due(Tier.D3, late) == datetime(2027, 1, 5, 9, tzinfo=SHANGHAI)  # Mon-Fri
    answer = put(site, 2027, {"holidays": ["2027-01-01", "2027-01-04"], "workdays": []})
    assert answer.status_code == 200
    assert deadlines.due(Tier.D3, late) == datetime(2027, 1, 7, 9, tzinfo=SHANGHAI)
    assert deadlines.due(Tier.M1, late) == datetime(2027, 1, 31, 9, tzinfo=SHANGHAI)


def test_on_short_days_deadlines_count_calendar_days(site: Site) -> None:
    settings = Settings(**{**site.settings.__dict__, "day_seconds": 20.0})
    friday = datetime(2026, 2, 13, 10, tzinfo=SHANGHAI)
    due = Deadlines(site.engine, settings).due
    assert due(Tier.D3, friday) == friday + timedelta(seconds=60)
    assert due(Tier.M1, friday) == friday + timedelta(seconds=600)


def _health_warnings(site: Site) -> list[str]:
    answer = site.client.get("/api/v1/health")
    body: dict[str, Any] = answer.json()
    assert answer.status_code == 503 and body["status"] == "unavailable"  # no Temporal here
    assert body["store"] == "ok"
    warnings: list[str] = body["warnings"]
    return warnings


def test_health_warns_of_a_year_nobody_knows_until_an_admin_sets_it(site: Site) -> None:
    this_year = datetime.now(SHANGHAI).year
    years = (this_year, this_year + 1)
    unknown = [y for y in years if package_days(y) is None]
    assert _health_warnings(site) == [f"calendar_missing:{y}" for y in unknown]
    for year in unknown:
        assert put(site, year, {"holidays": [f"{year}-01-01"], "workdays": []}).status_code == 200
    assert _health_warnings(site) == []


def test_missing_years_is_told_for_this_year_and_the_next(site: Site) -> None:
    settings = site.settings
    assert workcalendar.missing_years(site.engine, settings, date(2025, 6, 1)) == ()
    assert workcalendar.missing_years(site.engine, settings, date(2026, 12, 31)) == (2027,)
    assert workcalendar.missing_years(site.engine, settings, date(2029, 1, 1)) == (2029, 2030)
    put(site, 2030, {"holidays": ["2030-01-01"], "workdays": []})
    assert workcalendar.missing_years(site.engine, settings, date(2029, 1, 1)) == (2029,)
    # no warning when deadlines do not count working days
    for changed in ({"day_seconds": 20.0}, {"tier_rules": "1d=24h,3d=3d,5d=5d,1m=1M"}):
        other = Settings(**{**settings.__dict__, **changed})
        assert workcalendar.missing_years(site.engine, other, date(2029, 1, 1)) == ()


def test_a_set_year_is_refused_outside_2000_to_2100(site: Site) -> None:
    with pytest.raises(workcalendar.CalendarError) as refused:
        workcalendar.set_year(1999, [], [], "admin", db=site.engine)
    assert (refused.value.code, refused.value.field) == ("year_out_of_range", "year")


Env = Callable[..., Settings]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Env:
    def settings(**variables: str) -> Settings:
        for name in ("CLOSELOOP_TIER_RULES", "CLOSELOOP_TIMEZONE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return Settings.from_env()

    return settings


def test_the_settings_default_to_working_days_in_shanghai(env: Env) -> None:
    settings = env()
    assert settings.tier_rules == "1d=24h,3d=3wd,5d=5wd,1m=1M"
    assert settings.timezone == "Asia/Shanghai"
    assert env(CLOSELOOP_TIER_RULES="1d=1wd,3d=3wd,5d=5wd,1m=1M").tier_rules.startswith("1d=1wd")
    assert env(CLOSELOOP_TIMEZONE="Asia/Urumqi").timezone == "Asia/Urumqi"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"CLOSELOOP_TIER_RULES": "1d=24h,3d=3wd"}, "CLOSELOOP_TIER_RULES: no rule for 5d, 1m"),
        ({"CLOSELOOP_TIER_RULES": "1d=1day"}, "CLOSELOOP_TIER_RULES: the rule of 1d must end"),
        ({"CLOSELOOP_TIMEZONE": "Asia/Beijing"}, "CLOSELOOP_TIMEZONE must be a time zone name"),
        ({"CLOSELOOP_TIMEZONE": "/etc/localtime"}, "CLOSELOOP_TIMEZONE must be a time zone name"),
    ],
)
def test_a_bad_setting_names_its_variable(
    env: Env, variables: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        env(**variables)


def test_the_admins_page_shows_the_year_beside_the_package(site: Site) -> None:
    put(site, 2026, {"holidays": ["2026-01-01", "2026-03-09"], "workdays": []})
    answer = site.client.get("/admin/calendar/2026?lang=en", headers=site.cookie("admin"))
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert "Working days of 2026" in page
    assert "data-calendar-source>this table (set by an admin)" in page
    # a day only the table has, a day only the package has: both listed, told apart
    assert (
        '<tr data-day="2026-03-09" data-kind="holiday" data-package-kind="" class="differs">'
        in page
    )
    assert (
        '<tr data-day="2026-02-14" data-kind="" data-package-kind="workday" class="differs">'
        in page
    )
    assert '<tr data-day="2026-01-01" data-kind="holiday" data-package-kind="holiday">' in page
    assert ">2026-01-01\n2026-03-09</textarea>" in page
    part = site.client.get("/admin/calendar/2026/days", headers=site.cookie("admin"))
    assert part.status_code == 200 and 'data-day="2026-03-09"' in part.text
    missing = site.client.get(f"/admin/calendar/{UNKNOWN}", headers=site.cookie("admin")).text
    assert "data-calendar-missing" in missing and f"{UNKNOWN} 年工作日历" in missing


def test_the_page_is_for_admins_and_picks_a_year(site: Site) -> None:
    denied = site.client.get("/admin/calendar/2026", headers=site.cookie("supervisor1"))
    assert denied.status_code == 403 and "data-error-page" in denied.text
    part = site.client.get("/admin/calendar/2026/days", headers=site.cookie("worker1"))
    assert part.status_code == 403
    anonymous = site.client.get("/admin/calendar/2026", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")
    cookie = site.cookie("admin")
    picked = site.client.get("/admin/calendar?year=2030", headers=cookie, follow_redirects=False)
    assert (picked.status_code, picked.headers["location"]) == (303, "/admin/calendar/2030")
    now = site.client.get("/admin/calendar", headers=cookie, follow_redirects=False)
    assert now.headers["location"] == f"/admin/calendar/{datetime.now(SHANGHAI).year}"
    for bad in ("1999", "x"):
        refused = site.client.get(f"/admin/calendar?year={bad}", headers=cookie)
        assert refused.status_code == 422
        assert [e["loc"] for e in refused.json()["detail"]] == [["query", "year"]]
    assert site.client.get("/admin/calendar/2101", headers=cookie).status_code == 422
