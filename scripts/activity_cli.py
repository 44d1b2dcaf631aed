"""``tsunagari activity``: activities that people take part in (on chain), their text and kiosk."""

from __future__ import annotations

import contextlib
import time
from typing import Annotated

import typer

from ledger.municipalities import jis_code
from ledger.settings import get_settings
from scripts.cli_common import AsOption, JsonFlag, chain, emit, fail, guarded
from scripts.format_cli import RegionOption, region_text, when
from scripts.metadata_cli import NewDescription, NewName, NewVenue, edit_registered, store_text

activity_app = typer.Typer(help="Activities that people take part in.", no_args_is_help=True)

__all__ = ["activity_app"]


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

    ctx = chain()
    # "now" is the chain's now: a devnet clock a little behind wall-clock time would refuse the first record
    start = starts if starts is not None else min(int(time.time()), int(ctx.w3.eth.get_block("latest")["timestamp"]))
    kind_code = guarded(lambda: ContributionKind(kind))
    reward_unit = guarded(lambda: RewardUnit.of_code(unit))
    metadata = store_text(name, description, venue) if name or description or venue else ZERO_HASH
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
    activity_id = guarded(lambda: ctx.client.register_activity(ctx.operator(as_), spec))
    typer.echo(f"activity {activity_id} registered in region {region_text(region)}")


@activity_app.command("edit")
def activity_edit(
    activity_id: int,
    name: NewName = None,
    description: NewDescription = None,
    venue: NewVenue = None,
    as_: AsOption = "region-admin",
) -> None:
    """Change an activity's name, description or venue (region admin): the text is kept in the
    database and its new hash committed on chain (ActivityMetadataChanged)."""
    ctx = chain()
    edit_registered(
        f"activity {activity_id}",
        guarded(lambda: ctx.client.activity(activity_id)),
        name,
        description,
        venue,
        lambda metadata: ctx.client.set_activity_metadata(ctx.operator(as_), activity_id, metadata),
    )


@activity_app.command("designate")
def activity_designate(
    activity_id: int,
    undo: Annotated[bool, typer.Option("--undo", help="remove the designation instead")] = False,
    as_: AsOption = "region-admin",
) -> None:
    """Mark an activity as a designated 担い手活動 (region admin), before it starts only."""
    ctx = chain()
    guarded(lambda: ctx.client.set_activity_designated(ctx.operator(as_), activity_id, not undo))
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

    settings = get_settings()
    ctx = chain()
    engine = make_engine(settings.db.url)
    guarded(lambda: upgrade_to_head(engine))
    service = build_checkin(settings, engine, ctx.chain_id, ctx.deployment.ledger, ctx.client)
    link = guarded(lambda: service.kiosk_link(activity_id, units))
    typer.echo(link.url)
    typer.echo(f"valid until {when(link.expires_at)}", err=True)


@activity_app.command("close")
def activity_close(activity_id: int, as_: AsOption = "region-admin") -> None:
    """Close an activity (region admin)."""
    ctx = chain()
    guarded(lambda: ctx.client.close_activity(ctx.operator(as_), activity_id))
    typer.echo(f"activity {activity_id} closed")


@activity_app.command("info")
def activity_info(activity_id: int, as_json: JsonFlag = False) -> None:
    """An activity as registered on chain."""
    ctx = chain()
    info = guarded(lambda: ctx.client.activity(activity_id))
    if info.region == 0:
        fail(f"activity {activity_id} does not exist")
    data = {k: (("0x" + v.hex()) if isinstance(v, bytes) else v) for k, v in vars(info).items()}
    data["unit"] = info.unit.code
    if as_json:
        emit({**data, "region": jis_code(info.region)}, True)
        return
    from ledger.taxonomy import KIND_LABELS, ContributionKind

    with contextlib.suppress(ValueError, KeyError):  # a kind this version does not name stays a number
        data["kind"] = f"{info.kind} {KIND_LABELS[ContributionKind(info.kind)][0]}"
    emit(data, False)
