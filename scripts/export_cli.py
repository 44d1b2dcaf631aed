"""``tsunagari export``: the researcher export and its verification against the chain."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ledger.municipalities import parse_jis_code
from ledger.settings import get_settings
from scripts.cli_common import chain, fail, guarded
from scripts.format_cli import table as text_table

export_app = typer.Typer(help="The researcher export and its verification against the chain.")

__all__ = ["export_app"]


def _salt(salt_env: str | None) -> bytes | None:
    """The hex salt in the environment variable ``salt_env`` (None when no variable is named)."""
    if not salt_env:
        return None
    value = os.environ.get(salt_env)
    if not value:
        fail(f"set {salt_env} to the hex salt")
    return guarded(lambda: bytes.fromhex(value or ""))


@export_app.callback(invoke_without_command=True)
def export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="folder to create (must not exist or be empty)")] = None,
    format_: Annotated[str, typer.Option("--format", help="csv, parquet or jsonl")] = "parquet",
    from_block: Annotated[int | None, typer.Option(help="first block (inclusive)")] = None,
    to_block: Annotated[int | None, typer.Option(help="last block (inclusive)")] = None,
    from_date: Annotated[str | None, typer.Option(help="first JST day, YYYY-MM-DD")] = None,
    to_date: Annotated[str | None, typer.Option(help="last JST day, YYYY-MM-DD")] = None,
    region: Annotated[list[str] | None, typer.Option(help="region's JIS code to keep, e.g. 01634 (repeatable)")] = None,
    table: Annotated[list[str] | None, typer.Option(help="table to export (repeatable; default all)")] = None,
    raw_addresses: Annotated[
        bool, typer.Option("--raw-addresses", help="export people's addresses unhashed (operator's decision)")
    ] = False,
    salt_env: Annotated[
        str | None, typer.Option(help="environment variable with a hex salt to reuse (joinable exports)")
    ] = None,
    k: Annotated[int, typer.Option(help="small-cell threshold of the aggregate tables")] = 5,
    partition_by_month: Annotated[bool, typer.Option(help="one file per JST month for large tables")] = False,
) -> None:
    """Export the indexed ledger as a verifiable dataset (`tsunagari export verify` checks it)."""
    if ctx.invoked_subcommand is not None:
        return
    from datetime import date

    from ledger.db.engine import make_engine
    from ledger.export import ExportOptions, export_dataset
    from ledger.indexer.rpc import json_rpc_for

    if out is None:
        fail("--out FOLDER is required")
    salt = _salt(salt_env)
    options = ExportOptions(
        format=format_,  # type: ignore[arg-type]
        from_block=from_block,
        to_block=to_block,
        from_date=guarded(lambda: date.fromisoformat(from_date)) if from_date else None,
        to_date=guarded(lambda: date.fromisoformat(to_date)) if to_date else None,
        regions=tuple(guarded(lambda: [parse_jis_code(r) for r in region])) if region else None,
        tables=tuple(table) if table else None,
        pseudonymise=not raw_addresses,
        salt=salt,
        k=k,
        partition_by_month=partition_by_month,
    )
    chain_ctx = chain()
    rpc_url = None if chain_ctx.settings.chain.backend == "pyevm" else chain_ctx.settings.chain.rpc_url
    rpc = json_rpc_for(chain_ctx.w3, rpc_url)
    try:
        engine = make_engine(get_settings().db.url)
        result = guarded(lambda: export_dataset(engine, chain_ctx.deployment, options, out, rpc=rpc))  # type: ignore[arg-type]
    finally:
        rpc.close()
    typer.echo(f"exported {sum(result.row_counts.values()):,} rows into {result.path}")
    counts = [(name, f"{rows:,}") for name, rows in result.row_counts.items()]
    typer.echo(text_table(("table", "rows"), counts, (False, True)))
    if result.salt_hex:
        typer.echo(f"salt (keep it secret; it is not in the export): {result.salt_hex}", err=True)


@export_app.command("verify")
def export_verify(
    folder: Annotated[Path, typer.Argument(help="an export folder")],
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL of the chain (default chain.rpc_url)")] = None,
    salt_env: Annotated[
        str | None, typer.Option(help="environment variable with the export's hex salt (checks people's fields)")
    ] = None,
) -> None:
    """Check an export's files against its manifest and every row against the chain's logs."""
    from ledger.export import verify_export
    from ledger.indexer.rpc import HttpJsonRpc

    salt = _salt(salt_env)
    client = HttpJsonRpc(rpc or get_settings().chain.rpc_url)
    try:
        report = guarded(lambda: verify_export(folder, client, salt))
    finally:
        client.close()
    for line in report.lines():
        typer.echo(line)
    totals = ", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in report.checked.items() if ":" not in name)
    rows = [(name.split(":", 1)[1], f"{n:,}") for name, n in report.checked.items() if name.startswith("rows:")]
    if not report.ok:
        typer.echo(f"FAILED: {report.discrepancy_count} discrepancies (checked {totals})", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"OK: every row is on chain and nothing in the range is missing (checked {totals})")
    typer.echo(text_table(("table", "rows checked"), rows, (False, True)))
    if not report.personal_fields_checked:
        typer.echo("people's fields were not checked (no salt given); counts and every other field were")
