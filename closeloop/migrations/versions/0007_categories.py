"""the category catalogue: categories an admin edits, seeded with the twelve of before

Revision ID: 0007
Revises: 0008
``categories`` holds each kind of request: its code, its Chinese and English names, the
tier it starts on, whether it is retired, and who made and last changed it when. The
twelve categories that were a constant in the code are written here (those missing only,
so a second run, or a table made by ``create_all``, changes nothing).

"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORIES = "categories"

# As domain.categories.SEED stood when the catalogue began, frozen here: a migration does
# not import the code. code -> (default tier, Chinese name, English name)
SEED: dict[str, tuple[str, str, str]] = {
    "water_leak": ("1d", "漏水", "Water leak"),
    "utility_fault": ("1d", "水电气暖故障", "Water, power, gas or heating fault"),
    "noise": ("1d", "噪音扰民", "Noise"),
    "safety_hazard": ("1d", "安全隐患", "Safety hazard"),
    "errand": ("1d", "红色代办", "Done-for-you errand"),
    "elderly_care": ("3d", "独居老人关爱", "Care for an elderly person"),
    "neighbour_dispute": ("3d", "邻里纠纷", "Neighbour dispute"),
    "parking_charging": ("3d", "停车与充电", "Parking and EV charging"),
    "pothole": ("3d", "道路坑洼", "Pothole"),
    "water_main": ("5d", "供水主管破裂", "Broken water main"),
    "wage_dispute": ("5d", "欠薪纠纷", "Wage dispute"),
    "other": ("3d", "其他", "Other"),
}


def upgrade() -> None:
    bind = op.get_bind()
    if not sa.inspect(bind).has_table(CATEGORIES):
        op.create_table(
            CATEGORIES,
            sa.Column("code", sa.String(length=40), nullable=False),
            sa.Column("name_zh", sa.String(length=60), nullable=False),
            sa.Column("name_en", sa.String(length=60), nullable=False),
            sa.Column("default_tier", sa.String(length=8), nullable=False),
            sa.Column("retired", sa.Boolean(), server_default=sa.false(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("created_by", sa.String(length=64), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_by", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("code"),
        )
    table = sa.table(
        CATEGORIES,
        sa.column("code", sa.String()),
        sa.column("name_zh", sa.String()),
        sa.column("name_en", sa.String()),
        sa.column("default_tier", sa.String()),
        sa.column("retired", sa.Boolean()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("created_by", sa.String()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("updated_by", sa.String()),
    )
    have = set(bind.execute(sa.select(table.c.code)).scalars())
    now = datetime.now(UTC)
    rows = [
        {
            "code": code,
            "name_zh": zh,
            "name_en": en,
            "default_tier": tier,
            "retired": False,
            "created_at": now,
            "created_by": "seed",
            "updated_at": now,
            "updated_by": "seed",
        }
        for code, (tier, zh, en) in SEED.items()
        if code not in have
    ]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table(CATEGORIES)
