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
