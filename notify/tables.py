"""The notification tables: the notifier's position, the outbox, delivery attempts, the
staff inbox, webhook subscriptions and the notification settings an admin edits.

Nothing here holds a resident's contact in clear: an outbox message's body is sealed
(:class:`closeloop.keys.Keyring`), and an SMS sender reads the phone from the request's
sealed contact when it sends.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from projections.tables import UtcDateTime

metadata = MetaData()

#: Channels of the outbox (the inbox is delivered by the notifier itself).
SMS = "sms"
WEBHOOK = "webhook"
INBOX = "inbox"
#: Events the notifier could not decide on are kept as dead messages of this channel.
NOTIFIER = "notifier"
CHANNELS = (INBOX, SMS, WEBHOOK)

#: A message's states: waiting (not yet tried, or held for quiet hours), failed (tried,
#: will be tried again), sent, dead (given up).
WAITING = "waiting"
FAILED = "failed"
SENT = "sent"
DEAD = "dead"
STATES = (WAITING, FAILED, SENT, DEAD)

#: How far the notifier has read the event store's notification log, per notifier name.
positions = Table(
    "notify_positions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger(), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    # <event id>:<channel>:<recipient>:<kind>: one message per event, channel, recipient and
    # kind, whatever happens; sent as the delivery's idempotency key
    Column("key", String(200), nullable=False, unique=True),
    Column("channel", String(16), nullable=False),
    # sms: "resident"; webhook: the subscription's id
    Column("recipient", String(64), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("event_id", BigInteger(), nullable=False),  # the event's notification id
    Column("event_type", String(40), nullable=False),
    Column("kind", String(40), nullable=False),  # what the message says (a template's name)
    Column("body", Text(), nullable=False),  # sealed JSON: the template's parameters / payload
    Column("state", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    # a sender holds the message until then (another sender leaves it alone)
    Column("claimed_until", UtcDateTime(), nullable=True),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("last_status", Integer(), nullable=True),
    Column("last_error", String(500), nullable=True),
    CheckConstraint("state IN ('waiting', 'failed', 'sent', 'dead')", name="ck_outbox_state"),
    Index("ix_outbox_due", "state", "next_attempt_at"),
    Index("ix_outbox_recipient", "channel", "recipient", "id"),
    Index("ix_outbox_request", "request_id"),
)

#: Every delivery attempt of an outbox message.
attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column(
        "message_id",
        Integer(),
        ForeignKey("outbox.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempt", Integer(), nullable=False),  # 1, 2, ...
    Column("at", UtcDateTime(), nullable=False),
    Column("ok", Boolean(), nullable=False),
    Column("status", Integer(), nullable=True),  # the receiver's HTTP status, if any
    Column("error", String(500), nullable=True),
    Column("millis", Integer(), nullable=False),
    Index("ix_delivery_attempts_message", "message_id", "id"),
)

#: A staff member's messages (delivered by the notifier in its own transaction).
inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),  # <event id>:<username>:<kind>
    Column("username", String(64), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("event_id", BigInteger(), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("params", Text(), nullable=False),  # JSON; never a resident's contact
    Column("created_at", UtcDateTime(), nullable=False),
    Column("read_at", UtcDateTime(), nullable=True),
    Index("ix_inbox_user", "username", "id"),
    Index("ix_inbox_unread", "username", "read_at"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("events", Text(), nullable=False),  # JSON list of event types ("*": every type)
    Column("secret", Text(), nullable=False),  # sealed: the HMAC key
    Column("include_pii", Boolean(), nullable=False),
    Column("active", Boolean(), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

#: What an admin set on the notification pages (SMS provider, templates, ...), by key.
notify_settings = Table(
    "notify_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text(), nullable=False),
    Column("set_by", String(64), nullable=False),
    Column("set_at", UtcDateTime(), nullable=False),
)
