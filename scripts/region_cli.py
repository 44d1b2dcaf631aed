"""``tsunagari region``: regions, their admins and issuers (on chain), and a region's figures for a
period (from the index, the same document as ``GET /api/v1/regions/{code}/dashboard``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from ledger.municipalities import jis_code, municipality_name
from ledger.settings import get_settings
from scripts.cli_common import AsOption, JsonFlag, chain, emit, fail, guarded, indexed_engine
from scripts.format_cli import RegionArg, region_text, table

region_app = typer.Typer(help="Regions, their admins and issuers.", no_args_is_help=True)

__all__ = ["region_app"]


@region_app.command("register")
def region_register(
    code: Annotated[int, typer.Argument(help="JIS X 0402 municipality code, e.g. 12205")],
    coin_name: Annotated[str, typer.Argument(help="coin name shown by wallets")],
    symbol: Annotated[str, typer.Argument(help="coin symbol")],
    admin: Annotated[str, typer.Option(help="first region admin address")],
    as_: AsOption = "platform-admin",
) -> None:
    """Register a region (platform admin) with its first admin; prints its coin address."""
    ctx = chain()
    coin = guarded(lambda: ctx.client.register_region(ctx.operator(as_), code, coin_name, symbol, admin))
    typer.echo(f"region {region_text(code)} registered; coin {coin}")


@region_app.command("grant-issuer")
def region_grant_issuer(code: RegionArg, account: str, as_: AsOption = "region-admin") -> None:
    """Appoint an issuer of a region (region admin)."""
    ctx = chain()
    guarded(lambda: ctx.client.grant_issuer(ctx.operator(as_), code, account))
    typer.echo(f"{account} is an issuer of region {region_text(code)}")


@region_app.command("revoke-issuer")
def region_revoke_issuer(code: RegionArg, account: str, as_: AsOption = "region-admin") -> None:
    """Remove an issuer of a region (region admin)."""
    ctx = chain()
    guarded(lambda: ctx.client.revoke_issuer(ctx.operator(as_), code, account))
    typer.echo(f"{account} is no longer an issuer of region {region_text(code)}")


@region_app.command("grant-admin")
def region_grant_admin(code: RegionArg, account: str, as_: AsOption = "platform-admin") -> None:
    """Appoint another admin of a region (platform admin)."""
    ctx = chain()
    guarded(lambda: ctx.client.grant_region_admin(ctx.operator(as_), code, account))
    typer.echo(f"{account} is an admin of region {region_text(code)}")


@region_app.command("revoke-all-issuers")
def region_revoke_all_issuers(code: RegionArg, as_: AsOption = "platform-admin") -> None:
    """Remove every issuer of a region in one transaction (platform admin or region admin), e.g.
    after the admin who appointed them left."""
    ctx = chain()
    before = guarded(lambda: ctx.client.issuers(code))
    guarded(lambda: ctx.client.revoke_all_issuers(ctx.operator(as_), code))
    typer.echo(f"region {region_text(code)}: {len(before)} issuer(s) removed")


@region_app.command("expiry")
def region_expiry(
    code: RegionArg,
    days: Annotated[int, typer.Argument(min=0, max=3650, help="coin lifetime in days (0 = coins never expire)")],
    as_: AsOption = "region-admin",
) -> None:
    """Set how long the region's coins stay spendable (region admin), before its first record only."""
    ctx = chain()
    guarded(lambda: ctx.client.set_coin_expiry(ctx.operator(as_), code, days))
    typer.echo(
        f"region {region_text(code)}: coins {'never expire' if days == 0 else f'expire after about {days} days'}"
    )


@region_app.command("pause")
def region_pause(
    code: RegionArg,
    resume: Annotated[bool, typer.Option("--resume", help="lift the pause instead")] = False,
    as_: AsOption = "region-admin",
) -> None:
    """Pause (or resume) one region."""
    ctx = chain()
    guarded(lambda: ctx.client.set_region_paused(ctx.operator(as_), code, not resume))
    typer.echo(f"region {region_text(code)} {'resumed' if resume else 'paused'}")


@region_app.command("info")
def region_info(code: RegionArg, as_json: JsonFlag = False) -> None:
    """A region's state and coin totals, read from the chain."""
    ctx = chain()
    info = guarded(lambda: ctx.client.region_info(code))
    if not info.registered:
        fail(f"region {region_text(code)} is not registered")
    data = {
        "region": jis_code(code),
        "municipality": municipality_name(code, "ja"),
        "coin": info.coin,
        "paused": info.paused,
        "paused_by_admin": info.admin_paused,
        "paused_by_platform": info.platform_paused,
        "transfers_enabled": info.transfers_enabled,
        "expiry_days": info.expiry_days,
        "participants": info.participant_count,
        "activities": info.activity_count,
        "minted": info.minted,
        "spent": info.spent,
        "revoked": info.revoked,
        "expired": info.expired,
        "supply": info.total_supply,
    }
    if as_json:
        emit(data, True)
        return
    del data["municipality"]  # the region's line names it
    emit({**data, "region": code}, False)


def day_option(value: str) -> date:
    """A JST day from the command line: ``YYYY-MM-DD`` only."""
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"a day is written YYYY-MM-DD, e.g. 2026-04-01, not {value!r}") from None


@region_app.command("dashboard")
def region_dashboard(
    code: RegionArg,
    start: Annotated[
        date | None, typer.Option(parser=day_option, metavar="YYYY-MM-DD", help="first JST day of the period")
    ] = None,
    end: Annotated[
        date | None, typer.Option(parser=day_option, metavar="YYYY-MM-DD", help="last JST day (inclusive)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """A region's figures for a period, from the index: the same document as
    ``GET /api/v1/regions/{code}/dashboard`` (same default period, same ``k``)."""
    from pydantic import TypeAdapter

    from ledger import queries
    from ledger.figures import FIGURES

    settings = get_settings()
    engine = indexed_engine()
    try:
        with engine.connect() as conn:
            if code not in {r.region for r in guarded(lambda: queries.list_regions(conn))}:
                fail(f"region {region_text(code)} is not registered on this ledger (or not indexed yet)")
            first, last = queries.resolve_period(conn, start, end)
            if first > last:
                fail(f"start {first} is after end {last}")
            doc = guarded(lambda: queries.region_dashboard(conn, code, first, last, k=settings.api.public_k))
    finally:
        engine.dispose()
    if doc is None:  # pragma: no cover - checked above
        fail(f"region {region_text(code)} is not registered on this ledger")
        return
    if as_json:
        typer.echo(TypeAdapter(queries.RegionDashboard).dump_json(doc).decode())
        return
    s = doc.summary

    def shown(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    def label(figure: str) -> str:
        found = FIGURES.get(figure)
        return found.label("ja") if found is not None else figure

    typer.echo(f"{region_text(code)}  {first.isoformat()} – {last.isoformat()} (JST)")
    typer.echo(f"people as of {doc.as_of.isoformat()}; counts below k = {doc.k} are shown as -")
    rows: list[tuple[str, str]] = [
        (f"{label('participants')} participants", shown(s.participants)),
        ("  without kin-only", shown(s.participants_without_kin)),
        ("  kin-only (地縁・血縁 only)", shown(s.kin_only)),
        (f"{label('kankei')} kankei", shown(s.kankei)),
        ("  visiting", shown(s.kankei_visiting)),
        ("  non-visiting", shown(s.kankei_non_visiting)),
    ]
    rows += [(f"  stage {c.label_ja} ({c.stage})", shown(c.people)) for c in s.stages]
    rows += [
        ("active in the period", shown(s.active)),
        ("  new", shown(s.new)),
        ("  returning", shown(s.returning)),
        ("records (live)", shown(s.records)),
        ("records since revoked", shown(s.revoked_records)),
        ("revocations", shown(s.coins.revocations)),
        ("coins issued", shown(s.coins.issued)),
        ("coins spent on support", shown(s.coins.spent)),
        ("coins clawed back", shown(s.coins.clawed_back)),
        ("supports", shown(s.coins.supports)),
        ("projects", shown(len(doc.projects))),
    ]
    typer.echo(table(("figure", "value"), rows, (False, True)))
    audit = doc.audit
    typer.echo(
        f"issuer audit: {len(audit.issuers)} issuers; revocations newest first, {len(audit.revocations):,} of "
        f"{audit.revocations_total:,} listed in --json"
        + (
            f" (the rest: GET /api/v1/regions/{jis_code(code)}/audit?revocations_offset={len(audit.revocations)})"
            if audit.revocations_total > len(audit.revocations)
            else ""
        )
    )
    if not doc.caught_up and (doc.index.dirty_ties or doc.index.dirty_days):
        ties, days = (
            queries.backlog_text(n, "en", doc.index.backlog_cap) for n in (doc.index.dirty_ties, doc.index.dirty_days)
        )
        typer.echo(f"derived work pending: {ties} ties, {days} days (figures not up to date yet)")
