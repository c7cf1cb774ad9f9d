"""The schema of closeloop's own tables, created and upgraded by Alembic migrations.

Every process calls :func:`migrate` at start-up (``closeloop migrate`` does only that), so an
upgrade never needs a hand-written SQL step. The event tables are eventsourcing's.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect, text

import notify.tables
from api import ledger, open311_keys, roster
from closeloop import assessment, catalogue, topics, workcalendar
from projections import tables

MIGRATIONS = Path(__file__).parent / "migrations"

#: The advisory lock that serialises migrations of one PostgreSQL database.
MIGRATION_LOCK_KEY = zlib.crc32(b"closeloop.migrate")

#: The first revision, the schema as it stood before migrations existed.
INITIAL_REVISION = "0001"
#: The revision that added ``view_figures``.
FIGURES_REVISION = "0002"


def owned_metadata() -> MetaData:
    """One MetaData holding every table closeloop owns, for comparisons with migrations."""
    combined = MetaData()
    for source in (
        roster.metadata,
        ledger.metadata,
        open311_keys.metadata,
        catalogue.metadata,
        workcalendar.metadata,
        topics.metadata,
        tables.metadata,
        notify.tables.metadata,
        assessment.metadata,
    ):
        for table in source.tables.values():
            table.to_metadata(combined)
    tables.tracking_table.to_metadata(combined)
    return combined


def owns(table_name: str) -> bool:
    return table_name in owned_metadata().tables


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Bring closeloop's tables to the newest revision.

    A database made before migrations existed (tables but no revision) is stamped with the
    revision its tables match first (the initial one, or the figures' when it has them),
    then upgraded.
    """
    config = _config(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Processes starting together take turns; the lock ends with the transaction.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = conn
        existing = set(inspect(conn).get_table_names())
        has_revision = MigrationContext.configure(conn).get_current_revision() is not None
        if not has_revision and tables.requests.name in existing:
            # Made by create_tables() (an older version, or a tool): stamp what it holds.
            made = FIGURES_REVISION if tables.figures.name in existing else INITIAL_REVISION
            command.stamp(config, made)
        command.upgrade(config, "head")
