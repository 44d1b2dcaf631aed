"""A person: ties, history, coins and the projects they supported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, text

from ledger.indexer.refresh import head_as_of
from ledger.queries.audit import REVOCATION_REASONS
from ledger.queries.cells import _kind_labels, _region_names, name_region, normalize_address
from ledger.ties import VISIT_BAND_LABELS, Stage, tie_reading

# ---------------------------------------------------------------------------------------------
# A person: ties, history, coins
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TieComponentValues:
    """The five published components of a tie, each in [0, 1] (docs/ties.md §3)."""

    continuity: float
    frequency: float
    diversity: float
    recency: float
    intensity: float


@dataclass(frozen=True, slots=True)
class PersonTie:
    """One person×region tie (``ties`` row) with the raw figures behind it; never show the score alone."""

    region: int
    region_name: str | None  # RegionRegistered.name (None if the region is not indexed)
    stage: Stage
    stage_ja: str
    stage_en: str
    score: float  # 0-100, the weighted mean of the components
    components: TieComponentValues
    kankei: bool  # counts as 関係人口 (stage 関係人口 or コア)
    category: str | None  # "visiting" / "non_visiting" when kankei
    records: int  # live records
    revoked_records: int
    coins_earned: int  # in the trailing year
    coins_given: int  # spent on 応援 in the trailing year
    first_at: int  # unix seconds of the first live record (0 when none is live)
    last_at: int
    first_month: int  # YYYYMM, the cohort (0 when none is live)
    visit_days: int  # 訪問系 days in the trailing year
    visit_band: str
    visit_band_ja: str
    visit_band_en: str
    help_hours: int  # hours of live per-hour records in the trailing year (docs/ties.md §3, units)
    stay_days: int  # distinct days covered by live per-day records (stays) in the trailing year
    active_months: int  # in the continuity window
    distinct_types: int  # MLIT forms in the trailing year
    non_visiting_records: int
    kin_records: int
    as_of: int  # the moment the tie is read for (end of the head's JST day): recency and score decay daily
    code: str = ""  # five-digit JIS code, filled from ``region``
    label: str = ""  # the municipality's name (日本語), else the coin's name

    def __post_init__(self) -> None:
        name_region(self, self.region_name)


def person_ties(conn: Connection, address: str) -> list[PersonTie]:
    """Every region ``address`` is tied to, strongest stage first, then by score.

    Includes ties whose records were all revoked (stage なし, ``records == 0``), so a person sees
    what happened to them.
    """
    participant = normalize_address(address)
    rows = conn.execute(
        text(
            "SELECT t.region, g.name, t.stage, t.continuity, t.frequency, t.diversity, t.intensity, t.kankei, "
            "t.category, t.records, t.revoked_records, t.coins_earned, t.coins_given, t.first_at, t.last_at, "
            "t.first_month, t.visit_days, t.visit_band, t.active_months, t.distinct_types, t.non_visiting_records, "
            "t.kin_records, t.help_hours, t.stay_days "
            "FROM ties t LEFT JOIN regions g ON g.region = t.region WHERE t.participant = :p"
        ),
        {"p": participant},
    ).all()
    as_of = head_as_of(conn) or 0
    ties = []
    for row in rows:
        r = row._mapping
        stage = Stage(str(r["stage"]))
        band = str(r["visit_band"])
        band_ja, band_en = VISIT_BAND_LABELS.get(band, (band, band))
        continuity, frequency, diversity, intensity = (
            float(r["continuity"]), float(r["frequency"]), float(r["diversity"]), float(r["intensity"])
        )  # fmt: skip
        # recency and score for the head's day, from the stored step components (docs/decisions/0016)
        recency, score = tie_reading(int(r["last_at"]), continuity, frequency, diversity, intensity, as_of)
        ties.append(
            PersonTie(
                region=int(r["region"]),
                region_name=None if r["name"] is None else str(r["name"]),
                stage=stage,
                stage_ja=stage.ja,
                stage_en=stage.en,
                score=score,
                components=TieComponentValues(continuity, frequency, diversity, recency, intensity),
                kankei=bool(r["kankei"]),
                category=None if r["category"] is None else str(r["category"]),
                records=int(r["records"]),
                revoked_records=int(r["revoked_records"]),
                coins_earned=int(r["coins_earned"]),
                coins_given=int(r["coins_given"]),
                first_at=int(r["first_at"]),
                last_at=int(r["last_at"]),
                first_month=int(r["first_month"]),
                visit_days=int(r["visit_days"]),
                visit_band=band,
                visit_band_ja=band_ja,
                visit_band_en=band_en,
                help_hours=int(r["help_hours"]),
                stay_days=int(r["stay_days"]),
                active_months=int(r["active_months"]),
                distinct_types=int(r["distinct_types"]),
                non_visiting_records=int(r["non_visiting_records"]),
                kin_records=int(r["kin_records"]),
                as_of=as_of,
            )
        )
    ties.sort(key=lambda t: (-t.stage.rank, -t.score, t.region))
    return ties


@dataclass(frozen=True, slots=True)
class RevocationInfo:
    """Why and when a record was revoked."""

    reason: int
    reason_ja: str
    reason_en: str
    clawed_back: int  # coins burned from the participant
    shortfall: int  # coins already spent, left spent
    evidence_hash: str
    admin: str
    block_number: int
    tx_hash: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a person's history: a contribution record or a support (応援)."""

    entry: Literal["contribution", "support"]
    region: int
    region_name: str | None
    amount: int  # coins minted (contribution) or spent (support)
    block_number: int
    log_index: int
    tx_hash: str
    timestamp: int  # unix seconds
    day: int  # YYYYMMDD JST
    # contribution only
    activity_id: int | None = None
    kind: int | None = None
    kind_ja: str | None = None
    kind_en: str | None = None
    mlit_type: int | None = None
    issuer: str | None = None
    units: int | None = None  # hours or days (1 for a visit or an event)
    unit: int | None = None  # the activity's RewardUnit: 0 per record, 1 per hour, 2 per day
    designated: bool = False  # a designated 担い手活動 (ふるさと住民登録)
    revoked: bool = False
    revocation: RevocationInfo | None = None
    # support only
    project_id: int | None = None
    relayer: str | None = None  # zero address when the supporter sent it themselves
    code: str = ""  # five-digit JIS code, filled from ``region``
    label: str = ""  # the municipality's name (日本語), else the coin's name

    def __post_init__(self) -> None:
        name_region(self, self.region_name)

    @property
    def cursor(self) -> tuple[int, int]:
        """Pass as ``before=`` to :func:`person_history` for the next page."""
        return (self.block_number, self.log_index)


_HISTORY_BEFORE = "AND (x.block_number < :b OR (x.block_number = :b AND x.log_index < :l)) "


def person_history(
    conn: Connection, address: str, limit: int = 50, before: tuple[int, int] | None = None
) -> list[HistoryEntry]:
    """A person's contributions (with revocations) and supports in every region, newest first.

    ``before`` is the ``cursor`` of the last entry of the previous page: entries strictly older
    than that (block number, log index) are returned.
    """
    participant = normalize_address(address)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    params: dict[str, Any] = {"p": participant, "n": limit}
    where = ""
    if before is not None:
        block, log_index = before
        params.update(b=int(block), l=int(log_index))
        where = _HISTORY_BEFORE
    names = _region_names(conn)
    contributions = conn.execute(
        text(
            "SELECT x.region, x.amount, x.block_number, x.log_index, x.tx_hash, x.block_timestamp, x.day, "
            "x.activity_id, x.kind, x.mlit_type, x.issuer, x.units, v.reason, v.clawed_back, v.shortfall, "
            "v.evidence_hash, v.admin, v.block_number, v.tx_hash, v.block_timestamp, x.unit, x.designated "
            "FROM contributions x LEFT JOIN revocations v ON v.chain_id = x.chain_id "
            "AND v.activity_id = x.activity_id AND v.participant = x.participant "
            f"WHERE x.participant = :p {where}"
            "ORDER BY x.block_number DESC, x.log_index DESC LIMIT :n"
        ),
        params,
    ).all()
    supports = conn.execute(
        text(
            "SELECT x.region, x.amount, x.block_number, x.log_index, x.tx_hash, x.block_timestamp, x.day, "
            "x.project_id, x.relayer FROM supports x "
            f"WHERE x.supporter = :p {where}"
            "ORDER BY x.block_number DESC, x.log_index DESC LIMIT :n"
        ),
        params,
    ).all()
    entries: list[HistoryEntry] = []
    for r in contributions:
        kind = int(r[8])
        kind_ja, kind_en = _kind_labels(kind)
        revocation = None
        if r[12] is not None:
            reason = int(r[12])
            reason_ja, reason_en = REVOCATION_REASONS.get(reason, (str(reason), str(reason)))
            revocation = RevocationInfo(
                reason, reason_ja, reason_en, int(r[13]), int(r[14]), str(r[15]), str(r[16]), int(r[17]),
                str(r[18]), int(r[19]),
            )  # fmt: skip
        entries.append(
            HistoryEntry(
                entry="contribution",
                region=int(r[0]),
                region_name=names.get(int(r[0])),
                amount=int(r[1]),
                block_number=int(r[2]),
                log_index=int(r[3]),
                tx_hash=str(r[4]),
                timestamp=int(r[5]),
                day=int(r[6]),
                activity_id=int(r[7]),
                kind=kind,
                kind_ja=kind_ja,
                kind_en=kind_en,
                mlit_type=int(r[9]),
                issuer=str(r[10]),
                units=int(r[11]),
                unit=int(r[20]),
                designated=bool(r[21]),
                revoked=revocation is not None,
                revocation=revocation,
            )
        )
    for r in supports:
        entries.append(
            HistoryEntry(
                entry="support",
                region=int(r[0]),
                region_name=names.get(int(r[0])),
                amount=int(r[1]),
                block_number=int(r[2]),
                log_index=int(r[3]),
                tx_hash=str(r[4]),
                timestamp=int(r[5]),
                day=int(r[6]),
                project_id=int(r[7]),
                relayer=str(r[8]),
            )
        )
    entries.sort(key=lambda e: e.cursor, reverse=True)
    return entries[:limit]


@dataclass(frozen=True, slots=True)
class PersonCoins:
    """A person's coins of one region, from every movement (``coin_movements``)."""

    region: int
    region_name: str | None
    earned: int  # minted by their records (revoked ones included: see clawed_back)
    clawed_back: int  # burned by revocations
    spent: int  # on 応援
    transferred_in: int
    transferred_out: int
    balance: int  # earned - clawed_back - spent + transferred_in - transferred_out - expired
    expired: int = 0  # lapsed under the region's expiry rule (as counted on chain so far)
    code: str = ""  # five-digit JIS code, filled from ``region``
    label: str = ""  # the municipality's name (日本語), else the coin's name

    def __post_init__(self) -> None:
        name_region(self, self.region_name)


def person_coins(conn: Connection, address: str) -> list[PersonCoins]:
    """Per region, how ``address``'s coins were earned and used, and the balance that results."""
    account = normalize_address(address)
    totals: dict[int, dict[str, int]] = {}
    for region, movement, delta in conn.execute(
        text("SELECT region, movement, SUM(delta) FROM coin_movements WHERE account = :a GROUP BY region, movement"),
        {"a": account},
    ):
        totals.setdefault(int(region), {})[str(movement)] = int(delta)
    names = _region_names(conn)
    result = []
    for region in sorted(totals):
        t = totals[region]
        earned, clawed = t.get("mint", 0), -t.get("revoke", 0)
        spent, t_in, t_out = -t.get("support", 0), t.get("transfer_in", 0), -t.get("transfer_out", 0)
        expired = -t.get("expire", 0)
        result.append(
            PersonCoins(
                region=region,
                region_name=names.get(region),
                earned=earned,
                clawed_back=clawed,
                spent=spent,
                transferred_in=t_in,
                transferred_out=t_out,
                balance=earned - clawed - spent + t_in - t_out - expired,
                expired=expired,
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class SupportedProject:
    """A project a person supported (応援), with what they gave."""

    project_id: int
    region: int
    region_name: str | None
    name: str | None
    closed: bool
    amount: int  # coins the person spent on it
    supports: int  # their support transactions
    first_at: int
    last_at: int
    code: str = ""  # five-digit JIS code, filled from ``region``
    label: str = ""  # the municipality's name (日本語), else the coin's name

    def __post_init__(self) -> None:
        name_region(self, self.region_name)


def person_supports(conn: Connection, address: str) -> list[SupportedProject]:
    """The projects ``address`` supported, most recent first (``ix_supports_supporter_region``)."""
    supporter = normalize_address(address)
    rows = conn.execute(
        text(
            "SELECT s.project_id, s.region, m.name, p.closed, SUM(s.amount), COUNT(*), MIN(s.block_timestamp), "
            "MAX(s.block_timestamp) FROM supports s LEFT JOIN projects p ON p.project_id = s.project_id "
            "LEFT JOIN activity_metadata m ON m.metadata_hash = p.metadata_hash "
            "WHERE s.supporter = :p GROUP BY s.project_id, s.region, m.name, p.closed"
        ),
        {"p": supporter},
    ).all()
    names = _region_names(conn)
    result = [
        SupportedProject(
            int(r[0]),
            int(r[1]),
            names.get(int(r[1])),
            None if r[2] is None else str(r[2]),
            bool(r[3]),
            int(r[4] or 0),
            int(r[5]),
            int(r[6]),
            int(r[7]),
        )
        for r in rows
    ]
    result.sort(key=lambda s: (-s.last_at, s.project_id))
    return result
