"""``tsunagari relay``: the relayer (outbox → chain) as its own process, with a hot standby, its
metrics, its lease's state and the rotation of its key (docs/operations.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ledger.settings import get_settings
from scripts.cli_common import JsonFlag, chain, emit, guarded, log_to_terminal, shown, until_chain

relay_app = typer.Typer(
    help="The relayer: accepted claims (recordBatch) and signed supports (supportBySig) to the chain.",
    invoke_without_command=True,
)

__all__ = ["MetricsPort", "relay_app", "start_metrics"]

MetricsPort = Annotated[
    int,
    typer.Option(
        "--metrics-port",
        min=0,
        max=65535,
        help="serve Prometheus metrics at http://127.0.0.1:PORT/metrics (0: off)",
    ),
]


def start_metrics(port: int, engine: Any) -> None:
    """The process's metrics endpoint, when a port is given."""
    if port:
        from ledger.metrics import serve_metrics

        guarded(lambda: serve_metrics(port, engine))
        typer.echo(f"metrics at http://127.0.0.1:{port}/metrics")


@relay_app.callback()
def relay(
    context: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="drain the outbox, wait for every receipt, then exit")] = False,
    metrics_port: MetricsPort = 0,
) -> None:
    """Relay accepted claims and signed supports to the chain. A second relayer with the same key
    stands by and takes over when the active one stops (the key's lease)."""
    if context.invoked_subcommand is not None:
        return
    import signal
    import threading

    from ledger.chain.context import open_chain
    from ledger.db.engine import make_engine, upgrade_to_head
    from ledger.relay import Relayer

    log_to_terminal()
    settings = get_settings()
    engine = make_engine(settings.db.url)
    guarded(lambda: upgrade_to_head(engine))
    start_metrics(metrics_port, engine)
    if once:
        ctx = chain()
        relayer = guarded(lambda: Relayer(settings, engine, ctx))
        report = guarded(relayer.run_once)
        typer.echo(f"claims: {shown('claims', report.claims)}; supports: {shown('supports', report.supports)}")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        started = until_chain(stop, lambda: Relayer(settings, engine, open_chain(settings)), "relayer")
    except KeyboardInterrupt:
        stop.set()
        started = None
    if started is None:
        typer.echo("relayer stopped")
        return
    relayer = started
    typer.echo(f"relayer {relayer.account.address} running (Ctrl-C to stop; a second one stands by)")
    try:
        guarded(lambda: relayer.run(stop))
    except KeyboardInterrupt:
        stop.set()
    typer.echo("relayer stopped (its lease released: a standby takes over at once)")


@relay_app.command("status")
def relay_status(as_json: JsonFlag = False) -> None:
    """Who holds the relayer key's lease, until when, and the key's unfinished batches."""
    from ledger.chain.context import open_chain
    from ledger.db.engine import make_engine
    from ledger.relay.lease import read_lease
    from ledger.relay.outbox import OPEN, BatchStatus, Outbox

    settings = get_settings()
    ctx = guarded(lambda: open_chain(settings))
    account = guarded(lambda: ctx.operator(settings.relay.key)).address.lower()
    engine = make_engine(settings.db.url)
    try:
        with engine.connect() as conn:
            lease = read_lease(conn, account)
        batches = Outbox(engine).batches(account, [*OPEN, BatchStatus.MINED])
    finally:
        engine.dispose()
    data: dict[str, Any] = {
        "key": settings.relay.key,
        "account": account,
        "holder": lease.holder if lease is not None and lease.live else None,
        "epoch": lease.epoch if lease is not None else 0,
        "lease_left_s": max(0.0, (lease.expires_at_ms - lease.now_ms) / 1000) if lease is not None else 0.0,
        "unfinished_batches": len(batches),
    }
    emit(data, as_json)


@relay_app.command("rotate-key")
def relay_rotate_key(
    to: Annotated[
        str, typer.Option("--to", help="the new key's operator name (keystore <name>.json; devnet: relayer-2)")
    ],
    revoke: Annotated[bool, typer.Option(help="revoke the old key once it is drained")] = True,
    timeout_s: Annotated[float, typer.Option(help="longest wait for the old key's batches")] = 600.0,
) -> None:
    """Replace the relayer key (relay.key) with --to: grant it in every region, drain the old key
    (stop the relayers that use it first), revoke the old key; then start the relayer with
    TSUNAGARI_RELAY__KEY set to the new name."""
    from ledger.db.engine import make_engine
    from ledger.relay.rotation import drain_old_key, grant_new_key, revoke_old_key
    from scripts.format_cli import region_text

    log_to_terminal()
    settings = get_settings()
    ctx = chain()
    old = guarded(lambda: ctx.operator(settings.relay.key)).address.lower()
    new = guarded(lambda: ctx.operator(to)).address.lower()
    if old == new:
        typer.echo(f"error: {to} is the key the relayer already uses", err=True)
        raise typer.Exit(code=1)
    admin = guarded(lambda: ctx.operator("region-admin"))
    granted = guarded(lambda: grant_new_key(ctx, admin, old, new))
    typer.echo(f"1. {to} ({new}) is an issuer in: {', '.join(region_text(r) for r in granted.done + granted.already)}")
    for region in granted.others:
        typer.echo(f"   {region_text(region)}: its admin runs `tsunagari region grant-issuer {region:05d} {new}`")
    engine = make_engine(settings.db.url)
    try:
        typer.echo(f"2. draining {settings.relay.key} ({old}): waiting for its relayers to stop and its batches")
        drained = guarded(lambda: drain_old_key(settings, engine, ctx, timeout_s=timeout_s))
        typer.echo(f"   drained ({drained} batches were open)")
        if revoke:
            revoked = guarded(lambda: revoke_old_key(ctx, engine, admin, old))
            typer.echo(f"3. {old} revoked in: {', '.join(region_text(r) for r in revoked.done) or '-'}")
            for region in revoked.others:
                typer.echo(
                    f"   {region_text(region)}: its admin runs `tsunagari region revoke-issuer {region:05d} {old}`"
                )
    finally:
        engine.dispose()
    typer.echo(f"now start the relayer with TSUNAGARI_RELAY__KEY={to}")
