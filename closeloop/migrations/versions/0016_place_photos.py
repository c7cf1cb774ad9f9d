"""place and photos: where a request is, and the photos it carries

Revision ID: 0016
Revises: 0015
``view_requests`` gains ``lat`` and ``long`` (the point, WGS-84), ``place_sealed`` (the
address and building, sealed as the resident's contact is) and ``photos`` (the photos'
references as JSON text: content hash, type, stage, when and by whom). Older rows hold
NULL in each: they were filed without a place or photos. The images themselves are in
the media store (:mod:`closeloop.media`), never in a table.

Every step is skipped when its result is there already.

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REQUESTS = "view_requests"
COLUMNS = ("lat", "long", "place_sealed", "photos")


def _column(name: str) -> sa.Column[Any]:
    if name in ("lat", "long"):
        return sa.Column(name, sa.Float(), nullable=True)
    return sa.Column(name, sa.Text(), nullable=True)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = {c["name"] for c in inspector.get_columns(REQUESTS)}
    missing = [name for name in COLUMNS if name not in present]
    if missing:
        with op.batch_alter_table(REQUESTS, schema=None) as batch_op:
            for name in missing:
                batch_op.add_column(_column(name))


def downgrade() -> None:
    with op.batch_alter_table(REQUESTS, schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
