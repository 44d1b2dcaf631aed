"""The indexer's writes: event rows, dirty keys, block headers and the checkpoint, in one transaction.

Rows go in with the driver's ``executemany`` (``INSERT … ON CONFLICT DO NOTHING``): no ORM objects
in the hot path, and a replayed log (same chain id, tx hash, log index) is a no-op. On PostgreSQL a
table's rows of a big chunk (:attr:`IndexStore.copy_from_rows` or more) go through ``COPY`` instead
(issue 19): event rows straight into their table, in chain order, inside a savepoint; if some are
already there (blocks read again: a replay) the savepoint is undone and they go, like the dirty
keys always do, into a temporary table of the same columns (dropped at commit) and from it with
``INSERT … SELECT … ORDER BY block_number, log_index ON CONFLICT DO NOTHING``. Replays stay no-ops
and row ids keep following the chain. psycopg's pipelined ``executemany`` spent ~25 µs of Python
per row, ``COPY`` ~4 µs: the index benchmark's PostgreSQL write went from ~6.3 s to ~3 s (loaded
machine).

A reorg rollback deletes every event row above the common ancestor, marks the derived keys those
rows fed as dirty, and moves the checkpoint back — again in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from ledger.db.engine import copy_rows, write_transaction
from ledger.indexer.handlers import TABLE_COLUMNS, ActivityTerms

_ISSUER = TABLE_COLUMNS["contributions"].index("issuer")

__all__ = ["BlockHeader", "ChunkSink", "Checkpoint", "IndexStore"]

_PROVENANCE_COLUMNS = (
    "chain_id",
    "contract",
    "block_number",
    "block_hash",
    "block_timestamp",
    "tx_hash",
    "tx_index",
    "log_index",
)


@dataclass(frozen=True)
class BlockHeader:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    has_logs: bool = False


@dataclass(frozen=True)
class Checkpoint:
    block_number: int
    block_hash: str
    block_timestamp: int


@dataclass
class ChunkSink:
    """Collects one chunk's rows and dirty keys (the handlers' :class:`~ledger.indexer.handlers.Sink`)."""

    provenance: tuple[Any, ...] = ()
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    ties: set[tuple[str, int]] = field(default_factory=set)
    days: set[tuple[int, int]] = field(default_factory=set)
    record_days: set[tuple[int, str]] = field(default_factory=set)
    count: int = 0
    # contribution rows of the current transaction, waiting for its BatchRecorded (the issuer)
    held: list[tuple[Any, ...]] = field(default_factory=list)

    def contribution(self, values: tuple[Any, ...]) -> None:
        self.held.append(self.provenance + values)

    def batch_recorded(self, issuer: str) -> None:
        if not self.held:
            return
        at = len(self.provenance) + _ISSUER
        bucket = self.rows.setdefault("contributions", [])
        bucket.extend((*row[:at], issuer, *row[at + 1 :]) for row in self.held)
        self.count += len(self.held)
        self.held.clear()

    def row(self, table: str, values: tuple[Any, ...]) -> None:
        bucket = self.rows.get(table)
        if bucket is None:
            bucket = self.rows[table] = []
        bucket.append(self.provenance + values)
        self.count += 1

    def tie(self, participant: str, region: int) -> None:
        self.ties.add((participant, region))

    def day(self, region: int, day: int) -> None:
        self.days.add((region, day))

    def record_day(self, activity_id: int, participant: str) -> None:
        self.record_days.add((activity_id, participant))


class IndexStore:
    """Reads and writes of the indexer's own state for one chain and contract set."""

    copy_from_rows = 500  # PostgreSQL: a table's rows of one chunk from this many on go in by COPY

    def __init__(self, engine: Engine, chain_id: int) -> None:
        self.engine = engine
        self.chain_id = chain_id
        self._postgres = engine.dialect.name == "postgresql"
        mark = "%s" if self._postgres else "?"
        self._columns: dict[str, tuple[str, ...]] = {
            table: (*_PROVENANCE_COLUMNS, *columns) for table, columns in TABLE_COLUMNS.items()
        }
        self._columns.update(
            dirty_ties=("participant", "region"),
            dirty_days=("region", "day"),
            indexed_blocks=("chain_id", "number", "hash", "parent_hash", "timestamp", "has_logs"),
        )
        self._insert_sql = {
            table: f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))}) "
            "ON CONFLICT DO NOTHING"
            for table, names in self._columns.items()
        }
        self._mark = mark

    # -- reads -----------------------------------------------------------------------------------

    def checkpoint(self, contract: str) -> Checkpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT block_number, block_hash, block_timestamp FROM indexer_checkpoints "
                    "WHERE chain_id = :c AND contract = :a"
                ),
                {"c": self.chain_id, "a": contract},
            ).first()
        return Checkpoint(int(row[0]), str(row[1]), int(row[2])) if row else None

    def other_deployments(self, contract: str) -> list[str]:
        """Ledgers of this chain, other than ``contract``, that this database already indexes."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT contract FROM indexer_checkpoints WHERE chain_id = :c AND contract <> :a ORDER BY contract"
                ),
                {"c": self.chain_id, "a": contract},
            ).all()
        return [str(r[0]) for r in rows]

    def stored_blocks(self, at_most: int, limit: int) -> list[BlockHeader]:
        """Stored headers at or below ``at_most``, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT number, hash, parent_hash, timestamp, has_logs FROM indexed_blocks "
                    "WHERE chain_id = :c AND number <= :n ORDER BY number DESC LIMIT :l"
                ),
                {"c": self.chain_id, "n": at_most, "l": limit},
            ).all()
        return [BlockHeader(int(r[0]), str(r[1]), str(r[2]), int(r[3]), bool(r[4])) for r in rows]

    def activities(self) -> dict[int, ActivityTerms]:
        """Every indexed activity's terms, by id (the context records are indexed with)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT a.activity_id, a.region, a.kind, a.reward, a.unit, "
                    "COALESCE((SELECT d.designated FROM activity_designations d WHERE d.chain_id = a.chain_id "
                    "AND d.activity_id = a.activity_id ORDER BY d.block_number DESC, d.log_index DESC LIMIT 1), "
                    "a.designated) FROM activity_registrations a WHERE a.chain_id = :c"
                ),
                {"c": self.chain_id},
            ).all()
        return {int(r[0]): ActivityTerms(int(r[1]), int(r[2]), int(r[3]), int(r[4]), bool(r[5])) for r in rows}

    def has_rows(self) -> bool:
        """Whether any event row of this chain is stored."""
        with self.engine.connect() as conn:
            for table in TABLE_COLUMNS:
                found = conn.execute(
                    text(f"SELECT 1 FROM {table} WHERE chain_id = :c LIMIT 1"), {"c": self.chain_id}
                ).first()
                if found:
                    return True
        return False

    # -- writes ------------------------------------------------------------------------------------

    def _insert(self, conn: Connection, table: str, rows: list[tuple[Any, ...]]) -> None:
        """``rows`` into ``table`` (columns as in ``self._columns``), existing keys left alone."""
        if not rows:
            return
        if self._postgres and len(rows) >= self.copy_from_rows:
            self._copy(conn, table, rows)
        else:
            conn.exec_driver_sql(self._insert_sql[table], rows)

    def _copy(self, conn: Connection, table: str, rows: list[tuple[Any, ...]]) -> None:
        from psycopg.errors import UniqueViolation

        columns = self._columns[table]
        names = ", ".join(columns)
        driver: Any = conn.connection.driver_connection  # psycopg's, inside SQLAlchemy's transaction
        with driver.cursor() as cursor:
            if table in TABLE_COLUMNS:
                # Event rows are new unless blocks are read again (a replay): straight into the table,
                # in chain order; a replay's unique violation undoes the savepoint and takes the way below.
                try:
                    with driver.transaction():
                        copy_rows(cursor, table, columns, rows)
                    return
                except UniqueViolation:
                    pass
            staging = f"copy_{table}"
            order = " ORDER BY block_number, log_index" if table in TABLE_COLUMNS else ""
            cursor.execute(
                f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA"
            )
            copy_rows(cursor, staging, columns, rows)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging}{order} ON CONFLICT DO NOTHING")
            cursor.execute(f"DROP TABLE {staging}")

    def write_chunk(
        self,
        contract: str,
        sink: ChunkSink,
        headers: Iterable[BlockHeader],
        checkpoint: Checkpoint,
        head_seen: int,
        keep_blocks_from: int,
    ) -> None:
        """Everything one chunk produced, atomically, including the new checkpoint."""
        with write_transaction(self.engine) as conn:
            for table, rows in sink.rows.items():
                self._insert(conn, table, rows)
            self._mark_dirty(conn, sink.ties, sink.days, sink.record_days)
            self._insert(
                conn,
                "indexed_blocks",
                [(self.chain_id, h.number, h.hash, h.parent_hash, h.timestamp, h.has_logs) for h in headers],
            )
            # Keep the headers of the reorg window's blocks with logs and of the checkpoint block: the
            # same set whatever the chunking was, so two runs over one chain leave identical tables.
            # The newest block with logs is kept even when it is older than the window, so a reorg on a
            # quiet chain still finds an ancestor.
            conn.execute(
                text(
                    "DELETE FROM indexed_blocks WHERE chain_id = :c AND "
                    "((number < :n AND number <> (SELECT COALESCE(MAX(number), -1) FROM indexed_blocks "
                    "WHERE chain_id = :c AND has_logs = true)) OR (number < :checkpoint AND has_logs = false))"
                ),
                {"c": self.chain_id, "n": keep_blocks_from, "checkpoint": checkpoint.block_number},
            )
            self._save_checkpoint(conn, contract, checkpoint, head_seen)

    def _mark_dirty(
        self,
        conn: Connection,
        ties: set[tuple[str, int]],
        days: set[tuple[int, int]],
        record_days: set[tuple[int, str]],
    ) -> None:
        self._insert(conn, "dirty_ties", list(ties))
        self._insert(conn, "dirty_days", list(days))
        for activity_id, participant in record_days:  # rare: revocations
            conn.execute(
                text(
                    "INSERT INTO dirty_days (region, day) SELECT DISTINCT region, day FROM contributions "
                    "WHERE activity_id = :a AND participant = :p ON CONFLICT DO NOTHING"
                ),
                {"a": activity_id, "p": participant},
            )

    def _save_checkpoint(self, conn: Connection, contract: str, checkpoint: Checkpoint, head_seen: int) -> None:
        conn.execute(
            text(
                "INSERT INTO indexer_checkpoints "
                "(chain_id, contract, block_number, block_hash, block_timestamp, updated_at, head_seen, last_error) "
                "VALUES (:c, :a, :n, :h, :t, :u, :head, NULL) "
                "ON CONFLICT (chain_id, contract) DO UPDATE SET block_number = excluded.block_number, "
                "block_hash = excluded.block_hash, block_timestamp = excluded.block_timestamp, "
                "updated_at = excluded.updated_at, head_seen = excluded.head_seen, last_error = NULL"
            ),
            {
                "c": self.chain_id,
                "a": contract,
                "n": checkpoint.block_number,
                "h": checkpoint.block_hash,
                "t": checkpoint.block_timestamp,
                "u": int(time.time()),
                "head": head_seen,
            },
        )

    def record_error(self, contract: str, message: str, head_seen: int | None = None) -> None:
        """Remember the last problem for ``tsunagari index status`` (no-op before the first checkpoint)."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                text(
                    "UPDATE indexer_checkpoints SET last_error = :e, last_error_at = :t, "
                    "head_seen = COALESCE(:h, head_seen) WHERE chain_id = :c AND contract = :a"
                ),
                {"e": message[:1000], "t": int(time.time()), "h": head_seen, "c": self.chain_id, "a": contract},
            )

    def rollback_to(self, contract: str, ancestor: BlockHeader) -> int:
        """Undo everything above ``ancestor``; returns how many event rows were removed."""
        removed = 0
        # One database indexes one chain: filtering on block_number alone lets SQLite use its index.
        params = {"c": self.chain_id, "n": ancestor.number}
        with write_transaction(self.engine) as conn:
            for statement in (
                "INSERT INTO dirty_ties (participant, region) SELECT DISTINCT participant, region FROM contributions "
                "WHERE block_number > :n ON CONFLICT DO NOTHING",
                "INSERT INTO dirty_ties (participant, region) SELECT DISTINCT participant, region FROM revocations "
                "WHERE block_number > :n ON CONFLICT DO NOTHING",
                "INSERT INTO dirty_ties (participant, region) SELECT DISTINCT supporter, region FROM supports "
                "WHERE block_number > :n ON CONFLICT DO NOTHING",
                "INSERT INTO dirty_days (region, day) SELECT DISTINCT region, day FROM contributions "
                "WHERE block_number > :n ON CONFLICT DO NOTHING",
                "INSERT INTO dirty_days (region, day) SELECT DISTINCT region, day FROM revocations "
                "WHERE block_number > :n ON CONFLICT DO NOTHING",
                "INSERT INTO dirty_days (region, day) SELECT DISTINCT region, day FROM supports "
                "WHERE block_number > :n ON CONFLICT DO NOTHING",
                "INSERT INTO dirty_days (region, day) SELECT DISTINCT region, day FROM coin_expiries "
                "WHERE block_number > :n ON CONFLICT DO NOTHING",
                # the days of records whose revocation is being undone
                "INSERT INTO dirty_days (region, day) SELECT DISTINCT c.region, c.day FROM contributions c "
                "JOIN revocations r ON r.chain_id = c.chain_id AND r.activity_id = c.activity_id "
                "AND r.participant = c.participant WHERE r.block_number > :n "
                "ON CONFLICT DO NOTHING",
            ):
                conn.execute(text(statement), params)
            for table in TABLE_COLUMNS:
                result = conn.execute(text(f"DELETE FROM {table} WHERE block_number > :n"), params)
                removed += int(result.rowcount or 0)
            conn.execute(text("DELETE FROM indexed_blocks WHERE chain_id = :c AND number > :n"), params)
            conn.execute(
                text(
                    "UPDATE indexer_checkpoints SET block_number = :n, block_hash = :h, block_timestamp = :t, "
                    "updated_at = :u WHERE chain_id = :c AND contract = :a"
                ),
                {**params, "h": ancestor.hash, "t": ancestor.timestamp, "u": int(time.time()), "a": contract},
            )
        return removed
