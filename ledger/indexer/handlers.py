"""How each event becomes rows: one handler per ``"Contract:Event"``, no RPC calls, no I/O.

A handler receives the decoded arguments and the log's context, and tells the :class:`Sink` which
rows to write (event columns only: the sink adds the provenance) and which derived keys became
dirty. Ordering, transactions, checkpoints, replays and reorgs are the runner's business.

Two facts a ``ContributionRecorded`` row needs are not in the log (ledger v2 keeps the per-record
event lean, docs/decisions/0001-storage-layout.md): the activity's terms (region, kind, reward per
unit, unit, designation), which the runner keeps in :attr:`LogContext.activities` from the
``ActivityRegistered`` / ``ActivityDesignationSet`` logs it has indexed; and the issuer, which the
batch's ``BatchRecorded`` (the same transaction, after its records) brings: the sink holds the
transaction's contribution rows until then (:meth:`Sink.contribution`, :meth:`Sink.batch_recorded`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.chain.decoding import DecodeError, EventDecoder
from ledger.errors import TsunagariError
from ledger.jst import day_key

__all__ = [
    "ActivityTerms",
    "LogContext",
    "Sink",
    "Handler",
    "HANDLERS",
    "EVENT_TABLE",
    "TABLE_COLUMNS",
    "NO_NONCE",
    "jst_day",
    "apply_log",
]

NO_NONCE = (1 << 256) - 1  # ProjectSupported's nonce of a support sent by the supporter


jst_day = day_key  # the JST calendar day of a timestamp as YYYYMMDD (ledger.jst)


@dataclass(frozen=True, slots=True)
class ActivityTerms:
    """What a record of an activity inherits from its registration."""

    region: int
    kind: int
    reward: int  # coins per unit
    unit: int  # 0 per record, 1 per hour, 2 per day
    designated: bool


@dataclass
class LogContext:
    """What a handler may know about the log besides its arguments."""

    block_number: int
    timestamp: int
    day: int  # JST YYYYMMDD of the block
    # Every activity indexed so far, by id (the runner loads it and keeps it current).
    activities: dict[int, ActivityTerms] = field(default_factory=dict)


class MissingActivity(TsunagariError):
    """A record of an activity the index does not know (never on a consistent index)."""


class Sink(Protocol):
    def row(self, table: str, values: tuple[Any, ...]) -> None:
        """Write a row of ``table``: its event columns in declaration order (provenance is added)."""

    def tie(self, participant: str, region: int) -> None:
        """The participant's tie with the region must be recomputed."""

    def day(self, region: int, day: int) -> None:
        """The region's aggregates for ``day`` must be recomputed."""

    def record_day(self, activity_id: int, participant: str) -> None:
        """The aggregates of the day the participant's record of the activity was made are dirty."""

    def contribution(self, values: tuple[Any, ...]) -> None:
        """A ``contributions`` row whose issuer (None here) comes with the batch's log."""

    def batch_recorded(self, issuer: str) -> None:
        """The batch of the held contribution rows was recorded by ``issuer``: write them."""


Handler = Callable[[dict[str, Any], LogContext, Sink], None]


def _region_registered(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("region_registrations", (a["region"], a["admin"], a["coin"], a["name"], a["symbol"]))


def _region_pause_set(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("region_pause_changes", (a["region"], a["paused"], a["byPlatform"], a["account"]))


def _region_expiry_set(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("region_expiry_settings", (a["region"], a["expiryDays"], a["account"]))


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
            a["designated"],
            a["unit"],
            a["maxUnits"],
        ),
    )
    ctx.activities[a["activityId"]] = ActivityTerms(a["region"], kind, a["reward"], a["unit"], a["designated"])


def _activity_designation_set(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("activity_designations", (a["activityId"], a["region"], a["designated"], a["admin"]))
    terms = ctx.activities.get(a["activityId"])
    if terms is not None:
        ctx.activities[a["activityId"]] = ActivityTerms(
            terms.region, terms.kind, terms.reward, terms.unit, a["designated"]
        )


def _activity_metadata_changed(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("activity_metadata_changes", (a["activityId"], a["region"], a["metadataHash"], a["admin"]))


def _activity_closed(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("activity_closures", (a["activityId"], a["region"], a["admin"]))


def _contribution_recorded(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    participant, activity_id, units = a["participant"], a["activityId"], a["units"]
    terms = ctx.activities.get(activity_id)
    if terms is None:
        raise MissingActivity(f"a record of activity {activity_id}, which the index does not know")
    region, kind = terms.region, terms.kind
    amount = terms.reward * units
    out.contribution(
        (participant, activity_id, region, kind, kind // 10, amount, None, ctx.day, units, terms.unit, terms.designated)
    )
    out.tie(participant, region)
    out.day(region, ctx.day)


def _batch_recorded(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("batches", (a["region"], a["issuer"], a["batchSeq"], a["count"], a["minted"]))
    out.batch_recorded(a["issuer"])


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
            a["claimId"],
        ),
    )
    out.tie(participant, region)
    out.day(region, ctx.day)
    out.record_day(a["activityId"], participant)


def _coins_expired(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("coin_expiries", (a["region"], a["holder"], a["amount"], ctx.day))
    out.day(a["region"], ctx.day)


def _project_registered(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("project_registrations", (a["projectId"], a["region"], a["metadataHash"], a["admin"]))


def _project_metadata_changed(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("project_metadata_changes", (a["projectId"], a["region"], a["metadataHash"], a["admin"]))


def _project_closed(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("project_closures", (a["projectId"], a["region"], a["admin"]))


def _project_supported(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    supporter, region = a["supporter"], a["region"]
    nonce = None if a["nonce"] == NO_NONCE else a["nonce"]
    out.row("supports", (a["projectId"], region, supporter, a["amount"], a["relayer"], ctx.day, nonce))
    out.tie(supporter, region)
    out.day(region, ctx.day)


def _support_nonce_cancelled(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("support_nonce_cancellations", (a["supporter"], a["nonce"]))


def _coin_transferred(a: dict[str, Any], ctx: LogContext, out: Sink) -> None:
    out.row("coin_transfers", (a["region"], a["from"], a["to"], a["amount"]))


HANDLERS: dict[str, Handler] = {
    "TsunagariLedger:RegionRegistered": _region_registered,
    "TsunagariLedger:RegionPauseSet": _region_pause_set,
    "TsunagariLedger:RegionTransfersSet": _region_transfers_set,
    "TsunagariLedger:RegionExpirySet": _region_expiry_set,
    "TsunagariLedger:RegionRoleGranted": _region_role(True),
    "TsunagariLedger:RegionRoleRevoked": _region_role(False),
    "TsunagariLedger:RoleGranted": _role(True),
    "TsunagariLedger:RoleRevoked": _role(False),
    "TsunagariLedger:RoleAdminChanged": _role_admin_changed,
    "TsunagariLedger:Paused": _pause(True),
    "TsunagariLedger:Unpaused": _pause(False),
    "TsunagariLedger:EIP712DomainChanged": _domain_changed,
    "TsunagariLedger:ActivityRegistered": _activity_registered,
    "TsunagariLedger:ActivityDesignationSet": _activity_designation_set,
    "TsunagariLedger:ActivityMetadataChanged": _activity_metadata_changed,
    "TsunagariLedger:ActivityClosed": _activity_closed,
    "TsunagariLedger:ContributionRecorded": _contribution_recorded,
    "TsunagariLedger:BatchRecorded": _batch_recorded,
    "TsunagariLedger:ContributionRevoked": _contribution_revoked,
    "TsunagariLedger:CoinsExpired": _coins_expired,
    "TsunagariLedger:ProjectRegistered": _project_registered,
    "TsunagariLedger:ProjectMetadataChanged": _project_metadata_changed,
    "TsunagariLedger:ProjectClosed": _project_closed,
    "TsunagariLedger:ProjectSupported": _project_supported,
    "TsunagariLedger:SupportNonceCancelled": _support_nonce_cancelled,
    "TsunagariLedger:CoinTransferred": _coin_transferred,
}

# Which table each event writes (for docs/events.md and its test).
EVENT_TABLE: dict[str, str] = {
    "RegionRegistered": "region_registrations",
    "RegionPauseSet": "region_pause_changes",
    "RegionTransfersSet": "region_transfer_settings",
    "RegionExpirySet": "region_expiry_settings",
    "RegionRoleGranted": "region_role_changes",
    "RegionRoleRevoked": "region_role_changes",
    "RoleGranted": "role_changes",
    "RoleRevoked": "role_changes",
    "RoleAdminChanged": "role_admin_changes",
    "Paused": "pause_changes",
    "Unpaused": "pause_changes",
    "EIP712DomainChanged": "domain_changes",
    "ActivityRegistered": "activity_registrations",
    "ActivityDesignationSet": "activity_designations",
    "ActivityMetadataChanged": "activity_metadata_changes",
    "ActivityClosed": "activity_closures",
    "ContributionRecorded": "contributions",
    "BatchRecorded": "batches",
    "ContributionRevoked": "revocations",
    "CoinsExpired": "coin_expiries",
    "ProjectRegistered": "project_registrations",
    "ProjectMetadataChanged": "project_metadata_changes",
    "ProjectClosed": "project_closures",
    "ProjectSupported": "supports",
    "SupportNonceCancelled": "support_nonce_cancellations",
    "CoinTransferred": "coin_transfers",
}

# Event columns of every event table (``ledger.db.models.EVENT_TABLES``), in the order handlers give
# them. Written out rather than read from the models: importing the SQLModel classes costs ~0.3 s
# at the start of every `tsunagari index backfill` (issue 19), and the handlers above are written
# against this order anyway. tests/indexer/test_start_up.py checks it against the models.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "region_registrations": ("region", "admin", "coin", "name", "symbol"),
    "region_pause_changes": ("region", "paused", "by_platform", "account"),
    "region_transfer_settings": ("region", "enabled", "account"),
    "region_expiry_settings": ("region", "expiry_days", "account"),
    "region_role_changes": ("region", "role_kind", "account", "sender", "granted"),
    "role_changes": ("role", "account", "sender", "granted"),
    "role_admin_changes": ("role", "previous_admin_role", "new_admin_role"),
    "pause_changes": ("account", "paused"),
    "domain_changes": (),
    "activity_registrations": (
        "activity_id",
        "region",
        "kind",
        "mlit_type",
        "reward",
        "starts_at",
        "ends_at",
        "capacity",
        "metadata_hash",
        "admin",
        "designated",
        "unit",
        "max_units",
    ),
    "activity_designations": ("activity_id", "region", "designated", "admin"),
    "activity_metadata_changes": ("activity_id", "region", "metadata_hash", "admin"),
    "activity_closures": ("activity_id", "region", "admin"),
    "contributions": (
        "participant",
        "activity_id",
        "region",
        "kind",
        "mlit_type",
        "amount",
        "issuer",
        "day",
        "units",
        "unit",
        "designated",
    ),
    "batches": ("region", "issuer", "batch_seq", "count", "minted"),
    "revocations": (
        "participant",
        "activity_id",
        "region",
        "reason",
        "clawed_back",
        "shortfall",
        "evidence_hash",
        "admin",
        "day",
        "claim_id",
    ),
    "project_registrations": ("project_id", "region", "metadata_hash", "admin"),
    "project_metadata_changes": ("project_id", "region", "metadata_hash", "admin"),
    "project_closures": ("project_id", "region", "admin"),
    "supports": ("project_id", "region", "supporter", "amount", "relayer", "day", "nonce"),
    "support_nonce_cancellations": ("supporter", "nonce"),
    "coin_expiries": ("region", "holder", "amount", "day"),
    "coin_transfers": ("region", "from_account", "to_account", "amount"),
    "undecodable_logs": ("topic0", "topics", "data", "reason"),
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
        handler(args, context, sink)
    except (DecodeError, MissingActivity) as exc:
        sink.row("undecodable_logs", (topics[0] if topics else "", ",".join(topics), data, str(exc)))
        return str(exc)
    return None
