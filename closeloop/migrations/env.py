"""Alembic's environment: run with the connection :mod:`closeloop.schema` hands over."""

from __future__ import annotations

from typing import Any

from alembic import context

from closeloop.schema import owned_metadata, owns

config = context.config
connection = config.attributes["connection"]


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Only closeloop's own tables: eventsourcing keeps its event tables itself."""
    if type_ == "table":
        return owns(name or "")
    table = getattr(obj, "table", None)
    return table is None or owns(table.name)


context.configure(
    connection=connection,
    target_metadata=owned_metadata(),
    include_object=include_object,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
