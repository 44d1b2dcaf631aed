"""The ``tsunagari`` command: thin commands over ``ledger``, one Typer module per area, assembled here.

Errors from ``ledger`` (one root, :class:`ledger.errors.TsunagariError`) become one line on stderr
and exit code 1 in :mod:`scripts.cli_common`, and only there. Every command prints aligned tables,
JST times with the zone and municipality codes with their names for people, and JSON (unix
seconds, five-digit code text) with ``--json`` where it offers it. Every command and option is
listed in ``docs/cli.md``.

Areas: devnet_cli, contracts_cli (and ``deploy``), region_cli, activity_cli, project_cli,
chain_cli (``record``, ``revoke``, ``balance``, ``support``, ``support-cancel``), keys_cli,
index_cli, api_cli, export_cli, db_cli, staff_cli, certificate_cli, codes_cli (``codes``,
``presence``), serve_cli (``serve``, ``simulate-checkins``, ``relay``); the demo below.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from ledger.settings import get_settings as _settings
from scripts.activity_cli import activity_app
from scripts.api_cli import api_app
from scripts.certificate_cli import certificate_app
from scripts.chain_cli import chain_commands
from scripts.cli_common import JsonFlag
from scripts.cli_common import chain as _chain
from scripts.cli_common import fail as _fail
from scripts.cli_common import guarded as _guarded
from scripts.cli_common import managed as _managed
from scripts.codes_cli import codes_app, presence_app
from scripts.contracts_cli import contracts_app, deploy_commands
from scripts.db_cli import db_app
from scripts.devnet_cli import devnet_app
from scripts.export_cli import export_app
from scripts.format_cli import region_text, table
from scripts.index_cli import index_app
from scripts.keys_cli import keys_app
from scripts.project_cli import project_app
from scripts.region_cli import region_app
from scripts.relay_cli import relay_app
from scripts.serve_cli import serve_commands
from scripts.staff_cli import staff_app

# region_text and table: for the demo section below (its rewrite in i17-demo prints tables with them)
__all__ = ["app", "main", "region_text", "table"]

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
app.add_typer(staff_app, name="staff")
app.add_typer(certificate_app, name="certificate")
app.add_typer(codes_app, name="codes")
app.add_typer(presence_app, name="presence")
for commands in (deploy_commands, chain_commands, serve_commands):  # commands of the root itself, listed first
    app.registered_commands += commands.registered_commands


# -- demo -------------------------------------------------------------------------------------------------


demo_app = typer.Typer(
    help="The main job: a devnet with a seeded year of regional ties, indexed and served.",
    invoke_without_command=True,
)
app.add_typer(demo_app, name="demo")


@demo_app.callback()
def demo(
    typer_ctx: typer.Context,
    stop: Annotated[bool, typer.Option("--stop", help="stop the devnet when done")] = False,
    serve: Annotated[
        bool, typer.Option(help="then serve the pages, kiosk and API with the relayer and indexer until Ctrl-C")
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """The main job: devnet up, ledger deployed, a year of regional ties seeded through the check-in
    intake and the relayer on a fresh devnet (`demo seed`), indexed, then the API with the kiosk and
    claim pages, the relayer and the indexer (Ctrl-C stops)."""
    if typer_ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    _run_demo(
        settings.demo.seed, settings.demo.people, settings.demo.seed_year, stop=stop, serve=serve, as_json=as_json
    )


@demo_app.command("seed")
def demo_seed(
    seed: Annotated[int | None, typer.Option(help="random seed (default demo.seed): same seed, same chain")] = None,
    people: Annotated[int | None, typer.Option(min=1, max=50_000, help="participants (default demo.people)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Seed a year of activities, claims, revocations and supports on a fresh devnet (idempotent), index it."""
    settings = _settings()
    _run_demo(
        settings.demo.seed if seed is None else seed,
        settings.demo.people if people is None else people,
        True,
        stop=False,
        serve=False,
        as_json=as_json,
        require_seed=True,
    )


def _run_demo(
    seed: int, people: int, seed_year: bool, *, stop: bool, serve: bool, as_json: bool, require_seed: bool = False
) -> None:
    from ledger.chain.deploy import deploy_ledger, save_deployment
    from ledger.chain.devnet import ManagedDevnet
    from ledger.db.engine import make_engine, upgrade_to_head
    from ledger.demo import index_demo, setup_demo, summarise
    from ledger.demo_seed.catalogue import SEED_REGIONS
    from ledger.demo_seed.run import catch_up_chain_time, genesis_time_for, seed_state
    from ledger.demo_seed.run import seed_year as play_year
    from ledger.errors import DeploymentNotFound
    from ledger.jst import today

    settings = _settings()
    node: ManagedDevnet | None = None
    if settings.chain.backend == "anvil":
        node = _managed()
        if seed_year:  # a NEW devnet starts a year ago, so the seeded year can be written in its past
            node.genesis_time = genesis_time_for(today())
        started = _guarded(node.up)
        typer.echo(f"devnet {'started' if started else 'running'} at {node.rpc_url}", err=as_json)
    ctx = _chain()
    try:
        deployment = ctx.deployment
        if not ctx.w3.eth.get_code(deployment.ledger):
            raise DeploymentNotFound("the deployments file names a ledger this chain does not have")
    except DeploymentNotFound:
        deployment = _guarded(lambda: deploy_ledger(ctx.w3, ctx.operator("platform-admin")))
        if settings.chain.backend != "pyevm":
            save_deployment(settings.chain.deployments_dir, deployment)
        ctx.use_deployment(deployment)
        typer.echo(f"deployed ledger {deployment.ledger} at block {deployment.deploy_block}", err=as_json)
    client = ctx.client
    engine = make_engine(settings.db.url)
    _guarded(lambda: upgrade_to_head(engine))
    state = _guarded(lambda: seed_state(ctx))
    seeded: Any = None
    if seed_year and state == "fresh":
        seeded = _guarded(
            lambda: play_year(ctx, engine, seed=seed, people=people, log=lambda m: typer.echo(m, err=True))
        )
    elif require_seed and state != "seeded":
        _fail(
            "this devnet cannot take a seeded year: "
            + (
                "it is not anvil"
                if state == "not_anvil"
                else "its clock is too recent (started without a genesis "
                "time); run `tsunagari devnet down`, remove its state file and run `tsunagari demo seed` again"
            )
        )
    if (
        seeded is None
        and state != "seeded"
        and settings.chain.backend == "anvil"
        and _guarded(lambda: catch_up_chain_time(ctx))
    ):
        typer.echo("the devnet's clock lagged behind (an interrupted seed?): moved it to now", err=True)
    first_steps = False
    if seeded is None:
        now = int(ctx.w3.eth.get_block("latest")["timestamp"])
        first_steps = _guarded(
            lambda: setup_demo(
                client,
                ctx.operator("platform-admin"),
                ctx.operator("region-admin"),
                ctx.operator("relayer"),
                now,
                engine=engine,
            )
        )
    regions = [r.region for r in SEED_REGIONS if client.region_info(r.code).registered]
    summary = summarise(client, regions)
    logs, indexed = _guarded(lambda: index_demo(ctx, regions))
    if as_json:
        document = {
            "chain_id": ctx.chain_id,
            "ledger": client.address,
            "seeded": None if seeded is None else seeded.as_dict(),
            "regions": [vars(s) for s in summary],
            "indexed_logs": logs,
            "index": [vars(r) for r in indexed],
        }
        typer.echo(json.dumps(document, ensure_ascii=False))
    else:
        if seeded is not None:
            typer.echo(
                f"seeded {seeded.first_day} – {seeded.last_day} (seed {seeded.seed}) in {seeded.wall_s:.0f} s: "
                f"{seeded.people} people, {seeded.records} records, {seeded.revocations} revocations, "
                f"{seeded.supports} supports, {seeded.activities} activities, {seeded.blocks} blocks"
            )
            typer.echo(seeded.paths())
            typer.echo(f"{'region':<14}{'people':>7}{'records':>8}{'revoked':>8}{'supports':>9}{'activities':>11}")
            for r in seeded.regions:
                typer.echo(
                    f"{r.code:05d} {r.name:<8}{r.people:>7}{r.records:>8}{r.revocations:>8}{r.supports:>9}"
                    f"{r.activities:>11}"
                )
            typer.echo("")
        elif not first_steps:
            typer.echo("demo data already on chain; showing it")
        typer.echo(f"chain {ctx.chain_id}, ledger {client.address}")
        typer.echo(
            f"{'region':<14}{'coin':<44}{'people':>7}{'minted':>9}{'spent':>7}{'revoked':>8}{'expired':>8}{'supply':>9}"
        )
        for s in summary:
            typer.echo(
                f"{s.code:05d} {s.name:<8}{s.coin:<44}{s.participants:>7}{s.minted:>9}{s.spent:>7}{s.revoked:>8}"
                f"{s.expired:>8}{s.supply:>9}"
            )
        typer.echo(f"\nindexed {logs} new logs into {settings.db.url}; ties by region (model: docs/ties.md):")
        for r in indexed:
            stages = ", ".join(f"{k} {v}" for k, v in r.stages.items() if v)
            typer.echo(
                f"{r.code:05d} {r.name}: {r.participants} people, {r.records} records, 関係人口 {r.kankei} ({stages})"
            )
    if serve and not stop:
        _serve_demo(ctx, engine, as_json)
    if node is not None:
        if stop:
            node.down()
            typer.echo("devnet stopped (its state is kept)", err=as_json)
        else:
            typer.echo(f"devnet keeps running at {node.rpc_url}; stop it with `tsunagari devnet down`", err=as_json)


def _serve_demo(ctx: Any, engine: Any, as_json: bool) -> None:
    from ledger.checkin.service import build_checkin
    from ledger.demo import demo_links, ensure_kiosk_activity
    from ledger.demo_certificate import write_demo_certificate
    from ledger.demo_console import ensure_dev_sign_in, label_operator_keys
    from scripts.serve import serve_all

    settings = _settings()
    now = int(time.time())
    activity = _guarded(lambda: ensure_kiosk_activity(ctx.client, ctx.operator("region-admin"), engine, now))
    service = build_checkin(settings, engine, ctx.chain_id, ctx.deployment.ledger, ctx.client)
    kiosk = _guarded(lambda: service.kiosk_link(activity)).url
    links = _guarded(lambda: demo_links(ctx.client, ctx.operator("region-admin"), engine, service, now))
    base = service.public_url
    dev = _guarded(lambda: ensure_dev_sign_in(engine, settings, ctx.chain_id))
    label_operator_keys(
        engine,
        {
            ctx.operator("relayer").address: "中継サーバー（チェックインの記録）",
            ctx.operator("region-admin").address: "地域管理者の運用鍵（サーバー）",
        },
    )
    admins = ", ".join(login for login, region in dev.logins if region is not None)
    example = _guarded(
        lambda: write_demo_certificate(
            engine,
            chain_id=ctx.chain_id,
            ledger=ctx.deployment.ledger,
            seed=settings.demo.seed,
            people=settings.demo.people,
            region=12205,
            folder=settings.devnet.data_dir.parent / "certificates",
            site=base,
            rpc_url=settings.chain.browser_rpc_url,
        )
    )
    evidence: list[str] = []
    if example is not None:
        c = example.certificate
        rpc = settings.chain.browser_rpc_url
        evidence = [
            f"  ふるさと住民登録 evidence: a participant of {c.municipality.name} eligible for Premium "
            f"({c.summary.get('text')}):",
            f"    their つながり page (活動証明書): {base}/people/{c.holder}",
            f"    their signed certificate: {example.path}",
            f"    verify it without this server: ./run tsunagari certificate verify {example.path} --rpc {rpc}",
        ]
        if example.verifier is not None:
            evidence.append(f"    or open {example.verifier} in a browser (the standalone verifier)")

    def announce() -> None:
        typer.echo(
            "\n".join(
                [
                    "",
                    f"Tsunagari is running at {base} (Ctrl-C to stop; the devnet keeps running)",
                    "  kiosk of a running demo activity (open it; scan its QR with a phone on this network):",
                    f"    {kiosk}",
                    f"  simulate phones scanning it:\n    ./run tsunagari simulate-checkins '{kiosk}' --people 50",
                    "  presence kiosk of a volunteering activity (one QR: scan on arrival and again on leaving;"
                    " the hours are recorded):",
                    f"    {links.presence_kiosk_url}",
                    f"  single-use claim code of a ふるさと納税 thank-you letter ({links.claim_code}; works once):",
                    f"    {links.claim_code_url}",
                    f"  staff console (Japanese): {base}/console",
                    f"    development sign-in (devnet only): platform, or a region's admin: {admins}",
                    f"    password {dev.password} (kept in {dev.password_file})",
                    f"  API documentation: {base}/docs",
                    *evidence,
                ]
            ),
            err=as_json,
        )

    serve_all(settings, on_started=announce)


def main() -> None:
    """Entry point of the ``tsunagari`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
