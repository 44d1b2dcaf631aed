"""Reading the index for an export: the block range, and every table as a stream of Arrow batches.

Memory stays flat in the number of rows. Event tables are read in **block windows** of about
``chunk_rows`` rows (at most twice that, unless one block holds more), sized by counting on the
``block_number`` indexes; nothing is ever sorted whole — not even ``coin_movements``, a ``UNION ALL``
view that no database can read in block order without sorting all of it. Each window is one
Parquet row group. Other tables are read through a streaming cursor in chunks of ``chunk_rows``.

Two ways rows become Arrow arrays:

- *generic* (any database, any table): the driver's rows are turned into columns in Python;
- *window text* (event tables, the large ones, on SQLite and PostgreSQL): the database formats each
  row of a window as one line of unit-separated text and joins the window into one value (SQLite:
  ``printf`` and ``group_concat``; PostgreSQL: ``concat_ws`` and ``string_agg`` in key order, sent
  as one ``bytea``), all in the database's C code and off the GIL, so a worker thread reads the next
  window while this one is converted (on PostgreSQL the server process formats it meanwhile); Arrow's
  C++ CSV parser turns the value into typed columns, and the window is sorted by key in Arrow when
  it did not come in order. Python never handles a row. It is used only where every column is an
  integer, a boolean or 0x-hex text, which can never contain the separator; anything else makes the
  parser fail loudly, never misread. Not ``COPY … TO STDOUT``: libpq hands a COPY over one message
  per row, and psycopg one Python object per message (2–3 µs of client CPU a row, measured; more
  than all the rest of the export), see docs/decisions/0019.

Both paths produce the same files (tests export every table both ways, on SQLite and on
PostgreSQL, and compare them).
"""

from __future__ import annotations

import array
import dataclasses
import re
import sqlite3
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
from sqlalchemy import Connection, text

from ledger import jst
from ledger.db import models
from ledger.export.errors import ExportError, IndexNotReady, InvalidExportOptions, RangeBeyondHead
from ledger.export.pseudonym import Pseudonymiser
from ledger.export.schema import COIN_MOVEMENT_SOURCES, PROVENANCE, ExportTable, arrow_schema, arrow_type
from ledger.figures import FIGURES
from ledger.indexer.refresh import head_as_of
from ledger.queries import suppress
from ledger.taxonomy import KIND_LABELS, TYPE_LABELS, UNIT_LABELS, ContributionKind, MlitType, RewardUnit, is_visiting
from ledger.ties import DEFAULT_PARAMS, tie_reading

__all__ = [
    "ContractInfo",
    "ChainInfo",
    "BlockRange",
    "ReadPlan",
    "resolve_range",
    "read_table",
    "jst_day_start",
    "jst_date_of",
]

DbKind = Literal["int", "bool", "hex", "code", "free", "float"]


@dataclass(frozen=True)
class ContractInfo:
    """One indexed contract, as the manifest records it."""

    name: str
    address: str  # lowercase hex
    start_block: int
    abi_sha256: str


@dataclass(frozen=True)
class ChainInfo:
    """What the exporter needs to know about the chain: its id and the indexed contracts."""

    chain_id: int
    contracts: tuple[ContractInfo, ...]
    start_block_hash: str | None = None  # hash of the first contract's start block, when known

    @property
    def start_block(self) -> int:
        return min(c.start_block for c in self.contracts)


@dataclass(frozen=True)
class BlockRange:
    """The exported block range with its end blocks' hashes, and the index's head at export time."""

    from_block: int
    from_hash: str
    from_timestamp: int
    to_block: int
    to_hash: str
    to_timestamp: int
    head_block: int
    head_hash: str
    head_timestamp: int
    from_date: date | None = None
    to_date: date | None = None


@dataclass(frozen=True)
class ReadPlan:
    """Everything a table reader needs besides the connection."""

    chain: ChainInfo
    range: BlockRange
    regions: tuple[int, ...] | None
    pseudonymiser: Pseudonymiser | None  # None: raw addresses
    k: int
    chunk_rows: int
    fast_reader: bool = True  # the window text reader where it applies (False: generic, for tests)


# ---------------------------------------------------------------------------------------------
# Calendar
# ---------------------------------------------------------------------------------------------


# The shared JST calendar (ledger/jst.py); the two names stay importable from here.
jst_day_start = jst.day_start
jst_date_of = jst.date_of
_day_int = jst.day_key_of_date


# ---------------------------------------------------------------------------------------------
# The block range
# ---------------------------------------------------------------------------------------------

# Every event table of the index: any of them may hold the log that makes a block known.
_EVENT_TABLES_FOR_RANGE = tuple(m.__tablename__ for m in models.EVENT_TABLES)


def _checkpoint(conn: Connection, chain: ChainInfo) -> tuple[int, str, int]:
    contract = chain.contracts[0].address.lower()
    row = conn.execute(
        text(
            "SELECT block_number, block_hash, block_timestamp FROM indexer_checkpoints "
            "WHERE chain_id = :c AND contract = :a"
        ),
        {"c": chain.chain_id, "a": contract},
    ).first()
    if row is None:
        raise IndexNotReady(
            f"the database has no index of chain {chain.chain_id} contract {contract}: run `tsunagari index backfill`"
        )
    return int(row[0]), str(row[1]), int(row[2])


def _known_block(conn: Connection, number: int) -> tuple[str, int] | None:
    """(hash, timestamp) of block ``number`` from the index: a stored header or any event row in it."""
    row = conn.execute(text("SELECT hash, timestamp FROM indexed_blocks WHERE number = :n"), {"n": number}).first()
    if row is not None:
        return str(row[0]), int(row[1])
    for table in _EVENT_TABLES_FOR_RANGE:
        row = conn.execute(
            text(f"SELECT block_hash, block_timestamp FROM {table} WHERE block_number = :n LIMIT 1"), {"n": number}
        ).first()
        if row is not None:
            return str(row[0]), int(row[1])
    return None


def _block_with_logs(conn: Connection, timestamp: int, lo: int, hi: int, first: bool) -> int | None:
    """The first (or last) block in [lo, hi] holding a log at or after (or before) ``timestamp``."""
    best: int | None = None
    for table in _EVENT_TABLES_FOR_RANGE:
        pick, compare = ("MIN", ">=") if first else ("MAX", "<=")
        sql = (
            f"SELECT {pick}(block_number) FROM {table} "
            f"WHERE block_timestamp {compare} :t AND block_number BETWEEN :lo AND :hi"
        )
        value = conn.execute(text(sql), {"t": timestamp, "lo": lo, "hi": hi}).scalar()
        if value is not None:
            value = int(value)
            best = value if best is None else (min(best, value) if first else max(best, value))
    return best


def resolve_range(
    conn: Connection,
    chain: ChainInfo,
    from_block: int | None,
    to_block: int | None,
    from_date: date | None,
    to_date: date | None,
    fetch_header: Any = None,
) -> BlockRange:
    """The block range to export, checked against the indexed head.

    Blocks default to the deployment's start block and the indexed head (the checkpoint). JST dates
    become the first and last block *with logs* inside those days, so the range holds every log
    of the days and both its ends are blocks whose hashes the index knows. An explicit block whose
    hash the index does not know (no log in it, not a stored header) needs ``fetch_header``
    (block number → (hash, timestamp)), normally the chain's ``eth_getBlockByNumber``.
    """
    if (from_block is not None or to_block is not None) and (from_date is not None or to_date is not None):
        raise InvalidExportOptions("give a block range or a date range, not both")
    head, head_hash, head_ts = _checkpoint(conn, chain)
    start = chain.start_block
    if from_date is not None or to_date is not None:
        if from_date is not None and to_date is not None and from_date > to_date:
            raise InvalidExportOptions(f"from_date {from_date} is after to_date {to_date}")
        head_day = jst_date_of(head_ts)
        for day in (to_date, from_date):
            if day is not None and day > head_day:
                raise RangeBeyondHead(_day_int(day), head, f"{day.isoformat()} (JST)", head_day.isoformat())
        t0 = jst_day_start(from_date) if from_date is not None else None
        t1 = jst.day_end(to_date) if to_date is not None else None
        lo = start if t0 is None else _block_with_logs(conn, t0, start, head, first=True)
        hi = head if t1 is None else _block_with_logs(conn, t1, start, head, first=False)
        if lo is None or hi is None or lo > hi:
            raise InvalidExportOptions(
                f"no indexed log between {from_date or 'the start'} and {to_date or 'the head'} (JST): "
                "nothing to export"
            )
        from_block, to_block = lo, hi
    first = start if from_block is None else from_block
    last = head if to_block is None else to_block
    if first < 0 or last < 0:
        raise InvalidExportOptions("block numbers cannot be negative")
    if last > head:
        raise RangeBeyondHead(last, head)
    first = max(first, start)  # nothing of the ledger exists before its deployment
    if first > last:
        raise InvalidExportOptions(f"the range is empty: from block {first} is after to block {last}")
    from_hash, from_ts = _hash_of(conn, chain, first, head, head_hash, head_ts, fetch_header)
    to_hash, to_ts = _hash_of(conn, chain, last, head, head_hash, head_ts, fetch_header)
    return BlockRange(first, from_hash, from_ts, last, to_hash, to_ts, head, head_hash, head_ts, from_date, to_date)


def _hash_of(
    conn: Connection,
    chain: ChainInfo,
    number: int,
    head: int,
    head_hash: str,
    head_ts: int,
    fetch_header: Any,
) -> tuple[str, int]:
    if number == head:
        return head_hash, head_ts
    known = _known_block(conn, number)
    if known is not None:
        return known
    if fetch_header is not None:
        got = fetch_header(number)
        return str(got[0]).lower(), int(got[1])
    raise InvalidExportOptions(
        f"block {number} has no indexed log and no stored header, so its hash is unknown: pass the chain's RPC "
        "endpoint to the export, or start/end the range at a block with events (or use a date range)"
    )


# ---------------------------------------------------------------------------------------------
# Columns as the database gives them
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DbColumn:
    name: str
    expr: str
    kind: DbKind
    nullable: bool = False


def _db_kind(table: ExportTable, name: str) -> DbKind:
    f = table.field(name)
    # Dates are YYYYMMDD integers in the index, and municipality codes integers.
    if f.type in ("integer", "date") or f.jis:
        return "int"
    if f.type == "boolean":
        return "bool"
    if f.type == "number":
        return "float"
    return f.text


def _columns(table: ExportTable, alias: str, names: Sequence[str] | None = None) -> list[DbColumn]:
    prefix = f"{alias}." if alias else ""
    return [
        DbColumn(n, f"{prefix}{n}", _db_kind(table, n), table.field(n).nullable)
        for n in (names if names is not None else table.field_names)
    ]


def _db_arrow_type(kind: DbKind) -> pa.DataType:
    return {"int": pa.int64(), "bool": pa.bool_(), "float": pa.float64()}.get(kind, pa.string())


def _rows_to_batch(rows: Sequence[Sequence[Any]], columns: Sequence[DbColumn]) -> pa.RecordBatch:
    arrays: list[pa.Array] = []
    values_by_column = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    for column, values in zip(columns, values_by_column, strict=True):
        if column.kind == "bool":
            arrays.append(pa.array(values).cast(pa.bool_()))  # SQLite gives 0/1, PostgreSQL booleans
        elif column.kind == "int":
            arrays.append(pa.array([None if v is None else int(v) for v in values], pa.int64()))
        else:
            arrays.append(pa.array(values, _db_arrow_type(column.kind)))
    return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])


def _generic_batches(
    conn: Connection, columns: Sequence[DbColumn], tail: str, params: dict[str, Any], chunk: int
) -> Iterator[pa.RecordBatch]:
    sql = f"SELECT {', '.join(c.expr for c in columns)} {tail}"
    result = conn.execute(text(sql).execution_options(stream_results=True, yield_per=chunk), params)
    try:
        for part in result.partitions(chunk):
            yield _rows_to_batch(part, columns)
    finally:
        result.close()


# ---------------------------------------------------------------------------------------------
# Event tables: block windows
# ---------------------------------------------------------------------------------------------

_SEPARATOR = "\x1f"  # ASCII unit separator: never in an integer or 0x-hex text


@dataclass(frozen=True)
class _EventQuery:
    """How to read one event table: its columns, FROM/JOIN clause, window filter and sort order."""

    columns: list[DbColumn]
    source: str  # FROM ... (JOIN ...)
    block_column: str  # the block number column to window on
    region_column: str  # "" when not filtered by region
    order: list[str]  # sort keys (column names of ``columns``)
    count_tables: tuple[tuple[str, int], ...]  # (table, rows per index row) to size the windows


def _count(conn: Connection, query: _EventQuery, lo: int, hi: int) -> int:
    total = 0
    for name, weight in query.count_tables:
        n = conn.execute(
            text(f"SELECT COUNT(*) FROM {name} WHERE block_number BETWEEN :a AND :b"), {"a": lo, "b": hi}
        ).scalar()
        total += int(n or 0) * weight
    return total


def _windows(conn: Connection, query: _EventQuery, first: int, last: int, chunk: int) -> Iterator[tuple[int, int]]:
    """Block windows over [first, last] of at most about ``2 * chunk`` rows each (a single block can
    hold more; it is never split). Counting walks the block_number indexes only; each window is
    counted when it is asked for, so the fast reader counts the next one while this one is converted."""
    total = _count(conn, query, first, last)
    if total == 0:
        return
    span = max(1, (last - first + 1) * chunk // total)
    lo = first
    while lo <= last:
        hi = min(last, lo + span - 1)
        n = _count(conn, query, lo, hi)
        while n > 2 * chunk and hi > lo:
            span = max(1, span // 2)
            hi = min(last, lo + span - 1)
            n = _count(conn, query, lo, hi)
        if n:
            yield lo, hi
        if n < chunk // 2:
            span *= 2
        lo = hi + 1


def _window_sql(query: _EventQuery, plan: ReadPlan, fast: str | None) -> tuple[str, dict[str, Any]]:
    """The SQL of one window: ``fast`` None gives the tail after ``SELECT <columns>`` (generic reader),
    ``"sqlite"`` / ``"postgresql"`` one value holding the whole window as unit-separated text."""
    params: dict[str, Any] = {"t": plan.range.to_block}
    where = f"WHERE {query.block_column} BETWEEN :a AND :b" + _region_filter(plan, query.region_column, params)
    order = ", ".join(f"{c.expr}" for name in query.order for c in query.columns if c.name == name)
    if fast is None:
        return f"{query.source} {where} ORDER BY {order}", params
    if fast == "postgresql":
        # concat_ws formats each value with its type's output function (a boolean is t / f) and
        # drops NULLs, so a nullable column's NULL is made '' first (else the columns would shift).
        # Neither a cast per value nor an ORDER BY in the aggregate: they were 35% and 40% more
        # server time (the window is in order as the block_number index returns it, and sorted by
        # the client when it is not). bytea, so the driver hands over bytes without decoding.
        values = [f"COALESCE(CAST({c.expr} AS text), '')" if c.nullable else c.expr for c in query.columns]
        line = f"concat_ws(E'\\x1f', {', '.join(values)})"
        sql = f"SELECT convert_to(string_agg({line}, E'\\n'), 'UTF8') {query.source} {where}"
        return _psycopg_placeholders(sql, {*params, "a", "b"}), params
    formats, exprs = [], []
    for c in query.columns:
        if c.nullable:
            formats.append("%s")
            exprs.append(f"ifnull({c.expr}, '')")
        else:
            formats.append("%d" if c.kind in ("int", "bool") else "%s")
            exprs.append(c.expr)
    # One string per window: SQLite builds it in C (without the GIL, so the next window is read
    # while this one is converted), and Python never sees a row.
    line = f"printf('{_SEPARATOR.join(formats)}', {', '.join(exprs)})"
    return f"SELECT CAST(group_concat({line}, char(10)) AS BLOB) {query.source} {where}", params


def _psycopg_placeholders(sql: str, names: set[str]) -> str:
    """``:name`` → ``%(name)s`` for the driver's cursor (the fast reader bypasses SQLAlchemy)."""
    return re.sub(r"(?<![:\w]):(\w+)", lambda m: f"%({m[1]})s" if m[1] in names else m[0], sql)


def _parse_window(data: bytes, query: _EventQuery) -> pa.RecordBatch | None:
    names = [c.name for c in query.columns]
    convert = pacsv.ConvertOptions(
        column_types={c.name: _db_arrow_type(c.kind) for c in query.columns},
        null_values=[""],
        true_values=["1", "t"],  # SQLite's and PostgreSQL's booleans
        false_values=["0", "f"],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    parse = pacsv.ParseOptions(delimiter=_SEPARATOR, quote_char=False, double_quote=False, escape_char=False)
    read = pacsv.ReadOptions(column_names=names, block_size=1 << 20, use_threads=False)
    try:
        parsed = pacsv.read_csv(pa.BufferReader(data), read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise ExportError(f"a value in the index does not fit its column type: {exc}") from exc
    if parsed.num_rows == 0:
        return None
    table = parsed.combine_chunks()
    if not _in_block_order(table):
        table = table.take(pc.sort_indices(table, sort_keys=[(k, "ascending") for k in query.order]))
        table = table.combine_chunks()
    batches = table.to_batches()
    return batches[0] if batches else None


def _in_block_order(table: pa.Table) -> bool:
    """Whether rows are strictly increasing in (block_number, log_index) — as SQLite returns them
    when it walks the block_number index, so the sort is usually skipped."""
    n = table.num_rows
    if n < 2:
        return True
    blocks, logs = table.column("block_number"), table.column("log_index")
    b0, b1 = blocks.slice(0, n - 1), blocks.slice(1)
    later = pc.greater(b1, b0)
    same = pc.and_(pc.equal(b1, b0), pc.greater(logs.slice(1), logs.slice(0, n - 1)))
    return bool(pc.all(pc.or_(later, same)).as_py())


def _fast_windows(
    conn: Connection, query: _EventQuery, plan: ReadPlan, windows: Iterator[tuple[int, int]]
) -> Iterator[pa.RecordBatch]:
    dialect = conn.dialect.name
    sql, params = _window_sql(query, plan, fast=dialect)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    # On PostgreSQL the worker thread also counts the next window (its time was spent before the
    # first row otherwise: 3% of an export); an SQLite connection may be bound to this thread, so
    # there the windows are counted here, up front, as the worker may have to hand a read back.
    lazy = dialect == "postgresql"
    if not lazy:
        windows = iter(list(windows))

    def read(window: tuple[int, int]) -> bytes | None:
        bound = {**params, "a": window[0], "b": window[1]}
        if lazy:
            cursor.execute(sql, bound, binary=True)  # the bytea as it is, no hex text to decode
        else:
            cursor.execute(sql, bound)
        row = cursor.fetchone()
        return None if row is None else row[0]

    def job(window: tuple[int, int] | None) -> tuple[tuple[int, int] | None, bytes | None]:
        """(window, its text); ``window`` None: the next one, counted first (None past the last)."""
        if window is None:
            window = next(windows, None)
            if window is None:
                return None, None
        return window, read(window)

    def ahead() -> tuple[int, int] | None:
        return None if lazy else next(windows, None)

    try:
        # The next window is read by a worker thread while this one is parsed and written; the
        # connection is only ever used by one thread at a time.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tsunagari-export") as pool:
            threaded = True
            planned = ahead()
            future = pool.submit(job, planned) if lazy or planned is not None else None
            while future is not None or (not threaded and planned is not None):
                if threaded and future is not None:
                    try:
                        window, data = future.result()
                    except sqlite3.ProgrammingError:  # a connection bound to its thread
                        threaded = False
                        window, data = job(planned)
                else:
                    window, data = job(planned)
                if window is None:
                    break
                planned = ahead()
                future = pool.submit(job, planned) if threaded and (lazy or planned is not None) else None
                batch = _parse_window(data, query) if data else None
                if batch is not None:
                    yield batch
    finally:
        cursor.close()


def _window_batches(conn: Connection, query: _EventQuery, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    windows = _windows(conn, query, plan.range.from_block, plan.range.to_block, plan.chunk_rows)
    fast = (
        plan.fast_reader
        and conn.dialect.name in ("sqlite", "postgresql")
        and all(c.kind in ("int", "bool", "hex", "code") for c in query.columns)
    )
    if fast:
        yield from _fast_windows(conn, query, plan, windows)
        return
    tail, params = _window_sql(query, plan, fast=None)
    for lo, hi in windows:
        yield from _generic_batches(conn, query.columns, tail, {**params, "a": lo, "b": hi}, plan.chunk_rows)


# ---------------------------------------------------------------------------------------------
# From database columns to the export's
# ---------------------------------------------------------------------------------------------

_DATE_CACHE: dict[int, int] = {}


def _yyyymmdd_to_days(value: int) -> int:
    cached = _DATE_CACHE.get(value)
    if cached is None:
        cached = jst.epoch_day_of_date(jst.date_of_day_key(value))
        if len(_DATE_CACHE) < 100_000:
            _DATE_CACHE[value] = cached
    return cached


def _to_dates(values: pa.Array) -> pa.Array:
    """YYYYMMDD integers → date32, converting each distinct day once. The days are packed into a
    buffer rather than passed to ``pa.array(list)``, whose first call imports pandas (0.7 s)."""
    encoded = values.dictionary_encode()  # nulls stay in the indices, never in the dictionary
    days = array.array("i", [_yyyymmdd_to_days(v) for v in encoded.dictionary.to_pylist()])
    dictionary = pa.Array.from_buffers(pa.date32(), len(days), [None, pa.py_buffer(days.tobytes())])
    return pc.take(dictionary, encoded.indices)


def _finish(table: ExportTable, batch: pa.RecordBatch, plan: ReadPlan) -> pa.RecordBatch:
    """Database columns → the export's: dates, pseudonyms, flags and exact types."""
    schema = arrow_schema(table)
    pseudonymiser = plan.pseudonymiser
    arrays: list[pa.Array] = []
    for f in table.fields:
        if f.name in ("revoked", "closed"):
            source = "revoked_block" if f.name == "revoked" else "closed_block"
            arrays.append(pc.is_valid(batch.column(source)))
            continue
        column = batch.column(f.name)
        if f.type == "date":
            column = _to_dates(column)
        elif f.jis and not pa.types.is_string(column.type):
            column = pc.utf8_lpad(column.cast(pa.string()), 5, "0")  # 1634 → "01634" (jis_code)
        elif f.personal and pseudonymiser is not None:
            column = pseudonymiser.array(column)
        target = arrow_type(f)
        if column.type != target:
            column = column.cast(target)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# ---------------------------------------------------------------------------------------------
# The tables
# ---------------------------------------------------------------------------------------------


def _region_filter(plan: ReadPlan, column: str, params: dict[str, Any]) -> str:
    if plan.regions is None or not column:
        return ""
    names = []
    for i, region in enumerate(plan.regions):
        params[f"region{i}"] = region
        names.append(f":region{i}")
    # The unary plus keeps the planner on the block_number index (a region index would make it
    # read the whole table for every window), on SQLite and PostgreSQL alike.
    return f" AND +{column} IN ({', '.join(names)})"


def _event_query(conn: Connection, table: ExportTable, plan: ReadPlan) -> _EventQuery:
    if table.name == "contributions":
        plain = [n for n in table.field_names if not n.startswith("revoked")]
        columns = _columns(table, "c", plain)
        revocations = conn.execute(
            text("SELECT COUNT(*) FROM revocations WHERE block_number <= :t"), {"t": plan.range.to_block}
        ).scalar()
        source = "FROM contributions c"
        if revocations:
            columns += [
                DbColumn("revoked_block", "r.block_number", "int", nullable=True),
                DbColumn("revoked_tx_hash", "r.tx_hash", "hex", nullable=True),
                DbColumn("revoked_log_index", "r.log_index", "int", nullable=True),
            ]
            source += (
                " LEFT JOIN revocations r ON r.activity_id = c.activity_id AND r.participant = c.participant "
                "AND r.chain_id = c.chain_id AND r.block_number <= :t"
            )
        return _EventQuery(
            columns,
            source,
            "c.block_number",
            "c.region",
            ["block_number", "log_index"],
            (("contributions", 1),),
        )
    if table.name == "coin_movements":
        counts = tuple((source, len(movements)) for source, movements in COIN_MOVEMENT_SOURCES.items())
        return _EventQuery(
            _columns(table, ""),
            "FROM coin_movements",
            "block_number",
            "region",
            ["block_number", "log_index", "movement"],
            counts,
        )
    index_table = table.index_table or table.name
    return _EventQuery(
        _columns(table, ""),
        f"FROM {index_table}",
        "block_number",
        table.region_field or "",
        ["block_number", "log_index"],
        ((index_table, 1),),
    )


def _event_batches(conn: Connection, table: ExportTable, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    query = _event_query(conn, table, plan)
    missing = [n for n in ("revoked_block", "revoked_tx_hash", "revoked_log_index") if table.name == "contributions"]
    missing = [n for n in missing if n not in {c.name for c in query.columns}]
    for batch in _window_batches(conn, query, plan):
        if not missing:
            yield batch
            continue
        # No revocation up to the last block: the revocation columns are all empty.
        n = batch.num_rows
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, pa.nulls(n, pa.int64()), pa.nulls(n, pa.string()), pa.nulls(n, pa.int64())],
            names=[*batch.schema.names, "revoked_block", "revoked_tx_hash", "revoked_log_index"],
        )


def _latest(column: str, changes: str, key: str, default: str) -> str:
    """SQL for the value of ``column`` in the last row of ``changes`` about entity ``x`` up to block
    ``:t`` (``default`` when there is none): an entity's state as of the export's last block."""
    return (
        f"COALESCE((SELECT s.{column} FROM {changes} s WHERE s.chain_id = x.chain_id AND s.{key} = x.{key} "
        f"AND s.block_number <= :t ORDER BY s.block_number DESC, s.log_index DESC LIMIT 1), {default})"
    )


def _entity_batches(conn: Connection, table: ExportTable, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    params: dict[str, Any] = {"t": plan.range.to_block}
    prov = [DbColumn(f.name, f"x.{f.name}", _db_kind(table, f.name)) for f in PROVENANCE]
    where = _region_filter(plan, "x.region", params)
    if table.name == "regions":
        columns = [
            *prov,
            DbColumn("region", "x.region", "int"),
            DbColumn("name", "x.name", "free"),
            DbColumn("symbol", "x.symbol", "free"),
            DbColumn("coin", "x.coin", "hex"),
            DbColumn("first_admin", "x.admin", "hex"),
            DbColumn("paused", _latest("paused", "region_pause_changes", "region", "false"), "bool"),
            DbColumn("transfers_enabled", _latest("enabled", "region_transfer_settings", "region", "false"), "bool"),
            DbColumn("expiry_days", _latest("expiry_days", "region_expiry_settings", "region", "0"), "int"),
        ]
        order = "x.region"
    else:
        kind, closures = (
            ("activity_id", "activity_closures") if table.name == "activities" else ("project_id", "project_closures")
        )
        own = [
            n
            for n in table.field_names
            if n not in {f.name for f in PROVENANCE} and n not in ("closed", "closed_block")
        ]
        # An activity's designation may change before it starts, and an activity's or a project's
        # metadata hash at any time: the last change up to the last block, else the registration's.
        metadata_changes = "activity_metadata_changes" if table.name == "activities" else "project_metadata_changes"
        changed = {"metadata_hash": _latest("metadata_hash", metadata_changes, kind, "x.metadata_hash")}
        if table.name == "activities":
            changed["designated"] = _latest("designated", "activity_designations", "activity_id", "x.designated")
        columns = [
            *prov,
            *(DbColumn(n, changed.get(n, f"x.{n}"), _db_kind(table, n)) for n in own),
            DbColumn(
                "closed_block",
                f"(SELECT MIN(c.block_number) FROM {closures} c WHERE c.chain_id = x.chain_id "
                f"AND c.{kind} = x.{kind} AND c.block_number <= :t)",
                "int",
                nullable=True,
            ),
        ]
        order = f"x.{kind}"
    tail = f"FROM {table.index_table} x WHERE x.block_number <= :t{where} ORDER BY {order}"
    yield from _generic_batches(conn, columns, tail, params, plan.chunk_rows)


# Not stored (they decay daily, docs/decisions/0016): computed for the head's day by _with_readings,
# in place of a stored column of the same type read as a placeholder (a literal 0.0 is NUMERIC on
# PostgreSQL).
_TIE_READINGS = {"recency": "continuity", "score": "continuity", "as_of": "last_at"}


def _with_readings(batch: pa.RecordBatch, as_of: int) -> pa.RecordBatch:
    """``batch`` with recency and score computed for ``as_of`` (ledger.ties.tie_reading, the one
    definition the pages and export verify use too) and ``as_of`` filled in."""
    readings = [
        tie_reading(last_at, continuity, frequency, diversity, intensity, as_of, DEFAULT_PARAMS)
        for last_at, continuity, frequency, diversity, intensity in zip(
            *(batch.column(n).to_pylist() for n in ("last_at", "continuity", "frequency", "diversity", "intensity")),
            strict=True,
        )
    ]
    replaced = {
        "recency": pa.array([r for r, _ in readings], pa.float64()),
        "score": pa.array([s for _, s in readings], pa.float64()),
        "as_of": pa.array([as_of] * batch.num_rows, pa.int64()),
    }
    arrays = [replaced.get(name, batch.column(name)) for name in batch.schema.names]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _tie_batches(conn: Connection, table: ExportTable, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    params: dict[str, Any] = {}
    where = _region_filter(plan, "region", params)
    columns = [dataclasses.replace(c, expr=_TIE_READINGS.get(c.name, c.expr)) for c in _columns(table, "")]
    tail = f"FROM ties WHERE 1 = 1{where} ORDER BY region, participant"
    as_of = head_as_of(conn) or 0
    batches = (_with_readings(b, as_of) for b in _generic_batches(conn, columns, tail, params, plan.chunk_rows))
    if plan.pseudonymiser is None:
        yield from batches
        return
    # Rows ordered by the raw address would let anyone who knows the addresses line them up with
    # the pseudonyms; so a pseudonymised table is ordered by (region, pseudonym), in memory (one row
    # per person × region, far fewer than records).
    finished = [_finish(table, b, plan) for b in batches]
    if not finished:
        return
    whole = pa.Table.from_batches(finished, schema=arrow_schema(table))
    whole = whole.take(pc.sort_indices(whole, sort_keys=[("region", "ascending"), ("participant", "ascending")]))
    for batch in whole.combine_chunks().to_batches(max_chunksize=plan.chunk_rows):
        yield batch.replace_schema_metadata({b"finished": b"1"})


def _day_params(plan: ReadPlan) -> dict[str, Any]:
    return {
        "d0": _day_int(jst_date_of(plan.range.from_timestamp)),
        "d1": _day_int(jst_date_of(plan.range.to_timestamp)),
    }


def daily_row(
    region: int, day: int, kind: int, mlit_type: int, records: int, people: int, issued: int, revoked: int, *, k: int
) -> tuple[Any, ...]:
    """A ``region_daily`` row as exported: counts below ``k`` empty, coins empty with the people count.
    The exporter applies it to the index's rollup and verify to its own tally of the chain's rows."""
    shown = suppress(int(people), k)
    return (
        region,
        day,
        kind,
        mlit_type,
        suppress(int(records), k),
        shown,
        None if shown is None else int(issued),
        suppress(int(revoked), k),
    )


def daily_coins_row(
    region: int,
    day: int,
    issued: int,
    spent: int,
    clawed: int,
    supports: int,
    revocations: int,
    expired: int,
    people: int | None,
    holders: int,
    *,
    k: int,
) -> tuple[Any, ...]:
    """A ``region_daily_coins`` row as exported (``people``: the most people of one kind that day,
    ``holders``: the people whose coins lapsed that day). See :func:`daily_row`."""
    shown_supports = suppress(int(supports), k)
    shown_revocations = suppress(int(revocations), k)
    shown_holders = suppress(int(holders), k)
    # Issued coins are shown only when some kind that day had k or more people (a lower
    # bound of the day's distinct people), as the dashboards hide coins of small groups.
    issued_shown = int(issued) if people is not None and suppress(int(people), k) is not None else None
    if int(issued) == 0:
        issued_shown = 0
    return (
        region,
        day,
        issued_shown,
        None if shown_supports is None else int(spent),
        None if shown_revocations is None else int(clawed),
        shown_supports,
        shown_revocations,
        None if shown_holders is None else int(expired),
    )


def _daily_batches(conn: Connection, table: ExportTable, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    params = _day_params(plan)
    where = _region_filter(plan, "region", params)
    columns = _columns(table, "")
    tail = f"FROM region_daily WHERE day BETWEEN :d0 AND :d1{where} ORDER BY region, day, kind"
    k = plan.k
    sql = f"SELECT {', '.join(c.expr for c in columns)} {tail}"
    result = conn.execute(text(sql).execution_options(stream_results=True, yield_per=plan.chunk_rows), params)
    try:
        for part in result.partitions(plan.chunk_rows):
            rows = [daily_row(*row, k=k) for row in part]
            yield _rows_to_batch(rows, columns)
    finally:
        result.close()


def _daily_coin_batches(conn: Connection, table: ExportTable, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    params = _day_params(plan)
    where = _region_filter(plan, "c.region", params)
    columns = _columns(table, "c")
    # People whose coins lapsed, per region and day: one grouped pass over the range's expiries.
    holders = (
        "SELECT region, day, COUNT(DISTINCT holder) AS holders FROM coin_expiries "
        "WHERE day BETWEEN :d0 AND :d1 GROUP BY region, day"
    )
    sql = (
        f"SELECT {', '.join(c.expr for c in columns)}, "
        "(SELECT MAX(d.participants) FROM region_daily d WHERE d.region = c.region AND d.day = c.day), "
        f"COALESCE(e.holders, 0) FROM region_daily_coins c LEFT JOIN ({holders}) e "
        "ON e.region = c.region AND e.day = c.day "
        f"WHERE c.day BETWEEN :d0 AND :d1{where} ORDER BY c.region, c.day"
    )
    k = plan.k
    result = conn.execute(text(sql).execution_options(stream_results=True, yield_per=plan.chunk_rows), params)
    try:
        for part in result.partitions(plan.chunk_rows):
            rows = [daily_coins_row(*row, k=k) for row in part]
            yield _rows_to_batch(rows, columns)
    finally:
        result.close()


def _metadata_text_batches(conn: Connection, table: ExportTable, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    """The off-chain texts of every metadata hash the export's activities and projects had up to the last block."""
    params: dict[str, Any] = {"t": plan.range.to_block}
    sources = []
    for index_table in (
        "activity_registrations",
        "activity_metadata_changes",
        "project_registrations",
        "project_metadata_changes",
    ):
        where = _region_filter(plan, "region", params)
        sources.append(f"SELECT metadata_hash FROM {index_table} WHERE block_number <= :t{where}")
    tail = f"FROM activity_metadata WHERE metadata_hash IN ({' UNION '.join(sources)}) ORDER BY metadata_hash"
    yield from _generic_batches(conn, _columns(table, ""), tail, params, plan.chunk_rows)


def reference_rows(table: ExportTable) -> list[tuple[Any, ...]]:
    """The rows of a reference table that comes from code (kinds, reward units, figures, ties parameters):
    what the exporter writes and what verify expects."""
    if table.name == "kinds":
        rows = []
        for kind in ContributionKind:
            mlit = MlitType(int(kind) // 10)
            rows.append(
                (
                    int(kind),
                    KIND_LABELS[kind][0],
                    KIND_LABELS[kind][1],
                    int(mlit),
                    TYPE_LABELS[mlit][0],
                    TYPE_LABELS[mlit][1],
                    is_visiting(int(kind)),
                )
            )
        return rows
    if table.name == "reward_units":
        return [(int(unit), UNIT_LABELS[unit][0], UNIT_LABELS[unit][1]) for unit in RewardUnit]
    if table.name == "figures":
        return [(f.id, f.label_ja, f.label_en, f.definition_ja, f.definition_en) for f in FIGURES.values()]
    if table.name == "tie_parameters":
        return [
            (f.name, float(getattr(DEFAULT_PARAMS, f.name)), _parameter_part(f.name))
            for f in dataclasses.fields(DEFAULT_PARAMS)
        ]
    raise ExportError(f"{table.name} is not a reference table from code")


def _parameter_part(name: str) -> str:
    if name.startswith("weight_"):
        return "weight"
    if name.endswith("window_days"):
        return "window"
    if name.startswith(("repeater_", "kankei_", "core_")):
        return "stage threshold"
    return "component"


def read_table(conn: Connection, table: ExportTable, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
    """``table``'s rows for ``plan``, in the export's schema, ``plan.chunk_rows`` rows at a time."""
    if plan.regions is not None and table.empty_when_region_filtered:
        return
    if table.kind == "events":
        raw = _event_batches(conn, table, plan)
    elif table.kind == "entities":
        raw = _entity_batches(conn, table, plan)
    elif table.name == "ties":
        raw = _tie_batches(conn, table, plan)
    elif table.name == "region_daily":
        raw = _daily_batches(conn, table, plan)
    elif table.name == "region_daily_coins":
        raw = _daily_coin_batches(conn, table, plan)
    elif table.name == "metadata_texts":
        raw = _metadata_text_batches(conn, table, plan)
    elif table.kind == "reference":
        raw = iter([_rows_to_batch(reference_rows(table), _columns(table, ""))])
    else:  # pragma: no cover - every table of schema.TABLES is handled above
        raise ExportError(f"no reader for table {table.name}")
    for batch in raw:
        if batch.schema.metadata and batch.schema.metadata.get(b"finished") == b"1":
            yield batch.replace_schema_metadata(None)
        elif batch.num_rows:
            yield _finish(table, batch, plan)
