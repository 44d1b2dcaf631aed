"""``tsunagari keys``: operator keys in encrypted keystore files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scripts.cli_common import fail

keys_app = typer.Typer(help="Operator keys (encrypted keystores).", no_args_is_help=True)

__all__ = ["keys_app"]


@keys_app.command("new")
def keys_new(
    path: Annotated[Path, typer.Argument(help="keystore file to create, e.g. keys/relayer.json")],
    password_env: Annotated[str, typer.Option(help="environment variable holding the password")] = "KEYSTORE_PASSWORD",
) -> None:
    """Create a new key in an encrypted keystore file (mode 600); prints its address only."""
    import os

    from eth_account import Account

    from ledger.chain.accounts import write_keystore

    password = os.environ.get(password_env)
    if not password:
        fail(f"set {password_env} to the password to encrypt with")
    if path.exists():
        fail(f"{path} exists; refusing to overwrite a key")
    account = Account.create()
    write_keystore(path, account, password or "")
    typer.echo(f"{account.address} -> {path}")
