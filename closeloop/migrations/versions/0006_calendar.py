"""the working-day calendar: the admins' holidays and make-up working days per year

Revision ID: 0006
Revises: 0005
``calendar_days`` holds, per year an admin set (``PUT /api/v1/calendar/{year}``), each
holiday and make-up working day with who set it and when; for such a year it replaces the
``chinese-calendar`` package's days (see closeloop.workcalendar).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "calendar_days"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if inspector.has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('holiday', 'workday')", name="ck_calendar_days_kind"),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_index("ix_calendar_days_year", TABLE, ["year"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_calendar_days_year", table_name=TABLE)
    op.drop_table(TABLE)
