"""Alembic owns closeloop's tables: the migrations build exactly what the code declares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from api import roster
from closeloop import catalogue
from closeloop.db import make_engine
from closeloop.schema import (
    INITIAL_REVISION,
    _config,
    current_revision,
    migrate,
    owned_metadata,
)
from closeloop.store import STORE_NAME, RequestStore, store_env
from domain.categories import SEED
from projections import tables
from tests.databases import BACKENDS, postgres_database


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'closeloop.db'}")
        yield engine
        engine.dispose()
        return
    with postgres_database("closeloop_schema") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _differences(engine: Engine) -> list[object]:
    owned = set(owned_metadata().tables)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, type_, *_: type_ != "table" or name in owned,
            },
        )
        return list(compare_metadata(context, owned_metadata()))


def test_migrations_build_what_the_code_declares(engine: Engine) -> None:
    migrate(engine)
    assert current_revision(engine) is not None
    assert _differences(engine) == []
    names = set(inspect(engine).get_table_names())
    assert {"units", "users", "assignments", "view_requests", "view_tracking"} <= names
    assert "categories" in names


def test_migrate_twice_changes_nothing_and_leaves_event_tables_alone(engine: Engine) -> None:
    migrate(engine)
    store = RequestStore(env=store_env(engine.url.render_as_string(hide_password=False)))
    store.close()
    revision = current_revision(engine)
    migrate(engine)
    assert current_revision(engine) == revision
    assert f"{STORE_NAME}_events" in inspect(engine).get_table_names()


def test_a_database_from_before_migrations_is_adopted(engine: Engine) -> None:
    roster.metadata.create_all(engine)
    tables.create_tables(engine)
    # what came with revision 0002
    tables.figures.drop(engine)
    next(i for i in tables.requests.indexes if i.name == "ix_view_requests_updated").drop(engine)
    roster.create_unit("城关镇", "town", db=engine)  # type: ignore[arg-type]
    migrate(engine)
    assert _differences(engine) == []
    assert current_revision(engine) is not None
    assert current_revision(engine) >= INITIAL_REVISION  # type: ignore[operator]
    assert [u.name for u in roster.list_units(db=engine)] == ["城关镇"]


def _upgrade_to(engine: Engine, revision: str) -> None:
    config = _config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def test_the_catalogue_starts_with_the_twelve_categories(engine: Engine) -> None:
    _upgrade_to(engine, "0005")
    assert "categories" not in inspect(engine).get_table_names()
    migrate(engine)
    found = catalogue.list_categories(db=engine)
    assert [(c.code, c.default_tier, c.name_zh, c.name_en) for c in found] == [
        (code, tier, zh, en) for code, (tier, zh, en) in SEED.items()
    ]
    assert {(c.retired, c.created_by, c.updated_by) for c in found} == {(False, "seed", "seed")}


def test_the_catalogue_migration_keeps_what_is_there(engine: Engine) -> None:
    """A catalogue made before the migration ran (``create_all``, a tool) keeps its rows;
    the migration adds the seed's missing ones only."""
    _upgrade_to(engine, "0005")
    catalogue.metadata.create_all(engine)
    catalogue.add_category("noise", "噪声", "Loud neighbours", "3d", by="admin", db=engine)
    catalogue.add_category("lift_fault", "电梯故障", "Lift fault", "5d", by="admin", db=engine)
    migrate(engine)
    assert _differences(engine) == []
    with engine.connect() as conn:  # past the cache
        found = {c.code: c for c in catalogue.list_categories(db=conn)}
    assert set(found) == {*SEED, "lift_fault"}
    assert (found["noise"].name_en, found["noise"].default_tier) == ("Loud neighbours", "3d")
    assert found["water_leak"].created_by == "seed"
