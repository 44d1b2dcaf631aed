"""The ``tsunagari`` command: thin commands over ``ledger``, one Typer module per area, assembled here.

Errors from ``ledger`` (one root, :class:`ledger.errors.TsunagariError`) become one line on stderr
and exit code 1 in :mod:`scripts.cli_common`, and only there. Every command prints aligned tables,
JST times with the zone and municipality codes with their names for people, and JSON (unix
seconds, five-digit code text) with ``--json`` where it offers it. Every command and option is
listed in ``docs/cli.md``.

Areas: devnet_cli, contracts_cli (and ``deploy``), region_cli, activity_cli, project_cli,
chain_cli (``record``, ``revoke``, ``balance``, ``support``, ``support-cancel``), keys_cli,
index_cli, api_cli, export_cli, db_cli, staff_cli, certificate_cli, codes_cli (``codes``,
``presence``), serve_cli (``serve``, ``simulate-checkins``), relay_cli (``relay`` and its standby,
status and key rotation), demo_cli (``demo``, ``demo seed``).
"""

from __future__ import annotations

import sys

import typer

from scripts.activity_cli import activity_app
from scripts.api_cli import api_app
from scripts.certificate_cli import certificate_app
from scripts.chain_cli import chain_commands
from scripts.codes_cli import codes_app, presence_app
from scripts.contracts_cli import contracts_app, deploy_commands
from scripts.db_cli import db_app
from scripts.demo_cli import demo_app
from scripts.devnet_cli import devnet_app
from scripts.export_cli import export_app
from scripts.index_cli import index_app
from scripts.keys_cli import keys_app
from scripts.project_cli import project_app
from scripts.region_cli import region_app
from scripts.relay_cli import relay_app
from scripts.serve_cli import serve_commands
from scripts.staff_cli import staff_app

__all__ = ["app", "main"]

app = typer.Typer(help="Tsunagari Ledger: regional contribution records and community coins.", no_args_is_help=True)
app.add_typer(devnet_app, name="devnet")
app.add_typer(contracts_app, name="contracts")
app.add_typer(region_app, name="region")
app.add_typer(activity_app, name="activity")
app.add_typer(project_app, name="project")
app.add_typer(keys_app, name="keys")
app.add_typer(index_app, name="index")
app.add_typer(api_app, name="api")
app.add_typer(export_app, name="export")
app.add_typer(db_app, name="db")
app.add_typer(relay_app, name="relay")
app.add_typer(demo_app, name="demo")
app.add_typer(staff_app, name="staff")
app.add_typer(certificate_app, name="certificate")
app.add_typer(codes_app, name="codes")
app.add_typer(presence_app, name="presence")
for commands in (deploy_commands, chain_commands, serve_commands):  # commands of the root itself, listed first
    app.registered_commands += commands.registered_commands


def main() -> None:
    """Entry point of the ``tsunagari`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
