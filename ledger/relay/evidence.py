"""What the chain says about our work: the evidence the relayer decides by.

Every decision about a batch that is not plainly "its receipt is here" is taken from what the
canonical chain shows, never from an inference such as "the account's nonce moved, so it must have
been another transaction":

- :meth:`ChainEvidence.recorded_claims` — the ``ContributionRecorded`` logs of a receipt (the
  claims a transaction recorded), decoded with the indexer's compiled decoder;
- :meth:`ChainEvidence.batch_landing` — the transaction that used a (region, issuer, batch
  sequence), found by the indexed topics of its ``BatchRecorded`` log;
- :meth:`ChainEvidence.claim_landing` — the transaction that recorded a claim's participant for its
  activity (one record per pair on chain, one claim per pair in the outbox);
- :meth:`ChainEvidence.support_landing` — the transaction that used a supporter's signed nonce
  (``ProjectSupported`` by its topics and the nonce it carries).

Log scans go newest block range first (recent work is found fast) down to the deployment block.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hexbytes import HexBytes
from web3.exceptions import Web3RPCError
from web3.types import TxReceipt

from ledger.chain.artifacts import load_artifact
from ledger.chain.client import LedgerClient
from ledger.chain.decoding import ContractAbi, DecodeError, EventDecoder, event_topic
from ledger.errors import ChainUnavailable
from ledger.relay.outbox import Landing, PendingClaim, RecordedClaim, SupportRow
from ledger.relay.sender import TxSender, hex_hash

__all__ = ["ChainEvidence", "landing_of"]

_LOG_RANGE = 50_000


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _address_word(address: str) -> str:
    return "0x" + bytes(12).hex() + address.lower().removeprefix("0x")


def landing_of(receipt: TxReceipt) -> Landing:
    return Landing(
        tx_hash=hex_hash(receipt["transactionHash"]),
        block_number=int(receipt["blockNumber"]),
        block_hash=hex_hash(receipt["blockHash"]),
        gas_used=int(receipt["gasUsed"]),
    )


class ChainEvidence:
    """Reads of the ledger of ``client`` that settle what became of our transactions."""

    def __init__(self, client: LedgerClient, sender: TxSender, deploy_block: int) -> None:
        self.client = client
        self.sender = sender
        self.deploy_block = deploy_block
        self.address = client.address.lower()
        abi = tuple(load_artifact("TsunagariLedger").abi)
        self._decoder = EventDecoder([ContractAbi("TsunagariLedger", self.address, abi)])
        events = {item["name"]: item for item in abi if item["type"] == "event"}
        self._recorded_topic = event_topic(events["ContributionRecorded"])
        self._batch_topic = event_topic(events["BatchRecorded"])
        self._supported_topic = event_topic(events["ProjectSupported"])
        self._cancelled_topic = event_topic(events["SupportNonceCancelled"])

    # -- receipts -----------------------------------------------------------------------------------

    def recorded_claims(self, receipt: TxReceipt) -> list[RecordedClaim]:
        """The claims whose ``ContributionRecorded`` log is in the receipt."""
        found = []
        for entry in receipt["logs"]:
            topics = ["0x" + bytes(HexBytes(t)).hex() for t in entry["topics"]]
            if not topics or topics[0] != self._recorded_topic:
                continue
            try:
                plan = self._decoder.plan_for(str(entry["address"]), topics)
                args = plan.decode(topics, "0x" + bytes(HexBytes(entry["data"])).hex())
            except DecodeError:
                continue  # another contract's log with the same signature
            found.append(RecordedClaim(int(args["activityId"]), str(args["participant"]).lower()))
        return found

    # -- log scans ----------------------------------------------------------------------------------

    def _scan(self, topics: list[Any]) -> Iterator[list[Any]]:
        to_block = self.sender.head()
        while to_block >= self.deploy_block:
            from_block = max(self.deploy_block, to_block - _LOG_RANGE + 1)
            try:
                logs = self.client.w3.eth.get_logs(
                    {"address": self.client.address, "fromBlock": from_block, "toBlock": to_block, "topics": topics}
                )
            except (OSError, Web3RPCError) as exc:
                raise ChainUnavailable(f"eth_getLogs: {exc}") from exc
            yield list(logs)
            to_block = from_block - 1

    def _receipt_of(self, entry: Any) -> TxReceipt:
        receipt = self.sender.receipt(hex_hash(entry["transactionHash"]))
        if receipt is None:
            raise ChainUnavailable("a transaction whose log was found has no receipt yet")
        return receipt

    def batch_landing(self, region: int, issuer: str, seq: int) -> TxReceipt | None:
        """The receipt of the transaction that recorded batch ``seq`` of (region, issuer), if any."""
        topics: list[Any] = [self._batch_topic, _word(region), _address_word(issuer), _word(seq)]
        for logs in self._scan(topics):
            if logs:
                return self._receipt_of(logs[-1])
        return None

    def claim_landing(self, claim: PendingClaim) -> TxReceipt | None:
        """The receipt of the transaction that recorded ``claim``'s participant for its activity."""
        topics: list[Any] = [self._recorded_topic, _address_word(claim.participant)]
        for logs in self._scan(topics):
            for entry in reversed(logs):
                receipt = self._receipt_of(entry)
                for recorded in self.recorded_claims(receipt):
                    if recorded.activity_id == claim.activity_id and recorded.participant == claim.participant.lower():
                        return receipt
        return None

    def nonce_cancelled(self, support: SupportRow) -> bool:
        """Whether the supporter cancelled the signed nonce of this support (``SupportNonceCancelled``)."""
        topics: list[Any] = [self._cancelled_topic, _address_word(support.supporter)]
        return self._log_with_nonce(topics, support.nonce) is not None

    def support_landing(self, support: SupportRow) -> TxReceipt | None:
        """The receipt of the transaction that used the supporter's signed nonce for this support
        (ours or anyone's: a signature is public once sent); None when no such transaction exists."""
        topics: list[Any] = [
            self._supported_topic,
            _word(support.project_id),
            _word(support.region),
            _address_word(support.supporter),
        ]
        entry = self._log_with_nonce(topics, support.nonce)
        return self._receipt_of(entry) if entry is not None else None

    def _log_with_nonce(self, topics: list[Any], nonce: int) -> Any | None:
        """The newest log matching ``topics`` whose decoded ``nonce`` is ``nonce``."""
        for logs in self._scan(topics):
            for entry in reversed(logs):
                topics_hex = ["0x" + bytes(HexBytes(t)).hex() for t in entry["topics"]]
                try:
                    plan = self._decoder.plan_for(str(entry["address"]), topics_hex)
                    args = plan.decode(topics_hex, "0x" + bytes(HexBytes(entry["data"])).hex())
                except DecodeError:
                    continue
                if int(args["nonce"]) == nonce:
                    return entry
        return None
