"""The indexer's state as the pages and the status endpoint show it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from ledger.health import ServiceState, service_health

# ---------------------------------------------------------------------------------------------
# The indexer's state
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckpointStatus:
    """Where the indexer of one chain is."""

    chain_id: int
    contract: str
    block_number: int  # every log up to this block is in the tables
    block_hash: str
    block_timestamp: int
    updated_at: int  # wall clock of the last commit
    head_seen: int  # chain head when last polled
    lag_blocks: int  # head_seen - block_number (never negative)
    last_error: str | None
    last_error_at: int | None


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """The indexer's checkpoint(s) and backlog."""

    checkpoints: tuple[CheckpointStatus, ...]
    dirty_ties: int  # ties waiting to be recomputed
    dirty_days: int  # region-days waiting to be recomputed
    undecodable_logs: int  # logs kept but not understood: investigate if not zero
    services: tuple[ServiceState, ...] = ()  # the indexer's and relayer's loops: alive, last error

    @property
    def caught_up(self) -> bool:
        """Indexed to the head seen and no derived row waiting."""
        return (
            bool(self.checkpoints)
            and all(c.lag_blocks == 0 for c in self.checkpoints)
            and self.dirty_ties == 0
            and self.dirty_days == 0
        )


def index_status(conn: Connection) -> IndexStatus:
    """Checkpoint, lag, last error, dirty keys and undecodable logs (for ``tsunagari index status``,
    the operator's health page and monitoring)."""
    checkpoints = tuple(
        CheckpointStatus(
            chain_id=int(r[0]),
            contract=str(r[1]),
            block_number=int(r[2]),
            block_hash=str(r[3]),
            block_timestamp=int(r[4]),
            updated_at=int(r[5]),
            head_seen=int(r[6]),
            lag_blocks=max(0, int(r[6]) - int(r[2])),
            last_error=None if r[7] is None else str(r[7]),
            last_error_at=None if r[8] is None else int(r[8]),
        )
        for r in conn.execute(
            text(
                "SELECT chain_id, contract, block_number, block_hash, block_timestamp, updated_at, head_seen, "
                "last_error, last_error_at FROM indexer_checkpoints ORDER BY chain_id, contract"
            )
        )
    )
    counts = conn.execute(
        text(
            "SELECT (SELECT COUNT(*) FROM dirty_ties), (SELECT COUNT(*) FROM dirty_days), "
            "(SELECT COUNT(*) FROM undecodable_logs)"
        )
    ).one()
    return IndexStatus(checkpoints, int(counts[0]), int(counts[1]), int(counts[2]), tuple(service_health(conn)))
