"""residents' privacy: sealed contacts, the reveal audit, tracking tokens

Revision ID: 0005
Revises: 0004
``view_requests.resident_sealed`` holds the resident's name and phone encrypted; the
``resident_name`` / ``resident_phone`` columns hold them masked (张*, 138****5678), and the
rows projected before this revision are masked here. Their sealed copy is filled in by
``closeloop projections reseal`` (it reads the filing events, which hold the contact).
``privacy_reveals`` is the append-only audit of revealed contacts; ``tracking_tokens``
maps a resident's tracking token (its SHA-256) to the request; ``intake_filings`` keeps
the times of recent anonymous filings per client address and phone (a keyed hash).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from projections.reseal import mask_clear_rows

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REQUESTS = "view_requests"


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    columns = {c["name"] for c in inspector.get_columns(REQUESTS)}
    if "resident_sealed" not in columns:
        with op.batch_alter_table(REQUESTS, schema=None) as batch_op:
            batch_op.add_column(sa.Column("resident_sealed", sa.Text(), nullable=True))
            batch_op.add_column(
                sa.Column("urgent", sa.Boolean(), server_default=sa.false(), nullable=False)
            )
    mask_clear_rows(bind)
    if not inspector.has_table("privacy_reveals"):
        op.create_table(
            "privacy_reveals",
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
            sa.Column("request_id", sa.String(length=64), nullable=False),
            sa.Column("username", sa.String(length=64), nullable=False),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            "ix_privacy_reveals_request", "privacy_reveals", ["request_id", "id"], unique=False
        )
    if not inspector.has_table("tracking_tokens"):
        op.create_table(
            "tracking_tokens",
            sa.Column("request_id", sa.String(length=64), nullable=False),
            sa.Column("token_hash", sa.String(length=64), nullable=False),
            sa.Column("token_sealed", sa.Text(), nullable=False),
            sa.Column("body_sealed", sa.Text(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("request_id"),
            sa.UniqueConstraint("token_hash"),
        )

    if not inspector.has_table("intake_filings"):
        op.create_table(
            "intake_filings",
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
            sa.Column("key", sa.String(length=128), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_intake_filings_key_at", "intake_filings", ["key", "at"])


def downgrade() -> None:
    op.drop_index("ix_intake_filings_key_at", table_name="intake_filings")
    op.drop_table("intake_filings")
    op.drop_table("tracking_tokens")
    op.drop_index("ix_privacy_reveals_request", table_name="privacy_reveals")
    op.drop_table("privacy_reveals")
    with op.batch_alter_table(REQUESTS, schema=None) as batch_op:
        batch_op.drop_column("urgent")
        batch_op.drop_column("resident_sealed")
