"""duplicates: the request a request is merged into, and the figures' merged count

Revision ID: 0017
Revises: 0016
``view_requests`` gains ``merged_into`` (the primary a duplicate is merged into; NULL: its
own work), ``view_figures`` gains ``merged`` (server default 0) and ``view_posts`` gains
``followed`` (a duplicate's stay at the post that resolved its primary; server default
false). No request was merged before this revision, so no row needs counting again.

Every step is skipped when its result is there already.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REQUESTS = "view_requests"
FIGURES = "view_figures"
POSTS = "view_posts"


def _has(table: str, column: str) -> bool:
    return column in {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    if not _has(REQUESTS, "merged_into"):
        with op.batch_alter_table(REQUESTS, schema=None) as batch_op:
            batch_op.add_column(sa.Column("merged_into", sa.String(64), nullable=True))
    if not _has(FIGURES, "merged"):
        with op.batch_alter_table(FIGURES, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("merged", sa.Integer(), nullable=False, server_default="0")
            )
    if not _has(POSTS, "followed"):
        with op.batch_alter_table(POSTS, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("followed", sa.Boolean(), nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    with op.batch_alter_table(POSTS, schema=None) as batch_op:
        batch_op.drop_column("followed")
    with op.batch_alter_table(FIGURES, schema=None) as batch_op:
        batch_op.drop_column("merged")
    with op.batch_alter_table(REQUESTS, schema=None) as batch_op:
        batch_op.drop_column("merged_into")
