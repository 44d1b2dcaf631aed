"""``tsunagari devnet``: the local anvil devnet (chain id 31337), detached, with persistent state."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scripts.cli_common import JsonFlag, emit, guarded, managed

devnet_app = typer.Typer(help="The local anvil devnet (chain id 31337).", no_args_is_help=True)

__all__ = ["devnet_app"]


@devnet_app.command("up")
def devnet_up(
    block_time: Annotated[
        float | None, typer.Option(help="seconds between blocks (default: devnet.block_time_s; 0 = automine)")
    ] = None,
) -> None:
    """Start anvil detached with persistent state (a restart keeps the chain)."""
    node = managed()
    if block_time is not None:
        node.block_time_s = block_time
    started = guarded(node.up)
    typer.echo(f"devnet {'started' if started else 'already running'} at {node.rpc_url} (state: {node.state_file})")


@devnet_app.command("down")
def devnet_down() -> None:
    """Stop the detached anvil; its state file keeps the chain for the next `up`."""
    node = managed()
    typer.echo("devnet stopped" if node.down() else "devnet was not running")


@devnet_app.command("status")
def devnet_status(as_json: JsonFlag = False) -> None:
    """Whether the devnet runs, and its head block."""
    node = managed()
    data: dict[str, Any] = {"rpc_url": node.rpc_url, "pid": node.pid(), "up": node.is_up()}
    if data["up"]:
        from ledger.chain.devnet import connect_rpc

        data["head_block"] = connect_rpc(node.rpc_url).eth.block_number
    emit(data, as_json)
