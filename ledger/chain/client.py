"""Typed access to a deployed :sol:`TsunagariLedger`: every write signs locally and returns parsed results.

Reverts surface as the :mod:`ledger.errors` subclass of the contract's custom error (for example
:class:`ledger.errors.DuplicateContribution`), whether the node is anvil, py-evm or a real network.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import Web3RPCError
from web3.types import TxParams, TxReceipt

from ledger.chain.artifacts import load_artifact
from ledger.chain.reverts import translate_revert
from ledger.chain.signing import CancelRequest, SupportRequest
from ledger.errors import ChainUnavailable, InvalidInput, RecordNotFound, TransactionFailed
from ledger.taxonomy import ContributionKind, RewardUnit

__all__ = [
    "ZERO_HASH",
    "MAX_PACKED_ID",
    "MAX_UNITS",
    "RECORD_BATCH_SELECTOR",
    "RecordInput",
    "RecordLocation",
    "ActivitySpec",
    "ActivityInfo",
    "RegionInfo",
    "ProjectInfo",
    "Holding",
    "BatchResult",
    "LedgerClient",
    "pack_record",
    "unpack_record",
    "decode_record_batch",
    "holding_storage_keys",
    "send_transaction",
    "checksum",
]

ZERO_HASH = b"\x00" * 32
MAX_PACKED_ID = (1 << 40) - 1  # activity and claim ids fit 40 bits of a record word
MAX_UNITS = (1 << 16) - 1
RECORD_BATCH_SELECTOR = bytes.fromhex("e0c7911f")  # recordBatch(uint32,uint64,uint256[])


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def checksum(address: str) -> ChecksumAddress:
    """A checksummed address; ``ValueError`` naming the bad input otherwise."""
    if not isinstance(address, str) or not is_address(address):
        raise InvalidInput(f"{address!r} is not an Ethereum address")
    return to_checksum_address(address)


@dataclass(frozen=True)
class RecordInput:
    """One contribution to record: ``participant`` took part in ``activity_id`` (server claim
    ``claim_id``) for ``units`` of the activity's reward unit (hours, days; 1 for a visit or event)."""

    participant: str
    activity_id: int
    claim_id: int
    units: int = 1


def pack_record(record: RecordInput) -> int:
    """The ``uint256`` word ``recordBatch`` takes:
    ``participant << 96 | activityId << 56 | claimId << 16 | units``."""
    if not 0 < record.activity_id <= MAX_PACKED_ID or not 0 <= record.claim_id <= MAX_PACKED_ID:
        raise ValueError(f"activity id and claim id must fit in 40 bits: {record}")
    if not 0 < record.units <= MAX_UNITS:
        raise ValueError(f"units must be 1..{MAX_UNITS}: {record}")
    participant = int(checksum(record.participant), 16)
    return (participant << 96) | (record.activity_id << 56) | (record.claim_id << 16) | record.units


def unpack_record(word: int) -> RecordInput:
    """The fields of a packed record word."""
    return RecordInput(
        participant=to_checksum_address(f"0x{word >> 96:040x}"),
        activity_id=(word >> 56) & MAX_PACKED_ID,
        claim_id=(word >> 16) & MAX_PACKED_ID,
        units=word & MAX_UNITS,
    )


def holding_storage_keys(holdings_slot: int, region: int, records: Sequence[RecordInput]) -> list[str]:
    """Storage keys of the records' holding words: ``keccak256(abi.encode(participant << 32 | region, slot))``."""
    keys: dict[str, None] = {}
    for record in records:
        key = (int(checksum(record.participant), 16) << 32) | region
        keys["0x" + keccak(key.to_bytes(32, "big") + holdings_slot.to_bytes(32, "big")).hex()] = None
    return list(keys)


def decode_record_batch(data: bytes) -> tuple[int, int, list[int]]:
    """(region, batch sequence, packed records) of a ``recordBatch`` call's input."""
    if data[:4] != RECORD_BATCH_SELECTOR:
        raise ValueError("not a recordBatch call")
    region, seq, records = abi_decode(["uint32", "uint64", "uint256[]"], data[4:])
    return int(region), int(seq), [int(r) for r in records]


@dataclass(frozen=True)
class RecordLocation:
    """Where a record is on chain: the batch that recorded it, as :meth:`LedgerClient.revoke` needs it."""

    tx_hash: str
    block_number: int
    region: int
    issuer: str
    batch_seq: int
    records: tuple[int, ...]  # the batch's packed records as sent
    position: int  # the record's index among them


@dataclass(frozen=True)
class ActivitySpec:
    """What a region admin registers (``reward`` is per ``unit``; one record carries 1..``max_units``)."""

    region: int
    kind: ContributionKind
    reward: int
    starts_at: int
    ends_at: int
    capacity: int = 0
    metadata_hash: bytes = ZERO_HASH
    designated: bool = False  # a 担い手活動 designated by the municipality (ふるさと住民登録)
    unit: RewardUnit = RewardUnit.RECORD
    max_units: int = 1

    def terms(self) -> tuple[Any, ...]:
        """The ``ActivityTerms`` tuple ``registerActivity`` takes."""
        return (
            self.region,
            int(self.kind),
            self.designated,
            int(self.unit),
            self.max_units,
            self.reward,
            self.starts_at,
            self.ends_at,
            self.capacity,
            self.metadata_hash,
        )


@dataclass(frozen=True)
class ActivityInfo:
    activity_id: int
    region: int
    kind: int
    closed: bool
    designated: bool
    unit: RewardUnit
    max_units: int
    ordinal: int
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
    admin_paused: bool
    platform_paused: bool
    transfers_enabled: bool
    expiry_days: int  # 0 = coins never expire
    participant_count: int
    activity_count: int
    minted: int
    spent: int
    revoked: int
    expired: int
    coin: str

    @property
    def paused(self) -> bool:
        return self.admin_paused or self.platform_paused

    @property
    def total_supply(self) -> int:
        """minted − spent − revoked − expired: the sum of every holder's stored coins."""
        return self.minted - self.spent - self.revoked - self.expired


@dataclass(frozen=True)
class ProjectInfo:
    project_id: int
    region: int
    closed: bool
    raised: int
    metadata_hash: bytes


@dataclass(frozen=True)
class Holding:
    """A holder's coins in a region: as stored, spendable now, and what lapses first and when."""

    stored: int
    spendable: int
    expiring: int
    expires_after_day: int  # JST day number (days since 1970-01-01 in Japan); 0 = nothing expires
    recorded: bool  # ever recorded in the region

    @property
    def balance(self) -> int:
        return self.spendable


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
    access_list: list[dict[str, Any]] | None = None,
) -> TxReceipt:
    """Sign ``call`` with ``sender``'s key, send it, wait for the receipt; typed error on a revert.

    The nonce is the node's pending count. Another process sending with the same key (the demo's
    staff console while the demo year is seeded, two operators' scripts) can take that nonce
    between the read and the send: the node then answers "nonce too low" or "replacement
    underpriced", our transaction never entered its pool, and it is signed again with the next
    nonce after a short random pause (up to ``_NONCE_RACES`` times). So is one the node "already
    knows": the other sender signed the very same call with the same nonce (same bytes), and that
    transaction is theirs — two intents must be two transactions."""
    for attempt in range(_NONCE_RACES + 1):
        params: TxParams = {"from": sender.address, "nonce": w3.eth.get_transaction_count(sender.address, "pending")}
        if gas is not None:
            params["gas"] = gas
        if access_list:
            params["accessList"] = access_list  # type: ignore[typeddict-item]
        try:
            tx = call.build_transaction(params)  # estimates gas: a revert surfaces here, before sending
            signed = sender.sign_transaction(tx)  # type: ignore[arg-type]
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            break
        except Exception as exc:
            if _nonce_taken(exc) and attempt < _NONCE_RACES:
                time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # jitter: the other sender may be a loop
                continue
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


_NONCE_RACES = 10


_TAKEN = ("nonce too low", "nonce is too low", "underpriced", "already known", "already imported", "known transaction")


def _nonce_taken(exc: Exception) -> bool:
    """The node refused the transaction because another sender used its nonce first (geth, anvil
    and Besu word it differently)."""
    return isinstance(exc, Web3RPCError) and any(words in str(exc).lower() for words in _TAKEN)


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
        self._holdings_slot: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def _send(
        self,
        sender: LocalAccount,
        call: ContractFunction,
        gas: int | None = None,
        access_list: list[dict[str, Any]] | None = None,
    ) -> TxReceipt:
        return send_transaction(
            self.w3, sender, call, gas=gas, timeout_s=self.timeout_s, poll_s=self.poll_s, access_list=access_list
        )

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

    def set_coin_expiry(self, sender: LocalAccount, region: int, expiry_days: int) -> TxReceipt:
        """Coins of ``region`` expire: spendable until the end of the period after the one earned in."""
        return self._send(sender, self.contract.functions.setCoinExpiry(region, expiry_days))

    def revoke_all_issuers(self, sender: LocalAccount, region: int) -> TxReceipt:
        return self._send(sender, self.contract.functions.revokeAllIssuers(region))

    def issuers(self, region: int) -> list[str]:
        """Every current issuer of ``region`` (checksummed)."""
        role = self.contract.functions.regionIssuerRole(region).call()
        return [str(a) for a in self.contract.functions.getRoleMembers(role).call()]

    def register_activity(self, sender: LocalAccount, spec: ActivitySpec) -> int:
        """Register an activity; returns its id."""
        call = self.contract.functions.registerActivity(spec.terms())
        return int(self._event(self._send(sender, call), "ActivityRegistered")["activityId"])

    def set_activity_designated(self, sender: LocalAccount, activity_id: int, designated: bool) -> TxReceipt:
        """Designate an activity as a 担い手活動 or undo it (only before it starts)."""
        return self._send(sender, self.contract.functions.setActivityDesignated(activity_id, designated))

    def set_activity_metadata(self, sender: LocalAccount, activity_id: int, metadata_hash: bytes) -> TxReceipt:
        """Commit the activity to new off-chain text: ``metadata_hash`` is its keccak256
        (:func:`ledger.checkin.metadata.store_metadata`)."""
        return self._send(sender, self.contract.functions.setActivityMetadata(activity_id, metadata_hash))

    def close_activity(self, sender: LocalAccount, activity_id: int) -> TxReceipt:
        return self._send(sender, self.contract.functions.closeActivity(activity_id))

    def register_project(self, sender: LocalAccount, region: int, metadata_hash: bytes = ZERO_HASH) -> int:
        """Register a project; returns its id."""
        receipt = self._send(sender, self.contract.functions.registerProject(region, metadata_hash))
        return int(self._event(receipt, "ProjectRegistered")["projectId"])

    def set_project_metadata(self, sender: LocalAccount, project_id: int, metadata_hash: bytes) -> TxReceipt:
        """Commit the project to new off-chain text: ``metadata_hash`` is its keccak256
        (:func:`ledger.checkin.metadata.store_metadata`)."""
        return self._send(sender, self.contract.functions.setProjectMetadata(project_id, metadata_hash))

    def close_project(self, sender: LocalAccount, project_id: int) -> TxReceipt:
        return self._send(sender, self.contract.functions.closeProject(project_id))

    def revoke(
        self,
        sender: LocalAccount,
        activity_id: int,
        participant: str,
        reason: int,
        evidence_hash: bytes = ZERO_HASH,
        *,
        tx_hash: str | None = None,
    ) -> dict[str, Any]:
        """Revoke ``participant``'s record for ``activity_id``; returns the ``ContributionRevoked`` fields.

        The contract needs the batch that recorded it (the proof that the record exists): it is read
        from ``tx_hash`` when the caller knows it (the index has it), else found on chain."""
        location = (
            self.record_location(tx_hash, activity_id, participant)
            if tx_hash is not None
            else self.find_record(activity_id, participant)
        )
        if location is None:
            raise RecordNotFound("LedgerRecordNotFound", {"region": 0, "issuer": "-", "batchSeq": 0})
        call = self.contract.functions.revoke(
            checksum(location.issuer),
            location.batch_seq,
            list(location.records),
            location.position,
            reason,
            evidence_hash,
        )
        return self._event(self._send(sender, call), "ContributionRevoked")

    def record_location(self, tx_hash: str, activity_id: int, participant: str) -> RecordLocation | None:
        """The batch of transaction ``tx_hash`` and the position of the record in it, if it holds it."""
        tx = self.w3.eth.get_transaction(HexBytes(tx_hash))
        if tx.get("to") is None or checksum(str(tx["to"])) != self.address or tx.get("blockNumber") is None:
            return None
        try:
            region, seq, records = decode_record_batch(bytes(tx["input"]))
        except ValueError:
            return None
        wanted = checksum(participant)
        for position, word in enumerate(records):
            record = unpack_record(word)
            if record.activity_id == activity_id and record.participant == wanted:
                return RecordLocation(
                    tx_hash="0x" + HexBytes(tx_hash).hex().removeprefix("0x"),
                    block_number=int(tx["blockNumber"]),
                    region=region,
                    issuer=checksum(str(tx["from"])),
                    batch_seq=seq,
                    records=tuple(records),
                    position=position,
                )
        return None

    def find_record(self, activity_id: int, participant: str, from_block: int = 0) -> RecordLocation | None:
        """Find the transaction that recorded ``participant`` for ``activity_id`` from its
        ``ContributionRecorded`` log (filtered by the indexed participant), newest first."""
        event = self.contract.events.ContributionRecorded()
        # Hex strings, not bytes: every node (and eth-tester) takes them.
        topics: list[Any] = [_hex(HexBytes(event.topic)), _hex(bytes(12) + bytes.fromhex(checksum(participant)[2:]))]
        logs = self.w3.eth.get_logs(
            {"address": self.address, "fromBlock": from_block, "toBlock": "latest", "topics": topics}
        )
        for log in reversed(list(logs)):
            if int(event.process_log(log)["args"]["activityId"]) == activity_id:
                return self.record_location(
                    "0x" + HexBytes(log["transactionHash"]).hex().removeprefix("0x"), activity_id, participant
                )
        return None

    def registered_regions(self, from_block: int = 0) -> list[int]:
        """Every region registered on this ledger (its ``RegionRegistered`` logs), by code."""
        event = self.contract.events.RegionRegistered()
        topics: list[Any] = [_hex(HexBytes(event.topic))]
        logs = self.w3.eth.get_logs(
            {"address": self.address, "fromBlock": from_block, "toBlock": "latest", "topics": topics}
        )
        return sorted({int(event.process_log(log)["args"]["region"]) for log in logs})

    def verify_record(self, location: RecordLocation) -> bool:
        """Whether the chain's commitment to the batch matches the records of ``location``."""
        return bool(
            self.contract.functions.verifyRecord(
                location.region, checksum(location.issuer), location.batch_seq, list(location.records)
            ).call()
        )

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
        access = self.record_access_list(region, ordered)
        receipt = self._send(
            sender, self.contract.functions.recordBatch(region, seq, packed), gas=gas, access_list=access
        )
        event = self._event(receipt, "BatchRecorded")
        return BatchResult(receipt=receipt, batch_seq=seq, count=int(event["count"]), minted=int(event["minted"]))

    def holdings_slot(self) -> int:
        """The storage slot of the ledger's holdings mapping (read once)."""
        if self._holdings_slot is None:
            self._holdings_slot = int(self.contract.functions.holdingsSlot().call())
        return self._holdings_slot

    def record_access_list(self, region: int, records: Sequence[RecordInput]) -> list[dict[str, Any]]:
        """The EIP-2930 access list of a record batch: every participant's holding slot, warm from the
        start (1,900 gas a key in the list, then 100 at first touch instead of 2,100: a net 100 gas a
        holding, less 2,400 for the ledger's address entry; about 76 gas a record at 100 records)."""
        return [{"address": self.address, "storageKeys": holding_storage_keys(self.holdings_slot(), region, records)}]

    # -- holders -----------------------------------------------------------------------------------

    def support(self, sender: LocalAccount, project_id: int, amount: int) -> TxReceipt:
        return self._send(sender, self.contract.functions.support(project_id, amount))

    def support_by_sig(self, relayer: LocalAccount, request: SupportRequest, signature: bytes) -> TxReceipt:
        call = self.contract.functions.supportBySig(
            checksum(request.supporter), request.project_id, request.amount, request.nonce, request.deadline, signature
        )
        return self._send(relayer, call)

    def cancel_nonce(self, sender: LocalAccount) -> int:
        """Cancel ``sender``'s next signature nonce; returns it."""
        return int(
            self._event(self._send(sender, self.contract.functions.cancelNonce()), "SupportNonceCancelled")["nonce"]
        )

    def cancel_nonce_by_sig(self, relayer: LocalAccount, request: CancelRequest, signature: bytes) -> TxReceipt:
        call = self.contract.functions.cancelNonceBySig(
            checksum(request.supporter), request.nonce, request.deadline, signature
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
        stored, spendable, expiring, after, recorded = self.contract.functions.holdingOf(
            checksum(holder), region
        ).call()
        return Holding(int(stored), int(spendable), int(expiring), int(after), bool(recorded))

    def region_info(self, region: int) -> RegionInfo:
        info, totals, coin = self.contract.functions.regionInfo(region).call()
        registered, admin_paused, platform_paused, transfers, expiry_days, count, activities, minted, spent = info
        revoked, expired = totals
        return RegionInfo(
            region=region,
            registered=registered,
            admin_paused=admin_paused,
            platform_paused=platform_paused,
            transfers_enabled=transfers,
            expiry_days=int(expiry_days),
            participant_count=int(count),
            activity_count=int(activities),
            minted=int(minted),
            spent=int(spent),
            revoked=int(revoked),
            expired=int(expired),
            coin=str(coin),
        )

    def today(self) -> int:
        """The JST day number of the latest block (what the contract's expiry and windows use)."""
        return int(self.contract.functions.today().call())

    def coin_of(self, region: int) -> str:
        return str(self.contract.functions.coinOf(region).call())

    def coin(self, region: int) -> Contract:
        """The region's ERC-20 contract, for standard-interface reads."""
        coin: Contract = self.w3.eth.contract(address=checksum(self.coin_of(region)), abi=self._coin_abi)
        return coin

    def activity(self, activity_id: int) -> ActivityInfo:
        info, metadata = self.contract.functions.activityInfo(activity_id).call()
        region, kind, flags, max_units, ordinal, starts_at, ends_at, capacity, recorded, reward = info
        return ActivityInfo(
            activity_id=activity_id,
            region=int(region),
            kind=int(kind),
            closed=bool(flags & 1),
            designated=bool(flags & 2),
            unit=RewardUnit((flags >> 2) & 3),
            max_units=int(max_units),
            ordinal=int(ordinal),
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
        """(recorded, revoked) for ``participant`` in ``activity_id``. ``recorded`` is the duplicate
        guard, kept while the activity accepts records; afterwards use :meth:`find_record`."""
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
