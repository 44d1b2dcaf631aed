"""``tsunagari index``: the indexer, chain events into the database."""

from __future__ import annotations

import time
from typing import Any

import typer

from ledger.settings import get_settings
from scripts.cli_common import JsonFlag, chain, emit, guarded, indexed_engine, log_to_terminal, shown, until_chain
from scripts.format_cli import table, when
from scripts.relay_cli import MetricsPort, start_metrics

index_app = typer.Typer(help="The indexer: chain events into the database.", no_args_is_help=True)

__all__ = ["index_app"]


def indexer() -> Any:
    """The configured indexer (:func:`ledger.indexer.service.open_indexer`: no Web3 for a node over
    HTTP, so the command starts fast), or one line and exit 1."""
    from ledger.indexer.service import open_indexer

    return guarded(lambda: open_indexer(get_settings()))


@index_app.command("backfill")
def index_backfill() -> None:
    """Index every block up to the current head (minus confirmations), refresh derived tables, exit."""
    service = indexer()
    started = time.monotonic()
    with service.indexer:
        logs = guarded(service.indexer.backfill)
    typer.echo(f"indexed {logs} logs in {time.monotonic() - started:.1f} s")


@index_app.command("run")
def index_run(metrics_port: MetricsPort = 0) -> None:
    """Follow the chain: index new blocks as they arrive, until interrupted (Ctrl-C)."""
    import signal
    import threading

    from ledger.indexer.service import open_indexer

    log_to_terminal()
    if metrics_port:
        from ledger.db.engine import make_engine

        start_metrics(metrics_port, make_engine(get_settings().db.url))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        service = until_chain(stop, lambda: open_indexer(get_settings()), "indexer")
    except KeyboardInterrupt:
        stop.set()
        service = None
    if service is None:
        typer.echo("indexer stopped")
        return
    typer.echo("indexer following the chain (Ctrl-C to stop)")
    try:
        with service.indexer:
            guarded(lambda: service.indexer.follow(stop))
    except KeyboardInterrupt:
        stop.set()
    typer.echo("indexer stopped")


@index_app.command("status")
def index_status(as_json: JsonFlag = False) -> None:
    """Head, checkpoint, lag, pending derived work, undecodable logs and the last error."""
    from ledger import queries

    settings = get_settings()
    engine = indexed_engine()
    try:
        with engine.connect() as conn:
            status = queries.index_status(conn)
    finally:
        engine.dispose()
    head: int | None = None
    head_time: int | None = None
    try:
        ctx = chain()
        block = ctx.w3.eth.get_block("latest")
        head, head_time = int(block["number"]), int(block["timestamp"])
    except (typer.Exit, Exception):  # noqa: BLE001 - status must work with the node down
        head = None
    target = None if head is None else head - settings.chain.confirmations
    data: dict[str, Any] = {
        "head": head,
        "confirmations": settings.chain.confirmations,
        "dirty_ties": status.dirty_ties,
        "dirty_days": status.dirty_days,
        "backlog_cap": status.backlog_cap,
        "undecodable_logs": status.undecodable_logs,
        "checkpoints": [
            {
                "chain_id": c.chain_id,
                "contract": c.contract,
                "block": c.block_number,
                "lag_blocks": None if target is None else max(0, target - c.block_number),
                "lag_seconds": None if head_time is None else max(0, head_time - c.block_timestamp),
                "last_error": c.last_error,
            }
            for c in status.checkpoints
        ],
        "services": [
            {
                "service": h.service,
                "pid": h.pid,
                "silent_s": h.silent_for(),
                "progress_at": h.progress_at,
                "errors": h.errors,
                "last_error": h.last_error,
                "last_error_at": h.last_error_at,
            }
            for h in status.services
        ],
    }
    if as_json:
        emit(data, True)
        return
    typer.echo(f"head: {head if head is not None else 'unreachable'} (confirmations {settings.chain.confirmations})")
    ties, days = (queries.backlog_text(n, "en", status.backlog_cap) for n in (status.dirty_ties, status.dirty_days))
    typer.echo(f"derived work pending: {ties} ties, {days} days")
    typer.echo(f"undecodable logs: {status.undecodable_logs}")
    if not status.checkpoints:
        typer.echo("nothing indexed yet")
    else:
        typer.echo("")
        typer.echo(
            table(
                ("contract", "indexed to block", "block time", "behind (blocks)", "behind (s)", "last error"),
                [
                    (
                        c.contract,
                        c.block_number,
                        when(c.block_timestamp),
                        shown("lag", row["lag_blocks"]),
                        shown("lag", row["lag_seconds"]),
                        shown("error", c.last_error),
                    )
                    for c, row in zip(status.checkpoints, data["checkpoints"], strict=True)
                ],
                (False, True, False, True, True, False),
            )
        )
    if status.services:
        typer.echo("")
        typer.echo(
            table(
                ("service", "pid", "last heard (s ago)", "errors since start", "last error at", "last error"),
                [
                    (h.service, h.pid, h.silent_for(), h.errors, when(h.last_error_at), shown("error", h.last_error))
                    for h in status.services
                ],
                (False, True, True, True, False, False),
            )
        )
