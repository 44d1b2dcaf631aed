"""Participants' opt-in to be listed to a municipality's staff as eligible for ふるさと住民登録
Premium, with a contact they choose (docs/console.md, 「ふるさと住民登録の対象者」).

The only writer of ``eligibility_listings``. A request is the participant's EIP-712
``EligibilityListing`` (:func:`ledger.certificate.typed.listing_typed_data`), signed by the key on
their phone: nobody else can list them, change their contact or take them off the list.

One row per (region, participant)::

    (no row) ──listed=true──▶ listed (contact) ──listed=true──▶ listed (new contact)
        ▲                          │
        │                     listed=false
        │                          ▼
        └──── purged once ──── opted out: contact '' (no personal data), issued_at kept
              stale (10 min)

- a request's ``issuedAt`` must be within :data:`REQUEST_WINDOW_S` of now (``request_expired``,
  ``request_in_future``) and newer than the row's (``replayed_request``);
- opting out clears the contact at once: the contact is personal data and nothing of it is kept.
  Only the opt-out's time stays, and only while an older signed request could still pass the
  freshness check (10 minutes); then the row is deleted. Without it, a copy of the opt-in request
  replayed within its 10 minutes would list the person again against their will;
- to opt in, the region must be registered (``unknown_region``) and the person must have a live
  record in it (``no_records``); opting out is never refused for those reasons.

:func:`listing_csv` is the CSV of the opted-in people for the municipality (UTF-8 with BOM, so
Excel opens the Japanese as it is); :func:`export_listing_csv` is the same for a member of staff,
checked and written to the staff audit (``eligibility.export``) in one transaction.

**Who reads contacts** (:data:`CONTACTS_PERMISSION`): the ``notes`` permission — region admins and
staff, who already read the staff's notes about individual people (revocation notes) and are the
ones who contact participants. A viewer sees the pseudonymous roster and that a person opted in,
never the contact. Not ``export``: that is the researcher export's permission, which staff do not
have and researcher keys do, and a researcher must never see a contact.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from eth_utils.address import is_address, to_checksum_address
from sqlalchemy import Connection, Engine, text

from ledger.certificate.eligibility import eligibility
from ledger.certificate.roster import designated_days, listed_people
from ledger.certificate.typed import listing_typed_data, recover_typed
from ledger.db.engine import write_transaction
from ledger.errors import TsunagariError
from ledger.jst import JST
from ledger.municipalities import municipality_name
from ledger.staff import audit
from ledger.staff.roles import Actor, Permission

__all__ = [
    "CONTACTS_PERMISSION",
    "CONTACT_MAX",
    "LISTING_REFUSALS",
    "REQUEST_WINDOW_S",
    "ListingRefused",
    "check_listing",
    "export_listing_csv",
    "listing_csv",
    "listing_csv_filename",
    "listings_of",
    "next_issued_at",
    "normalize_contact",
    "set_listing",
]

REQUEST_WINDOW_S: Final = 10 * 60
CONTACT_MAX: Final = 200
CONTACTS_PERMISSION: Final[Permission] = "notes"

LISTING_REFUSALS: Final[dict[str, str]] = {
    "invalid_address": "the holder is not an address",
    "contact_invalid": "the contact is empty, too long, padded with spaces or has control characters",
    "request_expired": "the request was signed more than 10 minutes ago",
    "request_in_future": "the request is dated more than 10 minutes ahead (check the phone's clock)",
    "signature_invalid": "the signature is not the holder's",
    "replayed_request": "a request as new or newer was already received",
    "unknown_region": "the region is not registered on this ledger",
    "no_records": "the person has no record in the region",
}
"""Every refusal code and what it means (the API answers 409 for a replay, 422 for the rest)."""

# Bidirectional-text controls reorder what staff see in the console and in Excel.
_BIDI: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


class ListingRefused(TsunagariError):
    """A listing request that is not accepted; ``code`` is one of :data:`LISTING_REFUSALS`."""

    def __init__(self, code: str, message: str | None = None) -> None:
        self.code = code
        self.message = message or LISTING_REFUSALS[code]
        super().__init__(self.message)


@dataclass(frozen=True)
class ListingResult:
    region: int
    listed: bool


def normalize_contact(contact: str) -> str:
    """The contact as kept: trimmed, 1..:data:`CONTACT_MAX` characters, no control characters."""
    value = contact.strip()
    if not 1 <= len(value) <= CONTACT_MAX:
        raise ListingRefused("contact_invalid", f"the contact must be 1 to {CONTACT_MAX} characters")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI for ch in value):
        raise ListingRefused("contact_invalid", "the contact may not contain line breaks or control characters")
    return value


def _holder(holder: str) -> str:
    if not is_address(holder):
        raise ListingRefused("invalid_address", f"{holder[:50]!r} is not an address")
    return str(to_checksum_address(holder))


def check_listing(conn: Connection, *, holder: str, region: int, contact: str, listed: bool) -> str:
    """Whether ``holder`` may ask this (before signing: the page learns of a bad contact, an
    unknown region or missing records before the person signs); returns the contact to sign
    (trimmed; an opt-out signs whatever it carries, at most :data:`CONTACT_MAX` characters)."""
    address = _holder(holder)
    if not listed:
        if len(contact) > CONTACT_MAX:
            raise ListingRefused("contact_invalid", f"the contact must be at most {CONTACT_MAX} characters")
        return contact
    value = normalize_contact(contact)
    known = conn.execute(text("SELECT 1 FROM regions WHERE region = :r"), {"r": region}).first()
    if known is None:
        raise ListingRefused("unknown_region", f"region {region:05d} is not registered on this ledger")
    record = conn.execute(
        text(
            "SELECT 1 FROM contributions c WHERE c.participant = :p AND c.region = :r AND NOT EXISTS"
            " (SELECT 1 FROM revocations v WHERE v.activity_id = c.activity_id AND v.participant = c.participant)"
            " LIMIT 1"
        ),
        {"p": address.lower(), "r": region},
    ).first()
    if record is None:
        raise ListingRefused("no_records", f"{address} has no record in region {region:05d}")
    return value


def set_listing(
    engine_or_conn: Engine | Connection,
    *,
    chain_id: int,
    ledger: str,
    holder: str,
    region: int,
    contact: str,
    listed: bool,
    issued_at: int,
    signature: str,
    now: float,
) -> ListingResult:
    """Apply the holder's signed request: list them with ``contact`` (or change it), or take them
    off the list (``listed=False``: the contact is deleted). :class:`ListingRefused` otherwise.

    ``contact`` is what was signed and must already be trimmed (the typed data the page signs
    comes from :func:`check_listing`). With an engine, runs in its own write transaction; with a
    connection, in the caller's."""
    address = _holder(holder)
    if listed and contact != normalize_contact(contact):
        raise ListingRefused("contact_invalid", "the contact has spaces at its start or end")
    if issued_at < now - REQUEST_WINDOW_S:
        raise ListingRefused("request_expired")
    if issued_at > now + REQUEST_WINDOW_S:
        raise ListingRefused("request_in_future")
    document = listing_typed_data(chain_id, ledger, address, region, contact, listed, issued_at)
    signer = recover_typed(document, signature)
    if signer is None or signer.lower() != address.lower():
        raise ListingRefused("signature_invalid", f"the signature is not {address}'s")
    if isinstance(engine_or_conn, Engine):
        with write_transaction(engine_or_conn) as conn:
            return _apply(conn, address, region, contact, listed, issued_at, signature, int(now))
    return _apply(engine_or_conn, address, region, contact, listed, issued_at, signature, int(now))


def next_issued_at(conn: Connection, holder: str, region: int, now: int) -> int:
    """The ``issuedAt`` to sign next: now, or one second after the stored request's when that is not
    older (an opt-in and an opt-out in the same second must still be in order)."""
    row = conn.execute(
        text("SELECT issued_at FROM eligibility_listings WHERE region = :r AND participant = :p"),
        {"r": region, "p": _holder(holder).lower()},
    ).first()
    return now if row is None else max(now, int(row.issued_at) + 1)


def _apply(
    conn: Connection, address: str, region: int, contact: str, listed: bool, issued_at: int, signature: str, now: int
) -> ListingResult:
    conn.execute(
        text("DELETE FROM eligibility_listings WHERE contact = '' AND issued_at < :t"),
        {"t": now - REQUEST_WINDOW_S},
    )
    key = {"r": region, "p": address.lower()}
    values = {**key, "i": issued_at, "s": signature.lower(), "now": now}
    if listed:
        check_listing(conn, holder=address, region=region, contact=contact, listed=True)
        changed = conn.execute(
            text(
                "INSERT INTO eligibility_listings (region, participant, contact, issued_at, signature, created_at)"
                " VALUES (:r, :p, :c, :i, :s, :now)"
                " ON CONFLICT (region, participant) DO UPDATE SET contact = excluded.contact,"
                " issued_at = excluded.issued_at, signature = excluded.signature,"
                # listed since the first opt-in; a new contact does not reset it
                " created_at = CASE WHEN eligibility_listings.contact = '' THEN excluded.created_at"
                " ELSE eligibility_listings.created_at END"
                " WHERE eligibility_listings.issued_at < excluded.issued_at"
            ),
            {**values, "c": contact},
        ).rowcount
        if changed != 1:
            raise ListingRefused("replayed_request")
        return ListingResult(region, True)
    changed = conn.execute(
        text(
            "UPDATE eligibility_listings SET contact = '', issued_at = :i, signature = :s, created_at = :now"
            " WHERE region = :r AND participant = :p AND issued_at < :i"
        ),
        values,
    ).rowcount
    if changed != 1:
        newer = conn.execute(
            text("SELECT 1 FROM eligibility_listings WHERE region = :r AND participant = :p"), key
        ).first()
        if newer is not None:
            raise ListingRefused("replayed_request")
        # never listed (or long since opted out): nothing to delete, nothing to keep
    return ListingResult(region, False)


def listings_of(conn: Connection, holder: str) -> list[int]:
    """The regions ``holder`` has asked to be listed in (their contacts are not returned)."""
    rows = conn.execute(
        text("SELECT region FROM eligibility_listings WHERE participant = :p AND contact <> '' ORDER BY region"),
        {"p": _holder(holder).lower()},
    ).all()
    return [int(r.region) for r in rows]


# ---------------------------------------------------------------------------------------------
# The CSV for the municipality
# ---------------------------------------------------------------------------------------------

_HEADERS: Final = (
    ("アドレス", "address"),
    ("連絡先", "contact"),
    ("指定活動の件数（直近12か月）", "designated_activities_12_months"),
    ("プレミアム対象", "eligible"),
    ("対象期限", "eligible_until"),
    ("掲載の申し込み日時（日本時間）", "listed_at_jst"),
)
_YES_NO: Final = {True: ("はい", "yes"), False: ("いいえ", "no")}


def _cell(value: object) -> object:
    """Text Excel would run as a formula (= + - @, a tab or CR first) gets a leading '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def listing_csv(conn: Connection, region: int, as_of: date, *, lang: str = "ja") -> str:
    """The people who opted in to be listed to ``region``, eligible or not on ``as_of``: eligible
    first (soonest lapse first), then by designated count; UTF-8 with a BOM, CRLF lines."""
    en = lang == "en"
    listed = listed_people(conn, region)
    days = designated_days(conn, region, as_of, sorted(listed))
    lines = []
    for participant, listing in listed.items():
        verdict = eligibility(days.get(participant, ()), as_of)
        lines.append((participant, listing, verdict))
    lines.sort(
        key=lambda x: (
            not x[2].eligible,
            x[2].eligible_until.toordinal() if x[2].eligible_until else 0,
            -x[2].designated,
            x[0],
        )
    )
    buffer = io.StringIO()
    buffer.write("\ufeff")  # BOM: Excel in Japan opens UTF-8 only with it
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([h[1] if en else h[0] for h in _HEADERS])
    for participant, listing, verdict in lines:
        writer.writerow(
            [
                to_checksum_address(participant),
                _cell(listing.contact),
                verdict.designated,
                _YES_NO[verdict.eligible][1 if en else 0],
                verdict.eligible_until.isoformat() if verdict.eligible_until else "",
                datetime.fromtimestamp(listing.listed_at, JST).strftime("%Y-%m-%d %H:%M"),
            ]
        )
    return buffer.getvalue()


def listing_csv_filename(region: int, as_of: date) -> tuple[str, str]:
    """(a Japanese file name, an ASCII fallback) for the download."""
    place = municipality_name(region, "ja") or f"{region:05d}"
    return f"{place}_ふるさと住民登録対象者_{as_of:%Y%m%d}.csv", f"eligibility-{region:05d}-{as_of:%Y%m%d}.csv"


def export_listing_csv(
    engine: Engine, actor: Actor, region: int, as_of: date, *, lang: str = "ja", client: str = ""
) -> str:
    """:func:`listing_csv` for ``actor`` (who needs :data:`CONTACTS_PERMISSION` in ``region``),
    recorded in the staff audit as ``eligibility.export`` in the same transaction."""
    actor.require(CONTACTS_PERMISSION, region)
    with write_transaction(engine) as conn:
        body = listing_csv(conn, region, as_of, lang=lang)
        people = len(listed_people(conn, region))
        audit.record(
            conn,
            actor,
            "eligibility.export",
            region=region,
            target=f"region:{region:05d}",
            detail={"as_of": as_of.isoformat(), "people": people, "lang": lang},
            client=client,
        )
    return body
