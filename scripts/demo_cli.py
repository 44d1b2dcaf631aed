"""``tsunagari demo`` (the README's ``./run demo``): serve at once, seed the demo year meanwhile.

On a fresh devnet the demo starts the chain (its genesis a year ago), deploys, registers the
regions and the live demo activities (the kiosk, a presence kiosk, a ふるさと納税 claim code), and
serves the pages, kiosk, console and API straight away. The past year is seeded in a child process
(:mod:`ledger.demo_seed.background`) while it serves: a progress bar here, a banner on the pages
(「デモデータを準備中: 40 %」), and the indexer picks each seeded day up as it lands.

One chain has one clock, and a record's date is its block's timestamp. So the seed owns the chain
until it has walked the clock from a year ago to now: live kiosk scans are accepted at once (the
phone shows 受付済み) and wait in the outbox; the live relayer starts the moment the seed hands the
chain back at today's time, and records them with today's date. The reasons are in
docs/decisions/0013-demo-serves-while-it-seeds.md.

A second start finds the finished year (``demo-seed.json`` says ``done`` for this chain) and
serves within seconds. A year that did not finish (Ctrl-C, a failure, a killed process) is never
shown as finished: the next start begins it again on a fresh devnet.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.settings import get_settings
from scripts.cli_common import JsonFlag, chain, fail, guarded, managed
from scripts.format_cli import region_text, table

__all__ = ["demo_app", "serve_demo", "seed_in_foreground", "restart_unfinished_year", "progress_line"]

_BAR = 24


def progress_line(percent: int, done: int, days: int, eta_s: float | None) -> str:
    """``[#########...............]  40 %  146/364 days  about 5 min left``."""
    filled = _BAR * percent // 100
    eta = "" if eta_s is None else f"  about {_duration(eta_s)} left"
    return f"demo year [{'#' * filled}{'.' * (_BAR - filled)}] {percent:>3} %  {done}/{days} days{eta}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest:02d} s" if minutes < 10 else f"{minutes} min"


@dataclass
class _Seeding:
    """The seed's child process and what the terminal and the relayer wait for."""

    process: BaseProcess
    progress_file: Path
    handed_back: threading.Event  # set when the chain is at today's time again: the live relayer may start
    started: float
    outcome: str = ""  # done / interrupted / failed, once known


def _fresh_devnet(node: Any, progress_file: Path, reason: str) -> None:
    """Stop the devnet and drop its chain: an unfinished year is seeded again from the start."""
    from ledger.demo_seed.progress import clear_progress

    typer.echo(reason, err=True)
    node.down()
    node.state_file.unlink(missing_ok=True)
    clear_progress(progress_file)


def restart_unfinished_year(node: Any, settings: Any) -> None:
    """Before the devnet starts: a year that did not finish on it is begun again on a fresh devnet."""
    from ledger.demo_seed.progress import SeedPhase, progress_path, read_progress

    progress_file = progress_path(settings.devnet.data_dir)
    previous = read_progress(progress_file)
    if previous is not None and previous.phase is not SeedPhase.DONE and node.state_file.exists():
        if previous.is_live():
            raise typer.BadParameter("another demo is seeding this devnet right now; wait for it or stop it first")
        _fresh_devnet(
            node,
            progress_file,
            f"the demo year did not finish last time ({previous.phase}, {previous.percent} %): "
            "starting it again on a fresh devnet",
        )


def seed_in_foreground(ctx: Any, engine: Any, settings: Any, *, seed: int, people: int) -> Any:
    """``tsunagari demo seed`` / ``demo --no-serve``: the year in this process, with the same progress
    file (so a later ``tsunagari demo`` knows whether it finished) and bar."""
    from ledger.demo_seed.background import initial_progress
    from ledger.demo_seed.progress import SeedPhase, progress_path, write_progress
    from ledger.demo_seed.run import DAYS, seed_year

    progress_file = progress_path(settings.devnet.data_dir)
    genesis_hash = "0x" + bytes(ctx.w3.eth.get_block(0)["hash"]).hex()
    progress = initial_progress(genesis_hash, ctx.deployment.ledger, days=DAYS, seed=seed, people=people)
    write_progress(progress_file, progress)
    tty = sys.stderr.isatty()
    shown = -1

    def on_day(done: int, days: int) -> None:
        nonlocal progress, shown
        progress = progress.advanced(done)
        write_progress(progress_file, progress)
        step = progress.percent if tty else progress.percent // 10 * 10
        if step != shown:
            shown = step
            line = progress_line(progress.percent, done, days, progress.eta_s)
            if tty:
                sys.stderr.write("\r\x1b[K" + line)
                sys.stderr.flush()
            else:
                typer.echo(line, err=True)

    try:
        result = seed_year(ctx, engine, seed=seed, people=people, log=lambda m: typer.echo(m, err=True), on_day=on_day)
    except KeyboardInterrupt:
        write_progress(progress_file, progress.finished(SeedPhase.INTERRUPTED, "stopped by Ctrl-C"))
        if tty:
            sys.stderr.write("\r\x1b[K")
        typer.echo(
            f"\nstopped: the demo year's seed at {progress.percent} %. The next ./run demo starts the year again "
            f"on a fresh devnet.\nstill running: the devnet at {ctx.settings.chain.rpc_url} "
            "(stop it: ./run tsunagari devnet down).",
            err=True,
        )
        raise typer.Exit(code=130) from None
    except Exception as exc:
        write_progress(progress_file, progress.finished(SeedPhase.FAILED, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        if tty:
            sys.stderr.write("\r\x1b[K")
    write_progress(progress_file, progress.finished(SeedPhase.DONE, f"{result.records} records"))
    return result


def _deployed_chain(settings: Any, as_json: bool) -> Any:
    """The chain of this run with its ledger: the deployments file's, or deployed now when the file
    names none or a ledger this chain does not have (a devnet started afresh)."""
    from ledger.chain.deploy import deploy_ledger, save_deployment
    from ledger.errors import DeploymentNotFound

    ctx = chain()
    try:
        deployment = ctx.deployment
        if not ctx.w3.eth.get_code(deployment.ledger):
            raise DeploymentNotFound("the deployments file names a ledger this chain does not have")
    except DeploymentNotFound:
        deployment = guarded(lambda: deploy_ledger(ctx.w3, ctx.operator("platform-admin")))
        if settings.chain.backend != "pyevm":
            save_deployment(settings.chain.deployments_dir, deployment)
        ctx.use_deployment(deployment)
        typer.echo(f"deployed ledger {deployment.ledger} at block {deployment.deploy_block}", err=as_json)
    return ctx


def serve_demo(*, as_json: bool) -> None:
    """Bring the demo up and serve it until Ctrl-C (see the module docstring)."""

    settings = get_settings()
    node = managed() if settings.chain.backend == "anvil" else None
    started: list[_Seeding] = []  # the seed, once started (so an early Ctrl-C can stop it too)
    try:
        seeding, base = _start(settings, node, as_json, started)
    except KeyboardInterrupt:
        typer.echo("\nstopped before the demo was serving.", err=True)
        _stop_seed(started[0] if started else None)
        if node is not None:
            typer.echo(f"still running: the devnet at {node.rpc_url} (stop it: ./run tsunagari devnet down)", err=True)
        raise typer.Exit(code=130) from None
    _goodbye(seeding, node, base)


def _start(settings: Any, node: Any, as_json: bool, started: list[_Seeding]) -> tuple[_Seeding | None, str]:
    from ledger.chain.devnet import AnvilControl
    from ledger.db.engine import make_engine, upgrade_to_head
    from ledger.demo import index_demo, setup_demo
    from ledger.demo_seed.background import initial_progress, start_seed_process
    from ledger.demo_seed.progress import clear_progress, progress_path, read_progress, write_progress
    from ledger.demo_seed.run import (
        DAYS,
        catch_up_chain_time,
        genesis_time_for,
        register_seed_regions,
        reset_stale_outbox,
        seed_state,
    )
    from ledger.jst import today
    from scripts.serve import serve_all

    progress_file = progress_path(settings.devnet.data_dir)
    if node is not None:
        restart_unfinished_year(node, settings)
        if settings.demo.seed_year and not node.state_file.exists():  # a NEW devnet starts a year ago
            node.genesis_time = genesis_time_for(today())
        fresh = guarded(node.up)
        typer.echo(f"devnet {'started' if fresh else 'running'} at {node.rpc_url}", err=as_json)
    ctx = _deployed_chain(settings, as_json)
    deployment = ctx.deployment
    engine = make_engine(settings.db.url)
    guarded(lambda: upgrade_to_head(engine))
    genesis_hash = "0x" + bytes(ctx.w3.eth.get_block(0)["hash"]).hex()
    previous = read_progress(progress_file)
    if previous is not None and (previous.genesis_hash, previous.ledger) != (genesis_hash, deployment.ledger.lower()):
        clear_progress(progress_file)  # written for another chain
    state = guarded(lambda: seed_state(ctx))
    seed_now = settings.demo.seed_year and state == "fresh"
    control = AnvilControl(ctx.w3) if node is not None else None
    interval_mining = control is not None and not control.automine()
    if control is not None:  # a block per transaction while the demo sets up: no second-long waits
        control.set_automine(True)
    if seed_now:
        guarded(lambda: reset_stale_outbox(engine))  # before anything is served from it
        guarded(lambda: register_seed_regions(ctx))
    else:
        if node is not None and guarded(lambda: catch_up_chain_time(ctx)):
            typer.echo("the devnet's clock lagged behind (it was stopped for a while): moved it to now", err=True)
        now = int(ctx.w3.eth.get_block("latest")["timestamp"])
        guarded(
            lambda: setup_demo(
                ctx.client,
                ctx.operator("platform-admin"),
                ctx.operator("region-admin"),
                ctx.operator("relayer"),
                now,
                engine=engine,
            )
        )
    # index what is on chain so far (on a fresh chain a few blocks): the links below look for open
    # activities and regions in the index
    guarded(lambda: index_demo(ctx, []))
    links = _live_links(ctx, engine, settings)  # every transaction of the live demo goes in before the seed
    if control is not None and interval_mining:
        control.set_interval_mining(max(1, round(settings.devnet.block_time_s or 1)))
    seeding: _Seeding | None = None
    if seed_now:
        write_progress(
            progress_file,
            initial_progress(
                genesis_hash, deployment.ledger, days=DAYS, seed=settings.demo.seed, people=settings.demo.people
            ),
        )
        process = start_seed_process(settings, progress_file, seed=settings.demo.seed, people=settings.demo.people)
        seeding = _Seeding(process, progress_file, threading.Event(), time.monotonic())
        started.append(seeding)
    announced = threading.Event()

    def announce() -> None:
        typer.echo(links.text(seeding is not None), err=as_json)
        if as_json:
            typer.echo(json.dumps(links.document(seeding is not None), ensure_ascii=False))
        announced.set()

    if seeding is not None:
        threading.Thread(target=_watch, args=(seeding, announced, ctx), name="demo-progress", daemon=True).start()
    # uvicorn stops gracefully on Ctrl-C, then re-raises it: here that is the normal end of the demo
    with contextlib.suppress(KeyboardInterrupt):
        serve_all(settings, on_started=announce, relay_after=None if seeding is None else seeding.handed_back)
    return seeding, links.base


@dataclass(frozen=True)
class _Links:
    base: str
    kiosk: str
    presence_kiosk: str
    claim_code: str
    claim_code_url: str
    admins: str
    password: str
    password_file: Path
    evidence: list[str]

    def text(self, seeding: bool) -> str:
        lines = [
            "",
            f"Tsunagari is running at {self.base} (Ctrl-C stops it; the devnet keeps running)",
            "  kiosk of a running demo activity (open it; scan its QR with a phone on this network):",
            f"    {self.kiosk}",
            f"  simulate phones scanning it:\n    ./run tsunagari simulate-checkins '{self.kiosk}' --people 50",
            "  presence kiosk of a volunteering activity (one QR: scan on arrival and again on leaving;"
            " the hours are recorded):",
            f"    {self.presence_kiosk}",
            f"  single-use claim code of a ふるさと納税 thank-you letter ({self.claim_code}; works once):",
            f"    {self.claim_code_url}",
            f"  staff console (Japanese): {self.base}/console",
            f"    development sign-in (devnet only): platform, or a region's admin: {self.admins}",
            f"    password {self.password} (kept in {self.password_file})",
            f"  API documentation: {self.base}/docs",
            *self.evidence,
        ]
        if seeding:
            lines += [
                "",
                "The past year of demo data is being written to the chain now (progress below; the pages show it",
                "too). Everything above works already; check-ins are accepted at once and reach the chain",
                "as soon as the year is written (its clock must reach today first).",
            ]
        return "\n".join(lines)

    def document(self, seeding: bool) -> dict[str, object]:
        return {
            "url": self.base,
            "kiosk": self.kiosk,
            "presence_kiosk": self.presence_kiosk,
            "claim_code_url": self.claim_code_url,
            "console": f"{self.base}/console",
            "seeding": seeding,
        }


def _live_links(ctx: Any, engine: Any, settings: Any) -> _Links:
    """The kiosk, presence kiosk, claim code and console sign-in the demo prints (registered now)."""
    from ledger.checkin.service import build_checkin
    from ledger.demo import demo_links, ensure_kiosk_activity
    from ledger.demo_certificate import write_demo_certificate
    from ledger.demo_console import ensure_dev_sign_in, label_operator_keys

    now = int(time.time())
    activity = guarded(lambda: ensure_kiosk_activity(ctx.client, ctx.operator("region-admin"), engine, now))
    service = build_checkin(settings, engine, ctx.chain_id, ctx.deployment.ledger, ctx.client)
    kiosk = guarded(lambda: service.kiosk_link(activity)).url
    links = guarded(lambda: demo_links(ctx.client, ctx.operator("region-admin"), engine, service, now))
    base = service.public_url
    dev = guarded(lambda: ensure_dev_sign_in(engine, settings, ctx.chain_id))
    label_operator_keys(
        engine,
        {
            ctx.operator("relayer").address: "中継サーバー（チェックインの記録）",
            ctx.operator("region-admin").address: "地域管理者の運用鍵（サーバー）",
        },
    )
    example = guarded(
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
    return _Links(
        base=base,
        kiosk=kiosk,
        presence_kiosk=links.presence_kiosk_url,
        claim_code=links.claim_code,
        claim_code_url=links.claim_code_url,
        admins=", ".join(login for login, region in dev.logins if region is not None),
        password=dev.password,
        password_file=dev.password_file,
        evidence=evidence,
    )


def _watch(seeding: _Seeding, announced: threading.Event, ctx: Any) -> None:
    """Draw the progress bar until the seed ends; then hand the chain to the live relayer."""
    from ledger.demo_seed.background import seed_log_path, warnings_in_log
    from ledger.demo_seed.progress import SeedPhase, read_progress
    from ledger.demo_seed.run import catch_up_chain_time

    announced.wait(60)
    tty = sys.stderr.isatty()
    shown = -1
    progress = None
    while seeding.process.is_alive():
        progress = read_progress(seeding.progress_file) or progress
        if progress is not None:
            step = progress.percent if tty else progress.percent // 10 * 10
            if step != shown:
                shown = step
                line = progress_line(progress.percent, progress.days_done, progress.days, progress.eta_s)
                if tty:
                    sys.stderr.write("\r\x1b[K" + line)
                    sys.stderr.flush()
                else:
                    typer.echo(line, err=True)
        seeding.process.join(1.0)
    if tty:
        sys.stderr.write("\r\x1b[K")
    final = read_progress(seeding.progress_file)
    took = _duration(time.monotonic() - seeding.started)
    if final is not None and final.phase is SeedPhase.DONE:
        seeding.outcome = "done"
        typer.echo(f"the demo year is on chain ({final.message}; {took}). Check-ins now reach the chain.", err=True)
        notes = warnings_in_log(seeding.progress_file.parent)
        if notes:  # retries the relayer recovered from: the year finished complete, so they cost only time
            times = "once" if notes == 1 else f"{notes} times"
            typer.echo(
                f"  the relayer waited and retried {times} while seeding (the node answered late on a busy "
                f"machine); every day was checked complete. Details: {seed_log_path(seeding.progress_file.parent)}",
                err=True,
            )
    elif final is not None and final.phase is SeedPhase.INTERRUPTED:
        seeding.outcome = "interrupted"
    else:
        seeding.outcome = "failed"
        reason = final.message if final is not None else "the seed process ended without a word"
        log_file = seed_log_path(seeding.progress_file.parent)
        typer.echo(
            f"the demo year stopped at {0 if final is None else final.percent} % ({reason}; details in {log_file}). "
            "The pages keep serving what is on chain; the next ./run demo seeds the year again.",
            err=True,
        )
    # a seed that died without its last step may leave the clock in the past; an unreachable chain
    # is the relayer's to report
    with contextlib.suppress(Exception):
        catch_up_chain_time(ctx)
    seeding.handed_back.set()


def _stop_seed(seeding: _Seeding | None) -> None:
    """Interrupt the seed (as Ctrl-C in its terminal would) and wait for it to record where it stopped."""
    import os
    import signal

    if seeding is None:
        return
    seeding.process.join(3)  # Ctrl-C in a terminal reached it too: let it stop by itself first
    if not seeding.process.is_alive() or seeding.process.pid is None:
        return
    os.kill(seeding.process.pid, signal.SIGINT)
    seeding.process.join(30)
    if seeding.process.is_alive():
        seeding.process.terminate()
        seeding.process.join(10)


def _goodbye(seeding: _Seeding | None, node: Any, base: str) -> None:
    """After Ctrl-C: what stopped and what keeps running, in plain words."""
    from ledger.demo_seed.progress import SeedPhase, read_progress

    _stop_seed(seeding)
    lines = [f"\nstopped: the pages, kiosk and API at {base}, the relayer and the indexer."]
    progress = None if seeding is None else read_progress(seeding.progress_file)
    if progress is not None and progress.phase in (SeedPhase.SEEDING, SeedPhase.INTERRUPTED):
        at = f" at {progress.percent} %"
        lines.append(f"stopped: the demo year's seed{at}. The next ./run demo starts the year again on a fresh devnet.")
    if node is not None:
        lines.append(f"still running: the devnet at {node.rpc_url} (stop it: ./run tsunagari devnet down).")
    typer.echo("\n".join(lines), err=True)


# -- the commands ---------------------------------------------------------------------------------------


demo_app = typer.Typer(
    help="The main job: a devnet served at once while a year of regional ties is seeded and indexed.",
    invoke_without_command=True,
)


@demo_app.callback()
def demo(
    typer_ctx: typer.Context,
    stop: Annotated[bool, typer.Option("--stop", help="stop the devnet when done")] = False,
    serve: Annotated[
        bool, typer.Option(help="then serve the pages, kiosk and API with the relayer and indexer until Ctrl-C")
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """The main job: devnet up, ledger deployed, the kiosk, pages, console and API served at once with
    the relayer and the indexer, while a year of regional ties is seeded in the background on a fresh
    devnet (Ctrl-C stops; the devnet keeps running). With --no-serve or --stop: seed in the foreground,
    index, print the figures and return."""
    if typer_ctx.invoked_subcommand is not None:
        return
    if serve and not stop:
        serve_demo(as_json=as_json)
        return
    settings = get_settings()
    _run_demo(settings.demo.seed, settings.demo.people, settings.demo.seed_year, stop=stop, as_json=as_json)


@demo_app.command("seed")
def demo_seed(
    seed: Annotated[int | None, typer.Option(help="random seed (default demo.seed): same seed, same chain")] = None,
    people: Annotated[int | None, typer.Option(min=1, max=50_000, help="participants (default demo.people)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Seed a year of activities, claims, revocations and supports on a fresh devnet (idempotent), index it."""
    settings = get_settings()
    _run_demo(
        settings.demo.seed if seed is None else seed,
        settings.demo.people if people is None else people,
        True,
        stop=False,
        as_json=as_json,
        require_seed=True,
    )


def _run_demo(
    seed: int, people: int, seed_year: bool, *, stop: bool, as_json: bool, require_seed: bool = False
) -> None:
    from ledger.chain.devnet import ManagedDevnet
    from ledger.db.engine import make_engine, upgrade_to_head
    from ledger.demo import index_demo, setup_demo, summarise
    from ledger.demo_seed.catalogue import SEED_REGIONS
    from ledger.demo_seed.run import catch_up_chain_time, genesis_time_for, seed_state
    from ledger.jst import today

    settings = get_settings()
    node: ManagedDevnet | None = None
    if settings.chain.backend == "anvil":
        node = managed()
        restart_unfinished_year(node, settings)
        if seed_year:  # a NEW devnet starts a year ago, so the seeded year can be written in its past
            node.genesis_time = genesis_time_for(today())
        started = guarded(node.up)
        typer.echo(f"devnet {'started' if started else 'running'} at {node.rpc_url}", err=as_json)
    ctx = _deployed_chain(settings, as_json)
    client = ctx.client
    engine = make_engine(settings.db.url)
    guarded(lambda: upgrade_to_head(engine))
    state = guarded(lambda: seed_state(ctx))
    seeded: Any = None
    if seed_year and state == "fresh":
        seeded = guarded(lambda: seed_in_foreground(ctx, engine, settings, seed=seed, people=people))
    elif require_seed and state != "seeded":
        fail(
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
        and guarded(lambda: catch_up_chain_time(ctx))
    ):
        typer.echo("the devnet's clock lagged behind (an interrupted seed?): moved it to now", err=True)
    first_steps = False
    if seeded is None:
        now = int(ctx.w3.eth.get_block("latest")["timestamp"])
        first_steps = guarded(
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
    logs, indexed = guarded(lambda: index_demo(ctx, regions))
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
            typer.echo(
                table(
                    ("region", "people", "records", "revoked", "supports", "activities"),
                    [
                        (region_text(r.code), r.people, r.records, r.revocations, r.supports, r.activities)
                        for r in seeded.regions
                    ],
                    (False, True, True, True, True, True),
                )
            )
            typer.echo("")
        elif not first_steps:
            typer.echo("demo data already on chain; showing it")
        typer.echo(f"chain {ctx.chain_id}, ledger {client.address}")
        typer.echo(
            table(
                ("region", "coin", "people", "minted", "spent", "revoked", "expired", "supply"),
                [
                    (region_text(s.code), s.coin, s.participants, s.minted, s.spent, s.revoked, s.expired, s.supply)
                    for s in summary
                ],
                (False, False, True, True, True, True, True, True),
            )
        )
        typer.echo(f"\nindexed {logs} new logs into {settings.db.url}; ties by region (model: docs/ties.md):")
        for r in indexed:
            stages = ", ".join(f"{k} {v}" for k, v in r.stages.items() if v)
            typer.echo(
                f"{r.code:05d} {r.name}: {r.participants} people, {r.records} records, 関係人口 {r.kankei} ({stages})"
            )
    if node is not None:
        if stop:
            node.down()
            typer.echo("devnet stopped (its state is kept)", err=as_json)
        else:
            typer.echo(f"devnet keeps running at {node.rpc_url}; stop it with `tsunagari devnet down`", err=as_json)
