"""Webhooks against a real receiver (an HTTP server on 127.0.0.1): what arrives (the exact
body, a signature the receiver can check, the delivery id), what a failing, slow or
redirecting receiver makes of an attempt, a deleted subscription, and where a webhook may
point (the URL policy). The subscriptions' service: validation that writes nothing, soft
deletion, the deliveries listed with their attempts."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from closeloop.db import make_engine
from closeloop.keys import Keyring
from closeloop.settings import Settings
from notify import tables
from notify.outbox import Message, Outcome
from notify.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    KNOWN_EVENTS,
    SIGNATURE_HEADER,
    WebhookChannel,
    WebhookError,
    active_subscriptions,
    create_subscription,
    delete_subscription,
    deliveries,
    encode_body,
    get_subscription,
    list_subscriptions,
    resolve,
    verify_signature,
)
from tests.notify.receiver import receiving
from tests.notify.rows import add_delivery

SECRET = "a-shared-secret-of-some-length"
#: A public address, written as an IP (no DNS needed); never connected to here.
PUBLIC = "https://1.1.1.1/closeloop"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CLOSELOOP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CLOSELOOP_DATABASE_URL", raising=False)
    # the receiver is on 127.0.0.1; a slow one makes the attempt fail soon
    return dataclasses.replace(
        Settings.from_env(), webhook_allow_private=True, delivery_timeout_seconds=0.5
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    tables.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sealer() -> Keyring:
    return Keyring(os.urandom(32))


def _channel(engine: Engine, sealer: Keyring, settings: Settings, **changes: Any) -> WebhookChannel:
    return WebhookChannel(engine, sealer, dataclasses.replace(settings, **changes))


def _subscribe(engine: Engine, sealer: Keyring, url: str, **options: Any) -> str:
    made = create_subscription(
        url,
        options.pop("events", ["Resolved"]),
        options.pop("secret", SECRET),
        options.pop("include_pii", False),
        "admin",
        db=engine,
        sealer=sealer,
        allow_private=options.pop("allow_private", True),
    )
    return made.id


def _message(subscription_id: str, event_id: int = 7, **body: Any) -> Message:
    key = f"{event_id}:webhook:{subscription_id}:event"
    payload = {
        "delivery": key,
        "event": {
            "id": event_id,
            "type": "Resolved",
            "request_id": "r-1",
            "version": 5,
            "at": "2026-03-01T08:00:00+00:00",
            "actor": "worker1",
            "data": {"resolution": "已更换灯泡"},
        },
        "pii": False,
        **body,
    }
    return Message(
        id=1,
        key=key,
        channel="webhook",
        recipient=subscription_id,
        request_id="r-1",
        event_id=event_id,
        event_type="Resolved",
        kind="event",
        body=payload,
        attempts=0,
        created_at=datetime.now(UTC),
    )


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.webhooks)).scalar_one())


# ---- what arrives ------------------------------------------------------------------------


def test_a_delivery_posts_the_exact_body_signed_with_the_secret(
    engine: Engine, sealer: Keyring, settings: Settings
) -> None:
    with receiving() as receiver:
        subscription = _subscribe(engine, sealer, receiver.url + "/hooks/closeloop")
        message = _message(subscription)
        outcome = _channel(engine, sealer, settings).deliver(message)
    assert outcome == Outcome.sent(200)
    [got] = receiver.received
    assert got.path == "/hooks/closeloop"
    assert got.body == encode_body(message.body)
    assert json.loads(got.body.decode("utf-8")) == message.body  # UTF-8, the Chinese intact
    assert "已更换灯泡".encode() in got.body
    assert b" " not in got.body  # compact: no space after a comma or colon
    signature = got.headers[SIGNATURE_HEADER.lower()]
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, got.body, signature)
    assert not verify_signature("another-secret-entirely!", got.body, signature)
    assert not verify_signature(SECRET, got.body + b" ", signature)  # the exact bytes
    assert got.headers[DELIVERY_HEADER.lower()] == message.key
    assert got.headers[EVENT_HEADER.lower()] == "Resolved"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == "closeloop-webhooks"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"


def test_every_retry_carries_the_same_delivery_id(
    engine: Engine, sealer: Keyring, settings: Settings
) -> None:
    with receiving(statuses=[500, 503], status=204) as receiver:
        subscription = _subscribe(engine, sealer, receiver.url)
        message = _message(subscription)
        channel = _channel(engine, sealer, settings)
        outcomes = [channel.deliver(message) for _ in range(3)]
    assert [(o.ok, o.status) for o in outcomes] == [(False, 500), (False, 503), (True, 204)]
    assert {r.headers[DELIVERY_HEADER.lower()] for r in receiver.received} == {message.key}
    assert len({r.body for r in receiver.received}) == 1


def test_a_host_name_is_sent_to_the_address_checked_with_its_name_in_host(
    engine: Engine, sealer: Keyring, settings: Settings
) -> None:
    """``localhost`` (allowed here) is resolved once by the channel, which connects to the
    address it checked (trying the next when one refuses, e.g. ::1) and names the host."""
    with receiving() as receiver:
        subscription = _subscribe(engine, sealer, f"http://localhost:{receiver.port}/in")
        outcome = _channel(engine, sealer, settings).deliver(_message(subscription))
    assert outcome.ok, outcome
    [got] = receiver.received
    assert got.headers["host"] == f"localhost:{receiver.port}"
    assert got.path == "/in"


def test_a_server_error_is_a_failed_attempt_to_retry(
    engine: Engine, sealer: Keyring, settings: Settings
) -> None:
    with receiving(status=500) as receiver:
        subscription = _subscribe(engine, sealer, receiver.url)
        outcome = _channel(engine, sealer, settings).deliver(_message(subscription))
    assert (outcome.ok, outcome.status, outcome.error, outcome.retry) == (
        False,
        500,
        "HTTP 500",
        True,
    )
    assert len(receiver.received) == 1


def test_a_redirect_is_not_followed(engine: Engine, sealer: Keyring, settings: Settings) -> None:
    with receiving(status=302, location="/elsewhere") as receiver:
        subscription = _subscribe(engine, sealer, receiver.url + "/first")
        outcome = _channel(engine, sealer, settings).deliver(_message(subscription))
    assert (outcome.ok, outcome.status, outcome.error) == (False, 302, "HTTP 302")
    assert [r.path for r in receiver.received] == ["/first"]


def test_a_slow_receiver_times_out(engine: Engine, sealer: Keyring, settings: Settings) -> None:
    with receiving(delay=30.0) as receiver:
        subscription = _subscribe(engine, sealer, receiver.url)
        outcome = _channel(engine, sealer, settings).deliver(_message(subscription))
    assert not outcome.ok and outcome.retry
    assert outcome.status is None
    assert outcome.error is not None and "timeout" in outcome.error
    assert len(receiver.received) == 1  # it arrived; the answer did not in time


def test_nobody_listening_is_a_failed_attempt(
    engine: Engine, sealer: Keyring, settings: Settings
) -> None:
    with socket.socket() as s:  # a port that was free a moment ago, closed again
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subscription = _subscribe(engine, sealer, f"http://127.0.0.1:{port}/")
    outcome = _channel(engine, sealer, settings).deliver(_message(subscription))
    assert not outcome.ok and outcome.retry and outcome.status is None
    assert outcome.error is not None and "could not connect" in outcome.error


def test_a_deleted_or_unknown_subscription_gives_the_message_up(
    engine: Engine, sealer: Keyring, settings: Settings
) -> None:
    with receiving() as receiver:
        subscription = _subscribe(engine, sealer, receiver.url)
        delete_subscription(subscription, db=engine)
        channel = _channel(engine, sealer, settings)
        deleted = channel.deliver(_message(subscription))
        unknown = channel.deliver(_message("00000000-0000-4000-8000-000000000000"))
    for outcome in (deleted, unknown):
        assert not outcome.ok and not outcome.retry  # dead at once
    assert receiver.received == []


def test_the_address_is_checked_again_at_delivery(
    engine: Engine, sealer: Keyring, settings: Settings
) -> None:
    """Subscribed while private addresses were allowed; delivered after they no longer
    are: nothing is sent, and the message is given up."""
    with receiving() as receiver:
        subscription = _subscribe(engine, sealer, receiver.url)
        outcome = _channel(engine, sealer, settings, webhook_allow_private=False).deliver(
            _message(subscription)
        )
    assert not outcome.ok and not outcome.retry
    assert outcome.error is not None and "127.0.0.1" in outcome.error
    assert receiver.received == []


def test_verify_signature_refuses_a_missing_or_malformed_header() -> None:
    body = b'{"a":1}'
    assert not verify_signature(SECRET, body, None)
    assert not verify_signature(SECRET, body, "")
    assert not verify_signature(SECRET, body, "sha1=abc")
    assert not verify_signature(SECRET, body, "sha256=不是十六进制")


# ---- where a webhook may point ------------------------------------------------------------


def _refused(url: str, code: str, *, allow_private: bool = False) -> WebhookError:
    with pytest.raises(WebhookError) as caught:
        resolve(url, allow_private=allow_private)
    assert (caught.value.code, caught.value.field, caught.value.status) == (code, "url", 422)
    return caught.value


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",  # a name that resolves to a loopback address
        "http://10.0.0.1/hook",
        "http://192.168.1.20/hook",
        "http://172.16.0.5/hook",
        "http://169.254.169.254/latest/meta-data",  # link-local: a cloud's metadata service
        "http://100.64.0.1/",  # shared address space: not public
        "http://224.0.0.1/",  # multicast
        "http://0.0.0.0/",  # unspecified
        "http://240.0.0.1/",  # reserved
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",  # IPv4-mapped
        "http://2130706433/",  # 127.0.0.1 written as one number
    ],
)
def test_inside_addresses_are_refused_unless_allowed(url: str) -> None:
    refusal = _refused(url, "webhook_url_private")
    assert refusal.params["address"]


def test_loopback_is_allowed_by_the_setting() -> None:
    target = resolve("http://127.0.0.1:8080/hook", allow_private=True)
    assert target.addresses == ("127.0.0.1",)
    assert resolve("http://localhost:8080/", allow_private=True).addresses


def test_a_public_address_is_accepted() -> None:
    target = resolve(PUBLIC, allow_private=False)
    assert (target.scheme, target.host, target.port, target.addresses) == (
        "https",
        "1.1.1.1",
        443,
        ("1.1.1.1",),
    )


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://1.1.1.1/hook", "webhook_url_scheme"),
        ("file:///etc/passwd", "webhook_url_scheme"),
        ("javascript:alert(1)", "webhook_url_scheme"),
        ("1.1.1.1/hook", "webhook_url_scheme"),
        ("", "webhook_url_invalid"),
        ("https:///no-host", "webhook_url_invalid"),
        ("https://user:password@1.1.1.1/hook", "webhook_url_invalid"),
        ("https://1.1.1.1/a b", "webhook_url_invalid"),
        ("https://1.1.1.1:99999/", "webhook_url_invalid"),
        ("https://1.1.1.1/" + "a" * 2000, "webhook_url_invalid"),
        ("https://no-such-host.invalid/hook", "webhook_url_unresolved"),
    ],
)
def test_urls_of_the_wrong_form_are_refused(url: str, code: str) -> None:
    _refused(url, code, allow_private=True)  # whatever the address setting


# ---- the subscriptions ----------------------------------------------------------------------


def test_refused_subscriptions_write_nothing(engine: Engine, sealer: Keyring) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"url": "ftp://1.1.1.1/"}, "webhook_url_scheme", "url"),
        ({"url": "http://10.0.0.1/"}, "webhook_url_private", "url"),
        ({"events": []}, "webhook_events_required", "events"),
        ({"events": ["Resolved", "Exploded"]}, "webhook_unknown_event", "events"),
        ({"secret": "too-short"}, "webhook_secret_length", "secret"),
        ({"secret": "x" * 201}, "webhook_secret_length", "secret"),
    ]
    for change, code, field in cases:
        given = {"url": PUBLIC, "events": ["Resolved"], "secret": SECRET, **change}
        with pytest.raises(WebhookError) as caught:
            create_subscription(
                given["url"],
                given["events"],
                given["secret"],
                False,
                "admin",
                db=engine,
                sealer=sealer,
                allow_private=False,
            )
        assert (caught.value.code, caught.value.field) == (code, field), change
    assert _count(engine) == 0


def test_a_subscription_keeps_its_secret_sealed(engine: Engine, sealer: Keyring) -> None:
    made = create_subscription(
        PUBLIC,
        ["Resolved", "Filed", "Resolved"],
        SECRET,
        True,
        "admin",
        db=engine,
        sealer=sealer,
        allow_private=False,
    )
    assert made.events == frozenset({"Resolved", "Filed"})
    assert "secret" not in made.json()
    assert made.json()["events"] == ["Filed", "Resolved"]
    with engine.connect() as conn:
        stored = conn.execute(select(tables.webhooks.c.secret)).scalar_one()
    assert SECRET not in stored
    assert sealer.open_text(stored) == SECRET
    assert get_subscription(made.id, db=engine) == made
    assert made.wants("Resolved") and not made.wants("Accepted")


def test_every_event_type_and_the_star(engine: Engine, sealer: Keyring) -> None:
    every = create_subscription(
        PUBLIC, ["*"], SECRET, False, "admin", db=engine, sealer=sealer, allow_private=False
    )
    assert all(every.wants(kind) for kind in KNOWN_EVENTS)
    assert "ReviewWindowClosed" in KNOWN_EVENTS and "Dispatched" in KNOWN_EVENTS
    assert len(set(KNOWN_EVENTS)) == len(KNOWN_EVENTS)  # each offered once


def test_deleting_keeps_the_row_and_forgets_the_secret(engine: Engine, sealer: Keyring) -> None:
    kept = _subscribe(engine, sealer, PUBLIC)
    gone = _subscribe(engine, sealer, PUBLIC, events=["*"])
    deleted = delete_subscription(gone, db=engine)
    assert not deleted.active and not deleted.wants("Resolved")
    assert [s.id for s in active_subscriptions(db=engine)] == [kept]
    assert [s.id for s in list_subscriptions(db=engine)] == [kept]
    assert {s.id for s in list_subscriptions(db=engine, include_deleted=True)} == {kept, gone}
    again = get_subscription(gone, db=engine)
    assert again is not None and not again.active
    with engine.connect() as conn:
        secret = conn.execute(
            select(tables.webhooks.c.secret).where(tables.webhooks.c.id == gone)
        ).scalar_one()
    assert secret == ""
    assert delete_subscription(gone, db=engine) == deleted  # once more: still deleted
    with pytest.raises(WebhookError) as caught:
        delete_subscription("no-such-subscription", db=engine)
    assert (caught.value.code, caught.value.status) == ("webhook_not_found", 404)


def test_deliveries_newest_first_with_their_attempts(engine: Engine, sealer: Keyring) -> None:
    subscription = _subscribe(engine, sealer, PUBLIC)
    other = _subscribe(engine, sealer, PUBLIC)
    add_delivery(
        engine,
        subscription,
        10,
        state="sent",
        tries=[(False, 500, "HTTP 500"), (False, None, "timeout after 10 s"), (True, 200, None)],
    )
    add_delivery(engine, subscription, 11, state="waiting", tries=[])
    add_delivery(engine, other, 12, state="sent", tries=[(True, 204, None)])
    add_delivery(engine, subscription, 13, state="dead", tries=[(False, 410, "HTTP 410")])

    listed = deliveries(subscription, db=engine)
    assert [d.event_id for d in listed] == [13, 11, 10]
    dead, waiting, sent = listed
    assert (dead.state, dead.attempts, dead.last_status, dead.last_error) == (
        "dead",
        1,
        410,
        "HTTP 410",
    )
    assert waiting.history == () and waiting.json()["next_attempt_at"] is not None
    assert [(a.attempt, a.ok, a.status, a.error) for a in sent.history] == [
        (1, False, 500, "HTTP 500"),
        (2, False, None, "timeout after 10 s"),
        (3, True, 200, None),
    ]
    shown = sent.json()
    assert shown["delivery"] == f"10:webhook:{subscription}:event"
    assert shown["request_id"] == "r-10" and shown["sent_at"] is not None
    assert shown["next_attempt_at"] is None  # sent: no next attempt
    assert [d.event_id for d in deliveries(subscription, db=engine, limit=1)] == [13]
    assert deliveries("no-such-subscription", db=engine) == []
