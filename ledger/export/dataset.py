"""Making an export: options, the plan, and the two ways out — a folder, or a streamed ZIP.

Both ways run one generator (:func:`_write_export`) that writes every table through a target and
then ``datapackage.json``, ``README.md`` and ``manifest.json`` (in that order: the manifest holds the
hashes of the other two). It yields after every chunk so the ZIP stream can hand bytes on while
the next chunk is read; nothing of the dataset is held in memory beyond one chunk.

A folder export is written into a hidden temporary folder beside the destination
(``.NAME.partial-XXXX``) and renamed into place only when complete, so an interrupted export (a
crash, a kill, a full disk) never leaves a folder that looks like an export: the temporary one has
no manifest, and is removed when the failure is an exception.

The whole export reads one snapshot of the index: one transaction (``REPEATABLE READ`` on
PostgreSQL, a deferred read transaction on SQLite's WAL), so an indexer writing meanwhile changes
nothing in it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, text

from ledger.chain.deploy import Deployment
from ledger.errors import TsunagariError
from ledger.export.errors import ExportExists, InvalidExportOptions
from ledger.export.package import (
    DATAPACKAGE,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    README,
    datapackage,
    manifest,
    readme,
)
from ledger.export.pseudonym import PREFIX, SCHEME, Pseudonymiser, new_salt, salt_fingerprint
from ledger.export.schema import TABLE_NAMES, TABLES, arrow_schema
from ledger.export.source import BlockRange, ChainInfo, ContractInfo, ReadPlan, jst_date_of, read_table, resolve_range
from ledger.export.writers import (
    FORMATS,
    FileRecord,
    FolderTarget,
    Format,
    TableWriter,
    Target,
    ZipTarget,
    fsync_tree,
    write_bytes,
)
from ledger.indexer.refresh import head_as_of
from ledger.indexer.rpc import JsonRpc
from ledger.municipalities import jis_code, parse_jis_code

__all__ = [
    "ExportOptions",
    "ExportPlan",
    "ExportResult",
    "ZipStream",
    "chain_info",
    "plan_export",
    "export_dataset",
    "stream_export_zip",
    "DEFAULT_CHUNK_ROWS",
]

DEFAULT_CHUNK_ROWS = 32_768
Fault = Callable[[str], None]


@dataclass(frozen=True)
class ExportOptions:
    """What to export. Dates are JST calendar days (inclusive); blocks are inclusive too.

    - ``format``: ``"csv"``, ``"parquet"`` or ``"jsonl"``.
    - ``from_block``/``to_block`` *or* ``from_date``/``to_date``: default the whole index (deploy
      block to the indexed head). A range past the indexed head is an error naming the head.
    - ``regions``: JIS codes to keep (tables without a region column are exported whole).
    - ``tables``: names from :data:`ledger.export.schema.TABLE_NAMES`; default all.
    - ``pseudonymise``: replace people's addresses by salted hashes (default); ``False`` exports raw
      addresses and should only be chosen when the operator allows it.
    - ``salt``: at least 16 bytes; ``None`` draws 32 random bytes (returned to the caller in the
      result, never written into the export). Reuse a salt only to make exports joinable.
    - ``k``: small-cell threshold of the aggregate tables (1 disables suppression).
    - ``partition_by_month``: one file per JST month for the large event tables.
    """

    format: Format = "parquet"
    from_block: int | None = None
    to_block: int | None = None
    from_date: date | None = None
    to_date: date | None = None
    regions: tuple[int, ...] | None = None
    tables: tuple[str, ...] | None = None
    pseudonymise: bool = True
    salt: bytes | None = None
    k: int = 5
    partition_by_month: bool = False

    def validated(self) -> ExportOptions:
        if self.format not in FORMATS:
            raise InvalidExportOptions(f"unknown format {self.format!r}; choose one of {', '.join(FORMATS)}")
        tables = self.tables
        if tables is not None:
            unknown = [t for t in tables if t not in TABLES]
            if unknown:
                raise InvalidExportOptions(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(TABLE_NAMES)}")
            if not tables:
                raise InvalidExportOptions("no table selected")
            tables = tuple(t for t in TABLE_NAMES if t in set(tables))  # canonical order, no repeats
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise InvalidExportOptions(f"k must be a positive integer, got {self.k!r}")
        regions = self.regions
        if regions is not None:
            try:
                if not regions or any(isinstance(r, bool) for r in regions):
                    raise ValueError("no region")
                # "01634" and 1634 name the same municipality (ledger/municipalities.py)
                regions = tuple(sorted({parse_jis_code(r) for r in regions}))
            except (ValueError, TypeError, TsunagariError):
                raise InvalidExportOptions(
                    f"regions must be JIS X 0402 municipality codes (five digits, e.g. 01634), got {self.regions!r}"
                ) from None
        if self.salt is not None and not self.pseudonymise:
            raise InvalidExportOptions("a salt only makes sense for a pseudonymised export")
        for name in ("from_block", "to_block"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise InvalidExportOptions(f"{name} must be a block number, got {value!r}")
        return replace(self, tables=tables, regions=regions)


@dataclass(frozen=True)
class ExportPlan:
    """A resolved export: the range, the tables and the salt, before anything is written."""

    options: ExportOptions
    chain: ChainInfo
    range: BlockRange
    tables: tuple[str, ...]
    salt: bytes | None
    exported_at: str
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    derived_pending: tuple[int, int] = (0, 0)
    ties_as_of: int | None = None

    @property
    def salt_hex(self) -> str | None:
        return None if self.salt is None else self.salt.hex()

    def read_plan(self, fast_reader: bool = True) -> ReadPlan:
        return ReadPlan(
            chain=self.chain,
            range=self.range,
            regions=self.options.regions,
            pseudonymiser=None if self.salt is None else Pseudonymiser(self.salt),
            k=self.options.k,
            chunk_rows=self.chunk_rows,
            fast_reader=fast_reader,
        )


@dataclass(frozen=True)
class ExportResult:
    """A finished export. ``salt_hex`` is the secret to keep (None for a raw export)."""

    path: Path | None
    salt_hex: str | None
    row_counts: dict[str, int]
    manifest: dict[str, Any]
    files: tuple[str, ...] = field(default=())


def chain_info(source: Deployment | ChainInfo) -> ChainInfo:
    """The export's view of a deployment (or a :class:`ChainInfo` as is)."""
    if isinstance(source, ChainInfo):
        return source
    return ChainInfo(
        chain_id=source.chain_id,
        contracts=(ContractInfo("TsunagariLedger", source.ledger.lower(), source.deploy_block, source.abi_sha256),),
        start_block_hash=source.deploy_block_hash.lower(),
    )


def _tool_version() -> str:
    try:
        return metadata.version("tsunagari-ledger")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _header_fetcher(rpc: JsonRpc | None) -> Callable[[int], tuple[str, int]] | None:
    if rpc is None:
        return None

    def fetch(number: int) -> tuple[str, int]:
        raw = rpc.call("eth_getBlockByNumber", [hex(number), False])
        if raw is None:
            raise InvalidExportOptions(f"block {number} is not on the chain the RPC endpoint serves")
        stamp = raw["timestamp"]
        return str(raw["hash"]).lower(), int(stamp, 16) if isinstance(stamp, str) else int(stamp)

    return fetch


def plan_export(
    conn: Connection,
    source: Deployment | ChainInfo,
    options: ExportOptions,
    rpc: JsonRpc | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ExportPlan:
    """Check the options against the index and fix the range and salt (raises before any output)."""
    options = options.validated()
    info = chain_info(source)
    block_range = resolve_range(
        conn, info, options.from_block, options.to_block, options.from_date, options.to_date, _header_fetcher(rpc)
    )
    salt: bytes | None = None
    if options.pseudonymise:
        salt = options.salt if options.salt is not None else new_salt()
        Pseudonymiser(salt)  # validates the salt
    pending = tuple(
        int(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() or 0) for t in ("dirty_ties", "dirty_days")
    )
    # The ties are read for the head's day (recency and score computed then, docs/decisions/0016).
    as_of = head_as_of(conn) if conn.execute(text("SELECT 1 FROM ties LIMIT 1")).first() is not None else None
    return ExportPlan(
        options=options,
        chain=info,
        range=block_range,
        tables=options.tables or TABLE_NAMES,
        salt=salt,
        exported_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        chunk_rows=chunk_rows,
        derived_pending=(pending[0], pending[1]),
        ties_as_of=None if as_of is None else int(as_of),
    )


def _manifest_body(
    plan: ExportPlan, rows: dict[str, int], files_by_table: dict[str, list[FileRecord]]
) -> dict[str, Any]:
    r, options = plan.range, plan.options
    tables: dict[str, Any] = {}
    for name in plan.tables:
        t = TABLES[name]
        entry: dict[str, Any] = {"kind": t.kind, "rows": rows[name], "files": [f.path for f in files_by_table[name]]}
        if t.kind == "events":
            entry["events"] = list(t.events)
            entry["blocks"] = [r.from_block, r.to_block]
        elif t.kind == "entities":
            entry["events"] = list(t.events)
            entry["blocks"] = [plan.chain.start_block, r.to_block]
        tables[name] = entry
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "tool": {"name": "tsunagari-ledger", "version": _tool_version()},
        "exported_at": plan.exported_at,
        "chain": {
            "chain_id": plan.chain.chain_id,
            "contracts": [
                {"name": c.name, "address": c.address, "start_block": c.start_block, "abi_sha256": c.abi_sha256}
                for c in plan.chain.contracts
            ],
        },
        "range": {
            "from_block": r.from_block,
            "from_block_hash": r.from_hash,
            "from_block_timestamp": r.from_timestamp,
            "to_block": r.to_block,
            "to_block_hash": r.to_hash,
            "to_block_timestamp": r.to_timestamp,
            "from_date": r.from_date.isoformat() if r.from_date else None,
            "to_date": r.to_date.isoformat() if r.to_date else None,
            "first_day": jst_date_of(r.from_timestamp).isoformat(),
            "last_day": jst_date_of(r.to_timestamp).isoformat(),
        },
        "index": {
            "head_block": r.head_block,
            "head_block_hash": r.head_hash,
            "head_block_timestamp": r.head_timestamp,
            "ties_as_of": plan.ties_as_of,
            "derived_pending": {"ties": plan.derived_pending[0], "days": plan.derived_pending[1]},
        },
        "options": {
            "format": options.format,
            "tables": list(plan.tables),
            "regions": [jis_code(r) for r in options.regions] if options.regions else None,
            "partition_by_month": options.partition_by_month,
            "k": options.k,
            "pseudonymised": plan.salt is not None,
        },
        "pseudonym": None
        if plan.salt is None
        else {
            "scheme": SCHEME,
            "prefix": PREFIX,
            "salt_fingerprint": salt_fingerprint(plan.salt),
        },
        "row_counts": dict(rows),
        "tables": tables,
    }


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def _write_export(
    conn: Connection,
    plan: ExportPlan,
    target: Target,
    fault: Fault | None = None,
    fast_reader: bool = True,
) -> Generator[None, None, dict[str, Any]]:
    """Write every file of ``plan`` to ``target``, yielding after each chunk; returns the manifest."""
    read_plan = plan.read_plan(fast_reader)
    fmt = plan.options.format
    rows: dict[str, int] = {}
    files_by_table: dict[str, list[FileRecord]] = {}
    empty_month = int(jst_date_of(plan.range.from_timestamp).strftime("%Y%m"))
    for name in plan.tables:
        t = TABLES[name]
        writer = TableWriter(
            target, name, fmt, arrow_schema(t), plan.options.partition_by_month and t.partitionable, empty_month
        )
        count = 0
        for batch in read_table(conn, t, read_plan):
            writer.write(batch)
            count += batch.num_rows
            if fault is not None:
                fault(f"chunk:{name}")
            yield
        files_by_table[name] = writer.close()
        rows[name] = count
    body = _manifest_body(plan, rows, files_by_table)
    records = [f for name in plan.tables for f in files_by_table[name]]
    records.append(write_bytes(target, DATAPACKAGE, _json(datapackage(body, files_by_table))))
    records.append(write_bytes(target, README, readme(body, files_by_table).encode("utf-8")))
    if fault is not None:
        fault("manifest")
    final = manifest(body, records)
    write_bytes(target, MANIFEST, _json(final))
    yield
    return final


@contextlib.contextmanager
def _snapshot(engine_or_conn: Engine | Connection) -> Iterator[Connection]:
    """One read transaction over the whole export (the caller's connection is used as it is)."""
    if isinstance(engine_or_conn, Connection):
        yield engine_or_conn
        return
    with engine_or_conn.connect() as opened:
        if opened.dialect.name == "postgresql":
            conn = opened.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
        else:
            # The engine begins every SQLite transaction explicitly (ledger/db/engine.py), so this
            # read transaction pins one WAL snapshot for the whole export.
            with opened.begin():
                yield opened


def _run(gen: Generator[None, None, dict[str, Any]]) -> dict[str, Any]:
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            result: dict[str, Any] = stop.value
            return result


def export_dataset(
    engine_or_conn: Engine | Connection,
    deployment_or_chain_info: Deployment | ChainInfo,
    options: ExportOptions,
    out_dir: Path,
    *,
    rpc: JsonRpc | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    fault: Fault | None = None,
) -> ExportResult:
    """Export to the folder ``out_dir`` (which must not exist, or be empty).

    ``rpc`` is only needed for a block range whose end blocks hold no indexed log (their hashes
    are then read from the chain). ``fault`` is a test hook called after every chunk
    (``"chunk:<table>"``) and before the manifest (``"manifest"``); raising from it simulates a crash.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportExists(f"{out_dir} already exists and is not an empty folder; choose a new folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _snapshot(engine_or_conn) as conn:
        plan = plan_export(conn, deployment_or_chain_info, options, rpc, chunk_rows)
        work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
        try:
            final = _run(_write_export(conn, plan, FolderTarget(work), fault))
            fsync_tree(work)
            if out_dir.exists():
                out_dir.rmdir()  # empty, checked above
            os.replace(work, out_dir)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return ExportResult(
        path=out_dir,
        salt_hex=plan.salt_hex,
        row_counts=dict(final["row_counts"]),
        manifest=final,
        files=tuple(final["files"]),
    )


class ZipStream:
    """A ZIP of an export as an iterator of ``bytes`` chunks, for a streamed HTTP response.

    The plan (range check, salt) is made when the stream is created, so bad options raise before
    the first byte; ``salt_hex`` is known from then on (send it to the caller by another channel,
    or let the caller pass their own salt). ``manifest`` is set once the stream is exhausted. The
    archive's last entries are ``datapackage.json``, ``README.md`` and ``manifest.json``, whose hashes
    are those of the files as extracted.
    """

    def __init__(
        self,
        engine_or_conn: Engine | Connection,
        plan: ExportPlan,
        fault: Fault | None = None,
    ) -> None:
        self._source = engine_or_conn
        self.plan = plan
        self.salt_hex = plan.salt_hex
        self.manifest: dict[str, Any] | None = None
        self._fault = fault
        self._iterator: Iterator[bytes] | None = None

    @property
    def filename(self) -> str:
        r = self.plan.range
        return f"tsunagari-export-{self.plan.chain.chain_id}-{r.from_block}-{r.to_block}.zip"

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self._iterator = self._generate()
        return next(self._iterator)

    def close(self) -> None:
        """Stop early (a disconnected client): releases the database connection."""
        if self._iterator is not None and hasattr(self._iterator, "close"):
            self._iterator.close()

    def _generate(self) -> Iterator[bytes]:
        target = ZipTarget()
        with _snapshot(self._source) as conn:
            gen = _write_export(conn, self.plan, target, self._fault)
            while True:
                try:
                    next(gen)
                except StopIteration as stop:
                    self.manifest = stop.value
                    break
                chunk = target.drain()
                if chunk:
                    yield chunk
        target.close()
        tail = target.drain()
        if tail:
            yield tail


def stream_export_zip(
    engine_or_conn: Engine | Connection,
    deployment_or_chain_info: Deployment | ChainInfo,
    options: ExportOptions,
    *,
    rpc: JsonRpc | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ZipStream:
    """Plan an export now (raising on bad options) and return its ZIP as a lazy byte stream."""
    with _snapshot(engine_or_conn) as conn:
        plan = plan_export(conn, deployment_or_chain_info, options, rpc, chunk_rows)
    return ZipStream(engine_or_conn, plan)
