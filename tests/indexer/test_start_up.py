"""What keeps the start of a `tsunagari index backfill` process short (issue 19), and that the
shortcuts say the same as what they stand in for: the handlers' column lists against the models,
the migration files' head against Alembic's, the skipped migration against a real one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from alembic import command
from sqlalchemy import text

from ledger.db import models
from ledger.db.engine import (
    alembic_config,
    current_revision,
    head_revision,
    head_revision_of_files,
    make_engine,
    upgrade_to_head,
)
from ledger.indexer.handlers import TABLE_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
PROVENANCE = set(models.Provenance.model_fields)  # includes "id"


def test_the_handlers_columns_are_the_event_tables_columns() -> None:
    expected = {
        model.__tablename__: tuple(c.name for c in model.__table__.columns if c.name not in PROVENANCE)  # type: ignore[attr-defined]
        for model in models.EVENT_TABLES
    }
    assert expected == TABLE_COLUMNS


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert head_revision_of_files() == head_revision() != ""


def test_a_database_behind_head_is_still_migrated(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    try:
        command.upgrade(alembic_config(engine), "0012")
        assert upgrade_to_head(engine) == head_revision()
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:  # a table of a later migration is there
            assert conn.execute(text("SELECT COUNT(*) FROM relay_leases")).scalar() == 0
        assert upgrade_to_head(engine) == head_revision()  # at head: the shortcut, same answer
    finally:
        engine.dispose()


def test_an_indexer_starts_without_web3_the_models_or_alembic(tmp_path: Path) -> None:
    """The modules `tsunagari index backfill` loads before it reads the first block, in a fresh
    interpreter, on a database already at head."""
    db = tmp_path / "index.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        upgrade_to_head(engine)
    finally:
        engine.dispose()
    probe = (
        "import json, sys\n"
        "import scripts.cli\n"
        "from ledger.db.engine import make_engine\n"
        "from ledger.indexer import service\n"
        f"service.upgrade_to_head(make_engine({f'sqlite:///{db}'!r}))\n"
        "heavy = ('web3', 'eth_account', 'eth_abi', 'eth_utils', 'alembic', 'sqlmodel', 'ledger.db.models', "
        "'fastapi', 'prometheus_client')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
