"""open311 keys: the API keys that let applications file requests through Open311

Revision ID: 0015
Revises: 0014
New table ``open311_keys``: one row per key an admin issued (the application's name, the
grid whose community's dispatch queue its filings go to, the key's SHA-256, who issued it
and when, who revoked it and when). A decision by people, not a read model: a rebuild
leaves it alone (see :mod:`api.open311_keys`).

Every step is skipped when its result is there already.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = "open311_keys"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(KEYS):
        op.create_table(
            KEYS,
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("name", sa.String(length=100), nullable=False),
            sa.Column("grid_id", sa.String(length=64), nullable=False),
            sa.Column("key_hash", sa.String(length=64), nullable=False),
            sa.Column("created_by", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked_by", sa.String(length=64), nullable=True),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("key_hash"),
        )


def downgrade() -> None:
    op.drop_table(KEYS)
