"""posts: every stay of a request at a post, and their counts by month (assessment)

Revision ID: 0012
Revises: 0011
New read models ``view_posts`` (one row per stint: :class:`domain.performance.Stint`)
and ``view_post_counts`` (the stints' counts by local month, level, grid and handler).
The indexes of ``view_requests`` on ``created_at`` (alone, and after the town or the
community) also hold ``grid_id`` and ``category``: the hot spots count from them alone.

Both are filled from the event log, which a migration cannot read (the events are sealed
with keys it does not hold): the views' tracking position is forgotten and their rows
emptied, in this transaction, so the projector fills every view again from the start of
the log (``closeloop rebuild`` does it fastest; ``/health`` shows the lag meanwhile).
The dead-letter table is emptied with them: an event the views still fail on is
quarantined again.

Every step is skipped when its result is there already.

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from domain.performance import POST_COUNTS

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTS = "view_posts"
COUNTS = "view_post_counts"
TRACKING = "view_tracking"
#: The views refilled from the log (the tables of revision 0001 to 0010).
VIEWS = (
    "view_requests",
    "view_request_people",
    "view_timeline",
    "view_reviews",
    "view_figures",
    "view_dead_letters",
)


def _at(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    made = False
    if not inspector.has_table(POSTS):
        made = True
        op.create_table(
            POSTS,
            sa.Column("request_id", sa.String(length=64), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("level", sa.String(length=32), nullable=False),
            sa.Column("unit_id", sa.String(length=64), nullable=False),
            sa.Column("grid_id", sa.String(length=64), nullable=False),
            sa.Column("community_id", sa.String(length=64), nullable=False),
            sa.Column("town_id", sa.String(length=64), nullable=False),
            sa.Column("category", sa.String(length=64), nullable=False),
            _at("started_at"),
            sa.Column("handler", sa.String(length=64), nullable=False),
            _at("accepted_at", nullable=True),
            sa.Column("responded", sa.Boolean(), nullable=False),
            _at("resolved_at", nullable=True),
            sa.Column("on_time", sa.Boolean(), nullable=False),
            sa.Column("overdue", sa.Boolean(), nullable=False),
            sa.Column("ended", sa.String(length=16), nullable=False),
            _at("ended_at", nullable=True),
            sa.Column("urges", sa.Integer(), nullable=False),
            sa.Column("reviews_reached", sa.Integer(), nullable=False),
            sa.Column("reviews_satisfied", sa.Integer(), nullable=False),
            sa.Column("last_satisfied", sa.Boolean(), nullable=True),
            sa.Column("final", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("request_id", "seq"),
        )
        for name, column in (
            ("grid", "grid_id"),
            ("community", "community_id"),
            ("town", "town_id"),
            ("handler", "handler"),
        ):
            op.create_index(f"ix_view_posts_{name}_started", POSTS, [column, "started_at"])
        op.create_index("ix_view_posts_started", POSTS, ["started_at"])
    if not inspector.has_table(COUNTS):
        made = True
        op.create_table(
            COUNTS,
            sa.Column("month", sa.String(length=7), nullable=False),
            sa.Column("level", sa.String(length=32), nullable=False),
            sa.Column("grid_id", sa.String(length=64), nullable=False),
            sa.Column("handler", sa.String(length=64), nullable=False),
            sa.Column("community_id", sa.String(length=64), nullable=False),
            sa.Column("town_id", sa.String(length=64), nullable=False),
            *(sa.Column(name, sa.Integer(), nullable=False) for name in POST_COUNTS),
            sa.PrimaryKeyConstraint("month", "level", "grid_id", "handler"),
        )
        op.create_index("ix_view_post_counts_handler", COUNTS, ["handler", "month"])
    if made:
        _refill_from_the_log(inspector)
    _cover_the_hot_spots(inspector)


#: The indexes of view_requests the hot spots read alone, and their new columns.
COVERING = {
    "ix_view_requests_created": ["created_at", "grid_id", "category"],
    "ix_view_requests_town_created": ["town_id", "created_at", "grid_id", "category"],
    "ix_view_requests_community_created": ["community_id", "created_at", "grid_id", "category"],
}


def _cover_the_hot_spots(inspector: sa.Inspector) -> None:
    if not inspector.has_table("view_requests"):
        return
    existing = {i["name"]: i["column_names"] for i in inspector.get_indexes("view_requests")}
    for name, columns in COVERING.items():
        if existing.get(name) == columns:
            continue
        if name in existing:
            op.drop_index(name, table_name="view_requests")
        op.create_index(name, "view_requests", columns)


def _refill_from_the_log(inspector: sa.Inspector) -> None:
    """Forget the views' position and rows: the projector fills them again, posts too."""
    bind = op.get_bind()
    if inspector.has_table(TRACKING):
        bind.execute(sa.text(f"DELETE FROM {TRACKING}"))
    for table in VIEWS:
        if inspector.has_table(table):
            bind.execute(sa.text(f"DELETE FROM {table}"))


def downgrade() -> None:
    for name, columns in COVERING.items():
        op.drop_index(name, table_name="view_requests")
        op.create_index(name, "view_requests", columns[:-2])
    op.drop_table(COUNTS)
    op.drop_table(POSTS)
