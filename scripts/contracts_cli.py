"""``tsunagari contracts`` (compile and check the Solidity contracts) and ``tsunagari deploy``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.settings import get_settings
from scripts.cli_common import AsOption, chain, fail, guarded

contracts_app = typer.Typer(help="Compile and check the Solidity contracts.", no_args_is_help=True)
deploy_commands = typer.Typer()  # `deploy`, a command of the root

__all__ = ["contracts_app", "deploy_commands"]


@contracts_app.command("compile")
def contracts_compile(
    solc: Annotated[
        Path | None, typer.Option(help="solc binary to use (default: native if 0.8.37, else the shim)")
    ] = None,
) -> None:
    """Compile contracts/*.sol through py-solc-x and write contracts/build/*.json."""
    from ledger.chain.compiler import compile_product_contracts, find_solc, write_artifacts

    binary = solc or guarded(find_solc)
    result = guarded(lambda: compile_product_contracts(binary))
    for path in write_artifacts(result):
        typer.echo(f"wrote {path}")
    typer.echo(f"solc {result.solc_version} via {binary}; input sha256 {result.input_sha256}")


@contracts_app.command("check")
def contracts_check() -> None:
    """Fail when the committed artifacts were not built from the current sources."""
    from ledger.chain.artifacts import load_artifact
    from ledger.chain.compiler import PRODUCT_CONTRACTS, input_sha256, product_sources, standard_json_input

    def stale_artifacts() -> list[str]:
        expected = input_sha256(standard_json_input(product_sources()))
        return [name for name in PRODUCT_CONTRACTS if load_artifact(name).input_sha256 != expected]

    stale = guarded(stale_artifacts)
    if stale:
        fail(f"stale artifacts: {', '.join(stale)}; run `tsunagari contracts compile`")
    typer.echo("artifacts match the sources")


@deploy_commands.command("deploy")
def deploy(
    platform_admin: Annotated[str | None, typer.Option(help="platform admin address (default: the deployer)")] = None,
    as_: AsOption = "platform-admin",
) -> None:
    """Deploy the ledger and write the deployments file for this chain."""
    from ledger.chain.deploy import deploy_ledger, save_deployment

    ctx = chain()
    deployment = guarded(lambda: deploy_ledger(ctx.w3, ctx.operator(as_), platform_admin))
    path = save_deployment(get_settings().chain.deployments_dir, deployment)
    typer.echo(f"ledger {deployment.ledger} on chain {deployment.chain_id} at block {deployment.deploy_block}")
    typer.echo(f"wrote {path}")
