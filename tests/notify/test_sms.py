"""SMS to residents (notify.sms): the http provider against a real gateway on 127.0.0.1,
the log provider's file, quiet hours, template checks, and the outbox's sms channel end to
end on a real database (SQLite, and PostgreSQL when the tests have one) with a projected
request whose contact is sealed."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from api import ledger
from closeloop.keys import Keyring, keyring
from closeloop.runtime import prepare
from closeloop.settings import Settings
from closeloop.store import RequestStore, store_env
from domain.quiet import quiet_until
from notify import sms
from notify.outbox import Message, Outcome
from notify.tables import notify_settings
from projections.runner import Projector
from projections.tables import requests as request_rows
from tests.notify.gateway import Gateway, running_gateway
from tests.projections.conftest import T0, RequestLog

PHONE = "13812345678"
MASKED = "138****5678"
SECRET = "gateway-secret-for-tests"


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with running_gateway() as running:
        yield running


@pytest.fixture
def settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gateway: Gateway, database_url: str
) -> Settings:
    """A data folder of its own, on SQLite (and PostgreSQL when the tests have a server)."""
    monkeypatch.setenv("CLOSELOOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", database_url)
    monkeypatch.delenv("CLOSELOOP_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("CLOSELOOP_PUBLIC_URL", "https://12345.example.gov.cn")
    monkeypatch.setenv("CLOSELOOP_SMS_GATEWAY_URL", gateway.url)
    monkeypatch.setenv("CLOSELOOP_SMS_GATEWAY_KEY", "key-1")
    monkeypatch.setenv("CLOSELOOP_SMS_GATEWAY_SECRET", SECRET)
    monkeypatch.setenv("CLOSELOOP_SMS_SIGN_NAME", "城关镇")
    monkeypatch.setenv("CLOSELOOP_SMS_QUIET_HOURS", "22-8")
    return Settings.from_env()


def _provider(gateway: Gateway) -> sms.HttpProvider:
    return sms.HttpProvider(gateway.url, "key-1", SECRET, "城关镇", timeout=10)


PARAMS = {"tracking_link": "https://x/track/abc", "review_link": "https://x/track/abc#review"}


# ---- the http provider -------------------------------------------------------------------


def test_the_gateway_gets_the_template_code_params_sign_name_key_and_a_valid_signature(
    gateway: Gateway,
) -> None:
    outcome = _provider(gateway).send(PHONE, "text", "SMS_RESOLVED", PARAMS, "7:sms:resident:x")

    assert outcome == Outcome.sent(200)
    [arrival] = gateway.arrivals
    assert arrival.path == "/sms/send"
    assert arrival.body == {
        "PhoneNumbers": PHONE,
        "SignName": "城关镇",
        "TemplateCode": "SMS_RESOLVED",
        "TemplateParam": json.dumps(PARAMS, ensure_ascii=False, sort_keys=True),
        "OutId": "7:sms:resident:x",
    }
    assert json.loads(arrival.body["TemplateParam"]) == PARAMS
    assert arrival.header("X-Closeloop-Key") == "key-1"
    expected = hmac.new(SECRET.encode(), arrival.raw, hashlib.sha256).hexdigest()
    assert arrival.header("X-Closeloop-Signature") == f"sha256={expected}"
    wrong = hmac.new(b"another secret", arrival.raw, hashlib.sha256).hexdigest()
    assert arrival.header("X-Closeloop-Signature") != f"sha256={wrong}"


def test_a_phone_with_plus_86_and_dashes_reaches_the_gateway_as_eleven_digits(
    gateway: Gateway,
) -> None:
    _provider(gateway).send("+86 138-1234-5678", "text", "SMS_TEST", {}, "k")
    assert gateway.arrivals[0].body["PhoneNumbers"] == PHONE


def test_a_500_fails_and_says_the_status(gateway: Gateway) -> None:
    gateway.answer(500, {"Message": "internal"})
    outcome = _provider(gateway).send(PHONE, "text", "SMS_RESOLVED", PARAMS, "k")
    assert not outcome.ok and outcome.retry
    assert outcome.status == 500
    assert outcome.error == "the SMS gateway answered 500"


def test_a_refusing_code_fails_without_echoing_the_phone(gateway: Gateway) -> None:
    gateway.answer(200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": f"limit {PHONE}"})
    outcome = _provider(gateway).send(PHONE, "text", "SMS_RESOLVED", PARAMS, "k")
    assert not outcome.ok and outcome.retry
    assert outcome.status == 200
    assert outcome.error == "the SMS gateway refused it: isv.BUSINESS_LIMIT_CONTROL"

    gateway.answer(200, {"Code": f"isv.MOBILE_NUMBER_ILLEGAL:{PHONE}"})
    outcome = _provider(gateway).send(PHONE, "text", "SMS_RESOLVED", PARAMS, "k")
    assert not outcome.ok
    assert outcome.error is not None and PHONE not in outcome.error and MASKED in outcome.error


def test_a_2xx_without_a_code_is_sent_and_a_redirect_is_not_followed(gateway: Gateway) -> None:
    gateway.answer(202, {"accepted": True})
    assert _provider(gateway).send(PHONE, "t", "SMS_TEST", {}, "k") == Outcome.sent(202)

    gateway.answer(302, b"", Location=gateway.url + "/elsewhere")
    outcome = _provider(gateway).send(PHONE, "t", "SMS_TEST", {}, "k2")
    assert not outcome.ok and outcome.status == 302
    assert [a.path for a in gateway.arrivals] == ["/sms/send", "/sms/send"]  # not followed


def test_an_unreachable_gateway_fails() -> None:
    with running_gateway() as gone:
        url = gone.url
    outcome = sms.HttpProvider(url, None, None, "x", timeout=5).send(PHONE, "t", "C", {}, "k")
    assert not outcome.ok and outcome.retry and outcome.status is None
    assert outcome.error is not None and outcome.error.startswith("the SMS gateway cannot be")


# ---- the log provider --------------------------------------------------------------------


def test_the_log_provider_writes_the_masked_phone_never_the_clear_one(tmp_path: Path) -> None:
    provider = sms.LogProvider(tmp_path / "data")
    text = "您反映的诉求已办理完毕"
    assert provider.send(PHONE, text, "SMS_RESOLVED", PARAMS, "9:sms:resident:resolved").ok
    assert provider.send("+86 139-0000-1111", "第二条", "SMS_TEST", {}, "test:1").ok

    path = tmp_path / "data" / "sms" / "sms.log"
    content = path.read_text(encoding="utf-8")
    assert PHONE not in content and "13900001111" not in content and "139-0000" not in content
    first, second = (json.loads(line) for line in content.splitlines())
    assert first["phone"] == MASKED and second["phone"] == "139****1111"
    assert first["key"] == "9:sms:resident:resolved"
    assert first["template_code"] == "SMS_RESOLVED"
    assert first["params"] == PARAMS
    assert first["text"] == text
    assert datetime.fromisoformat(first["at"]).tzinfo is not None
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# ---- quiet hours -------------------------------------------------------------------------

NIGHT = (22, 8)


@pytest.mark.parametrize(
    ("local", "until"),
    [
        ("2025-03-03T21:59", None),
        ("2025-03-03T22:00", "2025-03-04T08:00"),
        ("2025-03-03T23:30", "2025-03-04T08:00"),
        ("2025-03-04T00:00", "2025-03-04T08:00"),
        ("2025-03-04T03:00", "2025-03-04T08:00"),
        ("2025-03-04T07:59", "2025-03-04T08:00"),
        ("2025-03-04T08:00", None),
        ("2025-03-04T12:00", None),
    ],
)
@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/New_York"])
def test_quiet_hours_across_midnight(local: str, until: str | None, zone: str) -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    now = datetime.fromisoformat(local).replace(tzinfo=tz).astimezone(UTC)
    got = quiet_until(now, NIGHT, zone)
    if until is None:
        assert got is None
    else:
        assert got == datetime.fromisoformat(until).replace(tzinfo=tz).astimezone(UTC)
        assert got is not None and got.tzinfo == UTC


def test_quiet_hours_in_shanghai_seen_from_utc() -> None:
    # 15:00 UTC is 23:00 in Shanghai: quiet until 08:00 there, 00:00 UTC
    now = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    assert quiet_until(now, NIGHT, "Asia/Shanghai") == datetime(2025, 3, 4, 0, 0, tzinfo=UTC)
    assert quiet_until(now, NIGHT, "UTC") is None  # 15:00 in UTC is day
    # 00:30 UTC is 08:30 in Shanghai: not quiet there, but in UTC it is
    early = datetime(2025, 3, 4, 0, 30, tzinfo=UTC)
    assert quiet_until(early, NIGHT, "Asia/Shanghai") is None
    assert quiet_until(early, NIGHT, "UTC") == datetime(2025, 3, 4, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hour", "until"),
    [(0, None), (1, "05:00"), (3, "05:00"), (4, "05:00"), (5, None), (23, None)],
)
def test_quiet_hours_within_one_night(hour: int, until: str | None) -> None:
    now = datetime(2025, 6, 1, hour, 59, tzinfo=UTC)
    got = quiet_until(now, (1, 5), "UTC")
    expected = None if until is None else datetime.fromisoformat(f"2025-06-01T{until}+00:00")
    assert got == expected


def test_no_quiet_hours_never_hold() -> None:
    assert quiet_until(datetime(2025, 3, 3, 23, tzinfo=UTC), None, "UTC") is None


# ---- templates and their settings --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "placeholder"),
    [
        ("办好了 {foo}", "sms_template_placeholder", "{foo}"),
        ("办好了 {}", "sms_template_placeholder", "{}"),
        ("办好了 {tracking_link!r}", "sms_template_placeholder", "{tracking_link!r}"),
        ("办好了 {tracking_link:>40}", "sms_template_placeholder", "{tracking_link:>40}"),
        ("办好了 {tracking_link.x}", "sms_template_placeholder", "{tracking_link.x}"),
        ("办好了 {tracking_link", "sms_template_placeholder", "{"),
        ("   ", "sms_template_empty", None),
        ("长" * 501, "sms_template_too_long", None),
    ],
)
def test_a_template_with_an_unknown_placeholder_or_empty_or_too_long_is_refused(
    text: str, code: str, placeholder: str | None
) -> None:
    with pytest.raises(sms.SmsSettingError) as refused:
        sms.check_template("resolved", text)
    assert refused.value.code == code
    assert refused.value.field == "templates.resolved"
    if placeholder is not None:
        assert refused.value.params["placeholder"] == placeholder
        assert refused.value.params["allowed"] == ["tracking_link", "review_link", "review_until"]


def test_a_placeholder_of_another_template_is_refused() -> None:
    with pytest.raises(sms.SmsSettingError) as refused:
        sms.check_template("resolved_no_review", "办好了 {review_link}")
    assert refused.value.field == "templates.resolved_no_review"
    kept = sms.check_template("resolved", " {{办好了}} {review_link} ")
    assert kept == "{{办好了}} {review_link}"
    assert sms.check_template("resolved", "长" * 500) == "长" * 500


def test_the_defaults_pass_their_own_checks() -> None:
    for name, template in sms.TEMPLATES.items():
        assert sms.check_template(name, template.text) == template.text
        assert sms.check_code(name, template.code) == template.code


def test_settings_are_saved_all_or_nothing(settings: Settings) -> None:
    engine = prepare(settings)
    try:
        with pytest.raises(sms.SmsSettingError) as refused:
            sms.save_settings(
                engine,
                settings,
                by="admin",
                provider="http",
                templates={"test": "测试 {sent_at}", "resolved": "好了 {foo}"},
            )
        assert refused.value.field == "templates.resolved"
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(notify_settings)).scalar() == 0
        with pytest.raises(sms.SmsSettingError) as refused:
            sms.save_settings(engine, settings, by="admin", codes={"resolved": "SMS 1"})
        assert (refused.value.code, refused.value.field) == (
            "sms_template_code_invalid",
            "codes.resolved",
        )
        with pytest.raises(sms.SmsSettingError) as refused:
            sms.save_settings(engine, settings, by="admin", provider="carrier-pigeon")
        assert (refused.value.code, refused.value.field) == ("sms_provider_unknown", "provider")

        saved = sms.save_settings(
            engine, settings, by="admin", provider="http", codes={"test": "SMS_000001"}
        )
        again = sms.save_settings(engine, settings, by="admin2", codes={"test": "SMS_000002"})
        assert saved.provider == again.provider == "http"
        assert again.codes["test"] == "SMS_000002"
        assert again.changed[sms.code_key("test")][0] == "admin2"
        assert again.templates == {n: t.text for n, t in sms.TEMPLATES.items()}
        without_url = dataclasses.replace(settings, sms_gateway_url=None)
        with pytest.raises(sms.SmsSettingError) as refused:
            sms.save_settings(engine, without_url, by="admin", provider="http")
        assert refused.value.code == "sms_gateway_missing"
    finally:
        engine.dispose()


# ---- the channel, end to end ---------------------------------------------------------


@dataclasses.dataclass
class World:
    settings: Settings
    engine: Engine
    keys: Keyring
    request_id: str
    token: str
    channel: sms.SmsChannel


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    """A prepared data folder and database; one request filed by phone 13812345678,
    accepted and resolved, projected (its contact sealed in its row), with a tracking
    token."""
    engine = prepare(settings)
    keys = keyring(settings)
    store = RequestStore(env=store_env(settings.database_url, keys))
    try:
        log = RequestLog(store)
        request_id = log.file(T0, phone=PHONE, name="王芳")
        log.accept(request_id, T0 + timedelta(hours=1))
        log.resolve(request_id, T0 + timedelta(hours=2))
        projector = Projector(settings.database_url, store=store, sealer=keys)
        while projector.run_batch():
            pass
        projector.close()
        token = ledger.tracking_token(engine, request_id, '{"filed": 1}', keys)
        channel = sms.SmsChannel(engine, keys, settings)
        yield World(settings, engine, keys, request_id, token, channel)
    finally:
        store.close()
        engine.dispose()


def _message(request_id: str, review_until: datetime | None, kind: str = "resolved") -> Message:
    return Message(
        id=1,
        key=f"42:sms:resident:{kind}",
        channel="sms",
        recipient="resident",
        request_id=request_id,
        event_id=42,
        event_type="Resolved",
        kind=kind,
        body={"review_until": review_until.isoformat() if review_until else None},
        attempts=0,
        created_at=datetime.now(UTC),
    )


def _log_lines(settings: Settings) -> list[dict[str, Any]]:
    path = settings.data_dir / "sms" / "sms.log"
    content = path.read_text(encoding="utf-8")
    assert PHONE not in content
    return [json.loads(line) for line in content.splitlines()]


def test_the_channel_sends_the_resolved_message_through_the_log_then_the_gateway(
    world: World, gateway: Gateway
) -> None:
    # review until 2030-03-06 06:00 UTC: 14:00 in Shanghai
    until = datetime(2030, 3, 6, 6, 0, tzinfo=UTC)
    link = f"https://12345.example.gov.cn/track/{world.token}"

    assert world.channel.deliver(_message(world.request_id, until)) == Outcome.sent()
    [line] = _log_lines(world.settings)
    assert line["phone"] == MASKED
    assert line["key"] == "42:sms:resident:resolved"
    assert line["template_code"] == "SMS_RESOLVED"
    assert line["params"] == {
        "tracking_link": link,
        "review_link": f"{link}#review",
        "review_until": "3月6日 14:00",
    }
    assert line["text"] == (
        f"您反映的诉求已办理完毕，办理情况请查看：{link} 。"
        f"请在3月6日 14:00前评价办理结果：{link}#review"
    )
    assert gateway.arrivals == []

    # the admin chooses the gateway and their own text and code
    sms.save_settings(
        world.engine,
        world.settings,
        by="admin",
        provider="http",
        templates={"resolved": "已办结：{tracking_link} 评价（{review_until}前）：{review_link}"},
        codes={"resolved": "SMS_465350012"},
    )
    assert world.channel.deliver(_message(world.request_id, until)) == Outcome.sent(200)
    [arrival] = gateway.arrivals
    assert arrival.body["PhoneNumbers"] == PHONE  # the phone in clear, to the gateway only
    assert arrival.body["TemplateCode"] == "SMS_465350012"
    assert arrival.body["OutId"] == "42:sms:resident:resolved"
    assert json.loads(arrival.body["TemplateParam"]) == line["params"]
    signed = hmac.new(SECRET.encode(), arrival.raw, hashlib.sha256).hexdigest()
    assert arrival.header("X-Closeloop-Signature") == f"sha256={signed}"
    assert len(_log_lines(world.settings)) == 1  # nothing more in the log, never the phone


def test_without_a_self_review_the_message_has_no_review_link(world: World) -> None:
    link = f"https://12345.example.gov.cn/track/{world.token}"
    past = datetime.now(UTC) - timedelta(minutes=1)
    for until in (None, past):  # none offered, or its window passed while it waited
        assert world.channel.deliver(_message(world.request_id, until)).ok
    lines = _log_lines(world.settings)
    assert [line["template_code"] for line in lines] == ["SMS_RESOLVED_NO_REVIEW"] * 2
    assert lines[0]["params"] == {"tracking_link": link}
    assert "#review" not in lines[0]["text"] and link in lines[0]["text"]


def test_a_request_filed_before_tracking_tokens_is_followed_by_its_id(world: World) -> None:
    with world.engine.begin() as conn:
        conn.execute(
            ledger.tracking_tokens.delete().where(
                ledger.tracking_tokens.c.request_id == world.request_id
            )
        )
    assert world.channel.deliver(_message(world.request_id, None)).ok
    [line] = _log_lines(world.settings)
    assert line["params"]["tracking_link"].endswith(f"/track/{world.request_id}")


def test_a_request_not_projected_yet_is_tried_again_and_one_without_a_phone_given_up(
    world: World,
) -> None:
    later = world.channel.deliver(_message("6d1c1b34-0b7e-4f1e-9a55-3a1f7c0e0001", None))
    assert later == Outcome.failed("request not projected yet")
    assert later.retry

    with world.engine.begin() as conn:
        conn.execute(
            update(request_rows)
            .where(request_rows.c.id == world.request_id)
            .values(resident_sealed=None)
        )
    given_up = world.channel.deliver(_message(world.request_id, None))
    assert not given_up.ok and not given_up.retry
    assert given_up.error == "the request has no phone number"
    assert not (world.settings.data_dir / "sms" / "sms.log").exists()


def test_an_unknown_kind_is_given_up(world: World) -> None:
    outcome = world.channel.deliver(_message(world.request_id, None, kind="reopened"))
    assert not outcome.ok and not outcome.retry


def test_a_gateway_failure_is_an_outcome_to_try_again(world: World, gateway: Gateway) -> None:
    sms.save_settings(world.engine, world.settings, by="admin", provider="http")
    gateway.answer(503, {"Code": "ServiceUnavailable"})
    outcome = world.channel.deliver(_message(world.request_id, None))
    assert not outcome.ok and outcome.retry and outcome.status == 503
    assert outcome.error is not None and PHONE not in outcome.error


def test_the_channel_holds_messages_in_quiet_hours(world: World) -> None:
    assert world.channel.name == "sms"
    # 23:00 in Shanghai (the default zone): held until 08:00 there
    held = world.channel.hold_until(datetime(2025, 3, 3, 15, 0, tzinfo=UTC))
    assert held == datetime(2025, 3, 4, 0, 0, tzinfo=UTC)
    assert world.channel.hold_until(datetime(2025, 3, 3, 4, 0, tzinfo=UTC)) is None  # 12:00
    quiet_off = sms.SmsChannel(
        world.engine, world.keys, dataclasses.replace(world.settings, sms_quiet_hours=None)
    )
    assert quiet_off.hold_until(datetime(2025, 3, 3, 15, 0, tzinfo=UTC)) is None


def test_a_test_message_goes_at_once_even_in_quiet_hours(world: World, gateway: Gateway) -> None:
    night = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    outcome = sms.send_test(PHONE, engine=world.engine, settings=world.settings, now=night)
    assert outcome == Outcome.sent()
    [line] = _log_lines(world.settings)
    assert line["template_code"] == "SMS_TEST"
    assert line["params"] == {"sent_at": "3月3日 23:00"}
    assert line["key"].startswith("test:")

    sms.save_settings(world.engine, world.settings, by="admin", provider="http")
    assert sms.send_test(PHONE, engine=world.engine, settings=world.settings).ok
    [arrival] = gateway.arrivals
    assert arrival.body["TemplateCode"] == "SMS_TEST"
    assert arrival.body["PhoneNumbers"] == PHONE
