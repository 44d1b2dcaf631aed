"""Keeping the outbox true to the chain: landing, settling by evidence, watching for vanished
blocks, finality, and nonce gaps.

- **Landing** (:meth:`Reconciler.adopt`): a successful transaction moves its batch to ``mined``, or
  straight to ``confirmed`` when it is already ``chain.confirmations`` blocks deep, with the claims
  its ``ContributionRecorded`` logs carry.
- **Finality** (:meth:`Reconciler.finalise`): a ``mined`` batch becomes ``confirmed`` once deep
  enough and still in the canonical chain.
- **Watching** (:meth:`Reconciler.watch`): every ``chain.poll_interval_s`` the node's head is read;
  on start, when the head moves backwards, or when the hash of the newest block we know of (the
  last head seen, or a block one of our batches landed in above it) has changed (a reorg replaces
  every block above its fork point, so this catches any change at or below it),
  every batch mined within ``max(chain.confirmations, relay.watch_blocks)`` blocks of the head is
  checked: if the node's account nonce is not past the batch's nonce, or the block at its height
  has another hash, its transaction is no longer on the chain. The batch is *unconfirmed* (its
  claims go back to ``submitted``) and settled again, which normally broadcasts the same signed
  transaction again.
- **Settling by evidence** (:meth:`Reconciler.settle`), for a batch that is open but not in flight
  (after a restart) or whose nonce was used without a receipt of ours. In order:

  1. a receipt under one of its attempts: landed (or a revert, settled as one);
  2. one of its attempts known to the node as mined, its receipt not served yet: wait;
  3. a record batch whose sequence number the chain counts as used (``nextBatchSeq`` past it): its
     ``BatchRecorded`` log names the transaction that recorded it, which lands it;
  4. a support whose signed nonce the chain counts as used: the transaction that used the signature
     (its ``ProjectSupported`` log, then the transaction's input) lands it; if there is none, it goes
     back to the outbox, where the chain's own refusal of a simulation rejects it;
  5. its nonce not yet used: the stored transaction is broadcast again (same hash);
  6. its nonce used by another transaction: it can never land; released, its claims back to the
     outbox (and the batch sequence would refuse a second landing anyway).

- **Nonce gaps** (:meth:`Reconciler.repair_gaps`): if a nonce between the node's mined count and
  the next nonce we would use carries no transaction in flight for a while, the batch we signed
  with that nonce is settled again; a nonce no stored transaction of ours can fill gets a filler (a
  zero-value transfer to ourselves), so nothing waits behind it forever.
"""

from __future__ import annotations

import logging
import time

from web3.types import TxReceipt

from ledger.chain.client import LedgerClient
from ledger.errors import (
    BatchAlreadyRecorded,
    ChainUnavailable,
    ContractError,
    Paused,
    RegionPaused,
    error_code,
)
from ledger.metrics import BATCH_FEES_WEI, BATCH_GAS, BATCHES_LANDED, NONCE_GAPS_REPAIRED
from ledger.relay.evidence import ChainEvidence, landing_of
from ledger.relay.flights import Flight, FlightDeck
from ledger.relay.outbox import LANDED, OPEN, BatchKind, BatchRow, BatchStatus, Landing, Outbox
from ledger.relay.sender import TxSender, call_data
from ledger.settings import Settings

__all__ = ["Reconciler"]

log = logging.getLogger("ledger.relay")

_RETRY_LATER = (RegionPaused, Paused)
_GAP_PATIENCE_S = 2.0  # a gap must persist this long before it is filled (nodes count sends lazily)
_GAP_CHECK_S = 1.0  # how often the node's nonce is compared with ours


class Reconciler:
    """Settles the batches of one issuer against the chain."""

    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        deck: FlightDeck,
        sender: TxSender,
        client: LedgerClient,
        evidence: ChainEvidence,
    ) -> None:
        self.confirmations = settings.chain.confirmations
        self.watch_depth = max(settings.chain.confirmations, settings.relay.watch_blocks)
        self.poll_s = settings.chain.poll_interval_s
        self.outbox = outbox
        self.deck = deck
        self.sender = sender
        self.client = client
        self.evidence = evidence
        self.issuer = deck.issuer
        self._head: tuple[int, str] | None = None
        self._head_read_at = 0.0
        self._watching = False
        self._gap_since: float | None = None
        self._gap_checked_at = 0.0

    # -- depth --------------------------------------------------------------------------------------

    def is_final(self, block_number: int, head: int | None = None) -> bool:
        if self.confirmations == 0:
            return True
        head = self.sender.head() if head is None else head
        return head - block_number >= self.confirmations

    # -- landing ------------------------------------------------------------------------------------

    def adopt(self, receipt: TxReceipt, batch_id: int | None = None) -> int | None:
        """A successful transaction: land the batch it belongs to (``batch_id``, else the batch one
        of whose attempts it is; a transaction of none of our batches confirms the claims it
        recorded without one). Returns the batch landed."""
        landing = landing_of(receipt)
        final = self.is_final(landing.block_number)
        if batch_id is None:
            batch_id = self.outbox.batch_of_tx(self.issuer, landing.tx_hash)
        recorded = self.evidence.recorded_claims(receipt)
        if batch_id is None:
            log.warning(
                "tx %s is none of our batches': confirming the %d claims it recorded", landing.tx_hash, len(recorded)
            )
            self.outbox.recorded_elsewhere(recorded, landing, final=final)
            return None
        self.deck.drop(batch_id)
        left = self.outbox.land(batch_id, landing, final=final, recorded=recorded)
        self._note_block(landing.block_number, landing.block_hash)
        if left:
            log.error("batch %d: %d claims were not in its transaction; returned to the outbox", batch_id, left)
        log.info(
            "batch %d %s in block %d (tx %s, %d records)",
            batch_id,
            "confirmed" if final else "mined",
            landing.block_number,
            landing.tx_hash,
            len(recorded),
        )
        return batch_id

    def _note_block(self, number: int, block_hash: str) -> None:
        """Watch from a block we landed in if it is above the last head seen: a change at or below
        the newest block we know of is what tells us to recheck."""
        if self._head is None or number >= self._head[0]:
            self._head = (number, block_hash)

    def on_receipt(self, flight: Flight, receipt: TxReceipt) -> None:
        """A receipt of a flight's transaction: landed, or (at depth) a revert to settle."""
        if int(receipt["status"]) == 1:
            kind = str(flight.kind)
            gas = int(receipt.get("gasUsed", 0))
            BATCHES_LANDED.labels(kind).inc()
            BATCH_GAS.labels(kind).inc(gas)
            BATCH_FEES_WEI.labels(kind).inc(gas * int(receipt.get("effectiveGasPrice", 0)))
            self.adopt(receipt, flight.batch_id)
            return
        block = int(receipt["blockNumber"])
        if not self.is_final(block):
            return  # a revert in a block that may still go away: decide at depth
        self.deck.drop(flight.batch_id)
        reason = self.sender.revert_reason(call_data(flight.latest.raw_tx), block)
        tx = landing_of(receipt).tx_hash
        log.warning("batch %d: tx %s reverted: %s", flight.batch_id, tx, reason)
        batch = self.outbox.batch(flight.batch_id)
        # The replay runs on the state before the block, so a transaction earlier in the same block
        # that used the sequence number or the signature first does not show in ``reason``: look.
        if flight.kind is BatchKind.RECORD:
            seq = flight.seq
            used = seq is not None and (
                isinstance(reason, BatchAlreadyRecorded) or self.client.next_batch_seq(self.issuer, flight.region) > seq
            )
            if used and seq is not None:
                self._landed_by_seq(batch, seq)
            else:
                self.outbox.release(flight.batch_id, f"tx {tx} reverted: {reason}")
            return
        if flight.kind is BatchKind.SUPPORT and self._support_landed(batch):
            return  # someone else's transaction used the signature first: it is on chain
        refused = isinstance(reason, ContractError) and not isinstance(reason, _RETRY_LATER)
        if flight.kind is BatchKind.SUPPORT and refused:
            self.outbox.fail_support(flight.batch_id, error_code(reason), str(reason))
            return
        self.outbox.release(flight.batch_id, f"tx {tx} reverted: {reason}")

    # -- settling by evidence -----------------------------------------------------------------------

    def settle(self, batch_id: int) -> None:
        """Find out from the chain what became of a batch that is not (or no longer) in flight."""
        batch = self.outbox.batch(batch_id)
        if batch.status not in OPEN:
            return
        attempts = self.outbox.attempts(batch_id)
        receipt = self.deck.receipt(attempts)
        support = self.outbox.support_of_batch(batch_id) if batch.kind is BatchKind.SUPPORT else None
        support_id = None if support is None else support.id
        if receipt is not None:
            flight = self.deck.track(batch, attempts, support_id=support_id)
            self.on_receipt(flight, receipt)
            return
        if attempts and self.deck.mined_without_receipt(attempts):
            self.deck.track(batch, attempts, support_id=support_id)  # the poll picks its receipt up
            return
        seq = batch.batch_seq
        if (
            batch.kind is BatchKind.RECORD
            and seq is not None
            and self.client.next_batch_seq(self.issuer, batch.region) > seq
        ):
            self._landed_by_seq(batch, seq)
            return
        if support is not None and self.client.nonce(support.supporter) > support.nonce:
            if not self._support_landed(batch):
                self.outbox.release(batch_id, f"the supporter's nonce {support.nonce} was used by another signature")
            return
        chain_nonce = self.sender.account_nonce("latest")
        if attempts and attempts[-1].nonce >= chain_nonce:
            log.info(
                "batch %d: nonce %d still free, broadcasting its stored transaction again", batch_id, attempts[-1].nonce
            )
            self.deck.resume(batch, attempts, support_id=support_id)
            return
        if not attempts:
            self.outbox.release(batch_id, "not on chain (never signed); returned to the outbox")
            return
        self._nonce_taken(batch, attempts[-1].nonce)

    def _nonce_taken(self, batch: BatchRow, nonce: int) -> None:
        """The batch's nonce was used, and not by any of its own transactions: find which of ours did."""
        users = []
        for other_id, attempt in self.outbox.attempts_with_nonce(self.issuer, nonce):
            if other_id == batch.id:
                continue
            receipt = self.sender.receipt(attempt.tx_hash)
            if receipt is not None:
                users.append((other_id, receipt))
        who = (
            f"batch {users[0][0]} (tx {landing_of(users[0][1]).tx_hash})"
            if users
            else "a transaction not in our outbox"
        )
        log.warning("batch %d: its nonce %d was used by %s; returning it to the outbox", batch.id, nonce, who)
        self.outbox.release(batch.id, f"not on chain: its nonce {nonce} was used by {who}")
        for other_id, receipt in users:
            if self.outbox.batch(other_id).status not in LANDED and int(receipt["status"]) == 1:
                self.adopt(receipt, other_id)

    def _landed_by_seq(self, batch: BatchRow, seq: int) -> None:
        """The chain counts the batch's sequence number as used: land it from the transaction that used it."""
        found = self.evidence.batch_landing(batch.region, self.issuer, seq)
        if found is None:
            raise ChainUnavailable(
                f"batch {seq} of region {batch.region} is counted on chain but its log was not found yet"
            )
        landed = self.adopt(found)
        if landed != batch.id:
            self.deck.drop(batch.id)
            self.outbox.release(batch.id, f"its sequence number {seq} was used by tx {landing_of(found).tx_hash}")

    def _support_landed(self, batch: BatchRow) -> bool:
        """Whether the support's signature was used on chain (by us or by anyone: a signed support is
        public once sent); lands the batch with that transaction if so."""
        support = self.outbox.support_of_batch(batch.id)
        if support is None:
            return False
        found = self.evidence.support_landing(support)
        if found is None:
            return False
        landing = self.land_support(batch.id, found)
        log.info("support %d is on chain in tx %s", support.id, landing.tx_hash)
        return True

    def land_support(self, batch_id: int, receipt: TxReceipt) -> Landing:
        """Land a support batch with the transaction that used its signature (ours or anyone's)."""
        landing = landing_of(receipt)
        self.deck.drop(batch_id)
        self.outbox.land(batch_id, landing, final=self.is_final(landing.block_number))
        self._note_block(landing.block_number, landing.block_hash)
        return landing

    def reconcile_open(self) -> None:
        """Settle every open batch no flight of this process owns (run after a start)."""
        for batch in self.outbox.batches(self.issuer, OPEN):
            if batch.id not in self.deck.flights:
                self.settle(batch.id)
        self.deck.resync()

    # -- watching the chain for vanished blocks --------------------------------------------------------

    def watch(self, *, now: bool = False) -> bool:
        """Read the head (at most every ``chain.poll_interval_s``, unless ``now``); recheck landed
        batches when the chain's history changed, and finalise mined ones. True when a batch
        changed state."""
        started = time.monotonic()
        if self._watching and not now and started - self._head_read_at < self.poll_s:
            return False
        self._head_read_at = started
        number, block_hash = self.sender.head_block()
        changed_history = not self._watching
        if self._head is not None:
            last_number, last_hash = self._head
            if number < last_number:
                changed_history = True
            elif number == last_number:
                changed_history |= block_hash != last_hash
            else:
                changed_history |= self.sender.block_hash(last_number) != last_hash
        changed = self.recheck(number) if changed_history else False
        self._head = (number, block_hash)
        self._watching = True
        return self.finalise(number) or changed

    def recheck(self, head: int) -> bool:
        """Unconfirm and settle again every landed batch within the watch window whose transaction
        is no longer on the node's chain."""
        account_nonce = self.sender.account_nonce("latest")
        hashes: dict[int, str | None] = {}
        vanished: list[tuple[BatchRow, str]] = []
        for batch in self.outbox.batches(self.issuer, LANDED, from_block=head - self.watch_depth):
            assert batch.block_number is not None
            if batch.nonce is not None and batch.nonce >= account_nonce and self._landed_by_own(batch):
                vanished.append(
                    (batch, f"the node's account nonce {account_nonce} no longer includes nonce {batch.nonce}")
                )
                continue
            if batch.block_number > head:
                continue  # the node is behind it; compared once it is past
            if batch.block_number not in hashes:
                hashes[batch.block_number] = self.sender.block_hash(batch.block_number)
            if hashes[batch.block_number] != batch.block_hash:
                vanished.append((batch, f"block {batch.block_number} {batch.block_hash} is no longer on the chain"))
        for batch, why in vanished:
            log.warning("batch %d (tx %s) left the chain: %s; sending it again", batch.id, batch.tx_hash, why)
            self.outbox.unconfirm(batch.id, f"unconfirmed: {why}")
            self.settle(batch.id)
        return bool(vanished)

    def finalise(self, head: int) -> bool:
        """``mined`` batches that are ``chain.confirmations`` deep (and still canonical) → ``confirmed``."""
        if self.confirmations == 0:
            return False
        changed = False
        for batch in self.outbox.batches(self.issuer, [BatchStatus.MINED]):
            assert batch.block_number is not None
            if head - batch.block_number < self.confirmations:
                continue
            if self.sender.block_hash(batch.block_number) == batch.block_hash:
                self.outbox.finalise(batch.id)
                log.info("batch %d confirmed: %d blocks deep", batch.id, head - batch.block_number)
            else:
                self.outbox.unconfirm(
                    batch.id, f"unconfirmed: block {batch.block_number} left the chain before it was final"
                )
                self.settle(batch.id)
            changed = True
        return changed

    # -- nonce gaps --------------------------------------------------------------------------------------

    def repair_gaps(self) -> bool:
        """Fill nonces below our next one that the node has no transaction for (see the module doc)."""
        upper = self.deck.next_nonce
        now = time.monotonic()
        if upper is None or now - self._gap_checked_at < _GAP_CHECK_S:
            return False
        self._gap_checked_at = now
        # Every nonce from the node's mined count up to ours must carry a transaction in flight
        # ("pending" counts are not used: nodes differ in whether they count past a gap).
        mined = self.sender.account_nonce("latest")
        flying = self.deck.nonces()
        missing = [n for n in range(mined, upper) if n not in flying]
        if not missing:
            self._gap_since = None
            return False
        if self._gap_since is None:
            self._gap_since = now
        if now - self._gap_since < _GAP_PATIENCE_S:
            return False
        self._gap_since = None
        NONCE_GAPS_REPAIRED.inc(len(missing))
        log.warning("nonce gap: the node is at %d, we are at %d; nonces with nothing sent: %s", mined, upper, missing)
        for nonce in missing:
            if self.deck.slots() <= 0:
                break
            for batch_id in sorted({b for b, _ in self.outbox.attempts_with_nonce(self.issuer, nonce)}):
                batch = self.outbox.batch(batch_id)
                if batch.status in LANDED and self._landed_by_own(batch):
                    self.outbox.unconfirm(batch.id, f"unconfirmed: its nonce {nonce} is not in the node's chain")
                    self.settle(batch.id)
                elif batch.status in OPEN and batch.id not in self.deck.flights:
                    self.settle(batch.id)
            if nonce not in self.deck.nonces():
                filler = self.outbox.new_filler(self.issuer)
                log.warning(
                    "nonce %d: no stored transaction of ours can fill it; sending filler batch %d", nonce, filler
                )
                self.deck.launch_filler(filler, nonce)
        return True

    def _landed_by_own(self, batch: BatchRow) -> bool:
        """Whether the batch landed with one of its own transactions (not, say, a support whose
        signature someone else submitted first)."""
        return batch.tx_hash is not None and batch.tx_hash in {a.tx_hash for a in self.outbox.attempts(batch.id)}
