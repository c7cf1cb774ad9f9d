"""street-office roles: partners' organisations, dispatch modes, dispatchers' posts

Revision ID: 0008
Revises: 0006
``users.organisation`` (the outside organisation a partner works for; others may leave it
empty), ``units.dispatch`` (a community's dispatch mode, ``auto`` or ``manual``; every
existing unit is ``auto``, today's behaviour) and ``dispatch_posts`` (the communities and
towns a dispatcher dispatches for). Nothing existing changes: the new roles
(``dispatcher``, ``partner``) are values of ``users.role``.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USERS = "users"
UNITS = "units"
POSTS = "dispatch_posts"
POSTS_INDEX = "ix_dispatch_posts_unit"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # A database made by create_all() before it was stamped (see closeloop.schema) may
    # have all of this already; plain ALTERs (no batch copy): a copy of users would cascade
    # to assignments under SQLite's foreign keys.
    # A database of the read models alone (the projector's own file) has no roster.
    has_users, has_units = inspector.has_table(USERS), inspector.has_table(UNITS)
    if has_users and "organisation" not in {c["name"] for c in inspector.get_columns(USERS)}:
        op.add_column(USERS, sa.Column("organisation", sa.String(length=200), nullable=True))
    if has_units and "dispatch" not in {c["name"] for c in inspector.get_columns(UNITS)}:
        op.add_column(
            UNITS,
            sa.Column("dispatch", sa.String(length=16), nullable=False, server_default="auto"),
        )
    if has_users and has_units and not inspector.has_table(POSTS):
        op.create_table(
            POSTS,
            sa.Column("user_id", sa.String(length=36), nullable=False),
            sa.Column("unit_id", sa.String(length=36), nullable=False),
            sa.ForeignKeyConstraint(["unit_id"], ["units.id"]),
            sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("user_id", "unit_id"),
        )
        op.create_index(POSTS_INDEX, POSTS, ["unit_id"], unique=False)


def downgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if inspector.has_table(POSTS):
        op.drop_index(POSTS_INDEX, table_name=POSTS)
        op.drop_table(POSTS)
    # SQLite drops a column without copying the table (3.35 and later).
    if inspector.has_table(UNITS):
        op.drop_column(UNITS, "dispatch")
    if inspector.has_table(USERS):
        op.drop_column(USERS, "organisation")
