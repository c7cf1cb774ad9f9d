"""hot spots: the month's topics (每月一题)

Revision ID: 0011
Revises: 0010
New table ``hotspot_topics`` (see :mod:`closeloop.topics`): a category in a grid or a
community that a supervisor made a month's topic, with its title, note, who made it and
when, and when and by whom it was closed. Topics are people's decisions, not read models:
``closeloop rebuild`` leaves them alone. A unique index on the open topics holds one open
topic per month, unit and category.

Skipped when the table is there already.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOPICS = "hotspot_topics"
OPEN = sa.text("closed_at IS NULL")


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TOPICS):
        return
    op.create_table(
        TOPICS,
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("unit_id", sa.String(length=36), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hotspot_topics_month", TOPICS, ["month", "created_at"])
    op.create_index(
        "uq_hotspot_topics_open",
        TOPICS,
        ["month", "unit_id", "category"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_table(TOPICS)
