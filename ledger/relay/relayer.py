"""The relayer: the durable outbox (``claims``, ``support_requests``) into transactions, exactly once.

One pass (:meth:`Relayer.step`) does, in order:

1. **Watch** the chain (``reconciliation``): on start, and whenever the chain's history changed,
   recheck what already landed; a batch whose block left the chain is unconfirmed and sent again.
   Mined batches that are deep enough become confirmed.
2. **Flights** (``flights``): receipts of the transactions on the wire land their batches; a
   transaction not mined after ``relay.bump_after_s`` is re-signed with higher fees; one the node
   forgot is broadcast again; one whose nonce was used without a receipt of ours is settled by the
   chain's evidence.
3. **Orphans and gaps**: batch rows left open by a previous process are settled; a nonce gap below
   our next nonce is repaired.
4. **Supports** (``supports``) and **claims** (``records``) that are due become transactions.

Every pass first makes sure this process holds the **lease** of the relayer's key
(:mod:`ledger.relay.lease`): a second relayer process for the same key is a hot standby that only
polls the lease, and takes over (rebuilding its view of nonces and flights from the chain and the
outbox, as after a crash) when the active one stops renewing it. No transaction is broadcast
without the lease.

The loop (:meth:`Relayer.run`) never exits on an error: a node or database problem, or any other
failure of a pass, is logged, reported (``service_health``) and retried with backoff. The state
machine every pass moves rows along is drawn in :mod:`ledger.relay.outbox`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from web3.exceptions import Web3RPCError

from ledger.chain.client import LedgerClient
from ledger.chain.context import ChainContext
from ledger.errors import ChainUnavailable
from ledger.health import HealthReporter
from ledger.metrics import LEASE_ACTIVE, LEASE_TAKEOVERS, RELAYER_BALANCE_WEI
from ledger.relay.evidence import ChainEvidence
from ledger.relay.flights import FAILPOINT_ENV, FlightDeck
from ledger.relay.lease import LeaseLost, RelayLease
from ledger.relay.outbox import OPEN, BatchStatus, Outbox, OutboxCounts
from ledger.relay.reconciliation import Reconciler
from ledger.relay.records import RecordBatcher
from ledger.relay.sender import TxSender
from ledger.relay.supports import SupportRelay
from ledger.settings import Settings

__all__ = ["Relayer", "RelayReport", "FAILPOINT_ENV"]

log = logging.getLogger("ledger.relay")

# A node that does not answer (requests' errors are OSErrors) or answers with an error, or a
# database that is busy or gone: retried as they are, with a one-line warning.
_NODE_ERRORS = (ChainUnavailable, OSError, Web3RPCError)
_DATABASE_ERRORS = (OperationalError, InterfaceError)
BALANCE_EVERY_S = 30.0  # how often the active relayer reads its key's balance for the metric

RelayReport = OutboxCounts


class Relayer:
    """Relays the outbox of ``engine`` to the ledger of ``ctx`` with the ``relayer`` operator key."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        ctx: ChainContext,
        *,
        holder: str | None = None,
        accepted_until_ms: Callable[[], int] | None = None,
    ) -> None:
        """``holder`` names this process in the key's lease (default: host:pid:random);
        ``accepted_until_ms``: relay only work accepted up to this moment (see :class:`Outbox`)."""
        self.settings = settings
        self.relay = settings.relay
        self.engine = engine
        self.ctx = ctx
        self.client: LedgerClient = ctx.client
        self.account = ctx.operator(self.relay.key)
        self.issuer = self.account.address.lower()
        self.outbox = Outbox(engine, accepted_until_ms)
        self.lease = RelayLease(
            engine, self.issuer, lease_s=self.relay.lease_s, margin_s=self.relay.lease_margin_s, holder=holder
        )
        self.health = HealthReporter(engine, "relayer")
        self.standby_health = HealthReporter(engine, "relayer-standby")
        self.active = False  # holds the lease now
        self._balance_read_at = -BALANCE_EVERY_S  # read on the first active pass
        self._tenure: int | None = None  # the lease epoch the components below were built in
        self._build()

    def _build(self) -> None:
        """The components that keep state about the chain (nonces, flights, what was checked): built
        anew for every tenure of the lease, so a relayer that lost it never acts on a stale view."""
        ctx, relay = self.ctx, self.relay
        self.sender = TxSender(ctx.w3, self.account, ctx.chain_id, self.client.address, relay, guard=self.lease.check)
        self.deck = FlightDeck(self.sender, self.outbox, relay)
        self.evidence = ChainEvidence(self.client, self.sender, ctx.deployment.deploy_block)
        self.reconciler = Reconciler(self.settings, self.outbox, self.deck, self.sender, self.client, self.evidence)
        self.records = RecordBatcher(
            relay, self.outbox, self.deck, self.sender, self.client, self.evidence, self.reconciler
        )
        self.supports = SupportRelay(self.outbox, self.deck, self.sender, self.client, self.evidence, self.reconciler)
        self._reconciled = False

    # -- the lease -------------------------------------------------------------------------------

    def hold_lease(self) -> bool:
        """Renew the lease when half of it is used (or take it when free); True while active.

        Taking it in a new epoch (another process sent meanwhile, or this is the first tenure)
        rebuilds the chain-facing components: what the last holder left open is settled from the
        chain and the outbox, exactly as after a crash."""
        if self.active and self.lease.remaining_s() > self.relay.lease_s / 2:
            return True
        held = self.lease.acquire()
        if held and self.lease.epoch != self._tenure:
            if self._tenure is not None:
                self._build()
            self._tenure = self.lease.epoch
            LEASE_TAKEOVERS.inc()
            log.info(
                "relayer %s active (lease epoch %s, holder %s)", self.account.address, self._tenure, self.lease.holder
            )
        elif not held and self.active:
            log.warning("relayer %s lost its lease; standing by", self.account.address)
        elif not held and not self.active and self._tenure is None:
            state = self.lease.state()
            log.info(
                "relayer %s standing by: %s holds the lease",
                self.account.address,
                state.holder if state is not None else "another process",
            )
            self._tenure = -1  # logged once; any real epoch differs
        self.active = held
        LEASE_ACTIVE.set(1 if held else 0)
        return held

    def _stand_down(self, exc: LeaseLost) -> None:
        log.warning("%s; not sending until the lease is held again", exc)
        self.active = False
        LEASE_ACTIVE.set(0)

    # -- running ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Relay until ``stop`` is set (for a thread or the ``tsunagari relay`` command)."""
        delay = 0.0
        log.info("relayer %s on chain %d, ledger %s", self.account.address, self.ctx.chain_id, self.client.address)
        try:
            while not stop.is_set():
                try:
                    busy = self.step()
                except LeaseLost as exc:
                    self._stand_down(exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - a relayer must survive any one failure
                    delay = min(max(delay * 2, 0.2), 5.0)
                    self._failed(exc, delay)
                    stop.wait(delay)
                    continue
                delay = 0.0
                if not self.active:  # a standby polls the lease a few times per lease period
                    self.standby_health.beat()
                    stop.wait(self.relay.lease_s / 3)
                    continue
                self.health.beat()
                if not busy:
                    stop.wait(self.relay.poll_interval_s)
        finally:
            if self.active:
                self._release()

    def _release(self) -> None:
        try:
            self.lease.release()  # a standby takes over at its next poll instead of after the expiry
        except Exception:
            log.warning("could not release the relayer lease; it expires by itself", exc_info=True)
        self.active = False
        LEASE_ACTIVE.set(0)

    def _failed(self, exc: Exception, delay: float) -> None:
        self._reconciled = False  # whatever was half done is settled from the chain again
        self.health.failed(exc)
        if isinstance(exc, _NODE_ERRORS):
            log.warning("node unavailable (%s); retrying in %.1f s", exc, delay)
        elif isinstance(exc, _DATABASE_ERRORS):
            log.warning("database unavailable (%s); retrying in %.1f s", exc, delay)
        else:
            log.exception("relay step failed; retrying in %.1f s", delay)

    def run_once(self, timeout_s: float | None = None) -> RelayReport:
        """Drain the outbox (no waiting for fuller batches), wait until every batch is confirmed at
        depth, return the counts.

        Work that cannot go now (a paused region, a missing issuer role) is left pending. Errors
        are retried with backoff until ``timeout_s`` (forever when None). While another process
        holds the lease of the key, this waits for it (logged once), like a standby.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        delay = 0.0
        while deadline is None or time.monotonic() < deadline:
            try:
                busy = self.step(drain=True)
                if not busy and self.active and self._settled():  # a standby waits for the lease
                    break
            except Exception as exc:  # noqa: BLE001 - retried until the deadline, like run()
                delay = min(max(delay * 2, 0.2), 5.0)
                self._failed(exc, delay)
                time.sleep(delay)
                continue
            delay = 0.0
            if not busy:
                time.sleep(self.relay.poll_interval_s if self.active else self.relay.lease_s / 3)
        if self.active:
            self._release()
        return self.report()

    def _settled(self) -> bool:
        """Nothing in flight, no open batch, nothing mined that is not yet final, and the chain
        checked just now still holds what landed."""
        if self.deck.flights or self.outbox.batches(self.issuer, [*OPEN, BatchStatus.MINED]):
            return False
        return not self.reconciler.watch(now=True)

    def report(self) -> RelayReport:
        return self.outbox.counts()

    def step(self, drain: bool = False) -> bool:
        """One pass; True when something changed (so the caller should not sleep). A process
        without the lease does nothing (:attr:`active` says which)."""
        if not self.hold_lease():
            return False
        self._read_balance()
        progressed = self.settle_only()
        progressed |= self.supports.relay_all()
        progressed |= self.records.relay_due(int(time.time() * 1000), drain=drain)
        return progressed

    def _read_balance(self) -> None:
        """The key's balance for ``tsunagari_relay_balance_wei`` (the operator's "fees running out"
        alert), read at most every ``BALANCE_EVERY_S``: one ``eth_getBalance`` then, none otherwise."""
        now = time.monotonic()
        if now - self._balance_read_at < BALANCE_EVERY_S:
            return
        self._balance_read_at = now
        balance = int(self.ctx.w3.eth.get_balance(self.account.address))
        RELAYER_BALANCE_WEI.labels(self.issuer).set(balance)

    def settle_only(self) -> bool:
        """The settling half of a pass (chain watch, receipts, orphans, nonce gaps), no new work:
        :meth:`step` runs it first; a key being rotated out runs only this (``rotation``). The
        caller holds the lease."""
        if not self._reconciled:
            self.reconciler.reconcile_open()
            self._reconciled = True
        progressed = self.reconciler.watch()
        polled = self.deck.poll()
        for flight, receipt in polled.receipts:
            self.reconciler.on_receipt(flight, receipt)
        for flight in polled.nonce_gone:
            log.info("batch %d: nonce %d used without a receipt of ours; settling it", flight.batch_id, flight.nonce)
            self.deck.drop(flight.batch_id)
            self.reconciler.settle(flight.batch_id)
        progressed |= polled.changed
        progressed |= self._settle_orphans()
        progressed |= self.reconciler.repair_gaps()
        return progressed

    def _settle_orphans(self) -> bool:
        orphans = [b for b in self.outbox.batches(self.issuer, OPEN) if b.id not in self.deck.flights]
        for batch in orphans:
            self.reconciler.settle(batch.id)
        return bool(orphans)
