"""EIP-1559 transactions of one account: fees from the node, signing, broadcasting, receipts, bumps.

The relayer owns the account's nonce (several transactions in flight); this module only turns
``(to, data, gas, nonce, fees)`` into a signed transaction and talks to the node about it. Every
node failure that is worth retrying surfaces as :class:`ledger.errors.ChainUnavailable`.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import BlockNotFound, TransactionNotFound, Web3RPCError
from web3.types import TxParams, TxReceipt

from ledger.chain.reverts import translate_revert
from ledger.errors import ChainUnavailable, TransactionFailed
from ledger.metrics import BROADCASTS
from ledger.settings import RelaySettings

__all__ = ["Fees", "SignedAttempt", "TxState", "Broadcast", "TxSender", "hex_hash", "call_data"]

log = logging.getLogger("ledger.relay")

GWEI = 10**9
_DEFAULT_PRIORITY_FEE = GWEI
_FEES_TTL_S = 1.0


def hex_hash(value: bytes | str) -> str:
    """A transaction hash as lowercase ``0x`` hex."""
    return "0x" + HexBytes(value).hex().removeprefix("0x")


def _fields(raw_tx: str) -> dict[str, Any]:
    fields: dict[str, Any] = TypedTransaction.from_bytes(HexBytes(raw_tx)).as_dict()
    return fields


def _storage_key(key: int | bytes | str) -> str:
    """A storage key of a parsed access list (eth-account gives ints) as 32-byte ``0x`` hex."""
    value = key if isinstance(key, int) else int.from_bytes(HexBytes(key), "big")
    return f"0x{value:064x}"


def call_data(raw_tx: str) -> str:
    """The calldata of a signed transaction."""
    data = _fields(raw_tx)["data"]
    return hex_hash(data) if data else "0x"


@dataclass(frozen=True)
class Fees:
    """``maxFeePerGas`` and ``maxPriorityFeePerGas`` in wei."""

    max_fee: int
    priority: int


@dataclass(frozen=True)
class SignedAttempt:
    """One signed transaction (a first send or a fee bump of the same nonce)."""

    tx_hash: str
    nonce: int
    fees: Fees
    raw_tx: str  # 0x hex


class TxState(enum.Enum):
    """What a node knows of one transaction hash."""

    UNKNOWN = "unknown"
    PENDING = "pending"
    MINED = "mined"


class Broadcast(enum.Enum):
    """What the node said to ``eth_sendRawTransaction``."""

    SENT = "sent"  # accepted (or already in its pool, or outbid by our own higher-fee replacement)
    NONCE_USED = "nonce_used"  # the nonce is taken: one of our attempts was mined, or another transaction
    REFUSED = "refused"  # another refusal (funds, fee below base fee, …): retried later


class TxSender:
    """Signs and sends type-2 transactions from ``account`` to ``to``."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        chain_id: int,
        to: str,
        relay: RelaySettings,
        guard: Callable[[], None] | None = None,
    ) -> None:
        self.w3 = w3
        self.guard = guard  # raises when this process may no longer send (the relayer's lease)
        self.account = account
        self.chain_id = chain_id
        self.to = to
        self.relay = relay
        self.cap = int(relay.max_fee_gwei * GWEI)
        self._fees_cache: tuple[float, Fees] | None = None

    # -- reading the node ---------------------------------------------------------------------------

    def _node(self, what: str, exc: BaseException) -> ChainUnavailable:
        return ChainUnavailable(f"{what}: {type(exc).__name__}: {exc}")

    def account_nonce(self, block: str = "latest") -> int:
        """The account's transaction count at ``block`` (``latest`` or ``pending``)."""
        try:
            return int(self.w3.eth.get_transaction_count(self.account.address, block))  # type: ignore[arg-type]
        except (OSError, Web3RPCError) as exc:
            raise self._node("reading the account nonce", exc) from exc

    def head(self) -> int:
        try:
            return int(self.w3.eth.block_number)
        except (OSError, Web3RPCError) as exc:
            raise self._node("reading the head block", exc) from exc

    def fees(self, *, fresh: bool = False) -> Fees:
        """Fees for a new transaction: ``2 × base fee + priority fee``, capped by ``max_fee_gwei``.

        Read at most once a second (two RPCs saved per transaction in a burst; ``2 × base fee``
        already covers several blocks of base-fee rises); ``fresh`` reads them now (fee bumps)."""
        cached = self._fees_cache
        if not fresh and cached is not None and time.monotonic() - cached[0] < _FEES_TTL_S:
            return cached[1]
        fees = self._read_fees()
        self._fees_cache = (time.monotonic(), fees)
        return fees

    def _read_fees(self) -> Fees:
        try:
            base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        except (OSError, Web3RPCError) as exc:
            raise self._node("reading the base fee", exc) from exc
        try:
            priority = int(self.w3.eth.max_priority_fee)
        except (OSError, Web3RPCError) as exc:
            log.debug("eth_maxPriorityFeePerGas failed (%s); using 1 gwei", exc)
            priority = _DEFAULT_PRIORITY_FEE
        max_fee = min(self.cap, 2 * base + priority)
        if max_fee < base:
            log.warning(
                "base fee %.2f gwei is above relay.max_fee_gwei %.2f: transactions wait until it falls",
                base / GWEI,
                self.relay.max_fee_gwei,
            )
        return Fees(max_fee=max_fee, priority=min(priority, max_fee))

    def bumped(self, previous: Fees) -> Fees | None:
        """Fees ``fee_bump_percent`` above ``previous`` (and not below today's); None at the cap."""
        factor = 100 + self.relay.fee_bump_percent
        current = self.fees(fresh=True)
        priority = max(-(-previous.priority * factor // 100), current.priority)
        max_fee = max(-(-previous.max_fee * factor // 100), current.max_fee, priority)
        if previous.max_fee >= self.cap:
            return None
        max_fee = min(max_fee, self.cap)
        return Fees(max_fee=max_fee, priority=min(priority, max_fee))

    def estimate_gas(self, data: str, access_list: list[dict[str, Any]] | None = None) -> int:
        """Gas for ``data`` with a 25 % margin (the state may change before it is mined)."""
        params: TxParams = {"from": self.account.address, "to": self.to, "data": data}  # type: ignore[typeddict-item]
        if access_list:
            params["accessList"] = access_list  # type: ignore[typeddict-item]
        try:
            estimate = int(self.w3.eth.estimate_gas(params))
        except (OSError, ChainUnavailable) as exc:
            raise self._node("estimating gas", exc) from exc
        except Exception as exc:
            translated = translate_revert(exc)
            if translated is exc:
                raise self._node("estimating gas", exc) from exc
            raise translated from None
        return estimate * 5 // 4 + 10_000

    def simulate(self, data: str, block: int | str = "latest") -> None:
        """``eth_call`` the transaction: the typed :class:`ContractError` when it would revert."""
        params: TxParams = {"from": self.account.address, "to": self.to, "data": data}  # type: ignore[typeddict-item]
        try:
            self.w3.eth.call(params, block)  # type: ignore[arg-type]
        except OSError as exc:
            raise self._node("simulating", exc) from exc
        except Exception as exc:
            translated = translate_revert(exc)
            if translated is exc:
                if isinstance(exc, Web3RPCError):
                    raise self._node("simulating", exc) from exc
                raise
            raise translated from None

    def revert_reason(self, data: str, block: int) -> BaseException:
        """Why a mined transaction reverted: its call replayed on the state before its block."""
        try:
            self.simulate(data, max(block - 1, 0))
        except ChainUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - the replay's revert is the answer
            return exc
        return TransactionFailed("reverted when mined, but not when replayed")

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        except (OSError, Web3RPCError) as exc:
            raise self._node("reading a receipt", exc) from exc

    def is_known(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (in its pool or mined)."""
        return self.lookup(tx_hash) is not TxState.UNKNOWN

    def lookup(self, tx_hash: str) -> TxState:
        """What the node knows of the transaction: nothing, pending in its pool, or mined."""
        try:
            tx = self.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return TxState.UNKNOWN
        except (OSError, Web3RPCError) as exc:
            raise self._node("looking up a transaction", exc) from exc
        return TxState.PENDING if tx.get("blockNumber") is None else TxState.MINED

    def head_block(self) -> tuple[int, str]:
        """(number, hash) of the node's latest block."""
        try:
            block = self.w3.eth.get_block("latest")
        except (OSError, Web3RPCError) as exc:
            raise self._node("reading the head block", exc) from exc
        return int(block["number"]), hex_hash(block["hash"])

    def block_hash(self, number: int) -> str | None:
        """The hash of the node's block ``number``; None when its chain is not that long."""
        try:
            block = self.w3.eth.get_block(number)
        except BlockNotFound:
            return None
        except (OSError, Web3RPCError) as exc:
            raise self._node("reading a block", exc) from exc
        return hex_hash(block["hash"])

    def transaction_input(self, tx_hash: str) -> tuple[str, str] | None:
        """(to, input data) of a transaction, lowercase hex; None when the node does not know it."""
        try:
            tx = self.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        except (OSError, Web3RPCError) as exc:
            raise self._node("looking up a transaction", exc) from exc
        return str(tx.get("to") or "").lower(), hex_hash(tx.get("input") or b"")

    # -- signing and sending -----------------------------------------------------------------------

    def sign(
        self, data: str, gas: int, nonce: int, fees: Fees, access_list: list[dict[str, Any]] | None = None
    ) -> SignedAttempt:
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": self.to,
            "value": 0,
            "data": data,
            "gas": gas,
            "maxFeePerGas": fees.max_fee,
            "maxPriorityFeePerGas": fees.priority,
        }
        if access_list:
            tx["accessList"] = access_list
        signed = self.account.sign_transaction(tx)
        return SignedAttempt(
            tx_hash=hex_hash(signed.hash), nonce=nonce, fees=fees, raw_tx=hex_hash(signed.raw_transaction)
        )

    def sign_filler(self, nonce: int, fees: Fees) -> SignedAttempt:
        """A zero-value transfer to ourselves: it only uses up ``nonce`` (a gap nothing else can fill)."""
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": self.account.address,
            "value": 0,
            "data": b"",
            "gas": 21_000,
            "maxFeePerGas": fees.max_fee,
            "maxPriorityFeePerGas": fees.priority,
        }
        signed = self.account.sign_transaction(tx)
        return SignedAttempt(
            tx_hash=hex_hash(signed.hash), nonce=nonce, fees=fees, raw_tx=hex_hash(signed.raw_transaction)
        )

    def resign(self, raw_tx: str, fees: Fees) -> SignedAttempt:
        """The transaction of ``raw_tx`` (same nonce, recipient, data, gas, access list) signed again
        with ``fees``."""
        fields = _fields(raw_tx)
        if hex_hash(fields["to"]).lower() == self.account.address.lower():
            return self.sign_filler(int(fields["nonce"]), fees)
        access = [
            {"address": hex_hash(entry["address"]), "storageKeys": [_storage_key(k) for k in entry["storageKeys"]]}
            for entry in fields.get("accessList") or []
        ]
        return self.sign(call_data(raw_tx), int(fields["gas"]), int(fields["nonce"]), fees, access or None)

    def broadcast(self, raw_tx: str) -> tuple[Broadcast, str]:
        """Send ``raw_tx``; connection problems raise :class:`ChainUnavailable`; without the right
        to send (``guard``: the relayer's lease) nothing goes out and the guard's error is raised."""
        if self.guard is not None:
            self.guard()
        BROADCASTS.inc()
        try:
            self.w3.eth.send_raw_transaction(HexBytes(raw_tx))
        except Web3RPCError as exc:
            message = str(exc)
            lowered = message.lower()
            if "already" in lowered or "known transaction" in lowered or "underpriced" in lowered:
                return Broadcast.SENT, message
            if "nonce too low" in lowered or "nonce is too low" in lowered or "invalid nonce" in lowered:
                return Broadcast.NONCE_USED, message
            return Broadcast.REFUSED, message
        except OSError as exc:
            raise self._node("sending a transaction", exc) from exc
        return Broadcast.SENT, ""
