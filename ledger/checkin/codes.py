"""Single-use claim codes: the QR code or short code on a ふるさと納税 thank-you letter or an online
event's e-mail, redeemed on the same claim page as a kiosk's code (docs/checkin.md).

**The code.** 16 characters of Crockford base32 (``0-9 A-Z`` without ``I L O U``), shown in four
groups (``K7QM-2X9D-HT4R-8WNC``): 15 characters (75 bits) derived from the server's check-in key
and one check character that catches a mistyped code before it counts as a guess. Input is
forgiving: lower case, spaces and hyphens, ``O`` for ``0`` and ``I``/``L`` for ``1`` are accepted
and normalised; the canonical form (16 characters, no hyphens) is what the participant signs.

**Derivation, not storage.** Code ``serial`` of a batch is ``HMAC-SHA256(key, label | chain id |
ledger | batch salt | serial)`` read as base32. The database holds only each code's SHA-256, the
batch's random salt and the states; a copy of the database alone cannot redeem anything. Staff
can print the sheet or download the mail-merge CSV again (the server re-derives the codes), which
a letter campaign needs when the printer jams. Who holds the key can make codes, as they can make
kiosk codes: the same trust, documented in docs/checkin.md.

**Single use** is one conditional ``UPDATE … WHERE state = 'issued'`` in the claim's own write
transaction (:func:`redeem`), so two phones racing for one code cannot both win, on SQLite or
PostgreSQL, and a redemption that fails later in that transaction leaves the code unused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, text

from ledger.checkin.errors import CheckinRejected
from ledger.errors import InvalidInput
from ledger.relay.journal import note_code

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "MAX_BATCH",
    "CodeMaker",
    "CodeRow",
    "CodeBatch",
    "IssuedCode",
    "looks_like_code",
    "normalise_code",
    "display_code",
    "create_batch",
    "list_batches",
    "get_batch",
    "batch_codes",
    "void_batch",
    "lookup",
    "redeem",
    "attach_claim",
    "code_rejection",
]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
MAX_BATCH = 10_000  # codes per generation: a municipality's letters of one month fit many times over
_BODY = CODE_LENGTH - 1
_LABEL = b"tsunagari/claim-code/v1"
_HASH_LABEL = "tsunagari/claim-code/v1:"
_FORGIVING = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None, "\u3000": None, "\u30fc": None})
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


def _check_char(body: str) -> str:
    return ALPHABET[hashlib.sha256(body.encode("ascii")).digest()[0] & 31]


def looks_like_code(token: str) -> bool:
    """Whether ``token`` is shaped like a canonical claim code (not a 38-character kiosk token)."""
    return isinstance(token, str) and len(token) == CODE_LENGTH and all(c in _VALUE for c in token)


def normalise_code(raw: str) -> str:
    """The canonical code for what someone typed; :class:`CheckinRejected` ``token_malformed`` for
    the wrong length or characters, ``code_mistyped`` when the check character disagrees."""
    if not isinstance(raw, str) or len(raw) > 64:
        raise CheckinRejected("token_malformed", "this is not a Tsunagari claim code")
    canonical = raw.upper().translate(_FORGIVING)
    if len(canonical) != CODE_LENGTH or any(c not in _VALUE for c in canonical):
        raise CheckinRejected(
            "token_malformed", f"a claim code has {CODE_LENGTH} letters and digits (like K7QM-2X9D-HT4R-8WNC)"
        )
    if _check_char(canonical[:_BODY]) != canonical[_BODY]:
        raise CheckinRejected("code_mistyped", "this code has a typo: check each character against the letter")
    return canonical


def display_code(code: str) -> str:
    """``K7QM2X9DHT4R8WNC`` → ``K7QM-2X9D-HT4R-8WNC`` (letters and mail)."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


class CodeMaker:
    """Derives and hashes the claim codes of one deployment (chain id + ledger)."""

    def __init__(self, key: bytes, chain_id: int, ledger: str) -> None:
        if len(key) < 16:
            raise ValueError("the check-in key must be at least 16 bytes")
        self._key = key
        self._context = chain_id.to_bytes(8, "big") + bytes.fromhex(ledger.removeprefix("0x"))

    def derive(self, salt: str, serial: int) -> str:
        """Code ``serial`` of the batch with ``salt`` (canonical form)."""
        digest = hmac.new(
            self._key, _LABEL + self._context + bytes.fromhex(salt) + serial.to_bytes(4, "big"), hashlib.sha256
        ).digest()
        number = int.from_bytes(digest[:10], "big") >> (80 - 5 * _BODY)
        body = "".join(ALPHABET[(number >> (5 * (_BODY - 1 - i))) & 31] for i in range(_BODY))
        return body + _check_char(body)

    @staticmethod
    def hash(code: str) -> str:
        """What the database keeps of a canonical code."""
        return hashlib.sha256((_HASH_LABEL + code).encode("ascii")).hexdigest()


@dataclass(frozen=True)
class CodeRow:
    code_id: int
    batch_id: int
    serial: int
    activity_id: int
    region: int
    state: str  # issued, redeemed, voided
    expires_at: int
    units: int
    participant: str | None
    claim_id: int | None


@dataclass(frozen=True)
class CodeBatch:
    batch_id: int
    activity_id: int
    region: int
    count: int
    units: int
    expires_at: int
    label: str
    salt: str
    created_by: str
    created_at_ms: int
    voided_at_ms: int | None
    voided_by: str | None
    counts: dict[str, int]  # issued / redeemed / voided / expired (issued but past expiry)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "salt"}


@dataclass(frozen=True)
class IssuedCode:
    """A code with its plain text, for the print sheet and the mail-merge CSV."""

    serial: int
    code: str  # canonical
    state: str
    expires_at: int

    @property
    def display(self) -> str:
        return display_code(self.code)


def create_batch(
    conn: Connection,
    maker: CodeMaker,
    *,
    activity_id: int,
    region: int,
    count: int,
    units: int,
    expires_at: int,
    label: str,
    created_by: str,
    now_ms: int,
) -> CodeBatch:
    """Generate ``count`` codes for an activity in the caller's write transaction."""
    if not 1 <= count <= MAX_BATCH:
        raise InvalidInput(f"a batch holds 1 to {MAX_BATCH} codes, not {count}")
    if expires_at * 1000 <= now_ms:
        raise InvalidInput("the codes' expiry must be in the future")
    salt = secrets.token_hex(16)
    batch_id = conn.execute(
        text(
            "INSERT INTO claim_code_batches (activity_id, region, count, units, expires_at, label, salt, "
            "created_by, created_at_ms) VALUES (:a, :r, :n, :u, :e, :l, :s, :by, :now) RETURNING batch_id"
        ),
        {
            "a": activity_id,
            "r": region,
            "n": count,
            "u": units,
            "e": expires_at,
            "l": label,
            "s": salt,
            "by": created_by,
            "now": now_ms,
        },
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO claim_codes (batch_id, serial, activity_id, region, code_hash, state, expires_at) "
            "VALUES (:b, :serial, :a, :r, :h, 'issued', :e)"
        ),
        [
            {
                "b": batch_id,
                "serial": serial,
                "a": activity_id,
                "r": region,
                "h": maker.hash(maker.derive(salt, serial)),
                "e": expires_at,
            }
            for serial in range(1, count + 1)
        ],
    )
    batch = get_batch(conn, int(batch_id))
    assert batch is not None
    return batch


_BATCH_SQL = """
    SELECT b.batch_id, b.activity_id, b.region, b.count, b.units, b.expires_at, b.label, b.salt, b.created_by,
           b.created_at_ms, b.voided_at_ms, b.voided_by,
           SUM(CASE WHEN c.state = 'issued' AND c.expires_at > :now THEN 1 ELSE 0 END) AS issued,
           SUM(CASE WHEN c.state = 'issued' AND c.expires_at <= :now THEN 1 ELSE 0 END) AS expired,
           SUM(CASE WHEN c.state = 'redeemed' THEN 1 ELSE 0 END) AS redeemed,
           SUM(CASE WHEN c.state = 'voided' THEN 1 ELSE 0 END) AS voided
      FROM claim_code_batches b JOIN claim_codes c ON c.batch_id = b.batch_id
"""
_BATCH_GROUP = (
    " GROUP BY b.batch_id, b.activity_id, b.region, b.count, b.units, b.expires_at, b.label, b.salt,"
    " b.created_by, b.created_at_ms, b.voided_at_ms, b.voided_by"
)


def _batch(row: Any) -> CodeBatch:
    return CodeBatch(
        batch_id=int(row.batch_id),
        activity_id=int(row.activity_id),
        region=int(row.region),
        count=int(row.count),
        units=int(row.units),
        expires_at=int(row.expires_at),
        label=str(row.label),
        salt=str(row.salt),
        created_by=str(row.created_by),
        created_at_ms=int(row.created_at_ms),
        voided_at_ms=None if row.voided_at_ms is None else int(row.voided_at_ms),
        voided_by=row.voided_by,
        counts={k: int(getattr(row, k) or 0) for k in ("issued", "redeemed", "voided", "expired")},
    )


def _now_s() -> int:
    return int(time.time())


def get_batch(conn: Connection, batch_id: int, *, now: int | None = None) -> CodeBatch | None:
    row = conn.execute(
        text(_BATCH_SQL + " WHERE b.batch_id = :b" + _BATCH_GROUP), {"b": batch_id, "now": now or _now_s()}
    ).first()
    return None if row is None else _batch(row)


def list_batches(conn: Connection, activity_id: int, *, now: int | None = None) -> list[CodeBatch]:
    """The activity's batches, newest first, with their codes counted by state."""
    rows = conn.execute(
        text(_BATCH_SQL + " WHERE b.activity_id = :a" + _BATCH_GROUP + " ORDER BY b.batch_id DESC"),
        {"a": activity_id, "now": now or _now_s()},
    )
    return [_batch(r) for r in rows]


def batch_codes(conn: Connection, maker: CodeMaker, batch: CodeBatch) -> list[IssuedCode]:
    """Every code of ``batch`` in serial order, re-derived, with its state."""
    states = {
        int(r.serial): str(r.state)
        for r in conn.execute(text("SELECT serial, state FROM claim_codes WHERE batch_id = :b"), {"b": batch.batch_id})
    }
    return [
        IssuedCode(serial, maker.derive(batch.salt, serial), states.get(serial, "voided"), batch.expires_at)
        for serial in range(1, batch.count + 1)
    ]


def void_batch(conn: Connection, batch_id: int, *, by: str, now_ms: int, serials: Sequence[int] | None = None) -> int:
    """Void the batch's unused codes (or only ``serials``); how many were voided. Redeemed codes
    stay redeemed: their records are on chain (revoke those instead)."""
    params: dict[str, Any] = {"b": batch_id, "now": now_ms}
    if serials is None:
        statement = text(
            "UPDATE claim_codes SET state = 'voided', voided_at_ms = :now WHERE batch_id = :b AND state = 'issued'"
        )
        conn.execute(
            text(
                "UPDATE claim_code_batches SET voided_at_ms = :now, voided_by = :by "
                "WHERE batch_id = :b AND voided_at_ms IS NULL"
            ),
            {"b": batch_id, "now": now_ms, "by": by},
        )
    else:
        statement = text(
            "UPDATE claim_codes SET state = 'voided', voided_at_ms = :now "
            "WHERE batch_id = :b AND state = 'issued' AND serial IN :serials"
        ).bindparams(bindparam("serials", expanding=True))
        params["serials"] = list(serials)
    return int(conn.execute(statement, params).rowcount or 0)


def lookup(conn: Connection, code_hash: str) -> CodeRow | None:
    row = conn.execute(
        text(
            "SELECT c.code_id, c.batch_id, c.serial, c.activity_id, c.region, c.state, c.expires_at, c.participant, "
            "c.claim_id, b.units FROM claim_codes c JOIN claim_code_batches b ON b.batch_id = c.batch_id "
            "WHERE c.code_hash = :h"
        ),
        {"h": code_hash},
    ).first()
    if row is None:
        return None
    return CodeRow(
        code_id=int(row.code_id),
        batch_id=int(row.batch_id),
        serial=int(row.serial),
        activity_id=int(row.activity_id),
        region=int(row.region),
        state=str(row.state),
        expires_at=int(row.expires_at),
        units=int(row.units),
        participant=row.participant,
        claim_id=None if row.claim_id is None else int(row.claim_id),
    )


def code_rejection(row: CodeRow | None, now: float, participant: str | None = None) -> CheckinRejected | None:
    """Why ``row`` cannot be redeemed now by ``participant`` (None: it can)."""
    if row is None:
        return CheckinRejected("code_unknown", "there is no such claim code: check it against the letter")
    if row.state == "voided":
        return CheckinRejected("code_voided", "this claim code was withdrawn by the region")
    if row.state == "redeemed":
        if participant is not None and row.participant == participant:
            return CheckinRejected("already_claimed", "you have already used this code", claim_id=row.claim_id)
        return CheckinRejected("code_used", "this claim code has already been used")
    if now >= row.expires_at:
        return CheckinRejected("code_expired", "this claim code has expired")
    return None


def redeem(conn: Connection, code_hash: str, participant: str, *, now: float) -> bool:
    """Take the code for ``participant`` if it is still unused and unexpired (in the caller's
    write transaction); False when another redemption, a voiding or the clock got there first."""
    result = conn.execute(
        text(
            "UPDATE claim_codes SET state = 'redeemed', participant = :p, redeemed_at_ms = :ms "
            "WHERE code_hash = :h AND state = 'issued' AND expires_at > :now"
        ),
        {"h": code_hash, "p": participant, "ms": int(now * 1000), "now": int(now)},
    )
    return bool(result.rowcount)


def mark_redeemed(conn: Connection, code_hash: str, participant: str, claim_id: int, at_ms: int) -> int:
    """A code redeemed after a backup, marked so again from the claim journal (1; 0 if it was not
    ``issued``): a restored database must not let it be used a second time."""
    result = conn.execute(
        text(
            "UPDATE claim_codes SET state = 'redeemed', participant = :p, claim_id = :id, redeemed_at_ms = :t "
            "WHERE code_hash = :h AND state = 'issued'"
        ),
        {"p": participant, "id": claim_id, "t": at_ms, "h": code_hash},
    )
    return int(result.rowcount or 0)


def attach_claim(conn: Connection, code_hash: str, claim_id: int) -> None:
    conn.execute(text("UPDATE claim_codes SET claim_id = :c WHERE code_hash = :h"), {"c": claim_id, "h": code_hash})
    note_code(conn, claim_id, code_hash)  # a replayed journal marks the code redeemed again
