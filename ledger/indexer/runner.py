"""The indexer's engine: order, ranges, retries, confirmations, reorgs, checkpoints.

One code path serves backfill and live follow: :meth:`Indexer.step` indexes the next chunk of
blocks up to ``head - confirmations`` and commits its rows, dirty keys, block headers and
checkpoint in one transaction; :meth:`Indexer.backfill` repeats it until caught up,
:meth:`Indexer.follow` keeps doing it as blocks arrive.

- **Ranges** adapt: a node's "too many results / range too large" halves the range, a chunk with
  few logs doubles it (up to ``max_range``), a chunk with many logs shrinks it.
- **Retries**: an unreachable or failing node, or a database that is busy or unreachable, is
  retried with exponential backoff (0.2 s → 10 s); the problem is recorded for ``tsunagari index
  status`` (the checkpoint's last error and the ``indexer`` row of ``service_health``); no range is
  ever skipped. :meth:`Indexer.follow` never returns on an error, whatever it is: a loop that
  exits leaves every participant's page stale until someone notices.
- **Order**: logs are handled strictly by (block, transaction index, log index).
- **Reorgs**: before each chunk the stored hash of the checkpoint block is compared with the
  chain's; on a mismatch the stored headers of the unconfirmed window are walked back to the
  newest one the chain still has (the common ancestor), everything above it is rolled back, and
  indexing resumes from there. The chunk's last block is read with that check, before the logs,
  and again after them with the headers of the blocks with logs: every log's block hash must match
  its header, the checkpoint block must still be canonical and the last block unchanged (a reorg
  replaces every block above its fork point, so one that touched the chunk while it was read,
  even only blocks without ledger logs, changes the last block), else the chunk is thrown away
  and retried.
- **Derived tables** (ties, daily aggregates) are refreshed from their dirty keys when the
  indexer is caught up, so a backfill spends its time on the event rows.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

from ledger.chain.decoding import EventDecoder
from ledger.errors import ChainUnavailable, ConfigError, TsunagariError
from ledger.health import HealthReporter
from ledger.indexer.handlers import ActivityTerms, LogContext, apply_log, jst_day
from ledger.indexer.rpc import JsonRpc, RangeTooLarge, RpcError, quantity
from ledger.indexer.spec import IndexSpec
from ledger.indexer.store import BlockHeader, Checkpoint, ChunkSink, IndexStore

__all__ = ["IndexerConfig", "ChunkResult", "Indexer", "ReorgTooDeep"]

log = logging.getLogger("tsunagari.indexer")


_R = TypeVar("_R")

# Worth retrying as they are: the node is down, behind or changing; the database is busy or gone.
_TRANSIENT = (ChainUnavailable, RpcError, OperationalError, InterfaceError)


class ReorgTooDeep(TsunagariError):
    """The chain forked below every stored block header: re-index from scratch."""


@dataclass(frozen=True)
class IndexerConfig:
    confirmations: int = 0
    initial_range: int = 2_000
    max_range: int = 50_000
    target_logs: int = 20_000  # shrink the range when a chunk brings more logs than this
    reorg_window: int = 256  # block headers kept below the checkpoint to find a common ancestor
    header_batch: int = 200
    poll_interval_s: float = 0.5
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 10.0
    refresh_budget_s: float = 2.0  # derived-table work per pause while following the chain


@dataclass(frozen=True)
class ChunkResult:
    from_block: int
    to_block: int
    logs: int
    head: int
    rolled_back_to: int | None = None


class _LogsRefused(Exception):
    """An error answer to ``eth_getLogs``: the range is halved and the chunk read again."""

    def __init__(self, error: RpcError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class _ChunkLogs:
    logs: list[tuple[int, int, int, dict[str, Any]]]  # (block, transaction index, log index, log)
    log_blocks: set[int]
    headers: dict[int, BlockHeader]  # of the blocks with logs, and of the chunk's last and checkpoint blocks


def _in_chain_order(logs: list[dict[str, Any]]) -> list[tuple[int, int, int, dict[str, Any]]]:
    """(block, transaction index, log index, log) of the logs not flagged ``removed``, in chain order."""
    try:  # JSON-RPC numbers are hex strings: the fast path
        parsed = [
            (int(e["blockNumber"], 16), int(e["transactionIndex"], 16), int(e["logIndex"], 16), e)
            for e in logs
            if not e.get("removed")
        ]
    except TypeError:
        parsed = [
            (quantity(e["blockNumber"]), quantity(e["transactionIndex"]), quantity(e["logIndex"]), e)
            for e in logs
            if not e.get("removed")
        ]
    if any(a[:3] > b[:3] for a, b in itertools.pairwise(parsed)):
        parsed.sort(key=lambda p: p[:3])  # nodes return chain order; enforce it when they do not
    return parsed


def _header(raw: dict[str, Any]) -> BlockHeader:
    return BlockHeader(
        number=quantity(raw["number"]),
        hash=str(raw["hash"]).lower(),
        parent_hash=str(raw["parentHash"]).lower(),
        timestamp=quantity(raw["timestamp"]),
    )


class Indexer:
    """Indexes one :class:`IndexSpec` into one store through one JSON-RPC endpoint."""

    def __init__(
        self,
        spec: IndexSpec,
        store: IndexStore,
        rpc: JsonRpc,
        config: IndexerConfig | None = None,
        refresh: Callable[[float | None], Any] | None = None,
        fault: Callable[[str], None] | None = None,
        health: HealthReporter | None = None,
    ) -> None:
        self.spec = spec
        self.store = store
        self.rpc = rpc
        self.config = config or IndexerConfig()
        self.decoder = EventDecoder(spec.contracts)
        self.range = self.config.initial_range
        self.refresh = refresh
        self.fault = fault or (lambda _where: None)  # test hook: raise to simulate a crash
        self.health = health
        # One checkpoint row for the whole spec, under the first contract's address.
        self.checkpoint_key = spec.contracts[0].address
        self._addresses = spec.addresses if len(spec.addresses) > 1 else spec.addresses[0]
        # The terms of every indexed activity (records carry only the activity id): loaded from the
        # store, kept current by the handlers, reloaded whenever indexed state may have gone back.
        self._activities: dict[int, ActivityTerms] | None = None

    @property
    def activities(self) -> dict[int, ActivityTerms]:
        if self._activities is None:
            self._activities = self.store.activities()
        return self._activities

    def close(self) -> None:
        """Release the RPC connection."""
        self.rpc.close()

    def __enter__(self) -> Indexer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- chain reads ---------------------------------------------------------------------------

    def head(self) -> int:
        return quantity(self.rpc.call("eth_blockNumber", []))

    def _headers(self, numbers: list[int]) -> dict[int, BlockHeader]:
        headers: dict[int, BlockHeader] = {}
        size = self.config.header_batch
        for start in range(0, len(numbers), size):
            part = numbers[start : start + size]
            answers = self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part])
            for number, raw in zip(part, answers, strict=True):
                if raw is None:
                    raise ChainUnavailable(f"block {number} is not (or no longer) on the chain")
                headers[number] = _header(raw)
        return headers

    # -- reorgs ----------------------------------------------------------------------------------

    def _find_ancestor(self, checkpoint: Checkpoint, head: int) -> BlockHeader:
        stored = self.store.stored_blocks(min(checkpoint.block_number, head), self.config.reorg_window + 2)
        canonical = self._headers([b.number for b in stored]) if stored else {}
        for block in stored:  # newest first
            if canonical[block.number].hash == block.hash:
                return block
        if not any(block.has_logs for block in stored) and not self.store.has_rows():
            # Nothing indexed yet (only empty blocks): start over from the spec's first block.
            start = max(0, self.spec.start_block - 1)
            return self._headers([start])[start]
        oldest = stored[-1].number if stored else checkpoint.block_number
        raise ReorgTooDeep(
            f"the chain no longer has any of the last {len(stored)} indexed block headers (down to {oldest}); "
            "re-index into a fresh database or raise indexer.reorg_window"
        )

    def _check_reorg(
        self, checkpoint: Checkpoint, head: int, also: list[int]
    ) -> tuple[BlockHeader | None, dict[int, BlockHeader]]:
        """(the common ancestor when the checkpoint block was replaced else None, the headers of the
        checkpoint block and of ``also``, read in one batch)."""
        if head < checkpoint.block_number:
            # A node that is behind (a lagging replica behind a load balancer, a restarted node still
            # syncing) looks like a shorter chain; wait for it instead of rolling anything back.
            raise ChainUnavailable(f"the node's head {head} is behind the indexed block {checkpoint.block_number}")
        current = self._headers([checkpoint.block_number, *also])
        if current[checkpoint.block_number].hash == checkpoint.block_hash:
            return None, current
        return self._find_ancestor(checkpoint, head), current

    def _refuse_another_deployment(self) -> None:
        """An index holds one ledger per chain: the figures of two deployments (a v1 and a v2 ledger
        on the same devnet, say) must not add up in one set of tables."""
        others = self.store.other_deployments(self.checkpoint_key)
        if others:
            raise ConfigError(
                f"this database indexes ledger {others[0]} on chain {self.store.chain_id}, not "
                f"{self.checkpoint_key}: index a new deployment into an empty database (or move this one aside)"
            )

    # -- one chunk -------------------------------------------------------------------------------

    def step(self) -> ChunkResult:
        """Index the next chunk (or roll back a reorg); raises on RPC problems (see :meth:`run_step`)."""
        head = self.head()
        safe_head = head - self.config.confirmations
        checkpoint = self.store.checkpoint(self.checkpoint_key)
        if checkpoint is None:
            self._refuse_another_deployment()
        from_block = checkpoint.block_number + 1 if checkpoint is not None else self.spec.start_block
        while True:
            to_block = min(from_block + self.range - 1, safe_head)
            reading = to_block >= from_block
            if checkpoint is not None:
                ancestor, current = self._check_reorg(checkpoint, head, [to_block] if reading else [])
                if ancestor is not None:
                    self._activities = None  # rolled-back registrations must not stay known
                    removed = self.store.rollback_to(self.checkpoint_key, ancestor)
                    log.warning("reorg: rolled back to block %s (%s rows removed)", ancestor.number, removed)
                    return ChunkResult(ancestor.number + 1, ancestor.number, 0, head, rolled_back_to=ancestor.number)
            if not reading:
                return ChunkResult(from_block, from_block - 1, 0, head)
            # The chunk's last block, read before its logs: if it is the same block after them, no
            # block of the chunk changed in between (a reorg replaces every block above its fork point).
            anchor = current[to_block] if checkpoint is not None else self._headers([to_block])[to_block]
            try:
                count = self._index_chunk(from_block, to_block, head, checkpoint, anchor)
                break
            except _LogsRefused as refused:
                # Providers word their range limits in many ways (and some time out instead); any
                # error answer to eth_getLogs halves the range before it counts as a failure.
                if self.range == 1:
                    raise refused.error from None
                self.range = max(1, self.range // 2)
                level = logging.INFO if isinstance(refused.error, RangeTooLarge) else logging.WARNING
                log.log(level, "eth_getLogs refused (%s): shrinking the range to %s blocks", refused.error, self.range)
        if count > self.config.target_logs:
            self.range = max(1, self.range // 2)
        elif count < self.config.target_logs // 4:
            self.range = min(self.config.max_range, self.range * 2)
        return ChunkResult(from_block, to_block, count, head)

    def _read_logs(self, from_block: int, to_block: int, also: list[int]) -> _ChunkLogs:
        """The logs of a block range in chain order, then the headers of their blocks and of ``also``."""
        query = {"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": self._addresses}
        try:
            raw = self.rpc.call("eth_getLogs", [query])
        except RpcError as exc:
            raise _LogsRefused(exc) from exc
        logs = _in_chain_order(raw or [])
        blocks = {entry[0] for entry in logs}
        return _ChunkLogs(logs, blocks, self._headers(sorted(blocks.union(also))))

    def _index_chunk(
        self, from_block: int, to_block: int, head: int, checkpoint: Checkpoint | None, anchor: BlockHeader
    ) -> int:
        also = [to_block] if checkpoint is None else [checkpoint.block_number, to_block]
        chunk = self._read_logs(from_block, to_block, also)
        final = chunk.headers
        if checkpoint is not None and final[checkpoint.block_number].hash != checkpoint.block_hash:
            raise ChainUnavailable("the chain reorganised while the chunk was read; retrying")
        end = final[to_block]
        if end.hash != anchor.hash:
            raise ChainUnavailable(f"block {to_block} changed while the chunk was read; retrying")
        sink = ChunkSink()
        try:
            self._handle(chunk, sink)
        except BaseException:
            self._activities = None  # the chunk is not committed: forget what its handlers learnt
            raise
        if sink.held:
            # Contribution logs without their batch's BatchRecorded (never, from our contract).
            log.error(
                "%d contribution logs in block range %s-%s have no batch log", len(sink.held), from_block, to_block
            )
            sink.batch_recorded("")
        keep_from = max(0, to_block - self.config.reorg_window)
        stored = [replace(h, has_logs=n in chunk.log_blocks) for n, h in chunk.headers.items() if n >= keep_from]
        self.store.write_chunk(
            self.checkpoint_key,
            sink,
            stored,
            Checkpoint(end.number, end.hash, end.timestamp),
            head,
            keep_from,
        )
        self.fault("committed")
        return len(chunk.logs)

    def _handle(self, chunk: _ChunkLogs, sink: ChunkSink) -> None:
        """Every log of ``chunk`` through its handler into ``sink``, checked against its block header."""
        headers = chunk.headers
        chain_id = self.spec.chain_id
        activities = self.activities
        decoder, fault = self.decoder, self.fault
        # Logs come block by block and transaction by transaction: the per-block and per-transaction
        # values are computed when the block or transaction changes, not per log.
        block = -1
        header: BlockHeader | None = None
        context = LogContext(block, 0, 0, activities)
        spelled_address = spelled_tx = ""
        address = tx_hash = ""
        for number, tx_index, log_index, entry in chunk.logs:
            if number != block:
                block, header = number, headers[number]
                context = LogContext(number, header.timestamp, jst_day(header.timestamp), activities)
            assert header is not None
            block_hash = entry["blockHash"]
            if block_hash != header.hash and block_hash.lower() != header.hash:
                raise ChainUnavailable(f"block {number} changed while the chunk was read; retrying")
            if entry["address"] != spelled_address:
                spelled_address = entry["address"]
                address = spelled_address.lower()
            if entry["transactionHash"] != spelled_tx:
                spelled_tx = entry["transactionHash"]
                tx_hash = spelled_tx.lower()
            topics: list[str] = entry["topics"]
            data: str = entry["data"]
            sink.provenance = (chain_id, address, number, header.hash, header.timestamp, tx_hash, tx_index, log_index)
            problem = apply_log(decoder, address, topics, data, context, sink)
            if problem is not None:
                log.error("undecodable log at block %s: %s", number, problem)
                continue
            fault("handler")

    # -- loops -----------------------------------------------------------------------------------

    def run_step(self, stop: threading.Event | None = None) -> ChunkResult | None:
        """:meth:`step` with retries and backoff; None if ``stop`` was set while waiting."""
        delay = self.config.backoff_initial_s
        while True:
            try:
                return self.step()
            except _TRANSIENT as exc:
                log.warning("indexer: %s (retrying in %.1f s)", exc, delay)
                self._note_error(str(exc))
            if stop is not None and stop.wait(delay):
                return None
            if stop is None:
                time.sleep(delay)
            delay = min(delay * 2, self.config.backoff_max_s)

    def _note_error(self, message: str) -> None:
        if self.health is not None:
            self.health.failed(message)
        try:
            self.store.record_error(self.checkpoint_key, message)
        except Exception:
            log.exception("could not record the indexer error")

    def backfill(self, stop: threading.Event | None = None, until: int | None = None) -> int:
        """Index until caught up with the head seen at the start (or ``until``); returns logs indexed."""
        target = until if until is not None else self._with_retries(self.head) - self.config.confirmations
        total = 0
        while stop is None or not stop.is_set():
            result = self.run_step(stop)
            if result is None:
                break
            total += result.logs
            if result.rolled_back_to is None and result.to_block >= target:
                break
            if result.rolled_back_to is None and result.to_block < result.from_block:
                break  # nothing more to read yet
        if self.refresh is not None:
            self._with_retries(lambda: self.refresh(None) if self.refresh is not None else None)
        return total

    def follow(self, stop: threading.Event) -> None:
        """Index new blocks as they come until ``stop`` is set.

        It returns only when ``stop`` is set. Any failure of a pass (a database or node error, a
        reorg deeper than the window, a bug) is logged, reported and retried with backoff.
        """
        delay = self.config.backoff_initial_s
        while not stop.is_set():
            try:
                caught_up = self._follow_pass(stop)
            except Exception as exc:
                log.exception("indexer pass failed (retrying in %.1f s)", delay)
                self._note_error(f"{type(exc).__name__}: {exc}")
                stop.wait(delay)
                delay = min(delay * 2, self.config.backoff_max_s)
                continue
            delay = self.config.backoff_initial_s
            if caught_up:
                stop.wait(self.config.poll_interval_s)

    def _follow_pass(self, stop: threading.Event) -> bool:
        """One chunk (and the derived tables when caught up); True when caught up with the head."""
        # Imported here, not with the module: prometheus_client is not needed on a backfill's start.
        from ledger.metrics import INDEXER_CHECKPOINT, INDEXER_HEAD, INDEXER_LAG, INDEXER_LOGS

        result = self.run_step(stop)
        if result is None:
            return False
        INDEXER_HEAD.set(result.head)
        INDEXER_CHECKPOINT.set(result.to_block)
        INDEXER_LAG.set(max(0, result.head - result.to_block))
        INDEXER_LOGS.inc(result.logs)
        caught_up = result.rolled_back_to is None and result.to_block >= result.head - self.config.confirmations
        if (caught_up or result.rolled_back_to is not None) and self.refresh is not None:
            self.refresh(self.config.refresh_budget_s)
        if self.health is not None:
            self.health.beat()
        return caught_up

    def _with_retries(self, call: Callable[[], _R]) -> _R:
        delay = self.config.backoff_initial_s
        while True:
            try:
                return call()
            except _TRANSIENT as exc:
                log.warning("indexer: %s (retrying in %.1f s)", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, self.config.backoff_max_s)
