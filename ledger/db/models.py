"""The index schema (one schema for SQLite and PostgreSQL), in three layers.

1. **Event tables** — one row per decoded log, written only by the indexer's handlers. Every row
   carries its provenance (:class:`Provenance`): chain id, contract, block number, block hash,
   block timestamp, transaction hash and index, log index; ``(chain_id, tx_hash, log_index)`` is
   unique, so replaying a log is a no-op. Addresses are stored lowercase ``0x…`` hex (the API
   presents them checksummed); hashes are ``0x…`` hex; days are JST calendar days as ``YYYYMMDD``
   integers, months ``YYYYMM``.
2. **Derived tables** — ``participants``, ``ties``, ``tie_months``, ``region_daily`` and
   ``region_daily_coins``: functions of the event tables, maintained incrementally. Handlers only
   mark keys dirty (``dirty_ties``, ``dirty_days``) in the same transaction as the event rows; the
   refresh step recomputes dirty keys from the event tables. A reorg rollback deletes event rows
   and marks their keys dirty, so derived rows are rebuilt by the same code that builds them.
3. **Views** (created by the migration) — ``regions``, ``activities``, ``projects``,
   ``region_roles``, ``coin_movements``: current entity state read straight from the event
   tables, so they can never drift from them.

Nothing here is personal data: a participant is a pseudonymous address.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

__all__ = [
    "Provenance",
    "EVENT_TABLES",
    "DERIVED_TABLES",
    "VIEWS",
    "IndexerCheckpoint",
    "IndexedBlock",
    "RegionRegistration",
    "RegionPauseChange",
    "RegionTransferSetting",
    "RegionExpirySetting",
    "ActivityDesignation",
    "ActivityMetadataChange",
    "ProjectMetadataChange",
    "CoinExpiry",
    "SupportNonceCancellation",
    "RegionRoleChange",
    "RoleChange",
    "RoleAdminChange",
    "PauseChange",
    "DomainChange",
    "ActivityRegistration",
    "ActivityClosure",
    "Contribution",
    "Batch",
    "Revocation",
    "ProjectRegistration",
    "ProjectClosure",
    "Support",
    "CoinTransfer",
    "UndecodableLog",
    "Participant",
    "Tie",
    "TieMonth",
    "RegionDaily",
    "RegionDailyCoins",
    "DirtyTie",
    "DirtyDay",
    "ApiKey",
    "ActivityMetadata",
    "Claim",
    "RelayBatch",
    "RelayAttempt",
    "ServiceHealth",
    "SupportRequest",
    "RelayLeaseRow",
    "CHECKIN_TABLES",
]


# 64-bit row ids on PostgreSQL; on SQLite an INTEGER PRIMARY KEY is the (64-bit) rowid itself.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


class Provenance(SQLModel):
    """Where a row came from on chain; shared by every event table."""

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROW_ID)
    chain_id: int = Field(sa_type=BigInteger, description="EIP-155 chain id")
    contract: str = Field(description="address of the emitting contract (lowercase hex)")
    block_number: int = Field(sa_type=BigInteger, index=True, description="block that contains the log")
    block_hash: str = Field(description="hash of that block (0x hex)")
    block_timestamp: int = Field(sa_type=BigInteger, description="that block's timestamp, unix seconds")
    tx_hash: str = Field(description="transaction hash (0x hex)")
    tx_index: int = Field(description="position of the transaction in the block")
    log_index: int = Field(description="position of the log in the block")


def _event_args(name: str) -> dict[str, object]:
    return {"__table_args__": (UniqueConstraint("chain_id", "tx_hash", "log_index", name=f"uq_{name}_log"),)}


# ---------------------------------------------------------------------------------------------
# Indexer bookkeeping
# ---------------------------------------------------------------------------------------------


class IndexerCheckpoint(SQLModel, table=True):
    """The last block whose logs are fully committed, per chain and contract."""

    __tablename__ = "indexer_checkpoints"

    chain_id: int = Field(sa_type=BigInteger, primary_key=True)
    contract: str = Field(primary_key=True)
    block_number: int = Field(sa_type=BigInteger, description="every log up to this block is in the tables")
    block_hash: str = Field(description="hash of that block when it was indexed")
    block_timestamp: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger, description="wall-clock unix seconds of the last commit")
    head_seen: int = Field(default=0, sa_type=BigInteger, description="chain head when last polled")
    last_error: str | None = Field(default=None, description="the last RPC or decoding problem, if any")
    last_error_at: int | None = Field(default=None, sa_type=BigInteger)


class IndexedBlock(SQLModel, table=True):
    """Headers of recent blocks, kept for the unconfirmed window so a reorg can be detected and undone."""

    __tablename__ = "indexed_blocks"

    chain_id: int = Field(sa_type=BigInteger, primary_key=True)
    number: int = Field(sa_type=BigInteger, primary_key=True)
    hash: str
    parent_hash: str
    timestamp: int = Field(sa_type=BigInteger)
    has_logs: bool = Field(description="false for a chunk's end block kept only as the checkpoint")


# ---------------------------------------------------------------------------------------------
# Event tables (one per event; RegionRoleGranted/Revoked, RoleGranted/Revoked, Paused/Unpaused
# share a table with a flag)
# ---------------------------------------------------------------------------------------------


class RegionRegistration(Provenance, table=True):
    """``RegionRegistered``."""

    __tablename__ = "region_registrations"
    __table_args__ = _event_args("region_registrations")["__table_args__"]

    region: int = Field(index=True, description="JIS X 0402 municipality code")
    admin: str = Field(description="first region admin")
    coin: str = Field(description="the region's RegionCoin (ERC-20) contract")
    name: str = Field(description="coin name")
    symbol: str = Field(description="coin symbol")


class RegionPauseChange(Provenance, table=True):
    """``RegionPauseSet``."""

    __tablename__ = "region_pause_changes"
    __table_args__ = _event_args("region_pause_changes")["__table_args__"]

    region: int = Field(index=True)
    paused: bool
    by_platform: bool = Field(description="the platform admin's pause (only the platform lifts it)")
    account: str = Field(description="who paused or resumed")


class RegionTransferSetting(Provenance, table=True):
    """``RegionTransfersSet``."""

    __tablename__ = "region_transfer_settings"
    __table_args__ = _event_args("region_transfer_settings")["__table_args__"]

    region: int = Field(index=True)
    enabled: bool
    account: str


class RegionExpirySetting(Provenance, table=True):
    """``RegionExpirySet``: how long a region's coins stay spendable (set before its first mint)."""

    __tablename__ = "region_expiry_settings"
    __table_args__ = _event_args("region_expiry_settings")["__table_args__"]

    region: int = Field(index=True)
    expiry_days: int = Field(description="length of a coin period in JST days; 0 = coins never expire")
    account: str


class RegionRoleChange(Provenance, table=True):
    """``RegionRoleGranted`` (granted = true) and ``RegionRoleRevoked`` (granted = false)."""

    __tablename__ = "region_role_changes"
    __table_args__ = _event_args("region_role_changes")["__table_args__"]

    region: int = Field(index=True)
    role_kind: int = Field(description="1 region admin, 2 issuer")
    account: str = Field(description="who got or lost the role")
    sender: str = Field(description="who granted or revoked it")
    granted: bool


class RoleChange(Provenance, table=True):
    """OpenZeppelin ``RoleGranted`` (granted = true) and ``RoleRevoked`` (granted = false)."""

    __tablename__ = "role_changes"
    __table_args__ = _event_args("role_changes")["__table_args__"]

    role: str = Field(description="role id (0x hex); 0x00…00 is the platform admin role")
    account: str
    sender: str
    granted: bool


class RoleAdminChange(Provenance, table=True):
    """OpenZeppelin ``RoleAdminChanged``."""

    __tablename__ = "role_admin_changes"
    __table_args__ = _event_args("role_admin_changes")["__table_args__"]

    role: str
    previous_admin_role: str
    new_admin_role: str


class PauseChange(Provenance, table=True):
    """OpenZeppelin ``Paused`` (paused = true) and ``Unpaused`` (paused = false): the global pause."""

    __tablename__ = "pause_changes"
    __table_args__ = _event_args("pause_changes")["__table_args__"]

    account: str
    paused: bool


class DomainChange(Provenance, table=True):
    """``EIP712DomainChanged`` (never emitted by this ledger; indexed so nothing is silently dropped)."""

    __tablename__ = "domain_changes"
    __table_args__ = _event_args("domain_changes")["__table_args__"]


class ActivityRegistration(Provenance, table=True):
    """``ActivityRegistered``."""

    __tablename__ = "activity_registrations"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_activity_registrations_log"),
        # the region's per-hour and per-day activities without reading all of its activities (migration 0017)
        Index("ix_activity_registrations_region_unit", "region", "unit", "activity_id", "max_units"),
    )

    activity_id: int = Field(sa_type=BigInteger, index=True)
    region: int = Field(index=True)
    kind: int = Field(description="contribution kind code (ledger/taxonomy.py)")
    mlit_type: int = Field(description="kind // 10: the MLIT type")
    reward: int = Field(sa_type=BigInteger, description="coins minted per unit")
    starts_at: int = Field(sa_type=BigInteger, description="window start, unix seconds")
    ends_at: int = Field(sa_type=BigInteger, description="window end, unix seconds")
    capacity: int = Field(sa_type=BigInteger, description="maximum records, 0 = unlimited")
    metadata_hash: str = Field(description="hash of the off-chain description")
    admin: str = Field(description="the region admin who registered it")
    designated: bool = Field(description="a 担い手活動 designated by the municipality, as registered")
    unit: int = Field(description="0 per record, 1 per hour, 2 per day (ledger/taxonomy.py RewardUnit)")
    max_units: int = Field(description="most units one record may carry")


class ActivityDesignation(Provenance, table=True):
    """``ActivityDesignationSet``: a designation changed before the activity started."""

    __tablename__ = "activity_designations"
    __table_args__ = _event_args("activity_designations")["__table_args__"]

    activity_id: int = Field(sa_type=BigInteger, index=True)
    region: int
    designated: bool
    admin: str


class ActivityMetadataChange(Provenance, table=True):
    """``ActivityMetadataChanged``: the activity's text was replaced; the latest row's hash is current."""

    __tablename__ = "activity_metadata_changes"
    __table_args__ = _event_args("activity_metadata_changes")["__table_args__"]

    activity_id: int = Field(sa_type=BigInteger, index=True)
    region: int
    metadata_hash: str = Field(description="hash of the new off-chain text")
    admin: str = Field(description="the region admin who changed it")


class ActivityClosure(Provenance, table=True):
    """``ActivityClosed``."""

    __tablename__ = "activity_closures"
    __table_args__ = _event_args("activity_closures")["__table_args__"]

    activity_id: int = Field(sa_type=BigInteger, index=True)
    region: int
    admin: str


class Contribution(Provenance, table=True):
    """``ContributionRecorded``: one person took part in one activity for ``units``; ``amount`` coins
    were minted. Region, kind, unit, reward and designation are the activity's (``ActivityRegistered``);
    the issuer is the batch's (``BatchRecorded`` of the same transaction)."""

    __tablename__ = "contributions"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_contributions_log"),
        Index("ix_contributions_region_day", "region", "day"),
        Index("ix_contributions_participant_region", "participant", "region"),
        Index("ix_contributions_activity_participant", "activity_id", "participant"),
    )

    participant: str = Field(description="pseudonymous participant address")
    activity_id: int = Field(sa_type=BigInteger)
    region: int
    kind: int = Field(description="contribution kind code")
    mlit_type: int = Field(description="kind // 10: the MLIT type")
    amount: int = Field(sa_type=BigInteger, description="coins minted: units × the activity's reward")
    issuer: str = Field(description="the issuer who recorded it")
    day: int = Field(description="JST calendar day of the block, YYYYMMDD")
    units: int = Field(description="hours or days the record stands for (1 for a visit or an event)")
    unit: int = Field(description="the activity's unit: 0 per record, 1 per hour, 2 per day")
    designated: bool = Field(description="the activity was a designated 担い手活動 (fixed from its start)")


class Batch(Provenance, table=True):
    """``BatchRecorded``."""

    __tablename__ = "batches"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_batches_log"),
        Index("ix_batches_region_time", "region", "block_timestamp"),
    )

    region: int = Field(index=True)
    issuer: str = Field(index=True)
    batch_seq: int = Field(sa_type=BigInteger, description="the issuer's batch number in the region")
    count: int = Field(description="records in the batch")
    minted: int = Field(sa_type=BigInteger, description="coins minted by the batch")


class Revocation(Provenance, table=True):
    """``ContributionRevoked``."""

    __tablename__ = "revocations"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_revocations_log"),
        Index("ix_revocations_activity_participant", "activity_id", "participant"),
        Index("ix_revocations_region_day", "region", "day"),
    )

    participant: str
    activity_id: int = Field(sa_type=BigInteger)
    region: int
    reason: int = Field(description="1 issued in error, 2 not present, 3 duplicate person, 4 request, 5 other")
    clawed_back: int = Field(sa_type=BigInteger, description="coins burned from the participant")
    shortfall: int = Field(sa_type=BigInteger, description="coins already spent, left spent")
    evidence_hash: str = Field(description="hash of the off-chain explanation")
    admin: str
    day: int = Field(description="JST calendar day of the block, YYYYMMDD")
    claim_id: int = Field(sa_type=BigInteger, description="the operator's claim id of the revoked record (0 = none)")


class ProjectRegistration(Provenance, table=True):
    """``ProjectRegistered``."""

    __tablename__ = "project_registrations"
    __table_args__ = _event_args("project_registrations")["__table_args__"]

    project_id: int = Field(sa_type=BigInteger, index=True)
    region: int = Field(index=True)
    metadata_hash: str
    admin: str


class ProjectClosure(Provenance, table=True):
    """``ProjectClosed``."""

    __tablename__ = "project_closures"
    __table_args__ = _event_args("project_closures")["__table_args__"]

    project_id: int = Field(sa_type=BigInteger, index=True)
    region: int
    admin: str


class ProjectMetadataChange(Provenance, table=True):
    """``ProjectMetadataChanged``: the project's text was replaced; the latest row's hash is current."""

    __tablename__ = "project_metadata_changes"
    __table_args__ = _event_args("project_metadata_changes")["__table_args__"]

    project_id: int = Field(sa_type=BigInteger, index=True)
    region: int
    metadata_hash: str = Field(description="hash of the new off-chain text")
    admin: str = Field(description="the region admin who changed it")


class Support(Provenance, table=True):
    """``ProjectSupported``: coins spent on 応援."""

    __tablename__ = "supports"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_supports_log"),
        Index("ix_supports_supporter_region", "supporter", "region"),
        Index("ix_supports_region_day", "region", "day"),
        # covers the projects view's raised and supporters (migration 0017): read from the index alone
        Index("ix_supports_project_totals", "project_id", "chain_id", "supporter", "amount"),
    )

    project_id: int = Field(sa_type=BigInteger, index=True)
    region: int
    supporter: str
    amount: int = Field(sa_type=BigInteger)
    relayer: str = Field(description="who submitted it (zero address when the supporter did)")
    day: int = Field(description="JST calendar day of the block, YYYYMMDD")
    nonce: int | None = Field(
        default=None, sa_type=BigInteger, description="the signature's nonce (NULL when the supporter sent it)"
    )


class CoinExpiry(Provenance, table=True):
    """``CoinsExpired``: coins of a holder lapsed under the region's expiry rule."""

    __tablename__ = "coin_expiries"
    __table_args__ = _event_args("coin_expiries")["__table_args__"]

    region: int = Field(index=True)
    holder: str
    amount: int = Field(sa_type=BigInteger)
    day: int = Field(description="JST calendar day of the block, YYYYMMDD")


class SupportNonceCancellation(Provenance, table=True):
    """``SupportNonceCancelled``: a supporter withdrew a signature before it was used."""

    __tablename__ = "support_nonce_cancellations"
    __table_args__ = _event_args("support_nonce_cancellations")["__table_args__"]

    supporter: str = Field(index=True)
    nonce: int = Field(sa_type=BigInteger)


class CoinTransfer(Provenance, table=True):
    """``CoinTransferred`` (only in regions that enabled transfers)."""

    __tablename__ = "coin_transfers"
    __table_args__ = _event_args("coin_transfers")["__table_args__"]

    region: int = Field(index=True)
    from_account: str
    to_account: str
    amount: int = Field(sa_type=BigInteger)


class UndecodableLog(Provenance, table=True):
    """A log of an indexed contract that could not be decoded: kept and reported, never dropped."""

    __tablename__ = "undecodable_logs"
    __table_args__ = _event_args("undecodable_logs")["__table_args__"]

    topic0: str
    topics: str = Field(description="all topics, comma separated")
    data: str
    reason: str


# ---------------------------------------------------------------------------------------------
# Derived tables
# ---------------------------------------------------------------------------------------------


class Participant(SQLModel, table=True):
    """Everyone who has at least one (unrevoked or revoked) record: address and first appearance."""

    __tablename__ = "participants"

    address: str = Field(primary_key=True)
    first_block: int = Field(sa_type=BigInteger)
    first_at: int = Field(sa_type=BigInteger, description="timestamp of the first record")
    regions: int = Field(description="regions with at least one live record")


class Tie(SQLModel, table=True):
    """The person×region tie as computed by ledger/ties.py for the index head's day (components
    always shown). Only the figures that are step functions of the day are stored, valid until
    ``next_change``; recency and score decay daily and are computed when read
    (``ledger.ties.tie_reading``, migration 0015)."""

    __tablename__ = "ties"
    __table_args__ = (
        Index("ix_ties_region_stage", "region", "stage"),
        Index("ix_ties_region_kin_first_month", "region", "kin_first_month", "first_month"),
        # The due ties in order (refresh.py's _DUE): a batch reads its keys off the front of this index.
        Index("ix_ties_next_change", "next_change", "participant", "region"),
    )

    participant: str = Field(primary_key=True)
    region: int = Field(primary_key=True)
    records: int = Field(description="live records")
    revoked_records: int
    coins_earned: int = Field(sa_type=BigInteger, description="coins minted by live records in the year")
    coins_given: int = Field(sa_type=BigInteger, description="coins spent on support in the year")
    first_at: int = Field(sa_type=BigInteger)
    last_at: int = Field(sa_type=BigInteger)
    first_month: int = Field(description="YYYYMM of the first live record")
    visit_days: int = Field(description="visit days in the year (訪問系, kin excluded)")
    visit_band: str = Field(description="MLIT band: 0, 1, 2-7, 8+")
    active_months: int
    distinct_types: int
    non_visiting_records: int
    kin_records: int
    continuity: float
    frequency: float
    diversity: float
    intensity: float
    stage: str = Field(description="none, visitor, repeater, kankei, core")
    kankei: bool = Field(description="counts as 関係人口")
    category: str | None = Field(default=None, description="visiting or non_visiting when kankei")
    next_change: int = Field(
        default=0,
        sa_type=BigInteger,
        description="end of the first JST day on which a stored figure may change (ledger.ties.next_change)",
    )
    steady_until: int = Field(
        default=0,
        sa_type=BigInteger,
        description="end of the first JST day on which a stored figure may change other than by a month's turn "
        "(next_change without new_month; 0: not known); migration 0018",
    )
    help_hours: int = Field(description="hours of help recorded in the year (hour-rewarded activities)")
    stay_days: int = Field(description="days of stays recorded in the year (day-rewarded activities)")
    kin_first_month: int = Field(
        default=0, description="YYYYMM of the first live 地縁・血縁 record (0: none); migration 0012"
    )


class TieMonth(SQLModel, table=True):
    """The tie as of the end of each month from the first record's month to the head's month."""

    __tablename__ = "tie_months"
    __table_args__ = (
        Index("ix_tie_months_participant", "participant", "region"),
        # Covers the region figures: one month's slice answers "active / new since month m0".
        Index(
            "ix_tie_months_slice",
            "region",
            "month",
            "last_active_month",
            "first_month",
            "active",
            "stage",
            "kankei",
            "category",
            "visit_band",
        ),
    )

    region: int = Field(primary_key=True)
    month: int = Field(primary_key=True, description="YYYYMM (JST)")
    participant: str = Field(primary_key=True)
    first_month: int = Field(description="YYYYMM of the first live record (the cohort)")
    active: bool = Field(description="at least one live (non-kin) record in this month")
    last_active_month: int = Field(
        default=0, description="YYYYMM of the latest month up to this one with a live (non-kin) record"
    )
    records: int = Field(description="live records in this month")
    stage: str
    kankei: bool
    category: str | None = None
    visit_band: str


class RegionDaily(SQLModel, table=True):
    """Per region, JST day and contribution kind: live records, distinct participants, coins issued."""

    __tablename__ = "region_daily"

    region: int = Field(primary_key=True)
    day: int = Field(primary_key=True, description="YYYYMMDD (JST)")
    kind: int = Field(primary_key=True)
    mlit_type: int
    records: int
    participants: int
    coins_issued: int = Field(sa_type=BigInteger)
    revoked_records: int = Field(description="records of this day that were later revoked")


class RegionDailyCoins(SQLModel, table=True):
    """Per region and JST day: coins issued, spent on support, clawed back by revocations and lapsed."""

    __tablename__ = "region_daily_coins"

    region: int = Field(primary_key=True)
    day: int = Field(primary_key=True)
    issued: int = Field(sa_type=BigInteger)
    spent: int = Field(sa_type=BigInteger)
    clawed_back: int = Field(sa_type=BigInteger)
    supports: int
    revocations: int
    expired: int = Field(default=0, sa_type=BigInteger, description="coins lapsed under the expiry rule")


class RegionMonthPeople(SQLModel, table=True):
    """``tie_months`` counted by region, month and the dashboard's groups (kept by triggers, 0005)."""

    __tablename__ = "region_month_people"

    region: int = Field(primary_key=True)
    month: int = Field(primary_key=True, description="YYYYMM (JST)")
    stage: str = Field(primary_key=True)
    kankei: bool = Field(primary_key=True)
    category: str = Field(primary_key=True, description="visiting, non_visiting or '' when not kankei")
    visit_band: str = Field(primary_key=True)
    active: bool = Field(primary_key=True)
    is_new: bool = Field(primary_key=True, description="active and first_month = month")
    people: int


class RegionMonthCohort(SQLModel, table=True):
    """``tie_months`` counted by region, month, cohort and last active month (kept by triggers, 0005)."""

    __tablename__ = "region_month_cohorts"

    region: int = Field(primary_key=True)
    month: int = Field(primary_key=True)
    first_month: int = Field(primary_key=True)
    last_active_month: int = Field(primary_key=True)
    people: int


class RegionPairMonth(SQLModel, table=True):
    """People with ``tie_months`` rows in two regions in a month (kept by triggers, 0005)."""

    __tablename__ = "region_pair_months"

    month: int = Field(primary_key=True)
    region: int = Field(primary_key=True)
    other: int = Field(primary_key=True)
    last_active_month: int = Field(primary_key=True, description="the earlier of the two last active months")
    people: int


class TieLastKind(SQLModel, table=True):
    """A tie's live non-kin records on its last active day, by kind (kept by triggers on ``ties``, 0005)."""

    __tablename__ = "tie_last_kinds"

    participant: str = Field(primary_key=True)
    region: int = Field(primary_key=True)
    kind: int = Field(primary_key=True)
    day: int
    records: int


class RegionDailyStay(SQLModel, table=True):
    """Per region, day and kind: live records that were their participant's last in the region (0005)."""

    __tablename__ = "region_daily_stays"

    region: int = Field(primary_key=True)
    day: int = Field(primary_key=True)
    kind: int = Field(primary_key=True)
    stays: int


class RegionMonthStay(SQLModel, table=True):
    """``region_daily_stays`` summed by month (kept by triggers on ``ties``, 0005)."""

    __tablename__ = "region_month_stays"

    region: int = Field(primary_key=True)
    month: int = Field(primary_key=True)
    kind: int = Field(primary_key=True)
    stays: int


class RegionMonthKind(SQLModel, table=True):
    """``region_daily`` summed by month (kept by triggers on ``region_daily``, 0005)."""

    __tablename__ = "region_month_kinds"

    region: int = Field(primary_key=True)
    month: int = Field(primary_key=True)
    kind: int = Field(primary_key=True)
    mlit_type: int
    records: int
    revoked_records: int
    coins_issued: int = Field(sa_type=BigInteger)


class RegionDailyIssuer(SQLModel, table=True):
    """Per region, JST day and issuer: the day's batches (count, records, coins minted, first and last
    one) and how many of those records are revoked since, kept by the refresher with ``region_daily``;
    the issuer audit sums it (migrations 0012 and 0017)."""

    __tablename__ = "region_daily_issuers"

    region: int = Field(primary_key=True)
    day: int = Field(primary_key=True, description="YYYYMMDD (JST)")
    issuer: str = Field(primary_key=True)
    batches: int
    records: int
    minted: int = Field(sa_type=BigInteger)
    first_at: int = Field(sa_type=BigInteger)
    last_at: int = Field(sa_type=BigInteger)
    first_block: int = Field(sa_type=BigInteger)
    last_block: int = Field(sa_type=BigInteger)
    last_tx_hash: str
    last_log_index: int
    revoked_records: int = Field(
        default=0, description="the issuer's records of the day revoked since (the issuer audit); migration 0017"
    )


class ParticipantKindYear(SQLModel, table=True):
    """The months of a JST year in which a person had a live record of a kind in a region, as a bit
    mask (one row per participant, region, kind and year), kept by the refresher beside ``ties``; the
    national view filtered by a kind or an MLIT type reads it instead of ``contributions``
    (migration 0012)."""

    __tablename__ = "participant_kind_years"
    __table_args__ = (
        Index("ix_participant_kind_years_kind", "kind", "year", "region", "participant", "months"),
        Index("ix_participant_kind_years_type", "mlit_type", "year", "region", "participant", "months"),
    )

    participant: str = Field(primary_key=True)
    region: int = Field(primary_key=True)
    kind: int = Field(primary_key=True)
    year: int = Field(primary_key=True, description="JST calendar year")
    months: int = Field(description="bit m-1 set when a live record fell in month m (January = 1)")
    mlit_type: int


class FilteredMonthPeople(SQLModel, table=True):
    """Per filter (a kind or an MLIT type), month, earlier active month and region: the people whose
    active months under the filter include ``month`` with ``prev`` the one before (0 for the first);
    the people of a region active in [m0, m1] are the sum over ``month`` in it with ``prev < m0``.
    Kept by the refresher with ``participant_kind_years`` (migration 0013)."""

    __tablename__ = "filtered_month_people"
    __table_args__ = {"sqlite_with_rowid": False}

    filter_by: str = Field(primary_key=True, description="'kind' or 'type'")
    filter_value: int = Field(primary_key=True, description="the kind code or the MLIT type")
    month: int = Field(primary_key=True, description="YYYYMM (JST)")
    prev: int = Field(primary_key=True, description="the person's previous active month, 0 for none")
    region: int = Field(primary_key=True)
    people: int


class FilteredPairMonth(SQLModel, table=True):
    """Signed counts by filter, month, earlier active month and region pair (``region_a < region_b``):
    for each person with rows in both, +1 for each region's months and −1 for their union, so the
    people of the pair active in both in [m0, m1] are the sum over ``month`` in it with ``prev < m0``
    (migration 0013)."""

    __tablename__ = "filtered_pair_months"
    __table_args__ = {"sqlite_with_rowid": False}

    filter_by: str = Field(primary_key=True, description="'kind' or 'type'")
    filter_value: int = Field(primary_key=True, description="the kind code or the MLIT type")
    month: int = Field(primary_key=True, description="YYYYMM (JST)")
    prev: int = Field(primary_key=True, description="the previous month of the counted set, 0 for none")
    region_a: int = Field(primary_key=True)
    region_b: int = Field(primary_key=True)
    people: int = Field(description="signed: +1 per region's months, -1 for their union")


class DirtyTie(SQLModel, table=True):
    """A tie whose inputs changed since it was last computed."""

    __tablename__ = "dirty_ties"

    participant: str = Field(primary_key=True)
    region: int = Field(primary_key=True)


class DirtyDay(SQLModel, table=True):
    """A region-day whose aggregates must be recomputed."""

    __tablename__ = "dirty_days"

    region: int = Field(primary_key=True)
    day: int = Field(primary_key=True)


class ApiKey(SQLModel, table=True):
    """An operator or researcher API key (ledger/auth.py); only a hash of its secret is stored."""

    __tablename__ = "api_keys"

    key_id: str = Field(primary_key=True, description="public part of the key")
    secret_sha256: str = Field(description="sha256 of the secret part (hex)")
    label: str = Field(description="who or what the key is for")
    role: str = Field(description="operator, researcher or platform")
    region: int | None = Field(default=None, description="the region the key is scoped to (None = every region)")
    created_at: int = Field(sa_type=BigInteger)
    revoked_at: int | None = Field(default=None, sa_type=BigInteger)


# ---------------------------------------------------------------------------------------------
# Check-in and relaying (written by the API and the relayer, never by the indexer). This is the
# durable outbox: a claim row exists before the participant is told "受け付けました", and the
# relayer's batch rows exist before their transaction is sent (ledger/checkin, ledger/relay).
# ---------------------------------------------------------------------------------------------


class ActivityMetadata(SQLModel, table=True):
    """The off-chain text of an activity or project; the chain holds only ``keccak256`` of its JSON."""

    __tablename__ = "activity_metadata"

    metadata_hash: str = Field(primary_key=True, description="0x hex keccak256 the chain stores")
    name: str = Field(description="name shown on the kiosk and the claim page")
    description: str = Field(default="", description="longer text (no personal data)")
    venue: str = Field(default="", description="where it takes place")
    created_at: int = Field(sa_type=BigInteger, description="unix seconds")


class Claim(SQLModel, table=True):
    """One participant's check-in at one activity; its id is the ``claimId`` recorded on chain.

    Status: ``accepted`` (in the outbox) → ``submitted`` (in a sent batch; with ``tx_hash`` once
    mined) → ``confirmed`` (``chain.confirmations`` deep) or ``rejected`` (the chain refused it for
    good; ``error_code`` says why). ``confirmed`` goes back to ``submitted`` if its block leaves the
    chain (``ledger/relay/outbox.py`` draws the whole state machine).
    """

    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("activity_id", "participant", name="uq_claims_activity_participant"),
        UniqueConstraint("request_hash", name="uq_claims_request"),
        Index("ix_claims_pending", "status", "region", "id"),
        Index("ix_claims_batch", "batch_id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROW_ID)
    activity_id: int = Field(sa_type=BigInteger)
    region: int
    participant: str = Field(description="lowercase hex address that signed the claim")
    request_hash: str = Field(description="EIP-712 digest of the signed claim request (replay key)")
    token_slot: int = Field(sa_type=BigInteger, description="kiosk time slot of the scanned token")
    status: str = Field(description="accepted, submitted, confirmed or rejected")
    accepted_at_ms: int = Field(sa_type=BigInteger, description="unix milliseconds when it was accepted")
    batch_id: int | None = Field(default=None, sa_type=BigInteger, description="relay_batches.id once batched")
    tx_hash: str | None = Field(default=None, description="transaction that recorded it (set once mined)")
    block_number: int | None = Field(default=None, sa_type=BigInteger)
    confirmed_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    error_code: str | None = Field(default=None)
    error_message: str | None = Field(default=None)
    units: int = Field(default=1, description="hours or days the record stands for (1 for a visit or an event)")


class RelayBatch(SQLModel, table=True):
    """One transaction's worth of relayed work: a ``recordBatch`` of claims or one ``supportBySig``.

    Written (with its claims marked) before the transaction is sent; ``(region, issuer, batch_seq)``
    is the on-chain idempotency key of a record batch, so a restart can ask the chain whether it landed.
    """

    __tablename__ = "relay_batches"
    __table_args__ = (
        UniqueConstraint("region", "issuer", "batch_seq", name="uq_relay_batches_seq"),
        Index("ix_relay_batches_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROW_ID)
    kind: str = Field(description="record, support, or filler (a transfer to ourselves that closes a nonce gap)")
    region: int
    issuer: str = Field(description="lowercase hex address of the sending account")
    batch_seq: int | None = Field(default=None, sa_type=BigInteger, description="recordBatch sequence number")
    size: int = Field(description="claims (or 1 support) in the batch")
    status: str = Field(description="built, sent, mined, confirmed or failed")
    nonce: int | None = Field(default=None, sa_type=BigInteger, description="account nonce of its transactions")
    tx_hash: str | None = Field(default=None, description="the transaction that was mined")
    block_number: int | None = Field(default=None, sa_type=BigInteger)
    block_hash: str | None = Field(default=None, description="hash of the block it was mined in (watched for reorgs)")
    gas_used: int | None = Field(default=None, sa_type=BigInteger)
    created_at_ms: int = Field(sa_type=BigInteger)
    sent_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    confirmed_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    error: str | None = Field(default=None)


class RelayAttempt(SQLModel, table=True):
    """One signed transaction of a batch (the first send and each fee bump share the nonce)."""

    __tablename__ = "relay_attempts"
    __table_args__ = (Index("ix_relay_attempts_batch", "batch_id"), Index("ix_relay_attempts_nonce", "nonce"))

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROW_ID)
    batch_id: int = Field(sa_type=BigInteger)
    tx_hash: str
    nonce: int = Field(sa_type=BigInteger)
    max_fee_per_gas: int = Field(sa_type=BigInteger)
    max_priority_fee_per_gas: int = Field(sa_type=BigInteger)
    raw_tx: str = Field(description="the signed transaction (0x hex), kept to rebroadcast")
    sent_at_ms: int = Field(sa_type=BigInteger)


class SupportRequest(SQLModel, table=True):
    """A participant's signed 応援 (``supportBySig``) waiting for, or done by, the relayer."""

    __tablename__ = "support_requests"
    __table_args__ = (
        UniqueConstraint("supporter", "nonce", name="uq_support_requests_nonce"),
        Index("ix_support_requests_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=_ROW_ID)
    supporter: str = Field(description="lowercase hex address that signed")
    project_id: int = Field(sa_type=BigInteger)
    region: int
    amount: int = Field(sa_type=BigInteger)
    nonce: int = Field(sa_type=BigInteger, description="the supporter's ledger nonce the signature uses")
    deadline: int = Field(sa_type=BigInteger, description="unix seconds after which the signature is void")
    signature: str = Field(description="0x hex EIP-712 signature")
    status: str = Field(description="accepted, submitted, confirmed or rejected")
    accepted_at_ms: int = Field(sa_type=BigInteger)
    batch_id: int | None = Field(default=None, sa_type=BigInteger)
    tx_hash: str | None = Field(default=None)
    block_number: int | None = Field(default=None, sa_type=BigInteger)
    confirmed_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    error_code: str | None = Field(default=None)
    error_message: str | None = Field(default=None)


class ServiceHealth(SQLModel, table=True):
    """One long-running loop (``indexer``, ``relayer``): alive when, progressing when, failing how.

    Written by :mod:`ledger.health` only; a loop never exits on a transient error, so this row is
    where a stuck one shows (``seen_at`` recent, ``progress_at`` old, ``last_error`` set).
    """

    __tablename__ = "service_health"

    service: str = Field(primary_key=True, description="indexer or relayer")
    pid: int = Field(description="process id of the loop that wrote last")
    started_at: int = Field(sa_type=BigInteger, description="unix seconds the loop started")
    seen_at: int = Field(sa_type=BigInteger, description="unix seconds of its last heartbeat")
    progress_at: int | None = Field(default=None, sa_type=BigInteger, description="last time it got work done")
    errors: int = Field(sa_type=BigInteger, description="errors since it started (each retried)")
    last_error: str | None = Field(default=None, description="the last error, one line")
    last_error_at: int | None = Field(default=None, sa_type=BigInteger)


class RelayLeaseRow(SQLModel, table=True):
    """Which relayer process may send for an account (``ledger/relay/lease.py``, its one owner):
    the active one renews ``expires_at_ms`` (database clock) every pass; a standby takes the row
    once it has expired. ``epoch`` counts hand-overs."""

    __tablename__ = "relay_leases"

    account: str = Field(primary_key=True, description="the relayer's address, lowercase hex")
    holder: str = Field(description="host:pid:random of the process holding it ('' before the first)")
    epoch: int = Field(sa_type=BigInteger, description="hand-overs so far")
    expires_at_ms: int = Field(sa_type=BigInteger, description="database clock, unix milliseconds")
    acquired_at_ms: int = Field(sa_type=BigInteger, description="when the holder took it")


CHECKIN_TABLES: tuple[type[SQLModel], ...] = (
    ActivityMetadata,
    Claim,
    RelayBatch,
    RelayAttempt,
    SupportRequest,
    ServiceHealth,
    RelayLeaseRow,
)

EVENT_TABLES: tuple[type[Provenance], ...] = (
    RegionRegistration,
    RegionPauseChange,
    RegionTransferSetting,
    RegionExpirySetting,
    RegionRoleChange,
    RoleChange,
    RoleAdminChange,
    PauseChange,
    DomainChange,
    ActivityRegistration,
    ActivityDesignation,
    ActivityMetadataChange,
    ActivityClosure,
    Contribution,
    Batch,
    Revocation,
    ProjectRegistration,
    ProjectMetadataChange,
    ProjectClosure,
    Support,
    SupportNonceCancellation,
    CoinExpiry,
    CoinTransfer,
    UndecodableLog,
)
DERIVED_TABLES: tuple[type[SQLModel], ...] = (Participant, Tie, TieMonth, RegionDaily, RegionDailyCoins)
VIEWS = ("regions", "activities", "projects", "region_roles", "coin_movements")


# ---------------------------------------------------------------------------------------------
# The staff console (ledger/staff, ledger/console): accounts, sessions, the staff audit and the
# off-chain text that goes with on-chain actions. Written by the API and the CLI only.
# ---------------------------------------------------------------------------------------------


class StaffAccount(SQLModel, table=True):
    """A person who signs in to the console: region staff (scoped to one region) or a platform
    operator (``region`` None). The password is an argon2id hash; no password until the invite
    link is used."""

    __tablename__ = "staff_accounts"

    account_id: int | None = Field(default=None, primary_key=True)
    login: str = Field(unique=True, description="sign-in name (an e-mail address or a name), lower case")
    display_name: str = Field(description="shown in the console and the audit")
    role: str = Field(description="platform, admin, staff or viewer")
    region: int | None = Field(default=None, index=True, description="the region (None for platform operators)")
    password_hash: str | None = Field(default=None, description="argon2id PHC string")
    totp_secret: str | None = Field(default=None, description="base32 TOTP secret once confirmed")
    totp_pending: str | None = Field(default=None, description="TOTP secret being enrolled, not yet confirmed")
    failed_logins: int = Field(default=0, description="consecutive wrong passwords")
    locked_until: int | None = Field(default=None, sa_type=BigInteger, description="unix seconds")
    created_at: int = Field(sa_type=BigInteger)
    created_by: int | None = Field(default=None, description="account that created or invited it")
    last_login_at: int | None = Field(default=None, sa_type=BigInteger)
    disabled_at: int | None = Field(default=None, sa_type=BigInteger)


class StaffInvite(SQLModel, table=True):
    """A one-time link that lets an account set its password; only the token's sha256 is kept."""

    __tablename__ = "staff_invites"

    token_sha256: str = Field(primary_key=True)
    account_id: int = Field(index=True)
    created_at: int = Field(sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)
    used_at: int | None = Field(default=None, sa_type=BigInteger)


class StaffSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random id, this row its sha256 and the CSRF token."""

    __tablename__ = "staff_sessions"

    session_sha256: str = Field(primary_key=True)
    account_id: int = Field(index=True)
    csrf_token: str
    created_at: int = Field(sa_type=BigInteger)
    seen_at: int = Field(sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger, description="absolute end of the session")
    revoked_at: int | None = Field(default=None, sa_type=BigInteger)
    user_agent: str = Field(default="", description="first 200 characters, to tell sessions apart")


class StaffLoginFailure(SQLModel, table=True):
    """A failed sign-in, for the per-address rate limit (old rows are pruned)."""

    __tablename__ = "staff_login_failures"

    failure_id: int | None = Field(default=None, primary_key=True)
    client: str = Field(index=True, description="the client's IP address")
    at: int = Field(sa_type=BigInteger, index=True)


class StaffAuditEntry(SQLModel, table=True):
    """One staff action or sign-in event: who, when, what, on which region, and how it ended."""

    __tablename__ = "staff_audit"
    __table_args__ = (Index("ix_staff_audit_region_at", "region", "at"),)

    entry_id: int | None = Field(default=None, primary_key=True)
    at: int = Field(sa_type=BigInteger)
    actor: str = Field(description="'account:<id>' or 'key:<key id>' or 'cli'")
    actor_label: str = Field(description="the account's name or the key's label, as it was then")
    region: int | None = Field(default=None)
    action: str = Field(description="e.g. sign_in, activity.create, record.revoke")
    target: str = Field(default="", description="what it acted on, e.g. 'activity:12'")
    outcome: str = Field(description="ok, failed or started")
    detail: str = Field(default="{}", description="JSON: the inputs (no secrets), tx hash, error")
    client: str = Field(default="", description="IP address of the request")


class RevocationNote(SQLModel, table=True):
    """The free-text note of a revocation: its keccak256 is the ``evidence`` on chain; the text is
    shown to the region's staff only."""

    __tablename__ = "revocation_notes"

    region: int = Field(primary_key=True)
    evidence_hash: str = Field(primary_key=True, description="0x hex keccak256 of the note (UTF-8)")
    note: str
    created_at: int = Field(sa_type=BigInteger)
    created_by: str = Field(description="actor, as in staff_audit")


class IssuerLabel(SQLModel, table=True):
    """A human name for an issuer address of a region (e.g. 「受付タブレット1」)."""

    __tablename__ = "issuer_labels"

    region: int = Field(primary_key=True)
    address: str = Field(primary_key=True, description="checksummed address")
    label: str
    updated_at: int = Field(sa_type=BigInteger)


class ProjectDetails(SQLModel, table=True):
    """What a project has beyond its on-chain terms and text: a goal in coins and an image."""

    __tablename__ = "project_details"

    chain_id: int = Field(primary_key=True)
    project_id: int = Field(primary_key=True)
    goal: int = Field(default=0, sa_type=BigInteger, description="coins the project hopes to raise (0 = none)")
    image: bytes | None = Field(default=None, sa_type=LargeBinary, description="PNG or JPEG, at most 1 MiB")
    image_type: str | None = Field(default=None, description="image/png or image/jpeg")
    updated_at: int = Field(sa_type=BigInteger)


class PendingAction(SQLModel, table=True):
    """A console action that sends a transaction, written before it is sent: ``sending`` →
    ``done`` (with its result) or ``failed``. A row left ``sending`` by a crash is reconciled
    against the chain (ledger/console/pending.py) and shown to staff until resolved."""

    __tablename__ = "pending_actions"
    __table_args__ = (Index("ix_pending_actions_region_status", "region", "status"),)

    action_id: int | None = Field(default=None, primary_key=True)
    region: int
    kind: str = Field(description="e.g. activity.create, project.create")
    payload: str = Field(description="JSON of the inputs")
    metadata_hash: str | None = Field(default=None)
    status: str = Field(description="sending, done, failed or dismissed")
    result: str | None = Field(default=None, description="JSON: the id created, the tx hash")
    error: str | None = Field(default=None)
    actor: str
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)


class IssuedCertificate(SQLModel, table=True):
    """An activity certificate a participant signed and asked us to keep, so the QR code on its PDF
    can link to it (docs/certificate.md). Only what is on chain and the holder's signature: the file
    itself is the evidence, this copy is a convenience."""

    __tablename__ = "certificates"
    __table_args__ = (Index("ix_certificates_holder_region", "holder", "region"),)

    certificate_id: str = Field(primary_key=True, description="sha256 (hex) of the signed JSON as stored")
    holder: str = Field(description="lowercase address")
    region: int
    from_day: int = Field(description="YYYYMMDD")
    to_day: int = Field(description="YYYYMMDD")
    document: str = Field(description="the certificate's JSON")
    created_at: int = Field(sa_type=BigInteger)


class HolderPresentation(SQLModel, table=True):
    """A participant's signed answer to a verifier's challenge, kept a few minutes so the verifier
    can fetch it (we are only the mailbox: the verifier checks the signature itself)."""

    __tablename__ = "holder_presentations"
    __table_args__ = (Index("ix_holder_presentations_created_at", "created_at"),)

    presentation_id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(index=True, description="0x hex bytes32 of the challenge")
    holder: str = Field(description="checksummed address")
    body: str = Field(description="JSON: holder, nonce, expires_at, audience, signature")
    created_at: int = Field(sa_type=BigInteger)


class EligibilityListing(SQLModel, table=True):
    """A participant's opt-in to be listed to a municipality's staff as eligible for ふるさと住民登録
    Premium, with a contact they chose (personal data: kept here only, never on chain; deleted when
    they opt out)."""

    __tablename__ = "eligibility_listings"

    region: int = Field(primary_key=True)
    participant: str = Field(primary_key=True, description="lowercase address")
    contact: str = Field(description="what the participant wrote: e-mail, phone or name")
    issued_at: int = Field(sa_type=BigInteger, description="the signed request's time (replays are refused)")
    signature: str = Field(description="the EIP-712 EligibilityListing signature")
    created_at: int = Field(sa_type=BigInteger)


class ClaimCodeBatch(SQLModel, table=True):
    """One generation of single-use claim codes for an activity (docs/checkin.md). The codes are
    derived from the server's check-in key, ``salt`` and their serial, so staff can print the sheet
    or the mail-merge CSV again; the table itself never holds a code."""

    __tablename__ = "claim_code_batches"
    __table_args__ = (Index("ix_claim_code_batches_activity", "activity_id"),)

    batch_id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(sa_type=BigInteger)
    region: int
    count: int = Field(description="how many codes the batch holds")
    units: int = Field(description="what a redemption records (1 for a donation or an event)")
    expires_at: int = Field(sa_type=BigInteger, description="unix seconds after which no code of it works")
    label: str = Field(description="staff's note: e.g. 2026年12月 お礼状")
    salt: str = Field(description="32 hex digits mixed into each code's derivation")
    created_by: str = Field(description="who generated it: staff:<login> or key:<label>")
    created_at_ms: int = Field(sa_type=BigInteger)
    voided_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    voided_by: str | None = Field(default=None)


class ClaimCode(SQLModel, table=True):
    """One single-use code: only its SHA-256, its state (``issued`` → ``redeemed`` or ``voided``)
    and, once redeemed, who redeemed it and the claim it became."""

    __tablename__ = "claim_codes"
    __table_args__ = (
        UniqueConstraint("code_hash", name="uq_claim_codes_hash"),
        UniqueConstraint("batch_id", "serial", name="uq_claim_codes_serial"),
        Index("ix_claim_codes_activity_state", "activity_id", "state"),
    )

    code_id: int | None = Field(default=None, primary_key=True)
    batch_id: int
    serial: int = Field(description="1..count within the batch (the sheet's and the CSV's order)")
    activity_id: int = Field(sa_type=BigInteger)
    region: int
    code_hash: str = Field(description="sha256 (hex) of the canonical code")
    state: str = Field(description="issued, redeemed or voided")
    expires_at: int = Field(sa_type=BigInteger)
    participant: str | None = Field(default=None, description="lowercase address that redeemed it")
    claim_id: int | None = Field(default=None, sa_type=BigInteger)
    redeemed_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    voided_at_ms: int | None = Field(default=None, sa_type=BigInteger)


class PresenceSession(SQLModel, table=True):
    """A check-in at an activity rewarded per hour or per day, and its check-out: ``open`` →
    ``recorded`` (a claim in the outbox), ``awaiting_staff`` (the activity's rule asks staff to
    confirm), ``too_short`` (below the rule's minimum: nothing recorded), ``expired`` (no
    check-out in time) or ``cancelled`` (by staff)."""

    __tablename__ = "presence_sessions"
    __table_args__ = (
        UniqueConstraint("open_request_hash", name="uq_presence_open_request"),
        UniqueConstraint("close_request_hash", name="uq_presence_close_request"),
        Index(
            "uq_presence_open",
            "activity_id",
            "participant",
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
        Index("ix_presence_participant", "participant", "unit", "state"),
        Index("ix_presence_activity_state", "activity_id", "state"),
    )

    session_id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(sa_type=BigInteger)
    region: int
    participant: str = Field(description="lowercase address")
    unit: int = Field(description="the activity's reward unit: 1 hour, 2 day")
    state: str
    opened_at: int = Field(sa_type=BigInteger, description="unix seconds of the arrival")
    open_request_hash: str = Field(description="EIP-712 digest of the arrival's signed claim")
    expires_at: int = Field(sa_type=BigInteger, description="after this a self check-out is refused")
    closed_at: int | None = Field(default=None, sa_type=BigInteger)
    close_request_hash: str | None = Field(default=None)
    measured_units: int | None = Field(default=None, description="what the clock and the rule gave")
    units: int | None = Field(default=None, description="what is recorded (staff may correct)")
    first_day: int | None = Field(
        default=None, description="JST day number (days since 1970-01-01) of a stay's first day"
    )
    last_day: int | None = Field(default=None, description="JST day number of a stay's last day")
    claim_id: int | None = Field(default=None, sa_type=BigInteger)
    closed_by: str | None = Field(default=None, description="participant, staff:<login> or key:<label>")


class ActivityUnitRule(SQLModel, table=True):
    """How an activity rewarded per hour or per day turns a stay into units (absent: the defaults
    of ``ledger.checkin.presence.default_rule``)."""

    __tablename__ = "activity_unit_rules"

    activity_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    rounding: str = Field(description="down, nearest or up (hours; days count calendar days)")
    min_units: int = Field(description="fewer units than this record nothing")
    cap_units: int = Field(description="most units one check-out records (≤ the activity's maxUnits)")
    open_expiry_s: int = Field(sa_type=BigInteger, description="an open check-in expires this long after arrival")
    staff_confirms: bool = Field(description="check-outs wait for staff to confirm before recording")
    updated_by: str
    updated_at_ms: int = Field(sa_type=BigInteger)
