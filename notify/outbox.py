"""The outbox's messages as the sender and the channels see them.

A channel (SMS, webhook) implements :class:`Channel`: ``deliver`` makes one attempt and
says how it went in an :class:`Outcome`; the sender (:mod:`notify.sender`) records the
attempt, and decides when to try again or to give up. A channel never writes to the
outbox itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from domain.privacy import Sealer


@dataclass(frozen=True)
class Message:
    """One outbox message, its body opened."""

    id: int
    key: str  # the idempotency key: the same on every attempt
    channel: str
    recipient: str  # sms: "resident"; webhook: the subscription's id
    request_id: str | None
    event_id: int  # the event's notification id
    event_type: str
    kind: str
    body: Mapping[str, Any]
    attempts: int  # attempts made before this one
    created_at: datetime


@dataclass(frozen=True)
class Outcome:
    """How one delivery attempt went.

    ``ok``: delivered. Otherwise ``retry`` False gives the message up at once (``dead``:
    nothing can make it succeed, e.g. the subscription was deleted, the request has no
    phone); True tries again after the back-off. ``status`` is the receiver's HTTP status
    when there was one; ``error`` a short reason (never a phone number or a secret).
    """

    ok: bool
    status: int | None = None
    error: str | None = None
    retry: bool = True
    detail: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def sent(cls, status: int | None = None) -> Outcome:
        return cls(ok=True, status=status)

    @classmethod
    def failed(cls, error: str, status: int | None = None) -> Outcome:
        return cls(ok=False, status=status, error=error[:500])

    @classmethod
    def give_up(cls, error: str, status: int | None = None) -> Outcome:
        return cls(ok=False, status=status, error=error[:500], retry=False)


class Channel(Protocol):
    """A way of delivering outbox messages (one per channel name)."""

    name: str

    def hold_until(self, now: datetime) -> datetime | None:
        """When a message may not go now (quiet hours), the moment it may; else None.
        A held message waits without an attempt being counted."""
        ...

    def deliver(self, message: Message) -> Outcome:
        """One attempt; must not raise for a receiver's failure (say it in the Outcome).
        Called from a worker thread, possibly for several messages at once."""
        ...


def seal_body(sealer: Sealer, body: Mapping[str, Any]) -> str:
    return sealer.seal_text(json.dumps(body, ensure_ascii=False, sort_keys=True, default=str))


def open_body(sealer: Sealer, sealed: str) -> dict[str, Any]:
    opened = json.loads(sealer.open_text(sealed))
    assert isinstance(opened, dict)
    return opened


def message_key(event_id: int, channel: str, recipient: str, kind: str) -> str:
    return f"{event_id}:{channel}:{recipient}:{kind}"
