"""Webhooks: outside systems subscribe to event types, and each event of those types is
POSTed to them as JSON, signed with the subscription's secret.

**Subscriptions** live in :data:`notify.tables.webhooks`. Service functions take the
database as the keyword-only ``db``, as :mod:`api.roster` does: an Engine (each call in its
own transaction) or a Connection (the call joins the caller's transaction). A refused
command raises a :class:`WebhookError` before anything is written: ``code`` is the stable
reason, ``field`` the body field it concerns, ``status`` the HTTP status the API answers
with. The secret is kept sealed (:class:`closeloop.keys.Keyring`) and never read back by
anything but :class:`WebhookChannel`, which signs with it.

Deleting a subscription is soft: the row stays, inactive, with its secret forgotten, so
that its past deliveries (outbox rows whose recipient is its id) stay listed and
attributable; nothing is delivered to it any more (a message already waiting is given up
on its next attempt).

**Where a webhook may point.** Only ``http`` and ``https`` URLs with a host, and no user
name or password in them (a secret in a URL would be stored and listed in clear). The
host is resolved and every address it resolves to must be a public one: loopback,
private, link-local, multicast, reserved, unspecified and other non-global addresses are
refused unless the setting ``webhook_allow_private`` allows them (tests, an internal
network). The check is made again at each delivery, and the request then goes to the
address that was checked (the name is not resolved a second time by the HTTP client), so
a name whose DNS changes to an inside address after the check cannot be used to reach
one.

**A delivery** (:class:`WebhookChannel`) is one POST of the message's body, serialized
once as compact UTF-8 JSON, with the headers ``X-Closeloop-Signature: sha256=<hex>`` (the
HMAC-SHA256 of exactly those bytes with the secret, see :func:`verify_signature`),
``X-Closeloop-Delivery`` (the message's idempotency key, the same on every retry),
``X-Closeloop-Event`` (the event type), ``Content-Type: application/json`` and
``User-Agent: closeloop-webhooks``. Redirects are not followed; the answer's body is not
read. A 2xx answer is a success; any other answer, a timeout or a failed connection is
tried again by the sender (:mod:`notify.sender`) with back-off until it gives up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import json
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, Row, insert, select, update

from closeloop.db import Db, connected
from closeloop.settings import Settings
from domain.privacy import Sealer
from domain.state import EVENT_TYPES
from notify.outbox import Message, Outcome
from notify.tables import WEBHOOK, attempts, outbox, webhooks

#: Subscribes to every event type.
EVERY = "*"
#: The event types a subscription may name (besides :data:`EVERY`).
KNOWN_EVENTS: tuple[str, ...] = EVENT_TYPES

URL_MAX = 2000
SECRET_MIN = 16
SECRET_MAX = 200
SCHEMES = ("http", "https")

SIGNATURE_HEADER = "X-Closeloop-Signature"
DELIVERY_HEADER = "X-Closeloop-Delivery"
EVENT_HEADER = "X-Closeloop-Event"
USER_AGENT = "closeloop-webhooks"
SIGNATURE_PREFIX = "sha256="

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# ---- refusals ---------------------------------------------------------------------------


class WebhookError(Exception):
    """A refused webhook command: ``code`` the stable reason, ``field`` the body's field,
    ``status`` the HTTP status it is answered with, ``params`` the values in the reason."""

    def __init__(
        self,
        message: str,
        code: str,
        field: str | None,
        status: int = 422,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.status = status
        self.params: dict[str, Any] = dict(params or {})


class UnknownSubscription(WebhookError):
    def __init__(self, subscription_id: str) -> None:
        super().__init__(
            f"no webhook subscription has the id {subscription_id[:50]}",
            "webhook_not_found",
            None,
            404,
        )


# ---- where a webhook may point ------------------------------------------------------------


def refused_address(address: Address) -> bool:
    """Whether a webhook may not be sent to ``address``: loopback, private, link-local,
    multicast, reserved, unspecified or otherwise not a global (public) address; an
    IPv4-mapped IPv6 address is judged by its IPv4 address too."""
    candidates: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(
        a.is_loopback
        or a.is_private
        or a.is_link_local
        or a.is_multicast
        or a.is_reserved
        or a.is_unspecified
        or not a.is_global
        for a in candidates
    )


@dataclass(frozen=True)
class Target:
    """A webhook URL, checked: its host and port, and the addresses it resolved to (in the
    resolver's order, each at most once)."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check_url(url: str) -> tuple[str, str, int]:
    """``url``'s scheme, host and port when it may be a webhook's URL by its form; else a
    :class:`WebhookError` (``webhook_url_scheme``, ``webhook_url_invalid``)."""
    if not isinstance(url, str) or not url:
        raise WebhookError("give the URL to send the events to", "webhook_url_invalid", "url")
    if len(url) > URL_MAX:
        raise WebhookError(
            f"the URL is longer than {URL_MAX} characters",
            "webhook_url_invalid",
            "url",
            params={"max": URL_MAX},
        )
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise WebhookError(
            "the URL holds a space or control character", "webhook_url_invalid", "url"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookError("the URL cannot be read", "webhook_url_invalid", "url") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise WebhookError(
            "a webhook's URL starts with http:// or https://",
            "webhook_url_scheme",
            "url",
            params={"scheme": scheme[:20]},
        )
    host = parts.hostname or ""
    if not host:
        raise WebhookError("the URL names no host", "webhook_url_invalid", "url")
    if parts.username is not None or parts.password is not None:
        raise WebhookError(
            "the URL holds a user name or password: put the shared secret in `secret`",
            "webhook_url_invalid",
            "url",
        )
    return scheme, host, port or (443 if scheme == "https" else 80)


def resolve(url: str, *, allow_private: bool) -> Target:
    """``url`` checked (:func:`check_url`) and its host resolved; a :class:`WebhookError`
    when it resolves to no address (``webhook_url_unresolved``) or, unless
    ``allow_private``, to an address that is not public (``webhook_url_private``, with the
    first such address in ``params.address``)."""
    scheme, host, port = check_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        infos = []
    found: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in found:
            found.append(address)
    if not found:
        raise WebhookError(
            f"the host {host[:100]} has no address (check its spelling)",
            "webhook_url_unresolved",
            "url",
            params={"host": host[:100]},
        )
    if not allow_private:
        for address in found:
            try:
                parsed = ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError:
                parsed = None
            if parsed is None or refused_address(parsed):
                raise WebhookError(
                    f"the URL points at {address}, a loopback, private or reserved address; "
                    "webhooks go to public addresses only (CLOSELOOP_WEBHOOK_ALLOW_PRIVATE)",
                    "webhook_url_private",
                    "url",
                    params={"address": address},
                )
    return Target(url, scheme, host, port, tuple(found))


def check_events(events: Iterable[str]) -> frozenset[str]:
    """The event types ``events`` names, checked: at least one, each a known type or
    :data:`EVERY` (``webhook_events_required``, ``webhook_unknown_event``)."""
    if isinstance(events, str | bytes):
        raise WebhookError("`events` is a list of event types", "webhook_events_required", "events")
    chosen: set[str] = set()
    for name in events:
        if not isinstance(name, str) or (name != EVERY and name not in KNOWN_EVENTS):
            shown = str(name)[:50]
            raise WebhookError(
                f"unknown event type {shown!r}; subscribe to {EVERY} or some of: "
                + ", ".join(KNOWN_EVENTS),
                "webhook_unknown_event",
                "events",
                params={"event": shown, "known": list(KNOWN_EVENTS)},
            )
        chosen.add(name)
    if not chosen:
        raise WebhookError(
            "choose at least one event type (or * for every type)",
            "webhook_events_required",
            "events",
        )
    return frozenset(chosen)


def check_secret(secret: str) -> str:
    if not isinstance(secret, str) or not SECRET_MIN <= len(secret) <= SECRET_MAX:
        raise WebhookError(
            f"the secret is {SECRET_MIN} to {SECRET_MAX} characters long",
            "webhook_secret_length",
            "secret",
            params={"min": SECRET_MIN, "max": SECRET_MAX},
        )
    return secret


# ---- subscriptions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """A webhook subscription, without its secret."""

    id: str
    url: str
    events: frozenset[str]  # event types; "*": every type
    include_pii: bool
    active: bool = True
    created_by: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def wants(self, event_type: str) -> bool:
        """Whether an event of ``event_type`` is sent to this subscription."""
        return self.active and (EVERY in self.events or event_type in self.events)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "events": sorted(self.events),
            "include_pii": self.include_pii,
            "active": self.active,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(
        id=row.id,
        url=row.url,
        events=frozenset(json.loads(row.events)),
        include_pii=bool(row.include_pii),
        active=bool(row.active),
        created_by=row.created_by,
        created_at=row.created_at,
    )


_PUBLIC_COLUMNS = (
    webhooks.c.id,
    webhooks.c.url,
    webhooks.c.events,
    webhooks.c.include_pii,
    webhooks.c.active,
    webhooks.c.created_by,
    webhooks.c.created_at,
)


def create_subscription(
    url: str,
    events: Sequence[str],
    secret: str,
    include_pii: bool,
    created_by: str,
    *,
    db: Db,
    sealer: Sealer,
    allow_private: bool,
) -> Subscription:
    """A new active subscription; a :class:`WebhookError` (nothing written) when the URL,
    the events or the secret is refused."""
    resolve(url, allow_private=allow_private)
    chosen = check_events(events)
    check_secret(secret)
    made = Subscription(
        id=str(uuid.uuid4()),
        url=url,
        events=chosen,
        include_pii=bool(include_pii),
        active=True,
        created_by=created_by,
        created_at=datetime.now(UTC),
    )
    with connected(db) as conn:
        conn.execute(
            insert(webhooks).values(
                id=made.id,
                url=made.url,
                events=json.dumps(sorted(chosen)),
                secret=sealer.seal_text(secret),
                include_pii=made.include_pii,
                active=True,
                created_by=created_by,
                created_at=made.created_at,
            )
        )
    return made


def list_subscriptions(*, db: Db, include_deleted: bool = False) -> list[Subscription]:
    """The subscriptions, oldest first; deleted ones too when ``include_deleted``."""
    query = select(*_PUBLIC_COLUMNS).order_by(webhooks.c.created_at, webhooks.c.id)
    if not include_deleted:
        query = query.where(webhooks.c.active.is_(True))
    with connected(db) as conn:
        return [_subscription(r) for r in conn.execute(query).all()]


def active_subscriptions(*, db: Db) -> list[Subscription]:
    """The subscriptions events are sent to (the notifier asks for them)."""
    return list_subscriptions(db=db)


def get_subscription(subscription_id: str, *, db: Db) -> Subscription | None:
    """The subscription with this id, deleted or not; None when there is none."""
    if not isinstance(subscription_id, str) or len(subscription_id) > 36:
        return None
    with connected(db) as conn:
        row = conn.execute(select(*_PUBLIC_COLUMNS).where(webhooks.c.id == subscription_id)).first()
    return _subscription(row) if row is not None else None


def delete_subscription(subscription_id: str, *, db: Db) -> Subscription:
    """Deactivate the subscription and forget its secret (see the module's docstring); a
    subscription deleted already stays so. :class:`UnknownSubscription` when there is
    none."""
    with connected(db) as conn:
        found = get_subscription(subscription_id, db=conn)
        if found is None:
            raise UnknownSubscription(subscription_id)
        if found.active:
            conn.execute(
                update(webhooks)
                .where(webhooks.c.id == subscription_id)
                .values(active=False, secret="")
            )
    return dataclasses.replace(found, active=False)


# ---- deliveries -------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt, as the sender recorded it."""

    attempt: int
    at: datetime
    ok: bool
    status: int | None
    error: str | None
    millis: int

    def json(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "at": self.at.isoformat(),
            "ok": self.ok,
            "status": self.status,
            "error": self.error,
            "millis": self.millis,
        }


@dataclass(frozen=True)
class Delivery:
    """One event sent (or to be sent) to a subscription: an outbox message."""

    id: int
    key: str  # the X-Closeloop-Delivery header
    event_type: str
    event_id: int
    request_id: str | None
    state: str  # waiting, failed, sent, dead
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_status: int | None
    last_error: str | None
    history: tuple[Attempt, ...]

    def json(self) -> dict[str, Any]:
        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at is not None else None

        waiting = self.state in ("waiting", "failed")
        return {
            "id": self.id,
            "delivery": self.key,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "request_id": self.request_id,
            "state": self.state,
            "attempts": self.attempts,
            "created_at": iso(self.created_at),
            "next_attempt_at": iso(self.next_attempt_at) if waiting else None,
            "sent_at": iso(self.sent_at),
            "last_status": self.last_status,
            "last_error": self.last_error,
            "history": [a.json() for a in self.history],
        }


def deliveries(subscription_id: str, *, db: Db, limit: int = 50) -> list[Delivery]:
    """The latest messages to the subscription, newest first, each with its attempts (in
    the order they were made)."""
    with connected(db) as conn:
        rows = conn.execute(
            select(
                outbox.c.id,
                outbox.c.key,
                outbox.c.event_type,
                outbox.c.event_id,
                outbox.c.request_id,
                outbox.c.state,
                outbox.c.attempts,
                outbox.c.created_at,
                outbox.c.next_attempt_at,
                outbox.c.sent_at,
                outbox.c.last_status,
                outbox.c.last_error,
            )
            .where(outbox.c.channel == WEBHOOK, outbox.c.recipient == subscription_id)
            .order_by(outbox.c.id.desc())
            .limit(max(1, limit))
        ).all()
        tried: dict[int, list[Attempt]] = {r.id: [] for r in rows}
        if rows:
            for a in conn.execute(
                select(attempts)
                .where(attempts.c.message_id.in_(list(tried)))
                .order_by(attempts.c.message_id, attempts.c.id)
            ).all():
                tried[a.message_id].append(
                    Attempt(a.attempt, a.at, bool(a.ok), a.status, a.error, a.millis)
                )
    return [
        Delivery(
            id=r.id,
            key=r.key,
            event_type=r.event_type,
            event_id=r.event_id,
            request_id=r.request_id,
            state=r.state,
            attempts=r.attempts,
            created_at=r.created_at,
            next_attempt_at=r.next_attempt_at,
            sent_at=r.sent_at,
            last_status=r.last_status,
            last_error=r.last_error,
            history=tuple(tried[r.id]),
        )
        for r in rows
    ]


# ---- signing ----------------------------------------------------------------------------


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, body: bytes) -> str:
    """The ``X-Closeloop-Signature`` of ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return SIGNATURE_PREFIX + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (the ``X-Closeloop-Signature`` received) signs ``body`` (the
    request's bytes, exactly as received) with ``secret``; in constant time."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    given = header[len(SIGNATURE_PREFIX) :].strip().lower()
    expected = sign(secret, body)[len(SIGNATURE_PREFIX) :]
    return hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii"))


def encode_body(body: Mapping[str, Any]) -> bytes:
    """The bytes a delivery sends (and signs): compact JSON, UTF-8."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()


# ---- the channel ----------------------------------------------------------------------------


class WebhookChannel:
    """Delivers outbox messages of the ``webhook`` channel (:class:`notify.outbox.Channel`).

    Each :meth:`deliver` reads the subscription (a deleted one gives the message up),
    checks its URL's addresses again and POSTs to the address checked."""

    name = WEBHOOK

    def __init__(self, engine: Engine, sealer: Sealer, settings: Settings) -> None:
        self.engine = engine
        self.sealer = sealer
        self.timeout = settings.delivery_timeout_seconds
        self.allow_private = settings.webhook_allow_private

    def hold_until(self, now: datetime) -> datetime | None:
        return None  # webhooks go at any hour

    def _subscription(self, subscription_id: str) -> tuple[str, str] | None:
        """The active subscription's URL and sealed secret; None when deleted or unknown."""
        if len(subscription_id) > 36:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(webhooks.c.url, webhooks.c.secret, webhooks.c.active).where(
                    webhooks.c.id == subscription_id
                )
            ).first()
        if row is None or not row.active or not row.secret:
            return None
        return str(row.url), str(row.secret)

    def deliver(self, message: Message) -> Outcome:
        found = self._subscription(message.recipient)
        if found is None:
            return Outcome.give_up("the subscription was deleted")
        url, sealed = found
        try:
            secret = self.sealer.open_text(sealed)
        except ValueError:
            return Outcome.give_up("the secret cannot be opened (the key that sealed it is gone)")
        try:
            target = resolve(url, allow_private=self.allow_private)
        except WebhookError as error:
            if error.code == "webhook_url_unresolved":  # DNS may answer later
                return Outcome.failed(f"DNS: {error}")
            return Outcome.give_up(f"refused: {error}")
        body = encode_body(message.body)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body),
            DELIVERY_HEADER: message.key,
            EVENT_HEADER: message.event_type,
            "User-Agent": USER_AGENT,
        }
        return post(target, body, headers, self.timeout)


def post(target: Target, body: bytes, headers: Mapping[str, str], timeout: float) -> Outcome:
    """POST ``body`` to ``target`` at the addresses it resolved to (the next one when a
    connection cannot be made), with the URL's host in the Host header and, over HTTPS, in
    the TLS handshake (the certificate is checked against the name)."""
    url = httpx.URL(target.url)
    host_header = url.netloc.decode("ascii")
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if target.scheme == "https" else {}
    failure = "no address to connect to"
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for address in target.addresses:
            pinned = url.copy_with(host=address.split("%", 1)[0])
            request = client.build_request(
                "POST",
                pinned,
                content=body,
                headers={**headers, "Host": host_header},
                extensions=extensions,
            )
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException:
                return Outcome.failed(f"timeout after {timeout:g} s")
            except httpx.ConnectError as error:
                failure = f"could not connect to {address}: {_short(error)}"
                continue
            except httpx.HTTPError as error:
                return Outcome.failed(f"{type(error).__name__}: {_short(error)}")
            status = response.status_code
            response.close()  # the answer's body is not read
            if 200 <= status < 300:
                return Outcome.sent(status)
            return Outcome.failed(f"HTTP {status}", status)
    return Outcome.failed(failure)


def _short(error: Exception) -> str:
    return (str(error) or type(error).__name__)[:200]
