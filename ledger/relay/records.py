"""Claims into ``recordBatch`` transactions.

Per region, the oldest accepted claims become a batch when ``relay.batch_size`` are waiting or the
oldest waited ``relay.max_wait_s``. The batch is simulated first (``eth_estimateGas`` executes it
and reverts with the same typed error ``eth_call`` would): a revert about some records marks those
claims ``rejected`` with the error's code, or confirms them when the chain already holds their
record *with their own claim id*; the rest is simulated again. A revert about the batch as a whole
(a paused region, a missing issuer role) leaves the region's claims pending and holds the region.
Only then is the batch row written (claims accepted → submitted, one write transaction) and the
transaction signed, stored and sent.

One record batch per region is in flight at a time: ``recordBatch`` needs exactly the next
sequence number, so a second batch sent behind a first that then reverts would revert too.
"""

from __future__ import annotations

import logging

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from ledger.chain.client import LedgerClient, RecordInput, pack_record
from ledger.errors import (
    ActivityClosed,
    ActivityEnded,
    ActivityFull,
    ActivityNotStarted,
    ActivityRegionMismatch,
    BalanceOverflow,
    BatchAlreadyRecorded,
    BatchOutOfOrder,
    ContractError,
    DuplicateContribution,
    InvalidUnits,
    NotIssuer,
    Paused,
    RegionPaused,
    UnknownActivity,
    UnknownRegion,
    ZeroAddress,
    error_code,
)
from ledger.relay.evidence import ChainEvidence
from ledger.relay.flights import FlightDeck, failpoint
from ledger.relay.holds import HOLD_CONFIG_S, HOLD_PAUSED_S, HOLD_SHORT_S, Holds
from ledger.relay.outbox import OPEN, BatchKind, Moved, Outbox, PendingClaim, SeqTaken
from ledger.relay.reconciliation import Reconciler
from ledger.relay.sender import TxSender
from ledger.settings import RelaySettings

__all__ = ["RecordBatcher", "record_call"]

log = logging.getLogger("ledger.relay")

_PER_ACTIVITY = (UnknownActivity, ActivityRegionMismatch, ActivityClosed, ActivityNotStarted, ActivityEnded)
_RETRY_LATER = (RegionPaused, Paused)
_RECORD_BATCH = keccak(text="recordBatch(uint32,uint64,uint256[])")[:4]
_NEXT_BATCH_SEQ = keccak(text="nextBatchSeq(address,uint32)")[:4]


def _record(claim: PendingClaim) -> RecordInput:
    return RecordInput(claim.participant, claim.activity_id, claim.id, claim.units)


def record_call(region: int, seq: int, claims: list[PendingClaim]) -> str:
    """``recordBatch`` calldata; records sorted by activity id (cheaper on chain, decision 0001)."""
    ordered = sorted(claims, key=lambda c: (c.activity_id, c.id))
    packed = [pack_record(_record(c)) for c in ordered]
    return "0x" + (_RECORD_BATCH + abi_encode(["uint32", "uint64", "uint256[]"], [region, seq, packed])).hex()


def _packable(claim: PendingClaim) -> bool:
    try:
        pack_record(_record(claim))
    except ValueError:
        return False
    return int(claim.participant, 16) != 0


class RecordBatcher:
    """Turns each region's accepted claims into record batches."""

    def __init__(
        self,
        relay: RelaySettings,
        outbox: Outbox,
        deck: FlightDeck,
        sender: TxSender,
        client: LedgerClient,
        evidence: ChainEvidence,
        reconciler: Reconciler,
    ) -> None:
        self.relay = relay
        self.outbox = outbox
        self.deck = deck
        self.sender = sender
        self.client = client
        self.evidence = evidence
        self.reconciler = reconciler
        self.issuer = deck.issuer
        self.holds = Holds()

    def relay_due(self, now_ms: int, *, drain: bool) -> bool:
        """Send a batch for every region whose claims are due; True when something changed."""
        if self.deck.slots() <= 0:
            return False
        busy = self.deck.busy_regions()
        progressed = False
        for region, count, oldest in self.outbox.waiting_regions():
            if self.deck.slots() <= 0:
                break
            if region in busy or self.holds.held("region", region):
                continue
            if drain or count >= self.relay.batch_size or now_ms - oldest >= self.relay.max_wait_s * 1000:
                progressed |= self._relay_region(region)
                busy.add(region)
        return progressed

    def _next_batch_seq(self, region: int) -> int:
        """``nextBatchSeq(issuer, region)`` as one raw ``eth_call`` (no contract-object overhead)."""
        data = _NEXT_BATCH_SEQ + abi_encode(["address", "uint32"], [self.issuer, region])
        result = self.client.w3.eth.call({"to": self.client.address, "data": HexBytes(data)})
        return int.from_bytes(bytes(result)[-32:], "big")

    def _relay_region(self, region: int) -> bool:
        claims = self.outbox.pending_claims(region, self.relay.batch_size)
        progressed = False
        malformed = [c for c in claims if not _packable(c)]
        if malformed:
            self.outbox.reject_claims(
                [c.id for c in malformed], "invalid_claim", "participant, activity id or claim id cannot be recorded"
            )
            claims = [c for c in claims if c not in malformed]
            progressed = True
        for _ in range(len(claims) + 1):
            if not claims:
                return progressed
            seq = self._next_batch_seq(region)
            data = record_call(region, seq, claims)
            access = self.client.record_access_list(region, [_record(c) for c in claims])
            try:
                gas = self.sender.estimate_gas(data, access)  # reverts like eth_call would, with the typed error
                break
            except ContractError as err:
                offending = self._offending(claims, err)
                if not offending:
                    self._region_blocked(region, err)
                    return progressed
                confirmed = self._already_ours(offending, err)
                rejected = [c for c in offending if c not in confirmed]
                if rejected:
                    self.outbox.reject_claims([c.id for c in rejected], error_code(err), str(err))
                    log.info("rejected claims %s: %s", [c.id for c in rejected], err)
                claims = [c for c in claims if c not in offending]
                progressed = True
        else:
            return progressed
        try:
            batch_id = self.outbox.take_for_record_batch(region, self.issuer, seq, [c.id for c in claims])
        except Moved:
            return progressed
        except SeqTaken as exc:
            # A batch row of ours already holds this sequence number although the chain says it is
            # unused: its transaction left the chain. Settle it (it is sent again).
            log.warning("region %d: batch %d already has a row (%s); settling it", region, seq, exc)
            held = self.outbox.batch_with_seq(region, self.issuer, seq)
            if held is not None:
                if held.status not in OPEN:
                    self.outbox.unconfirm(held.id, f"unconfirmed: the chain's next batch of the region is {seq} again")
                self.reconciler.settle(held.id)
            self.holds.hold("region", region, HOLD_SHORT_S)
            return True
        log.info("batch %d built: region %d, seq %d, %d claims", batch_id, region, seq, len(claims))
        failpoint("after_build")
        self.deck.launch(batch_id, BatchKind.RECORD, region, data, gas, seq=seq, access_list=access)
        return True

    def _offending(self, claims: list[PendingClaim], err: ContractError) -> list[PendingClaim]:
        """The claims a per-record revert is about (empty when the batch as a whole is refused)."""
        args = err.args_by_name
        if isinstance(err, _PER_ACTIVITY):
            return [c for c in claims if c.activity_id == int(args["activityId"])]
        if isinstance(err, ActivityFull):
            activity_id = int(args["activityId"])
            mine = sorted((c for c in claims if c.activity_id == activity_id), key=lambda c: c.id)
            info = self.client.activity(activity_id)
            room = max(0, min(info.capacity - info.recorded, len(mine) - 1))
            return mine[room:]
        if isinstance(err, DuplicateContribution):
            participant = str(args["participant"]).lower()
            return [
                c for c in claims if c.activity_id == int(args["activityId"]) and c.participant.lower() == participant
            ]
        if isinstance(err, InvalidUnits):  # hours or days over the activity's cap (or none)
            units = int(args["units"])
            return [c for c in claims if c.activity_id == int(args["activityId"]) and c.units == units]
        if isinstance(err, BalanceOverflow):  # a holding of 2^40 coins: this person's records of the region
            holder = str(args["holder"]).lower()
            return [c for c in claims if c.participant.lower() == holder]
        if isinstance(err, ZeroAddress):
            return [c for c in claims if int(c.participant, 16) == 0]
        return []

    def _already_ours(self, claims: list[PendingClaim], err: ContractError) -> list[PendingClaim]:
        """Claims whose record is already on chain *with their own claim id*: landed, not rejected."""
        if not isinstance(err, DuplicateContribution):
            return []
        found: list[PendingClaim] = []
        for claim in claims:
            receipt = self.evidence.claim_landing(claim)
            if receipt is None:
                continue
            self.reconciler.adopt(receipt)
            log.warning("claim %d was already on chain: landed from its transaction", claim.id)
            found.append(claim)
        return found

    def _region_blocked(self, region: int, err: ContractError) -> None:
        if isinstance(err, _RETRY_LATER):
            log.warning("region %d: %s; its claims stay pending", region, err)
            self.holds.hold("region", region, HOLD_PAUSED_S)
        elif isinstance(err, NotIssuer):
            log.error(
                "the relayer account %s is not an issuer of region %d: its claims stay pending until a region "
                "admin runs `tsunagari region grant-issuer %d %s`",
                self.sender.account.address,
                region,
                region,
                self.sender.account.address,
            )
            self.holds.hold("region", region, HOLD_CONFIG_S)
        elif isinstance(err, UnknownRegion):
            log.error("region %d is not registered on this ledger; its claims stay pending", region)
            self.holds.hold("region", region, HOLD_CONFIG_S)
        elif isinstance(err, (BatchAlreadyRecorded, BatchOutOfOrder)):
            log.warning("region %d: %s; the node's state is behind or another process uses this key", region, err)
            self.holds.hold("region", region, HOLD_SHORT_S)
        else:
            log.error("region %d: the batch would revert (%s); its claims stay pending", region, err)
            self.holds.hold("region", region, HOLD_PAUSED_S)
