"""``tsunagari db``: the index database's schema."""

from __future__ import annotations

import typer

from ledger.settings import get_settings
from scripts.cli_common import guarded

db_app = typer.Typer(help="The index database.", no_args_is_help=True)

__all__ = ["db_app"]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations to TSUNAGARI_DB__URL."""
    from ledger.db.engine import make_engine, upgrade_to_head

    revision = guarded(lambda: upgrade_to_head(make_engine(get_settings().db.url)))
    typer.echo(f"database at revision {revision}")
