"""figures counted ahead, and the board's index

Revision ID: 0002
Revises: 0001
The index ``ix_view_requests_updated`` (the board's requests no longer open, latest change
first), and the table ``view_figures``: each unit's and day's counts, kept by the projection so that
``GET /stats`` sums days instead of aggregating every request. It is filled from the
request and review rows already projected by revision 0009, which adds more counts (the
code that counts them reads the columns of the newest revision, not of this one).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from domain.ladder import LADDER
from domain.review import DIMENSIONS, Answer

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The counts as they were named when this revision was written.
COUNTS = (
    "received",
    "closed",
    "closed_on_time",
    "escalations",
    "overdue",
    *(f"open_{tier.value}" for tier in LADDER),
    "reached",
    "satisfied",
    *(f"{dimension}_{answer.value}" for dimension in DIMENSIONS for answer in Answer),
)


def upgrade() -> None:
    op.create_table(
        "view_figures",
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.PrimaryKeyConstraint("unit_id", "day"),
    )
    with op.batch_alter_table("view_requests", schema=None) as batch_op:
        batch_op.create_index("ix_view_requests_updated", ["updated_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("view_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_view_requests_updated")
    op.drop_table("view_figures")
