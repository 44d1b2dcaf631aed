"""The ``tsunagari`` command: thin commands over ``ledger``.

Errors from ``ledger`` (one root, :class:`ledger.errors.TsunagariError`) become one line on stderr
and exit code 1 here, and only here. Every command and option is listed in ``docs/cli.md``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ledger.errors import TsunagariError
from ledger.municipalities import jis_code, municipality_name, parse_jis_code
from ledger.settings import Settings, get_settings
from scripts.certificate_cli import certificate_app
from scripts.codes_cli import codes_app, presence_app
from scripts.format_cli import RegionArg, RegionOption, region_code, region_text, table, when
from scripts.staff_cli import staff_app

app = typer.Typer(help="Tsunagari Ledger: regional contribution records and community coins.", no_args_is_help=True)
devnet_app = typer.Typer(help="The local anvil devnet (chain id 31337).", no_args_is_help=True)
contracts_app = typer.Typer(help="Compile and check the Solidity contracts.", no_args_is_help=True)
region_app = typer.Typer(help="Regions, their admins and issuers.", no_args_is_help=True)
activity_app = typer.Typer(help="Activities that people take part in.", no_args_is_help=True)
project_app = typer.Typer(help="Projects that people support with coins.", no_args_is_help=True)
keys_app = typer.Typer(help="Operator keys (encrypted keystores).", no_args_is_help=True)
api_app = typer.Typer(help="The HTTP API and API keys.", no_args_is_help=True)
export_app = typer.Typer(help="The researcher export and its verification against the chain.")
index_app = typer.Typer(help="The indexer: chain events into the database.", no_args_is_help=True)
db_app = typer.Typer(help="The index database.", no_args_is_help=True)
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
app.add_typer(staff_app, name="staff")
app.add_typer(certificate_app, name="certificate")
app.add_typer(codes_app, name="codes")
app.add_typer(presence_app, name="presence")

T = TypeVar("T")

AsOption = Annotated[str, typer.Option("--as", help="operator key to sign with: platform-admin, relayer, region-admin")]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _guarded(action: Callable[[], T]) -> T:
    try:
        return action()
    except TsunagariError as exc:
        _fail(str(exc))
    except ValueError as exc:  # bad addresses and similar input mistakes
        _fail(str(exc))
    raise AssertionError("unreachable")


def _settings() -> Settings:
    return get_settings()


def _chain() -> Any:
    from ledger.chain.context import open_chain

    return _guarded(lambda: open_chain(_settings()))


def _shown(key: str, value: Any) -> Any:
    """A value as a person reads it: a moment (``*_at``) in JST with its zone, a region with its name."""
    if key.endswith("_at") and isinstance(value, int) and not isinstance(value, bool):
        return when(value)
    if key == "region" and isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return region_text(value)
    return value


def _emit(data: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, default=str))
    elif isinstance(data, dict):
        for key, value in data.items():
            typer.echo(f"{key}: {_shown(key, value)}")
    else:
        typer.echo(str(data))


JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON")]


# -- devnet ---------------------------------------------------------------------------------------


def _managed() -> Any:
    from ledger.chain.devnet import ManagedDevnet

    s = _settings().devnet
    return ManagedDevnet(s.data_dir, host=s.host, port=s.port, block_time_s=s.block_time_s)


@devnet_app.command("up")
def devnet_up(
    block_time: Annotated[
        float | None, typer.Option(help="seconds between blocks (default: devnet.block_time_s; 0 = automine)")
    ] = None,
) -> None:
    """Start anvil detached with persistent state (a restart keeps the chain)."""
    node = _managed()
    if block_time is not None:
        node.block_time_s = block_time
    started = _guarded(node.up)
    typer.echo(f"devnet {'started' if started else 'already running'} at {node.rpc_url} (state: {node.state_file})")


@devnet_app.command("down")
def devnet_down() -> None:
    """Stop the detached anvil; its state file keeps the chain for the next `up`."""
    node = _managed()
    typer.echo("devnet stopped" if node.down() else "devnet was not running")


@devnet_app.command("status")
def devnet_status(as_json: JsonFlag = False) -> None:
    """Whether the devnet runs, and its head block."""
    node = _managed()
    data: dict[str, Any] = {"rpc_url": node.rpc_url, "pid": node.pid(), "up": node.is_up()}
    if data["up"]:
        from ledger.chain.devnet import connect_rpc

        data["head_block"] = connect_rpc(node.rpc_url).eth.block_number
    _emit(data, as_json)


# -- contracts --------------------------------------------------------------------------------------


@contracts_app.command("compile")
def contracts_compile(
    solc: Annotated[
        Path | None, typer.Option(help="solc binary to use (default: native if 0.8.37, else the shim)")
    ] = None,
) -> None:
    """Compile contracts/*.sol through py-solc-x and write contracts/build/*.json."""
    from ledger.chain.compiler import compile_product_contracts, find_solc, write_artifacts

    binary = solc or _guarded(find_solc)
    result = _guarded(lambda: compile_product_contracts(binary))
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

    stale = _guarded(stale_artifacts)
    if stale:
        _fail(f"stale artifacts: {', '.join(stale)}; run `tsunagari contracts compile`")
    typer.echo("artifacts match the sources")


# -- deployment ---------------------------------------------------------------------------------------


@app.command("deploy")
def deploy(
    platform_admin: Annotated[str | None, typer.Option(help="platform admin address (default: the deployer)")] = None,
    as_: AsOption = "platform-admin",
) -> None:
    """Deploy the ledger and write the deployments file for this chain."""
    from ledger.chain.deploy import deploy_ledger, save_deployment

    ctx = _chain()
    deployment = _guarded(lambda: deploy_ledger(ctx.w3, ctx.operator(as_), platform_admin))
    path = save_deployment(_settings().chain.deployments_dir, deployment)
    typer.echo(f"ledger {deployment.ledger} on chain {deployment.chain_id} at block {deployment.deploy_block}")
    typer.echo(f"wrote {path}")


# -- regions --------------------------------------------------------------------------------------------


@region_app.command("register")
def region_register(
    code: Annotated[int, typer.Argument(help="JIS X 0402 municipality code, e.g. 12205")],
    coin_name: Annotated[str, typer.Argument(help="coin name shown by wallets")],
    symbol: Annotated[str, typer.Argument(help="coin symbol")],
    admin: Annotated[str, typer.Option(help="first region admin address")],
    as_: AsOption = "platform-admin",
) -> None:
    """Register a region (platform admin) with its first admin; prints its coin address."""
    ctx = _chain()
    coin = _guarded(lambda: ctx.client.register_region(ctx.operator(as_), code, coin_name, symbol, admin))
    typer.echo(f"region {region_text(code)} registered; coin {coin}")


@region_app.command("grant-issuer")
def region_grant_issuer(code: RegionArg, account: str, as_: AsOption = "region-admin") -> None:
    """Appoint an issuer of a region (region admin)."""
    ctx = _chain()
    _guarded(lambda: ctx.client.grant_issuer(ctx.operator(as_), code, account))
    typer.echo(f"{account} is an issuer of region {region_text(code)}")


@region_app.command("revoke-issuer")
def region_revoke_issuer(code: RegionArg, account: str, as_: AsOption = "region-admin") -> None:
    """Remove an issuer of a region (region admin)."""
    ctx = _chain()
    _guarded(lambda: ctx.client.revoke_issuer(ctx.operator(as_), code, account))
    typer.echo(f"{account} is no longer an issuer of region {region_text(code)}")


@region_app.command("grant-admin")
def region_grant_admin(code: RegionArg, account: str, as_: AsOption = "platform-admin") -> None:
    """Appoint another admin of a region (platform admin)."""
    ctx = _chain()
    _guarded(lambda: ctx.client.grant_region_admin(ctx.operator(as_), code, account))
    typer.echo(f"{account} is an admin of region {region_text(code)}")


@region_app.command("revoke-all-issuers")
def region_revoke_all_issuers(code: RegionArg, as_: AsOption = "platform-admin") -> None:
    """Remove every issuer of a region in one transaction (platform admin or region admin), e.g.
    after the admin who appointed them left."""
    ctx = _chain()
    before = _guarded(lambda: ctx.client.issuers(code))
    _guarded(lambda: ctx.client.revoke_all_issuers(ctx.operator(as_), code))
    typer.echo(f"region {region_text(code)}: {len(before)} issuer(s) removed")


@region_app.command("expiry")
def region_expiry(
    code: RegionArg,
    days: Annotated[int, typer.Argument(min=0, max=3650, help="coin lifetime in days (0 = coins never expire)")],
    as_: AsOption = "region-admin",
) -> None:
    """Set how long the region's coins stay spendable (region admin), before its first record only."""
    ctx = _chain()
    _guarded(lambda: ctx.client.set_coin_expiry(ctx.operator(as_), code, days))
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
    ctx = _chain()
    _guarded(lambda: ctx.client.set_region_paused(ctx.operator(as_), code, not resume))
    typer.echo(f"region {region_text(code)} {'resumed' if resume else 'paused'}")


@region_app.command("info")
def region_info(code: RegionArg, as_json: JsonFlag = False) -> None:
    """A region's state and coin totals, read from the chain."""
    ctx = _chain()
    info = _guarded(lambda: ctx.client.region_info(code))
    if not info.registered:
        _fail(f"region {region_text(code)} is not registered")
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
    _emit(data, as_json)


def _day_option(value: str) -> date:
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
        date | None, typer.Option(parser=_day_option, metavar="YYYY-MM-DD", help="first JST day of the period")
    ] = None,
    end: Annotated[
        date | None, typer.Option(parser=_day_option, metavar="YYYY-MM-DD", help="last JST day (inclusive)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """A region's figures for a period, from the index: the same document as
    ``GET /api/v1/regions/{code}/dashboard`` (same default period, same ``k``)."""
    from pydantic import TypeAdapter

    from ledger import queries
    from ledger.db.engine import current_revision, make_engine
    from ledger.figures import FIGURES

    settings = _settings()
    engine = make_engine(settings.db.url)
    try:
        try:
            migrated = current_revision(engine) is not None
        except Exception as exc:  # noqa: BLE001 - any database problem is one line for the operator
            _fail(f"cannot read the index at {settings.db.url}: {exc}")
        if not migrated:
            _fail("the database has no schema yet: run `tsunagari db upgrade` or `tsunagari index backfill`")
        with engine.connect() as conn:
            if code not in {r.region for r in _guarded(lambda: queries.list_regions(conn))}:
                _fail(f"region {region_text(code)} is not registered on this ledger (or not indexed yet)")
            first, last = queries.resolve_period(conn, start, end)
            if first > last:
                _fail(f"start {first} is after end {last}")
            doc = _guarded(lambda: queries.region_dashboard(conn, code, first, last, k=settings.api.public_k))
    finally:
        engine.dispose()
    if doc is None:  # pragma: no cover - checked above
        _fail(f"region {region_text(code)} is not registered on this ledger")
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


# -- activities -------------------------------------------------------------------------------------------


@activity_app.command("register")
def activity_register(
    region: RegionOption,
    kind: Annotated[int, typer.Option(help="contribution kind code (docs/contracts.md), e.g. 21 田植え体験")],
    reward: Annotated[int, typer.Option(help="coins per record, or per hour / day with --unit")],
    starts: Annotated[int | None, typer.Option(help="window start, unix seconds (default: now on chain)")] = None,
    hours: Annotated[float, typer.Option(help="window length in hours")] = 8.0,
    capacity: Annotated[int, typer.Option(help="maximum records, 0 = unlimited")] = 0,
    name: Annotated[str, typer.Option(help="name shown on the kiosk and the claim page")] = "",
    description: Annotated[str, typer.Option(help="longer text (no personal data)")] = "",
    venue: Annotated[str, typer.Option(help="where it takes place")] = "",
    designated: Annotated[
        bool, typer.Option("--designated", help="a 担い手活動 the municipality designated (ふるさと住民登録)")
    ] = False,
    unit: Annotated[str, typer.Option(help="what the reward is per: record, hour or day")] = "record",
    max_units: Annotated[int, typer.Option(min=1, max=65_535, help="most hours or days one record carries")] = 1,
    as_: AsOption = "region-admin",
) -> None:
    """Register an activity (region admin); prints its id. Its text is kept in the database and
    committed to on chain by hash (ledger/checkin/metadata.py)."""
    from ledger.chain.client import ZERO_HASH, ActivitySpec
    from ledger.taxonomy import ContributionKind, RewardUnit

    ctx = _chain()
    # "now" is the chain's now: a devnet clock a little behind wall-clock time would refuse the first record
    start = starts if starts is not None else min(int(time.time()), int(ctx.w3.eth.get_block("latest")["timestamp"]))
    kind_code = _guarded(lambda: ContributionKind(kind))
    reward_unit = _guarded(lambda: RewardUnit.of_code(unit))
    metadata = _store_text(name, description, venue) if name or description or venue else ZERO_HASH
    spec = ActivitySpec(
        region=region,
        kind=kind_code,
        reward=reward,
        starts_at=start,
        ends_at=start + int(hours * 3600),
        capacity=capacity,
        metadata_hash=metadata,
        designated=designated,
        unit=reward_unit,
        max_units=max_units if reward_unit != RewardUnit.RECORD else 1,
    )
    activity_id = _guarded(lambda: ctx.client.register_activity(ctx.operator(as_), spec))
    typer.echo(f"activity {activity_id} registered in region {region_text(region)}")


def _store_text(name: str, description: str, venue: str) -> bytes:
    """Keep an activity's or project's text in the database; returns its metadata hash (32 bytes)."""
    from ledger.checkin.metadata import store_metadata
    from ledger.db.engine import make_engine, upgrade_to_head, write_transaction

    engine = make_engine(_settings().db.url)
    _guarded(lambda: upgrade_to_head(engine))
    try:
        with write_transaction(engine) as conn:
            return bytes.fromhex(store_metadata(conn, name, description, venue)[2:])
    finally:
        engine.dispose()


def _current_text(metadata_hash: bytes) -> tuple[str, str, str]:
    """The stored text of a metadata hash: (name, description, venue), empty when it is not stored."""
    from sqlalchemy import text

    from ledger.db.engine import make_engine, upgrade_to_head

    engine = make_engine(_settings().db.url)
    _guarded(lambda: upgrade_to_head(engine))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT name, description, venue FROM activity_metadata WHERE metadata_hash = :h"),
                {"h": "0x" + metadata_hash.hex()},
            ).first()
    finally:
        engine.dispose()
    return (str(row[0]), str(row[1]), str(row[2])) if row else ("", "", "")


def _edit_text(
    what: str,
    current: bytes,
    name: str | None,
    description: str | None,
    venue: str | None,
    send: Callable[[bytes], object],
) -> None:
    """Store the edited text (fields not given keep their current value) and commit to it on chain."""
    if name is None and description is None and venue is None:
        _fail("nothing to change: give --name, --description or --venue")
    old_name, old_description, old_venue = _current_text(current)
    metadata = _store_text(
        old_name if name is None else name,
        old_description if description is None else description,
        old_venue if venue is None else venue,
    )
    if metadata == current:
        typer.echo(f"{what} already shows this text (metadata 0x{metadata.hex()}); nothing sent")
        return
    _guarded(lambda: send(metadata))
    typer.echo(f"{what} now shows metadata 0x{metadata.hex()}")


@activity_app.command("edit")
def activity_edit(
    activity_id: int,
    name: Annotated[str | None, typer.Option(help="new name (default: keep the current one)")] = None,
    description: Annotated[str | None, typer.Option(help="new longer text (no personal data)")] = None,
    venue: Annotated[str | None, typer.Option(help="new place")] = None,
    as_: AsOption = "region-admin",
) -> None:
    """Change an activity's name, description or venue (region admin): the text is kept in the
    database and its new hash committed on chain (ActivityMetadataChanged)."""
    ctx = _chain()
    info = _guarded(lambda: ctx.client.activity(activity_id))
    if info.region == 0:
        _fail(f"activity {activity_id} does not exist")
    operator = _guarded(lambda: ctx.operator(as_))
    _edit_text(
        f"activity {activity_id}",
        info.metadata_hash,
        name,
        description,
        venue,
        lambda metadata: ctx.client.set_activity_metadata(operator, activity_id, metadata),
    )


@activity_app.command("designate")
def activity_designate(
    activity_id: int,
    undo: Annotated[bool, typer.Option("--undo", help="remove the designation instead")] = False,
    as_: AsOption = "region-admin",
) -> None:
    """Mark an activity as a designated 担い手活動 (region admin), before it starts only."""
    ctx = _chain()
    _guarded(lambda: ctx.client.set_activity_designated(ctx.operator(as_), activity_id, not undo))
    typer.echo(f"activity {activity_id} is {'not ' if undo else ''}designated")


@activity_app.command("kiosk")
def activity_kiosk(
    activity_id: int,
    units: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65_535,
            help="hours or days each check-in records (default: the activity's cap); "
            "0: a presence kiosk (arrival and departure)",
        ),
    ] = None,
) -> None:
    """Print the kiosk URL of an activity (open it full-screen on the venue's tablet)."""
    from ledger.checkin.service import build_checkin
    from ledger.db.engine import make_engine, upgrade_to_head

    settings = _settings()
    ctx = _chain()
    engine = make_engine(settings.db.url)
    _guarded(lambda: upgrade_to_head(engine))
    service = build_checkin(settings, engine, ctx.chain_id, ctx.deployment.ledger, ctx.client)
    link = _guarded(lambda: service.kiosk_link(activity_id, units))
    typer.echo(link.url)
    typer.echo(f"valid until {when(link.expires_at)}", err=True)


@activity_app.command("close")
def activity_close(activity_id: int, as_: AsOption = "region-admin") -> None:
    """Close an activity (region admin)."""
    ctx = _chain()
    _guarded(lambda: ctx.client.close_activity(ctx.operator(as_), activity_id))
    typer.echo(f"activity {activity_id} closed")


@activity_app.command("info")
def activity_info(activity_id: int, as_json: JsonFlag = False) -> None:
    """An activity as registered on chain."""
    ctx = _chain()
    info = _guarded(lambda: ctx.client.activity(activity_id))
    if info.region == 0:
        _fail(f"activity {activity_id} does not exist")
    data = {k: (("0x" + v.hex()) if isinstance(v, bytes) else v) for k, v in vars(info).items()}
    data["unit"] = info.unit.code
    _emit(data, as_json)


@app.command("record")
def record(
    region: RegionOption,
    activity: Annotated[int, typer.Option(help="activity id")],
    participants: Annotated[list[str], typer.Argument(help="participant addresses")],
    first_claim_id: Annotated[int, typer.Option(help="claim id of the first record (then +1 each)")] = 1,
    units: Annotated[int, typer.Option(min=1, max=65_535, help="hours or days each record carries")] = 1,
    as_: AsOption = "relayer",
) -> None:
    """Record a batch of contributions (issuer) and mint the activity's reward (× units) to each participant."""
    from ledger.chain.client import RecordInput

    ctx = _chain()
    batch = [RecordInput(p, activity, first_claim_id + i, units) for i, p in enumerate(participants)]
    result = _guarded(lambda: ctx.client.record_batch(ctx.operator(as_), region, batch))
    typer.echo(
        f"batch {result.batch_seq}: {result.count} records, {result.minted} coins minted, "
        f"{result.gas_per_record:.0f} gas per record, tx {ctx.client.tx_hash(result.receipt)}"
    )


@app.command("revoke")
def revoke(
    activity: Annotated[int, typer.Option(help="activity id")],
    participant: Annotated[str, typer.Option(help="participant address")],
    reason: Annotated[int, typer.Option(help="1 error, 2 not present, 3 duplicate person, 4 request, 5 other")],
    note: Annotated[str, typer.Option(help="explanation kept off chain; its keccak256 goes on chain")] = "",
    as_: AsOption = "region-admin",
) -> None:
    """Revoke a record (region admin); history is kept."""
    from eth_utils.crypto import keccak

    from ledger.chain.client import ZERO_HASH

    ctx = _chain()
    evidence = keccak(text=note) if note else ZERO_HASH
    event = _guarded(lambda: ctx.client.revoke(ctx.operator(as_), activity, participant, reason, evidence))
    typer.echo(f"revoked: {event['clawedBack']} coins clawed back, {event['shortfall']} already spent")


@app.command("balance")
def balance(
    address: str,
    region: Annotated[
        list[int] | None,
        typer.Option(parser=region_code, metavar="CODE", help="region code (repeatable; default: the demo regions)"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Coin balances of an address: spendable now, as stored, and what expires first (regions with expiry)."""
    from ledger.demo import DEMO_REGIONS
    from ledger.jst import date_of_epoch_day

    ctx = _chain()
    codes = region or [r.code for r in DEMO_REGIONS]

    def read() -> dict[str, dict[str, int | bool]]:
        holdings = {code: ctx.client.holding(address, code) for code in codes}
        return {
            jis_code(code): {
                "spendable": h.spendable,
                "stored": h.stored,
                "expiring": h.expiring,
                "expires_after_day": h.expires_after_day,
                "recorded": h.recorded,
            }
            for code, h in holdings.items()
        }

    found = _guarded(read)
    if as_json:
        _emit(found, True)
        return
    rows = [
        (
            region_text(int(code)),
            h["spendable"],
            h["stored"],
            h["expiring"] if h["expires_after_day"] else "-",
            date_of_epoch_day(int(h["expires_after_day"])).isoformat() if h["expires_after_day"] else "-",
            "yes" if h["recorded"] else "no",
        )
        for code, h in found.items()
    ]
    typer.echo(f"coins of {address} (JST days)")
    typer.echo(
        table(
            ("region", "spendable", "stored", "expiring", "expires after", "ever recorded"),
            rows,
            (False, True, True, True, False, False),
        )
    )


# -- projects and support ----------------------------------------------------------------------------


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

    ctx = _chain()
    metadata = _store_text(name, description, venue) if name or description or venue else ZERO_HASH
    project_id = _guarded(lambda: ctx.client.register_project(ctx.operator(as_), region, metadata))
    typer.echo(f"project {project_id} registered in region {region_text(region)}")


@project_app.command("edit")
def project_edit(
    project_id: int,
    name: Annotated[str | None, typer.Option(help="new name (default: keep the current one)")] = None,
    description: Annotated[str | None, typer.Option(help="new longer text (no personal data)")] = None,
    venue: Annotated[str | None, typer.Option(help="new place")] = None,
    as_: AsOption = "region-admin",
) -> None:
    """Change a project's name, description or venue (region admin): the text is kept in the
    database and its new hash committed on chain (ProjectMetadataChanged)."""
    ctx = _chain()
    info = _guarded(lambda: ctx.client.project(project_id))
    if info.region == 0:
        _fail(f"project {project_id} does not exist")
    operator = _guarded(lambda: ctx.operator(as_))
    _edit_text(
        f"project {project_id}",
        info.metadata_hash,
        name,
        description,
        venue,
        lambda metadata: ctx.client.set_project_metadata(operator, project_id, metadata),
    )


@project_app.command("close")
def project_close(project_id: int, as_: AsOption = "region-admin") -> None:
    """Close a project (region admin)."""
    ctx = _chain()
    _guarded(lambda: ctx.client.close_project(ctx.operator(as_), project_id))
    typer.echo(f"project {project_id} closed")


@app.command("support")
def support(
    project: Annotated[int, typer.Option(help="project id")],
    amount: Annotated[int, typer.Option(help="coins to spend")],
    keystore: Annotated[Path, typer.Option(help="the supporter's keystore file")],
    password_env: Annotated[
        str, typer.Option(help="environment variable holding the keystore password")
    ] = "SUPPORTER_PASSWORD",
    valid_minutes: Annotated[int, typer.Option(help="signature lifetime")] = 30,
    as_: AsOption = "relayer",
) -> None:
    """Sign a support request with the supporter's key and relay it (the supporter needs no ETH)."""
    import os

    from ledger.chain.accounts import load_keystore
    from ledger.chain.signing import SupportRequest, sign_support

    ctx = _chain()
    password = os.environ.get(password_env)
    if password is None:
        _fail(f"set {password_env} to the keystore password")
    supporter = _guarded(lambda: load_keystore(keystore, password or ""))
    client = ctx.client
    request = SupportRequest(
        supporter.address, project, amount, client.nonce(supporter.address), int(time.time()) + valid_minutes * 60
    )
    signature = sign_support(supporter, request, ctx.chain_id, client.address)
    receipt = _guarded(lambda: client.support_by_sig(ctx.operator(as_), request, signature))
    typer.echo(f"{supporter.address} supported project {project} with {amount} coins; tx {client.tx_hash(receipt)}")


@app.command("support-cancel")
def support_cancel(
    keystore: Annotated[Path, typer.Option(help="the supporter's keystore file")],
    password_env: Annotated[
        str, typer.Option(help="environment variable holding the keystore password")
    ] = "SUPPORTER_PASSWORD",
    valid_minutes: Annotated[int, typer.Option(help="signature lifetime")] = 30,
    as_: AsOption = "relayer",
) -> None:
    """Cancel a signed support that was not sent yet: the supporter signs the cancellation of their
    next nonce and the relayer submits it (a support signed with that nonce can never be used)."""
    import os

    from ledger.chain.accounts import load_keystore
    from ledger.chain.signing import CancelRequest, sign_cancel

    ctx = _chain()
    password = os.environ.get(password_env)
    if password is None:
        _fail(f"set {password_env} to the keystore password")
    supporter = _guarded(lambda: load_keystore(keystore, password or ""))
    client = ctx.client
    request = CancelRequest(supporter.address, client.nonce(supporter.address), int(time.time()) + valid_minutes * 60)
    signature = sign_cancel(supporter, request, ctx.chain_id, client.address)
    receipt = _guarded(lambda: client.cancel_nonce_by_sig(ctx.operator(as_), request, signature))
    typer.echo(f"{supporter.address}: nonce {request.nonce} cancelled; tx {client.tx_hash(receipt)}")


# -- keys -------------------------------------------------------------------------------------------------


@keys_app.command("new")
def keys_new(
    path: Annotated[Path, typer.Argument(help="keystore file to create, e.g. keys/relayer.json")],
    password_env: Annotated[str, typer.Option(help="environment variable holding the password")] = "KEYSTORE_PASSWORD",
) -> None:
    """Create a new key in an encrypted keystore file (mode 600); prints its address only."""
    import os

    from eth_account import Account

    from ledger.chain.accounts import write_keystore

    password = os.environ.get(password_env)
    if not password:
        _fail(f"set {password_env} to the password to encrypt with")
    if path.exists():
        _fail(f"{path} exists; refusing to overwrite a key")
    account = Account.create()
    write_keystore(path, account, password or "")
    typer.echo(f"{account.address} -> {path}")


# -- database and indexer -----------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations to TSUNAGARI_DB__URL."""
    from ledger.db.engine import make_engine, upgrade_to_head

    revision = _guarded(lambda: upgrade_to_head(make_engine(_settings().db.url)))
    typer.echo(f"database at revision {revision}")


def _until_chain(stop: Any, build: Callable[[], T], who: str) -> T | None:
    """``build()`` what needs the chain node, for a long-running loop that may start while the node
    is down (a node restarting, a supervisor starting everything at once): instead of exiting,
    say so in one line and try again after 1, 2, 4 … 10 s, until it works or ``stop`` is set
    (then None). Any other error still ends the command with its one-line message."""
    from ledger.errors import ChainUnavailable

    delay = 1.0
    while True:
        try:
            return build()
        except ChainUnavailable as exc:
            typer.echo(f"{who}: waiting for the chain node ({exc}); trying again in {delay:.0f} s", err=True)
        except TsunagariError as exc:
            _fail(str(exc))
        if stop.wait(delay):
            return None
        delay = min(delay * 2, 10.0)


def _indexer() -> Any:
    from ledger.indexer.service import build_indexer

    ctx = _chain()
    return _guarded(lambda: build_indexer(ctx))


@index_app.command("backfill")
def index_backfill() -> None:
    """Index every block up to the current head (minus confirmations), refresh derived tables, exit."""
    service = _indexer()
    started = time.monotonic()
    with service.indexer:
        logs = _guarded(service.indexer.backfill)
    typer.echo(f"indexed {logs} logs in {time.monotonic() - started:.1f} s")


@index_app.command("run")
def index_run() -> None:
    """Follow the chain: index new blocks as they arrive, until interrupted (Ctrl-C)."""
    import logging
    import signal
    import threading

    from ledger.chain.context import open_chain
    from ledger.indexer.service import build_indexer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        service = _until_chain(stop, lambda: build_indexer(open_chain(_settings())), "indexer")
    except KeyboardInterrupt:
        stop.set()
        service = None
    if service is None:
        typer.echo("indexer stopped")
        return
    typer.echo("indexer following the chain (Ctrl-C to stop)")
    try:
        with service.indexer:
            _guarded(lambda: service.indexer.follow(stop))
    except KeyboardInterrupt:
        stop.set()
    typer.echo("indexer stopped")


@index_app.command("status")
def index_status(as_json: JsonFlag = False) -> None:
    """Head, checkpoint, lag, pending derived work, undecodable logs and the last error."""
    from ledger import queries
    from ledger.db.engine import current_revision, make_engine

    settings = _settings()
    engine = make_engine(settings.db.url)
    try:
        migrated = current_revision(engine) is not None
    except Exception as exc:  # noqa: BLE001 - any database problem is one line for the operator
        _fail(f"cannot read the index at {settings.db.url}: {exc}")
    if not migrated:
        _fail("the database has no schema yet: run `tsunagari db upgrade` or `tsunagari index backfill`")
    with engine.connect() as conn:
        status = queries.index_status(conn)
    head: int | None = None
    head_time: int | None = None
    try:
        ctx = _chain()
        block = ctx.w3.eth.get_block("latest")
        head, head_time = int(block["number"]), int(block["timestamp"])
    except (typer.Exit, Exception):  # noqa: BLE001 - status must work with the node down
        head = None
    target = None if head is None else head - settings.chain.confirmations
    data: dict[str, Any] = {
        "head": head,
        "confirmations": settings.chain.confirmations,
        "dirty_ties": status.dirty_ties,
        "dirty_days": status.dirty_days,
        "undecodable_logs": status.undecodable_logs,
        "checkpoints": [
            {
                "chain_id": c.chain_id,
                "contract": c.contract,
                "block": c.block_number,
                "lag_blocks": None if target is None else max(0, target - c.block_number),
                "lag_seconds": None if head_time is None else max(0, head_time - c.block_timestamp),
                "last_error": c.last_error,
            }
            for c in status.checkpoints
        ],
        "services": [
            {
                "service": h.service,
                "pid": h.pid,
                "silent_s": h.silent_for(),
                "progress_at": h.progress_at,
                "errors": h.errors,
                "last_error": h.last_error,
                "last_error_at": h.last_error_at,
            }
            for h in status.services
        ],
    }
    if as_json:
        _emit(data, True)
        return
    typer.echo(f"head: {head if head is not None else 'unreachable'} (confirmations {settings.chain.confirmations})")
    if not status.checkpoints:
        typer.echo("nothing indexed yet")
    for c in data["checkpoints"]:
        typer.echo(
            f"checkpoint block {c['block']} of {c['contract']}: lag {c['lag_blocks']} blocks, {c['lag_seconds']} s"
        )
        if c["last_error"]:
            typer.echo(f"last error: {c['last_error']}")
    typer.echo(f"derived work pending: {status.dirty_ties} ties, {status.dirty_days} days")
    typer.echo(f"undecodable logs: {status.undecodable_logs}")
    for h in status.services:
        typer.echo(f"{h.service}: last heard {h.silent_for()} s ago (pid {h.pid}), {h.errors} errors since its start")
        if h.last_error:
            typer.echo(f"  last error at {when(h.last_error_at)}: {h.last_error}")


# -- researcher export -----------------------------------------------------------------------------------


@export_app.callback(invoke_without_command=True)
def export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="folder to create (must not exist or be empty)")] = None,
    format_: Annotated[str, typer.Option("--format", help="csv, parquet or jsonl")] = "parquet",
    from_block: Annotated[int | None, typer.Option(help="first block (inclusive)")] = None,
    to_block: Annotated[int | None, typer.Option(help="last block (inclusive)")] = None,
    from_date: Annotated[str | None, typer.Option(help="first JST day, YYYY-MM-DD")] = None,
    to_date: Annotated[str | None, typer.Option(help="last JST day, YYYY-MM-DD")] = None,
    region: Annotated[list[str] | None, typer.Option(help="region's JIS code to keep, e.g. 01634 (repeatable)")] = None,
    table: Annotated[list[str] | None, typer.Option(help="table to export (repeatable; default all)")] = None,
    raw_addresses: Annotated[
        bool, typer.Option("--raw-addresses", help="export people's addresses unhashed (operator's decision)")
    ] = False,
    salt_env: Annotated[
        str | None, typer.Option(help="environment variable with a hex salt to reuse (joinable exports)")
    ] = None,
    k: Annotated[int, typer.Option(help="small-cell threshold of the aggregate tables")] = 5,
    partition_by_month: Annotated[bool, typer.Option(help="one file per JST month for large tables")] = False,
) -> None:
    """Export the indexed ledger as a verifiable dataset (`tsunagari export verify` checks it)."""
    if ctx.invoked_subcommand is not None:
        return
    import os
    from datetime import date

    from ledger.db.engine import make_engine
    from ledger.export import ExportOptions, export_dataset
    from ledger.indexer.rpc import json_rpc_for

    if out is None:
        _fail("--out FOLDER is required")
    salt = None
    if salt_env:
        value = os.environ.get(salt_env)
        if not value:
            _fail(f"set {salt_env} to the hex salt")
        salt = _guarded(lambda: bytes.fromhex(value or ""))
    options = ExportOptions(
        format=format_,  # type: ignore[arg-type]
        from_block=from_block,
        to_block=to_block,
        from_date=_guarded(lambda: date.fromisoformat(from_date)) if from_date else None,
        to_date=_guarded(lambda: date.fromisoformat(to_date)) if to_date else None,
        regions=tuple(_guarded(lambda: [parse_jis_code(r) for r in region])) if region else None,
        tables=tuple(table) if table else None,
        pseudonymise=not raw_addresses,
        salt=salt,
        k=k,
        partition_by_month=partition_by_month,
    )
    chain = _chain()
    rpc_url = None if chain.settings.chain.backend == "pyevm" else chain.settings.chain.rpc_url
    rpc = json_rpc_for(chain.w3, rpc_url)
    try:
        engine = make_engine(_settings().db.url)
        result = _guarded(lambda: export_dataset(engine, chain.deployment, options, out, rpc=rpc))  # type: ignore[arg-type]
    finally:
        rpc.close()
    typer.echo(f"exported {sum(result.row_counts.values())} rows into {result.path}")
    for name, rows in result.row_counts.items():
        typer.echo(f"  {name}: {rows}")
    if result.salt_hex:
        typer.echo(f"salt (keep it secret; it is not in the export): {result.salt_hex}", err=True)


@export_app.command("verify")
def export_verify(
    folder: Annotated[Path, typer.Argument(help="an export folder")],
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL of the chain (default chain.rpc_url)")] = None,
    salt_env: Annotated[
        str | None, typer.Option(help="environment variable with the export's hex salt (checks people's fields)")
    ] = None,
) -> None:
    """Check an export's files against its manifest and every row against the chain's logs."""
    import os

    from ledger.export import verify_export
    from ledger.indexer.rpc import HttpJsonRpc

    salt = None
    if salt_env:
        value = os.environ.get(salt_env)
        if not value:
            _fail(f"set {salt_env} to the hex salt")
        salt = _guarded(lambda: bytes.fromhex(value or ""))
    client = HttpJsonRpc(rpc or _settings().chain.rpc_url)
    try:
        report = _guarded(lambda: verify_export(folder, client, salt))
    finally:
        client.close()
    for line in report.lines():
        typer.echo(line)
    checked = ", ".join(f"{n} {name}" for name, n in report.checked.items())
    if not report.ok:
        typer.echo(f"FAILED: {report.discrepancy_count} discrepancies ({checked})", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"OK: every row is on chain and nothing in the range is missing ({checked})")
    if not report.personal_fields_checked:
        typer.echo("people's fields were not checked (no salt given); counts and every other field were")


# -- relayer --------------------------------------------------------------------------------------------


@app.command("serve")
def serve(
    relay: Annotated[bool, typer.Option(help="run the relayer in this process")] = True,
    index: Annotated[bool, typer.Option(help="run the indexer in this process")] = True,
    access_log: Annotated[bool, typer.Option(help="log every request")] = False,
) -> None:
    """API, relayer and indexer in one process (a small deployment; the demo runs this)."""
    import logging

    from ledger.db.engine import make_engine, upgrade_to_head
    from scripts.serve import serve_all

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = _settings()
    _guarded(lambda: upgrade_to_head(make_engine(settings.db.url)))
    typer.echo(f"serving http://{settings.api.host}:{settings.api.port} (Ctrl-C to stop)")
    serve_all(settings, relay=relay, index=index, access_log=access_log)


@app.command("simulate-checkins")
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

    result = _guarded(lambda: simulate(kiosk_url, people, concurrency=concurrency, seed=seed, wait_s=wait))
    summary = result.summary()
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    typer.echo(f"{people} phones scanned the kiosk: {summary['answers']}")
    typer.echo(f"accepted in p50 {summary['accept_p50_ms']} ms, p95 {summary['accept_p95_ms']} ms")
    if wait > 0:
        typer.echo(f"final status: {summary['final']}")
        typer.echo(
            f"scan → confirmed on chain: p50 {summary['scan_to_confirmed_p50_s']} s, "
            f"p95 {summary['scan_to_confirmed_p95_s']} s"
        )


@app.command("relay")
def relay(
    once: Annotated[bool, typer.Option("--once", help="drain the outbox, wait for every receipt, then exit")] = False,
) -> None:
    """Relay accepted claims (recordBatch) and signed supports (supportBySig) to the chain."""
    import logging
    import signal
    import threading

    from ledger.chain.context import open_chain
    from ledger.db.engine import make_engine, upgrade_to_head
    from ledger.relay import Relayer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = _settings()
    engine = make_engine(settings.db.url)
    _guarded(lambda: upgrade_to_head(engine))
    if once:
        ctx = _chain()
        relayer = _guarded(lambda: Relayer(settings, engine, ctx))
        report = _guarded(relayer.run_once)
        typer.echo(f"claims: {report.claims}; supports: {report.supports}")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        started = _until_chain(stop, lambda: Relayer(settings, engine, open_chain(settings)), "relayer")
    except KeyboardInterrupt:
        stop.set()
        started = None
    if started is None:
        typer.echo("relayer stopped")
        return
    relayer = started
    typer.echo(f"relayer {relayer.account.address} running (Ctrl-C to stop)")
    try:
        _guarded(lambda: relayer.run(stop))
    except KeyboardInterrupt:
        stop.set()
    typer.echo("relayer stopped")


# -- API ------------------------------------------------------------------------------------------------


@api_app.command("serve")
def api_serve(
    host: Annotated[str | None, typer.Option(help="listen address (default api.host)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (default api.port)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request")] = True,
) -> None:
    """Serve the HTTP API (pages, check-in, dashboards, export) with uvicorn after migrating the database."""
    import uvicorn

    from api.app import create_serving_app
    from ledger.db.engine import make_engine, upgrade_to_head

    settings = _settings()
    _guarded(lambda: upgrade_to_head(make_engine(settings.db.url)))
    host, port = host or settings.api.host, port or settings.api.port
    if workers > 1:  # each worker builds its own app from the same environment
        uvicorn.run(
            "api.app:create_serving_app", factory=True, host=host, port=port, workers=workers, access_log=access_log
        )
    else:
        uvicorn.run(create_serving_app(settings), host=host, port=port, log_level="info", access_log=access_log)


@api_app.command("key-create")
def api_key_create(
    role: Annotated[str, typer.Option(help="operator (one region), researcher or platform")],
    label: Annotated[str, typer.Option(help="who or what the key is for")],
    region: Annotated[
        int | None, typer.Option(parser=region_code, metavar="CODE", help="region the key is scoped to")
    ] = None,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    from ledger.auth import create_api_key
    from ledger.db.engine import make_engine, upgrade_to_head, write_transaction

    engine = make_engine(_settings().db.url)
    _guarded(lambda: upgrade_to_head(engine))
    with write_transaction(engine) as conn:
        key, credential = _guarded(lambda: create_api_key(conn, role, label, region))  # type: ignore[arg-type]
    typer.echo(key)
    typer.echo(
        f"key {credential.key_id}: {credential.role}, region "
        f"{region_text(credential.region) if credential.region else 'all'} (store it now)",
        err=True,
    )


@api_app.command("key-list")
def api_key_list(as_json: JsonFlag = False) -> None:
    """Every API key (ids, roles, scopes; never secrets)."""
    from ledger.auth import list_api_keys
    from ledger.db.engine import make_engine

    with make_engine(_settings().db.url).connect() as conn:
        keys = _guarded(lambda: list_api_keys(conn))
    rows = [
        {
            "key_id": c.key_id,
            "label": c.label,
            "role": c.role,
            "region": None if c.region is None else jis_code(c.region),
            "created_at": t,
            "revoked_at": r,
        }
        for c, t, r in keys
    ]
    if as_json:
        _emit(rows, True)
        return
    typer.echo(
        table(
            ("key", "label", "role", "region", "created", "revoked"),
            [
                (
                    c.key_id,
                    c.label,
                    c.role,
                    region_text(c.region) if c.region else "all",
                    when(t),
                    when(None if r is None else int(r)),
                )
                for c, t, r in keys
            ],
        )
    )


@api_app.command("key-revoke")
def api_key_revoke(key_id: str) -> None:
    """Revoke an API key by its id."""
    from ledger.auth import revoke_api_key
    from ledger.db.engine import make_engine, write_transaction

    with write_transaction(make_engine(_settings().db.url)) as conn:
        revoked = revoke_api_key(conn, key_id)
    if not revoked:
        _fail(f"no live key {key_id}")
    typer.echo(f"key {key_id} revoked")


# -- demo -------------------------------------------------------------------------------------------------


demo_app = typer.Typer(
    help="The main job: a devnet served at once while a year of regional ties is seeded and indexed.",
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
    """The main job: devnet up, ledger deployed, the kiosk, pages, console and API served at once with
    the relayer and the indexer, while a year of regional ties is seeded in the background on a fresh
    devnet (Ctrl-C stops; the devnet keeps running). With --no-serve or --stop: seed in the foreground,
    index, print the figures and return."""
    if typer_ctx.invoked_subcommand is not None:
        return
    if serve and not stop:
        from scripts.demo_cli import serve_demo

        serve_demo(as_json=as_json)
        return
    settings = _settings()
    _run_demo(settings.demo.seed, settings.demo.people, settings.demo.seed_year, stop=stop, as_json=as_json)


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
        as_json=as_json,
        require_seed=True,
    )


def _run_demo(
    seed: int, people: int, seed_year: bool, *, stop: bool, as_json: bool, require_seed: bool = False
) -> None:
    from ledger.chain.deploy import deploy_ledger, save_deployment
    from ledger.chain.devnet import ManagedDevnet
    from ledger.db.engine import make_engine, upgrade_to_head
    from ledger.demo import index_demo, setup_demo, summarise
    from ledger.demo_seed.catalogue import SEED_REGIONS
    from ledger.demo_seed.run import catch_up_chain_time, genesis_time_for, seed_state
    from ledger.errors import DeploymentNotFound
    from ledger.jst import today
    from scripts.demo_cli import restart_unfinished_year, seed_in_foreground

    settings = _settings()
    node: ManagedDevnet | None = None
    if settings.chain.backend == "anvil":
        node = _managed()
        restart_unfinished_year(node, settings)
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
        seeded = _guarded(lambda: seed_in_foreground(ctx, engine, settings, seed=seed, people=people))
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


def main() -> None:
    """Entry point of the ``tsunagari`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
