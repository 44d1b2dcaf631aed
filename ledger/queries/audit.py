"""The issuer audit (operator view: never suppressed) and its public form."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from sqlalchemy import Connection, text

from ledger.queries.cells import _check_range, _check_region, _day_start, _region_name, day_int

REVOCATION_REASONS: dict[int, tuple[str, str]] = {
    1: ("誤発行", "Issued in error"),
    2: ("不参加", "Not present"),
    3: ("同一人物の重複", "Duplicate person"),
    4: ("本人の申し出", "Participant's request"),
    5: ("その他", "Other"),
}
"""Revocation reason codes of ``revoke`` (docs/contracts.md §6) with their 日本語 / English labels."""

ROLE_KINDS: dict[int, tuple[str, str]] = {1: ("地域管理者", "Region admin"), 2: ("発行者", "Issuer")}
"""``roleKind`` of ``RegionRoleGranted`` / ``RegionRoleRevoked``."""


# ---------------------------------------------------------------------------------------------
# Issuer audit (operator view: never suppressed)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuerActivity:
    """What one issuer recorded in the region over the range."""

    issuer: str
    batches: int
    records: int
    coins_minted: int
    revoked_records: int  # of the issuer's records of the range, revoked since
    first_batch_at: int  # unix seconds
    last_batch_at: int
    first_batch_block: int
    last_batch_block: int
    last_batch_tx: str
    is_issuer_now: bool  # still holds the issuer role


@dataclass(frozen=True, slots=True)
class RevocationEntry:
    """A revocation made in the range: which record, who issued it, who revoked it and why."""

    participant: str | None  # None in the public version (public_audit)
    activity_id: int
    kind: int | None  # of the revoked record
    record_issuer: str | None
    record_day: int | None  # YYYYMMDD of the revoked record
    reason: int
    reason_ja: str
    reason_en: str
    clawed_back: int
    shortfall: int
    evidence_hash: str
    admin: str
    block_number: int
    tx_hash: str
    timestamp: int
    day: int


@dataclass(frozen=True, slots=True)
class RoleChangeEntry:
    """A region role granted or revoked in the range."""

    role_kind: int  # 1 region admin, 2 issuer
    role_ja: str
    role_en: str
    account: str
    sender: str  # who granted or revoked it
    granted: bool
    block_number: int
    tx_hash: str
    timestamp: int


REVOCATIONS_SHOWN = 50
"""How many of a period's revocations the issuer audit lists by default, newest first (the page, the
dashboard JSON, the CLI): ``revocations_total`` says how many there are, and
``GET /api/v1/regions/{code}/audit?revocations_offset=…&revocations_limit=…`` pages through the rest
(docs/decisions/0017)."""

REVOCATIONS_PAGE_MAX = 1_000
"""The most revocations one request of the audit lists."""


@dataclass(frozen=True, slots=True)
class IssuerAudit:
    """Who issued what, what was revoked and why, and who got or lost a role — for one region."""

    region: int
    region_name: str | None
    start: date
    end: date
    issuers: tuple[IssuerActivity, ...]  # most coins minted first
    revocations: tuple[RevocationEntry, ...]  # newest first: at most the limit asked for, from revocations_offset
    role_changes: tuple[RoleChangeEntry, ...]  # oldest first
    revocations_total: int  # revocations made on the period's days (the `revocations` figure, never suppressed)
    revocations_offset: int  # how many newer ones come before revocations[0]


def issuer_audit(
    conn: Connection,
    region: int,
    start: date,
    end: date,
    revocations_limit: int = REVOCATIONS_SHOWN,
    revocations_offset: int = 0,
) -> IssuerAudit:
    """The issuer audit of a region for ``start``..``end`` (JST days; batches and role changes by their
    block time, revocations by their day). An operator view: figures are never suppressed.

    Per issuer, the records of the period's days and how many of them are revoked since come from
    ``region_daily_issuers`` (kept by the refresher, migrations 0012 and 0017); the period's
    revocations are counted in full (``revocations_total``) and listed newest first, at most
    ``revocations_limit`` of them from ``revocations_offset`` on, so the cost does not grow with how
    many there are beyond the few read.
    """
    _check_region(region)
    _check_range(start, end)
    if not 0 <= revocations_limit <= REVOCATIONS_PAGE_MAX:
        raise ValueError(f"revocations_limit must be 0..{REVOCATIONS_PAGE_MAX}, not {revocations_limit}")
    if revocations_offset < 0:
        raise ValueError(f"revocations_offset must not be negative, not {revocations_offset}")
    t0, t1 = _day_start(start), _day_start(end + timedelta(days=1))
    params = {"r": region, "t0": t0, "t1": t1, "d0": day_int(start), "d1": day_int(end)}
    current = {
        str(r[0])
        for r in conn.execute(
            text("SELECT account FROM region_roles WHERE region = :r AND role_kind = 2"), {"r": region}
        )
    }
    issuers = []
    # region_daily_issuers (kept by the refresher with region_daily, migration 0012): a few rows a day
    # instead of every batch of the period; the last batch's transaction is that of the issuer's
    # latest day in the period. revoked_records (migration 0017) is the day's records of the issuer
    # revoked since: the store marks a revoked record's days dirty, and a rollback of a revocation too.
    for r in conn.execute(
        text(
            "SELECT d.issuer, SUM(d.batches), SUM(d.records), SUM(d.minted), MIN(d.first_at), MAX(d.last_at), "
            "MIN(d.first_block), MAX(d.last_block), "
            "(SELECT l.last_tx_hash FROM region_daily_issuers l WHERE l.region = d.region AND l.issuer = d.issuer "
            " AND l.day BETWEEN :d0 AND :d1 ORDER BY l.last_block DESC, l.last_log_index DESC LIMIT 1), "
            "SUM(d.revoked_records) "
            "FROM region_daily_issuers d WHERE d.region = :r AND d.day BETWEEN :d0 AND :d1 "
            "GROUP BY d.region, d.issuer"
        ),
        params,
    ):
        issuer = str(r[0])
        issuers.append(
            IssuerActivity(
                issuer=issuer,
                batches=int(r[1]),
                records=int(r[2] or 0),
                coins_minted=int(r[3] or 0),
                revoked_records=int(r[9] or 0),
                first_batch_at=int(r[4]),
                last_batch_at=int(r[5]),
                first_batch_block=int(r[6]),
                last_batch_block=int(r[7]),
                last_batch_tx=str(r[8]),
                is_issuer_now=issuer in current,
            )
        )
    issuers.sort(key=lambda i: (-i.coins_minted, i.issuer))
    total = int(
        conn.execute(
            text("SELECT COUNT(*) FROM revocations WHERE region = :r AND day BETWEEN :d0 AND :d1"), params
        ).scalar_one()
    )
    revocations = []
    # The page's revocations first (an index range of revocations, a top-N sort), then their records:
    # one contributions lookup per revocation listed, not per revocation of the period.
    for r in conn.execute(
        text(
            "SELECT v.participant, v.activity_id, c.kind, c.issuer, c.day, v.reason, v.clawed_back, v.shortfall, "
            "v.evidence_hash, v.admin, v.block_number, v.tx_hash, v.block_timestamp, v.day FROM ("
            " SELECT chain_id, participant, activity_id, reason, clawed_back, shortfall, evidence_hash, admin, "
            " block_number, log_index, tx_hash, block_timestamp, day FROM revocations "
            " WHERE region = :r AND day BETWEEN :d0 AND :d1 "
            " ORDER BY block_number DESC, log_index DESC LIMIT :n OFFSET :o) v "
            "LEFT JOIN contributions c ON c.chain_id = v.chain_id "
            "AND c.activity_id = v.activity_id AND c.participant = v.participant "
            "ORDER BY v.block_number DESC, v.log_index DESC"
        ),
        {**params, "n": revocations_limit, "o": revocations_offset},
    ):
        reason = int(r[5])
        reason_ja, reason_en = REVOCATION_REASONS.get(reason, (str(reason), str(reason)))
        revocations.append(
            RevocationEntry(
                participant=str(r[0]),
                activity_id=int(r[1]),
                kind=None if r[2] is None else int(r[2]),
                record_issuer=None if r[3] is None else str(r[3]),
                record_day=None if r[4] is None else int(r[4]),
                reason=reason,
                reason_ja=reason_ja,
                reason_en=reason_en,
                clawed_back=int(r[6]),
                shortfall=int(r[7]),
                evidence_hash=str(r[8]),
                admin=str(r[9]),
                block_number=int(r[10]),
                tx_hash=str(r[11]),
                timestamp=int(r[12]),
                day=int(r[13]),
            )
        )
    role_changes = []
    for r in conn.execute(
        text(
            "SELECT role_kind, account, sender, granted, block_number, tx_hash, block_timestamp "
            "FROM region_role_changes WHERE region = :r AND block_timestamp >= :t0 AND block_timestamp < :t1 "
            "ORDER BY block_number, log_index"
        ),
        params,
    ):
        role_kind = int(r[0])
        role_ja, role_en = ROLE_KINDS.get(role_kind, (str(role_kind), str(role_kind)))
        role_changes.append(
            RoleChangeEntry(
                role_kind, role_ja, role_en, str(r[1]), str(r[2]), bool(r[3]), int(r[4]), str(r[5]), int(r[6])
            )
        )
    return IssuerAudit(
        region=region,
        region_name=_region_name(conn, region),
        start=start,
        end=end,
        issuers=tuple(issuers),
        revocations=tuple(revocations),
        role_changes=tuple(role_changes),
        revocations_total=total,
        revocations_offset=revocations_offset,
    )


def public_audit(audit: IssuerAudit) -> IssuerAudit:
    """The issuer audit without participant addresses (what a public dashboard shows)."""
    return replace(audit, revocations=tuple(replace(v, participant=None) for v in audit.revocations))
