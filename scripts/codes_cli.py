"""``tsunagari codes`` and ``tsunagari presence``: single-use claim codes and check-in / check-out
from the command line, as the console does them (:mod:`ledger.console.codes`,
:mod:`ledger.console.presence`), acting as the CLI operator (``Actor.cli()``: every region) and
audited the same way.

The commands read activities from the index (and from the chain when the node answers, for an
activity the indexer has not reached); with the node down they use the deployments file, as the
API does. Times are shown in Japan time.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ledger.errors import TsunagariError
from ledger.jst import format_datetime
from scripts.cli_common import fail as _fail
from scripts.format_cli import table

if TYPE_CHECKING:
    from ledger.checkin.service import CheckinService
    from ledger.staff.roles import Actor

codes_app = typer.Typer(help="Single-use claim codes (ふるさと納税 letters, online events).", no_args_is_help=True)
presence_app = typer.Typer(help="Check-in and check-out at hour- and day-based activities.", no_args_is_help=True)

__all__ = ["codes_app", "presence_app"]

T = TypeVar("T")


def _guarded(action: Callable[[], T]) -> T:
    from ledger.checkin.errors import CheckinRejected

    try:
        return action()
    except CheckinRejected as exc:
        _fail(f"{exc.code}: {exc.message}")
    except (TsunagariError, ValueError) as exc:
        _fail(str(exc))
    raise AssertionError("unreachable")


def _service() -> CheckinService:
    """The check-in service of this deployment (CheckinService) over the configured database."""
    from api.deps import offline_deployment
    from ledger.chain.context import open_chain
    from ledger.checkin.service import build_checkin
    from ledger.db.engine import make_engine, upgrade_to_head
    from ledger.errors import ChainUnavailable
    from ledger.settings import get_settings

    settings = get_settings()
    engine = make_engine(settings.db.url)
    _guarded(lambda: upgrade_to_head(engine))
    try:
        ctx = open_chain(settings)
        chain_id, ledger, client = ctx.chain_id, _guarded(lambda: ctx.deployment).ledger, ctx.client
    except ChainUnavailable:  # the index and the deployments file are enough for indexed activities
        deployment = _guarded(lambda: offline_deployment(settings))
        chain_id, ledger, client = deployment.chain_id, deployment.ledger, None
    return build_checkin(settings, engine, chain_id, ledger, client)


def _actor() -> Actor:
    from ledger.staff.roles import Actor

    return Actor.cli()


def _jst(timestamp: int | None) -> str:
    """``2026-12-07 21:05 JST`` (ledger.jst); ``-`` for none."""
    return "-" if timestamp is None else format_datetime(int(timestamp), "en")


def _write_csv(body: bytes, out: Path | None, default_name: str) -> Path:
    target = out or Path(default_name)
    if str(target) == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return target
    target.write_bytes(body)
    return target


# -- codes ----------------------------------------------------------------------------------------


@codes_app.command("generate")
def codes_generate(
    activity_id: Annotated[int, typer.Argument(help="the activity the codes record")],
    count: Annotated[int, typer.Option("--count", min=1, max=10_000, help="how many codes")],
    expires: Annotated[str, typer.Option("--expires", help="last day the codes work, YYYY-MM-DD (Japan time)")],
    label: Annotated[str, typer.Option(help="for staff, e.g. '2026年12月 お礼状'")] = "",
    units: Annotated[
        int | None, typer.Option(min=1, max=65_535, help="hours or days each code records (default 1)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="where to write the CSV ('-': stdout; default codes-<batch>.csv)")
    ] = None,
) -> None:
    """Generate single-use claim codes and write their mail-merge CSV (UTF-8 with BOM)."""
    from ledger.console import codes as work

    try:
        day = date.fromisoformat(expires)
    except ValueError:
        _fail(f"--expires is a day like 2026-12-31, not {expires!r}")
        return
    service = _service()
    actor = _actor()
    activity = _guarded(lambda: service.directory.get(activity_id))
    expires_at = work.expiry_of_day(day, activity)
    batch = _guarded(
        lambda: work.generate(
            service.engine, actor, service, activity.region, activity_id, count, expires_at, label, units, "cli"
        )
    )
    sheet = _guarded(
        lambda: work.codes_for_print(
            service.engine, actor, service, activity.region, batch.batch_id, purpose="csv", client="cli"
        )
    )
    target = _write_csv(work.codes_csv(sheet), out, work.csv_filename(sheet)[1])
    typer.echo(
        f"batch {batch.batch_id}: {batch.count} codes for activity {activity_id} ({activity.name}), "
        f"{batch.units} unit(s) each, valid until {_jst(batch.expires_at)}",
        err=str(target) == "-",
    )
    if str(target) != "-":
        typer.echo(f"CSV written to {target} (the codes are bearer tokens: keep the file safe)")


@codes_app.command("list")
def codes_list(activity_id: Annotated[int, typer.Argument(help="the activity")]) -> None:
    """An activity's batches: counts by state, expiry, label (never the codes)."""
    from ledger.console import codes as work

    service = _service()
    activity = _guarded(lambda: service.directory.get(activity_id))
    batches = _guarded(lambda: work.list_batches(service.engine, _actor(), activity.region, activity_id))
    if not batches:
        typer.echo(f"no codes for activity {activity_id}")
        return
    typer.echo(
        table(
            ("batch", "made", "codes", "unused", "used", "void", "expired", "valid until", "label"),
            [
                (
                    b.batch_id,
                    _jst(b.created_at_ms // 1000),
                    b.count,
                    b.counts["issued"],
                    b.counts["redeemed"],
                    b.counts["voided"],
                    b.counts["expired"],
                    _jst(b.expires_at),
                    b.label or "-",
                )
                for b in batches
            ],
            (True, False, True, True, True, True, True, False, False),
        )
    )


@codes_app.command("csv")
def codes_csv(
    batch_id: Annotated[int, typer.Argument(help="the batch")],
    out: Annotated[Path, typer.Option("--out", help="the CSV file to write ('-': stdout)")],
    unused: Annotated[bool, typer.Option("--unused", help="only the codes still unused")] = False,
) -> None:
    """Write a batch's codes as the mail-merge CSV again (audited: the codes are bearer tokens)."""
    from ledger.console import codes as work

    service = _service()
    _, region = _guarded(lambda: work.batch_place(service.engine, batch_id))
    sheet = _guarded(
        lambda: work.codes_for_print(
            service.engine, _actor(), service, region, batch_id, purpose="csv", only_unused=unused, client="cli"
        )
    )
    target = _write_csv(work.codes_csv(sheet), out, "")
    if str(target) != "-":
        typer.echo(f"{len(sheet.codes)} codes of batch {batch_id} written to {target}")


@codes_app.command("void")
def codes_void(batch_id: Annotated[int, typer.Argument(help="the batch")]) -> None:
    """Void a batch's unused codes (used ones keep their records)."""
    from ledger.console import codes as work

    service = _service()
    _, region = _guarded(lambda: work.batch_place(service.engine, batch_id))
    voided = _guarded(lambda: work.void(service.engine, _actor(), region, batch_id, "cli"))
    typer.echo(f"batch {batch_id}: {voided} codes voided")


# -- presence -------------------------------------------------------------------------------------


def _sessions_table(sessions: list[Any], unit: str) -> str:
    """Check-ins, one row each: when they arrived, left (or expire), and what was measured and recorded."""
    return table(
        ("check-in", "state", "participant", "arrived", "left / expires", "measured", f"recorded ({unit})"),
        [
            (
                s.session_id,
                s.state,
                s.participant,
                _jst(s.opened_at),
                _jst(s.closed_at) if s.closed_at else f"expires {_jst(s.expires_at)}",
                "-" if s.measured_units is None else s.measured_units,
                "-" if s.units is None else s.units,
            )
            for s in sessions
        ],
        (True, False, False, False, False, True, True),
    )


@presence_app.command("list")
def presence_list(activity_id: Annotated[int, typer.Argument(help="an hour- or day-based activity")]) -> None:
    """Who is checked in, check-outs awaiting staff, expired check-ins, and recent ends."""
    from ledger.console import presence as work
    from ledger.taxonomy import RewardUnit

    service = _service()
    activity = _guarded(lambda: service.directory.get(activity_id))
    board = _guarded(lambda: work.board(service.engine, _actor(), service, activity.region, activity_id))
    unit = "hours" if activity.unit == RewardUnit.HOUR else "days"
    rule = board.rule
    typer.echo(
        f"rule: {rule.rounding}, at least {rule.min_units}, at most {rule.cap_units} {unit}, "
        f"open check-ins expire after {rule.open_expiry_s // 3600} h"
        f"{', staff confirm each check-out' if rule.staff_confirms else ''}"
    )
    for title, rows in (
        ("present", board.open),
        ("awaiting staff", board.awaiting),
        ("expired", board.expired),
        ("recent", board.ended),
    ):
        typer.echo(f"{title}: {len(rows)}")
        if rows:
            typer.echo(_sessions_table(rows, unit))


@presence_app.command("close")
def presence_close(
    session_id: Annotated[int, typer.Argument(help="the check-in (see `presence list`)")],
    units: Annotated[int | None, typer.Option(help="hours or days to record (default: the measure)")] = None,
) -> None:
    """Record a check-in nobody checked out, or confirm one awaiting staff (audited)."""
    from ledger.console import presence as work

    service = _service()
    activity_id, region = _guarded(lambda: work.session_place(service.engine, session_id))
    closed = _guarded(
        lambda: work.close(service.engine, _actor(), service, region, activity_id, session_id, units, "cli")
    )
    typer.echo(
        f"check-in {session_id} recorded: {closed.units} unit(s) for {closed.participant} (claim {closed.claim_id})"
    )


@presence_app.command("cancel")
def presence_cancel(session_id: Annotated[int, typer.Argument(help="the check-in")]) -> None:
    """End a check-in without a record (audited)."""
    from ledger.console import presence as work

    service = _service()
    activity_id, region = _guarded(lambda: work.session_place(service.engine, session_id))
    _guarded(lambda: work.cancel(service.engine, _actor(), service, region, activity_id, session_id, "cli"))
    typer.echo(f"check-in {session_id} cancelled")


@presence_app.command("rule")
def presence_rule(
    activity_id: Annotated[int, typer.Argument(help="an hour- or day-based activity")],
    rounding: Annotated[str | None, typer.Option(help="hours: down, nearest or up")] = None,
    min_units: Annotated[int | None, typer.Option("--min", help="fewer units record nothing")] = None,
    cap_units: Annotated[int | None, typer.Option("--cap", help="most units one check-in records")] = None,
    expiry_hours: Annotated[int | None, typer.Option("--expiry-hours", help="open check-ins expire after")] = None,
    staff_confirms: Annotated[
        bool | None, typer.Option("--staff-confirms/--no-staff-confirms", help="staff confirm each check-out")
    ] = None,
) -> None:
    """Show an activity's rule, or change the parts given (audited)."""
    from dataclasses import replace

    from ledger.checkin import presence as core
    from ledger.console import presence as work

    service = _service()
    activity = _guarded(lambda: service.directory.get(activity_id))
    _guarded(lambda: work.activity_of(service, activity.region, activity_id))
    with service.engine.connect() as conn:
        rule = core.load_rule(conn, activity)
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "rounding": rounding,
            "min_units": min_units,
            "cap_units": cap_units,
            "open_expiry_s": None if expiry_hours is None else expiry_hours * 3600,
            "staff_confirms": staff_confirms,
        }.items()
        if v is not None
    }
    if changes:
        rule = _guarded(
            lambda: work.save_rule(
                service.engine, _actor(), service, activity.region, activity_id, replace(rule, **changes), "cli"
            )
        )
    typer.echo(
        f"activity {activity_id}: rounding {rule.rounding}, min {rule.min_units}, cap {rule.cap_units}, "
        f"open check-ins expire after {rule.open_expiry_s // 3600} h, staff confirm: "
        f"{'yes' if rule.staff_confirms else 'no'}"
    )
