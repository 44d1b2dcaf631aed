"""``tsunagari project``: projects that people support with coins."""

from __future__ import annotations

from typing import Annotated

import typer

from scripts.cli_common import AsOption, chain, guarded
from scripts.format_cli import RegionOption, region_text
from scripts.metadata_cli import NewDescription, NewName, NewVenue, edit_registered, store_text

project_app = typer.Typer(help="Projects that people support with coins.", no_args_is_help=True)

__all__ = ["project_app"]


@project_app.command("register")
def project_register(
    region: RegionOption,
    name: Annotated[str, typer.Option(help="name shown on the pages")] = "",
    description: Annotated[str, typer.Option(help="longer text (no personal data)")] = "",
    venue: Annotated[str, typer.Option(help="where it takes place")] = "",
    as_: AsOption = "region-admin",
) -> None:
    """Register a project (region admin); prints its id. Its text is kept in the database and
    committed to on chain by hash, as an activity's (ledger/checkin/metadata.py)."""
    from ledger.chain.client import ZERO_HASH

    ctx = chain()
    metadata = store_text(name, description, venue) if name or description or venue else ZERO_HASH
    project_id = guarded(lambda: ctx.client.register_project(ctx.operator(as_), region, metadata))
    typer.echo(f"project {project_id} registered in region {region_text(region)}")


@project_app.command("edit")
def project_edit(
    project_id: int,
    name: NewName = None,
    description: NewDescription = None,
    venue: NewVenue = None,
    as_: AsOption = "region-admin",
) -> None:
    """Change a project's name, description or venue (region admin): the text is kept in the
    database and its new hash committed on chain (ProjectMetadataChanged)."""
    ctx = chain()
    edit_registered(
        f"project {project_id}",
        guarded(lambda: ctx.client.project(project_id)),
        name,
        description,
        venue,
        lambda metadata: ctx.client.set_project_metadata(ctx.operator(as_), project_id, metadata),
    )


@project_app.command("close")
def project_close(project_id: int, as_: AsOption = "region-admin") -> None:
    """Close a project (region admin)."""
    ctx = chain()
    guarded(lambda: ctx.client.close_project(ctx.operator(as_), project_id))
    typer.echo(f"project {project_id} closed")
