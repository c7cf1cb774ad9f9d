"""staff accounts: case-insensitive usernames, token versions, disabled users, throttling

Revision ID: 0004
Revises: 0003
``users.username_key`` (the case-folded username, unique: ``admin`` and ``ADMIN`` are one
user), ``users.token_version`` (raised to revoke a user's tokens), ``users.disabled``, and
``login_throttle`` (failed log-ins per account and per client address).

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USERS = "users"
KEY_INDEX = "uq_users_username_key"
THROTTLE = "login_throttle"


def _key(username: str) -> str:
    # As api.roster.username_key, frozen here: a migration does not import the code.
    return username.strip().casefold()


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    # A database made by create_all() before it was stamped (see closeloop.schema) may
    # have all of this already; plain ALTERs (no batch copy): a copy of users would cascade
    # to assignments under SQLite's foreign keys.
    if inspector.has_table(USERS):
        _upgrade_users(bind, inspector)
    if not inspector.has_table(THROTTLE):
        op.create_table(
            THROTTLE,
            sa.Column("key", sa.String(length=255), nullable=False),
            sa.Column("failures", sa.Integer(), nullable=False),
            sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
            sa.Column("last_failure", sa.DateTime(timezone=True), nullable=True),
            sa.Column("locks", sa.Integer(), nullable=False),
            sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("key"),
        )


def downgrade() -> None:
    op.drop_table(THROTTLE)
    op.drop_index(KEY_INDEX, table_name=USERS)
    # SQLite drops a column without copying the table (3.35 and later).
    op.drop_column(USERS, "disabled")
    op.drop_column(USERS, "token_version")
    op.drop_column(USERS, "username_key")


def _upgrade_users(bind: sa.engine.Connection, inspector: sa.engine.Inspector) -> None:
    columns = {column["name"] for column in inspector.get_columns(USERS)}
    if "username_key" not in columns:
        op.add_column(
            USERS,
            sa.Column("username_key", sa.String(length=192), nullable=False, server_default=""),
        )
    if "token_version" not in columns:
        op.add_column(
            USERS,
            sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"),
        )
    if "disabled" not in columns:
        op.add_column(
            USERS,
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        )
    users = sa.table(USERS, sa.column("id"), sa.column("username"), sa.column("username_key"))
    seen: dict[str, str] = {}
    for user_id, username in bind.execute(sa.select(users.c.id, users.c.username)).all():
        key = _key(username)
        if key in seen:
            raise RuntimeError(
                f"the users {seen[key]!r} and {username!r} differ only in case; usernames are "
                "now one user regardless of case: rename one of them (UPDATE users SET "
                "username = ... WHERE id = ...) and start again"
            )
        seen[key] = username
        bind.execute(users.update().where(users.c.id == user_id).values(username_key=key))
    if KEY_INDEX not in {index["name"] for index in inspector.get_indexes(USERS)}:
        op.create_index(KEY_INDEX, USERS, ["username_key"], unique=True)
