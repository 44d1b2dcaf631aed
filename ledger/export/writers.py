"""Writing Arrow batches as CSV, Parquet or JSON Lines, hashing every byte on its way out.

A *target* opens the files of one export: :class:`FolderTarget` (real files in a folder) or
:class:`ZipTarget` (entries of a ZIP written to a non-seekable stream). Every file goes through a
:class:`HashingFile`, so the sha256 and size in the manifest are of the bytes actually written,
computed while writing — the ZIP stream never needs to read anything back.

Formats (the choice is measured, see docs/export.md "Performance"):

- **Parquet**: ``pyarrow.parquet.ParquetWriter``, one row group per chunk, zstd compression;
  dictionary pages and min/max statistics only on the columns where they pay (see ``_FileWriter``).
- **CSV**: ``pyarrow.csv.CSVWriter`` (RFC 4180, UTF-8, header row; strings quoted, empty = null,
  booleans ``true``/``false``, dates ``YYYY-MM-DD``). About ten times faster than the ``csv`` module
  on the same batches.
- **JSON Lines**: one ``orjson`` object per line; null is ``null``, dates ``"YYYY-MM-DD"``.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, Protocol, cast

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from ledger.export.errors import ExportError
from ledger.export.schema import TABLES
from ledger.jst import JST_OFFSET_SECONDS

__all__ = [
    "Format",
    "FORMATS",
    "EXTENSIONS",
    "MEDIA_TYPES",
    "HashingFile",
    "FileRecord",
    "Target",
    "FolderTarget",
    "ZipTarget",
    "TableWriter",
]

Format = Literal["csv", "parquet", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "parquet", "jsonl")
EXTENSIONS: dict[str, str] = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl"}
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/jsonl",
}
_BUFFER = 1 << 20
# Columns with a different value in nearly every row of a row group: personal ones and claim ids
# (of revoked records).
_DISTINCT = frozenset({"claim_id"} | {f.name for t in TABLES.values() for f in t.fields if f.personal})


class HashingFile(io.RawIOBase):
    """A write-only file that forwards bytes to ``sink`` and keeps their sha256 and count."""

    def __init__(self, sink: BinaryIO | Any, on_close: Callable[[HashingFile], None] | None = None) -> None:
        super().__init__()
        self._sink = sink
        self._sha = hashlib.sha256()
        self.size = 0
        self._on_close = on_close

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._sha.update(view)
        self._sink.write(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        if not self.closed:
            self._sink.flush()

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().close()  # flushes first
        finally:
            self._sink.close()
        if self._on_close is not None:
            self._on_close(self)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


@dataclass
class FileRecord:
    """One written file: where, how big, its hash and (for data files) its rows."""

    path: str  # relative, with forward slashes
    sha256: str = ""
    bytes: int = 0
    rows: int | None = None
    table: str | None = None
    month: str | None = None


class Target(Protocol):
    """Where an export's files go."""

    def open(self, relpath: str) -> HashingFile: ...

    def drain(self) -> bytes:
        """Bytes ready to be sent (only a streaming target has any)."""


class FolderTarget:
    """Files in a folder (the caller makes it a temporary one and renames it when complete)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def open(self, relpath: str) -> HashingFile:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        return HashingFile(open(path, "xb", buffering=_BUFFER))

    def drain(self) -> bytes:
        return b""


class _Spool:
    """The write-only, non-seekable stream a ZIP is written to; its bytes are taken by ``drain``."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.position = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def flush(self) -> None:
        """Nothing is buffered beyond ``_parts``."""

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


# Deflate level of a ZIP's CSV and JSON Lines entries. The stream is CPU-bound, not network-bound:
# on 1M contribution rows as CSV, level 1 took 5.0-6.1 s of CPU against 8.1-8.5 s at zlib's default
# (6), for a ZIP of 34.9 MB instead of 27.7 MB (docs/decisions/0019).
ZIP_DEFLATE_LEVEL = 1


class ZipTarget:
    """Entries of a ZIP archive written front to back (data descriptors, ZIP64 for large entries).

    Data files are stored deflated at :data:`ZIP_DEFLATE_LEVEL` except Parquet (already compressed:
    stored). Only one entry is open at a time, which the table writer guarantees.
    """

    def __init__(self) -> None:
        self._spool = _Spool()
        spool = cast(IO[bytes], self._spool)  # write-only is all zipfile needs in mode "w"
        self._zip = zipfile.ZipFile(spool, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)

    def open(self, relpath: str) -> HashingFile:
        info = zipfile.ZipInfo(relpath, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED if relpath.endswith(".parquet") else zipfile.ZIP_DEFLATED
        # A ZipInfo's own level: ``compress_level`` from Python 3.13, ``_compresslevel`` before.
        setattr(info, "compress_level" if hasattr(info, "compress_level") else "_compresslevel", ZIP_DEFLATE_LEVEL)
        info.external_attr = 0o644 << 16
        entry = self._zip.open(info, mode="w", force_zip64=True)
        return HashingFile(entry)

    def close(self) -> None:
        self._zip.close()

    def drain(self) -> bytes:
        return self._spool.take()


class _FileWriter:
    """One output file of one table in one format."""

    def __init__(self, fmt: Format, handle: HashingFile, schema: pa.Schema) -> None:
        self.fmt = fmt
        self.handle = handle
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        self._names = schema.names
        if fmt == "parquet":
            # Dictionary pages pay off for repeated values (codes, institutions' keys, a batch's block);
            # columns that are mostly distinct in a row group (hashes, people, claim ids) compress as
            # well with zstd alone and write faster. Min/max statistics are kept where a reader can
            # skip row groups with them (numbers, days, codes), not for hashes and pseudonyms, whose
            # every row group spans the whole range. Measured on 392k contribution rows: 0.84 µs a
            # row and 26.6 bytes with dictionaries and statistics on every non-hash column, 0.6 µs
            # and 23.8 bytes like this.
            distinct = [n for n in schema.names if n.endswith("_hash") or n in _DISTINCT]
            self._parquet = pq.ParquetWriter(
                handle,
                schema,
                compression="zstd",
                use_dictionary=[n for n in schema.names if n not in distinct],
                write_statistics=[n for n in schema.names if n not in distinct],
            )
        elif fmt == "csv":
            options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
            self._csv = pacsv.CSVWriter(handle, schema, write_options=options)

    def write(self, batch: pa.RecordBatch) -> None:
        if self._parquet is not None:
            self._parquet.write_batch(batch, row_group_size=max(1, batch.num_rows))
        elif self._csv is not None:
            self._csv.write_batch(batch)
        else:
            names = self._names
            columns = [column.to_pylist() for column in batch.columns]
            dumps = orjson.dumps
            self.handle.write(
                b"".join([dumps(dict(zip(names, row, strict=True))) + b"\n" for row in zip(*columns, strict=True)])
            )
        self.rows += batch.num_rows

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        elif self._csv is not None:
            self._csv.close()
        self.handle.close()


def _month_keys(timestamps: pa.Array) -> pa.Array:
    """JST ``YYYYMM`` of each block timestamp."""
    moments = pc.add(timestamps, JST_OFFSET_SECONDS).cast(pa.timestamp("s"))
    return pc.add(pc.multiply(pc.year(moments), 100), pc.month(moments))


@dataclass
class TableWriter:
    """Writes one table's batches to one file, or one file per JST month of the block timestamp."""

    target: Target
    table: str
    fmt: Format
    schema: pa.Schema
    partition: bool
    empty_month: int  # the month named by an empty partitioned table's only file
    files: list[FileRecord] = field(default_factory=list)
    _current: _FileWriter | None = None
    _current_record: FileRecord | None = None
    _current_month: int | None = None
    _done_months: set[int] = field(default_factory=set)

    def _path(self, month: int | None) -> str:
        ext = EXTENSIONS[self.fmt]
        if month is None:
            return f"{self.table}.{ext}"
        return f"{self.table}/{self.table}-{month // 100:04d}-{month % 100:02d}.{ext}"

    def _open(self, month: int | None) -> _FileWriter:
        if month is not None and month in self._done_months:
            raise ExportError(f"{self.table}: rows of {month} came after a later month (block timestamps out of order)")
        self._close_current()
        record = FileRecord(path=self._path(month), table=self.table)
        if month is not None:
            record.month = f"{month // 100:04d}-{month % 100:02d}"
        handle = self.target.open(record.path)
        self._current = _FileWriter(self.fmt, handle, self.schema)
        self._current_record = record
        self._current_month = month
        return self._current

    def _close_current(self) -> None:
        writer, record = self._current, self._current_record
        if writer is None or record is None:
            return
        writer.close()
        record.sha256 = writer.handle.sha256
        record.bytes = writer.handle.size
        record.rows = writer.rows
        self.files.append(record)
        if self._current_month is not None:
            self._done_months.add(self._current_month)
        self._current = self._current_record = None
        self._current_month = None

    def write(self, batch: pa.RecordBatch) -> None:
        if not self.partition:
            writer = self._current or self._open(None)
            writer.write(batch)
            return
        months = _month_keys(batch.column("block_timestamp"))
        n = len(months)
        changes = pc.indices_nonzero(pc.not_equal(months.slice(1), months.slice(0, n - 1))) if n > 1 else []
        bounds = [0, *(int(i.as_py()) + 1 for i in changes), n]
        for start, end in itertools.pairwise(bounds):
            month = int(months[start].as_py())
            writer = self._current if self._current_month == month and self._current is not None else self._open(month)
            writer.write(batch.slice(start, end - start))

    def close(self) -> list[FileRecord]:
        if self._current is None and not self.files:
            self._open(self.empty_month if self.partition else None)
        self._close_current()
        return self.files


def write_bytes(target: Target, relpath: str, data: bytes) -> FileRecord:
    handle = target.open(relpath)
    handle.write(data)
    handle.close()
    return FileRecord(path=relpath, sha256=handle.sha256, bytes=handle.size)


def fsync_tree(root: Path) -> None:
    """Flush a finished folder to disk before it is renamed into place."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
