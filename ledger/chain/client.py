"""Typed access to a deployed :sol:`TsunagariLedger`: every write signs locally and returns parsed results.

Reverts surface as the :mod:`ledger.errors` subclass of the contract's custom error (for example
:class:`ledger.errors.DuplicateContribution`), whether the node is anvil, py-evm or a real network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxParams, TxReceipt

from ledger.chain.artifacts import load_artifact
from ledger.chain.reverts import translate_revert
from ledger.chain.signing import SupportRequest
from ledger.errors import ChainUnavailable, TransactionFailed
from ledger.taxonomy import ContributionKind

__all__ = [
    "ZERO_HASH",
    "MAX_PACKED_ID",
    "RecordInput",
    "ActivitySpec",
    "ActivityInfo",
    "RegionInfo",
    "ProjectInfo",
    "Holding",
    "BatchResult",
    "LedgerClient",
    "pack_record",
    "send_transaction",
    "checksum",
]

ZERO_HASH = b"\x00" * 32
MAX_PACKED_ID = (1 << 48) - 1


def checksum(address: str) -> ChecksumAddress:
    """A checksummed address; ``ValueError`` naming the bad input otherwise."""
    if not isinstance(address, str) or not is_address(address):
        raise ValueError(f"{address!r} is not an Ethereum address")
    return to_checksum_address(address)


@dataclass(frozen=True)
class RecordInput:
    """One contribution to record: ``participant`` took part in ``activity_id`` (server claim ``claim_id``)."""

    participant: str
    activity_id: int
    claim_id: int


def pack_record(record: RecordInput) -> int:
    """The ``uint256`` word ``recordBatch`` takes: ``participant << 96 | activityId << 48 | claimId``."""
    if not 0 < record.activity_id <= MAX_PACKED_ID or not 0 <= record.claim_id <= MAX_PACKED_ID:
        raise ValueError(f"activity id and claim id must fit in 48 bits: {record}")
    return (int(checksum(record.participant), 16) << 96) | (record.activity_id << 48) | record.claim_id


@dataclass(frozen=True)
class ActivitySpec:
    """What a region admin registers."""

    region: int
    kind: ContributionKind
    reward: int
    starts_at: int
    ends_at: int
    capacity: int = 0
    metadata_hash: bytes = ZERO_HASH


@dataclass(frozen=True)
class ActivityInfo:
    activity_id: int
    region: int
    kind: int
    closed: bool
    reward: int
    starts_at: int
    ends_at: int
    capacity: int
    recorded: int
    metadata_hash: bytes


@dataclass(frozen=True)
class RegionInfo:
    region: int
    registered: bool
    paused: bool
    transfers_enabled: bool
    participant_count: int
    minted: int
    spent: int
    revoked: int
    coin: str

    @property
    def total_supply(self) -> int:
        return self.minted - self.spent - self.revoked


@dataclass(frozen=True)
class ProjectInfo:
    project_id: int
    region: int
    closed: bool
    raised: int
    metadata_hash: bytes


@dataclass(frozen=True)
class Holding:
    balance: int
    index: int
    records: int


@dataclass(frozen=True)
class BatchResult:
    receipt: TxReceipt
    batch_seq: int
    count: int
    minted: int

    @property
    def gas_per_record(self) -> float:
        return int(self.receipt["gasUsed"]) / self.count


def send_transaction(
    w3: Web3,
    sender: LocalAccount,
    call: ContractFunction,
    *,
    gas: int | None = None,
    timeout_s: float = 120.0,
    poll_s: float = 0.1,
) -> TxReceipt:
    """Sign ``call`` with ``sender``'s key, send it, wait for the receipt; typed error on a revert."""
    params: TxParams = {"from": sender.address, "nonce": w3.eth.get_transaction_count(sender.address, "pending")}
    if gas is not None:
        params["gas"] = gas
    try:
        tx = call.build_transaction(params)  # estimates gas: a revert surfaces here, before sending
        signed = sender.sign_transaction(tx)  # type: ignore[arg-type]
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    except Exception as exc:
        translated = translate_revert(exc)
        if translated is exc:
            if isinstance(exc, (ConnectionError, OSError)):
                raise ChainUnavailable(str(exc)) from exc
            raise
        raise translated from None
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s, poll_latency=poll_s)
    if receipt["status"] != 1:
        _raise_mined_revert(w3, tx, receipt)
    return receipt


def _raise_mined_revert(w3: Web3, tx: TxParams, receipt: TxReceipt) -> None:
    replay: TxParams = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value", "gas")}  # type: ignore[assignment]
    try:
        w3.eth.call(replay, receipt["blockNumber"] - 1)
    except Exception as exc:  # noqa: BLE001
        translated = translate_revert(exc)
        if translated is not exc:
            raise translated from None
    raise TransactionFailed(f"transaction {receipt['transactionHash'].hex()} reverted")


class LedgerClient:
    """One deployed ledger on one chain."""

    def __init__(self, w3: Web3, address: str, *, poll_s: float = 0.1, timeout_s: float = 120.0) -> None:
        self.w3 = w3
        self.address = checksum(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=load_artifact("TsunagariLedger").abi)
        self._coin_abi = load_artifact("RegionCoin").abi
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def _send(self, sender: LocalAccount, call: ContractFunction, gas: int | None = None) -> TxReceipt:
        return send_transaction(self.w3, sender, call, gas=gas, timeout_s=self.timeout_s, poll_s=self.poll_s)

    def events(self, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
        """Every ``name`` event the ledger emitted in ``receipt``, decoded, in log order."""
        found = []
        event = self.contract.events[name]()
        topic = HexBytes(event.topic)
        for log in receipt["logs"]:
            if log["address"] != self.address or not log["topics"] or HexBytes(log["topics"][0]) != topic:
                continue
            found.append(dict(event.process_log(log)["args"]))
        return found

    def _event(self, receipt: TxReceipt, name: str) -> dict[str, Any]:
        found = self.events(receipt, name)
        if not found:
            raise TransactionFailed(f"{name} missing from transaction {receipt['transactionHash'].hex()}")
        return found[0]

    # -- platform admin ----------------------------------------------------------------------------

    def register_region(self, sender: LocalAccount, region: int, name: str, symbol: str, admin: str) -> str:
        """Register ``region`` with its first admin; returns the address of its ERC-20 coin."""
        receipt = self._send(sender, self.contract.functions.registerRegion(region, name, symbol, checksum(admin)))
        return str(self._event(receipt, "RegionRegistered")["coin"])

    def grant_region_admin(self, sender: LocalAccount, region: int, account: str) -> TxReceipt:
        role = self.contract.functions.regionAdminRole(region).call()
        return self._send(sender, self.contract.functions.grantRole(role, checksum(account)))

    def pause(self, sender: LocalAccount) -> TxReceipt:
        return self._send(sender, self.contract.functions.pause())

    def unpause(self, sender: LocalAccount) -> TxReceipt:
        return self._send(sender, self.contract.functions.unpause())

    # -- region admin ------------------------------------------------------------------------------

    def grant_issuer(self, sender: LocalAccount, region: int, account: str) -> TxReceipt:
        role = self.contract.functions.regionIssuerRole(region).call()
        return self._send(sender, self.contract.functions.grantRole(role, checksum(account)))

    def revoke_issuer(self, sender: LocalAccount, region: int, account: str) -> TxReceipt:
        role = self.contract.functions.regionIssuerRole(region).call()
        return self._send(sender, self.contract.functions.revokeRole(role, checksum(account)))

    def set_region_paused(self, sender: LocalAccount, region: int, paused: bool) -> TxReceipt:
        return self._send(sender, self.contract.functions.setRegionPaused(region, paused))

    def set_transfers_enabled(self, sender: LocalAccount, region: int, enabled: bool) -> TxReceipt:
        return self._send(sender, self.contract.functions.setTransfersEnabled(region, enabled))

    def register_activity(self, sender: LocalAccount, spec: ActivitySpec) -> int:
        """Register an activity; returns its id."""
        call = self.contract.functions.registerActivity(
            spec.region,
            int(spec.kind),
            spec.reward,
            spec.starts_at,
            spec.ends_at,
            spec.capacity,
            spec.metadata_hash,
        )
        return int(self._event(self._send(sender, call), "ActivityRegistered")["activityId"])

    def close_activity(self, sender: LocalAccount, activity_id: int) -> TxReceipt:
        return self._send(sender, self.contract.functions.closeActivity(activity_id))

    def register_project(self, sender: LocalAccount, region: int, metadata_hash: bytes = ZERO_HASH) -> int:
        """Register a project; returns its id."""
        receipt = self._send(sender, self.contract.functions.registerProject(region, metadata_hash))
        return int(self._event(receipt, "ProjectRegistered")["projectId"])

    def close_project(self, sender: LocalAccount, project_id: int) -> TxReceipt:
        return self._send(sender, self.contract.functions.closeProject(project_id))

    def revoke(
        self, sender: LocalAccount, activity_id: int, participant: str, reason: int, evidence_hash: bytes = ZERO_HASH
    ) -> dict[str, Any]:
        """Revoke a record; returns the ``ContributionRevoked`` event's fields."""
        call = self.contract.functions.revoke(activity_id, checksum(participant), reason, evidence_hash)
        return self._event(self._send(sender, call), "ContributionRevoked")

    # -- issuer --------------------------------------------------------------------------------------

    def record_batch(
        self,
        sender: LocalAccount,
        region: int,
        records: Sequence[RecordInput],
        batch_seq: int | None = None,
        gas: int | None = None,
    ) -> BatchResult:
        """Record ``records`` (sorted by activity) as ``sender``'s next batch in ``region``."""
        seq = batch_seq if batch_seq is not None else self.next_batch_seq(sender.address, region)
        ordered = sorted(records, key=lambda r: r.activity_id)
        packed = [pack_record(r) for r in ordered]
        receipt = self._send(sender, self.contract.functions.recordBatch(region, seq, packed), gas=gas)
        event = self._event(receipt, "BatchRecorded")
        return BatchResult(receipt=receipt, batch_seq=seq, count=int(event["count"]), minted=int(event["minted"]))

    # -- holders -----------------------------------------------------------------------------------

    def support(self, sender: LocalAccount, project_id: int, amount: int) -> TxReceipt:
        return self._send(sender, self.contract.functions.support(project_id, amount))

    def support_by_sig(self, relayer: LocalAccount, request: SupportRequest, signature: bytes) -> TxReceipt:
        call = self.contract.functions.supportBySig(
            checksum(request.supporter), request.project_id, request.amount, request.nonce, request.deadline, signature
        )
        return self._send(relayer, call)

    def coin_transfer(self, sender: LocalAccount, region: int, to: str, amount: int) -> TxReceipt:
        """ERC-20 ``transfer`` on the region's coin (works only where the region enabled transfers)."""
        return self._send(sender, self.coin(region).functions.transfer(checksum(to), amount))

    # -- reads ---------------------------------------------------------------------------------------

    def balance_of(self, holder: str, region: int) -> int:
        return int(self.contract.functions.balanceOf(checksum(holder), region).call())

    def total_supply(self, region: int) -> int:
        return int(self.contract.functions.totalSupply(region).call())

    def holding(self, holder: str, region: int) -> Holding:
        balance, index, records = self.contract.functions.holdingOf(checksum(holder), region).call()
        return Holding(balance=int(balance), index=int(index), records=int(records))

    def region_info(self, region: int) -> RegionInfo:
        info, revoked, coin = self.contract.functions.regionInfo(region).call()
        registered, paused, transfers, count, minted, spent = info
        return RegionInfo(
            region=region,
            registered=registered,
            paused=paused,
            transfers_enabled=transfers,
            participant_count=int(count),
            minted=int(minted),
            spent=int(spent),
            revoked=int(revoked),
            coin=str(coin),
        )

    def coin_of(self, region: int) -> str:
        return str(self.contract.functions.coinOf(region).call())

    def coin(self, region: int) -> Contract:
        """The region's ERC-20 contract, for standard-interface reads."""
        coin: Contract = self.w3.eth.contract(address=checksum(self.coin_of(region)), abi=self._coin_abi)
        return coin

    def activity(self, activity_id: int) -> ActivityInfo:
        info, metadata = self.contract.functions.activityInfo(activity_id).call()
        region, kind, closed, reward, starts_at, ends_at, capacity, recorded = info
        return ActivityInfo(
            activity_id=activity_id,
            region=int(region),
            kind=int(kind),
            closed=bool(closed),
            reward=int(reward),
            starts_at=int(starts_at),
            ends_at=int(ends_at),
            capacity=int(capacity),
            recorded=int(recorded),
            metadata_hash=bytes(metadata),
        )

    def project(self, project_id: int) -> ProjectInfo:
        info, metadata = self.contract.functions.projectInfo(project_id).call()
        region, closed, raised = info
        return ProjectInfo(
            project_id=project_id,
            region=int(region),
            closed=bool(closed),
            raised=int(raised),
            metadata_hash=bytes(metadata),
        )

    def record_of(self, activity_id: int, participant: str) -> tuple[bool, bool]:
        """(recorded, revoked) for ``participant`` in ``activity_id``."""
        recorded, revoked = self.contract.functions.recordOf(activity_id, checksum(participant)).call()
        return bool(recorded), bool(revoked)

    def next_batch_seq(self, issuer: str, region: int) -> int:
        return int(self.contract.functions.nextBatchSeq(checksum(issuer), region).call())

    def nonce(self, holder: str) -> int:
        return int(self.contract.functions.nonces(checksum(holder)).call())

    def is_issuer(self, region: int, account: str) -> bool:
        role = self.contract.functions.regionIssuerRole(region).call()
        return bool(self.contract.functions.hasRole(role, checksum(account)).call())

    def is_region_admin(self, region: int, account: str) -> bool:
        role = self.contract.functions.regionAdminRole(region).call()
        return bool(self.contract.functions.hasRole(role, checksum(account)).call())

    def paused(self) -> bool:
        return bool(self.contract.functions.paused().call())

    @staticmethod
    def tx_hash(receipt: TxReceipt) -> str:
        return "0x" + HexBytes(receipt["transactionHash"]).hex().removeprefix("0x")
