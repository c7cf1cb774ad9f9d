"""Notifications over the whole stack, with real receivers: an SMS gateway and a webhook
receiver on 127.0.0.1 record what arrives. The notifier and the sender run as
``closeloop dev`` runs them (threads beside the worker, projector and API)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from closeloop.keys import keyring
from closeloop.settings import Settings
from notify.channels import build_channels, policy_of
from notify.notifier import Notifier
from notify.sender import Sender
from notify.tables import inbox, outbox
from notify.webhooks import verify_signature
from tests.notify.gateway import Gateway, running_gateway
from tests.stack.conftest import Stack, StackFactory

SECRET = "a-webhook-secret-of-some-length"
ANSWERS = {"completion": "yes", "progress": "yes", "effect": "yes", "satisfaction": "yes"}


@pytest.fixture(autouse=True)
def private_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    # the receivers listen on 127.0.0.1
    monkeypatch.setenv("CLOSELOOP_WEBHOOK_ALLOW_PRIVATE", "1")


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with running_gateway() as g:
        yield g


@pytest.fixture
def receiver() -> Iterator[Gateway]:
    with running_gateway() as g:
        yield g


@asynccontextmanager
async def notifying(settings: Settings, batch_size: int = 200) -> AsyncIterator[Notifier]:
    """The notifier and the sender, as ``closeloop notifier`` runs them."""
    keys = keyring(settings)
    notifier = Notifier(settings.database_url, keys, batch_size=batch_size, poll_seconds=0.05)
    sender = Sender(
        notifier.engine,
        build_channels(notifier.engine, keys, settings),
        keys,
        policy_of(settings),
        poll_seconds=0.05,
    )
    notifier.start()
    sender.start()
    try:
        yield notifier
    finally:
        await asyncio.to_thread(sender.stop)
        await asyncio.to_thread(notifier.close)


def tuned(stack: Stack, gateway: Gateway, **changes: Any) -> Settings:
    """The stack's settings with the SMS gateway, no quiet hours and quick retries."""
    values: dict[str, Any] = {
        "sms_provider": "http",
        "sms_gateway_url": gateway.url,
        "sms_gateway_key": "key-1",
        "sms_gateway_secret": "gateway-secret",
        "sms_quiet_hours": None,
        "delivery_retry_seconds": 0.2,
        "delivery_max_retry_seconds": 0.5,
        "public_url": "https://closeloop.example.org",
        **changes,
    }
    return dataclasses.replace(stack.settings, **values)


async def until(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    end = asyncio.get_running_loop().time() + timeout
    while True:
        found = await asyncio.to_thread(check)
        if found:
            return found
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"not in time; last: {found!r}")
        await asyncio.sleep(0.1)


async def resolved(stack: Stack, after_filing: Callable[[], Any] = lambda: True) -> tuple[str, str]:
    """A request filed by a resident, accepted and resolved by worker1: (id, token).
    ``after_filing``: what must hold before it is accepted."""
    filed = await stack.file(resident={"name": "王芳", "phone": "13912345678"})
    rid, token = filed["id"], filed["tracking_token"]
    await stack.projected(rid)
    await until(after_filing)
    assert (await stack.act("worker1", rid, "accept")).status_code == 200
    answer = await stack.act("worker1", rid, "resolve", {"resolution": "修好了水管"})
    assert answer.status_code == 200, answer.text
    return rid, token


async def test_the_loop_tells_the_worker_the_resident_and_a_webhook_and_the_resident_closes_it(
    make_stack: StackFactory, gateway: Gateway, receiver: Gateway
) -> None:
    stack = await make_stack(self_review_hours=72.0)  # 3 hours on the stack's clock
    created = await stack.http.post(
        "/api/v1/webhooks",
        json={"url": f"{receiver.url}/hook", "events": ["Filed", "Resolved", "Reviewed"],
              "secret": SECRET},
        headers=stack.auth("admin"),
    )  # fmt: skip
    assert created.status_code == 201, created.text
    hook = created.json()["id"]
    receiver.answer(500)  # the first delivery fails twice, then goes through
    receiver.answer(500)
    settings = tuned(stack, gateway)
    async with notifying(settings):
        # the filing's delivery goes through at its third try before the request moves on
        rid, token = await resolved(stack, lambda: len(receiver.arrivals) >= 3)
        # the grid worker was told of the new request in their inbox
        told = await until(lambda: _inbox(stack, "worker1"))
        assert told[0]["kind"] == "assigned" and told[0]["request_id"] == rid
        # the resident gets one SMS with the tracking and review links
        (sms,) = await until(lambda: list(gateway.arrivals))
        body = sms.body
        assert body["PhoneNumbers"] == "13912345678"
        assert body["OutId"].endswith(":sms:resident:resolved")
        params = json.loads(body["TemplateParam"])
        assert params["tracking_link"] == f"https://closeloop.example.org/track/{token}"
        assert params["review_link"] == f"https://closeloop.example.org/track/{token}#review"
        # while the window is open, the request waits for the resident, not a caller
        await stack.projected(rid, lambda r: r["status"] == "resolved")
        queue = await stack.http.get("/api/v1/followups", headers=stack.auth("caller1"))
        assert [r["id"] for r in queue.json()] == []
        waiting = await stack.http.get(
            "/api/v1/followups?self_review=true", headers=stack.auth("caller1")
        )
        assert [r["id"] for r in waiting.json()] == [rid]
        # the resident's own review: a missing answer is refused on its field
        partial = {**ANSWERS, "effect": None}
        refused = await stack.http.post(f"/api/v1/track/{token}/review", json=partial)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "effect"]
        done = await stack.http.post(f"/api/v1/track/{token}/review", json=ANSWERS)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "closed"
        assert "13912345678" not in done.text
        # the webhook got Filed (third try), Resolved and Reviewed, each signed, each once
        await until(lambda: len(receiver.arrivals) >= 5)
        await asyncio.sleep(0.5)  # nothing more may come
    arrivals = list(receiver.arrivals)
    assert len(arrivals) == 5
    for arrival in arrivals:
        assert verify_signature(SECRET, arrival.raw, arrival.header("X-Closeloop-Signature"))
        assert not verify_signature("another-secret-entirely", arrival.raw,
                                    arrival.header("X-Closeloop-Signature"))  # fmt: skip
        assert b"13912345678" not in arrival.raw
    deliveries = [a.header("X-Closeloop-Delivery") for a in arrivals]
    assert deliveries[0] == deliveries[1] == deliveries[2]  # one delivery, tried three times
    assert len(set(deliveries)) == 3
    types = [a.body["event"]["type"] for a in arrivals]
    assert types == ["Filed", "Filed", "Filed", "Resolved", "Reviewed"]
    assert "resident_phone" not in arrivals[2].body["event"]["data"]
    assert arrivals[4].body["event"]["data"]["source"] == "resident"
    listed = await stack.http.get(
        f"/api/v1/webhooks/{hook}/deliveries", headers=stack.auth("admin")
    )
    filed = next(d for d in listed.json() if d["event_type"] == "Filed")
    assert filed["state"] == "sent"
    assert filed["attempts"] == 3
    assert [a["status"] for a in filed["history"]] == [500, 500, 200]
    # the figures count the resident's review and the messages
    stats = (await stack.http.get("/api/v1/stats", headers=stack.auth("supervisor1"))).json()
    assert stats["reviews_by_source"] == {"caller": 0, "resident": 1}
    assert stats["notifications"]["sms"]["sent"] == 1
    assert stats["notifications"]["webhook"]["sent"] == 3
    health = (await stack.http.get("/api/v1/health")).json()
    assert health["notifications"]["channels"]["webhook"]["sent"] == 3


async def test_a_late_self_review_is_refused_and_the_callers_take_the_request(
    make_stack: StackFactory, gateway: Gateway
) -> None:
    stack = await make_stack(self_review_hours=0.02)  # 3 seconds on the stack's clock
    async with notifying(tuned(stack, gateway)):
        rid, token = await resolved(stack)
        view = await stack.projected(
            rid, lambda r: r["timeline"][-1]["type"] == "ReviewWindowClosed"
        )
        assert view["status"] == "resolved"
        late = await stack.http.post(f"/api/v1/track/{token}/review", json=ANSWERS)
        assert late.status_code == 409
        assert late.json()["code"] == "review_window_closed"
        assert "caller will phone" in late.json()["detail"]
        queue = await stack.http.get("/api/v1/followups", headers=stack.auth("caller1"))
        assert [r["id"] for r in queue.json()] == [rid]
        told = await until(
            lambda: [m for m in _inbox(stack, "caller1") if m["kind"] == "review_due"]
        )
        assert told[0]["request_id"] == rid
    # the tracking page says the window is over, the caller's call still closes the loop
    tracked = (await stack.http.get(f"/api/v1/track/{token}")).json()
    assert tracked["timeline"][-1]["type"] == "ReviewWindowClosed"
    review = {"reached": True, **ANSWERS}
    assert (await stack.act("caller1", rid, "review", review)).status_code == 200


async def test_no_sms_in_the_quiet_hours(make_stack: StackFactory, gateway: Gateway) -> None:
    stack = await make_stack()
    hour = datetime.now(ZoneInfo(stack.settings.timezone)).hour
    quiet = (hour, (hour + 2) % 24)  # now is quiet
    async with notifying(tuned(stack, gateway, sms_quiet_hours=quiet)):
        rid, _ = await resolved(stack)
        (held,) = await until(lambda: _outbox(stack, "sms"))
        await asyncio.sleep(1.0)  # several rounds of the sender
        (held,) = _outbox(stack, "sms")
    assert held["request_id"] == rid
    assert held["state"] == "waiting" and held["attempts"] == 0
    assert held["next_attempt_at"] > datetime.now(UTC) + timedelta(minutes=59)
    assert gateway.arrivals == []
    health = (await stack.http.get("/api/v1/health")).json()
    assert health["notifications"]["channels"]["sms"]["waiting"] == 1


async def test_a_notifier_stopped_mid_run_and_started_again_sends_each_event_once(
    make_stack: StackFactory, gateway: Gateway, receiver: Gateway
) -> None:
    stack = await make_stack()
    created = await stack.http.post(
        "/api/v1/webhooks",
        json={"url": f"{receiver.url}/hook", "events": ["*"], "secret": SECRET},
        headers=stack.auth("admin"),
    )
    assert created.status_code == 201, created.text
    ids = [(await stack.file())["id"] for _ in range(6)]
    settings = tuned(stack, gateway)
    async with notifying(settings, batch_size=2) as first:
        await until(lambda: first.position() >= 2)
    # stopped after a batch or two; another one carries on from its position
    async with notifying(settings, batch_size=2) as second:
        await until(lambda: second.lag() == 0)
        await until(lambda: len(receiver.arrivals) >= 6)
        await asyncio.sleep(0.5)
    seen = [a.header("X-Closeloop-Delivery") for a in receiver.arrivals]
    assert len(seen) == len(set(seen)) == 6
    assert sorted(a.body["event"]["request_id"] for a in receiver.arrivals) == sorted(ids)
    assert len(_inbox(stack, "worker1")) == 6


def _inbox(stack: Stack, username: str) -> list[dict[str, Any]]:
    with stack.engine.connect() as conn:
        rows = conn.execute(select(inbox).where(inbox.c.username == username).order_by(inbox.c.id))
        return [row._asdict() for row in rows]


def _outbox(stack: Stack, channel: str) -> list[dict[str, Any]]:
    with stack.engine.connect() as conn:
        rows = conn.execute(select(outbox).where(outbox.c.channel == channel))
        return [row._asdict() for row in rows]
