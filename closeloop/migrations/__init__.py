"""Alembic migrations of the tables closeloop owns (roster, read models, their tracking).

The event tables belong to eventsourcing and are left out. ``closeloop migrate`` (and every
process at start-up) applies them with :func:`closeloop.schema.migrate`.
"""
