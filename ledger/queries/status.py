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


BACKLOG_CAP = 10_000
"""The status line counts dirty ties and dirty days up to this many rows (docs/decisions/0017): a
count equal to it reads "that many or more" (:func:`backlog_text`). After a backfill the dirty ties
are millions, and an exact ``COUNT(*)`` of them cost every dashboard 282 ms at 10M records; counting
10,000 rows costs about 1 ms (100,000: 16-28 ms, too much of a 100 ms page)."""


def backlog_text(count: int, lang: str = "ja", cap: int = BACKLOG_CAP) -> str:
    """A backlog count as the page and the CLI show it: ``1,234件`` / ``1万件以上`` in Japanese,
    ``1,234`` / ``10,000 or more`` in English (``count`` at ``cap`` means that many or more)."""
    at_least = count >= cap
    if lang == "ja":
        if at_least and count % 10_000 == 0:
            return f"{count // 10_000:,}万件以上"
        return f"{count:,}件以上" if at_least else f"{count:,}件"
    return f"{count:,} or more" if at_least else f"{count:,}"


def bounded_count(conn: Connection, table: str, cap: int = BACKLOG_CAP) -> int:
    """Rows of ``table``, counted up to ``cap`` (reads at most ``cap`` rows, never the whole table)."""
    return int(
        conn.execute(text(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT :cap) x"), {"cap": cap}).scalar_one()
    )


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """The indexer's checkpoint(s) and backlog."""

    checkpoints: tuple[CheckpointStatus, ...]
    dirty_ties: int  # ties waiting to be recomputed, counted up to backlog_cap (equal to it: that many or more)
    dirty_days: int  # region-days waiting to be recomputed, counted up to backlog_cap
    undecodable_logs: int  # logs kept but not understood: investigate if not zero
    services: tuple[ServiceState, ...] = ()  # the indexer's and relayer's loops: alive, last error
    backlog_cap: int = BACKLOG_CAP  # dirty_ties and dirty_days stop counting here

    @property
    def caught_up(self) -> bool:
        """Indexed to the head seen and no derived row waiting."""
        return (
            bool(self.checkpoints)
            and all(c.lag_blocks == 0 for c in self.checkpoints)
            and self.dirty_ties == 0
            and self.dirty_days == 0
        )


def checkpoints(conn: Connection) -> tuple[CheckpointStatus, ...]:
    """Where the indexer of each chain is (the pages' banner reads only this)."""
    return tuple(
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


def index_status(conn: Connection) -> IndexStatus:
    """Checkpoint, lag, last error, dirty keys and undecodable logs (for ``tsunagari index status``,
    the status endpoint, the region dashboard and monitoring). The dirty keys are counted up to
    :data:`BACKLOG_CAP`, so the cost is bounded however far behind the refresh is; undecodable logs
    (0 on a healthy index) are counted exactly."""
    undecodable = int(conn.execute(text("SELECT COUNT(*) FROM undecodable_logs")).scalar_one())
    return IndexStatus(
        checkpoints(conn),
        bounded_count(conn, "dirty_ties"),
        bounded_count(conn, "dirty_days"),
        undecodable,
        tuple(service_health(conn)),
    )
