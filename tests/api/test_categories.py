"""The category catalogue over HTTP: who reads and who edits it, its refusals (which write
nothing), the intake's refusal of unknown and retired categories, the pages' choices and
labels, and the cache shared by processes on one database.

Filing in a category (a workflow starts) is in tests/stack/test_categories.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from api import ledger
from closeloop import catalogue
from closeloop.db import make_engine
from closeloop.schema import migrate
from domain.categories import SEED
from tests.api.conftest import Site
from tests.databases import BACKENDS, postgres_database

CATEGORIES = "/api/v1/categories"
STAFF = ["supervisor1", "worker1", "caller1"]


def _catalogue(site: Site) -> list[dict[str, Any]]:
    answer = site.client.get(
        CATEGORIES, params={"include_retired": "true"}, headers=site.headers["admin"]
    )
    assert answer.status_code == 200, answer.text
    body: list[dict[str, Any]] = answer.json()
    return body


def _refused(answer: Any, status: int, code: str, field: str | None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    assert body.get("field") == field, body
    return body


def _new(code: str = "lift_fault", **changes: str) -> dict[str, str]:
    body = {"code": code, "name_zh": "电梯故障", "name_en": "Lift fault", "default_tier": "5d"}
    return {**body, **changes}


# ---- reading ----------------------------------------------------------------------------


def test_anyone_reads_the_twelve_active_categories(site: Site) -> None:
    answer = site.client.get(CATEGORIES)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert [c["code"] for c in got][: len(SEED)] == list(SEED)
    water = got[0]
    assert water == {
        "code": "water_leak",
        "name_zh": "漏水",
        "name_en": "Water leak",
        "default_tier": "1d",
        "retired": False,
    }
    assert {c["code"]: c["default_tier"] for c in got} == {
        code: tier.value for code, (tier, _, _) in SEED.items()
    }


def test_retired_categories_and_who_changed_them_are_for_staff(site: Site) -> None:
    answer = site.client.get(CATEGORIES, params={"include_retired": "true"})
    _refused(answer, 401, "sign_in", None)
    for who in STAFF:
        answer = site.client.get(
            CATEGORIES, params={"include_retired": "true"}, headers=site.headers[who]
        )
        assert answer.status_code == 200, answer.text
        first = answer.json()[0]
        assert first["created_by"] == "seed" and first["updated_by"] == "seed"
        assert first["created_at"] and first["updated_at"]


# ---- who may change it ------------------------------------------------------------------


def test_only_an_admin_adds_or_changes_a_category(site: Site) -> None:
    before = _catalogue(site)
    _refused(site.client.post(CATEGORIES, json=_new()), 401, "sign_in", None)
    _refused(site.client.patch(f"{CATEGORIES}/noise", json={"retired": True}), 401, "sign_in", None)
    for who in STAFF:
        headers = site.headers[who]
        answer = site.client.post(CATEGORIES, json=_new(), headers=headers)
        assert _refused(answer, 403, "role_required", None)["params"]["roles"] == ["admin"]
        answer = site.client.patch(f"{CATEGORIES}/noise", json={"retired": True}, headers=headers)
        _refused(answer, 403, "role_required", None)
    assert _catalogue(site) == before


# ---- adding -----------------------------------------------------------------------------


def test_an_admin_adds_a_category_and_everyone_sees_it(make_site: Callable[..., Site]) -> None:
    site = make_site()
    answer = site.client.post(CATEGORIES, json=_new(), headers=site.headers["admin"])
    assert answer.status_code == 201, answer.text
    added = answer.json()
    assert (added["code"], added["default_tier"], added["retired"]) == ("lift_fault", "5d", False)
    assert added["created_by"] == added["updated_by"] == "admin"
    public = site.client.get(CATEGORIES).json()
    assert public[-1]["code"] == "other"  # the catch-all stays last
    assert {"code": "lift_fault", "name_zh": "电梯故障", "name_en": "Lift fault",
            "default_tier": "5d", "retired": False} in public  # fmt: skip


BAD_ADDITIONS = [
    ({"code": "Lift"}, "bad_category_code", "code"),
    ({"code": "x"}, "bad_category_code", "code"),
    ({"code": "a" * 41}, "bad_category_code", "code"),
    ({"code": "lift-fault"}, "bad_category_code", "code"),
    ({"code": "电梯"}, "bad_category_code", "code"),
    ({"name_zh": "   "}, "bad_category_name", "name_zh"),
    ({"name_en": ""}, "bad_category_name", "name_en"),
    ({"name_en": "x" * 61}, "bad_category_name", "name_en"),
    ({"name_zh": "电梯\n故障"}, "bad_category_name", "name_zh"),
    ({"default_tier": "2d"}, "bad_category_tier", "default_tier"),
    ({"code": "water_leak"}, "category_exists", "code"),
]


@pytest.mark.parametrize(("change", "code", "field"), BAD_ADDITIONS)
def test_a_bad_category_is_refused_naming_its_field_and_nothing_is_written(
    site: Site, change: dict[str, str], code: str, field: str
) -> None:
    before = _catalogue(site)
    answer = site.client.post(CATEGORIES, json=_new(**change), headers=site.headers["admin"])
    _refused(answer, 409 if code == "category_exists" else 422, code, field)
    assert _catalogue(site) == before


@pytest.mark.parametrize(
    "body",
    [
        {**_new(), "name_zh": "电梯\x00故障"},
        {**_new(), "retired": True},
        {k: v for k, v in _new().items() if k != "name_en"},
    ],
    ids=["control-character", "unknown-field", "missing-field"],
)
def test_a_body_off_the_schema_is_invalid_input(site: Site, body: dict[str, Any]) -> None:
    before = _catalogue(site)
    answer = site.client.post(CATEGORIES, json=body, headers=site.headers["admin"])
    _refused(answer, 422, "invalid_input", None)
    assert _catalogue(site) == before


def test_a_retired_code_is_taken_too(make_site: Callable[..., Site]) -> None:
    site = make_site()
    admin = site.headers["admin"]
    assert site.client.patch(f"{CATEGORIES}/noise", json={"retired": True}, headers=admin)
    answer = site.client.post(CATEGORIES, json=_new(code="noise"), headers=admin)
    _refused(answer, 409, "category_exists", "code")


# ---- changing ---------------------------------------------------------------------------


def test_an_admin_renames_retiers_retires_and_restores(make_site: Callable[..., Site]) -> None:
    site = make_site()
    admin = site.headers["admin"]
    answer = site.client.patch(
        f"{CATEGORIES}/pothole",
        json={"name_zh": "路面坑洼", "name_en": "Road pothole", "default_tier": "1d"},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    changed = answer.json()
    assert (changed["name_zh"], changed["name_en"], changed["default_tier"]) == (
        "路面坑洼",
        "Road pothole",
        "1d",
    )
    assert (changed["created_by"], changed["updated_by"]) == ("seed", "admin")
    answer = site.client.patch(f"{CATEGORIES}/pothole", json={"retired": True}, headers=admin)
    assert answer.json()["retired"] is True
    assert "pothole" not in [c["code"] for c in site.client.get(CATEGORIES).json()]
    kept = {c["code"]: c for c in _catalogue(site)}["pothole"]
    assert (kept["retired"], kept["name_en"]) == (True, "Road pothole")
    answer = site.client.patch(f"{CATEGORIES}/pothole", json={"retired": False}, headers=admin)
    assert answer.json()["retired"] is False
    assert "pothole" in [c["code"] for c in site.client.get(CATEGORIES).json()]


BAD_CHANGES = [
    ("nope", {"retired": True}, 404, "category_not_found", None),
    ("noise", {}, 422, "nothing_to_change", "name_zh"),
    ("noise", {"name_zh": None}, 422, "nothing_to_change", "name_zh"),
    ("noise", {"name_en": " "}, 422, "bad_category_name", "name_en"),
    ("noise", {"default_tier": "7d"}, 422, "bad_category_tier", "default_tier"),
]


@pytest.mark.parametrize(("code", "body", "status", "reason", "field"), BAD_CHANGES)
def test_a_bad_change_is_refused_and_nothing_is_written(
    site: Site, code: str, body: dict[str, Any], status: int, reason: str, field: str | None
) -> None:
    before = _catalogue(site)
    answer = site.client.patch(f"{CATEGORIES}/{code}", json=body, headers=site.headers["admin"])
    _refused(answer, status, reason, field)
    assert _catalogue(site) == before


def test_a_change_with_an_unknown_field_is_invalid_input(site: Site) -> None:
    answer = site.client.patch(
        f"{CATEGORIES}/noise", json={"code": "din"}, headers=site.headers["admin"]
    )
    _refused(answer, 422, "invalid_input", None)


# ---- the intake -------------------------------------------------------------------------


def _filing(site: Site, category: str) -> dict[str, Any]:
    grids = site.client.get(
        "/api/v1/units", params={"kind": "grid"}, headers=site.headers["admin"]
    ).json()
    return {
        "grid_id": grids[0]["id"],
        "category": category,
        "description": "楼道灯坏了",
        "channel": "app",
        "resident": {"name": "李先生", "phone": "13800000000"},
    }


def _written(site: Site) -> tuple[int, int]:
    with site.engine.connect() as conn:
        filings = conn.execute(select(func.count()).select_from(ledger.intake_filings)).scalar()
        tokens = conn.execute(select(func.count()).select_from(ledger.tracking_tokens)).scalar()
    return int(filings or 0), int(tokens or 0)


def test_a_retired_or_unknown_category_refuses_a_filing_naming_the_active_ones(
    make_site: Callable[..., Site],
) -> None:
    """The refusal comes before anything is written or any workflow starts (this site has
    no Temporal: a filing that got that far would be a 500)."""
    site = make_site()
    admin = site.headers["admin"]
    assert site.client.patch(f"{CATEGORIES}/noise", json={"retired": True}, headers=admin)
    active = [code for code in SEED if code != "noise"]
    before = _written(site)
    for who in (None, "worker1"):
        headers = site.headers[who] if who else {}
        answer = site.client.post("/api/v1/requests", json=_filing(site, "noise"), headers=headers)
        body = _refused(answer, 422, "category_retired", "category")
        assert body["params"] == {"category": "noise", "active": active}
        assert "noise is retired" in body["detail"]
        assert ", ".join(active) in body["detail"]
        answer = site.client.post("/api/v1/requests", json=_filing(site, "aliens"), headers=headers)
        body = _refused(answer, 422, "unknown_category", "category")
        assert body["params"] == {"category": "aliens", "active": active}
        assert ", ".join(active) in body["detail"]
    assert _written(site) == before


# ---- the pages --------------------------------------------------------------------------


def test_the_pages_offer_active_categories_and_the_board_all_of_them(
    make_site: Callable[..., Site],
) -> None:
    site = make_site()
    admin = site.headers["admin"]
    site.client.post(CATEGORIES, json=_new(), headers=admin)
    site.client.patch(f"{CATEGORIES}/noise", json={"retired": True}, headers=admin)
    site.client.patch(f"{CATEGORIES}/pothole", json={"name_en": "Hole in the road"}, headers=admin)
    resident = site.client.get("/", params={"lang": "en"}).text
    assert '<option value="lift_fault">Lift fault</option>' in resident
    assert '<option value="pothole">Hole in the road</option>' in resident
    assert 'value="noise"' not in resident
    resident_zh = site.client.get("/", params={"lang": "zh-CN"}).text
    assert '<option value="lift_fault">电梯故障</option>' in resident_zh
    board = site.client.get(
        "/board", params={"lang": "en"}, headers=site.cookie("supervisor1")
    ).text
    assert '<option value="noise">Noise (retired)</option>' in board
    assert '<option value="lift_fault">Lift fault</option>' in board
    board_zh = site.client.get(
        "/board", params={"lang": "zh-CN", "category": "noise"}, headers=site.cookie("supervisor1")
    ).text
    assert '<option value="noise" selected>噪音扰民（已停用）</option>' in board_zh


# ---- the cache --------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'closeloop.db'}"
        return
    with postgres_database("closeloop_catalogue") as url:
        yield url


def test_a_change_shows_at_once_here_and_within_the_ttl_elsewhere(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(catalogue, "clock", lambda: now[0])
    here, there = make_engine(database), make_engine(database)  # two processes' engines
    try:
        migrate(here)
        assert catalogue.names(db=there)["noise"] == ("噪音扰民", "Noise")
        catalogue.change_category("noise", name_en="Loud neighbours", by="admin", db=here)
        assert catalogue.names(db=here)["noise"][1] == "Loud neighbours"  # at once
        assert catalogue.names(db=there)["noise"][1] == "Noise"  # cached
        assert catalogue.get_category("noise", db=there).name_en == "Loud neighbours"  # type: ignore[union-attr]
        now[0] += catalogue.CACHE_SECONDS
        assert catalogue.names(db=there)["noise"][1] == "Loud neighbours"
        catalogue.add_category("lift_fault", "电梯故障", "Lift fault", "5d", by="admin", db=here)
        assert "lift_fault" in catalogue.active_codes(db=here)
    finally:
        here.dispose()
        there.dispose()


def test_the_service_refuses_as_the_api_does(database: str) -> None:
    engine: Engine = make_engine(database)
    try:
        migrate(engine)
        with pytest.raises(catalogue.CategoryExists) as exists:
            catalogue.add_category("noise", "噪音", "Noise", "1d", by="admin", db=engine)
        assert (exists.value.code, exists.value.field, exists.value.status) == (
            "category_exists",
            "code",
            409,
        )
        with pytest.raises(catalogue.UnknownCategory) as unknown:
            catalogue.change_category("aliens", retired=True, by="admin", db=engine)
        assert (unknown.value.code, unknown.value.status) == ("category_not_found", 404)
        with pytest.raises(catalogue.InvalidCategory) as bad:
            catalogue.change_category("noise", default_tier="9d", by="admin", db=engine)
        assert (bad.value.code, bad.value.field, bad.value.status) == (
            "bad_category_tier",
            "default_tier",
            422,
        )
        assert catalogue.seed(db=engine) == 0  # the migration wrote them all
        assert len(catalogue.list_categories(db=engine)) == len(SEED)
    finally:
        engine.dispose()
