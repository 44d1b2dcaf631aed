"""How each event becomes rows: one handler per ``"Contract:Event"``, no RPC calls, no I/O.

A handler receives the decoded arguments and the log's context, and tells the :class:`Sink` which
rows to write (event columns only: the sink adds the provenance) and which derived keys became
dirty. Ordering, transactions, checkpoints, replays and reorgs are the runner's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.chain.decoding import DecodeError, EventDecoder
from ledger.db import models
from ledger.ties import jst_date

__all__ = ["LogContext", "Sink", "Handler", "HANDLERS", "EVENT_TABLE", "TABLE_COLUMNS", "jst_day", "apply_log"]


def jst_day(timestamp: int) -> int:
    """The JST calendar day of ``timestamp`` as ``YYYYMMDD``."""
    day = jst_date(timestamp)
    return day.year * 10_000 + day.month * 100 + day.day


@dataclass
class LogContext:
    """What a handler may know about the log besides its arguments."""

    block_number: int
    timestamp: int
    day: int  # JST YYYYMMDD of the block


class Sink(Protocol):
    def row(self, table: str, values: tuple[Any, ...]) -> None:
        """Write a row of ``table``: its event columns in declaration order (provenance is added)."""

    def tie(self, participant: str, region: int) -> None:
        """The participant's tie with the region must be recomputed."""

    def day(self, region: int, day: int) -> None:
        """The region's aggregates for ``day`` must be recomputed."""

    def record_day(self, activity_id: int, participant: str) -> None:
        """The aggregates of the day the participant's record of the activity was made are dirty."""


Handler = Callable[[dict[str, Any], LogContext, Sink], None]


def _region_registered(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("region_registrations", (a["region"], a["admin"], a["coin"], a["name"], a["symbol"]))


def _region_pause_set(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("region_pause_changes", (a["region"], a["paused"], a["account"]))


def _region_transfers_set(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("region_transfer_settings", (a["region"], a["enabled"], a["account"]))


def _region_role(granted: bool) -> Handler:
    def handle(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
        out.row("region_role_changes", (a["region"], a["roleKind"], a["account"], a["sender"], granted))

    return handle


def _role(granted: bool) -> Handler:
    def handle(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
        out.row("role_changes", (a["role"], a["account"], a["sender"], granted))

    return handle


def _role_admin_changed(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("role_admin_changes", (a["role"], a["previousAdminRole"], a["newAdminRole"]))


def _pause(paused: bool) -> Handler:
    def handle(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
        out.row("pause_changes", (a["account"], paused))

    return handle


def _domain_changed(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("domain_changes", ())


def _activity_registered(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    kind = a["kind"]
    out.row(
        "activity_registrations",
        (
            a["activityId"],
            a["region"],
            kind,
            kind // 10,
            a["reward"],
            a["startsAt"],
            a["endsAt"],
            a["capacity"],
            a["metadataHash"],
            a["admin"],
        ),
    )


def _activity_closed(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("activity_closures", (a["activityId"], a["region"], a["admin"]))


def _contribution_recorded(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    participant, region, kind = a["participant"], a["region"], a["kind"]
    out.row(
        "contributions",
        (participant, a["activityId"], region, kind, kind // 10, a["amount"], a["claimId"], a["issuer"], ctx.day),
    )
    out.tie(participant, region)
    out.day(region, ctx.day)


def _batch_recorded(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("batches", (a["region"], a["issuer"], a["batchSeq"], a["count"], a["minted"]))


def _contribution_revoked(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    participant, region = a["participant"], a["region"]
    out.row(
        "revocations",
        (
            participant,
            a["activityId"],
            region,
            a["reason"],
            a["clawedBack"],
            a["shortfall"],
            a["evidenceHash"],
            a["admin"],
            ctx.day,
        ),
    )
    out.tie(participant, region)
    out.day(region, ctx.day)
    out.record_day(a["activityId"], participant)


def _project_registered(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("project_registrations", (a["projectId"], a["region"], a["metadataHash"], a["admin"]))


def _project_closed(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("project_closures", (a["projectId"], a["region"], a["admin"]))


def _project_supported(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    supporter, region = a["supporter"], a["region"]
    out.row("supports", (a["projectId"], region, supporter, a["amount"], a["relayer"], ctx.day))
    out.tie(supporter, region)
    out.day(region, ctx.day)


def _coin_transferred(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("coin_transfers", (a["region"], a["from"], a["to"], a["amount"]))


HANDLERS: dict[str, Handler] = {
    "TsunagariLedger:RegionRegistered": _region_registered,
    "TsunagariLedger:RegionPauseSet": _region_pause_set,
    "TsunagariLedger:RegionTransfersSet": _region_transfers_set,
    "TsunagariLedger:RegionRoleGranted": _region_role(True),
    "TsunagariLedger:RegionRoleRevoked": _region_role(False),
    "TsunagariLedger:RoleGranted": _role(True),
    "TsunagariLedger:RoleRevoked": _role(False),
    "TsunagariLedger:RoleAdminChanged": _role_admin_changed,
    "TsunagariLedger:Paused": _pause(True),
    "TsunagariLedger:Unpaused": _pause(False),
    "TsunagariLedger:EIP712DomainChanged": _domain_changed,
    "TsunagariLedger:ActivityRegistered": _activity_registered,
    "TsunagariLedger:ActivityClosed": _activity_closed,
    "TsunagariLedger:ContributionRecorded": _contribution_recorded,
    "TsunagariLedger:BatchRecorded": _batch_recorded,
    "TsunagariLedger:ContributionRevoked": _contribution_revoked,
    "TsunagariLedger:ProjectRegistered": _project_registered,
    "TsunagariLedger:ProjectClosed": _project_closed,
    "TsunagariLedger:ProjectSupported": _project_supported,
    "TsunagariLedger:CoinTransferred": _coin_transferred,
}

# Which table each event writes (for docs/events.md and its test).
EVENT_TABLE: dict[str, str] = {
    "RegionRegistered": "region_registrations",
    "RegionPauseSet": "region_pause_changes",
    "RegionTransfersSet": "region_transfer_settings",
    "RegionRoleGranted": "region_role_changes",
    "RegionRoleRevoked": "region_role_changes",
    "RoleGranted": "role_changes",
    "RoleRevoked": "role_changes",
    "RoleAdminChanged": "role_admin_changes",
    "Paused": "pause_changes",
    "Unpaused": "pause_changes",
    "EIP712DomainChanged": "domain_changes",
    "ActivityRegistered": "activity_registrations",
    "ActivityClosed": "activity_closures",
    "ContributionRecorded": "contributions",
    "BatchRecorded": "batches",
    "ContributionRevoked": "revocations",
    "ProjectRegistered": "project_registrations",
    "ProjectClosed": "project_closures",
    "ProjectSupported": "supports",
    "CoinTransferred": "coin_transfers",
}

_PROVENANCE = tuple(models.Provenance.model_fields)  # includes "id"


def _event_columns(model: type[models.Provenance]) -> tuple[str, ...]:
    return tuple(c.name for c in model.__table__.columns if c.name not in _PROVENANCE)  # type: ignore[attr-defined]


# Event columns of every event table, in the order handlers give them.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    model.__tablename__: _event_columns(model)  # type: ignore[misc]
    for model in models.EVENT_TABLES
}


def apply_log(
    decoder: EventDecoder, address: str, topics: list[str], data: str, context: LogContext, sink: Sink
) -> str | None:
    """Decode one log and let its handler write to ``sink``; a log that does not decode becomes an
    ``undecodable_logs`` row instead, and the reason is returned (None when it decoded)."""
    try:
        plan = decoder.plan_for(address, topics)
        handler = HANDLERS.get(plan.key)
        if handler is None:
            raise DecodeError(f"no handler for {plan.key}")
        decode = plan.static_decoder
        args = decode(topics, data) if decode is not None else plan.decode(topics, data)
    except DecodeError as exc:
        sink.row("undecodable_logs", (topics[0] if topics else "", ",".join(topics), data, str(exc)))
        return str(exc)
    handler(args, context, sink)
    return None
