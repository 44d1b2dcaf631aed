"""An activity's or a project's text (name, description, venue): kept in the database, committed to
on chain by its hash (ledger/checkin/metadata.py). Shared by ``tsunagari activity`` and
``tsunagari project``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from ledger.settings import get_settings
from scripts.cli_common import fail, guarded

__all__ = ["NewDescription", "NewName", "NewVenue", "current_text", "edit_registered", "store_text"]

NewName = Annotated[str | None, typer.Option(help="new name (default: keep the current one)")]
NewDescription = Annotated[str | None, typer.Option(help="new longer text (no personal data)")]
NewVenue = Annotated[str | None, typer.Option(help="new place")]


def store_text(name: str, description: str, venue: str) -> bytes:
    """Keep an activity's or project's text in the database; returns its metadata hash (32 bytes)."""
    from ledger.checkin.metadata import store_metadata
    from ledger.db.engine import make_engine, upgrade_to_head, write_transaction

    engine = make_engine(get_settings().db.url)
    guarded(lambda: upgrade_to_head(engine))
    try:
        with write_transaction(engine) as conn:
            return bytes.fromhex(store_metadata(conn, name, description, venue)[2:])
    finally:
        engine.dispose()


def current_text(metadata_hash: bytes) -> tuple[str, str, str]:
    """The stored text of a metadata hash: (name, description, venue), empty when it is not stored."""
    from sqlalchemy import text

    from ledger.db.engine import make_engine, upgrade_to_head

    engine = make_engine(get_settings().db.url)
    guarded(lambda: upgrade_to_head(engine))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT name, description, venue FROM activity_metadata WHERE metadata_hash = :h"),
                {"h": "0x" + metadata_hash.hex()},
            ).first()
    finally:
        engine.dispose()
    return (str(row[0]), str(row[1]), str(row[2])) if row else ("", "", "")


def edit_text(
    what: str,
    current: bytes,
    name: str | None,
    description: str | None,
    venue: str | None,
    send: Callable[[bytes], object],
) -> None:
    """Store the edited text (fields not given keep their current value) and commit to it on chain."""
    if name is None and description is None and venue is None:
        fail("nothing to change: give --name, --description or --venue")
    old_name, old_description, old_venue = current_text(current)
    metadata = store_text(
        old_name if name is None else name,
        old_description if description is None else description,
        old_venue if venue is None else venue,
    )
    if metadata == current:
        typer.echo(f"{what} already shows this text (metadata 0x{metadata.hex()}); nothing sent")
        return
    guarded(lambda: send(metadata))
    typer.echo(f"{what} now shows metadata 0x{metadata.hex()}")


def edit_registered(
    what: str,
    info: Any,
    name: str | None,
    description: str | None,
    venue: str | None,
    send: Callable[[bytes], object],
) -> None:
    """:func:`edit_text` for an activity or a project as read from the chain (``info``: its
    ``region`` is 0 when it does not exist)."""
    if info.region == 0:
        fail(f"{what} does not exist")
    edit_text(what, info.metadata_hash, name, description, venue, send)
