"""What an export holds: every table, every field with its type, unit and meaning, in one place.

The data dictionary (``datapackage.json`` and ``README.md``), the Arrow schemas the writers use,
the SQL the exporter runs and the verifier's comparison are all generated from :data:`TABLES`, so
the files, the documentation and the checks cannot drift apart. A test (tests/export/test_schema.py)
checks that the event fields follow the index's columns (``ledger.indexer.handlers.TABLE_COLUMNS``,
which verify relies on: it rebuilds rows with the indexer's handlers), that every index event table
is exported, and that the entity, derived and aggregate tables carry every column of the index's
views and tables they come from.

Table kinds:

- ``events`` — one row per log of the exported block range (or two, for a coin transfer in
  ``coin_movements``), with the log's provenance. Verified row by row against the chain.
- ``entities`` — regions, activities, projects: one row per registration log up to the range's last
  block (whatever the range's first block, so every row of the event tables can be looked up),
  with their state as of that block. Verified row by row against the chain.
- ``derived`` — the index's per person×region ties, as computed for the indexed head.
- ``aggregates`` — per region and JST day, with small cells suppressed.
- ``reference`` — code lists (contribution kinds and their MLIT types, reward units).

Derived, aggregate and reference tables are covered by the manifest's hashes, not re-derived from
the chain by ``verify``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import pyarrow as pa  # type: ignore[import-untyped]

__all__ = [
    "FieldType",
    "TableKind",
    "ExportField",
    "ExportTable",
    "PROVENANCE",
    "COIN_MOVEMENT_SOURCES",
    "TABLES",
    "TABLE_NAMES",
    "DEFAULT_TABLES",
    "table",
    "arrow_type",
    "arrow_schema",
]

FieldType = Literal["integer", "string", "boolean", "date", "number"]
TableKind = Literal["events", "entities", "derived", "aggregates", "reference"]
TextKind = Literal["hex", "free", "code"]


@dataclass(frozen=True)
class ExportField:
    """One column of an exported table."""

    name: str
    type: FieldType
    description: str
    unit: str | None = None
    # A person's address (participant, supporter, transfer party): pseudonymised unless the
    # operator exports raw addresses. Operators' addresses (issuers, admins, relayers) are not.
    personal: bool = False
    nullable: bool = False
    # For strings: "hex" (0x-hex: addresses, hashes), "code" (a short fixed code such as a
    # movement name), "free" (any text). Hex and code values never contain a separator or quote.
    text: TextKind = "hex"
    wide: bool = False  # integers that may exceed 32 bits (block numbers, amounts, ids)
    # A JIS X 0402 municipality code: an integer on chain and in the index, written as its
    # canonical five-digit text (``ledger.municipalities.jis_code``: 1634 → "01634").
    jis: bool = False


def _i(
    name: str, description: str, unit: str | None = None, *, wide: bool = True, nullable: bool = False
) -> ExportField:
    return ExportField(name, "integer", description, unit, wide=wide, nullable=nullable)


def _small(name: str, description: str, unit: str | None = None, *, nullable: bool = False) -> ExportField:
    return ExportField(name, "integer", description, unit, wide=False, nullable=nullable)


def _hex(name: str, description: str, *, personal: bool = False, nullable: bool = False) -> ExportField:
    return ExportField(name, "string", description, personal=personal, nullable=nullable, text="hex")


def _bool(name: str, description: str, *, nullable: bool = False) -> ExportField:
    return ExportField(name, "boolean", description, nullable=nullable)


def _day(description: str = "JST (UTC+9) calendar day of the block") -> ExportField:
    return ExportField("day", "date", description)


PROVENANCE: tuple[ExportField, ...] = (
    _i("chain_id", "EIP-155 chain id of the chain the log is on"),
    _hex("contract", "address of the contract that emitted the log (lowercase 0x hex)"),
    _i("block_number", "number of the block that contains the log"),
    _hex("block_hash", "hash of that block (0x hex)"),
    _i("block_timestamp", "timestamp of that block", "s (unix time, UTC)"),
    _hex("tx_hash", "hash of the transaction that emitted the log (0x hex)"),
    _small("tx_index", "position of the transaction in the block"),
    _small("log_index", "position of the log in the block"),
)

_REGION = ExportField(
    "region",
    "string",
    "JIS X 0402 municipality code of the region, five digits with its leading zero (e.g. 01634 上士幌町, 12205 館山市)",
    text="code",
    jis=True,
)
_COIN = "coin"


@dataclass(frozen=True)
class ExportTable:
    """One table of the export (one file, or one file per month when partitioned)."""

    name: str
    kind: TableKind
    title: str
    description: str
    fields: tuple[ExportField, ...]
    key: tuple[str, ...]
    events: tuple[str, ...] = ()  # ABI events whose logs make this table's rows
    index_table: str | None = None  # the index table the rows come from (events, entities)
    region_field: str | None = "region"  # filtered by the regions option when set
    partitionable: bool = False

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @cached_property
    def positions(self) -> dict[str, int]:
        """Each field's column position."""
        return {f.name: i for i, f in enumerate(self.fields)}

    def field(self, name: str) -> ExportField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def verified(self) -> bool:
        """Whether verify re-derives this table's rows from the chain."""
        return self.kind in ("events", "entities")

    @cached_property
    def empty_when_region_filtered(self) -> bool:
        """Whether an export filtered by region leaves this table empty: its rows name people but
        have no region, and a region's export must not name people of other regions. (Other tables
        without a region column are platform-wide and exported whole.)"""
        return self.region_field is None and any(f.personal for f in self.fields)


def _events(
    name: str,
    title: str,
    description: str,
    fields: tuple[ExportField, ...],
    events: tuple[str, ...],
    *,
    index_table: str | None = None,
    region: bool = True,
    partitionable: bool = False,
) -> ExportTable:
    return ExportTable(
        name=name,
        kind="events",
        title=title,
        description=description,
        fields=PROVENANCE + fields,
        key=("block_number", "log_index"),
        events=events,
        index_table=index_table or name,
        region_field="region" if region else None,
        partitionable=partitionable,
    )


_CONTRIBUTIONS = _events(
    "contributions",
    "Contribution records",
    "One row per ContributionRecorded log: a person took part in an activity for some units (hours, days; "
    "1 for a visit or an event) and the activity's reward per unit times the units was minted to them. The "
    "log names the person, the activity and the units; region, kind, unit and designation are the "
    "activity's (ActivityRegistered, ActivityDesignationSet) and the issuer is the batch's (the "
    "BatchRecorded log of the same transaction). A record that was later revoked stays here with "
    "revoked = true; its revocation is a row of revocations.",
    (
        _hex("participant", "the person recorded (pseudonymised unless exported raw)", personal=True),
        _i("activity_id", "the activity (see activities)"),
        _REGION,
        _small("kind", "contribution kind code (see kinds)"),
        _small("mlit_type", "MLIT 関係人口 type of the kind: kind // 10 (see kinds)"),
        _i("amount", "coins minted by the record: units × the activity's reward", _COIN),
        _hex("issuer", "the issuer key that recorded it (an institution's key, not personal data)"),
        _day(),
        _small("units", "hours or days the record stands for, in the activity's unit (1 for a visit or an event)"),
        _small("unit", "the activity's reward unit code: 0 per record, 1 per hour, 2 per day (see reward_units)"),
        _bool("designated", "the activity was a 担い手活動 designated by the municipality (fixed once it started)"),
        _bool("revoked", "whether the record was revoked at or before the export's last block"),
        _i("revoked_block", "block of the revocation (empty when not revoked)", nullable=True),
        _hex("revoked_tx_hash", "transaction of the revocation (empty when not revoked)", nullable=True),
        _small("revoked_log_index", "log index of the revocation (empty when not revoked)", nullable=True),
    ),
    ("ContributionRecorded",),
    partitionable=True,
)

_REVOCATIONS = _events(
    "revocations",
    "Revocations",
    "One row per ContributionRevoked log: a region admin revoked a wrong record with a reason. The "
    "record is the row of contributions with the same activity_id and participant.",
    (
        _hex("participant", "whose record was revoked (pseudonymised unless exported raw)", personal=True),
        _i("activity_id", "the activity of the revoked record"),
        _REGION,
        _small("reason", "1 issued in error, 2 not present, 3 duplicate person, 4 participant's request, 5 other"),
        _i("clawed_back", "coins burned from the participant", _COIN),
        _i("shortfall", "coins of the record already spent, left spent", _COIN),
        _hex("evidence_hash", "hash of the off-chain explanation (0x hex); the text stays with the region"),
        _hex("admin", "the region admin who revoked it (an institution's key)"),
        _day(),
        _i("claim_id", "the operator's claim id of the revoked record (0 = none)"),
    ),
    ("ContributionRevoked",),
    partitionable=True,
)

_SUPPORTS = _events(
    "supports",
    "Supports (応援)",
    "One row per ProjectSupported log: a person spent coins of a region on one of its projects, either "
    "sending it themselves or by a signed request an operator submitted (with the signature's nonce).",
    (
        _i("project_id", "the project supported (see projects)"),
        _REGION,
        _hex("supporter", "whose coins were spent (pseudonymised unless exported raw)", personal=True),
        _i("amount", "coins spent", _COIN),
        _hex("relayer", "the operator key that submitted it (zero address when the supporter did)"),
        _day(),
        _i("nonce", "the supporter's signature nonce (empty when the supporter sent it)", nullable=True),
    ),
    ("ProjectSupported",),
    partitionable=True,
)

_COIN_TRANSFERS = _events(
    "coin_transfers",
    "Coin transfers",
    "One row per CoinTransferred log (only in regions that enabled transfers between people).",
    (
        _REGION,
        _hex("from_account", "sender (pseudonymised unless exported raw)", personal=True),
        _hex("to_account", "receiver (pseudonymised unless exported raw)", personal=True),
        _i("amount", "coins moved", _COIN),
    ),
    ("CoinTransferred",),
)

_COIN_MOVEMENTS = ExportTable(
    name="coin_movements",
    kind="events",
    title="Coin movements",
    description="Every change of a person's coin balance, from the index's coin_movements view: a mint per "
    "record, a burn per revocation (what could be clawed back) and per support, coins that lapsed under the "
    "region's expiry rule, and for a transfer one row for each side. When the range starts at the deployment, "
    "the sum of delta per account and region is the balance at the export's last block, except in a region "
    "whose coins expire: a lapse is logged (CoinsExpired) only when the holding next changes, so coins that "
    "lapsed after the holder's last movement are still in the sum.",
    fields=(
        *PROVENANCE,
        _REGION,
        _hex("account", "whose balance changed (pseudonymised unless exported raw)", personal=True),
        ExportField(
            "movement",
            "string",
            "mint (a record), revoke (a revocation), support (spent on a project), expire (lapsed under the "
            "region's expiry rule), transfer_out, transfer_in",
            text="code",
        ),
        _i("delta", "signed change of the balance", _COIN),
        _i("reference", "activity_id for mint and revoke, project_id for support, 0 for expiries and transfers"),
    ),
    key=("block_number", "log_index", "movement"),
    events=("ContributionRecorded", "ContributionRevoked", "ProjectSupported", "CoinsExpired", "CoinTransferred"),
    index_table=None,
    partitionable=True,
)

# The index tables the coin_movements view reads, and the movements each of their rows makes.
COIN_MOVEMENT_SOURCES: dict[str, tuple[str, ...]] = {
    "contributions": ("mint",),
    "revocations": ("revoke",),
    "supports": ("support",),
    "coin_expiries": ("expire",),
    "coin_transfers": ("transfer_out", "transfer_in"),
}

_BATCHES = _events(
    "batches",
    "Batches (issuer actions)",
    "One row per BatchRecorded log: an issuer recorded a batch of contributions (the issuer audit trail).",
    (
        _REGION,
        _hex("issuer", "the issuer key that sent the batch"),
        _i("batch_seq", "the issuer's batch number in the region (1, 2, 3, …)"),
        _small("count", "records in the batch"),
        _i("minted", "coins minted by the batch", _COIN),
    ),
    ("BatchRecorded",),
    partitionable=True,
)

_REGION_ROLE_CHANGES = _events(
    "region_role_changes",
    "Region role changes",
    "One row per RegionRoleGranted (granted = true) or RegionRoleRevoked (granted = false) log: who became "
    "or stopped being a region admin or issuer.",
    (
        _REGION,
        _small("role_kind", "1 region admin, 2 issuer"),
        _hex("account", "the operator key that got or lost the role"),
        _hex("sender", "who granted or revoked it"),
        _bool("granted", "true for a grant, false for a revocation or renouncement"),
    ),
    ("RegionRoleGranted", "RegionRoleRevoked"),
)

_ROLE_CHANGES = _events(
    "role_changes",
    "Role changes (OpenZeppelin AccessControl)",
    "One row per RoleGranted (granted = true) or RoleRevoked (granted = false) log, for every role.",
    (
        _hex("role", "role id (0x hex); 0x00…00 is the platform admin role"),
        _hex("account", "the key that got or lost the role"),
        _hex("sender", "who granted or revoked it"),
        _bool("granted", "true for a grant, false for a revocation"),
    ),
    ("RoleGranted", "RoleRevoked"),
    region=False,
)

_ROLE_ADMIN_CHANGES = _events(
    "role_admin_changes",
    "Role admin changes",
    "One row per RoleAdminChanged log: which role administers which.",
    (
        _hex("role", "role id (0x hex)"),
        _hex("previous_admin_role", "its previous admin role (0x hex)"),
        _hex("new_admin_role", "its new admin role (0x hex)"),
    ),
    ("RoleAdminChanged",),
    region=False,
)

_PAUSE_CHANGES = _events(
    "pause_changes",
    "Global pauses",
    "One row per Paused (paused = true) or Unpaused (paused = false) log of the whole ledger.",
    (
        _hex("account", "the platform admin key that paused or resumed"),
        _bool("paused", "true when paused, false when resumed"),
    ),
    ("Paused", "Unpaused"),
    region=False,
)

_REGION_PAUSE_CHANGES = _events(
    "region_pause_changes",
    "Region pauses",
    "One row per RegionPauseSet log. The platform admin's pause and the region admins' pause are separate: "
    "the region is paused while either is set; only the platform lifts its own, and its resume lifts both.",
    (
        _REGION,
        _bool("paused", "true when paused, false when resumed"),
        _bool("by_platform", "true when the platform admin paused or resumed, false for a region admin"),
        _hex("account", "the key that paused or resumed the region"),
    ),
    ("RegionPauseSet",),
)

_REGION_EXPIRY_SETTINGS = _events(
    "region_expiry_settings",
    "Region coin expiry settings",
    "One row per RegionExpirySet log: how long the region's coins stay spendable, set by a region admin "
    "before the region's first mint. Coins earned in one period of expiry_days JST days can be spent until "
    "the end of the next period.",
    (
        _REGION,
        _small("expiry_days", "length of a coin period in JST days; 0 = coins never expire", "days"),
        _hex("account", "the region admin key that set it"),
    ),
    ("RegionExpirySet",),
)

_COIN_EXPIRIES = _events(
    "coin_expiries",
    "Coin expiries",
    "One row per CoinsExpired log: coins of a person lapsed under the region's expiry rule. A lapse is "
    "logged when the person's holding next changes (a record, a support, a transfer), so day is the day it "
    "was counted, not the day the coins stopped being spendable.",
    (
        _REGION,
        _hex("holder", "whose coins lapsed (pseudonymised unless exported raw)", personal=True),
        _i("amount", "coins that lapsed", _COIN),
        _day(),
    ),
    ("CoinsExpired",),
    partitionable=True,
)

_SUPPORT_NONCE_CANCELLATIONS = _events(
    "support_nonce_cancellations",
    "Support nonce cancellations",
    "One row per SupportNonceCancelled log: a person withdrew a signed support request before it was "
    "used. A nonce is the person's across the ledger, not a region's: the table has no region column, and "
    "an export filtered by region leaves it empty rather than name people of other regions.",
    (
        _hex("supporter", "whose signature nonce was cancelled (pseudonymised unless exported raw)", personal=True),
        _i("nonce", "the cancelled nonce"),
    ),
    ("SupportNonceCancelled",),
    region=False,
)

_REGION_TRANSFER_SETTINGS = _events(
    "region_transfer_settings",
    "Region transfer settings",
    "One row per RegionTransfersSet log: whether people may transfer the region's coins to each other.",
    (
        _REGION,
        _bool("enabled", "true when transfers were enabled, false when disabled"),
        _hex("account", "the region admin key that changed it"),
    ),
    ("RegionTransfersSet",),
)

_ACTIVITY_DESIGNATIONS = _events(
    "activity_designations",
    "Activity designation changes",
    "One row per ActivityDesignationSet log: a region admin designated an activity as a 担い手活動 (or "
    "undid it). Only possible before the activity starts, so every record of an activity was made under "
    "the designation its last change gives (activities.designated).",
    (
        _i("activity_id", "the activity (see activities)"),
        _REGION,
        _bool("designated", "true when designated, false when the designation was withdrawn"),
        _hex("admin", "the region admin who changed it"),
    ),
    ("ActivityDesignationSet",),
)

_ACTIVITY_METADATA_CHANGES = _events(
    "activity_metadata_changes",
    "Activity metadata changes",
    "One row per ActivityMetadataChanged log: a region admin committed an activity to new off-chain text "
    "(its name, description or venue). Possible at any time, also after the activity closed; only the hash "
    "changes, never the activity's terms. The last change up to the export's last block is "
    "activities.metadata_hash; the earlier hashes say what the text was when.",
    (
        _i("activity_id", "the activity (see activities)"),
        _REGION,
        _hex("metadata_hash", "hash of the new off-chain text (0x hex)"),
        _hex("admin", "the region admin who changed it"),
    ),
    ("ActivityMetadataChanged",),
)

_ACTIVITY_CLOSURES = _events(
    "activity_closures",
    "Activity closures",
    "One row per ActivityClosed log.",
    (
        _i("activity_id", "the closed activity"),
        _REGION,
        _hex("admin", "the region admin who closed it"),
    ),
    ("ActivityClosed",),
)

_PROJECT_CLOSURES = _events(
    "project_closures",
    "Project closures",
    "One row per ProjectClosed log.",
    (
        _i("project_id", "the closed project"),
        _REGION,
        _hex("admin", "the region admin who closed it"),
    ),
    ("ProjectClosed",),
)

_PROJECT_METADATA_CHANGES = _events(
    "project_metadata_changes",
    "Project metadata changes",
    "One row per ProjectMetadataChanged log: a region admin committed a project to new off-chain text. "
    "Possible at any time, also after the project closed. The last change up to the export's last block "
    "is projects.metadata_hash; the earlier hashes say what the text was when.",
    (
        _i("project_id", "the project (see projects)"),
        _REGION,
        _hex("metadata_hash", "hash of the new off-chain text (0x hex)"),
        _hex("admin", "the region admin who changed it"),
    ),
    ("ProjectMetadataChanged",),
)

_DOMAIN_CHANGES = _events(
    "domain_changes",
    "EIP-712 domain changes",
    "One row per EIP712DomainChanged log (never emitted by this ledger; exported so nothing is dropped).",
    (),
    ("EIP712DomainChanged",),
    region=False,
)

_UNDECODABLE_LOGS = _events(
    "undecodable_logs",
    "Undecodable logs",
    "Logs of the ledger that the index could not decode with the ledger's ABI (should be empty).",
    (
        _hex("topic0", "the log's first topic (empty for a log without topics)"),
        ExportField("topics", "string", "all topics, comma separated", text="free"),
        _hex("data", "the raw data, 0x hex"),
        ExportField("reason", "string", "why it did not decode", text="free"),
    ),
    (),
    region=False,
)


def _registration(
    name: str,
    title: str,
    description: str,
    fields: tuple[ExportField, ...],
    key: str,
    events: tuple[str, ...],
    index_table: str,
) -> ExportTable:
    return ExportTable(
        name=name,
        kind="entities",
        title=title,
        description=description,
        fields=PROVENANCE + fields,
        key=(key,),
        events=events,
        index_table=index_table,
    )


_REGIONS = _registration(
    "regions",
    "Regions",
    "One row per RegionRegistered log up to the export's last block, with the region's settings as of that "
    "block. Provenance is the registration's log.",
    (
        _REGION,
        ExportField("name", "string", "the region coin's name", text="free"),
        ExportField("symbol", "string", "the region coin's symbol", text="free"),
        _hex("coin", "address of the region's coin (ERC-20) contract"),
        _hex("first_admin", "the first region admin (an institution's key)"),
        _bool("paused", "whether the region was paused at the export's last block"),
        _bool("transfers_enabled", "whether person-to-person transfers were enabled at the export's last block"),
        _small("expiry_days", "coin period in JST days at the export's last block; 0 = coins never expire", "days"),
    ),
    "region",
    ("RegionRegistered", "RegionPauseSet", "RegionTransfersSet", "RegionExpirySet"),
    "region_registrations",
)

_ACTIVITIES = _registration(
    "activities",
    "Activities",
    "One row per ActivityRegistered log up to the export's last block, with its designation, its metadata "
    "hash and whether it was closed as of that block. Provenance is the registration's log.",
    (
        _i("activity_id", "the activity id"),
        _REGION,
        _small("kind", "contribution kind code (see kinds)"),
        _small("mlit_type", "MLIT 関係人口 type of the kind: kind // 10"),
        _i("reward", "coins minted per unit of a record", _COIN),
        _i("starts_at", "start of the claim window", "s (unix time, UTC)"),
        _i("ends_at", "end of the claim window", "s (unix time, UTC)"),
        _i("capacity", "maximum records, 0 = unlimited"),
        _hex(
            "metadata_hash",
            "hash of the off-chain description (0x hex), at the export's last block (the registration's hash "
            "unless an ActivityMetadataChanged replaced it)",
        ),
        _hex("admin", "the region admin who registered it"),
        _bool(
            "designated",
            "a 担い手活動 designated by the municipality, at the export's last block (the registration's flag "
            "unless an ActivityDesignationSet changed it)",
        ),
        _small("unit", "reward unit code: 0 per record, 1 per hour, 2 per day (see reward_units)"),
        _small("max_units", "most units one record may carry"),
        _bool("closed", "whether the activity was closed at the export's last block"),
        _i("closed_block", "block of the closure (empty when open)", nullable=True),
    ),
    "activity_id",
    ("ActivityRegistered", "ActivityDesignationSet", "ActivityMetadataChanged", "ActivityClosed"),
    "activity_registrations",
)

_PROJECTS = _registration(
    "projects",
    "Projects",
    "One row per ProjectRegistered log up to the export's last block, with its metadata hash and whether "
    "the project was closed as of that block. Provenance is the registration's log. What it raised is the "
    "sum of supports.amount.",
    (
        _i("project_id", "the project id"),
        _REGION,
        _hex(
            "metadata_hash",
            "hash of the off-chain description (0x hex), at the export's last block (the registration's hash "
            "unless a ProjectMetadataChanged replaced it)",
        ),
        _hex("admin", "the region admin who registered it"),
        _bool("closed", "whether the project was closed at the export's last block"),
        _i("closed_block", "block of the closure (empty when open)", nullable=True),
    ),
    "project_id",
    ("ProjectRegistered", "ProjectMetadataChanged", "ProjectClosed"),
    "project_registrations",
)

_KINDS = ExportTable(
    name="kinds",
    kind="reference",
    title="Contribution kinds",
    description="The code list of contribution kinds and their MLIT 関係人口 types (ledger/taxonomy.py).",
    fields=(
        _small("kind", "contribution kind code"),
        ExportField("kind_ja", "string", "the kind's label in Japanese", text="free"),
        ExportField("kind_en", "string", "the kind's label in English", text="free"),
        _small("mlit_type", "MLIT type code: kind // 10"),
        ExportField("mlit_type_ja", "string", "the MLIT type's label in Japanese", text="free"),
        ExportField("mlit_type_en", "string", "the MLIT type's label in English", text="free"),
        _bool("visiting", "訪問系 as MLIT counts it (not 非訪問系, not 地縁・血縁)"),
    ),
    key=("kind",),
    region_field=None,
)

_REWARD_UNITS = ExportTable(
    name="reward_units",
    kind="reference",
    title="Reward units",
    description="The code list of what an activity's reward is paid per (ledger/taxonomy.py RewardUnit): a "
    "record carries that many units.",
    fields=(
        _small("unit", "reward unit code"),
        ExportField("unit_ja", "string", "the unit's label in Japanese", text="free"),
        ExportField("unit_en", "string", "the unit's label in English", text="free"),
    ),
    key=("unit",),
    region_field=None,
)

_SCORE = "0..1 component"
_TIES = ExportTable(
    name="ties",
    kind="derived",
    title="Ties (person × region)",
    description="The index's tie of each person with each region (ledger/ties.py, docs/ties.md), computed as "
    "of as_of: the end of the JST day of the indexed head. Every component is published, not only the score.",
    fields=(
        _hex("participant", "the person (pseudonymised unless exported raw)", personal=True),
        _REGION,
        _small("records", "live (unrevoked) records"),
        _small("revoked_records", "revoked records"),
        _i("coins_earned", "coins minted by live records in the trailing year", _COIN),
        _i("coins_given", "coins spent on support in the trailing year", _COIN),
        _i("first_at", "time of the first live record (0 when none)", "s (unix time, UTC)"),
        _i("last_at", "time of the last live record (0 when none)", "s (unix time, UTC)"),
        _small("first_month", "JST month of the first live record, YYYYMM (0 when none)"),
        _small("kin_first_month", "JST month of the first live 地縁・血縁 (kin) record, YYYYMM (0 when none)"),
        _small("visit_days", "visit days in the trailing year (訪問系, kin excluded)", "days"),
        ExportField("visit_band", "string", "MLIT visit-day band: 0, 1, 2-7, 8+", text="code"),
        _small("active_months", "distinct active months in the continuity window", "months"),
        _small("distinct_types", "distinct MLIT types of live records"),
        _small("non_visiting_records", "live 非訪問系 records"),
        _small("kin_records", "live 地縁・血縁 records"),
        _small("help_hours", "hours of live per-hour records in the trailing year", "hours"),
        _small("stay_days", "distinct days covered by live per-day records (stays) in the trailing year", "days"),
        ExportField("continuity", "number", "continuity component", _SCORE),
        ExportField("frequency", "number", "frequency component", _SCORE),
        ExportField("diversity", "number", "diversity component", _SCORE),
        ExportField("recency", "number", "recency component", _SCORE),
        ExportField("intensity", "number", "intensity component", _SCORE),
        ExportField("score", "number", "the tie score", "0..100"),
        ExportField("stage", "string", "none, visitor, repeater, kankei, core (docs/ties.md)", text="code"),
        _bool("kankei", "counts as 関係人口"),
        ExportField(
            "category", "string", "visiting or non_visiting when kankei, else empty", nullable=True, text="code"
        ),
        _i("as_of", "the moment the tie was computed for", "s (unix time, UTC)"),
    ),
    key=("participant", "region"),
)

_SUPPRESSED = " (empty when suppressed: fewer than k)"
_REGION_DAILY = ExportTable(
    name="region_daily",
    kind="aggregates",
    title="Region × day × kind",
    description="Per region, JST day and contribution kind: live records, distinct people and coins issued "
    "(the index's region_daily). Small cells are suppressed as on the dashboards: a count below k is empty, "
    "and coins_issued is empty whenever participants is.",
    fields=(
        _REGION,
        ExportField("day", "date", "JST calendar day"),
        _small("kind", "contribution kind code"),
        _small("mlit_type", "MLIT type code"),
        _small("records", "live records made that day" + _SUPPRESSED, nullable=True),
        _small("participants", "distinct people with a live record that day" + _SUPPRESSED, nullable=True),
        _i("coins_issued", "coins minted by that day's records (revoked ones included)", _COIN, nullable=True),
        _small("revoked_records", "records of that day revoked later" + _SUPPRESSED, nullable=True),
    ),
    key=("region", "day", "kind"),
)

_REGION_DAILY_COINS = ExportTable(
    name="region_daily_coins",
    kind="aggregates",
    title="Region × day coins",
    description="Per region and JST day: coins issued, spent on support, clawed back and lapsed (the index's "
    "region_daily_coins). A count of supports or revocations below k is empty together with its coin total; "
    "issued is empty when no kind that day had k or more people; expired is empty when fewer than k people's "
    "coins lapsed that day.",
    fields=(
        _REGION,
        ExportField("day", "date", "JST calendar day"),
        _i("issued", "coins minted by records made that day", _COIN, nullable=True),
        _i("spent", "coins spent on support that day", _COIN, nullable=True),
        _i("clawed_back", "coins burned by revocations that day", _COIN, nullable=True),
        _small("supports", "support actions that day" + _SUPPRESSED, nullable=True),
        _small("revocations", "revocations that day" + _SUPPRESSED, nullable=True),
        _i("expired", "coins that lapsed under the region's expiry rule, counted that day", _COIN, nullable=True),
    ),
    key=("region", "day"),
)

_METADATA_TEXTS = ExportTable(
    name="metadata_texts",
    kind="reference",
    title="Activity and project texts (off chain)",
    description="The off-chain text (name, description, venue) behind every metadata hash an activity or a "
    "project of the export was registered with or changed to up to the export's last block, when the operator "
    "holds it. The chain stores only metadata_hash = keccak256 of the canonical JSON "
    '{"description","name","venue"} (keys sorted, no spaces, UTF-8); verify hashes each row again and checks '
    "that the chain knows the hash. Join activities.metadata_hash or projects.metadata_hash (and the *_metadata_"
    "changes tables) on it. A hash with no row here has no text the operator could give.",
    fields=(
        _hex("metadata_hash", "keccak256 of the canonical JSON of the text (0x hex), as the chain stores it"),
        ExportField("name", "string", "the activity's or project's name", text="free"),
        ExportField("description", "string", "its longer text (no personal data)", text="free"),
        ExportField("venue", "string", "where it takes place", text="free"),
    ),
    key=("metadata_hash",),
    region_field=None,
)

_FIGURES = ExportTable(
    name="figures",
    kind="reference",
    title="Figure definitions",
    description="The definition of every figure the dashboards, the JSON API and this export use, in 日本語 and "
    "English, by its stable id (ledger/figures.py): the same text the pages and the API show.",
    fields=(
        ExportField("figure", "string", "the figure's stable id (data-figure on the pages)", text="code"),
        ExportField("label_ja", "string", "its label in Japanese", text="free"),
        ExportField("label_en", "string", "its label in English", text="free"),
        ExportField("definition_ja", "string", "its definition in Japanese", text="free"),
        ExportField("definition_en", "string", "its definition in English", text="free"),
    ),
    key=("figure",),
    region_field=None,
)

_TIE_PARAMETERS = ExportTable(
    name="tie_parameters",
    kind="reference",
    title="Ties model parameters",
    description="Every constant of the ties model the index computed the ties table with (ledger/ties.py "
    "TieParams, argued in docs/ties.md): windows, component scales, score weights and stage thresholds.",
    fields=(
        ExportField("parameter", "string", "the parameter's name in ledger.ties.TieParams", text="code"),
        ExportField("value", "number", "its value"),
        ExportField("part", "string", "window, component, weight or stage threshold", text="code"),
    ),
    key=("parameter",),
    region_field=None,
)

TABLES: dict[str, ExportTable] = {
    t.name: t
    for t in (
        _CONTRIBUTIONS,
        _REVOCATIONS,
        _SUPPORTS,
        _COIN_MOVEMENTS,
        _COIN_TRANSFERS,
        _COIN_EXPIRIES,
        _BATCHES,
        _REGIONS,
        _ACTIVITIES,
        _PROJECTS,
        _ACTIVITY_DESIGNATIONS,
        _ACTIVITY_METADATA_CHANGES,
        _ACTIVITY_CLOSURES,
        _PROJECT_METADATA_CHANGES,
        _PROJECT_CLOSURES,
        _SUPPORT_NONCE_CANCELLATIONS,
        _REGION_ROLE_CHANGES,
        _ROLE_CHANGES,
        _ROLE_ADMIN_CHANGES,
        _PAUSE_CHANGES,
        _REGION_PAUSE_CHANGES,
        _REGION_TRANSFER_SETTINGS,
        _REGION_EXPIRY_SETTINGS,
        _DOMAIN_CHANGES,
        _UNDECODABLE_LOGS,
        _TIES,
        _REGION_DAILY,
        _REGION_DAILY_COINS,
        _KINDS,
        _REWARD_UNITS,
        _METADATA_TEXTS,
        _FIGURES,
        _TIE_PARAMETERS,
    )
}
TABLE_NAMES: tuple[str, ...] = tuple(TABLES)
DEFAULT_TABLES: tuple[str, ...] = TABLE_NAMES


def table(name: str) -> ExportTable:
    return TABLES[name]


def arrow_type(f: ExportField) -> pa.DataType:
    """The Arrow (and so Parquet) type of a field."""
    if f.type == "integer":
        return pa.int64() if f.wide else pa.int32()
    if f.type == "boolean":
        return pa.bool_()
    if f.type == "date":
        return pa.date32()
    if f.type == "number":
        return pa.float64()
    return pa.string()


def arrow_schema(t: ExportTable) -> pa.Schema:
    # Every Arrow field is nullable: whether a column may be empty is the data dictionary's
    # constraint (``required``), and a suppressed aggregate cell is null in any column it hides.
    return pa.schema([pa.field(f.name, arrow_type(f)) for f in t.fields])
