"""Alembic owns closeloop's tables: the migrations build exactly what the code declares."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from api import roster
from closeloop import catalogue, workcalendar
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
    assert {
        "units",
        "users",
        "assignments",
        "view_requests",
        "view_tracking",
        "calendar_days",
        "categories",
    } <= names


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


def _upgrade_to(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = _config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def test_the_roles_migration_keeps_the_roster_and_dispatches_every_community_auto(
    engine: Engine,
) -> None:
    _upgrade_to(engine, "0005")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO units (id, name, kind, parent_id, created_at) VALUES "
                "('t', '城关镇', 'town', NULL, :at), ('c', '医院西路社区', 'community', 't', :at)"
            ),
            {"at": datetime(2026, 1, 1, tzinfo=UTC)},
        )
        conn.execute(
            text(
                "INSERT INTO users (id, username, username_key, display_name, role, "
                "password_hash, created_at) VALUES ('u', 'sun', 'sun', '小孙', 'caller', 'x', :at)"
            ),
            {"at": datetime(2026, 1, 1, tzinfo=UTC)},
        )

    migrate(engine)

    assert roster.dispatch_mode("c", db=engine) == "auto"
    user = roster.get_user("u", db=engine)
    assert user is not None and (user.organisation, user.dispatch_units) == (None, ())
    assert {"dispatch_posts"} <= set(inspect(engine).get_table_names())
    assert _differences(engine) == []
    # and back down, and up again
    _upgrade_to(engine, "0005", down=True)
    assert "dispatch_posts" not in inspect(engine).get_table_names()
    assert "dispatch" not in {c["name"] for c in inspect(engine).get_columns("units")}
    migrate(engine)
    assert _differences(engine) == []
    assert {u.name for u in roster.list_units(db=engine)} == {"城关镇", "医院西路社区"}


def test_the_calendar_table_comes_with_0006_and_goes_with_its_downgrade(engine: Engine) -> None:
    migrate(engine)
    assert "calendar_days" in inspect(engine).get_table_names()
    config = _config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0005")
    assert current_revision(engine) == "0005"
    assert "calendar_days" not in inspect(engine).get_table_names()
    # a table made meanwhile (by create_all in a tool) is adopted, not made twice
    workcalendar.metadata.create_all(engine)
    migrate(engine)
    assert current_revision(engine) == _head(engine)
    assert _differences(engine) == []
    workcalendar.set_year(2027, [date(2027, 1, 1)], [], "admin", db=engine)
    assert workcalendar.year_of(2027, db=engine).source == "table"


def _head(engine: Engine) -> str | None:
    """The newest revision of the migrations."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config(engine)).get_current_head()


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


def test_rows_projected_before_the_operations_are_kept_and_counted(engine: Engine) -> None:
    """Revision 0009 on a database at 0005 that holds requests: the rows keep their values,
    take the operations' defaults, and the figures are counted again (closed_unreached)."""
    from alembic import command
    from sqlalchemy import MetaData, Table, insert, select, text

    from closeloop.schema import _config
    from projections.queries import get_request, list_requests, stats

    with engine.begin() as conn:
        config = _config(engine)
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
    old = Table("view_requests", MetaData(), autoload_with=engine)
    assert "ops" not in old.c and not old.c.deadline.nullable
    at = datetime(2025, 3, 3, 8, tzinfo=UTC)
    row = {
        "status": "closed",
        "tier": "1d",
        "level": "grid_worker",
        "level_unit_id": "g1",
        "deadline": at + timedelta(days=1),
        "overdue": False,
        "escalations": 0,
        "reopens": 0,
        "unreached_attempts": 3,
        "urgent": False,
        "grid_id": "g1",
        "community_id": "c1",
        "town_id": "t1",
        "category": "water",
        "description": "漏水",
        "channel": "app",
        "resident_name": "张*",
        "resident_phone": "138****0000",
        "created_at": at,
        "updated_at": at + timedelta(hours=5),
        "version": 6,
        "missed_deadline": False,
        "resolved_at": at + timedelta(hours=2),
        "closed_at": at + timedelta(hours=5),
        "closed_outcome": "unreachable",
    }
    with engine.begin() as conn:
        conn.execute(insert(old), [{**row, "id": "r1"}, {**row, "id": "r2", "status": "assigned",
                                   "closed_at": None, "closed_outcome": None}])  # fmt: skip
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0010")  # 0012 refills the views from the log (below)
        # the columns revision 0016 adds, which reading a row selects (0012 would empty it),
        # and 0017's
        for name, kind in (("lat", "FLOAT"), ("long", "FLOAT"), ("place_sealed", "TEXT"),
                           ("photos", "TEXT"), ("merged_into", "VARCHAR(64)")):  # fmt: skip
            conn.execute(text(f"ALTER TABLE view_requests ADD COLUMN {name} {kind}"))
        conn.execute(text("ALTER TABLE view_figures ADD COLUMN merged INTEGER NOT NULL DEFAULT 0"))
    new = Table("view_requests", MetaData(), autoload_with=engine)
    assert new.c.deadline.nullable
    with engine.connect() as conn:
        r1 = conn.execute(select(new).where(new.c.id == "r1")).one()
    assert r1.ops is None and r1.urges == 0 and not r1.warned and r1.waiting_since is None
    read = get_request(engine, "r1")
    assert read is not None and read["cohandlers"] == [] and read["out_of_scope"] is None
    assert read["status"] == "closed" and read["timeline"] == []
    figures = stats(engine)
    assert (figures["received"], figures["closed"], figures["closed_unreached"]) == (2, 1, 1)
    assert figures["closed_reached"] == 0 and figures["dispatch_wait"]["count"] == 0
    assert list_requests(engine, urged=False)["total"] == 2


def test_the_posts_revision_refills_the_views_from_the_log(engine: Engine) -> None:
    """Revision 0012 adds the posts' tables and, since only the log can fill them, empties
    the views and forgets their position: the projector then refills them all."""
    from alembic import command
    from sqlalchemy import MetaData, Table, func, insert, select

    from closeloop.schema import _config

    with engine.begin() as conn:
        config = _config(engine)
        config.attributes["connection"] = conn
        command.upgrade(config, "0010")
    tracking = Table("view_tracking", MetaData(), autoload_with=engine)
    timeline = Table("view_timeline", MetaData(), autoload_with=engine)
    at = datetime(2026, 3, 3, 8, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(tracking), {"application_name": "closeloop", "notification_id": 9})
        conn.execute(
            insert(timeline),
            {
                "request_id": "r1",
                "position": 1,
                "type": "Filed",
                "at": at,
                "actor": "a",
                "data": {},
            },
        )
    migrate(engine)
    assert _differences(engine) == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tracking)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(timeline)).scalar_one() == 0
    migrate(engine)  # again: nothing more is emptied or made
    assert _differences(engine) == []


def test_the_unit_counts_revision_sums_the_buckets_by_unit(engine: Engine) -> None:
    """Revision 0014 adds the units' monthly rows and fills them from the buckets, so the
    league tables read the same figures at once, with nothing to refill."""
    from sqlalchemy import MetaData, Table, insert, select

    from domain.performance import POST_COUNTS

    with engine.begin() as conn:
        config = _config(engine)
        config.attributes["connection"] = conn
        command.upgrade(config, "0013")
    buckets = Table("view_post_counts", MetaData(), autoload_with=engine)

    def bucket(month: str, level: str, grid: str, handler: str, community: str, n: int) -> dict:
        return {
            "month": month,
            "level": level,
            "grid_id": grid,
            "handler": handler,
            "community_id": community,
            "town_id": "t1",
            **{name: n if name in ("assigned", "resolved") else 0 for name in POST_COUNTS},
        }

    with engine.begin() as conn:
        conn.execute(
            insert(buckets),
            [
                bucket("2026-03", "grid_worker", "g1", "w1", "c1", 2),
                bucket("2026-03", "grid_worker", "g1", "", "c1", 1),
                bucket("2026-03", "grid_branch", "g2", "b1", "c1", 4),
                bucket("2026-04", "grid_worker", "g3", "w3", "c2", 8),
            ],
        )
    migrate(engine)
    assert _differences(engine) == []
    units = Table("view_unit_counts", MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = {
            (r.month, r.kind, r.unit_id): (r.assigned, r.resolved, r.urged)
            for r in conn.execute(select(units))
        }
    assert rows == {
        ("2026-03", "grid", "g1"): (3, 3, 0),
        ("2026-03", "grid", "g2"): (4, 4, 0),
        ("2026-03", "community", "c1"): (7, 7, 0),
        ("2026-03", "town", "t1"): (7, 7, 0),
        ("2026-04", "grid", "g3"): (8, 8, 0),
        ("2026-04", "community", "c2"): (8, 8, 0),
        ("2026-04", "town", "t1"): (8, 8, 0),
    }
    migrate(engine)  # again: nothing is added twice
    with engine.connect() as conn:
        assert len(conn.execute(select(units)).all()) == len(rows)
