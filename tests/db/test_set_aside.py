"""Setting a SQLite file aside (the demo and the seed do it when a file holds another chain's data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from ledger.db.engine import make_engine, set_aside_sqlite, upgrade_to_head
from ledger.errors import ConfigError


def test_the_file_and_its_wal_move_aside_and_the_next_connection_starts_empty(tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade_to_head(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE old_chain (x INTEGER)"))
        conn.execute(text("INSERT INTO old_chain VALUES (1)"))
    set_aside_sqlite(engine, "unused")
    assert (tmp_path / "index.db.stale").exists()
    assert not db.exists() and not (tmp_path / "index.db-wal").exists()
    assert "old_chain" not in inspect(engine).get_table_names()
    stale = make_engine(f"sqlite:///{tmp_path / 'index.db.stale'}")
    with stale.connect() as conn:  # nothing was lost: the old data is all in the stale file
        assert conn.execute(text("SELECT x FROM old_chain")).scalar_one() == 1
    stale.dispose()
    engine.dispose()


def test_another_database_is_refused_with_the_callers_reason() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with pytest.raises(ConfigError, match="belongs to another ledger"):
        set_aside_sqlite(engine, "the index belongs to another ledger")
