"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import ledger.db.models  # noqa: F401 - registers the tables
from ledger.db.engine import current_revision, head_revision, upgrade_to_head
from ledger.db.models import VIEWS
from tests.indexer.helpers import database


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migrations_match_the_models(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as engine:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
            views = set(inspect(conn).get_view_names())
        assert diff == [], f"models and migrations differ: {diff}"
        assert views == set(VIEWS)
        assert upgrade_to_head(engine) == head_revision()  # idempotent


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as engine, engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_a_failing_migration_leaves_the_previous_schema_whole(tmp_path: Path) -> None:
    """SQLite DDL runs inside the migration's transaction: a crash mid-way changes nothing."""
    from alembic import command

    from ledger.db.engine import alembic_config, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    command.upgrade(alembic_config(engine), "0002")
    with engine.begin() as conn:  # make 0003's index creation fail after its column was added
        conn.execute(text("CREATE INDEX ix_tie_months_slice ON api_keys (label)"))
    with pytest.raises(Exception, match="ix_tie_months_slice"):
        upgrade_to_head(engine)
    assert current_revision(engine) == "0002"
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("tie_months")}
        tables = set(inspect(conn).get_table_names())
    assert "last_active_month" not in columns
    assert not any(t.startswith("_alembic_tmp") for t in tables)
