"""notifications: the notifier's position, the outbox, delivery attempts, the inbox,
webhooks and notification settings; the self-review window and the review's source;
the staff's work phone

Revision ID: 0010
Revises: 0009
New tables ``notify_positions``, ``outbox``, ``delivery_attempts``, ``inbox``,
``webhooks`` and ``notify_settings`` (see :mod:`notify.tables`). ``view_requests`` gains
``review_until`` (the resident's self-review window, NULL for older rows: none was
offered), ``view_reviews`` gains ``source`` (``caller`` for every older review), ``view_figures``
gains ``self_reviews`` (0 on the days kept before: no review was a resident's), and
``users`` gains ``work_phone``.

The notifier starts after the events stored before this revision: residents are not sent
an SMS, nor staff an inbox message, for what happened before notifications existed.

Every step is skipped when its result is there already.

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REQUESTS = "view_requests"
#: The event store's table (eventsourcing's, named after the store) and the notifier's name.
EVENTS = "closeloop_events"
NOTIFIER = "notifier"
REVIEWS = "view_reviews"
FIGURES = "view_figures"
USERS = "users"


def _at(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _create_tables(inspector: sa.Inspector) -> None:
    if not inspector.has_table("notify_positions"):
        op.create_table(
            "notify_positions",
            sa.Column("name", sa.String(length=64), nullable=False),
            sa.Column("position", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )
        last = 0
        if inspector.has_table(EVENTS):
            found = op.get_bind().execute(sa.text(f"SELECT MAX(id) FROM {EVENTS}")).scalar()
            last = int(found or 0)
        op.get_bind().execute(
            sa.text("INSERT INTO notify_positions (name, position) VALUES (:name, :position)"),
            {"name": NOTIFIER, "position": last},
        )
    if not inspector.has_table("outbox"):
        op.create_table(
            "outbox",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("key", sa.String(length=200), nullable=False),
            sa.Column("channel", sa.String(length=16), nullable=False),
            sa.Column("recipient", sa.String(length=64), nullable=False),
            sa.Column("request_id", sa.String(length=64), nullable=True),
            sa.Column("event_id", sa.BigInteger(), nullable=False),
            sa.Column("event_type", sa.String(length=40), nullable=False),
            sa.Column("kind", sa.String(length=40), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("state", sa.String(length=16), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            _at("created_at"),
            _at("next_attempt_at"),
            _at("claimed_until", nullable=True),
            _at("sent_at", nullable=True),
            sa.Column("last_status", sa.Integer(), nullable=True),
            sa.Column("last_error", sa.String(length=500), nullable=True),
            sa.CheckConstraint(
                "state IN ('waiting', 'failed', 'sent', 'dead')", name="ck_outbox_state"
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("key"),
        )
        op.create_index("ix_outbox_due", "outbox", ["state", "next_attempt_at"])
        op.create_index("ix_outbox_recipient", "outbox", ["channel", "recipient", "id"])
        op.create_index("ix_outbox_request", "outbox", ["request_id"])
    if not inspector.has_table("delivery_attempts"):
        op.create_table(
            "delivery_attempts",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("message_id", sa.Integer(), nullable=False),
            sa.Column("attempt", sa.Integer(), nullable=False),
            _at("at"),
            sa.Column("ok", sa.Boolean(), nullable=False),
            sa.Column("status", sa.Integer(), nullable=True),
            sa.Column("error", sa.String(length=500), nullable=True),
            sa.Column("millis", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(["message_id"], ["outbox.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_delivery_attempts_message", "delivery_attempts", ["message_id", "id"])
    if not inspector.has_table("inbox"):
        op.create_table(
            "inbox",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("key", sa.String(length=200), nullable=False),
            sa.Column("username", sa.String(length=64), nullable=False),
            sa.Column("request_id", sa.String(length=64), nullable=True),
            sa.Column("event_id", sa.BigInteger(), nullable=False),
            sa.Column("kind", sa.String(length=40), nullable=False),
            sa.Column("params", sa.Text(), nullable=False),
            _at("created_at"),
            _at("read_at", nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("key"),
        )
        op.create_index("ix_inbox_user", "inbox", ["username", "id"])
        op.create_index("ix_inbox_unread", "inbox", ["username", "read_at"])
    if not inspector.has_table("webhooks"):
        op.create_table(
            "webhooks",
            sa.Column("id", sa.String(length=36), nullable=False),
            sa.Column("url", sa.String(length=2000), nullable=False),
            sa.Column("events", sa.Text(), nullable=False),
            sa.Column("secret", sa.Text(), nullable=False),
            sa.Column("include_pii", sa.Boolean(), nullable=False),
            sa.Column("active", sa.Boolean(), nullable=False),
            sa.Column("created_by", sa.String(length=64), nullable=False),
            _at("created_at"),
            sa.PrimaryKeyConstraint("id"),
        )
    if not inspector.has_table("notify_settings"):
        op.create_table(
            "notify_settings",
            sa.Column("key", sa.String(length=64), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            sa.Column("set_by", sa.String(length=64), nullable=False),
            _at("set_at"),
            sa.PrimaryKeyConstraint("key"),
        )


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    _create_tables(inspector)
    if "review_until" not in {c["name"] for c in inspector.get_columns(REQUESTS)}:
        with op.batch_alter_table(REQUESTS, schema=None) as batch_op:
            batch_op.add_column(_at("review_until", nullable=True))
    if "source" not in {c["name"] for c in inspector.get_columns(REVIEWS)}:
        with op.batch_alter_table(REVIEWS, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("source", sa.String(length=16), server_default="caller", nullable=False)
            )
    if "self_reviews" not in {c["name"] for c in inspector.get_columns(FIGURES)}:
        # every review before this revision was a caller's: 0 is the count of the days kept
        with op.batch_alter_table(FIGURES, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("self_reviews", sa.Integer(), server_default="0", nullable=False)
            )
    if inspector.has_table(USERS) and "work_phone" not in {
        c["name"] for c in inspector.get_columns(USERS)
    }:
        # a plain ALTER (no batch copy): a copy of users would cascade to its posts
        op.add_column(USERS, sa.Column("work_phone", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column(USERS, "work_phone")
    with op.batch_alter_table(FIGURES, schema=None) as batch_op:
        batch_op.drop_column("self_reviews")
    with op.batch_alter_table(REVIEWS, schema=None) as batch_op:
        batch_op.drop_column("source")
    with op.batch_alter_table(REQUESTS, schema=None) as batch_op:
        batch_op.drop_column("review_until")
    for table in (
        "notify_settings",
        "webhooks",
        "inbox",
        "delivery_attempts",
        "outbox",
        "notify_positions",
    ):
        op.drop_table(table)
