"""the projection's dead-letter table

Revision ID: 0003
Revises: 0002
``view_dead_letters``: events the projection could not process, and the later events of
the same requests waiting behind them (``closeloop projections list`` / ``retry``).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "view_dead_letters"
INDEX = "ix_view_dead_letters_request"


def upgrade() -> None:
    # A database made by create_tables() before it was stamped (see closeloop.schema)
    # may hold the table already.
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tried_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("position"),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(INDEX, ["request_id", "position"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(INDEX)
    op.drop_table(TABLE)
