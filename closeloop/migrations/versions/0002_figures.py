"""figures counted ahead

Revision ID: 0002
Revises: 0001
The table ``view_figures``: each unit's and day's counts, kept by the projection so that
``GET /stats`` sums days instead of aggregating every request. Filled here from the
request and review rows already projected (about a minute per million requests).

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
    # Count what is projected already (nothing, on a new database).
    from projections.figures import refill

    refill(op.get_bind())


def downgrade() -> None:
    op.drop_table("view_figures")
