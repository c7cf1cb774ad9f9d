"""The channels the sender delivers over, as the settings configure them."""

from __future__ import annotations

from sqlalchemy import Engine

from closeloop.keys import Keyring
from closeloop.settings import Settings
from notify.outbox import Channel
from notify.sender import Policy
from notify.sms import SmsChannel
from notify.tables import SMS, WEBHOOK
from notify.webhooks import WebhookChannel


def build_channels(engine: Engine, keys: Keyring, settings: Settings) -> dict[str, Channel]:
    return {
        SMS: SmsChannel(engine, keys, settings),
        WEBHOOK: WebhookChannel(engine, keys, settings),
    }


def policy_of(settings: Settings) -> Policy:
    return Policy(
        retry_seconds=settings.delivery_retry_seconds,
        max_retry_seconds=settings.delivery_max_retry_seconds,
        give_up_hours=settings.delivery_give_up_hours,
        lease_seconds=settings.delivery_timeout_seconds * 2 + 30,
    )
