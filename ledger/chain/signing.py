"""EIP-712 ``Support`` and ``CancelSupport`` signatures: a participant spends coins on a project, or
withdraws a signed support before it is used, without holding ETH.

The typed data built here is exactly what the contract hashes (``SUPPORT_TYPEHASH`` and
``CANCEL_TYPEHASH`` in ``contracts/TsunagariLedger.sol``); the browser signs the same structure (the
つながり page), and any relayer submits it with ``supportBySig`` / ``cancelNonceBySig``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

__all__ = [
    "EIP712_NAME",
    "EIP712_VERSION",
    "SupportRequest",
    "support_typed_data",
    "sign_support",
    "recover_support",
    "CancelRequest",
    "cancel_typed_data",
    "sign_cancel",
]

EIP712_NAME = "TsunagariLedger"  # ASCII and <= 31 bytes, as OpenZeppelin 5.7's ShortStrings wants
EIP712_VERSION = "2"  # the ledger contract's version (v2: units, designation, expiry, nonce cancellation)


@dataclass(frozen=True)
class SupportRequest:
    """What a supporter signs: spend ``amount`` coins on ``project_id`` (nonce-once, until ``deadline``)."""

    supporter: str
    project_id: int
    amount: int
    nonce: int
    deadline: int


_DOMAIN_TYPES = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _domain(chain_id: int, ledger_address: str) -> dict[str, Any]:
    return {
        "name": EIP712_NAME,
        "version": EIP712_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(ledger_address),
    }


def support_typed_data(request: SupportRequest, chain_id: int, ledger_address: str) -> dict[str, Any]:
    """The full EIP-712 message (``eth_signTypedData_v4`` shape) for ``request``."""
    return {
        "types": {
            "EIP712Domain": _DOMAIN_TYPES,
            "Support": [
                {"name": "supporter", "type": "address"},
                {"name": "projectId", "type": "uint64"},
                {"name": "amount", "type": "uint64"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Support",
        "domain": _domain(chain_id, ledger_address),
        "message": {
            "supporter": to_checksum_address(request.supporter),
            "projectId": request.project_id,
            "amount": request.amount,
            "nonce": request.nonce,
            "deadline": request.deadline,
        },
    }


def sign_support(account: LocalAccount, request: SupportRequest, chain_id: int, ledger_address: str) -> bytes:
    """The 65-byte signature of ``request`` by ``account``."""
    signed = Account.sign_typed_data(account.key, full_message=support_typed_data(request, chain_id, ledger_address))
    return bytes(signed.signature)


def recover_support(request: SupportRequest, signature: bytes, chain_id: int, ledger_address: str) -> str:
    """The address that signed ``request`` (checksummed); raises ``ValueError`` on a malformed signature."""
    message = encode_typed_data(full_message=support_typed_data(request, chain_id, ledger_address))
    return str(Account.recover_message(message, signature=signature))


@dataclass(frozen=True)
class CancelRequest:
    """What a supporter signs to cancel their signature nonce ``nonce`` (valid until ``deadline``)."""

    supporter: str
    nonce: int
    deadline: int


def cancel_typed_data(request: CancelRequest, chain_id: int, ledger_address: str) -> dict[str, Any]:
    """The full EIP-712 message for ``cancelNonceBySig``."""
    return {
        "types": {
            "EIP712Domain": _DOMAIN_TYPES,
            "CancelSupport": [
                {"name": "supporter", "type": "address"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "CancelSupport",
        "domain": _domain(chain_id, ledger_address),
        "message": {
            "supporter": to_checksum_address(request.supporter),
            "nonce": request.nonce,
            "deadline": request.deadline,
        },
    }


def sign_cancel(account: LocalAccount, request: CancelRequest, chain_id: int, ledger_address: str) -> bytes:
    """The 65-byte signature of ``request`` by ``account``."""
    signed = Account.sign_typed_data(account.key, full_message=cancel_typed_data(request, chain_id, ledger_address))
    return bytes(signed.signature)
