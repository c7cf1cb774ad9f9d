"""The SMS settings over HTTP (admins only): reading them (never a secret), editing them
with refusals that write nothing, and a test message that reaches a real gateway on
127.0.0.1; the admin page that edits them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete

from notify.tables import notify_settings
from tests.api.conftest import Site, build_site
from tests.notify.gateway import Gateway, running_gateway

SETTINGS = "/api/v1/sms/settings"
TEST = "/api/v1/sms/test"
SECRET = "the-gateway-secret-never-shown"
PHONE = "13812345678"


@pytest.fixture(scope="module")
def module_gateway() -> Iterator[Gateway]:
    with running_gateway() as running:
        yield running


@pytest.fixture(scope="module")
def module_site(
    tmp_path_factory: pytest.TempPathFactory, module_gateway: Gateway
) -> Iterator[Site]:
    """One site for the module, its gateway configured; each test starts from the defaults
    (:func:`sms_site`)."""
    with pytest.MonkeyPatch.context() as env:
        built = build_site(
            tmp_path_factory.mktemp("sms-site"),
            env,
            CLOSELOOP_SMS_GATEWAY_URL=module_gateway.url,
            CLOSELOOP_SMS_GATEWAY_KEY="key-1",
            CLOSELOOP_SMS_GATEWAY_SECRET=SECRET,
            CLOSELOOP_SMS_SIGN_NAME="城关镇",
        )
    yield built
    built.engine.dispose()


@pytest.fixture
def gateway(module_gateway: Gateway) -> Gateway:
    with module_gateway.lock:
        module_gateway.arrivals.clear()
        module_gateway.answers.clear()
    return module_gateway


@pytest.fixture
def sms_site(module_site: Site, gateway: Gateway) -> Site:
    """The module's site with no SMS setting made and an empty SMS log."""
    with module_site.engine.begin() as conn:
        conn.execute(delete(notify_settings))
    (module_site.settings.data_dir / "sms" / "sms.log").unlink(missing_ok=True)
    return module_site


def _refused(answer: Any, status: int, code: str, field: str | None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    assert body.get("field") == field, body
    return body


def _settings(site: Site) -> dict[str, Any]:
    answer = site.client.get(SETTINGS, headers=site.headers["admin"])
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert SECRET not in answer.text and "key-1" not in answer.text
    return body


def test_an_admin_reads_the_defaults(sms_site: Site) -> None:
    got = _settings(sms_site)
    assert got["provider"] == "log"
    assert got["providers"] == ["log", "http"]
    assert got["gateway"] == {
        "url_set": True,
        "key_set": True,
        "secret_set": True,
        "sign_name": "城关镇",
    }
    assert got["quiet_hours"] == {"from": 22, "to": 8}
    assert got["timezone"] == "Asia/Shanghai"
    resolved = got["templates"]["resolved"]
    assert resolved["code"] == "SMS_RESOLVED"
    assert resolved["placeholders"] == ["tracking_link", "review_link", "review_until"]
    assert "{review_link}" in resolved["text"] and resolved["text_set"] is None
    assert list(got["templates"]) == ["resolved", "resolved_no_review", "test"]


def test_an_admin_edits_the_provider_templates_and_codes(sms_site: Site) -> None:
    text = "您的诉求已办结：{tracking_link}，请于{review_until}前评价：{review_link}"
    answer = sms_site.client.put(
        SETTINGS,
        json={
            "provider": "http",
            "templates": {"resolved": text},
            "codes": {"resolved": "SMS_465350012"},
        },
        headers=sms_site.headers["admin"],
    )
    assert answer.status_code == 200, answer.text
    got = _settings(sms_site)
    assert got == answer.json()
    assert got["provider"] == "http" and got["provider_set"]["by"] == "admin"
    resolved = got["templates"]["resolved"]
    assert (resolved["text"], resolved["code"]) == (text, "SMS_465350012")
    assert resolved["text_set"]["by"] == "admin" and resolved["code_set"]["by"] == "admin"
    assert got["templates"]["test"]["text_set"] is None


def test_what_is_in_force_already_is_not_written_again(sms_site: Site) -> None:
    """The page's form sends every field: only what the admin changed becomes theirs."""
    before = _settings(sms_site)
    every = {
        "provider": "log",
        "templates": {n: t["text"] for n, t in before["templates"].items()},
        "codes": {n: t["code"] for n, t in before["templates"].items()},
    }
    every["codes"]["test"] = "SMS_900002"
    answer = sms_site.client.put(SETTINGS, json=every, headers=sms_site.headers["admin"])
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["provider_set"] is None
    assert got["templates"]["test"]["code_set"]["by"] == "admin"
    unchanged = [
        (name, what)
        for name, t in got["templates"].items()
        for what in ("text_set", "code_set")
        if t[what] is None
    ]
    assert len(unchanged) == 5


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"templates": {"resolved": "x{foo}"}}, "sms_template_placeholder", "templates.resolved"),
        ({"templates": {"test": "  "}}, "sms_template_empty", "templates.test"),
        ({"templates": {"test": "长" * 501}}, "sms_template_too_long", "templates.test"),
        ({"templates": {"reopened": "x"}}, "sms_template_unknown", "templates.reopened"),
        ({"codes": {"resolved": "SMS 1"}}, "sms_template_code_invalid", "codes.resolved"),
        ({"provider": "pigeon"}, "sms_provider_unknown", "provider"),
    ],
)
def test_refusals_name_the_field_and_write_nothing(
    sms_site: Site, body: dict[str, Any], code: str, field: str
) -> None:
    before = _settings(sms_site)
    # a good value beside the bad one is not written either
    answer = sms_site.client.put(
        SETTINGS,
        json={"codes": {"test": "SMS_000001"}, "provider": "http", **body},
        headers=sms_site.headers["admin"],
    )
    refused = _refused(answer, 422, code, field)
    if code == "sms_template_placeholder":
        assert refused["params"]["placeholder"] == "{foo}"
    assert _settings(sms_site) == before


def test_a_template_with_a_control_character_is_refused_on_its_field(sms_site: Site) -> None:
    answer = sms_site.client.put(
        SETTINGS, json={"templates": {"test": "测试\x1b"}}, headers=sms_site.headers["admin"]
    )
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_input"
    assert answer.json()["detail"][0]["loc"] == ["body", "templates", "test"]


def test_a_template_name_that_is_not_text_is_refused_not_a_server_error(sms_site: Site) -> None:
    headers = {**sms_site.headers["admin"], "Content-Type": "application/json"}
    body = '{"templates": {"\\ud800": "x"}}'  # a lone surrogate: not text at all
    answer = sms_site.client.put(SETTINGS, content=body, headers=headers)
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_input"
    body = '{"templates": {"\\u0000x": "x"}}'
    answer = sms_site.client.put(SETTINGS, content=body, headers=headers)
    refused = _refused(answer, 422, "sms_template_unknown", "templates.\x00x")
    assert refused["params"] == {"templates": ["resolved", "resolved_no_review", "test"]}


def test_the_http_provider_needs_a_gateway(make_site: Callable[..., Site]) -> None:
    site = make_site()  # no CLOSELOOP_SMS_GATEWAY_URL
    answer = site.client.put(SETTINGS, json={"provider": "http"}, headers=site.headers["admin"])
    _refused(answer, 422, "sms_gateway_missing", "provider")
    assert _settings(site)["gateway"]["url_set"] is False


def test_only_admins(sms_site: Site) -> None:
    for who in ("supervisor1", "worker1", "caller1", "dispatcher1"):
        headers = sms_site.headers[who]
        _refused(sms_site.client.get(SETTINGS, headers=headers), 403, "role_required", None)
        answer = sms_site.client.put(SETTINGS, json={"provider": "http"}, headers=headers)
        _refused(answer, 403, "role_required", None)
        answer = sms_site.client.post(TEST, json={"phone": PHONE}, headers=headers)
        _refused(answer, 403, "role_required", None)
    _refused(sms_site.client.get(SETTINGS), 401, "sign_in", None)
    assert _settings(sms_site)["provider"] == "log"


def test_a_test_message_reaches_the_gateway(sms_site: Site, gateway: Gateway) -> None:
    admin = sms_site.headers["admin"]
    answer = sms_site.client.post(TEST, json={"phone": PHONE}, headers=admin)
    assert answer.json() == {"ok": True, "status": None, "error": None, "provider": "log"}
    log = (sms_site.settings.data_dir / "sms" / "sms.log").read_text(encoding="utf-8")
    assert "138****5678" in log and PHONE not in log
    assert gateway.arrivals == []

    answer = sms_site.client.put(
        SETTINGS, json={"provider": "http", "codes": {"test": "SMS_900001"}}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    answer = sms_site.client.post(TEST, json={"phone": "+86 138-1234-5678"}, headers=admin)
    assert answer.json() == {"ok": True, "status": 200, "error": None, "provider": "http"}
    [arrival] = gateway.arrivals
    assert arrival.body["PhoneNumbers"] == PHONE
    assert arrival.body["TemplateCode"] == "SMS_900001"
    assert arrival.body["SignName"] == "城关镇"
    assert arrival.body["OutId"].startswith("test:")
    assert set(json.loads(arrival.body["TemplateParam"])) == {"sent_at"}

    gateway.answer(200, {"Code": "isv.BUSINESS_LIMIT_CONTROL"})
    answer = sms_site.client.post(TEST, json={"phone": PHONE}, headers=admin)
    assert answer.json() == {
        "ok": False,
        "status": 200,
        "error": "the SMS gateway refused it: isv.BUSINESS_LIMIT_CONTROL",
        "provider": "http",
    }


@pytest.mark.parametrize("phone", ["12345", "23812345678", "1381234567", "138123456789"])
def test_a_test_goes_only_to_a_mainland_mobile_number(
    sms_site: Site, gateway: Gateway, phone: str
) -> None:
    answer = sms_site.client.post(TEST, json={"phone": phone}, headers=sms_site.headers["admin"])
    _refused(answer, 422, "sms_phone_invalid", "phone")
    answer = sms_site.client.post(TEST, json={"phone": "138abc"}, headers=sms_site.headers["admin"])
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "phone"]
    assert not (sms_site.settings.data_dir / "sms" / "sms.log").exists()
    assert gateway.arrivals == []


# ---- the admin page ----------------------------------------------------------------------


def test_the_admin_page_shows_the_provider_templates_and_test_form(sms_site: Site) -> None:
    answer = sms_site.client.put(
        SETTINGS,
        json={"templates": {"test": "测试 {sent_at} OK"}},
        headers=sms_site.headers["admin"],
    )
    assert answer.status_code == 200, answer.text
    for lang, words in (("zh-CN", ("短信通知设置", "记录到文件")), ("en", ("SMS to residents",))):
        page = sms_site.client.get(f"/admin/sms?lang={lang}", headers=sms_site.cookie("admin"))
        assert page.status_code == 200, page.text
        html = page.text
        for word in words:
            assert word in html
        assert '<a href="/admin/sms">' in html  # in the admin's navigation
        assert 'name="provider" value="log" checked' in html
        for name in ("resolved", "resolved_no_review", "test"):
            assert f'name="templates.{name}"' in html and f'name="codes.{name}"' in html
        assert "<code>{review_link}</code>" in html and "<code>{sent_at}</code>" in html
        assert "测试 {sent_at} OK</textarea>" in html
        assert 'id="sms-test-result" role="status" aria-live="polite"' in html
        assert SECRET not in html
    part = sms_site.client.get("/admin/sms/settings", headers=sms_site.cookie("admin"))
    assert part.status_code == 200 and 'id="sms-settings-form"' in part.text


def test_the_admin_page_is_for_admins(sms_site: Site) -> None:
    page = sms_site.client.get("/admin/sms", headers=sms_site.cookie("supervisor1"))
    assert page.status_code == 403
    assert '<a href="/admin/sms">' not in page.text  # not in their navigation
    part = sms_site.client.get("/admin/sms/settings", headers=sms_site.cookie("supervisor1"))
    assert part.status_code == 403
    anonymous = sms_site.client.get("/admin/sms", follow_redirects=False)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
