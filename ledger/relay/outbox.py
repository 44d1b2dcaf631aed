"""The outbox: the one owner of ``claims``, ``support_requests``, ``relay_batches`` and ``relay_attempts``.

Everything that changes the state of a claim, a support or a relay batch is a named transition
here; the check-in intake, the support intake, the relayer, the demo seed, the dev stack and the
benchmarks call these functions and hold no SQL on these tables of their own. Each transition is
one write transaction (SQLite ``BEGIN IMMEDIATE``, see ``ledger.db.engine``), conditional on the
state it starts from, so two writers can never move a row twice.

A claim or a support (``claims.status``, ``support_requests.status``)::

    intake ──accept──▶ accepted ──take (build a batch)──▶ submitted ──finalise──▶ confirmed
                        │  ▲                               │  │  ▲                   │
                        │  └─────────release───────────────┘  │  └────unconfirm──────┘
                        └──reject──▶ rejected ◀──reject───────┘   (its block left the chain)

``submitted`` with a ``tx_hash`` means: mined, fewer than ``chain.confirmations`` blocks deep.
``confirmed`` means at depth; it goes back to ``submitted`` only if the block it was mined in is
no longer on the canonical chain (a reorg, a node restarted from older state): the relayer then
sends it again, and the batch sequence number keeps it exactly once. ``rejected`` is final and
only ever follows the chain's own refusal (a revert of our transaction, or of its simulation).

A relay batch (``relay_batches.status``; one transaction's worth of work: a ``recordBatch``, one
``supportBySig`` or a ``filler`` that only closes a nonce gap)::

    built ──store first attempt──▶ sent ──land──▶ mined ──finalise──▶ confirmed
      │                              │ ▲           │                     │
      └────────release───────────────┘ └─unconfirm─┴─────────────────────┘
                  ▼
               failed (its claims went back to accepted; a record batch gives up its sequence number)

``relay_attempts`` holds every signed transaction of a batch (first send and fee bumps, one
nonce) before it is broadcast, so the chain can always be asked what became of it.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.exc import IntegrityError

from ledger.db.engine import write_transaction
from ledger.errors import TsunagariError
from ledger.metrics import CLAIMS_SETTLED
from ledger.relay.journal import JournalEntry, note_claims
from ledger.relay.sender import Fees, SignedAttempt

__all__ = [
    "region_claims_since",
    "recent_claims",
    "ClaimStatus",
    "BatchStatus",
    "BatchKind",
    "NewClaim",
    "PendingClaim",
    "RecordedClaim",
    "Landing",
    "BatchRow",
    "SupportRow",
    "OutboxCounts",
    "Moved",
    "SeqTaken",
    "Outbox",
    "known_requests",
    "known_participants",
    "live_claims",
    "insert_claims",
    "insert_new_claims",
    "insert_claim",
    "claim_id_by_request",
    "claim_id_by_participant",
    "claim_status",
    "list_claims",
    "claim_counts",
    "queued_supports",
    "insert_support",
    "support_row",
]


class ClaimStatus(enum.StrEnum):
    """Where a claim or a support is (the same four states for both)."""

    ACCEPTED = "accepted"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class BatchStatus(enum.StrEnum):
    BUILT = "built"
    SENT = "sent"
    MINED = "mined"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class BatchKind(enum.StrEnum):
    RECORD = "record"
    SUPPORT = "support"
    FILLER = "filler"  # a zero-value transaction to ourselves that only uses up a nonce gap


OPEN = (BatchStatus.BUILT, BatchStatus.SENT)
LANDED = (BatchStatus.MINED, BatchStatus.CONFIRMED)


class Moved(TsunagariError):
    """The rows changed between reading and writing (another writer took them): nothing was written."""


class SeqTaken(TsunagariError):
    """A batch row with this (region, issuer, batch sequence) already exists: nothing was written."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _expanding(sql: str, *names: str) -> Any:
    return text(sql).bindparams(*(bindparam(n, expanding=True) for n in names))


# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewClaim:
    """A checked claim about to enter the outbox."""

    activity_id: int
    region: int
    participant: str  # lowercase hex
    request_hash: str
    slot: int
    units: int = 1  # hours or days for an activity rewarded per hour or day


@dataclass(frozen=True)
class PendingClaim:
    """An accepted claim as the relayer batches it."""

    id: int
    activity_id: int
    participant: str
    units: int = 1


@dataclass(frozen=True)
class RecordedClaim:
    """One ``ContributionRecorded`` log: the record it is, which one claim of the outbox stands for
    (one claim per activity and participant, as on chain)."""

    activity_id: int
    participant: str  # lowercase hex


@dataclass(frozen=True)
class Landing:
    """Where a transaction was mined."""

    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int


@dataclass(frozen=True)
class BatchRow:
    id: int
    kind: BatchKind
    region: int
    issuer: str
    batch_seq: int | None
    size: int
    status: BatchStatus
    nonce: int | None
    tx_hash: str | None
    block_number: int | None
    block_hash: str | None
    error: str | None


@dataclass(frozen=True)
class SupportRow:
    id: int
    supporter: str
    project_id: int
    region: int
    amount: int
    nonce: int
    deadline: int
    signature: str
    status: ClaimStatus
    accepted_at_ms: int
    batch_id: int | None
    tx_hash: str | None
    block_number: int | None
    error_code: str | None
    error_message: str | None


@dataclass
class OutboxCounts:
    """Claims and supports by status."""

    claims: dict[str, int] = field(default_factory=dict)
    supports: dict[str, int] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        """Accepted or submitted (not yet confirmed at depth)."""
        return sum(self.claims.get(s, 0) + self.supports.get(s, 0) for s in ("accepted", "submitted"))


def _batch(row: Any) -> BatchRow:
    return BatchRow(
        id=int(row["id"]),
        kind=BatchKind(row["kind"]),
        region=int(row["region"]),
        issuer=str(row["issuer"]),
        batch_seq=None if row["batch_seq"] is None else int(row["batch_seq"]),
        size=int(row["size"]),
        status=BatchStatus(row["status"]),
        nonce=None if row["nonce"] is None else int(row["nonce"]),
        tx_hash=row["tx_hash"],
        block_number=None if row["block_number"] is None else int(row["block_number"]),
        block_hash=row["block_hash"],
        error=row["error"],
    )


def _support(row: Any) -> SupportRow:
    return SupportRow(
        id=int(row["id"]),
        supporter=str(row["supporter"]),
        project_id=int(row["project_id"]),
        region=int(row["region"]),
        amount=int(row["amount"]),
        nonce=int(row["nonce"]),
        deadline=int(row["deadline"]),
        signature=str(row["signature"]),
        status=ClaimStatus(row["status"]),
        accepted_at_ms=int(row["accepted_at_ms"]),
        batch_id=None if row["batch_id"] is None else int(row["batch_id"]),
        tx_hash=row["tx_hash"],
        block_number=None if row["block_number"] is None else int(row["block_number"]),
        error_code=row["error_code"],
        error_message=row["error_message"],
    )


def _attempt(row: Any) -> SignedAttempt:
    return SignedAttempt(
        tx_hash=str(row[0]), nonce=int(row[1]), fees=Fees(max_fee=int(row[2]), priority=int(row[3])), raw_tx=str(row[4])
    )


# ---------------------------------------------------------------------------------------------
# Claim intake (inside the intake's own write transaction: it decides uniqueness and capacity)
# ---------------------------------------------------------------------------------------------

_INSERT_ONE = text(
    "INSERT INTO claims (activity_id, region, participant, request_hash, token_slot, units, status, accepted_at_ms) "
    "VALUES (:activity_id, :region, :participant, :request_hash, :slot, :units, 'accepted', :now) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
_INSERT_MANY = text(
    "INSERT INTO claims (activity_id, region, participant, request_hash, token_slot, units, status, accepted_at_ms) "
    "VALUES (:activity_id, :region, :participant, :request_hash, :slot, :units, 'accepted', :now)"
)
_REQUESTS_IN = _expanding("SELECT id, request_hash FROM claims WHERE request_hash IN :hashes", "hashes")
_PEOPLE_IN = _expanding(
    "SELECT id, participant FROM claims WHERE activity_id = :a AND participant IN :people", "people"
)


# On PostgreSQL a set is one array parameter, looked up one element at a time through its unique
# index (a LATERAL subquery with LIMIT 1 cannot be flattened into a hash join or a scan, whatever the
# table's statistics say: a claims table filling up faster than autovacuum analyzes it was read
# whole by each batch, 32 ms a batch at 16,000 claims), and a batch of claims is one INSERT over
# `unnest` of arrays, RETURNING the ids (executemany sent a row at a time).
_REQUESTS_ANY = text(
    "SELECT c.id, c.request_hash FROM unnest(CAST(:hashes AS VARCHAR[])) AS w(h) CROSS JOIN LATERAL "
    "(SELECT id, request_hash FROM claims WHERE request_hash = w.h LIMIT 1) AS c"
)
_PEOPLE_ANY = text(
    "SELECT c.id, c.participant FROM unnest(CAST(:people AS VARCHAR[])) AS w(p) CROSS JOIN LATERAL "
    "(SELECT id, participant FROM claims WHERE activity_id = :a AND participant = w.p LIMIT 1) AS c"
)
_INSERT_UNNEST = text(
    "INSERT INTO claims (activity_id, region, participant, request_hash, token_slot, units, status, accepted_at_ms) "
    "SELECT a, r, p, h, s, u, 'accepted', :now FROM unnest(CAST(:a AS BIGINT[]), CAST(:r AS INTEGER[]), "
    "CAST(:p AS VARCHAR[]), CAST(:h AS VARCHAR[]), CAST(:s AS BIGINT[]), CAST(:u AS INTEGER[])) AS t(a, r, p, h, s, u) "
    "RETURNING id, request_hash"
)
_INSERT_UNNEST_SKIPPING = text(
    "INSERT INTO claims (activity_id, region, participant, request_hash, token_slot, units, status, accepted_at_ms) "
    "SELECT a, r, p, h, s, u, 'accepted', :now FROM unnest(CAST(:a AS BIGINT[]), CAST(:r AS INTEGER[]), "
    "CAST(:p AS VARCHAR[]), CAST(:h AS VARCHAR[]), CAST(:s AS BIGINT[]), CAST(:u AS INTEGER[])) AS t(a, r, p, h, s, u) "
    "ON CONFLICT DO NOTHING RETURNING id, request_hash"
)


def _postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def known_requests(conn: Connection, hashes: Iterable[str]) -> dict[str, int]:
    """Claim ids of the requests (EIP-712 digests) already in the outbox."""
    wanted = list(set(hashes))
    rows = conn.execute(_REQUESTS_ANY if _postgres(conn) else _REQUESTS_IN, {"hashes": wanted})
    return {str(r[1]): int(r[0]) for r in rows}


def known_participants(conn: Connection, activity_id: int, participants: Iterable[str]) -> dict[str, int]:
    """Claim ids of the participants who already claimed ``activity_id``."""
    people = list(set(participants))
    rows = conn.execute(_PEOPLE_ANY if _postgres(conn) else _PEOPLE_IN, {"a": activity_id, "people": people})
    return {str(r[1]): int(r[0]) for r in rows}


def live_claims(conn: Connection, activity_id: int) -> int:
    """Claims of the activity that count against its capacity (every one not rejected).

    Counted to decide whether one more fits, so the count must hold until the transaction commits:
    on SQLite the write transaction (``BEGIN IMMEDIATE``) already excludes every other writer; on
    PostgreSQL a transaction-level advisory lock per activity makes the API processes that count the
    same activity take turns (two processes seeing 11 of 12 places would otherwise both insert).
    Callers that count several activities in one transaction count them in ascending id order, so
    two transactions never wait for each other's locks."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :a)"), {"ns": _CAPACITY_LOCKS, "a": activity_id % 2**31})
    return int(
        conn.execute(
            text("SELECT COUNT(*) FROM claims WHERE activity_id = :a AND status <> 'rejected'"), {"a": activity_id}
        ).scalar_one()
    )


_CAPACITY_LOCKS = 0x7453  # the advisory-lock namespace of activity capacities ("tS")


def _claim_params(claim: NewClaim, now_ms: int) -> dict[str, Any]:
    return {
        "activity_id": claim.activity_id,
        "region": claim.region,
        "participant": claim.participant,
        "request_hash": claim.request_hash,
        "slot": claim.slot,
        "units": claim.units,
        "now": now_ms,
    }


def _claim_arrays(claims: Sequence[NewClaim], now_ms: int) -> dict[str, Any]:
    """The parameters of the ``unnest`` inserts: one array per column."""
    return {
        "a": [c.activity_id for c in claims],
        "r": [c.region for c in claims],
        "p": [c.participant for c in claims],
        "h": [c.request_hash for c in claims],
        "s": [c.slot for c in claims],
        "u": [c.units for c in claims],
        "now": now_ms,
    }


def insert_claims(conn: Connection, claims: Sequence[NewClaim], now_ms: int) -> dict[str, int]:
    """Accept ``claims`` (checked unique by the caller, in this transaction); their ids by request."""
    if not claims:
        return {}
    if _postgres(conn):
        ids = {str(h): int(i) for i, h in conn.execute(_INSERT_UNNEST, _claim_arrays(claims, now_ms))}
    else:
        conn.execute(_INSERT_MANY, [_claim_params(c, now_ms) for c in claims])
        ids = known_requests(conn, (c.request_hash for c in claims))
    note_claims(conn, (_journaled(ids[c.request_hash], c, now_ms) for c in claims))
    return ids


def insert_new_claims(conn: Connection, claims: Sequence[NewClaim], now_ms: int) -> dict[str, int]:
    """PostgreSQL: insert each of ``claims`` (distinct requests and people among themselves) whose
    request and person are not in the outbox yet, in one statement; the ids of those inserted, by
    request. A claim missing from the answer conflicts with a committed row (``ON CONFLICT DO
    NOTHING`` waits for a concurrent insert of the same key to commit or roll back first), so the
    caller's lookups find that row. Run on its own (autocommit) it is one round trip and commits
    by itself: the check-in intake's common batch."""
    if not claims:
        return {}
    ids = {str(h): int(i) for i, h in conn.execute(_INSERT_UNNEST_SKIPPING, _claim_arrays(claims, now_ms))}
    note_claims(conn, (_journaled(ids[c.request_hash], c, now_ms) for c in claims if c.request_hash in ids))
    return ids


def insert_claim(conn: Connection, claim: NewClaim, now_ms: int) -> int | None:
    """Accept one claim; None when a unique key (request, or participant and activity) already holds."""
    row = conn.execute(_INSERT_ONE, _claim_params(claim, now_ms)).first()
    if row is None:
        return None
    note_claims(conn, [_journaled(int(row[0]), claim, now_ms)])
    return int(row[0])


def _journaled(claim_id: int, claim: NewClaim, now_ms: int) -> JournalEntry:
    return JournalEntry(
        claim_id,
        claim.activity_id,
        claim.region,
        claim.participant,
        claim.request_hash,
        claim.slot,
        claim.units,
        now_ms,
    )


def claim_id_by_request(conn: Connection, request_hash: str) -> int | None:
    found = conn.execute(text("SELECT id FROM claims WHERE request_hash = :h"), {"h": request_hash}).scalar()
    return None if found is None else int(found)


def last_claim_id(conn: Connection) -> int:
    """The largest claim id (0 with none): a backup holds the claims up to it."""
    return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM claims")).scalar_one())


def claim_request(conn: Connection, claim_id: int) -> str | None:
    """The request (EIP-712 digest) of claim ``claim_id``, or None when there is no such claim."""
    found = conn.execute(text("SELECT request_hash FROM claims WHERE id = :id"), {"id": claim_id}).scalar()
    return None if found is None else str(found)


def restore_claim(conn: Connection, claim_id: int, claim: NewClaim, accepted_at_ms: int) -> bool:
    """Put back an accepted claim under its original id and time (a journal replayed after a restore,
    ledger/relay/journal.py); False when its id, request or (activity, person) is already taken."""
    params = {**_claim_params(claim, accepted_at_ms), "id": claim_id}
    row = conn.execute(
        text(
            "INSERT INTO claims (id, activity_id, region, participant, request_hash, token_slot, units, status, "
            "accepted_at_ms) VALUES (:id, :activity_id, :region, :participant, :request_hash, :slot, :units, "
            "'accepted', :now) ON CONFLICT DO NOTHING RETURNING id"
        ),
        params,
    ).first()
    return row is not None


def continue_claim_ids(conn: Connection) -> None:
    """After claims were inserted with explicit ids: new ids continue after the largest (PostgreSQL's
    sequence; SQLite's rowid does so by itself)."""
    if conn.dialect.name != "sqlite":
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('claims', 'id'), GREATEST(1, (SELECT MAX(id) FROM claims)))")
        )


def unfinished(conn: Connection) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """What is not final yet, for monitoring: claims and supports accepted or submitted by (table,
    state), and batches built, sent or mined by status (index-range counts: cheap at any size)."""
    depth: dict[tuple[str, str], int] = {}
    for table in ("claims", "support_requests"):
        rows = conn.execute(
            text(f"SELECT status, COUNT(*) FROM {table} WHERE status IN ('accepted', 'submitted') GROUP BY status")
        ).all()
        found = {str(s): int(n) for s, n in rows}
        for state in ("accepted", "submitted"):
            depth[(table, state)] = found.get(state, 0)
    rows = conn.execute(
        text("SELECT status, COUNT(*) FROM relay_batches WHERE status IN ('built', 'sent', 'mined') GROUP BY status")
    ).all()
    found = {str(s): int(n) for s, n in rows}
    return depth, {status: found.get(status, 0) for status in ("built", "sent", "mined")}


def claim_id_by_participant(conn: Connection, activity_id: int, participant: str) -> int | None:
    found = conn.execute(
        text("SELECT id FROM claims WHERE activity_id = :a AND participant = :p"), {"a": activity_id, "p": participant}
    ).scalar()
    return None if found is None else int(found)


# ---------------------------------------------------------------------------------------------
# Reading claims back (claim page, kiosk, operators)
# ---------------------------------------------------------------------------------------------


def claim_status(conn: Connection, claim_id: int) -> dict[str, Any] | None:
    """A claim's progress: accepted → submitted → confirmed → indexed, or rejected.

    ``indexed`` is ``confirmed`` plus its record in the index. A claim whose transaction is mined
    but not yet ``chain.confirmations`` deep is ``submitted`` with its ``tx_hash``."""
    row = conn.execute(
        text(
            "SELECT c.id, c.activity_id, c.region, c.participant, c.status, c.tx_hash, c.block_number, "
            "c.accepted_at_ms, c.confirmed_at_ms, c.error_code, c.error_message, "
            "EXISTS (SELECT 1 FROM contributions k WHERE k.activity_id = c.activity_id "
            "        AND k.participant = c.participant) AS indexed "
            "FROM claims c WHERE c.id = :id"
        ),
        {"id": claim_id},
    ).first()
    if row is None:
        return None
    status = "indexed" if row.status == "confirmed" and row.indexed else str(row.status)
    return {
        "claim_id": int(row.id),
        "activity_id": int(row.activity_id),
        "region": int(row.region),
        "participant": str(row.participant),
        "status": status,
        "tx_hash": row.tx_hash,
        "block_number": row.block_number,
        "accepted_at_ms": int(row.accepted_at_ms),
        "confirmed_at_ms": row.confirmed_at_ms,
        "error": {"code": row.error_code, "message": row.error_message} if row.error_code else None,
    }


def list_claims(
    conn: Connection, activity_id: int, *, status: str | None = None, after_id: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """An activity's claims in id order (page with ``after_id``)."""
    rows = conn.execute(
        text(
            "SELECT id, participant, status, tx_hash, block_number, accepted_at_ms, confirmed_at_ms, "
            "error_code, error_message FROM claims WHERE activity_id = :a AND id > :after "
            + ("AND status = :s " if status else "")
            + "ORDER BY id LIMIT :limit"
        ),
        {"a": activity_id, "after": after_id, "s": status, "limit": limit},
    )
    return [
        {
            "claim_id": int(r.id),
            "participant": str(r.participant),
            "status": str(r.status),
            "tx_hash": r.tx_hash,
            "block_number": r.block_number,
            "accepted_at_ms": int(r.accepted_at_ms),
            "confirmed_at_ms": r.confirmed_at_ms,
            "error": {"code": r.error_code, "message": r.error_message} if r.error_code else None,
        }
        for r in rows
    ]


def recent_claims(conn: Connection, activity_id: int, participant_prefix: str = "", limit: int = 5000) -> list[Any]:
    """An activity's claims, newest first, for the staff console's check-in list (rows with
    ``id, participant, units, status, accepted_at_ms, tx_hash, error_code``); ``participant_prefix``
    (lower-case ``0x…``) narrows them to addresses that start with it."""
    where = " AND participant LIKE :p" if participant_prefix else ""
    return list(
        conn.execute(
            text(
                "SELECT id, participant, units, status, accepted_at_ms, tx_hash, error_code FROM claims "
                f"WHERE activity_id = :a{where} ORDER BY id DESC LIMIT :limit"
            ),
            {"a": activity_id, "p": participant_prefix + "%", "limit": limit},
        ).all()
    )


def claim_counts(conn: Connection, activity_id: int) -> dict[str, int]:
    """accepted (every claim not rejected), confirmed (on chain) and rejected, for the kiosk."""
    rows = conn.execute(
        text("SELECT status, COUNT(*) AS n FROM claims WHERE activity_id = :a GROUP BY status"), {"a": activity_id}
    )
    by_status = {str(r.status): int(r.n) for r in rows}
    rejected = by_status.pop("rejected", 0)
    return {"accepted": sum(by_status.values()), "confirmed": by_status.get("confirmed", 0), "rejected": rejected}


def region_claims_since(conn: Connection, region: int, since_ms: int) -> int:
    """Claims (not rejected) accepted in ``region`` since ``since_ms``: the console's "today"."""
    return int(
        conn.execute(
            text("SELECT COUNT(*) FROM claims WHERE region = :r AND accepted_at_ms >= :s AND status != 'rejected'"),
            {"r": region, "s": since_ms},
        ).scalar_one()
    )


def record_senders(conn: Connection, region: int) -> set[str]:
    """The accounts the relayer sent ``region``'s record batches from: the audit names them."""
    rows = conn.execute(
        text("SELECT DISTINCT issuer FROM relay_batches WHERE region = :r AND kind = 'record'"), {"r": region}
    )
    return {str(r[0]) for r in rows}


# ---------------------------------------------------------------------------------------------
# Support intake
# ---------------------------------------------------------------------------------------------


def queued_supports(conn: Connection, supporter: str, from_nonce: int) -> int:
    """The supporter's requests waiting for the relayer with a nonce at or above ``from_nonce``."""
    return int(
        conn.execute(
            text(
                "SELECT COUNT(*) FROM support_requests WHERE supporter = :s AND nonce >= :n "
                "AND status IN ('accepted', 'submitted')"
            ),
            {"s": supporter.lower(), "n": from_nonce},
        ).scalar_one()
    )


def insert_support(
    conn: Connection,
    *,
    supporter: str,
    project_id: int,
    region: int,
    amount: int,
    nonce: int,
    deadline: int,
    signature: str,
    now_ms: int | None = None,
) -> SupportRow:
    """Accept a checked support (at ``now_ms``, default now); ``IntegrityError`` when the supporter's
    nonce is already queued."""
    row = (
        conn.execute(
            text(
                "INSERT INTO support_requests (supporter, project_id, region, amount, nonce, deadline, "
                "signature, status, accepted_at_ms) VALUES (:s, :p, :r, :a, :n, :d, :sig, 'accepted', :t) "
                "RETURNING *"
            ),
            {
                "s": supporter.lower(),
                "p": project_id,
                "r": region,
                "a": amount,
                "n": nonce,
                "d": deadline,
                "sig": signature,
                "t": _now_ms() if now_ms is None else now_ms,
            },
        )
        .mappings()
        .one()
    )
    return _support(row)


def support_row(conn: Connection, support_id: int) -> SupportRow | None:
    row = conn.execute(text("SELECT * FROM support_requests WHERE id = :id"), {"id": support_id}).mappings().first()
    return None if row is None else _support(row)


# ---------------------------------------------------------------------------------------------
# The relayer's transitions
# ---------------------------------------------------------------------------------------------


class Outbox:
    """The relayer's view of the outbox of ``engine``.

    ``accepted_until_ms``, when given, is a horizon: only claims and supports accepted at or before
    it are handed out for relaying. The demo's seed writes a past year through the relayer with a
    chain whose clock is in that past; live scans accepted meanwhile (at today's time) wait for the
    live relayer, which starts once the seed has brought the chain's clock to now (they could not be
    recorded on a past block anyway: their activity has not started there).
    """

    def __init__(self, engine: Engine, accepted_until_ms: Callable[[], int] | None = None) -> None:
        self.engine = engine
        self._accepted_until_ms = accepted_until_ms

    def _horizon_ms(self) -> int:
        return (1 << 62) if self._accepted_until_ms is None else self._accepted_until_ms()

    # -- reading ----------------------------------------------------------------------------------

    def counts(self) -> OutboxCounts:
        with self.engine.connect() as conn:
            within = "WHERE status != 'accepted' OR accepted_at_ms <= :h GROUP BY status"  # see the horizon above
            h = {"h": self._horizon_ms()}
            claims = conn.execute(text(f"SELECT status, COUNT(*) FROM claims {within}"), h).all()
            supports = conn.execute(text(f"SELECT status, COUNT(*) FROM support_requests {within}"), h).all()
        return OutboxCounts(claims={str(k): int(v) for k, v in claims}, supports={str(k): int(v) for k, v in supports})

    def claims_by_id(self) -> dict[int, tuple[str, str]]:
        """Every claim: id → (participant, status)."""
        with self.engine.connect() as conn:
            return {
                int(r[0]): (str(r[1]), str(r[2]))
                for r in conn.execute(text("SELECT id, participant, status FROM claims"))
            }

    def progress(self) -> dict[int, str]:
        """Every claim: id → its status as the claim page shows it (``indexed`` once the index has
        its record)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.id, c.status, EXISTS (SELECT 1 FROM contributions k WHERE k.activity_id = c.activity_id "
                    "AND k.participant = c.participant) FROM claims c"
                )
            ).all()
        return {int(i): "indexed" if s == "confirmed" and bool(x) else str(s) for i, s, x in rows}

    def claim_ids_by_record(self) -> dict[tuple[int, str], int]:
        """Every claim's id by the record it stands for: (activity id, participant)."""
        with self.engine.connect() as conn:
            return {
                (int(r[0]), str(r[1])): int(r[2])
                for r in conn.execute(text("SELECT activity_id, participant, id FROM claims"))
            }

    def confirmed_at(self) -> dict[int, int]:
        """Confirmed claims: id → unix milliseconds when they were confirmed."""
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT id, confirmed_at_ms FROM claims WHERE status = 'confirmed'")).all()
        return {int(r[0]): int(r[1]) for r in rows}

    def confirmed_by_region(self) -> dict[int, tuple[int, int, int]]:
        """Per region: (confirmed claims, distinct participants, confirmed supports)."""
        with self.engine.connect() as conn:
            claims = {
                int(r[0]): (int(r[1]), int(r[2]))
                for r in conn.execute(
                    text(
                        "SELECT region, COUNT(*), COUNT(DISTINCT participant) FROM claims "
                        "WHERE status = 'confirmed' GROUP BY region"
                    )
                )
            }
            supports = {
                int(r[0]): int(r[1])
                for r in conn.execute(
                    text("SELECT region, COUNT(*) FROM support_requests WHERE status = 'confirmed' GROUP BY region")
                )
            }
        regions = set(claims) | set(supports)
        return {r: (*claims.get(r, (0, 0)), supports.get(r, 0)) for r in regions}

    def holds_anything(self) -> bool:
        """Whether any claim, support or batch was ever written (a database of another chain's outbox)."""
        with self.engine.connect() as conn:
            for table in ("claims", "support_requests", "relay_batches"):
                if conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None:
                    return True
        return False

    def waiting_regions(self) -> list[tuple[int, int, int]]:
        """(region, accepted claims, oldest accepted_at_ms), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT region, COUNT(*), MIN(accepted_at_ms) FROM claims WHERE status = 'accepted' "
                    "AND accepted_at_ms <= :h GROUP BY region ORDER BY MIN(accepted_at_ms)"
                ),
                {"h": self._horizon_ms()},
            ).all()
        return [(int(r), int(n), int(t)) for r, n, t in rows]

    def pending_claims(self, region: int, limit: int) -> list[PendingClaim]:
        """The region's oldest accepted claims."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, activity_id, participant, units FROM claims WHERE status = 'accepted' AND region = :r "
                    "AND accepted_at_ms <= :h ORDER BY id LIMIT :n"
                ),
                {"r": region, "n": limit, "h": self._horizon_ms()},
            ).all()
        return [PendingClaim(int(i), int(a), str(p), int(u)) for i, a, p, u in rows]

    def claims_pending_for(self, participant: str, region: int) -> bool:
        """Whether the participant has claims of the region on the way (accepted or submitted)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT 1 FROM claims WHERE participant = :p AND region = :r "
                    "AND status IN ('accepted', 'submitted') LIMIT 1"
                ),
                {"p": participant.lower(), "r": region},
            ).first()
        return found is not None

    def open_supports(self) -> list[SupportRow]:
        """Accepted and submitted supports, by supporter and nonce."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT * FROM support_requests WHERE (status = 'submitted' OR "
                    "(status = 'accepted' AND accepted_at_ms <= :h)) ORDER BY supporter, nonce"
                ),
                {"h": self._horizon_ms()},
            ).mappings()
            return [_support(r) for r in rows]

    def earlier_support_pending(self, supporter: str, from_nonce: int, below_nonce: int) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT 1 FROM support_requests WHERE supporter = :s AND nonce >= :c AND nonce < :n "
                    "AND status IN ('accepted', 'submitted') LIMIT 1"
                ),
                {"s": supporter.lower(), "c": from_nonce, "n": below_nonce},
            ).first()
        return found is not None

    def support_of_batch(self, batch_id: int) -> SupportRow | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(text("SELECT * FROM support_requests WHERE batch_id = :b"), {"b": batch_id})
                .mappings()
                .first()
            )
        return None if row is None else _support(row)

    def batch(self, batch_id: int) -> BatchRow:
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT * FROM relay_batches WHERE id = :id"), {"id": batch_id}).mappings().one()
        return _batch(row)

    def batch_with_seq(self, region: int, issuer: str, seq: int) -> BatchRow | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    text("SELECT * FROM relay_batches WHERE region = :r AND issuer = :i AND batch_seq = :s"),
                    {"r": region, "i": issuer, "s": seq},
                )
                .mappings()
                .first()
            )
        return None if row is None else _batch(row)

    def batches(self, issuer: str, statuses: Sequence[BatchStatus], *, from_block: int | None = None) -> list[BatchRow]:
        """The issuer's batches in ``statuses`` (mined at or above ``from_block`` when given), by id."""
        sql = "SELECT * FROM relay_batches WHERE issuer = :i AND status IN :s"
        params: dict[str, Any] = {"i": issuer, "s": [str(s) for s in statuses]}
        if from_block is not None:
            sql += " AND block_number >= :b"
            params["b"] = from_block
        with self.engine.connect() as conn:
            rows = conn.execute(_expanding(sql + " ORDER BY id", "s"), params).mappings()
            return [_batch(r) for r in rows]

    def attempts(self, batch_id: int) -> list[SignedAttempt]:
        """Every signed transaction of the batch, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT tx_hash, nonce, max_fee_per_gas, max_priority_fee_per_gas, raw_tx FROM relay_attempts "
                    "WHERE batch_id = :id ORDER BY id"
                ),
                {"id": batch_id},
            ).all()
        return [_attempt(r) for r in rows]

    def attempts_with_nonce(self, issuer: str, nonce: int) -> list[tuple[int, SignedAttempt]]:
        """(batch id, attempt) of every transaction of ours signed with ``nonce``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT a.tx_hash, a.nonce, a.max_fee_per_gas, a.max_priority_fee_per_gas, a.raw_tx, a.batch_id "
                    "FROM relay_attempts a JOIN relay_batches b ON b.id = a.batch_id "
                    "WHERE a.nonce = :n AND b.issuer = :i ORDER BY a.id"
                ),
                {"n": nonce, "i": issuer},
            ).all()
        return [(int(r[5]), _attempt(r)) for r in rows]

    def batch_of_tx(self, issuer: str, tx_hash: str) -> int | None:
        """The batch one of whose attempts is ``tx_hash``."""
        with self.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT a.batch_id FROM relay_attempts a JOIN relay_batches b ON b.id = a.batch_id "
                    "WHERE a.tx_hash = :h AND b.issuer = :i"
                ),
                {"h": tx_hash.lower(), "i": issuer},
            ).scalar()
        return None if found is None else int(found)

    def highest_nonce(self, issuer: str) -> int | None:
        """The highest nonce of any of our transactions whose batch did not fail."""
        with self.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT MAX(a.nonce) FROM relay_attempts a JOIN relay_batches b ON b.id = a.batch_id "
                    "WHERE b.issuer = :i AND b.status <> 'failed'"
                ),
                {"i": issuer},
            ).scalar()
        return None if found is None else int(found)

    # -- intake-side rejections and batches -------------------------------------------------------

    def reject_claims(self, claim_ids: Sequence[int], code: str, message: str) -> None:
        """accepted → rejected: the chain refused these claims for good."""
        if not claim_ids:
            return
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                _expanding(
                    "UPDATE claims SET status = 'rejected', error_code = :c, error_message = :m "
                    "WHERE id IN :ids AND status = 'accepted'",
                    "ids",
                ),
                {"c": code, "m": message[:500], "ids": list(claim_ids)},
            )
            rejected = result.rowcount
        CLAIMS_SETTLED.labels("rejected").inc(max(0, int(rejected or 0)))

    def reject_support(self, support_id: int, code: str, message: str) -> None:
        """accepted → rejected: the chain refused this support for good."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                text(
                    "UPDATE support_requests SET status = 'rejected', error_code = :c, error_message = :m "
                    "WHERE id = :id AND status = 'accepted'"
                ),
                {"c": code, "m": message[:500], "id": support_id},
            )

    def take_for_record_batch(self, region: int, issuer: str, seq: int, claim_ids: Sequence[int]) -> int:
        """A ``built`` record batch with ``claim_ids`` moved accepted → submitted; its id.

        :class:`Moved` when a claim was no longer accepted; :class:`SeqTaken` when the sequence
        number already has a batch row (both write nothing)."""
        try:
            with write_transaction(self.engine) as conn:
                batch_id = self._insert_batch(conn, BatchKind.RECORD, region, issuer, seq, len(claim_ids))
                taken = conn.execute(
                    _expanding(
                        "UPDATE claims SET status = 'submitted', batch_id = :b "
                        "WHERE id IN :ids AND status = 'accepted'",
                        "ids",
                    ),
                    {"b": batch_id, "ids": list(claim_ids)},
                ).rowcount
                if taken != len(claim_ids):
                    raise Moved
        except IntegrityError as exc:
            raise SeqTaken(str(exc.orig)) from None
        return batch_id

    def take_for_support_batch(self, support: SupportRow, issuer: str) -> int:
        """A ``built`` support batch with the support moved accepted → submitted; :class:`Moved` if it was not."""
        with write_transaction(self.engine) as conn:
            batch_id = self._insert_batch(conn, BatchKind.SUPPORT, support.region, issuer, None, 1)
            taken = conn.execute(
                text(
                    "UPDATE support_requests SET status = 'submitted', batch_id = :b "
                    "WHERE id = :id AND status = 'accepted'"
                ),
                {"b": batch_id, "id": support.id},
            ).rowcount
            if taken != 1:
                raise Moved
        return batch_id

    def new_filler(self, issuer: str) -> int:
        """A ``built`` filler batch (a transaction that only uses up a nonce)."""
        with write_transaction(self.engine) as conn:
            return self._insert_batch(conn, BatchKind.FILLER, 0, issuer, None, 0)

    @staticmethod
    def _insert_batch(conn: Connection, kind: BatchKind, region: int, issuer: str, seq: int | None, size: int) -> int:
        return int(
            conn.execute(
                text(
                    "INSERT INTO relay_batches (kind, region, issuer, batch_seq, size, status, created_at_ms) "
                    "VALUES (:k, :r, :i, :s, :n, 'built', :t) RETURNING id"
                ),
                {"k": str(kind), "r": region, "i": issuer, "s": seq, "n": size, "t": _now_ms()},
            ).scalar_one()
        )

    # -- transactions ---------------------------------------------------------------------------------

    def store_attempt(self, batch_id: int, attempt: SignedAttempt, *, first: bool) -> None:
        """Keep a signed transaction before it is broadcast; the first one moves the batch built → sent."""
        now = _now_ms()
        with write_transaction(self.engine) as conn:
            conn.execute(
                text(
                    "INSERT INTO relay_attempts (batch_id, tx_hash, nonce, max_fee_per_gas, max_priority_fee_per_gas, "
                    "raw_tx, sent_at_ms) VALUES (:b, :h, :n, :m, :p, :raw, :t)"
                ),
                {
                    "b": batch_id,
                    "h": attempt.tx_hash,
                    "n": attempt.nonce,
                    "m": attempt.fees.max_fee,
                    "p": attempt.fees.priority,
                    "raw": attempt.raw_tx,
                    "t": now,
                },
            )
            if first:
                conn.execute(
                    text(
                        "UPDATE relay_batches SET status = 'sent', nonce = :n, sent_at_ms = :t "
                        "WHERE id = :id AND status = 'built'"
                    ),
                    {"n": attempt.nonce, "t": now, "id": batch_id},
                )

    def note_error(self, batch_id: int, message: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                text("UPDATE relay_batches SET error = :e WHERE id = :id"), {"e": message[:500], "id": batch_id}
            )

    def release(self, batch_id: int, reason: str) -> None:
        """built/sent → failed: it did not land and cannot; its claims or support go back to accepted
        (a record batch gives up its sequence number, which the next batch of the region takes)."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                text(
                    "UPDATE relay_batches SET status = 'failed', batch_seq = NULL, error = :e "
                    "WHERE id = :id AND status IN ('built', 'sent')"
                ),
                {"e": reason[:500], "id": batch_id},
            )
            self._claims_back(conn, batch_id)

    def fail_support(self, batch_id: int, code: str, message: str) -> None:
        """sent → failed with its support → rejected: our own transaction reverted with the chain's
        error ``code`` (the only way a submitted support is ever rejected)."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                text("UPDATE relay_batches SET status = 'failed', error = :e WHERE id = :id"),
                {"e": message[:500], "id": batch_id},
            )
            conn.execute(
                text(
                    "UPDATE support_requests SET status = 'rejected', error_code = :c, error_message = :m "
                    "WHERE batch_id = :id AND status = 'submitted'"
                ),
                {"c": code, "m": message[:500], "id": batch_id},
            )

    @staticmethod
    def _claims_back(conn: Connection, batch_id: int) -> int:
        moved = conn.execute(
            text(
                "UPDATE claims SET status = 'accepted', batch_id = NULL, tx_hash = NULL, block_number = NULL "
                "WHERE batch_id = :id AND status = 'submitted'"
            ),
            {"id": batch_id},
        ).rowcount
        conn.execute(
            text(
                "UPDATE support_requests SET status = 'accepted', batch_id = NULL, tx_hash = NULL, "
                "block_number = NULL WHERE batch_id = :id AND status = 'submitted'"
            ),
            {"id": batch_id},
        )
        return int(moved or 0)

    def land(self, batch_id: int, landing: Landing, *, final: bool, recorded: Sequence[RecordedClaim] = ()) -> int:
        """The batch's transaction (or, for a support, the transaction that used its signature) was
        mined successfully: → ``mined``, or ``confirmed`` when ``final`` (deep enough).

        For a record batch, ``recorded`` are the ``ContributionRecorded`` logs of the transaction:
        each claim they carry is this batch's (even one that had gone back to the outbox or into
        another batch: the chain recorded it here) and becomes confirmed when ``final``; a claim of
        the batch the transaction did not carry (none, unless rows were edited) goes back to the
        outbox rather than being lost. Returns how many claims went back.
        """
        now = _now_ms()
        status = BatchStatus.CONFIRMED if final else BatchStatus.MINED
        with write_transaction(self.engine) as conn:
            conn.execute(
                text(
                    "UPDATE relay_batches SET status = :s, tx_hash = :tx, block_number = :b, block_hash = :bh, "
                    "gas_used = :g, confirmed_at_ms = :t, error = NULL WHERE id = :id"
                ),
                {
                    "s": str(status),
                    "tx": landing.tx_hash,
                    "b": landing.block_number,
                    "bh": landing.block_hash,
                    "g": landing.gas_used,
                    "t": now if final else None,
                    "id": batch_id,
                },
            )
            if recorded:
                self._mark_recorded(conn, batch_id, recorded, landing, final, now)
            left = conn.execute(
                text(
                    "UPDATE claims SET status = 'accepted', batch_id = NULL "
                    "WHERE batch_id = :id AND status = 'submitted' AND (tx_hash IS NULL OR tx_hash <> :tx)"
                ),
                {"id": batch_id, "tx": landing.tx_hash},
            ).rowcount
            conn.execute(
                text(
                    "UPDATE support_requests SET status = :s, tx_hash = :tx, block_number = :b, confirmed_at_ms = :t, "
                    "error_code = NULL, error_message = NULL WHERE batch_id = :id AND status <> 'rejected'"
                ),
                {
                    "s": "confirmed" if final else "submitted",
                    "tx": landing.tx_hash,
                    "b": landing.block_number,
                    "t": now if final else None,
                    "id": batch_id,
                },
            )
        return int(left or 0)

    @staticmethod
    def _mark_recorded(
        conn: Connection,
        batch_id: int | None,
        recorded: Sequence[RecordedClaim],
        landing: Landing,
        final: bool,
        now: int,
    ) -> None:
        conn.execute(
            text(
                "UPDATE claims SET status = :s, batch_id = COALESCE(:batch, batch_id), tx_hash = :tx, "
                "block_number = :b, confirmed_at_ms = :t, error_code = NULL, error_message = NULL "
                "WHERE activity_id = :a AND participant = :p AND status <> 'rejected'"
            ),
            [
                {
                    "s": "confirmed" if final else "submitted",
                    "batch": batch_id,
                    "tx": landing.tx_hash,
                    "b": landing.block_number,
                    "t": now if final else None,
                    "a": r.activity_id,
                    "p": r.participant,
                }
                for r in recorded
            ],
        )
        if final:
            CLAIMS_SETTLED.labels("confirmed").inc(len(recorded))

    def recorded_elsewhere(self, recorded: Sequence[RecordedClaim], landing: Landing, *, final: bool) -> None:
        """Claims found on chain in a transaction that is none of our batches' (another process
        with this key): confirmed from its logs, without a batch."""
        if recorded:
            with write_transaction(self.engine) as conn:
                self._mark_recorded(conn, None, recorded, landing, final, _now_ms())

    def finalise(self, batch_id: int) -> None:
        """mined → confirmed: the transaction is ``chain.confirmations`` blocks deep."""
        now = _now_ms()
        with write_transaction(self.engine) as conn:
            tx = conn.execute(
                text(
                    "UPDATE relay_batches SET status = 'confirmed', confirmed_at_ms = :t "
                    "WHERE id = :id AND status = 'mined' RETURNING tx_hash"
                ),
                {"t": now, "id": batch_id},
            ).scalar()
            if tx is None:
                return
            for table in ("claims", "support_requests"):
                moved = conn.execute(
                    text(
                        f"UPDATE {table} SET status = 'confirmed', confirmed_at_ms = :t "
                        "WHERE batch_id = :id AND tx_hash = :tx AND status = 'submitted'"
                    ),
                    {"t": now, "id": batch_id, "tx": tx},
                ).rowcount
                if table == "claims":
                    CLAIMS_SETTLED.labels("confirmed").inc(max(0, int(moved or 0)))

    def unconfirm(self, batch_id: int, reason: str) -> None:
        """mined/confirmed → sent: the block its transaction was mined in is no longer on the chain.
        Its claims (or support) go back to ``submitted``; the relayer sends the batch again."""
        with write_transaction(self.engine) as conn:
            tx = conn.execute(
                text(
                    "UPDATE relay_batches SET status = 'sent', tx_hash = NULL, block_number = NULL, block_hash = NULL, "
                    "gas_used = NULL, confirmed_at_ms = NULL, error = :e "
                    "WHERE id = :id AND status IN ('mined', 'confirmed') RETURNING nonce"
                ),
                {"e": reason[:500], "id": batch_id},
            ).first()
            if tx is None:
                return
            for table in ("claims", "support_requests"):
                moved = conn.execute(
                    text(
                        f"UPDATE {table} SET status = 'submitted', tx_hash = NULL, block_number = NULL, "
                        "confirmed_at_ms = NULL WHERE batch_id = :id AND status IN ('submitted', 'confirmed')"
                    ),
                    {"id": batch_id},
                ).rowcount
                if table == "claims":
                    CLAIMS_SETTLED.labels("unconfirmed").inc(max(0, int(moved or 0)))
