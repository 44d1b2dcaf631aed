"""The activity certificate (活動証明書): its JSON form, parsed strictly.

A certificate is a participant's statement, signed with their key, of their records in one
municipality over a range of JST days. It is a plain JSON document (``docs/certificate.md``) with
everything a verifier needs to check each line against the chain without our server: per record
the transaction hash, log index and block hash of its ``ContributionRecorded`` log, and the
activity's off-chain text with the metadata hash the chain commits to.

Signed fields (:func:`ledger.certificate.typed.certificate_typed_data`) are the facts; the names
(municipality, kind, activity), coins and the summary are for people reading it and are checked
by the verifier against the chain and the metadata hash like everything else.

Decision (docs/decisions/0005-certificate-format.md): our own small JSON format signed with
EIP-712, not a W3C Verifiable Credential: a VC's proof suites (Data Integrity with JSON-LD
canonicalisation, or JOSE/COSE) need libraries the verifier page would have to carry and that
wallets cannot show, while EIP-712 is signed by the key the participant already holds and is
shown field by field by wallets. The field names follow the VC model where they map (holder,
issuance date, validity range) so a later VC wrapper is a translation, not a redesign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Final

import orjson

from ledger import jst
from ledger import municipalities as _municipalities
from ledger.errors import TsunagariError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_RECORDS",
    "Certificate",
    "CertificateFormatError",
    "CertificateRecord",
    "Municipality",
    "day_int",
    "day_of_int",
    "jis_code",
    "parse_certificate",
]

FORMAT: Final = "tsunagari-activity-certificate"
FORMAT_VERSION: Final = 1
MAX_RECORDS: Final = 1_000  # a year of daily records, three times over
MAX_BYTES: Final = 2_000_000  # a certificate file bigger than this is refused before parsing

_HEX32 = re.compile(r"^0x[0-9a-f]{64}$")
_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX_SIGNATURE = re.compile(r"^0x[0-9a-fA-F]{130}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CertificateFormatError(TsunagariError):
    """The document is not a certificate of this format; ``where`` names the field."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


# The calendar and the code's text are the shared ones (ledger.jst, ledger.municipalities):
# ``jis_code`` 1634 -> "01634"; ``day_int`` a date as YYYYMMDD, the index's and the signed
# message's day; ``day_of_int`` back.
jis_code = _municipalities.jis_code
day_int = jst.day_key_of_date
day_of_int = jst.date_of_day_key


@dataclass(frozen=True)
class Municipality:
    region: int  # the chain's region id: the JIS code as a number
    name: str | None  # 館山市 (from ledger/municipalities.py), None when we do not know the code
    name_en: str | None = None

    @property
    def code(self) -> str:
        return jis_code(self.region)


@dataclass(frozen=True)
class CertificateRecord:
    """One line: one ``ContributionRecorded`` log and what it means."""

    tx_hash: str  # 0x + 64 lowercase hex
    log_index: int
    block_hash: str
    block_number: int
    day: date  # JST day of the block
    activity_id: int
    units: int
    designated: bool
    metadata_hash: str  # the activity's metadata hash the text below is checked against
    # for people; checked by the verifier
    kind: int
    unit: int  # 0 per record, 1 per hour, 2 per day
    coins: int
    activity_document: str | None  # the canonical metadata JSON ({"description","name","venue"})

    @property
    def name(self) -> str | None:
        if self.activity_document is None:
            return None
        try:
            value = orjson.loads(self.activity_document).get("name")
        except (orjson.JSONDecodeError, AttributeError):
            return None
        return value if isinstance(value, str) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
            "block_hash": self.block_hash,
            "block_number": self.block_number,
            "date": self.day.isoformat(),
            "activity_id": self.activity_id,
            "units": self.units,
            "designated": self.designated,
            "metadata_hash": self.metadata_hash,
            "kind": self.kind,
            "unit": self.unit,
            "coins": self.coins,
            "activity": {"name": self.name, "document": self.activity_document},
        }


@dataclass(frozen=True)
class Certificate:
    chain_id: int
    ledger: str  # checksummed
    holder: str  # checksummed
    municipality: Municipality
    from_day: date
    to_day: date
    issued_at: int  # unix seconds
    records: tuple[CertificateRecord, ...]
    signature: str | None = None  # EIP-712 by the holder (None: issued by an operator, unsigned)
    site: str | None = None  # where it was issued (the QR code's verifier link); informative
    rpc_hint: str | None = None  # a JSON-RPC endpoint of the chain the issuer suggests; informative
    summary: dict[str, Any] = field(default_factory=dict)

    def signed(self, signature: str) -> Certificate:
        return replace(self, signature=signature)

    def file_name(self, suffix: str) -> str:
        """``tsunagari-certificate-<JIS code>-<holder's first 8 hex>-<last day>.<suffix>``."""
        return (
            f"tsunagari-certificate-{self.municipality.code}-{self.holder[2:10].lower()}"
            f"-{self.to_day.isoformat()}.{suffix}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "chain": {"chain_id": self.chain_id, "ledger": self.ledger, "rpc_hint": self.rpc_hint},
            "holder": self.holder,
            "municipality": {
                "region": self.municipality.region,
                "code": self.municipality.code,
                "name": self.municipality.name,
                "name_en": self.municipality.name_en,
            },
            "range": {"from": self.from_day.isoformat(), "to": self.to_day.isoformat()},
            "issued_at": datetime.fromtimestamp(self.issued_at, jst.JST).isoformat(),
            "site": self.site,
            "records": [r.to_json() for r in self.records],
            "summary": self.summary,
            "signature": {"type": "EIP-712", "value": self.signature} if self.signature else None,
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2)


# ---------------------------------------------------------------------------------------------
# Parsing: every field checked, every error names its place
# ---------------------------------------------------------------------------------------------


def _get(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise CertificateFormatError(where, "must be an object")
    if key not in obj:
        raise CertificateFormatError(f"{where}.{key}" if where else key, "is missing")
    return obj[key]


def _int(value: Any, where: str, lo: int = 0, hi: int = 2**64 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise CertificateFormatError(where, f"must be an integer from {lo} to {hi}")
    return value


def _hex32(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _HEX32.match(value.lower()):
        raise CertificateFormatError(where, "must be 0x and 64 hex digits")
    return value.lower()


def _address(value: Any, where: str) -> str:
    from eth_utils.address import to_checksum_address

    if not isinstance(value, str) or not _HEX_ADDRESS.match(value):
        raise CertificateFormatError(where, "must be an address (0x and 40 hex digits)")
    return str(to_checksum_address(value))


def _date(value: Any, where: str) -> date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise CertificateFormatError(where, "must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CertificateFormatError(where, "is not a calendar date") from None


def _optional_text(value: Any, where: str, limit: int = 2_000) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise CertificateFormatError(where, f"must be text of at most {limit} characters or null")
    return value


def _record(raw: Any, where: str) -> CertificateRecord:
    activity = _get(raw, "activity", where)
    if not isinstance(activity, dict):
        raise CertificateFormatError(f"{where}.activity", "must be an object")
    designated = _get(raw, "designated", where)
    if not isinstance(designated, bool):
        raise CertificateFormatError(f"{where}.designated", "must be true or false")
    return CertificateRecord(
        tx_hash=_hex32(_get(raw, "tx_hash", where), f"{where}.tx_hash"),
        log_index=_int(_get(raw, "log_index", where), f"{where}.log_index", hi=2**32 - 1),
        block_hash=_hex32(_get(raw, "block_hash", where), f"{where}.block_hash"),
        block_number=_int(_get(raw, "block_number", where), f"{where}.block_number"),
        day=_date(_get(raw, "date", where), f"{where}.date"),
        activity_id=_int(_get(raw, "activity_id", where), f"{where}.activity_id", lo=1),
        units=_int(_get(raw, "units", where), f"{where}.units", lo=1, hi=65_535),
        designated=designated,
        metadata_hash=_hex32(_get(raw, "metadata_hash", where), f"{where}.metadata_hash"),
        kind=_int(_get(raw, "kind", where), f"{where}.kind", hi=255),
        unit=_int(_get(raw, "unit", where), f"{where}.unit", hi=2),
        coins=_int(_get(raw, "coins", where), f"{where}.coins"),
        activity_document=_optional_text(activity.get("document"), f"{where}.activity.document", 20_000),
    )


def parse_certificate(data: bytes | str | dict[str, Any]) -> Certificate:
    """A :class:`Certificate` from its JSON; :class:`CertificateFormatError` naming what is wrong."""
    if isinstance(data, (bytes, str)):
        if len(data) > MAX_BYTES:
            raise CertificateFormatError("", f"is larger than {MAX_BYTES} bytes")
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CertificateFormatError("", f"is not JSON ({exc})") from None
    else:
        raw = data
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CertificateFormatError("format", f'must be "{FORMAT}": this is not an activity certificate')
    if raw.get("version") != FORMAT_VERSION:
        raise CertificateFormatError(
            "version", f"is {raw.get('version')!r}; this verifier reads version {FORMAT_VERSION}"
        )
    chain = _get(raw, "chain", "")
    municipality = _get(raw, "municipality", "")
    period = _get(raw, "range", "")
    records = _get(raw, "records", "")
    if not isinstance(records, list):
        raise CertificateFormatError("records", "must be a list")
    if len(records) > MAX_RECORDS:
        raise CertificateFormatError("records", f"has {len(records)} lines; at most {MAX_RECORDS}")
    region = _int(_get(municipality, "region", "municipality"), "municipality.region", lo=1, hi=2**32 - 1)
    code = _get(municipality, "code", "municipality")
    if code != jis_code(region):
        raise CertificateFormatError("municipality.code", f"must be {jis_code(region)!r}, the region's JIS code")
    signature = raw.get("signature")
    signature_value: str | None = None
    if signature is not None:
        value = _get(signature, "value", "signature")
        if _get(signature, "type", "signature") != "EIP-712" or not isinstance(value, str):
            raise CertificateFormatError("signature", 'must be {"type": "EIP-712", "value": "0x…"} or null')
        if not _HEX_SIGNATURE.match(value):
            raise CertificateFormatError("signature.value", "must be 0x and 130 hex digits")
        signature_value = value.lower()
    issued = _get(raw, "issued_at", "")
    try:
        issued_at = int(datetime.fromisoformat(issued).timestamp()) if isinstance(issued, str) else None
    except ValueError:
        issued_at = None
    if issued_at is None or issued_at < 0:
        raise CertificateFormatError("issued_at", "must be an ISO 8601 time with its zone")
    from_day = _date(_get(period, "from", "range"), "range.from")
    to_day = _date(_get(period, "to", "range"), "range.to")
    if from_day > to_day:
        raise CertificateFormatError("range", "starts after it ends")
    summary = raw.get("summary") or {}
    if not isinstance(summary, dict):
        raise CertificateFormatError("summary", "must be an object")
    return Certificate(
        chain_id=_int(_get(chain, "chain_id", "chain"), "chain.chain_id", lo=1),
        ledger=_address(_get(chain, "ledger", "chain"), "chain.ledger"),
        holder=_address(_get(raw, "holder", ""), "holder"),
        municipality=Municipality(
            region,
            _optional_text(municipality.get("name"), "municipality.name", 100),
            _optional_text(municipality.get("name_en"), "municipality.name_en", 100),
        ),
        from_day=from_day,
        to_day=to_day,
        issued_at=issued_at,
        records=tuple(_record(r, f"records[{i}]") for i, r in enumerate(records)),
        signature=signature_value,
        site=_optional_text(raw.get("site"), "site", 500),
        rpc_hint=_optional_text(chain.get("rpc_hint"), "chain.rpc_hint", 500),
        summary=summary,
    )
