"""``tsunagari db``: the database's schema, its backups and their restore (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.settings import get_settings
from scripts.cli_common import JsonFlag, emit, guarded

db_app = typer.Typer(help="The index database.", no_args_is_help=True)

__all__ = ["db_app"]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations to TSUNAGARI_DB__URL."""
    from ledger.db.engine import make_engine, upgrade_to_head

    revision = guarded(lambda: upgrade_to_head(make_engine(get_settings().db.url)))
    typer.echo(f"database at revision {revision}")


@db_app.command("backup")
def db_backup(
    destination: Annotated[Path, typer.Argument(help="the backup file to write (never overwritten)")],
    as_json: JsonFlag = False,
) -> None:
    """Back up the database while everything keeps running (SQLite: the online backup API, checked;
    PostgreSQL: pg_dump). Claims accepted after it are in the claim journal (checkin.journal_file)."""
    from ledger.db.backup import backup_database
    from ledger.db.engine import make_engine

    engine = make_engine(get_settings().db.url)
    try:
        result = guarded(lambda: backup_database(engine, destination))
    finally:
        engine.dispose()
    emit(result.as_dict(), as_json)


@db_app.command("restore")
def db_restore(
    backup: Annotated[Path, typer.Argument(help="a backup written by `tsunagari db backup` (SQLite)")],
    replace: Annotated[bool, typer.Option(help="restore over an existing database (stop every process first)")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Put a SQLite backup in place of the database; then replay the claim journal before starting
    the API (`tsunagari db replay-journal`)."""
    from ledger.db.backup import restore_database
    from ledger.db.engine import make_engine

    engine = make_engine(get_settings().db.url)
    try:
        result = guarded(lambda: restore_database(backup, engine, replace=replace))
    finally:
        engine.dispose()
    emit(result.as_dict(), as_json)


@db_app.command("replay-journal")
def db_replay_journal(
    journals: Annotated[list[Path], typer.Argument(help="claim journal files (checkin.journal_file), oldest first")],
    as_json: JsonFlag = False,
) -> None:
    """After a restore: put back every journaled claim the database lacks, under its own id (run it
    before starting the API; running it twice changes nothing)."""
    from ledger.db.engine import make_engine, upgrade_to_head
    from ledger.relay.journal import replay_journal

    engine = make_engine(get_settings().db.url)
    try:
        guarded(lambda: upgrade_to_head(engine))
        result = guarded(lambda: replay_journal(engine, journals))
    finally:
        engine.dispose()
    emit(result.as_dict(), as_json)
