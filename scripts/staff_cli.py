"""``tsunagari staff``: console accounts from the command line (the platform operator's first
steps: the first platform account, a region's first admin, a new invite link; docs/console.md).

Invite links are printed once; only their sha256 is stored.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ledger.errors import TsunagariError
from scripts.cli_common import fail as _fail
from scripts.format_cli import RegionOption, region_code, region_text, table

staff_app = typer.Typer(
    help="Staff console accounts: platform operators, region admins, invites.", no_args_is_help=True
)

__all__ = ["staff_app", "console_base_url"]


def console_base_url() -> str:
    """Where staff open the console: ``checkin.public_url`` or ``http://<api.host>:<api.port>``."""
    from ledger.checkin.service import public_base_url
    from ledger.settings import get_settings

    return public_base_url(get_settings())


def _create(login: str, name: str, role: str, region: int | None) -> None:
    from ledger.db.engine import make_engine, upgrade_to_head, write_transaction
    from ledger.settings import get_settings
    from ledger.staff import accounts
    from ledger.staff.roles import Actor

    settings = get_settings()
    engine = make_engine(settings.db.url)
    try:
        upgrade_to_head(engine)
        with write_transaction(engine) as conn:
            invite = accounts.create_account(
                conn, Actor.cli(), login=login, display_name=name, role=role, region=region, settings=settings.console
            )
    except (TsunagariError, ValueError) as exc:
        _fail(str(exc))
        return
    typer.echo(f"{console_base_url()}/console/invite/{invite.token}")
    typer.echo(
        f"account {invite.account_id} ({role}{'' if region is None else f', region {region:05d}'}): "
        f"hand over the link above; it works once, within {settings.console.invite_hours} hours",
        err=True,
    )


@staff_app.command("create-platform")
def create_platform(
    login: Annotated[str, typer.Option(help="sign-in name (e-mail address or a name)")],
    name: Annotated[str, typer.Option(help="display name shown in the audit")],
) -> None:
    """Create a platform operator account (every region); prints its one-time invite link."""
    _create(login, name, "platform", None)


@staff_app.command("create-admin")
def create_admin(
    region: RegionOption,
    login: Annotated[str, typer.Option(help="sign-in name (e-mail address or a name)")],
    name: Annotated[str, typer.Option(help="display name shown in the audit")],
    role: Annotated[str, typer.Option(help="admin, staff or viewer")] = "admin",
) -> None:
    """Create a region's account (its first admin, usually); prints its one-time invite link."""
    _create(login, name, role, region)


@staff_app.command("invite")
def invite(login: Annotated[str, typer.Argument(help="the account's sign-in name")]) -> None:
    """A new one-time invite link for an account (a forgotten password); its sessions end."""
    from sqlalchemy import text

    from ledger.db.engine import make_engine, write_transaction
    from ledger.settings import get_settings
    from ledger.staff import accounts
    from ledger.staff.roles import Actor

    settings = get_settings()
    with write_transaction(make_engine(settings.db.url)) as conn:
        account_id = conn.execute(
            text("SELECT account_id FROM staff_accounts WHERE login = :l"), {"l": login.strip().lower()}
        ).scalar()
        if account_id is None:
            _fail(f"no account {login!r}")
            return
        link = accounts.invite_account(conn, Actor.cli(), int(account_id), settings.console)
    typer.echo(f"{console_base_url()}/console/invite/{link.token}")


@staff_app.command("list")
def list_accounts(
    region: Annotated[
        int | None, typer.Option(parser=region_code, metavar="CODE", help="only this region (01634 or 1634)")
    ] = None,
) -> None:
    """Console accounts: id, sign-in name, role, region, state (never secrets)."""
    from sqlalchemy import text

    from ledger.db.engine import make_engine
    from ledger.settings import get_settings
    from ledger.staff import accounts

    with make_engine(get_settings().db.url).connect() as conn:
        regions = (
            [region]
            if region is not None
            else [
                None,
                *(
                    int(r[0])
                    for r in conn.execute(
                        text("SELECT DISTINCT region FROM staff_accounts WHERE region IS NOT NULL ORDER BY region")
                    )
                ),
            ]
        )
        found = [a for scope in regions for a in accounts.list_accounts(conn, scope)]
    if not found:
        typer.echo(
            f"no console accounts of region {region_text(region)}"
            if region is not None
            else "no console accounts yet: `tsunagari staff create-platform` makes the first"
        )
        return
    rows = [
        (
            a.account_id,
            a.login,
            a.role,
            "all regions" if a.region is None else region_text(a.region),
            "disabled" if a.disabled_at else ("active" if a.has_password else "invited"),
        )
        for a in found
    ]
    typer.echo(table(("id", "sign-in name", "role", "region", "state"), rows, (True, False, False, False, False)))


@staff_app.command("disable")
def disable(login: Annotated[str, typer.Argument(help="the account's sign-in name")]) -> None:
    """Disable an account: every session of it ends at once."""
    from sqlalchemy import text

    from ledger.db.engine import make_engine, write_transaction
    from ledger.settings import get_settings
    from ledger.staff import accounts
    from ledger.staff.roles import Actor

    with write_transaction(make_engine(get_settings().db.url)) as conn:
        account_id = conn.execute(
            text("SELECT account_id FROM staff_accounts WHERE login = :l"), {"l": login.strip().lower()}
        ).scalar()
        if account_id is None:
            _fail(f"no account {login!r}")
            return
        accounts.set_disabled(conn, Actor.cli(), int(account_id), True)
    typer.echo(f"account {login} disabled")
