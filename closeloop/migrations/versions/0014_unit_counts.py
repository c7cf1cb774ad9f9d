"""unit counts: the stints' counts by month and unit, for the league tables

Revision ID: 0014
Revises: 0013
New read model ``view_unit_counts``: the counts of ``view_post_counts`` summed by month
and unit (each bucket's grid, community and town; ``kind`` says which), so that a league
table of a month reads one row per unit and a unit's month one row. It is filled here
from ``view_post_counts`` in this transaction (the two then hold the same stints, at the
same tracking position); the projector keeps both from then on.

Skipped when the table is there already.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from domain.performance import POST_COUNTS

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNITS = "view_unit_counts"
BUCKETS = "view_post_counts"
#: Each kind of unit and the bucket column holding it.
KINDS = (("grid", "grid_id"), ("community", "community_id"), ("town", "town_id"))


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if inspector.has_table(UNITS):
        return
    op.create_table(
        UNITS,
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in POST_COUNTS),
        sa.PrimaryKeyConstraint("month", "kind", "unit_id"),
    )
    if not inspector.has_table(BUCKETS):
        return
    columns = ", ".join(POST_COUNTS)
    sums = ", ".join(f"SUM({name})" for name in POST_COUNTS)
    for kind, column in KINDS:
        op.get_bind().execute(
            sa.text(
                f"INSERT INTO {UNITS} (month, kind, unit_id, {columns}) "
                f"SELECT month, :kind, {column}, {sums} FROM {BUCKETS} "
                f"GROUP BY month, {column}"
            ),
            {"kind": kind},
        )


def downgrade() -> None:
    op.drop_table(UNITS)
