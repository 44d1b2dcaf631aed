"""The relayer: the durable outbox (``claims``, ``support_requests``) into transactions, exactly once.

One pass (:meth:`Relayer.step`) does, in order:

1. **In flight**: poll the receipts of the transactions on the wire; a mined batch is confirmed
   with its claims, a reverted one is settled; a transaction not mined after
   ``relay.bump_after_s`` is re-signed with the same nonce and higher fees; one the node has
   forgotten (a restarted node loses its pool) is broadcast again.
2. **Orphans**: a batch row that is open (``built``/``sent``) in the database but not in flight here
   (a previous process died, or this one failed half way) is reconciled with the chain
   (:meth:`Relayer.reconcile`).
3. **Supports**: each accepted ``support_requests`` row becomes one ``supportBySig``.
4. **Claims**: per region, the oldest accepted claims become a ``recordBatch`` when
   ``relay.batch_size`` are waiting or the oldest waited ``relay.max_wait_s``.

Before a transaction is signed, it is simulated (``eth_call``): claims the chain would refuse are
marked ``rejected`` with the error's code and the rest are batched again; a paused region, a
missing issuer role or a node error leaves the work pending and retries later. The batch row and
its claims are written (one write transaction) before the transaction is signed, and each signed
transaction is stored in ``relay_attempts`` before it is sent, so a crash at any point leaves
enough in the database for :meth:`Relayer.reconcile` to find out, from the chain alone, what
happened: the per-(issuer, region) batch sequence number makes a record batch idempotent.

One record batch per region is in flight at a time: ``recordBatch`` needs exactly the next
sequence number, so a second batch sent behind a first that then reverts would revert too.
Different regions and supports are in flight together (``relay.in_flight``).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.exc import IntegrityError
from web3.exceptions import Web3RPCError
from web3.types import TxReceipt

from ledger.chain.client import LedgerClient, RecordInput, pack_record
from ledger.chain.context import ChainContext
from ledger.chain.decoding import DecodeError, EventDecoder
from ledger.db.engine import write_transaction
from ledger.errors import (
    ActivityClosed,
    ActivityEnded,
    ActivityFull,
    ActivityNotStarted,
    ActivityRegionMismatch,
    BatchAlreadyRecorded,
    BatchOutOfOrder,
    ChainUnavailable,
    ContractError,
    DuplicateContribution,
    InsufficientBalance,
    NonceAlreadyUsed,
    NotIssuer,
    Paused,
    RegionPaused,
    UnknownActivity,
    UnknownRegion,
    ZeroAddress,
)
from ledger.indexer.spec import spec_for_deployment
from ledger.relay.sender import Broadcast, Fees, SignedAttempt, TxSender, call_data, hex_hash
from ledger.settings import Settings

__all__ = ["Relayer", "RelayReport", "error_code", "FAILPOINT_ENV"]

log = logging.getLogger("ledger.relay")

# Test-only fault injection: when this variable names a point below, the process hangs there (so a
# test can kill -9 it at an exact place). Points: "after_build" (batch row written, nothing
# signed), "after_send" (transaction sent, receipt not yet seen).
FAILPOINT_ENV = "TSUNAGARI_RELAY_FAILPOINT"

_PER_ACTIVITY = (UnknownActivity, ActivityRegionMismatch, ActivityClosed, ActivityNotStarted, ActivityEnded)
_RETRY_LATER = (RegionPaused, Paused)
# A node that does not answer (requests' errors are OSErrors) or answers with an error.
_NODE_ERRORS = (ChainUnavailable, OSError, Web3RPCError)
_HOLD_PAUSED_S = 5.0
_HOLD_CONFIG_S = 30.0
_HOLD_SHORT_S = 1.0
_LOG_RANGE = 50_000
_RECORD_BATCH = keccak(text="recordBatch(uint32,uint64,uint256[])")[:4]
_NEXT_BATCH_SEQ = keccak(text="nextBatchSeq(address,uint32)")[:4]


def _now_ms() -> int:
    return int(time.time() * 1000)


def error_code(error: BaseException) -> str:
    """A stable snake_case code for an error: ``ActivityClosed`` → ``activity_closed``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


def _failpoint(name: str) -> None:
    if os.environ.get(FAILPOINT_ENV) == name:
        log.warning("failpoint %s: hanging here until killed", name)
        time.sleep(3600)


def _expanding(sql: str, *names: str) -> Any:
    return text(sql).bindparams(*(bindparam(n, expanding=True) for n in names))


class _Moved(Exception):
    """The rows changed between reading and writing (another writer took them): roll back, try later."""


@dataclass
class _Claim:
    id: int
    activity_id: int
    participant: str


@dataclass
class _InFlight:
    """A batch whose transaction (one nonce, one or more fee levels) is on the wire."""

    batch_id: int
    kind: str  # record or support
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


@dataclass
class RelayReport:
    """Where the outbox stands (counts by status)."""

    claims: dict[str, int] = field(default_factory=dict)
    supports: dict[str, int] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        return sum(self.claims.get(s, 0) + self.supports.get(s, 0) for s in ("accepted", "submitted"))


class Relayer:
    """Relays the outbox of ``engine`` to the ledger of ``ctx`` with the ``relayer`` operator key."""

    def __init__(self, settings: Settings, engine: Engine, ctx: ChainContext) -> None:
        self.settings = settings
        self.relay = settings.relay
        self.engine = engine
        self.ctx = ctx
        self.client: LedgerClient = ctx.client
        self.account = ctx.operator("relayer")
        self.issuer = self.account.address.lower()
        self._decoder = EventDecoder(spec_for_deployment(ctx.deployment).contracts)
        self.sender = TxSender(ctx.w3, self.account, ctx.chain_id, self.client.address, self.relay)
        self.deploy_block = ctx.deployment.deploy_block
        self._in_flight: dict[int, _InFlight] = {}
        self._next_nonce: int | None = None
        self._holds: dict[tuple[str, int], float] = {}  # (kind, region or support id) → monotonic time
        self._reconciled = False

    # -- running ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Relay until ``stop`` is set (for a thread or the ``tsunagari relay`` command)."""
        delay = 0.0
        log.info("relayer %s on chain %d, ledger %s", self.account.address, self.ctx.chain_id, self.client.address)
        while not stop.is_set():
            try:
                busy = self.step()
            except _NODE_ERRORS as exc:
                delay = min(max(delay * 2, 0.2), 5.0)
                log.warning("node unavailable (%s); retrying in %.1f s", exc, delay)
                stop.wait(delay)
                continue
            except Exception:  # an embedded relayer must survive any one failure
                delay = min(max(delay * 2, 0.5), 5.0)
                log.exception("relay step failed; retrying in %.1f s", delay)
                stop.wait(delay)
                continue
            delay = 0.0
            if not busy:
                stop.wait(self.relay.poll_interval_s)

    def run_once(self, timeout_s: float | None = None) -> RelayReport:
        """Drain the outbox (no waiting for fuller batches), wait for every receipt, return the counts.

        Work that cannot go now (a paused region, a missing issuer role) is left pending. Node
        errors are retried with backoff until ``timeout_s`` (forever when None).
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        delay = 0.0
        while deadline is None or time.monotonic() < deadline:
            try:
                busy = self.step(drain=True)
                if not busy and not self._in_flight and not self._open_batches_outside():
                    break
            except _NODE_ERRORS as exc:
                delay = min(max(delay * 2, 0.2), 5.0)
                log.warning("node unavailable (%s); retrying in %.1f s", exc, delay)
                time.sleep(delay)
                continue
            delay = 0.0
            if not busy:
                time.sleep(self.relay.poll_interval_s)
        return self.report()

    def report(self) -> RelayReport:
        with self.engine.connect() as conn:
            claims = conn.execute(text("SELECT status, COUNT(*) FROM claims GROUP BY status")).all()
            supports = conn.execute(text("SELECT status, COUNT(*) FROM support_requests GROUP BY status")).all()
        return RelayReport(claims={str(k): int(v) for k, v in claims}, supports={str(k): int(v) for k, v in supports})

    def step(self, drain: bool = False) -> bool:
        """One pass; True when something changed (so the caller should not sleep)."""
        if not self._reconciled:
            self.reconcile()
        progressed = self._poll_in_flight()
        progressed |= self._settle_orphans()
        progressed |= self._relay_supports()
        progressed |= self._relay_claims(drain)
        return progressed

    # -- nonces ------------------------------------------------------------------------------------

    def _allocate_nonce(self) -> int:
        if self._next_nonce is None:
            self._next_nonce = self.sender.account_nonce("pending")
        nonce = self._next_nonce
        self._next_nonce += 1
        return nonce

    def _resync_nonce(self) -> None:
        chain = self.sender.account_nonce("pending")
        in_flight = max((f.nonce + 1 for f in self._in_flight.values()), default=0)
        self._next_nonce = max(chain, in_flight)

    # -- restart: reconcile open batches with the chain -------------------------------------------

    def reconcile(self) -> None:
        """Settle every open batch of this issuer with the chain (run first after a start)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id FROM relay_batches WHERE issuer = :issuer AND status IN ('built', 'sent') ORDER BY id"),
                {"issuer": self.issuer},
            ).all()
        chain_nonce = self.sender.account_nonce("latest")
        for (batch_id,) in rows:
            if batch_id not in self._in_flight:
                self._settle_batch(int(batch_id), chain_nonce)
        self._resync_nonce()
        self._reconciled = True

    def _open_batches_outside(self) -> bool:
        with self.engine.connect() as conn:
            ids = conn.execute(
                text("SELECT id FROM relay_batches WHERE issuer = :issuer AND status IN ('built', 'sent')"),
                {"issuer": self.issuer},
            ).all()
        return any(int(i) not in self._in_flight for (i,) in ids)

    def _settle_orphans(self) -> bool:
        if not self._open_batches_outside():
            return False
        self.reconcile()
        return True

    def _batch(self, conn: Connection, batch_id: int) -> dict[str, Any]:
        row = conn.execute(text("SELECT * FROM relay_batches WHERE id = :id"), {"id": batch_id}).mappings().one()
        return dict(row)

    def _attempts(self, conn: Connection, batch_id: int) -> list[SignedAttempt]:
        rows = conn.execute(
            text(
                "SELECT tx_hash, nonce, max_fee_per_gas, max_priority_fee_per_gas, raw_tx FROM relay_attempts "
                "WHERE batch_id = :id ORDER BY id"
            ),
            {"id": batch_id},
        ).all()
        return [
            SignedAttempt(tx_hash=h, nonce=int(n), fees=Fees(max_fee=int(m), priority=int(p)), raw_tx=raw)
            for h, n, m, p, raw in rows
        ]

    def _settle_batch(self, batch_id: int, chain_nonce: int) -> None:
        """Find out from the chain what became of an open batch, and act on it."""
        with self.engine.connect() as conn:
            batch = self._batch(conn, batch_id)
            attempts = self._attempts(conn, batch_id)
        for attempt in reversed(attempts):
            receipt = self.sender.receipt(attempt.tx_hash)
            if receipt is not None:
                flight = self._flight_of(batch, attempts)
                self._on_receipt(flight, receipt)
                return
        if batch["kind"] == "record":
            seq = int(batch["batch_seq"])
            if self.client.next_batch_seq(self.issuer, int(batch["region"])) > seq:
                log.info(
                    "batch %d (region %s, seq %d) is on chain: confirming from its logs", batch_id, batch["region"], seq
                )
                self._confirm_from_logs(int(batch["region"]), seq)
                return
        else:
            request = self._support_row(int(batch["id"]))
            if request is not None and self.client.nonce(request["supporter"]) > int(request["nonce"]):
                self._finish_support(
                    batch_id,
                    int(request["id"]),
                    "rejected",
                    code="nonce_already_used",
                    message=f"nonce {request['nonce']} of {request['supporter']} was used by another transaction",
                )
                return
        if attempts and attempts[-1].nonce >= chain_nonce:
            flight = self._flight_of(batch, attempts)
            self._in_flight[batch_id] = flight
            log.info("batch %d: nonce %d still free, broadcasting its stored transaction again", batch_id, flight.nonce)
            self._broadcast(flight, flight.latest)
            return
        reason = "never signed" if not attempts else f"its nonce {attempts[-1].nonce} was used by another transaction"
        self._release(batch_id, f"not on chain ({reason}); returned to the outbox")

    def _flight_of(self, batch: dict[str, Any], attempts: list[SignedAttempt]) -> _InFlight:
        support_id = None
        if batch["kind"] == "support":
            row = self._support_row(int(batch["id"]))
            support_id = None if row is None else int(row["id"])
        return _InFlight(
            batch_id=int(batch["id"]),
            kind=str(batch["kind"]),
            region=int(batch["region"]),
            nonce=attempts[-1].nonce if attempts else -1,
            attempts=list(attempts),
            fees_at=time.monotonic(),
            seq=None if batch["batch_seq"] is None else int(batch["batch_seq"]),
            support_id=support_id,
        )

    def _support_row(self, batch_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(text("SELECT * FROM support_requests WHERE batch_id = :b"), {"b": batch_id})
                .mappings()
                .first()
            )
        return None if row is None else dict(row)

    def _release(self, batch_id: int, reason: str) -> None:
        """Close a batch that did not land; its claims or support go back to the outbox."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                text("UPDATE relay_batches SET status = 'failed', batch_seq = NULL, error = :e WHERE id = :id"),
                {"e": reason[:500], "id": batch_id},
            )
            conn.execute(
                text(
                    "UPDATE claims SET status = 'accepted', batch_id = NULL "
                    "WHERE batch_id = :id AND status = 'submitted'"
                ),
                {"id": batch_id},
            )
            conn.execute(
                text(
                    "UPDATE support_requests SET status = 'accepted', batch_id = NULL "
                    "WHERE batch_id = :id AND status = 'submitted'"
                ),
                {"id": batch_id},
            )
        self._in_flight.pop(batch_id, None)
        log.info("batch %d released: %s", batch_id, reason)

    # -- in flight -----------------------------------------------------------------------------------

    def _poll_in_flight(self) -> bool:
        progressed = False
        for flight in list(self._in_flight.values()):
            receipt = self._find_receipt(flight)
            if receipt is not None:
                if self._deep_enough(receipt):
                    self._on_receipt(flight, receipt)
                    progressed = True
                continue
            now = time.monotonic()
            if now - flight.fees_at >= self.relay.bump_after_s:
                self._bump(flight)
                continue
            if now >= flight.next_check:
                flight.next_check = now + max(1.0, self.relay.poll_interval_s * 5)
                chain_nonce = self.sender.account_nonce("latest")
                if chain_nonce > flight.nonce:
                    receipt = self._find_receipt(flight)  # mined between the two reads?
                    if receipt is not None:
                        continue
                    log.warning(
                        "batch %d: nonce %d was used without any of its transactions", flight.batch_id, flight.nonce
                    )
                    del self._in_flight[flight.batch_id]
                    self._settle_batch(flight.batch_id, chain_nonce)
                    progressed = True
                elif not self.sender.is_known(flight.latest.tx_hash):
                    log.info(
                        "batch %d: the node does not know tx %s; broadcasting it again",
                        flight.batch_id,
                        flight.latest.tx_hash,
                    )
                    self._broadcast(flight, flight.latest)
        return progressed

    def _find_receipt(self, flight: _InFlight) -> TxReceipt | None:
        for attempt in reversed(flight.attempts):
            receipt = self.sender.receipt(attempt.tx_hash)
            if receipt is not None:
                return receipt
        return None

    def _deep_enough(self, receipt: TxReceipt) -> bool:
        confirmations = self.settings.chain.confirmations
        return confirmations == 0 or self.sender.head() - int(receipt["blockNumber"]) >= confirmations

    def _bump(self, flight: _InFlight) -> None:
        fees = self.sender.bumped(flight.latest.fees)
        flight.fees_at = time.monotonic()
        if fees is None:
            log.warning("batch %d: fees already at relay.max_fee_gwei; sending it again unchanged", flight.batch_id)
            self._broadcast(flight, flight.latest)
            return
        attempt = self.sender.resign(flight.latest.raw_tx, fees)
        self._store_attempt(flight.batch_id, attempt, first=False)
        flight.attempts.append(attempt)
        log.info(
            "batch %d: not mined after %.0f s; nonce %d re-sent with max fee %.3f gwei (tx %s)",
            flight.batch_id,
            self.relay.bump_after_s,
            flight.nonce,
            fees.max_fee / 1e9,
            attempt.tx_hash,
        )
        self._broadcast(flight, attempt)

    def _store_attempt(self, batch_id: int, attempt: SignedAttempt, *, first: bool) -> None:
        now = _now_ms()
        with write_transaction(self.engine) as conn:
            conn.execute(
                text(
                    "INSERT INTO relay_attempts (batch_id, tx_hash, nonce, max_fee_per_gas, max_priority_fee_per_gas, "
                    "raw_tx, sent_at_ms) VALUES (:b, :h, :n, :m, :p, :raw, :t)"
                ),
                {
                    "b": batch_id,
                    "h": attempt.tx_hash,
                    "n": attempt.nonce,
                    "m": attempt.fees.max_fee,
                    "p": attempt.fees.priority,
                    "raw": attempt.raw_tx,
                    "t": now,
                },
            )
            if first:
                conn.execute(
                    text("UPDATE relay_batches SET status = 'sent', nonce = :n, sent_at_ms = :t WHERE id = :id"),
                    {"n": attempt.nonce, "t": now, "id": batch_id},
                )

    def _broadcast(self, flight: _InFlight, attempt: SignedAttempt) -> None:
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
            with write_transaction(self.engine) as conn:
                conn.execute(
                    text("UPDATE relay_batches SET error = :e WHERE id = :id"),
                    {"e": message[:500], "id": flight.batch_id},
                )
            flight.next_check = time.monotonic() + 2.0

    def _launch(self, batch_id: int, kind: str, region: int, data: str, gas: int, **extra: Any) -> None:
        """Sign the first transaction of a built batch, store it, send it."""
        fees = self.sender.fees()
        nonce = self._allocate_nonce()
        attempt = self.sender.sign(data, gas, nonce, fees)
        try:
            self._store_attempt(batch_id, attempt, first=True)
        except Exception:
            self._next_nonce = None  # the nonce was not used; read it from the node again
            raise
        flight = _InFlight(batch_id, kind, region, nonce, [attempt], time.monotonic(), **extra)
        self._in_flight[batch_id] = flight
        self._broadcast(flight, attempt)
        _failpoint("after_send")

    # -- receipts ------------------------------------------------------------------------------------

    def _on_receipt(self, flight: _InFlight, receipt: TxReceipt) -> None:
        self._in_flight.pop(flight.batch_id, None)
        if int(receipt["status"]) == 1:
            if flight.kind == "record":
                self._confirm_record(flight.batch_id, receipt)
            else:
                self._confirm_support(flight.batch_id, receipt)
            return
        data = self._call_data(flight)
        reason = self.sender.revert_reason(data, int(receipt["blockNumber"]))
        tx = hex_hash(receipt["transactionHash"])
        log.warning("batch %d: tx %s reverted: %s", flight.batch_id, tx, reason)
        if flight.kind == "record":
            if isinstance(reason, BatchAlreadyRecorded) and flight.seq is not None:
                self._confirm_from_logs(flight.region, flight.seq)
            else:
                self._release(flight.batch_id, f"tx {tx} reverted: {reason}")
            return
        assert flight.support_id is not None
        if isinstance(reason, ContractError) and not isinstance(reason, _RETRY_LATER):
            self._finish_support(
                flight.batch_id, flight.support_id, "rejected", code=error_code(reason), message=str(reason)
            )
        else:
            self._release(flight.batch_id, f"tx {tx} reverted: {reason}")

    def _call_data(self, flight: _InFlight) -> str:
        return call_data(flight.latest.raw_tx)

    def _recorded_claims(self, receipt: TxReceipt) -> list[dict[str, Any]]:
        """The receipt's ``ContributionRecorded`` logs, through the indexer's decoder (compiled once
        from the ABI layout; web3's per-log decoding cost ~0.3 ms a record)."""
        found = []
        for entry in receipt["logs"]:
            topics = ["0x" + bytes(HexBytes(t)).hex() for t in entry["topics"]]
            try:
                plan = self._decoder.plan_for(str(entry["address"]), topics)
                if plan.name == "ContributionRecorded":
                    found.append(plan.decode(topics, "0x" + bytes(HexBytes(entry["data"])).hex()))
            except DecodeError:
                continue  # another contract's log, or one that is not ours to read
        return found

    def _confirm_record(self, batch_id: int, receipt: TxReceipt) -> None:
        events = self._recorded_claims(receipt)
        tx = hex_hash(receipt["transactionHash"])
        block = int(receipt["blockNumber"])
        now = _now_ms()
        with write_transaction(self.engine) as conn:
            confirmed = self._confirm_claims(conn, events, tx, block, now)
            conn.execute(
                text(
                    "UPDATE relay_batches SET status = 'confirmed', tx_hash = :tx, block_number = :b, gas_used = :g, "
                    "confirmed_at_ms = :t, error = NULL WHERE id = :id"
                ),
                {"tx": tx, "b": block, "g": int(receipt["gasUsed"]), "t": now, "id": batch_id},
            )
            # Claims of the batch the transaction did not carry (none, unless the rows were edited)
            # go back to the outbox rather than being lost.
            left = conn.execute(
                text(
                    "UPDATE claims SET status = 'accepted', batch_id = NULL "
                    "WHERE batch_id = :id AND status = 'submitted'"
                ),
                {"id": batch_id},
            ).rowcount
        if left:
            log.error("batch %d: %d claims were not in its transaction; returned to the outbox", batch_id, left)
        log.info("batch %d confirmed in block %d: %d claims (tx %s)", batch_id, block, confirmed, tx)

    def _confirm_claims(self, conn: Connection, events: list[dict[str, Any]], tx: str, block: int, now: int) -> int:
        """Mark the claims the logs carry confirmed (one statement for all); returns how many logs."""
        if not events:
            return 0
        conn.execute(
            text(
                "UPDATE claims SET status = 'confirmed', tx_hash = :tx, block_number = :b, confirmed_at_ms = :t, "
                "error_code = NULL, error_message = NULL "
                "WHERE id = :id AND activity_id = :a AND participant = :p AND status <> 'confirmed'"
            ),
            [
                {
                    "tx": tx,
                    "b": block,
                    "t": now,
                    "id": int(event["claimId"]),
                    "a": int(event["activityId"]),
                    "p": str(event["participant"]).lower(),
                }
                for event in events
            ],
        )
        return len(events)

    def _confirm_from_logs(self, region: int, seq: int) -> None:
        """A batch whose sequence number is used on chain: find its transaction and confirm by its logs."""
        event = self.client.contract.events.BatchRecorded()
        topics: list[Any] = [
            HexBytes(event.topic),
            HexBytes(region.to_bytes(32, "big")),
            HexBytes(bytes(12) + bytes.fromhex(self.issuer[2:])),
            HexBytes(seq.to_bytes(32, "big")),
        ]
        found = self._find_log(topics)
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT id FROM relay_batches WHERE region = :r AND issuer = :i AND batch_seq = :s"),
                {"r": region, "i": self.issuer, "s": seq},
            ).first()
        batch_id = None if row is None else int(row[0])
        if found is None:
            raise ChainUnavailable(f"batch {seq} of region {region} is counted on chain but its log was not found yet")
        receipt = self.sender.receipt(hex_hash(found["transactionHash"]))
        if receipt is None:
            raise ChainUnavailable("the receipt of a recorded batch is not available yet")
        if batch_id is None:
            events = self._recorded_claims(receipt)
            with write_transaction(self.engine) as conn:
                self._confirm_claims(
                    conn, events, hex_hash(receipt["transactionHash"]), int(receipt["blockNumber"]), _now_ms()
                )
            return
        self._in_flight.pop(batch_id, None)
        self._confirm_record(batch_id, receipt)

    def _scan_logs(self, topics: list[Any]) -> Iterator[list[Any]]:
        """The ledger's logs matching ``topics``, newest block ranges first (recent batches are found fast)."""
        to_block = self.sender.head()
        while to_block >= self.deploy_block:
            from_block = max(self.deploy_block, to_block - _LOG_RANGE + 1)
            try:
                yield list(
                    self.ctx.w3.eth.get_logs(
                        {"address": self.client.address, "fromBlock": from_block, "toBlock": to_block, "topics": topics}
                    )
                )
            except (OSError, Web3RPCError) as exc:
                raise ChainUnavailable(f"eth_getLogs: {exc}") from exc
            to_block = from_block - 1

    def _find_log(self, topics: list[Any]) -> Any:
        for logs in self._scan_logs(topics):
            if logs:
                return logs[-1]
        return None

    def _confirm_support(self, batch_id: int, receipt: TxReceipt) -> None:
        support = self._support_row(batch_id)
        if support is None:
            log.error("batch %d: no support request points at it", batch_id)
            return
        self._finish_support(batch_id, int(support["id"]), "confirmed", receipt=receipt)

    def _finish_support(
        self,
        batch_id: int,
        support_id: int,
        status: str,
        *,
        receipt: TxReceipt | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        now = _now_ms()
        tx = None if receipt is None else hex_hash(receipt["transactionHash"])
        block = None if receipt is None else int(receipt["blockNumber"])
        with write_transaction(self.engine) as conn:
            conn.execute(
                text(
                    "UPDATE support_requests SET status = :s, tx_hash = :tx, block_number = :b, confirmed_at_ms = :t, "
                    "error_code = :c, error_message = :m WHERE id = :id"
                ),
                {
                    "s": status,
                    "tx": tx,
                    "b": block,
                    "t": now if status == "confirmed" else None,
                    "c": code,
                    "m": message,
                    "id": support_id,
                },
            )
            conn.execute(
                text(
                    "UPDATE relay_batches SET status = :s, tx_hash = :tx, block_number = :b, gas_used = :g, "
                    "confirmed_at_ms = :t, error = :e WHERE id = :id"
                ),
                {
                    "s": "confirmed" if status == "confirmed" else "failed",
                    "tx": tx,
                    "b": block,
                    "g": None if receipt is None else int(receipt["gasUsed"]),
                    "t": now if status == "confirmed" else None,
                    "e": message,
                    "id": batch_id,
                },
            )
        self._in_flight.pop(batch_id, None)
        log.info("support %d %s%s", support_id, status, f" ({code}: {message})" if code else f" (tx {tx})")

    # -- holds ---------------------------------------------------------------------------------------

    def _held(self, kind: str, key: int) -> bool:
        until = self._holds.get((kind, key))
        if until is None:
            return False
        if time.monotonic() >= until:
            del self._holds[(kind, key)]
            return False
        return True

    def _hold(self, kind: str, key: int, seconds: float) -> None:
        self._holds[(kind, key)] = time.monotonic() + seconds

    def _slots(self) -> int:
        return self.relay.in_flight - len(self._in_flight)

    # -- supports --------------------------------------------------------------------------------------

    def _relay_supports(self) -> bool:
        if self._slots() <= 0:
            return False
        busy_supporters = set()
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    text(
                        "SELECT * FROM support_requests WHERE status IN ('accepted', 'submitted') "
                        "ORDER BY supporter, nonce"
                    )
                )
                .mappings()
                .all()
            )
        progressed = False
        for row in rows:
            if row["status"] == "submitted":
                busy_supporters.add(row["supporter"])
                continue
            if self._slots() <= 0:
                break
            if row["supporter"] in busy_supporters or self._held("support", int(row["id"])):
                continue
            busy_supporters.add(row["supporter"])
            progressed |= self._relay_support(dict(row))
        return progressed

    def _support_call(self, row: dict[str, Any]) -> str:
        args = [
            to_checksum_address(row["supporter"]),
            int(row["project_id"]),
            int(row["amount"]),
            int(row["nonce"]),
            int(row["deadline"]),
            HexBytes(row["signature"]),
        ]
        call = str(self.client.contract.encode_abi("supportBySig", args=args))
        return call

    def _relay_support(self, row: dict[str, Any]) -> bool:
        support_id = int(row["id"])
        data = self._support_call(row)
        try:
            gas = self.sender.estimate_gas(data)  # reverts like eth_call would, with the typed error
        except ContractError as err:
            return self._support_refused(row, err)
        now = _now_ms()
        try:
            batch_id = self._build_support(row, now)
        except _Moved:
            return False
        _failpoint("after_build")
        self._launch(batch_id, "support", int(row["region"]), data, gas, support_id=support_id)
        return True

    def _build_support(self, row: dict[str, Any], now: int) -> int:
        with write_transaction(self.engine) as conn:
            batch_id = int(
                conn.execute(
                    text(
                        "INSERT INTO relay_batches (kind, region, issuer, batch_seq, size, status, created_at_ms) "
                        "VALUES ('support', :r, :i, NULL, 1, 'built', :t) RETURNING id"
                    ),
                    {"r": int(row["region"]), "i": self.issuer, "t": now},
                ).scalar_one()
            )
            taken = conn.execute(
                text(
                    "UPDATE support_requests SET status = 'submitted', batch_id = :b "
                    "WHERE id = :id AND status = 'accepted'"
                ),
                {"b": batch_id, "id": int(row["id"])},
            ).rowcount
            if taken != 1:
                raise _Moved
        return batch_id

    def _support_refused(self, row: dict[str, Any], err: ContractError) -> bool:
        support_id = int(row["id"])
        if isinstance(err, _RETRY_LATER):
            log.warning("support %d waits: %s", support_id, err)
            self._hold("support", support_id, _HOLD_PAUSED_S)
            return False
        if isinstance(err, NonceAlreadyUsed):
            current = int(err.args_by_name.get("currentNonce", 0))
            if current < int(row["nonce"]) and self._earlier_support_pending(row, current):
                self._hold("support", support_id, _HOLD_SHORT_S)
                return False
        if isinstance(err, InsufficientBalance) and self._coins_on_the_way(row):
            log.info("support %d waits for the supporter's claims to be recorded", support_id)
            self._hold("support", support_id, _HOLD_SHORT_S)
            return False
        code = error_code(err)
        if isinstance(err, NonceAlreadyUsed) and int(err.args_by_name.get("currentNonce", 0)) < int(row["nonce"]):
            code = "nonce_gap"  # an earlier signature of this supporter was never relayed
        with write_transaction(self.engine) as conn:
            conn.execute(
                text(
                    "UPDATE support_requests SET status = 'rejected', error_code = :c, error_message = :m "
                    "WHERE id = :id AND status = 'accepted'"
                ),
                {"c": code, "m": str(err), "id": support_id},
            )
        log.info("support %d rejected: %s", support_id, err)
        return True

    def _earlier_support_pending(self, row: dict[str, Any], current: int) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT 1 FROM support_requests WHERE supporter = :s AND nonce >= :c AND nonce < :n "
                    "AND status IN ('accepted', 'submitted') LIMIT 1"
                ),
                {"s": row["supporter"], "c": current, "n": int(row["nonce"])},
            ).first()
        return found is not None

    def _coins_on_the_way(self, row: dict[str, Any]) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT 1 FROM claims WHERE participant = :p AND region = :r "
                    "AND status IN ('accepted', 'submitted') LIMIT 1"
                ),
                {"p": row["supporter"], "r": int(row["region"])},
            ).first()
        return found is not None

    # -- claims ----------------------------------------------------------------------------------------

    def _relay_claims(self, drain: bool) -> bool:
        if self._slots() <= 0:
            return False
        busy_regions = {f.region for f in self._in_flight.values() if f.kind == "record"}
        with self.engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT region, COUNT(*), MIN(accepted_at_ms) FROM claims WHERE status = 'accepted' "
                    "GROUP BY region ORDER BY MIN(accepted_at_ms)"
                )
            ).all()
        progressed = False
        now = _now_ms()
        for region_value, count, oldest in waiting:
            region = int(region_value)
            if self._slots() <= 0:
                break
            if region in busy_regions or self._held("region", region):
                continue
            due = drain or int(count) >= self.relay.batch_size or now - int(oldest) >= self.relay.max_wait_s * 1000
            if due:
                progressed |= self._relay_region(region)
                busy_regions.add(region)
        return progressed

    def _pending_claims(self, region: int) -> list[_Claim]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, activity_id, participant FROM claims WHERE status = 'accepted' AND region = :r "
                    "ORDER BY id LIMIT :n"
                ),
                {"r": region, "n": self.relay.batch_size},
            ).all()
        return [_Claim(int(i), int(a), str(p)) for i, a, p in rows]

    def _reject(self, claims: list[_Claim], code: str, message: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                _expanding(
                    "UPDATE claims SET status = 'rejected', error_code = :c, error_message = :m "
                    "WHERE id IN :ids AND status = 'accepted'",
                    "ids",
                ),
                {"c": code, "m": message[:500], "ids": [c.id for c in claims]},
            )
        log.info("rejected claims %s: %s", [c.id for c in claims], message)

    def _record_call(self, region: int, seq: int, claims: list[_Claim]) -> str:
        ordered = sorted(claims, key=lambda c: (c.activity_id, c.id))
        packed = [pack_record(RecordInput(c.participant, c.activity_id, c.id)) for c in ordered]
        return "0x" + (_RECORD_BATCH + abi_encode(["uint32", "uint64", "uint256[]"], [region, seq, packed])).hex()

    def _next_batch_seq(self, region: int) -> int:
        """``nextBatchSeq(issuer, region)`` as one raw ``eth_call`` (no contract-object overhead)."""
        data = _NEXT_BATCH_SEQ + abi_encode(["address", "uint32"], [self.issuer, region])
        result = self.client.w3.eth.call({"to": self.client.address, "data": HexBytes(data)})
        return int.from_bytes(bytes(result)[-32:], "big")

    def _relay_region(self, region: int) -> bool:
        claims = self._pending_claims(region)
        progressed = False
        malformed = [c for c in claims if not self._packable(c)]
        if malformed:
            self._reject(malformed, "invalid_claim", "participant, activity id or claim id cannot be recorded")
            claims = [c for c in claims if c not in malformed]
            progressed = True
        for _ in range(len(claims) + 1):
            if not claims:
                return progressed
            seq = self._next_batch_seq(region)
            data = self._record_call(region, seq, claims)
            try:
                gas = self.sender.estimate_gas(data)  # reverts like eth_call would, with the typed error
                break
            except ContractError as err:
                offending = self._offending(claims, err)
                if not offending:
                    self._region_blocked(region, err)
                    return progressed
                confirmed = self._already_ours(offending, err)
                rejected = [c for c in offending if c not in confirmed]
                if rejected:
                    self._reject(rejected, error_code(err), str(err))
                claims = [c for c in claims if c not in offending]
                progressed = True
        else:
            return progressed
        batch_id = self._build(region, seq, claims)
        if batch_id is None:
            return progressed
        _failpoint("after_build")
        self._launch(batch_id, "record", region, data, gas, seq=seq)
        return True

    @staticmethod
    def _packable(claim: _Claim) -> bool:
        try:
            pack_record(RecordInput(claim.participant, claim.activity_id, claim.id))
        except ValueError:
            return False
        return int(claim.participant, 16) != 0

    def _offending(self, claims: list[_Claim], err: ContractError) -> list[_Claim]:
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
        if isinstance(err, ZeroAddress):
            return [c for c in claims if int(c.participant, 16) == 0]
        return []

    def _already_ours(self, claims: list[_Claim], err: ContractError) -> list[_Claim]:
        """Claims whose record is already on chain *with their own claim id*: confirmed, not rejected."""
        if not isinstance(err, DuplicateContribution):
            return []
        found: list[_Claim] = []
        event = self.client.contract.events.ContributionRecorded()
        for claim in claims:
            topics: list[Any] = [HexBytes(event.topic), HexBytes(bytes(12) + bytes.fromhex(claim.participant[2:]))]
            match = None
            for logs in self._scan_logs(topics):
                for entry in logs:
                    args = event.process_log(entry)["args"]
                    if int(args["activityId"]) == claim.activity_id and int(args["claimId"]) == claim.id:
                        match = (entry, dict(args))
                if match is not None:
                    break
            if match is None:
                continue
            entry, args = match
            with write_transaction(self.engine) as conn:
                self._confirm_claims(
                    conn, [args], hex_hash(entry["transactionHash"]), int(entry["blockNumber"]), _now_ms()
                )
            log.warning(
                "claim %d was already on chain (tx %s): confirmed", claim.id, hex_hash(entry["transactionHash"])
            )
            found.append(claim)
        return found

    def _region_blocked(self, region: int, err: ContractError) -> None:
        if isinstance(err, _RETRY_LATER):
            log.warning("region %d: %s; its claims stay pending", region, err)
            self._hold("region", region, _HOLD_PAUSED_S)
        elif isinstance(err, NotIssuer):
            log.error(
                "the relayer account %s is not an issuer of region %d: its claims stay pending until a region "
                "admin runs `tsunagari region grant-issuer %d %s`",
                self.account.address,
                region,
                region,
                self.account.address,
            )
            self._hold("region", region, _HOLD_CONFIG_S)
        elif isinstance(err, UnknownRegion):
            log.error("region %d is not registered on this ledger; its claims stay pending", region)
            self._hold("region", region, _HOLD_CONFIG_S)
        elif isinstance(err, (BatchAlreadyRecorded, BatchOutOfOrder)):
            log.warning("region %d: %s; the node's state is behind or another process uses this key", region, err)
            self._hold("region", region, _HOLD_SHORT_S)
        else:
            log.error("region %d: the batch would revert (%s); its claims stay pending", region, err)
            self._hold("region", region, _HOLD_PAUSED_S)

    def _build(self, region: int, seq: int, claims: list[_Claim]) -> int | None:
        """The batch row and its claims, in one write transaction; None when the claims moved meanwhile."""
        try:
            with write_transaction(self.engine) as conn:
                batch_id = int(
                    conn.execute(
                        text(
                            "INSERT INTO relay_batches (kind, region, issuer, batch_seq, size, status, created_at_ms) "
                            "VALUES ('record', :r, :i, :s, :n, 'built', :t) RETURNING id"
                        ),
                        {"r": region, "i": self.issuer, "s": seq, "n": len(claims), "t": _now_ms()},
                    ).scalar_one()
                )
                taken = conn.execute(
                    _expanding(
                        "UPDATE claims SET status = 'submitted', batch_id = :b "
                        "WHERE id IN :ids AND status = 'accepted'",
                        "ids",
                    ),
                    {"b": batch_id, "ids": [c.id for c in claims]},
                ).rowcount
                if taken != len(claims):
                    raise _Moved
        except _Moved:
            return None
        except IntegrityError as exc:
            log.error("region %d: batch %d already has a row (%s); reconciling", region, seq, exc.orig)
            self._reconciled = False
            self._hold("region", region, _HOLD_SHORT_S)
            return None
        log.info("batch %d built: region %d, seq %d, %d claims", batch_id, region, seq, len(claims))
        return batch_id
