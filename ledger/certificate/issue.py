"""Issuing a certificate: a participant's live records in one municipality, from the index.

The index is only where the lines are found: every fact in a line is the chain's (transaction,
log, block, activity, units, day), and the verifier checks each against the chain, never against
this database. Revoked records are left out (they would not verify); a record whose activity text
we do not have keeps its metadata hash and no name.
"""

from __future__ import annotations

import time
from datetime import date

from eth_utils.address import to_checksum_address
from sqlalchemy import Connection, text

from ledger.certificate.eligibility import eligibility, window
from ledger.certificate.model import Certificate, CertificateRecord, Municipality, day_int, day_of_int, jis_code
from ledger.checkin.metadata import metadata_document
from ledger.errors import TsunagariError
from ledger.jst import today
from ledger.municipalities import municipality_name

__all__ = ["CertificateRequestError", "draft_certificate", "summary_of", "today_jst"]

MAX_RANGE_DAYS = 5 * 366


class CertificateRequestError(TsunagariError):
    """A certificate cannot be made as asked (unknown region, bad range)."""


today_jst = today  # today's date in Japan (ledger.jst)


def summary_of(records: tuple[CertificateRecord, ...], as_of: date) -> dict[str, object]:
    """The one-line verdict printed on the certificate (the verifier recomputes it)."""
    verdict = eligibility((r.day for r in records if r.designated), as_of)
    start, end = window(as_of)
    return {
        "as_of": as_of.isoformat(),
        "window": {"from": start.isoformat(), "to": end.isoformat()},
        "records": len(records),
        "designated": verdict.designated,
        "premium": verdict.eligible,
        "eligible_until": verdict.eligible_until.isoformat() if verdict.eligible_until else None,
        "text": verdict.text_ja,
    }


def draft_certificate(
    conn: Connection,
    *,
    holder: str,
    region: int,
    chain_id: int,
    ledger: str,
    from_day: date | None = None,
    to_day: date | None = None,
    site: str | None = None,
    rpc_hint: str | None = None,
    now: float | None = None,
) -> Certificate:
    """The unsigned certificate of ``holder``'s live records in ``region`` from ``from_day`` to
    ``to_day`` (default: the 12 months ending today, JST)."""
    issued_at = int(time.time() if now is None else now)
    today = today_jst(issued_at)
    to_day = to_day or today
    from_day = from_day or window(to_day)[0]
    if from_day > to_day:
        raise CertificateRequestError(f"the range starts ({from_day}) after it ends ({to_day})")
    if (to_day - from_day).days > MAX_RANGE_DAYS:
        raise CertificateRequestError(f"a certificate covers at most {MAX_RANGE_DAYS} days")
    known = conn.execute(text("SELECT name FROM regions WHERE region = :r"), {"r": region}).first()
    if known is None:
        raise CertificateRequestError(f"region {jis_code(region)} is not registered on this ledger")
    rows = conn.execute(
        text(
            "SELECT c.tx_hash, c.log_index, c.block_hash, c.block_number, c.day, c.activity_id, c.units,"
            " c.designated, c.kind, c.unit, c.amount, a.metadata_hash, m.name, m.description, m.venue"
            " FROM contributions c"
            " JOIN activities a ON a.activity_id = c.activity_id"
            " LEFT JOIN activity_metadata m ON m.metadata_hash = a.metadata_hash"
            " WHERE c.participant = :p AND c.region = :r AND c.day BETWEEN :lo AND :hi"
            " AND NOT EXISTS (SELECT 1 FROM revocations v"
            "   WHERE v.activity_id = c.activity_id AND v.participant = c.participant)"
            " ORDER BY c.block_number, c.log_index"
        ),
        {"p": holder.lower(), "r": region, "lo": day_int(from_day), "hi": day_int(to_day)},
    ).all()
    records = []
    for row in rows:
        document = None
        if row.name is not None:
            document, digest = metadata_document(row.name, row.description or "", row.venue or "")
            if digest != row.metadata_hash:
                document = None  # our copy of the text is not what the chain commits to: leave it out
        records.append(
            CertificateRecord(
                tx_hash=str(row.tx_hash).lower(),
                log_index=int(row.log_index),
                block_hash=str(row.block_hash).lower(),
                block_number=int(row.block_number),
                day=day_of_int(int(row.day)),
                activity_id=int(row.activity_id),
                units=int(row.units),
                designated=bool(row.designated),
                metadata_hash=str(row.metadata_hash).lower(),
                kind=int(row.kind),
                unit=int(row.unit),
                coins=int(row.amount),
                activity_document=document,
            )
        )
    found = tuple(records)
    return Certificate(
        chain_id=chain_id,
        ledger=str(to_checksum_address(ledger)),
        holder=str(to_checksum_address(holder)),
        municipality=Municipality(region, municipality_name(region, "ja"), municipality_name(region, "en")),
        from_day=from_day,
        to_day=to_day,
        issued_at=issued_at,
        records=found,
        site=site,
        rpc_hint=rpc_hint,
        summary=summary_of(found, min(to_day, today)),
    )
