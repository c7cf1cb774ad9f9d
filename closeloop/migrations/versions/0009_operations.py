"""street-office operations in the read models

Revision ID: 0009
Revises: 0005
``view_requests.deadline`` may be NULL (a request waiting for dispatch has no tier clock).
New columns of ``view_requests``: ``ops`` (``RequestState.operations()`` as JSON text;
NULL for rows projected before this revision: no operation happened to them), the derived
``warned``, ``urges``, ``last_urged_at``, ``extension_pending``, ``cohandlers_open``,
``waiting_since`` (the dispatch queue's order, indexed with the community and the town)
and ``dispatch_wait_seconds`` (NULL: never dispatched), and what the figures count over a
request's whole life: ``returns``, ``redirects``, ``warnings``, ``extensions_asked``,
``extensions_granted``. The table ``view_request_people`` (the levels a request went up
from and its co-handlers, by key). ``view_figures`` gains the operations' counts, and is
counted again from the rows (requests closed as unreachable before this revision count
in ``closed_unreached``; about a minute per million requests).

Every step is skipped when its result is there already (a database made by
``create_tables()`` of a newer version, or a second run).

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REQUESTS = "view_requests"
FIGURES = "view_figures"
PEOPLE = "view_request_people"
PEOPLE_INDEX = "ix_view_request_people_key"

#: The figures' counts added here, as they were named when this revision was written.
COUNTS = (
    "returned",
    "redirected",
    "extensions_asked",
    "extensions_approved",
    "urged",
    "warned",
    "out_of_scope",
    "closed_unreached",
    "dispatched",
)

INDEXES = (
    ("ix_view_requests_waiting", ["waiting_since"]),
    ("ix_view_requests_community_waiting", ["community_id", "waiting_since"]),
    ("ix_view_requests_town_waiting", ["town_id", "waiting_since"]),
    ("ix_view_requests_dispatch_wait", ["dispatch_wait_seconds", "created_at"]),
)


def _request_columns() -> list[sa.Column[Any]]:
    def count(name: str) -> sa.Column[Any]:
        return sa.Column(name, sa.Integer(), server_default="0", nullable=False)

    return [
        sa.Column("ops", sa.Text(), nullable=True),
        sa.Column("warned", sa.Boolean(), server_default=sa.false(), nullable=False),
        count("urges"),
        sa.Column("last_urged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extension_pending", sa.Boolean(), server_default=sa.false(), nullable=False),
        count("cohandlers_open"),
        sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatch_wait_seconds", sa.Float(), nullable=True),
        count("returns"),
        count("redirects"),
        count("warnings"),
        count("extensions_asked"),
        count("extensions_granted"),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    columns = {c["name"]: c for c in sa.inspect(bind).get_columns(REQUESTS)}
    missing = [c for c in _request_columns() if c.name not in columns]
    if missing or not columns["deadline"]["nullable"]:
        # SQLite copies the table once for all of it
        with op.batch_alter_table(REQUESTS, schema=None) as batch_op:
            if not columns["deadline"]["nullable"]:
                batch_op.alter_column(
                    "deadline", existing_type=sa.DateTime(timezone=True), nullable=True
                )
            for column in missing:
                batch_op.add_column(column)
    inspector = sa.inspect(bind)  # a fresh one: the table may have been made again
    indexes = {i["name"] for i in inspector.get_indexes(REQUESTS)}
    for name, on in INDEXES:
        if name not in indexes:
            op.create_index(name, REQUESTS, on, unique=False)
    if not inspector.has_table(PEOPLE):
        op.create_table(
            PEOPLE,
            sa.Column("request_id", sa.String(length=64), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("key", sa.String(length=128), nullable=False),
            sa.Column("done", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("request_id", "kind", "key"),
        )
        op.create_index(PEOPLE_INDEX, PEOPLE, ["kind", "key", "request_id"], unique=False)
    counted = {c["name"] for c in inspector.get_columns(FIGURES)}
    added = [name for name in COUNTS if name not in counted]
    if added:
        with op.batch_alter_table(FIGURES, schema=None) as batch_op:
            for name in added:
                batch_op.add_column(
                    sa.Column(name, sa.Integer(), server_default="0", nullable=False)
                )
        # Count every figure again from the rows (and the counts 0002 left to here).
        from projections.figures import refill

        refill(bind)


def downgrade() -> None:
    with op.batch_alter_table(FIGURES, schema=None) as batch_op:
        for name in COUNTS:
            batch_op.drop_column(name)
    op.drop_index(PEOPLE_INDEX, table_name=PEOPLE)
    op.drop_table(PEOPLE)
    for name, _ in INDEXES:
        op.drop_index(name, table_name=REQUESTS)
    # ``deadline`` stays nullable: rows waiting for dispatch have none to give back.
    with op.batch_alter_table(REQUESTS, schema=None) as batch_op:
        for column in reversed(_request_columns()):
            batch_op.drop_column(column.name)
