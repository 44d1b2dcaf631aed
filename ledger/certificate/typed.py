"""What the participant signs (EIP-712): a certificate, and a holder proof for a verifier's challenge.

Both are typed data in the domain of the ledger the records are on (``verifyingContract``), so a
signature for one chain or deployment means nothing on another. The browser signs the very same
structures with ethers (``api/static/certificate.js``, ``present.js``) and the standalone verifier
recovers them with ethers too; :mod:`tests.certificate` checks both sides agree.

- ``Certificate(address holder,uint32 region,uint32 fromDay,uint32 toDay,uint64 issuedAt,Record[] records)``
- ``Record(bytes32 txHash,uint32 logIndex,bytes32 blockHash,uint64 activityId,uint16 units,uint32 day,
  bool designated,bytes32 metadataHash)`` (one type string, without the line break)
- ``HolderProof(address holder,bytes32 nonce,uint64 expiresAt,string audience)``
- ``EligibilityListing(address holder,uint32 region,string contact,bool listed,uint64 issuedAt)``:
  the participant's opt-in (``listed``) or opt-out to be listed to the region's staff as eligible

Days are JST ``YYYYMMDD`` integers.
"""

from __future__ import annotations

from typing import Any, Final

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address

from ledger.certificate.model import Certificate, day_int

__all__ = [
    "CERTIFICATE_DOMAIN_NAME",
    "HOLDER_PROOF_DOMAIN_NAME",
    "LISTING_DOMAIN_NAME",
    "listing_typed_data",
    "certificate_typed_data",
    "holder_proof_typed_data",
    "recover_typed",
    "sign_typed",
]

CERTIFICATE_DOMAIN_NAME: Final = "Tsunagari Activity Certificate"
HOLDER_PROOF_DOMAIN_NAME: Final = "Tsunagari Holder Proof"
LISTING_DOMAIN_NAME: Final = "Tsunagari Eligibility Listing"
_VERSION: Final = "1"

_DOMAIN_TYPE: Final = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
CERTIFICATE_TYPES: Final = {
    "Certificate": [
        {"name": "holder", "type": "address"},
        {"name": "region", "type": "uint32"},
        {"name": "fromDay", "type": "uint32"},
        {"name": "toDay", "type": "uint32"},
        {"name": "issuedAt", "type": "uint64"},
        {"name": "records", "type": "Record[]"},
    ],
    "Record": [
        {"name": "txHash", "type": "bytes32"},
        {"name": "logIndex", "type": "uint32"},
        {"name": "blockHash", "type": "bytes32"},
        {"name": "activityId", "type": "uint64"},
        {"name": "units", "type": "uint16"},
        {"name": "day", "type": "uint32"},
        {"name": "designated", "type": "bool"},
        {"name": "metadataHash", "type": "bytes32"},
    ],
}
HOLDER_PROOF_TYPES: Final = {
    "HolderProof": [
        {"name": "holder", "type": "address"},
        {"name": "nonce", "type": "bytes32"},
        {"name": "expiresAt", "type": "uint64"},
        {"name": "audience", "type": "string"},
    ]
}

LISTING_TYPES: Final = {
    "EligibilityListing": [
        {"name": "holder", "type": "address"},
        {"name": "region", "type": "uint32"},
        {"name": "contact", "type": "string"},
        {"name": "listed", "type": "bool"},
        {"name": "issuedAt", "type": "uint64"},
    ]
}


def _domain(name: str, chain_id: int, ledger: str) -> dict[str, Any]:
    return {"name": name, "version": _VERSION, "chainId": chain_id, "verifyingContract": to_checksum_address(ledger)}


def certificate_typed_data(certificate: Certificate) -> dict[str, Any]:
    """The EIP-712 document (domain, types, primaryType, message) the holder signs."""
    return {
        "domain": _domain(CERTIFICATE_DOMAIN_NAME, certificate.chain_id, certificate.ledger),
        "types": {"EIP712Domain": _DOMAIN_TYPE, **CERTIFICATE_TYPES},
        "primaryType": "Certificate",
        "message": {
            "holder": certificate.holder,
            "region": certificate.municipality.region,
            "fromDay": day_int(certificate.from_day),
            "toDay": day_int(certificate.to_day),
            "issuedAt": certificate.issued_at,
            "records": [
                {
                    "txHash": r.tx_hash,
                    "logIndex": r.log_index,
                    "blockHash": r.block_hash,
                    "activityId": r.activity_id,
                    "units": r.units,
                    "day": day_int(r.day),
                    "designated": r.designated,
                    "metadataHash": r.metadata_hash,
                }
                for r in certificate.records
            ],
        },
    }


def holder_proof_typed_data(
    chain_id: int, ledger: str, holder: str, nonce: str, expires_at: int, audience: str
) -> dict[str, Any]:
    """The EIP-712 document a participant signs to answer a verifier's challenge."""
    return {
        "domain": _domain(HOLDER_PROOF_DOMAIN_NAME, chain_id, ledger),
        "types": {"EIP712Domain": _DOMAIN_TYPE, **HOLDER_PROOF_TYPES},
        "primaryType": "HolderProof",
        "message": {
            "holder": to_checksum_address(holder),
            "nonce": nonce,
            "expiresAt": expires_at,
            "audience": audience,
        },
    }


def listing_typed_data(
    chain_id: int, ledger: str, holder: str, region: int, contact: str, listed: bool, issued_at: int
) -> dict[str, Any]:
    """The EIP-712 document a participant signs to be listed (or no longer listed) as eligible."""
    return {
        "domain": _domain(LISTING_DOMAIN_NAME, chain_id, ledger),
        "types": {"EIP712Domain": _DOMAIN_TYPE, **LISTING_TYPES},
        "primaryType": "EligibilityListing",
        "message": {
            "holder": to_checksum_address(holder),
            "region": region,
            "contact": contact,
            "listed": listed,
            "issuedAt": issued_at,
        },
    }


def _bytes_fields(document: dict[str, Any]) -> dict[str, Any]:
    """eth-account wants bytes32 values as bytes; the JSON form has 0x hex."""

    def convert(type_name: str, value: Any) -> Any:
        if type_name == "bytes32" and isinstance(value, str):
            return bytes.fromhex(value.removeprefix("0x"))
        if type_name.endswith("[]"):
            return [convert(type_name[:-2], v) for v in value]
        fields = document["types"].get(type_name)
        if fields is not None:
            return {f["name"]: convert(f["type"], value[f["name"]]) for f in fields}
        return value

    return {**document, "message": convert(document["primaryType"], document["message"])}


def recover_typed(document: dict[str, Any], signature: str) -> str | None:
    """The checksummed address that signed ``document``, or None when the signature is malformed."""
    try:
        signable = encode_typed_data(full_message=_bytes_fields(document))
        return str(Account.recover_message(signable, signature=bytes.fromhex(signature.removeprefix("0x"))))
    except Exception:  # noqa: BLE001 - any malformed signature (bad v, s too high, wrong length)
        return None


def sign_typed(document: dict[str, Any], private_key: bytes | str) -> str:
    """Sign ``document`` (operators with the holder's key file, tests); 0x + 130 hex."""
    signed = Account.sign_message(encode_typed_data(full_message=_bytes_fields(document)), private_key)
    return "0x" + bytes(signed.signature).hex()
