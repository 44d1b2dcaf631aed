"""Backups of the database while everything keeps running, and their restore.

- **SQLite**: the online backup API (``sqlite3.Connection.backup``) copies the file page by page
  while the API, relayer and indexer keep writing; the copy is one consistent moment (WAL readers see
  a snapshot). It is written next to the destination and renamed into place only once
  ``PRAGMA integrity_check`` says ``ok``, so a crash mid-backup never leaves a half file under the
  backup's name.
- **PostgreSQL**: ``pg_dump --format=custom`` (one consistent snapshot of a running database) when
  the client tools are on the machine; docs/operations.md gives the ``pg_dump``/``pg_restore`` and
  base-backup alternatives for large deployments.

:func:`restore_database` puts a SQLite backup in place of a missing or empty database (never over a
live one unless asked) and checks it; after a restore the operator replays the claim journal
(:mod:`ledger.relay.journal`) before starting the API, then starts the relayer and the indexer,
which catch up from the chain (the indexer re-reads from the backup's checkpoint; its writes are
idempotent by transaction and log index).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, make_url, text

from ledger.db.engine import current_revision, is_sqlite
from ledger.errors import ConfigError, InvalidInput

__all__ = ["BackupResult", "backup_database", "restore_database"]


@dataclass(frozen=True)
class BackupResult:
    """A finished backup: where, how big, and the moment it holds."""

    path: Path
    bytes: int
    seconds: float
    revision: str | None  # the schema's migration
    last_claim_id: int  # claims after this id are in the journal only
    checkpoint_block: int | None  # the indexer's block at that moment

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


def _sqlite_file(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise ConfigError("this SQLite database is not a file")
    return Path(database)


def _moment(engine: Engine) -> tuple[str | None, int, int | None]:
    from ledger.relay.outbox import last_claim_id

    with engine.connect() as conn:
        last = last_claim_id(conn)
        block = conn.execute(text("SELECT MIN(block_number) FROM indexer_checkpoints")).scalar()
    return current_revision(engine), int(last), None if block is None else int(block)


def backup_database(engine: Engine, destination: Path, *, pages_per_step: int = 1024) -> BackupResult:
    """Back up ``engine``'s database to ``destination`` while it is in use."""
    if destination.exists():
        raise InvalidInput(f"{destination} exists: choose a new name (a backup never overwrites one)")
    destination.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if not is_sqlite(engine):
        return _pg_dump(engine, destination, started)
    source = sqlite3.connect(_sqlite_file(engine), timeout=30)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    target = sqlite3.connect(partial)
    try:
        # Small steps with a pause let writers in between (the backup restarts a step a writer
        # changed; the WAL makes the copy one snapshot either way).
        source.backup(target, pages=pages_per_step, sleep=0.001)
        check = target.execute("PRAGMA integrity_check").fetchone()
        if check is None or check[0] != "ok":
            raise ConfigError(f"the backup copy failed its integrity check: {check}")
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        target.close()
        source.close()
    partial.replace(destination)
    copy = _copy_engine(destination)
    try:
        revision, last, block = _moment(copy)
    finally:
        copy.dispose()
    return BackupResult(destination, destination.stat().st_size, time.monotonic() - started, revision, last, block)


def _copy_engine(path: Path) -> Engine:
    from ledger.db.engine import make_engine

    return make_engine(f"sqlite:///{path}")


def _pg_dump(engine: Engine, destination: Path, started: float) -> BackupResult:
    tool = shutil.which("pg_dump")
    if tool is None:
        raise ConfigError("pg_dump is not installed here: see docs/operations.md for PostgreSQL backups")
    url = make_url(engine.url.render_as_string(hide_password=False)).set(drivername="postgresql")
    revision, last, block = _moment(engine)
    partial = destination.with_name(destination.name + ".partial")
    done = subprocess.run(
        [tool, "--format=custom", f"--file={partial}", url.render_as_string(hide_password=False)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"pg_dump failed: {done.stderr.strip()[:500]}")
    partial.replace(destination)
    return BackupResult(destination, destination.stat().st_size, time.monotonic() - started, revision, last, block)


def restore_database(backup: Path, engine: Engine, *, replace: bool = False) -> BackupResult:
    """Put the SQLite ``backup`` where ``engine``'s database lives (refused over an existing
    database unless ``replace``), after checking the backup's integrity."""
    if not is_sqlite(engine):
        raise ConfigError("restore a PostgreSQL dump with pg_restore (docs/operations.md)")
    if not backup.is_file():
        raise InvalidInput(f"{backup} is not a file")
    with sqlite3.connect(backup) as check_conn:
        check = check_conn.execute("PRAGMA integrity_check").fetchone()
    if check is None or check[0] != "ok":
        raise InvalidInput(f"{backup} is not a sound SQLite database: {check}")
    target = _sqlite_file(engine)
    if target.exists() and target.stat().st_size > 0 and not replace:
        raise InvalidInput(f"{target} exists: stop every process and pass --replace to restore over it")
    engine.dispose()
    started = time.monotonic()
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    partial = target.with_name(target.name + ".restoring")
    shutil.copyfile(backup, partial)
    partial.replace(target)
    revision, last, block = _moment(engine)
    return BackupResult(target, target.stat().st_size, time.monotonic() - started, revision, last, block)
