"""assessment: the scheme in force and the supervisors' adjustments

Revision ID: 0013
Revises: 0012
New tables ``assessment_scheme`` (one row: the scheme as JSON, who saved it and when; no
row: the defaults) and ``assessment_adjustments`` (each adjustment of a worker's points for
a period, who made it and when, and who withdrew it when it was withdrawn). Both are
decisions by people, not read models: a rebuild leaves them alone (see
:mod:`closeloop.assessment`).

Every step is skipped when its result is there already.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEME = "assessment_scheme"
ADJUSTMENTS = "assessment_adjustments"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(SCHEME):
        op.create_table(
            SCHEME,
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("scheme", sa.Text(), nullable=False),
            sa.Column("updated_by", sa.String(length=64), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    if not inspector.has_table(ADJUSTMENTS):
        op.create_table(
            ADJUSTMENTS,
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("username", sa.String(length=64), nullable=False),
            sa.Column("period", sa.String(length=16), nullable=False),
            sa.Column("points", sa.Integer(), nullable=False),
            sa.Column("reason", sa.String(length=500), nullable=False),
            sa.Column("created_by", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("withdrawn_by", sa.String(length=64), nullable=True),
            sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
            sa.CheckConstraint(
                "points BETWEEN -20 AND 20 AND points <> 0",
                name="ck_assessment_adjustments_points",
            ),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            "ix_assessment_adjustments_period", ADJUSTMENTS, ["period", "username"], unique=False
        )


def downgrade() -> None:
    op.drop_index("ix_assessment_adjustments_period", table_name=ADJUSTMENTS)
    op.drop_table(ADJUSTMENTS)
    op.drop_table(SCHEME)
