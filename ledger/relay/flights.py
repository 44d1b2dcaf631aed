"""Transactions on the wire: the relayer account's nonces, signing, broadcasting, fee bumps, receipts.

A *flight* is one batch's transaction while it is not yet mined: one nonce, one or more signed
attempts (the first send and each fee bump), all stored in ``relay_attempts`` before they are
broadcast. :class:`FlightDeck` owns the account's nonces (several transactions in flight) and
every flight; :meth:`FlightDeck.poll` reports what the node says of them:

- a receipt under any attempt's hash → handed back (the reconciler lands or settles it);
- the account's nonce moved past the flight's without any receipt of ours → handed back as
  *nonce gone*, unless one of our attempts is known to the node as mined (its receipt is only
  late: wait). What then happened is decided from the chain's evidence
  (``ledger.relay.reconciliation``), never from the nonce alone;
- not mined after ``relay.bump_after_s`` → signed again, same nonce, higher fees, stored, sent;
- unknown to the node (a restarted node lost its pool, ``anvil_dropTransaction``) → the stored
  raw transaction is broadcast again.

Nothing here decides a batch's fate: that keeps the (small) logic of sending apart from the logic
of what the chain's evidence means.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from web3.types import TxReceipt

from ledger.errors import ChainUnavailable
from ledger.relay.outbox import BatchKind, BatchRow, Outbox
from ledger.relay.sender import Broadcast, SignedAttempt, TxSender, TxState
from ledger.settings import RelaySettings

__all__ = ["FAILPOINT_ENV", "failpoint", "Flight", "FlightDeck", "PollResult"]

log = logging.getLogger("ledger.relay")

# Test-only fault injection: when this variable names a point below, the process hangs there (so a
# test can kill -9 it at an exact place). Points: "after_build" (batch row written, nothing
# signed), "after_send" (transaction sent, receipt not yet seen).
FAILPOINT_ENV = "TSUNAGARI_RELAY_FAILPOINT"


def failpoint(name: str) -> None:
    if os.environ.get(FAILPOINT_ENV) == name:
        log.warning("failpoint %s: hanging here until killed", name)
        time.sleep(3600)


@dataclass
class Flight:
    """A batch whose transaction (one nonce, one or more fee levels) is on the wire."""

    batch_id: int
    kind: BatchKind
    region: int
    nonce: int
    attempts: list[SignedAttempt]
    fees_at: float  # monotonic time of the last (re)signing
    next_check: float = 0.0
    seq: int | None = None
    support_id: int | None = None

    @property
    def latest(self) -> SignedAttempt:
        return self.attempts[-1]


@dataclass(frozen=True)
class PollResult:
    receipts: list[tuple[Flight, TxReceipt]]
    nonce_gone: list[Flight]
    changed: bool


class FlightDeck:
    """The account's transactions in flight."""

    def __init__(self, sender: TxSender, outbox: Outbox, relay: RelaySettings) -> None:
        self.sender = sender
        self.outbox = outbox
        self.relay = relay
        self.issuer = sender.account.address.lower()
        self.flights: dict[int, Flight] = {}
        self._next_nonce: int | None = None

    # -- nonces ------------------------------------------------------------------------------------

    def allocate(self) -> int:
        if self._next_nonce is None:
            self.resync()
        assert self._next_nonce is not None
        nonce = self._next_nonce
        self._next_nonce += 1
        return nonce

    def resync(self) -> None:
        """Next nonce: past the node's pending count, every flight and every nonce we ever signed
        for a batch that did not fail (a node that lost blocks reports a lower count; the gap below
        is repaired by the reconciler, not by reusing those nonces for new work)."""
        chain = self.sender.account_nonce("pending")
        in_flight = max((f.nonce + 1 for f in self.flights.values()), default=0)
        highest = self.outbox.highest_nonce(self.issuer)
        self._next_nonce = max(chain, in_flight, 0 if highest is None else highest + 1)

    @property
    def next_nonce(self) -> int | None:
        return self._next_nonce

    def slots(self) -> int:
        return self.relay.in_flight - len(self.flights)

    def busy_regions(self) -> set[int]:
        return {f.region for f in self.flights.values() if f.kind is BatchKind.RECORD}

    def nonces(self) -> set[int]:
        return {f.nonce for f in self.flights.values()}

    # -- sending -----------------------------------------------------------------------------------

    def launch(
        self,
        batch_id: int,
        kind: BatchKind,
        region: int,
        data: str,
        gas: int,
        *,
        seq: int | None = None,
        support_id: int | None = None,
        access_list: list[dict[str, Any]] | None = None,
    ) -> Flight:
        """Sign the first transaction of a built batch, store it, send it."""
        fees = self.sender.fees()
        nonce = self.allocate()
        attempt = self.sender.sign(data, gas, nonce, fees, access_list)
        return self._first_send(batch_id, kind, region, attempt, seq=seq, support_id=support_id)

    def launch_filler(self, batch_id: int, nonce: int) -> Flight:
        """A zero-value transfer to ourselves at ``nonce`` (a gap no stored transaction can fill)."""
        attempt = self.sender.sign_filler(nonce, self.sender.fees(fresh=True))
        return self._first_send(batch_id, BatchKind.FILLER, 0, attempt)

    def _first_send(
        self,
        batch_id: int,
        kind: BatchKind,
        region: int,
        attempt: SignedAttempt,
        *,
        seq: int | None = None,
        support_id: int | None = None,
    ) -> Flight:
        try:
            self.outbox.store_attempt(batch_id, attempt, first=True)
        except Exception:
            self._next_nonce = None  # the nonce was not used; read it from the node again
            raise
        flight = Flight(
            batch_id, kind, region, attempt.nonce, [attempt], time.monotonic(), seq=seq, support_id=support_id
        )
        self.flights[batch_id] = flight
        self.broadcast(flight, attempt)
        failpoint("after_send")
        return flight

    def track(self, batch: BatchRow, attempts: list[SignedAttempt], *, support_id: int | None = None) -> Flight:
        """Follow a batch's stored transactions again (after a restart), without sending anything."""
        flight = Flight(
            batch.id,
            batch.kind,
            batch.region,
            attempts[-1].nonce,
            list(attempts),
            time.monotonic(),
            seq=batch.batch_seq,
            support_id=support_id,
        )
        self.flights[batch.id] = flight
        if self._next_nonce is not None and flight.nonce >= self._next_nonce:
            self._next_nonce = flight.nonce + 1
        return flight

    def resume(self, batch: BatchRow, attempts: list[SignedAttempt], *, support_id: int | None = None) -> Flight:
        """Put a batch whose stored transaction is still valid back in flight and broadcast it again
        (same hash: a node that still has it answers "already known")."""
        flight = self.track(batch, attempts, support_id=support_id)
        self.broadcast(flight, flight.latest)
        return flight

    def drop(self, batch_id: int) -> None:
        self.flights.pop(batch_id, None)

    def broadcast(self, flight: Flight, attempt: SignedAttempt) -> None:
        try:
            outcome, message = self.sender.broadcast(attempt.raw_tx)
        except ChainUnavailable as exc:
            log.warning("batch %d: sending failed (%s); it is retried", flight.batch_id, exc)
            flight.next_check = time.monotonic() + 1.0
            return
        if outcome is Broadcast.NONCE_USED:
            flight.next_check = 0.0  # settled on the next poll: a receipt, or the nonce went elsewhere
        elif outcome is Broadcast.REFUSED:
            log.warning("batch %d: the node refused tx %s: %s", flight.batch_id, attempt.tx_hash, message)
            self.outbox.note_error(flight.batch_id, message)
            flight.next_check = time.monotonic() + 2.0

    def _bump(self, flight: Flight) -> None:
        fees = self.sender.bumped(flight.latest.fees)
        flight.fees_at = time.monotonic()
        if fees is None:
            log.warning("batch %d: fees already at relay.max_fee_gwei; sending it again unchanged", flight.batch_id)
            self.broadcast(flight, flight.latest)
            return
        attempt = self.sender.resign(flight.latest.raw_tx, fees)
        self.outbox.store_attempt(flight.batch_id, attempt, first=False)
        flight.attempts.append(attempt)
        log.info(
            "batch %d: not mined after %.0f s; nonce %d re-sent with max fee %.3f gwei (tx %s)",
            flight.batch_id,
            self.relay.bump_after_s,
            flight.nonce,
            fees.max_fee / 1e9,
            attempt.tx_hash,
        )
        self.broadcast(flight, attempt)

    # -- what the node says ------------------------------------------------------------------------

    def receipt(self, attempts: list[SignedAttempt]) -> TxReceipt | None:
        """The receipt of whichever attempt was mined (newest looked up first)."""
        for attempt in reversed(attempts):
            found = self.sender.receipt(attempt.tx_hash)
            if found is not None:
                return found
        return None

    def mined_without_receipt(self, attempts: list[SignedAttempt]) -> bool:
        """Whether the node shows one of ``attempts`` as mined although it served no receipt yet."""
        return any(self.sender.lookup(a.tx_hash) is TxState.MINED for a in attempts)

    def poll(self) -> PollResult:
        receipts: list[tuple[Flight, TxReceipt]] = []
        gone: list[Flight] = []
        changed = False
        chain_nonce: int | None = None
        for flight in list(self.flights.values()):
            found = self.receipt(flight.attempts)
            if found is not None:
                receipts.append((flight, found))
                continue
            now = time.monotonic()
            if now - flight.fees_at >= self.relay.bump_after_s:
                self._bump(flight)
                changed = True
                continue
            if now < flight.next_check:
                continue
            flight.next_check = now + max(1.0, self.relay.poll_interval_s * 5)
            if chain_nonce is None:
                chain_nonce = self.sender.account_nonce("latest")
            if chain_nonce > flight.nonce:
                found = self.receipt(flight.attempts)  # mined between the two reads?
                if found is not None:
                    receipts.append((flight, found))
                elif self.mined_without_receipt(flight.attempts):
                    log.info("batch %d: mined, its receipt not served yet; waiting", flight.batch_id)
                else:
                    gone.append(flight)
                continue
            if not self.sender.is_known(flight.latest.tx_hash):
                log.info(
                    "batch %d: the node does not know tx %s; broadcasting it again",
                    flight.batch_id,
                    flight.latest.tx_hash,
                )
                self.broadcast(flight, flight.latest)
                changed = True
        return PollResult(receipts, gone, changed or bool(receipts) or bool(gone))
