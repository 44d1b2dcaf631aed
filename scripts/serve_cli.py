"""The long-running commands of the root: ``serve`` (API, relayer and indexer in one process) and
``simulate-checkins`` (many phones scanning a kiosk); ``relay`` has its own module (relay_cli)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ledger.settings import get_settings
from scripts.cli_common import JsonFlag, guarded, log_to_terminal, shown

serve_commands = typer.Typer()  # commands of the root, no group of their own

__all__ = ["serve_commands"]


@serve_commands.command("serve")
def serve(
    relay: Annotated[bool, typer.Option(help="run the relayer in this process")] = True,
    index: Annotated[bool, typer.Option(help="run the indexer in this process")] = True,
    access_log: Annotated[bool, typer.Option(help="log every request")] = False,
) -> None:
    """API, relayer and indexer in one process (a small deployment; the demo runs this)."""

    from ledger.db.engine import make_engine, upgrade_to_head
    from scripts.serve import serve_all

    log_to_terminal()
    settings = get_settings()
    guarded(lambda: upgrade_to_head(make_engine(settings.db.url)))
    typer.echo(f"serving http://{settings.api.host}:{settings.api.port} (Ctrl-C to stop)")
    serve_all(settings, relay=relay, index=index, access_log=access_log)


@serve_commands.command("simulate-checkins")
def simulate_checkins(
    kiosk_url: Annotated[str, typer.Argument(help="the kiosk URL (…/kiosk/<activity>?k=…)")],
    people: Annotated[int, typer.Option(min=1, max=100_000, help="phones that scan the kiosk")] = 20,
    concurrency: Annotated[int, typer.Option(min=1, max=512, help="phones scanning at the same moment")] = 16,
    seed: Annotated[str, typer.Option(help="participants' keys derive from this (same seed, same people)")] = (
        "tsunagari-phone"
    ),
    wait: Annotated[float, typer.Option(help="seconds to follow each claim to the chain (0 = do not wait)")] = 60.0,
    as_json: JsonFlag = False,
) -> None:
    """Scan a kiosk as many phones at once: sign, claim, follow each claim until it is on chain."""
    from scripts.simulate import simulate_checkins as simulate

    result = guarded(lambda: simulate(kiosk_url, people, concurrency=concurrency, seed=seed, wait_s=wait))
    summary = result.summary()
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    typer.echo(f"{people} phones scanned the kiosk: {shown('answers', summary['answers'])}")
    typer.echo(f"accepted in p50 {summary['accept_p50_ms']} ms, p95 {summary['accept_p95_ms']} ms")
    if wait > 0:
        typer.echo(f"final status: {shown('final', summary['final'])}")
        typer.echo(
            f"scan → confirmed on chain: p50 {summary['scan_to_confirmed_p50_s']} s, "
            f"p95 {summary['scan_to_confirmed_p95_s']} s"
        )
