"""Checking an export against the chain: is every row on chain, is anything in the range missing?

:func:`verify_export` works from the folder and a JSON-RPC endpoint alone — no database:

1. **Files.** ``manifest.json`` must be an export manifest; every file it lists must be there with
   its sha256; any other file is reported.
2. **Chain.** The node's chain id (when it can say), the ABI hash, and the hashes of the range's
   first and last blocks must be the manifest's.
3. **Rows.** The logs of the indexed contracts are fetched again (``eth_getLogs`` over the range,
   adaptively chunked) and turned into rows by the project's own decoder and handlers
   (:class:`~ledger.chain.decoding.EventDecoder`, :data:`~ledger.indexer.handlers.HANDLERS`), so
   "the same fields" means exactly what the indexer stores. Event tables are compared row by row
   in block order, a chunk of the chain at a time against the files read in step (memory stays
   flat); rows are matched on their key (block number, log index, and the movement for coin
   movements). A record's log names only the person, the activity and the units: as the indexer
   does, its row takes the activity's terms from the activity directory (the ``ActivityRegistered``
   and ``ActivityDesignationSet`` logs from the deployment on, read before the range when it starts
   later) and the issuer from its batch's ``BatchRecorded`` log. Entity tables (regions, activities,
   projects) are rebuilt from their registration and change logs from the deployment on, with
   their state at the last block (designation and metadata hash: the last change, else the
   registration's). Each row whose fields differ,
   each file row with no log, and each log with no row is a :class:`Discrepancy` naming the file,
   the 1-based data row and the field. Revocations are taken into account: a record's ``revoked``
   flag and reference must match the chain's revocation at or before the last block.
4. **People.** With the exporter's salt, person fields are pseudonymised the same way on the chain
   side and compared. Without it (a researcher's normal case) the chain's address of every person
   field is paired with the file's id, and the pairing must be one to one across every table
   (:class:`_People`): a reassigned, swapped, merged or split id fails at its rows. A wrong salt is
   reported as such.
5. **Manifest and descriptors.** Every row count the manifest gives (per table, ``row_counts``, per
   file), the range's timestamps and JST days against its end blocks, chain order of the rows (rows
   outside the claimed range are one discrepancy per file), and ``datapackage.json`` / ``README.md``
   rebuilt by :mod:`ledger.export.package` from the manifest and compared.
6. **Derived, aggregate and reference tables.** Reference tables from code are compared with what the
   tool writes; off-chain texts are hashed again against their metadata hash, which the chain must
   know. When the export covers the whole index, ties are recomputed with the model and the daily
   aggregates tallied from the chain's rows (with the exporter's suppression); otherwise they are
   covered by their hashes and row counts, and the report's notes say so.

The decisions behind 4–6 (which pairing is "the export's" when an id stands for two addresses, why
ties and aggregates are only recomputed for a whole-index export) are in docs/export.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from ledger import jst
from ledger.chain.artifacts import abi_sha256 as current_abi_sha256
from ledger.chain.artifacts import load_artifact
from ledger.chain.decoding import EventDecoder
from ledger.checkin.metadata import metadata_document
from ledger.errors import BuildError, ChainUnavailable
from ledger.export.errors import NotAnExport
from ledger.export.package import DATAPACKAGE, FORMAT_NAME, FORMAT_VERSION, MANIFEST, README, datapackage, readme
from ledger.export.pseudonym import PREFIX, SCHEME, Pseudonymiser, salt_fingerprint
from ledger.export.schema import COIN_MOVEMENT_SOURCES, TABLES, ExportTable, arrow_schema
from ledger.export.source import daily_coins_row, daily_row, reference_rows
from ledger.export.writers import FileRecord
from ledger.indexer.handlers import TABLE_COLUMNS, ActivityTerms, LogContext, apply_log, jst_day
from ledger.indexer.refresh import given_in_window, tie_columns
from ledger.indexer.rpc import JsonRpc, ProviderJsonRpc, RpcError, quantity
from ledger.indexer.spec import IndexedContract
from ledger.indexer.store import ChunkSink
from ledger.municipalities import jis_code, parse_jis_code
from ledger.ties import DEFAULT_PARAMS, TieRecord, compute_tie

__all__ = ["Discrepancy", "VerifyReport", "verify_export", "read_manifest", "MAX_LISTED"]

MAX_LISTED = 1_000  # discrepancies listed one by one; the rest are counted
_PAIRING_LIMIT = 2_000  # leftovers paired field by field only when both sides are this small
_HEADER_BATCH = 200
_TARGET_LOGS = 20_000  # logs per eth_getLogs call, about
_MAX_JSON_DIFFS = 50  # differences listed per descriptive file (datapackage.json)


@dataclass(frozen=True, slots=True)
class _Person:
    """A person field of a pseudonymised export checked without the salt: the chain's address.

    The pseudonym cannot be recomputed, but it must stand for this address and this address only,
    in every row of every table (:class:`_People`)."""

    address: str


_Where = tuple[str, int, "str | None", str]  # file, row, key text, field


@dataclass
class _Pair:
    """One (address, person id) pairing seen in the files: how often, and where (the first place,
    and every later place once the pairing conflicts with another, up to a few)."""

    count: int = 0
    places: list[_Where] = field(default_factory=list)


@dataclass
class _People:
    """Person ids against the chain's addresses, across every table: a pseudonym never stands for two
    addresses and an address never gets two pseudonyms. Without the salt this is what catches a
    person id reassigned, swapped, merged or split (with it, every id is recomputed anyway).

    Pairings are counted while the rows stream by; at the end, for an address with two ids (or an id
    with two addresses) the pairing seen most often is taken as the export's and each other one is
    reported at the rows it was seen, so a single edited row is named, not every row of the person."""

    pairs: dict[tuple[str, str], _Pair] = field(default_factory=dict)
    ids_of: dict[str, list[str]] = field(default_factory=dict)  # address → its ids, in order seen
    addresses_of: dict[str, list[str]] = field(default_factory=dict)  # id → its addresses

    PLACES = 10

    def see(
        self, report: VerifyReport, where: tuple[str, int, str | None], name: str, address: str, found: Any
    ) -> None:
        file, row_no, key = where
        person_id = _canon(found)
        if person_id is None:
            report.add(Discrepancy(file, row_no, key, name, "a person id", None, "is empty: the chain names a person"))
            return
        pair = self.pairs.get((address, person_id))
        if pair is None:
            pair = self.pairs[(address, person_id)] = _Pair()
            self.ids_of.setdefault(address, []).append(person_id)
            self.addresses_of.setdefault(person_id, []).append(address)
        pair.count += 1
        if not pair.places or (
            len(pair.places) < self.PLACES and (len(self.ids_of[address]) > 1 or len(self.addresses_of[person_id]) > 1)
        ):
            pair.places.append((file, row_no, key, name))

    def _major(self, options: list[str], pair_of: Any) -> str:
        return max(options, key=lambda o: (pair_of(o).count, -options.index(o)))

    def address_of(self, person_id: str) -> str | None:
        """The address a person id stands for (the most seen one when it stands for several)."""
        addresses = self.addresses_of.get(person_id)
        if not addresses:
            return None
        return self._major(addresses, lambda a: self.pairs[(a, person_id)])

    def finish(self, report: VerifyReport) -> None:
        reported: set[tuple[str, str]] = set()

        def place(pair: _Pair) -> str:
            file, row_no, _key, _name = pair.places[0]
            more = f" and {pair.count - 1} other row(s)" if pair.count > 1 else ""
            return f"{file} row {row_no}{more}"

        for address, ids in self.ids_of.items():
            if len(ids) < 2:
                continue
            major = self._major(ids, lambda i, a=address: self.pairs[(a, i)])
            for person_id in ids:
                if person_id == major:
                    continue
                pair = self.pairs[(address, person_id)]
                reported.add((address, person_id))
                for file, row_no, key, name in pair.places:
                    report.add(
                        Discrepancy(
                            file,
                            row_no,
                            key,
                            name,
                            major,
                            person_id,
                            f"one person, two ids: the chain's person of this row has id {major} in "
                            f"{place(self.pairs[(address, major)])} (a person id reassigned, swapped or split; "
                            f"this id is used {pair.count} time(s) for them)",
                        )
                    )
        for person_id, addresses in self.addresses_of.items():
            if len(addresses) < 2:
                continue
            major = self._major(addresses, lambda a, i=person_id: self.pairs[(a, i)])
            for address in addresses:
                if address == major or (address, person_id) in reported:
                    continue
                pair = self.pairs[(address, person_id)]
                for file, row_no, key, name in pair.places:
                    report.add(
                        Discrepancy(
                            file,
                            row_no,
                            key,
                            name,
                            None,
                            person_id,
                            f"one id, two people: this id stands for another person (another address on chain) "
                            f"in {place(self.pairs[(major, person_id)])} (person ids reassigned, swapped or merged)",
                        )
                    )


@dataclass(frozen=True)
class Discrepancy:
    """One thing that does not hold. ``row`` is the 1-based data row in ``file`` (None: not a row)."""

    file: str
    row: int | None
    key: str | None
    field: str | None
    expected: str | None
    found: str | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f" row {self.row}" if self.row is not None else "")
        if self.key:
            where += f" ({self.key})"
        field_name = f"{self.field}: " if self.field else ""
        values = ""
        if self.expected is not None or self.found is not None:
            values = f" (expected {self.expected!r}, found {self.found!r})"
        return f"{where}: {field_name}{self.message}{values}"


@dataclass
class VerifyReport:
    """The outcome of :func:`verify_export`; ``ok`` only when nothing was found."""

    ok: bool = True
    discrepancies: list[Discrepancy] = field(default_factory=list)
    discrepancy_count: int = 0
    checked: dict[str, int] = field(default_factory=dict)
    personal_fields_checked: bool = False
    notes: list[str] = field(default_factory=list)

    def add(self, discrepancy: Discrepancy) -> None:
        self.ok = False
        self.discrepancy_count += 1
        if len(self.discrepancies) < MAX_LISTED:
            self.discrepancies.append(discrepancy)

    def count(self, name: str, n: int = 1) -> None:
        self.checked[name] = self.checked.get(name, 0) + n

    def lines(self) -> list[str]:
        out = [str(d) for d in self.discrepancies]
        if self.discrepancy_count > len(self.discrepancies):
            out.append(f"… and {self.discrepancy_count - len(self.discrepancies)} more discrepancies")
        return out


# ---------------------------------------------------------------------------------------------
# The manifest and the files
# ---------------------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    """The export manifest of ``folder``; :class:`NotAnExport` saying exactly what is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotAnExport(f"{folder} is not a folder")
    path = folder / MANIFEST
    if not path.is_file():
        raise NotAnExport(f"{folder} is not an export: it has no {MANIFEST}")
    try:
        manifest = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise NotAnExport(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise NotAnExport(f'{path} is not a Tsunagari Ledger export manifest (no "format": "{FORMAT_NAME}")')
    if manifest.get("format_version") != FORMAT_VERSION:
        raise NotAnExport(
            f"{path} is export format version {manifest.get('format_version')!r}; "
            f"this tool reads version {FORMAT_VERSION}"
        )
    for key in ("chain", "range", "options", "tables", "files"):
        if not isinstance(manifest.get(key), dict):
            raise NotAnExport(f"{path} has no {key!r} section")
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_files(folder: Path, manifest: dict[str, Any], report: VerifyReport) -> set[str]:
    """Hashes of every listed file; returns the files that are missing."""
    listed: dict[str, Any] = manifest["files"]
    missing: set[str] = set()
    for name, entry in listed.items():
        path = folder / name
        if not path.is_file():
            report.add(Discrepancy(name, None, None, None, None, None, "listed in the manifest but missing"))
            missing.add(name)
            continue
        found = _sha256(path)
        report.count("files_hashed")
        if found != entry.get("sha256"):
            report.add(
                Discrepancy(
                    name, None, None, "sha256", entry.get("sha256"), found, "the file differs from the manifest"
                )
            )
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            relative = path.relative_to(folder).as_posix()
            if relative != MANIFEST and relative not in listed:
                report.add(
                    Discrepancy(
                        relative, None, None, None, None, None, "is not part of the export (not in the manifest)"
                    )
                )
    return missing


# ---------------------------------------------------------------------------------------------
# Reading rows back, as canonical text
# ---------------------------------------------------------------------------------------------


def _canon(value: Any) -> str | None:
    """A value as text, for messages (and CSV files read as text)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class _BadFile(Exception):
    pass


def _typed(text_value: str | None, kind: str) -> Any:
    """A CSV text value as its field's type, or the text itself when it is not one (an edit)."""
    if text_value is None:
        return None
    try:
        if kind == "integer":
            return int(text_value)
        if kind == "number":
            return float(text_value)
        if kind == "date":
            return date.fromisoformat(text_value)
    except ValueError:
        return text_value
    if kind == "boolean":
        return {"true": True, "false": False}.get(text_value, text_value)
    return text_value


def _csv_rows(path: Path, t: ExportTable, typed: bool) -> Iterator[tuple[Any, ...]]:
    names = list(t.field_names)
    schema = arrow_schema(t)
    types = {f.name: (f.type if typed else pa.string()) for f in schema}
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False)
    try:
        reader = pacsv.open_csv(path, convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise _BadFile(f"cannot be read as CSV: {exc}") from None
    if reader.schema.names != names:
        raise _BadFile(f"its columns are {reader.schema.names}, the data dictionary says {names}")
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        yield from zip(*(c.to_pylist() for c in batch.columns), strict=True)


def _file_rows(path: Path, fmt: str, t: ExportTable) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(1-based row, values in the table's field order, as their types) for every data row of a file.

    A CSV file is parsed with the data dictionary's types; when a value does not parse (an edit),
    the file is read again as text and each value converted on its own, keeping what does not fit.
    """
    names = list(t.field_names)
    if fmt == "csv":
        done = 0
        try:
            for values in _csv_rows(path, t, typed=True):
                done += 1
                yield done, values
            return
        except pa.ArrowInvalid:
            pass  # from the first row that does not parse on, read as text
        kinds = [f.type for f in t.fields]
        for row_no, text_values in enumerate(_csv_rows(path, t, typed=False), start=1):
            if row_no > done:
                yield row_no, tuple(_typed(v, k) for v, k in zip(text_values, kinds, strict=True))
        return
    if fmt == "parquet":
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _BadFile(f"cannot be read as Parquet: {exc}") from None
        if parquet.schema_arrow.names != names:
            raise _BadFile(f"its columns are {parquet.schema_arrow.names}, the data dictionary says {names}")
        row_no = 0
        for batch in parquet.iter_batches(batch_size=65_536):
            for values in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                row_no += 1
                yield row_no, values
        return
    dates = [i for i, f in enumerate(t.fields) if f.type == "date"]
    with open(path, "rb") as handle:
        for row_no, line in enumerate(handle, start=1):
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                yield row_no, ("\x00not json",) * len(names)
                continue
            if not isinstance(obj, dict):
                yield row_no, ("\x00not an object",) * len(names)
                continue
            decoded = [obj.get(n) for n in names]
            for i in dates:
                if isinstance(decoded[i], str):
                    decoded[i] = _typed(decoded[i], "date")
            yield row_no, tuple(decoded)


# ---------------------------------------------------------------------------------------------
# Logs → rows, the indexer's way
# ---------------------------------------------------------------------------------------------


def _chain_id(rpc: JsonRpc) -> int | None:
    if isinstance(rpc, ProviderJsonRpc):
        return int(rpc.w3.eth.chain_id)
    try:
        return quantity(rpc.call("eth_chainId", []))
    except RpcError:
        return None


def _headers(rpc: JsonRpc, numbers: Sequence[int]) -> dict[int, tuple[str, int]]:
    found: dict[int, tuple[str, int]] = {}
    for start in range(0, len(numbers), _HEADER_BATCH):
        part = list(numbers[start : start + _HEADER_BATCH])
        answers = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part])
        for number, raw in zip(part, answers, strict=True):
            if raw is not None:
                found[number] = (str(raw["hash"]).lower(), quantity(raw["timestamp"]))
    return found


class _Decoder:
    """Decodes raw logs into index rows (per index table) exactly as the indexer's runner does."""

    def __init__(self, contracts: Sequence[dict[str, Any]], chain_id: int) -> None:
        indexed = tuple(
            IndexedContract(
                name=c["name"],
                address=str(c["address"]).lower(),
                abi=tuple(load_artifact(c["name"]).abi),
                start_block=int(c["start_block"]),
            )
            for c in contracts
        )
        self.decoder = EventDecoder(indexed)
        self.addresses = [c.address for c in indexed]
        self.chain_id = chain_id
        self.topics_by_event: dict[str, set[str]] = {}
        for plan in self.decoder.plans.values():
            self.topics_by_event.setdefault(plan.name, set()).add(plan.topic0)

    def fetch(
        self,
        rpc: JsonRpc,
        lo: int,
        hi: int,
        events: set[str] | None = None,
        expected_logs: int | None = None,
        activities: dict[int, ActivityTerms] | None = None,
    ) -> Iterator[tuple[int, int, ChunkSink, int]]:
        """(first block, last block, rows, logs) chunk by chunk over [lo, hi]; ``events`` filters by name.

        ``activities`` is the activity directory records are decoded with (the runner's
        :attr:`~ledger.indexer.handlers.LogContext.activities`): the activities known before ``lo``;
        the handlers add those registered on the way. None starts from an empty one."""
        directory: dict[int, ActivityTerms] = {} if activities is None else activities
        topics: set[str] | None = None
        if events is not None:
            topics = set().union(*(self.topics_by_event.get(e, set()) for e in events)) if events else set()
            if not topics:
                return
        # Start with a range expected to hold about _TARGET_LOGS logs (from the manifest's row
        # counts), then adapt to what the chain really holds.
        blocks = hi - lo + 1
        span = 2_000 if not expected_logs else max(1, min(100_000, blocks * _TARGET_LOGS // expected_logs))
        while lo <= hi:
            end = min(hi, lo + span - 1)
            query: dict[str, Any] = {"fromBlock": hex(lo), "toBlock": hex(end), "address": self.addresses}
            if topics is not None:
                query["topics"] = [sorted(topics)]
            try:
                logs = rpc.call("eth_getLogs", [query]) or []
            except RpcError:
                if span == 1:
                    raise
                span = max(1, span // 2)
                continue
            logs = [e for e in logs if not e.get("removed")]
            if topics is not None:  # nodes may ignore the topic filter (py-evm's provider does)
                logs = [e for e in logs if e.get("topics") and str(e["topics"][0]).lower() in topics]
            sink = self._rows(rpc, logs, directory)
            yield lo, end, sink, len(logs)
            if len(logs) > _TARGET_LOGS:
                span = max(1, span // 2)
            elif len(logs) < _TARGET_LOGS // 4:
                span = min(span * 2, 100_000)
            lo = end + 1

    def _rows(self, rpc: JsonRpc, logs: list[dict[str, Any]], activities: dict[int, ActivityTerms]) -> ChunkSink:
        logs.sort(key=lambda e: (quantity(e["blockNumber"]), quantity(e["logIndex"])))
        headers = _headers(rpc, sorted({quantity(e["blockNumber"]) for e in logs}))
        sink = ChunkSink()
        decoder, chain_id = self.decoder, self.chain_id
        days: dict[int, int] = {}
        for entry in logs:
            number = quantity(entry["blockNumber"])
            header = headers.get(number)
            if header is None:
                raise ChainUnavailable(f"block {number} disappeared while the export was being verified")
            block_hash = str(entry["blockHash"]).lower()
            timestamp = header[1]
            day = days.get(timestamp)
            if day is None:
                day = days[timestamp] = jst_day(timestamp)
            address = str(entry["address"]).lower()
            topics: list[str] = entry["topics"]
            data: str = entry["data"]
            sink.provenance = (
                chain_id,
                address,
                number,
                block_hash,
                timestamp,
                str(entry["transactionHash"]).lower(),
                quantity(entry["transactionIndex"]),
                quantity(entry["logIndex"]),
            )
            apply_log(decoder, address, topics, data, LogContext(number, timestamp, day, activities), sink)
        if sink.held:
            sink.batch_recorded("")  # records without their batch's log: kept as the runner keeps them
        return sink


# ---------------------------------------------------------------------------------------------
# Index rows → export rows (canonical text)
# ---------------------------------------------------------------------------------------------

_PROV = 8  # provenance columns at the front of every index row
# Export tables whose rows come from an index table of another name; coin_movements from four.
_INDEX_TABLE_OF = {
    "regions": "region_registrations",
    "activities": "activity_registrations",
    "projects": "project_registrations",
}
_DIRECTORY_EVENTS = frozenset({"ActivityRegistered", "ActivityDesignationSet"})
_DATES: dict[int, date] = {}


def _date_of(day: int) -> date:
    cached = _DATES.get(day)
    if cached is None:
        cached = _DATES[day] = date(day // 10_000, day // 100 % 100, day % 100)
    return cached


@dataclass(frozen=True)
class _Layout:
    """Where things are in one table's rows (computed once per table)."""

    key: tuple[int, ...]
    region: int | None
    personal: tuple[int, ...]
    dates: tuple[int, ...]
    codes: tuple[int, ...]  # municipality codes: integers on chain, five-digit text in the export

    @classmethod
    def of(cls, t: ExportTable) -> _Layout:
        at = t.positions
        return cls(
            key=tuple(at[k] for k in t.key),
            region=at[t.region_field] if t.region_field else None,
            personal=tuple(i for i, f in enumerate(t.fields) if f.personal),
            dates=tuple(i for i, f in enumerate(t.fields) if f.type == "date"),
            codes=tuple(i for i, f in enumerate(t.fields) if f.jis),
        )


_LAYOUTS = {name: _Layout.of(t) for name, t in TABLES.items()}


class _Mapper:
    """Builds the export's rows from index rows, with the export's person ids and region filter."""

    def __init__(self, pseudonymiser: Pseudonymiser | None, personal_raw: bool, regions: set[int] | None) -> None:
        self.pseudonymiser = pseudonymiser
        self.personal_raw = personal_raw
        self.regions = regions
        self.revoked: dict[tuple[int, str], tuple[int, str, int]] = {}

    def person(self, address: str) -> Any:
        if self.personal_raw:
            return address
        if self.pseudonymiser is None:
            return _Person(address)
        return self.pseudonymiser.one(address)

    def keep(self, t: ExportTable, row: Sequence[Any]) -> bool:
        if self.regions is None:
            return True
        at = _LAYOUTS[t.name].region
        return not t.empty_when_region_filtered if at is None else int(row[at]) in self.regions

    def canon_row(self, t: ExportTable, values: Sequence[Any]) -> tuple[Any, ...]:
        """The row as the export holds it: person ids and dates converted, the rest as decoded."""
        layout = _LAYOUTS[t.name]
        if not layout.personal and not layout.dates and not layout.codes:
            return tuple(values)
        out = list(values)
        for i in layout.codes:
            if out[i] is not None:
                out[i] = _jis(out[i])
        for i in layout.personal:
            if out[i] is not None:
                out[i] = self.person(out[i])
        for i in layout.dates:
            if out[i] is not None:
                out[i] = _date_of(int(out[i]))
        return tuple(out)

    def event_rows(self, t: ExportTable, sink: ChunkSink) -> list[tuple[Any, ...]]:
        """Rows of event table ``t`` from one chunk's index rows, in key order."""
        if t.name == "coin_movements":
            rows = self._movements(sink)
        elif t.name == "contributions":
            rows = []
            revoked_map = self.revoked
            for r in sink.rows.get("contributions", []):
                revoked = revoked_map.get((r[_PROV + 1], r[_PROV]))
                rows.append((*r, True, *revoked) if revoked else (*r, False, None, None, None))
        else:
            rows = list(sink.rows.get(t.index_table or t.name, []))
        keep, canon = self.keep, self.canon_row
        return [canon(t, r) for r in rows if keep(t, r)]

    def _movements(self, sink: ChunkSink) -> list[tuple[Any, ...]]:
        # The coin_movements view (migration 0007), row for row; its sources are COIN_MOVEMENT_SOURCES.
        rows: list[tuple[Any, ...]] = []
        for r in sink.rows.get("contributions", []):
            p, a = r[:_PROV], r[_PROV:]
            rows.append((*p, a[2], a[0], "mint", a[5], a[1]))
        for r in sink.rows.get("revocations", []):
            p, a = r[:_PROV], r[_PROV:]
            rows.append((*p, a[2], a[0], "revoke", -a[4], a[1]))
        for r in sink.rows.get("supports", []):
            p, a = r[:_PROV], r[_PROV:]
            rows.append((*p, a[1], a[2], "support", -a[3], a[0]))
        for r in sink.rows.get("coin_expiries", []):
            p, a = r[:_PROV], r[_PROV:]
            rows.append((*p, a[0], a[1], "expire", -a[2], 0))
        for r in sink.rows.get("coin_transfers", []):
            p, a = r[:_PROV], r[_PROV:]
            rows.append((*p, a[0], a[1], "transfer_out", -a[3], 0))
            rows.append((*p, a[0], a[2], "transfer_in", a[3], 0))
        rows.sort(key=lambda row: (row[2], row[7], row[10]))
        return rows


_CODES: dict[int, str] = {}


def _jis(code: Any) -> str:
    text_code = _CODES.get(code)
    if text_code is None:
        text_code = _CODES[int(code)] = jis_code(int(code))
    return text_code


def _key_of(t: ExportTable, values: Sequence[Any]) -> tuple[Any, ...] | None:
    key: list[Any] = []
    for i in _LAYOUTS[t.name].key:
        v = values[i]
        if t.fields[i].type == "integer" and type(v) is not int:
            try:
                v = int(v)
            except (TypeError, ValueError):
                return None
        key.append(v)
    return tuple(key)


def _key_text(t: ExportTable, key: tuple[Any, ...] | None) -> str | None:
    if key is None:
        return None
    return ", ".join(f"{n} {v}" for n, v in zip(t.key, key, strict=True))


# ---------------------------------------------------------------------------------------------
# Comparing one table
# ---------------------------------------------------------------------------------------------


def _month_file(t: ExportTable, files: Sequence[str], timestamp_text: Any) -> str:
    if len(files) == 1 and "/" not in files[0]:
        return files[0]
    try:
        day = jst.date_of(int(timestamp_text))
    except (TypeError, ValueError):
        return files[0] if files else t.name
    tag = f"-{day.year:04d}-{day.month:02d}."
    for name in files:
        if tag in name:
            return name
    return files[0] if files else t.name


class _TableCheck:
    """Compares one verified table's files with the rows rebuilt from the chain."""

    def __init__(
        self,
        folder: Path,
        fmt: str,
        t: ExportTable,
        files: Sequence[str],
        report: VerifyReport,
        blocks: tuple[int, int] = (0, 1 << 62),
        people: _People | None = None,
    ) -> None:
        self.t = t
        self.files = list(files)
        self.report = report
        self.blocks = blocks
        self.people = people
        self.rows_per_file: dict[str, int] = dict.fromkeys(self.files, 0)
        # Rows outside the claimed block range, per file and side: (first row, its key, count, block).
        self.outside_rows: list[tuple[str, int, tuple[Any, ...]]] = []
        self._previous: tuple[str, tuple[Any, ...]] | None = None  # the last keyed row, for chain order
        self.names = t.field_names
        self._ts = self.names.index("block_timestamp")
        self._rows = self._all_rows(folder, fmt)
        self._peek: tuple[str, int, tuple[Any, ...], tuple[Any, ...] | None] | None = None
        self._advance()
        self.unmatched_file: dict[tuple[Any, ...], tuple[str, int, tuple[Any, ...]]] = {}
        self.unkeyed: list[tuple[str, int, tuple[Any, ...]]] = []
        self.unmatched_chain: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.file_rows = 0
        self.chain_rows = 0

    def _all_rows(self, folder: Path, fmt: str) -> Iterator[tuple[str, int, tuple[Any, ...]]]:
        for name in self.files:
            try:
                for row_no, values in _file_rows(folder / name, fmt, self.t):
                    yield name, row_no, values
            except _BadFile as exc:
                self.report.add(Discrepancy(name, None, None, None, None, None, str(exc)))
            except OSError as exc:
                self.report.add(Discrepancy(name, None, None, None, None, None, f"cannot be read: {exc}"))

    def _advance(self) -> None:
        nxt = next(self._rows, None)
        if nxt is None:
            self._peek = None
            return
        name, row_no, values = nxt
        self._peek = (name, row_no, values, _key_of(self.t, values))

    def _in_order(self, name: str, row_no: int, key: tuple[Any, ...]) -> None:
        """Event rows are in chain order (block, log index[, movement]) across the table's files."""
        previous = self._previous
        self._previous = (f"{name} row {row_no}", key)
        if previous is None:
            return
        try:
            backwards = key < previous[1]
        except TypeError:
            return
        if backwards:
            self.report.add(
                Discrepancy(
                    name,
                    row_no,
                    _key_text(self.t, key),
                    None,
                    _key_text(self.t, previous[1]),
                    _key_text(self.t, key),
                    f"is out of chain order: it comes after {previous[0]} ({_key_text(self.t, previous[1])}) "
                    "but is earlier on chain",
                )
            )

    def _outside(self, key: tuple[Any, ...]) -> bool:
        """Whether the row's block is outside the claimed block range."""
        block = key[0]
        return isinstance(block, int) and not self.blocks[0] <= block <= self.blocks[1]

    def _take_file_rows(self, upto_block: int | None) -> dict[tuple[Any, ...], tuple[str, int, tuple[Any, ...]]]:
        taken: dict[tuple[Any, ...], tuple[str, int, tuple[Any, ...]]] = {}
        while self._peek is not None:
            name, row_no, values, key = self._peek
            if key is not None and upto_block is not None and key[0] > upto_block and key[0] <= self.blocks[1]:
                break
            self.file_rows += 1
            self.rows_per_file[name] = self.rows_per_file.get(name, 0) + 1
            if key is not None and self._outside(key):
                self.outside_rows.append((name, row_no, values))
            elif key is None:
                self.unkeyed.append((name, row_no, values))
            elif key in taken or key in self.unmatched_file:
                self.report.add(
                    Discrepancy(
                        name, row_no, _key_text(self.t, key), None, None, None, "repeats the key of an earlier row"
                    )
                )
            else:
                self._in_order(name, row_no, key)
                taken[key] = (name, row_no, values)
            self._advance()
        return taken

    def feed(self, chain_rows: Sequence[tuple[Any, ...]], upto_block: int) -> None:
        taken = self._take_file_rows(upto_block)
        for values in chain_rows:
            self.chain_rows += 1
            key = _key_of(self.t, values)
            assert key is not None
            found = taken.pop(key, None) or self.unmatched_file.pop(key, None)
            if found is None:
                self.unmatched_chain[key] = values
            else:
                self._compare(found, values, key)
        self.unmatched_file.update(taken)

    def _compare(
        self, found: tuple[str, int, tuple[Any, ...]], expected: tuple[Any, ...], key: tuple[Any, ...] | None
    ) -> None:
        if found[2] != expected:  # the key's text only when there is something to report
            _compare_row(self.report, self.t, found, expected, _key_text(self.t, key), self.people)

    def finish(self) -> None:
        self.unmatched_file.update(self._take_file_rows(None))
        # Late matches: rows out of order in the file.
        for key in list(self.unmatched_chain):
            found = self.unmatched_file.pop(key, None)
            if found is not None:
                self._compare(found, self.unmatched_chain.pop(key), key)
        leftovers_file = list(self.unmatched_file.values()) + self.unkeyed + self.outside_rows
        leftovers_chain = list(self.unmatched_chain.items())
        # A row whose key itself was edited: pair it with the log it most resembles.
        if (
            leftovers_file
            and leftovers_chain
            and len(leftovers_file) <= _PAIRING_LIMIT
            and len(leftovers_chain) <= _PAIRING_LIMIT
        ):
            for chain_key, chain_values in list(leftovers_chain):
                best, best_score = None, len(self.names) // 2
                for i, (_name, _row, values) in enumerate(leftovers_file):
                    score = sum(
                        1 for a, b in zip(chain_values, values, strict=True) if isinstance(a, _Person) or a == b
                    )
                    if score > best_score:
                        best, best_score = i, score
                if best is not None:
                    self._compare(leftovers_file.pop(best), chain_values, chain_key)
                    leftovers_chain.remove((chain_key, chain_values))
        # Rows outside the claimed range that pair with no log (a shrunken range): one line per file and side.
        lo, hi = self.blocks
        outside: dict[tuple[str, str], list[Any]] = {}
        inside: list[tuple[str, int, tuple[Any, ...]]] = []
        for name, row_no, values in leftovers_file:
            row_key = _key_of(self.t, values)
            if row_key is None or not self._outside(row_key):
                inside.append((name, row_no, values))
                continue
            side = "after" if row_key[0] > hi else "before"
            seen = outside.setdefault((name, side), [row_no, row_key, 0, row_key[0]])
            seen[2] += 1
            seen[3] = max(seen[3], row_key[0]) if side == "after" else min(seen[3], row_key[0])
        leftovers_file = inside
        for (name, side), (row_no, key, n, block) in outside.items():
            edge = hi if side == "after" else lo
            self.report.add(
                Discrepancy(
                    name,
                    row_no,
                    _key_text(self.t, key),
                    "block_number",
                    f"{'≤' if side == 'after' else '≥'} {edge}",
                    str(block),
                    f"rows beyond the claimed range: {n} row(s) {side} block {edge}, the range's "
                    f"{'last' if side == 'after' else 'first'} block in manifest.json (from row {row_no} on)",
                )
            )
        for name, row_no, values in leftovers_file:
            self.report.add(
                Discrepancy(
                    name,
                    row_no,
                    _key_text(self.t, _key_of(self.t, values)),
                    None,
                    None,
                    None,
                    "is not on chain: no log of the indexed contracts in the range matches this row",
                )
            )
        for key, expected in leftovers_chain:
            self.report.add(
                Discrepancy(
                    _month_file(self.t, self.files, expected[self._ts]),
                    None,
                    _key_text(self.t, key),
                    None,
                    None,
                    None,
                    f"is missing: the chain has this {self.t.name} row (tx {expected[self.names.index('tx_hash')]}) "
                    "but the export does not",
                )
            )


def _compare_row(
    report: VerifyReport,
    t: ExportTable,
    found: tuple[str, int, tuple[Any, ...]],
    expected: tuple[Any, ...],
    key: str | None,
    people: _People | None = None,
) -> None:
    """One discrepancy per field of the file row that is not what the chain says; person ids that
    cannot be recomputed (no salt) go to ``people``, which checks they correspond one to one."""
    name, row_no, values = found
    if values == expected:
        return
    for field_name, want, got in zip(t.field_names, expected, values, strict=True):
        if isinstance(want, _Person):
            if people is not None:
                people.see(report, (name, row_no, key), field_name, want.address, got)
        elif want != got:
            report.add(Discrepancy(name, row_no, key, field_name, _canon(want), _canon(got), "differs from the chain"))


def _compare_entities(
    folder: Path,
    fmt: str,
    t: ExportTable,
    files: Sequence[str],
    expected: dict[Any, tuple[Any, ...]],
    report: VerifyReport,
    to_block: int,
) -> tuple[int, int, dict[str, int]]:
    """Rows of an entity table against the registrations; (rows in the files, rows on chain, rows per file)."""
    index = t.field_names.index(t.key[0])
    block_at = t.field_names.index("block_number")
    seen: dict[Any, tuple[str, int, tuple[Any, ...]]] = {}
    rows = 0
    per_file: dict[str, int] = dict.fromkeys(files, 0)
    beyond: list[Any] = []  # first row, its key, count, highest block
    previous: Any = None
    for name in files:
        try:
            for row_no, values in _file_rows(folder / name, fmt, t):
                rows += 1
                per_file[name] += 1
                key = values[index]
                block = values[block_at]
                if isinstance(block, int) and block > to_block:
                    if not beyond:
                        beyond.extend([name, row_no, key, 0, block])
                    beyond[3] += 1
                    beyond[4] = max(beyond[4], block)
                    continue
                try:
                    backwards = previous is not None and key < previous
                except TypeError:
                    backwards = False
                if backwards:
                    report.add(
                        Discrepancy(
                            name,
                            row_no,
                            f"{t.key[0]} {key}",
                            t.key[0],
                            None,
                            _canon(key),
                            f"is out of order: rows are ordered by {t.key[0]} and the row before has {previous}",
                        )
                    )
                previous = key
                if key in seen:
                    report.add(
                        Discrepancy(name, row_no, f"{t.key[0]} {key}", None, None, None, "repeats an earlier row")
                    )
                    continue
                seen[key] = (name, row_no, values)
        except _BadFile as exc:
            report.add(Discrepancy(name, None, None, None, None, None, str(exc)))
    if beyond:
        name, row_no, key, n, block = beyond
        report.add(
            Discrepancy(
                name,
                row_no,
                f"{t.key[0]} {key}",
                "block_number",
                f"≤ {to_block}",
                str(block),
                f"rows beyond the claimed range: {n} row(s) registered after block {to_block}, the range's last "
                f"block in manifest.json (from row {row_no} on)",
            )
        )
    for key, want in expected.items():
        found = seen.pop(key, None)
        if found is None:
            report.add(
                Discrepancy(
                    files[0] if files else t.name,
                    None,
                    f"{t.key[0]} {key}",
                    None,
                    None,
                    None,
                    f"is missing: the chain registered this {t.key[0]} but the export has no row for it",
                )
            )
        else:
            _compare_row(report, t, found, want, f"{t.key[0]} {key}")
    for key, (name, row_no, _values) in seen.items():
        report.add(
            Discrepancy(
                name,
                row_no,
                f"{t.key[0]} {key}",
                None,
                None,
                None,
                "is not on chain: no registration log matches this row",
            )
        )
    return rows, len(expected), per_file


# ---------------------------------------------------------------------------------------------
# Verify
# ---------------------------------------------------------------------------------------------


def _at(table: str, column: str) -> int:
    """Position of ``column`` in an index row of ``table`` (provenance first, then its event columns)."""
    return _PROV + TABLE_COLUMNS[table].index(column)


def _last_values(rows: Sequence[tuple[Any, ...]], key: str, column: str, table: str, to_block: int) -> dict[int, Any]:
    """The value of ``column`` in the last row (chain order) up to ``to_block`` for each ``key``."""
    key_at, value_at = _at(table, key), _at(table, column)
    last: dict[int, tuple[tuple[int, int], Any]] = {}
    for r in rows:
        position = (int(r[2]), int(r[7]))
        if position[0] > to_block:
            continue
        entity = int(r[key_at])
        seen = last.get(entity)
        if seen is None or position > seen[0]:
            last[entity] = (position, r[value_at])
    return {entity: value for entity, (_position, value) in last.items()}


def _entity_rows(
    mapper: _Mapper, collected: dict[str, list[tuple[Any, ...]]], t: ExportTable, to_block: int
) -> dict[Any, tuple[Any, ...]]:
    def latest(table: str, key: str, column: str) -> dict[int, Any]:
        return _last_values(collected.get(table, []), key, column, table, to_block)

    rows: dict[Any, tuple[Any, ...]] = {}
    if t.name == "regions":
        paused = latest("region_pause_changes", "region", "paused")
        transfers = latest("region_transfer_settings", "region", "enabled")
        expiry = latest("region_expiry_settings", "region", "expiry_days")
        for r in collected.get("region_registrations", []):
            p, a = r[:_PROV], r[_PROV:]
            region = int(a[0])
            values = (*p, region, a[3], a[4], a[2], a[1], paused.get(region, False), transfers.get(region, False),
                      expiry.get(region, 0))  # fmt: skip
            if mapper.keep(t, values):
                rows[_jis(region)] = mapper.canon_row(t, values)
        return rows
    registrations, closures, metadata_changes, key = (
        ("activity_registrations", "activity_closures", "activity_metadata_changes", "activity_id")
        if t.name == "activities"
        else ("project_registrations", "project_closures", "project_metadata_changes", "project_id")
    )
    closed_at: dict[int, int] = {}
    for r in collected.get(closures, []):
        entity, block = int(r[_PROV]), int(r[2])
        if block <= to_block:
            closed_at[entity] = min(block, closed_at.get(entity, block))
    # The state as of the last block: an activity's designation (its last ActivityDesignationSet), an
    # activity's or a project's metadata hash (its last Activity/ProjectMetadataChanged), if any.
    changes: list[tuple[int, dict[int, Any]]] = [
        (_at(registrations, "metadata_hash"), latest(metadata_changes, key, "metadata_hash"))
    ]
    if t.name == "activities":
        changes.append((_at(registrations, "designated"), latest("activity_designations", key, "designated")))
    for registered in collected.get(registrations, []):
        entity = int(registered[_PROV])
        closed = closed_at.get(entity)
        r = registered
        for at, latest_values in changes:
            if entity in latest_values:
                r = (*r[:at], latest_values[entity], *r[at + 1 :])
        values = (*r, closed is not None, closed)
        if mapper.keep(t, values):
            rows[entity] = mapper.canon_row(t, values)
    return rows


def _context_rows(
    decoder: _Decoder,
    rpc: JsonRpc,
    report: VerifyReport,
    blocks: tuple[int, int, int],
    events: set[str],
    need_directory: bool,
) -> tuple[dict[str, list[tuple[Any, ...]]], dict[int, ActivityTerms]]:
    """The index rows of ``events`` from the deployment (``blocks``: start, range's first and last
    block) and, when ``need_directory``, the activity directory as it was before the range's first
    block, which the range's records are decoded with (the range's own registrations are added to it
    as they come)."""
    start, from_block, to_block = blocks
    collected: dict[str, list[tuple[Any, ...]]] = {}
    directory: dict[int, ActivityTerms] = {}

    def collect(lo: int, hi: int, wanted: set[str], activities: dict[int, ActivityTerms]) -> None:
        for _lo, _hi, sink, logs in decoder.fetch(rpc, lo, hi, wanted, activities=activities):
            report.count("logs_fetched", logs)
            for table_name, index_rows in sink.rows.items():
                collected.setdefault(table_name, []).extend(index_rows)

    if need_directory and from_block > start:
        collect(start, from_block - 1, events | _DIRECTORY_EVENTS, directory)
        if events:
            collect(from_block, to_block, events, {})
    elif events:
        collect(start, to_block, events, {})
    return collected, directory


def verify_export(folder: Path, rpc: JsonRpc, salt: bytes | None = None) -> VerifyReport:
    """Check the export in ``folder`` against the chain behind ``rpc`` (see the module docstring).

    Raises :class:`NotAnExport` when ``folder`` is not an export at all; everything else that does
    not hold is a :class:`Discrepancy` in the report.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    report = VerifyReport()
    missing = _check_files(folder, manifest, report)
    chain, span, options = manifest["chain"], manifest["range"], manifest["options"]
    chain_id = int(chain["chain_id"])
    fmt = str(options["format"])

    node_chain = _chain_id(rpc)
    if node_chain is None:
        report.notes.append("the node does not answer eth_chainId; the chain is identified by its block hashes")
    elif node_chain != chain_id:
        report.add(
            Discrepancy(
                MANIFEST,
                None,
                None,
                "chain_id",
                str(chain_id),
                str(node_chain),
                f"the export is of chain {chain_id} but the node serves chain {node_chain}; nothing else was compared",
            )
        )
        return report
    for c in chain["contracts"]:
        try:
            current = current_abi_sha256(c["name"])
        except BuildError:
            current = None
        if current != c.get("abi_sha256"):
            report.add(
                Discrepancy(
                    MANIFEST,
                    None,
                    c["name"],
                    "abi_sha256",
                    c.get("abi_sha256"),
                    current,
                    "the export was made with another ABI than this tool decodes with",
                )
            )
    from_block, to_block = int(span["from_block"]), int(span["to_block"])
    head = quantity(rpc.call("eth_blockNumber", []))
    if head < to_block:
        report.add(
            Discrepancy(
                MANIFEST,
                None,
                None,
                "to_block",
                str(to_block),
                str(head),
                f"the node's head {head} is below the export's last block: another chain, or a node still syncing",
            )
        )
        return report
    ends = _headers(rpc, sorted({from_block, to_block}))
    for label, number, want in (
        ("from_block_hash", from_block, span["from_block_hash"]),
        ("to_block_hash", to_block, span["to_block_hash"]),
    ):
        got = ends.get(number, (None, 0))[0]
        if got != want:
            report.add(
                Discrepancy(
                    MANIFEST,
                    None,
                    f"block {number}",
                    label,
                    want,
                    got,
                    "the chain's block differs: the export is of another chain or of blocks later reorganised away",
                )
            )
    if not report.ok and any(d.field in ("from_block_hash", "to_block_hash") for d in report.discrepancies):
        report.notes.append("rows were not compared: the range's end blocks are not the chain's")
        return report
    _check_range_days(span, ends, report)
    _check_manifest_claims(manifest, rpc, report)
    _check_descriptors(folder, manifest, missing, report)

    pseudonymised = bool(options.get("pseudonymised"))
    pseudonymiser: Pseudonymiser | None = None
    if pseudonymised and salt is not None:
        expected_fp = (manifest.get("pseudonym") or {}).get("salt_fingerprint")
        if salt_fingerprint(salt) != expected_fp:
            report.add(
                Discrepancy(
                    MANIFEST,
                    None,
                    None,
                    "salt",
                    None,
                    None,
                    "the salt given is not the one this export was made with; person fields were not compared",
                )
            )
        else:
            pseudonymiser = Pseudonymiser(salt)
    report.personal_fields_checked = not pseudonymised or pseudonymiser is not None
    if not report.personal_fields_checked:
        report.notes.append("person fields were not compared (pseudonymised export, no matching salt)")
    regions = {parse_jis_code(r) for r in options["regions"]} if options.get("regions") else None
    mapper = _Mapper(pseudonymiser, personal_raw=not pseudonymised, regions=regions)
    people = _People() if pseudonymised and pseudonymiser is None else None
    decoder = _Decoder(chain["contracts"], chain_id)
    tables = {name: TABLES[name] for name in manifest["tables"] if name in TABLES and TABLES[name].verified}
    unreadable = {name for name in tables if any(f in missing for f in manifest["tables"][name].get("files", []))}
    for name in sorted(unreadable):
        report.notes.append(f"{name}: rows were not compared (a file of the table is missing)")
    start = min(int(c["start_block"]) for c in chain["contracts"])

    # Pass 1: what rows depend on beyond their own log — registrations and their state, revocations,
    # and the activity directory as it was before the range (records are decoded with it).
    need_revocations = "contributions" in tables
    entity_events: set[str] = set()
    for name, t in tables.items():
        if t.kind == "entities" and name not in unreadable:
            entity_events.update(t.events)
    if need_revocations:
        entity_events.add("ContributionRevoked")
    checks_events = any(t.kind == "events" and name not in unreadable for name, t in tables.items())
    collected, directory = _context_rows(
        decoder, rpc, report, (start, from_block, to_block), entity_events, need_directory=checks_events
    )
    for r in collected.get("revocations", []):
        if int(r[2]) <= to_block:
            mapper.revoked[(r[_PROV + 1], r[_PROV])] = (r[2], r[5], r[7])
    for name, t in tables.items():
        if t.kind != "entities" or name in unreadable:
            continue
        files = manifest["tables"][name].get("files", [])
        expected = _entity_rows(mapper, collected, t, to_block)
        in_files, on_chain, per_file = _compare_entities(folder, fmt, t, files, expected, report, to_block)
        _check_count(report, manifest, t, files, in_files, on_chain, per_file)
        report.count(f"rows:{name}", in_files)

    # The metadata hashes the chain gave the activities and projects up to the last block (the
    # off-chain texts must hash to one of them); None when the export has no entity table to know them.
    known_hashes: set[str] | None = None
    if any(n in collected for n in ("activity_registrations", "project_registrations")):
        known_hashes = set()
        for index_table in (
            "activity_registrations",
            "activity_metadata_changes",
            "project_registrations",
            "project_metadata_changes",
        ):
            at = _at(index_table, "metadata_hash")
            known_hashes.update(str(r[at]).lower() for r in collected.get(index_table, []) if int(r[2]) <= to_block)

    # Pass 2: every log of the range, against the event tables, a chunk at a time.
    checks = {
        name: _TableCheck(
            folder, fmt, t, manifest["tables"][name].get("files", []), report, (from_block, to_block), people
        )
        for name, t in tables.items()
        if t.kind == "events" and name not in unreadable
    }
    # Live and revoked records per person and region on chain, for the ties (see _check_ties), and the
    # chain's own daily figures for the aggregates — when the export covers the whole index.
    records = _TieInputs() if "contributions" in checks else None
    index = manifest.get("index") or {}
    whole = from_block <= start and to_block == index.get("head_block")
    days = (
        _Days(mapper.revoked)
        if whole
        and "contributions" in checks
        and any(TABLES[n].kind == "aggregates" for n in manifest["tables"] if n in TABLES)
        else None
    )
    if checks:
        expected_logs = sum(
            int(entry.get("rows") or 0)
            for name, entry in manifest["tables"].items()
            if name in TABLES and TABLES[name].kind == "events" and name != "coin_movements"
        )
        covered = {_INDEX_TABLE_OF.get(name, name) for name in manifest["tables"]} | set(
            COIN_MOVEMENT_SOURCES if "coin_movements" in manifest["tables"] else ()
        )
        uncovered: dict[str, int] = {}
        for _lo, hi, sink, logs in decoder.fetch(
            rpc, from_block, to_block, expected_logs=expected_logs, activities=directory
        ):
            report.count("logs_fetched", logs)
            if days is not None:
                days.feed(sink)
            for check in checks.values():
                chain_rows = mapper.event_rows(check.t, sink)
                if records is not None and check.t.name == "contributions":
                    records.feed(check.t, chain_rows, sink, mapper)
                check.feed(chain_rows, hi)
            for index_table, index_rows in sink.rows.items():
                if index_table not in covered:
                    uncovered[index_table] = uncovered.get(index_table, 0) + len(index_rows)
        for index_table, n in sorted(uncovered.items()):
            report.notes.append(f"{n} log(s) of the range feed {index_table}, a table this export does not include")
        for name, check in checks.items():
            check.finish()
            _check_count(report, manifest, check.t, check.files, check.file_rows, check.chain_rows, check.rows_per_file)
            report.count(f"rows:{name}", check.file_rows)
    if people is not None:
        people.finish(report)

    # The other tables: rows as the manifest says (their bytes are covered by the hashes).
    for name, entry in manifest["tables"].items():
        other = TABLES.get(name)
        if other is None:
            report.add(Discrepancy(MANIFEST, None, name, None, None, None, "names a table this tool does not know"))
            continue
        if other.verified:
            continue
        files = [f for f in entry.get("files", []) if f not in missing]
        rows = 0
        counted: dict[str, int] = {}
        for f in files:
            try:
                counted[f] = _count_rows(folder / f, fmt, other, span, report)
            except _BadFile as exc:
                report.add(Discrepancy(f, None, None, None, None, None, str(exc)))
        rows = sum(counted.values())
        if other.kind == "reference" and len(files) == 1 and counted:
            _check_reference(folder / files[0], files[0], fmt, other, known_hashes, report)
        if len(files) == len(entry.get("files", [])):
            _check_count(report, manifest, other, files, rows, None, counted)
        report.count(f"rows:{name}", rows)
        if other.kind == "aggregates" and len(files) == 1 and counted:
            if days is None:
                report.notes.append(
                    f"{name}: rows were not recomputed from the chain (the export does not cover the whole index "
                    "with contributions)"
                )
            else:
                k = int(options.get("k") or 1)
                pending_days = (index.get("derived_pending") or {}).get("days")
                expected_rows = days.rows(name, k, mapper)
                _check_aggregates(folder / files[0], files[0], fmt, other, expected_rows, report, pending_days)
        if name == "ties" and records is not None and len(files) == 1 and len(counted) == 1:
            _check_ties(folder / files[0], files[0], fmt, manifest, (start, to_block), people, records, report)
    row_counts = manifest.get("row_counts")
    if not isinstance(row_counts, dict):
        report.add(Discrepancy(MANIFEST, None, None, "row_counts", None, None, "is missing"))
    else:
        for name in sorted(set(row_counts) - set(manifest["tables"])):
            report.add(
                Discrepancy(MANIFEST, None, f"row_counts.{name}", None, None, None, "counts a table the export lacks")
            )
    listed_files = {f for entry in manifest["tables"].values() for f in entry.get("files", [])}
    for name, entry in manifest["files"].items():
        if isinstance(entry, dict) and entry.get("table") is not None and name not in listed_files:
            report.add(
                Discrepancy(
                    MANIFEST,
                    None,
                    f"files.{name}",
                    "table",
                    None,
                    str(entry.get("table")),
                    "is a data file of no table's file list",
                )
            )
    report.count("tables", len(manifest["tables"]))
    for extra in (DATAPACKAGE, README):
        if extra not in manifest["files"]:
            report.add(Discrepancy(extra, None, None, None, None, None, "is not listed in the manifest"))
    return report


def _check_count(
    report: VerifyReport,
    manifest: dict[str, Any],
    t: ExportTable,
    files: Sequence[str],
    in_files: int,
    on_chain: int | None,
    per_file: dict[str, int] | None = None,
) -> None:
    """A table's rows against every count the manifest gives (``tables.T.rows``, ``row_counts.T``,
    ``files.F.rows``) and, for verified tables, against the chain."""
    listed = manifest["tables"][t.name].get("rows")
    where = files[0] if len(files) == 1 else f"{t.name} ({len(files)} files)"
    if listed != in_files:
        report.add(
            Discrepancy(
                where,
                None,
                f"manifest tables.{t.name}.rows",
                "rows",
                str(listed),
                str(in_files),
                "row count differs from the manifest",
            )
        )
    row_counts = manifest.get("row_counts")
    if isinstance(row_counts, dict) and row_counts.get(t.name) != in_files:
        report.add(
            Discrepancy(
                where,
                None,
                f"manifest row_counts.{t.name}",
                "rows",
                str(row_counts.get(t.name)),
                str(in_files),
                "row count differs from the manifest",
            )
        )
    for name, n in (per_file or {}).items():
        entry = manifest["files"].get(name)
        if not isinstance(entry, dict):
            continue
        if entry.get("rows") != n:
            report.add(
                Discrepancy(
                    name,
                    None,
                    f"manifest files.{name}.rows",
                    "rows",
                    str(entry.get("rows")),
                    str(n),
                    "row count of the file differs from the manifest",
                )
            )
        if entry.get("table") != t.name:
            report.add(
                Discrepancy(
                    name,
                    None,
                    f"manifest files.{name}.table",
                    "table",
                    t.name,
                    str(entry.get("table")),
                    "the manifest gives the file another table than the one listing it",
                )
            )
    if on_chain is not None and on_chain != in_files:
        report.add(
            Discrepancy(where, None, None, "rows", str(on_chain), str(in_files), "row count differs from the chain")
        )


def _claim(report: VerifyReport, key: str, expected: Any, found: Any, message: str) -> None:
    if expected != found:
        report.add(Discrepancy(MANIFEST, None, key, key.rsplit(".", 1)[-1], _canon(expected), _canon(found), message))


def _check_manifest_claims(manifest: dict[str, Any], rpc: JsonRpc, report: VerifyReport) -> None:
    """The rest of what the manifest states: each table's kind, events and blocks (what this tool writes
    for the range), the indexed head and the ties' as-of moment against the chain, the pseudonym scheme,
    the partitioning, and that each contract's start block is where its code appeared."""
    span, options = manifest["range"], manifest["options"]
    from_block, to_block = int(span["from_block"]), int(span["to_block"])
    _claim(report, "tool.name", "tsunagari-ledger", (manifest.get("tool") or {}).get("name"), "is not this tool's name")
    _claim(report, "options.tables", list(manifest["tables"]), options.get("tables"), "are not the tables exported")
    starts = [int(c["start_block"]) for c in manifest["chain"]["contracts"]]
    for name, entry in manifest["tables"].items():
        t = TABLES.get(name)
        if t is None or not isinstance(entry, dict):
            continue
        _claim(report, f"tables.{name}.kind", t.kind, entry.get("kind"), "is not the table's kind")
        if t.kind in ("events", "entities"):
            _claim(report, f"tables.{name}.events", list(t.events), entry.get("events"), "are not the table's events")
            first = from_block if t.kind == "events" else min(starts)
            _claim(report, f"tables.{name}.blocks", [first, to_block], entry.get("blocks"), "is not the range's blocks")
        partitioned = any("/" in f for f in entry.get("files", []))
        if partitioned and not (options.get("partition_by_month") and t.partitionable):
            _claim(report, f"tables.{name}.files", "one file", "files per month", "the options say one file a table")
        if not partitioned and options.get("partition_by_month") and t.partitionable:
            _claim(report, "options.partition_by_month", False, True, f"{name} is one file, not one per month")
    pseudonym = manifest.get("pseudonym")
    if options.get("pseudonymised"):
        pseudonym = pseudonym if isinstance(pseudonym, dict) else {}
        _claim(report, "pseudonym.scheme", SCHEME, pseudonym.get("scheme"), "is not the scheme this tool uses")
        _claim(report, "pseudonym.prefix", PREFIX, pseudonym.get("prefix"), "is not the prefix this tool uses")
    elif pseudonym is not None:
        _claim(report, "pseudonym", None, "a scheme", "a raw-address export has no pseudonym scheme")
    index = manifest.get("index") or {}
    head = index.get("head_block")
    if isinstance(head, int) and head >= to_block:
        header = _headers(rpc, [head]).get(head)
        if header is None:
            _claim(report, "index.head_block", "a block of the chain", head, "is not on the chain")
        else:
            _claim(report, "index.head_block_hash", header[0], index.get("head_block_hash"), "is not the block's hash")
            _claim(
                report, "index.head_block_timestamp", header[1], index.get("head_block_timestamp"), "is not its time"
            )
            pending = (index.get("derived_pending") or {}).get("ties")
            if index.get("ties_as_of") is not None and not pending:
                _claim(
                    report,
                    "index.ties_as_of",
                    jst.day_end(jst.date_of(header[1])),
                    index.get("ties_as_of"),
                    "is not the end of the JST day of the indexed head",
                )
    else:
        _claim(report, "index.head_block", f"≥ {to_block}", head, "the indexed head is before the range's last block")
    for c in manifest["chain"]["contracts"]:
        start = int(c["start_block"])
        if not _created_at(rpc, str(c["address"]).lower(), start, report, str(c["name"])):
            report.add(
                Discrepancy(
                    MANIFEST,
                    None,
                    f"chain.contracts.{c['name']}",
                    "start_block",
                    None,
                    str(start),
                    "is not the block the contract was created in",
                )
            )


def _created_at(rpc: JsonRpc, address: str, block: int, report: VerifyReport, name: str) -> bool:
    """Whether the contract at ``address`` was created in ``block``: a transaction of the block has it as
    its receipt's ``contractAddress`` (state-free, so a node that prunes old state can answer), else
    the code is absent before the block and present in it."""
    try:
        header = rpc.call("eth_getBlockByNumber", [hex(block), False])
        for tx in (header or {}).get("transactions", []):
            receipt = rpc.call("eth_getTransactionReceipt", [tx])
            if str((receipt or {}).get("contractAddress") or "").lower() == address:
                return True
        empty = ("0x", "", None)
        before = rpc.call("eth_getCode", [address, hex(block - 1)]) if block > 0 else "0x"
        return before in empty and rpc.call("eth_getCode", [address, hex(block)]) not in empty
    except RpcError:
        report.notes.append(f"{name}: the node could not say where the contract was created; start block not checked")
        return True


def _check_range_days(span: dict[str, Any], ends: dict[int, tuple[str, int]], report: VerifyReport) -> None:
    """The range's timestamps and JST days against its end blocks on chain (and the dates asked)."""
    days: dict[str, date] = {}
    for side, block_key, day_key in (("from", "from_block", "first_day"), ("to", "to_block", "last_day")):
        number = int(span[block_key])
        header = ends.get(number)
        if header is None:
            continue
        timestamp = header[1]
        label = f"{side}_block_timestamp"
        if span.get(label) != timestamp:
            report.add(
                Discrepancy(
                    MANIFEST,
                    None,
                    f"range, block {number}",
                    label,
                    str(timestamp),
                    _canon(span.get(label)),
                    "differs from the block's timestamp on chain",
                )
            )
        day = days[day_key] = jst.date_of(timestamp)
        if span.get(day_key) != day.isoformat():
            report.add(
                Discrepancy(
                    MANIFEST,
                    None,
                    f"range, block {number}",
                    day_key,
                    day.isoformat(),
                    _canon(span.get(day_key)),
                    f"is not the JST day of block {number} (timestamp {timestamp} on chain)",
                )
            )
    for asked_key, day_key, later in (("from_date", "first_day", False), ("to_date", "last_day", True)):
        asked, claimed = span.get(asked_key), days.get(day_key)
        if not asked or claimed is None:
            continue
        try:
            asked_day = date.fromisoformat(str(asked))
        except ValueError:
            report.add(Discrepancy(MANIFEST, None, "range", asked_key, None, str(asked), "is not a date"))
            continue
        if (claimed > asked_day) if later else (claimed < asked_day):
            report.add(
                Discrepancy(
                    MANIFEST,
                    None,
                    "range",
                    asked_key,
                    claimed.isoformat(),
                    asked_day.isoformat(),
                    f"the range's {'last' if later else 'first'} block is on {claimed.isoformat()} (JST), "
                    f"{'after' if later else 'before'} the day asked",
                )
            )


# The order of the tables verify does not rebuild row by row from logs (as the exporter writes them).
_ORDER: dict[str, tuple[str, ...]] = {
    "ties": ("region", "participant"),
    "region_daily": ("region", "day", "kind"),
    "region_daily_coins": ("region", "day"),
    "metadata_texts": ("metadata_hash",),
}


def _count_rows(path: Path, fmt: str, t: ExportTable, span: dict[str, Any], report: VerifyReport) -> int:
    """Rows of a table verify does not rebuild; an aggregate's days must lie in the range's days."""
    day_at = t.positions.get("day") if t.kind == "aggregates" else None
    try:
        first, last = date.fromisoformat(str(span.get("first_day"))), date.fromisoformat(str(span.get("last_day")))
    except ValueError:
        day_at = None
    rows = 0
    outside: dict[str, list[Any]] = {}
    order = [t.positions[c] for c in _ORDER.get(t.name, ())]
    previous: tuple[Any, ...] | None = None
    for row_no, values in _file_rows(path, fmt, t):
        rows += 1
        if order:
            current = tuple(values[i] for i in order)
            try:
                backwards = previous is not None and current < previous
            except TypeError:
                backwards = False
            if backwards:
                names = ", ".join(_ORDER[t.name])
                report.add(
                    Discrepancy(
                        _relative(path),
                        row_no,
                        ", ".join(f"{n} {_canon(v)}" for n, v in zip(_ORDER[t.name], current, strict=True)),
                        None,
                        None,
                        None,
                        f"is out of order: rows are ordered by {names} and row {row_no - 1} comes later",
                    )
                )
            previous = current
        if day_at is None:
            continue
        day = values[day_at]
        if isinstance(day, date) and not first <= day <= last:
            side = "after" if day > last else "before"
            seen = outside.setdefault(side, [row_no, day, 0])
            seen[2] += 1
    for side, (row_no, day, n) in outside.items():
        edge = last if side == "after" else first
        report.add(
            Discrepancy(
                _relative(path),
                row_no,
                None,
                "day",
                f"{'≤' if side == 'after' else '≥'} {edge.isoformat()}",
                day.isoformat(),
                f"rows beyond the claimed range: {n} row(s) {side} {edge.isoformat()}, the range's "
                f"{'last' if side == 'after' else 'first'} day in manifest.json (from row {row_no} on)",
            )
        )
    return rows


def _relative(path: Path) -> str:
    """A data file's name as the manifest lists it (the table's folder when partitioned)."""
    parent = path.parent.name
    return f"{parent}/{path.name}" if parent in TABLES else path.name


def _check_reference(
    path: Path, name: str, fmt: str, t: ExportTable, known_hashes: set[str] | None, report: VerifyReport
) -> None:
    """A reference table from code must be what this tool writes; an off-chain text must hash to its
    metadata hash, and the chain must know that hash."""
    if t.name == "metadata_texts":
        at = t.positions
        for row_no, values in _file_rows(path, fmt, t):
            claimed = _canon(values[at["metadata_hash"]])
            texts = [_canon(values[at[n]]) or "" for n in ("name", "description", "venue")]
            _document, digest = metadata_document(*texts)
            key = f"metadata_hash {claimed}"
            if digest != claimed:
                report.add(
                    Discrepancy(
                        name,
                        row_no,
                        key,
                        "name",
                        claimed,
                        digest,
                        "the text does not hash to its metadata hash: name, description or venue was edited "
                        "(expected is the hash on chain, found the hash of this row's text)",
                    )
                )
            elif known_hashes is not None and claimed not in known_hashes:
                report.add(
                    Discrepancy(
                        name,
                        row_no,
                        key,
                        "metadata_hash",
                        None,
                        claimed,
                        "no activity or project of the export has this metadata hash on chain",
                    )
                )
        return
    expected = reference_rows(t)
    found = list(_file_rows(path, fmt, t))
    for (row_no, values), want in zip(found, expected, strict=False):
        want_typed = tuple(float(v) if f.type == "number" else v for v, f in zip(want, t.fields, strict=True))
        if tuple(values) != want_typed:
            _compare_row(report, t, (name, row_no, tuple(values)), want_typed, f"{t.key[0]} {want[0]}")
    if len(found) != len(expected):
        report.add(
            Discrepancy(
                name, None, None, "rows", str(len(expected)), str(len(found)), "differs from what this tool writes"
            )
        )


@dataclass
class _Days:
    """The chain's own per region and day figures, tallied from the range's rows as the index's
    refresher computes ``region_daily`` and ``region_daily_coins`` (ledger/indexer/refresh.py)."""

    revoked: dict[tuple[Any, Any], Any]  # (activity id, address) → the revocation up to the last block
    daily: dict[tuple[int, int, int], list[Any]] = field(default_factory=dict)  # → mlit, live, people, coins, revoked
    coins: dict[tuple[int, int], list[Any]] = field(default_factory=dict)  # → issued … expired, holders

    def _day(self, region: int, day: int) -> list[Any]:
        entry = self.coins.get((region, day))
        if entry is None:
            entry = self.coins[(region, day)] = [0, 0, 0, 0, 0, 0, set()]
        return entry

    def feed(self, sink: ChunkSink) -> None:
        at = {t: {c: _at(t, c) for c in TABLE_COLUMNS[t]} for t in ("contributions", "revocations", "supports")}
        c = at["contributions"]
        for r in sink.rows.get("contributions", []):
            region, day, kind = int(r[c["region"]]), int(r[c["day"]]), int(r[c["kind"]])
            entry = self.daily.get((region, day, kind))
            if entry is None:
                entry = self.daily[(region, day, kind)] = [int(r[c["mlit_type"]]), 0, set(), 0, 0]
            revoked = (r[c["activity_id"]], r[c["participant"]]) in self.revoked
            if revoked:
                entry[4] += 1
            else:
                entry[1] += 1
                entry[2].add(r[c["participant"]])
            entry[3] += int(r[c["amount"]])
            self._day(region, day)[0] += int(r[c["amount"]])
        s = at["supports"]
        for r in sink.rows.get("supports", []):
            entry = self._day(int(r[s["region"]]), int(r[s["day"]]))
            entry[1] += int(r[s["amount"]])
            entry[3] += 1
        v = at["revocations"]
        for r in sink.rows.get("revocations", []):
            entry = self._day(int(r[v["region"]]), int(r[v["day"]]))
            entry[2] += int(r[v["clawed_back"]])
            entry[4] += 1
        e = {col: _at("coin_expiries", col) for col in TABLE_COLUMNS["coin_expiries"]}
        for r in sink.rows.get("coin_expiries", []):
            entry = self._day(int(r[e["region"]]), int(r[e["day"]]))
            entry[5] += int(r[e["amount"]])
            entry[6].add(r[e["holder"]])

    def rows(self, name: str, k: int, mapper: _Mapper) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        """The table's rows as the export writes them, by key."""
        t = TABLES[name]
        out: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        if name == "region_daily":
            for (region, day, kind), (mlit, live, people, issued, revoked) in self.daily.items():
                row = mapper.canon_row(t, daily_row(region, day, kind, mlit, live, len(people), issued, revoked, k=k))
                if mapper.keep(t, (region,) * len(t.fields)):
                    out[row[:3]] = row
            return out
        most: dict[tuple[int, int], int] = {}
        for (region, day, _kind), entry in self.daily.items():
            most[(region, day)] = max(most.get((region, day), 0), len(entry[2]))
        for (region, day), (issued, spent, clawed, supports, revocations, expired, holders) in self.coins.items():
            if not (issued or supports or revocations or expired):
                continue
            values = (region, day, issued, spent, clawed, supports, revocations, expired)
            row = mapper.canon_row(t, daily_coins_row(*values, most.get((region, day)), len(holders), k=k))
            if mapper.keep(t, (region,) * len(t.fields)):
                out[row[:2]] = row
        return out


def _within_pending(report: VerifyReport, found: list[tuple[Any, Discrepancy]], pending: Any, what: str) -> None:
    """Report ``found`` unless the derived rows that differ are no more than the manifest says were
    still waiting to be recomputed when the export was made (then a note says so)."""
    units = {unit for unit, _d in found}
    if found and isinstance(pending, int) and len(units) <= pending:
        report.notes.append(
            f"{what}: {len(units)} differ from the chain's rows, within the {pending} the manifest says were "
            "still waiting to be recomputed at export time"
        )
        return
    for _unit, discrepancy in found:
        report.add(discrepancy)


def _check_aggregates(
    path: Path,
    name: str,
    fmt: str,
    t: ExportTable,
    expected: dict[tuple[Any, ...], tuple[Any, ...]],
    report: VerifyReport,
    pending: Any,
) -> None:
    """An aggregate table's rows against the chain's own tally (same suppression); up to ``pending``
    region-days may differ (the index's days still being recomputed when the export was made)."""
    width = len(t.key)
    found: list[tuple[Any, Discrepancy]] = []
    try:
        for row_no, values in _file_rows(path, fmt, t):
            key = tuple(values[:width])
            key_text = ", ".join(f"{n} {_canon(v)}" for n, v in zip(t.key, key, strict=True))
            want = expected.pop(key, None)
            if want is None:
                message = "is not on chain: no record, support, revocation or lapse of the chain makes this row"
                found.append((key[:2], Discrepancy(name, row_no, key_text, None, None, None, message)))
            else:
                differences = VerifyReport()
                _compare_row(differences, t, (name, row_no, tuple(values)), want, key_text)
                found += [(key[:2], d) for d in differences.discrepancies]
    except _BadFile as exc:
        report.add(Discrepancy(name, None, None, None, None, None, str(exc)))
        return
    for key in expected:
        key_text = ", ".join(f"{n} {_canon(v)}" for n, v in zip(t.key, key, strict=True))
        message = "is missing: the chain's rows of the range make this row"
        found.append((key[:2], Discrepancy(name, None, key_text, None, None, None, message)))
    _within_pending(report, found, pending, name)


_TIE_INPUT_LIMIT = 2_000_000  # records held in memory to recompute the ties; beyond it only counts are kept


@dataclass
class _TieInputs:
    """Per person and region, the chain's records and supports, to recompute the ties table."""

    records: dict[tuple[Any, str], list[TieRecord]] = field(default_factory=dict)
    supports: dict[tuple[Any, str], list[tuple[int, int]]] = field(default_factory=dict)
    count: int = 0

    @property
    def complete(self) -> bool:
        return self.count <= _TIE_INPUT_LIMIT

    def feed(self, t: ExportTable, rows: Sequence[tuple[Any, ...]], sink: ChunkSink, mapper: _Mapper) -> None:
        at = t.positions
        for r in rows:
            self.count += 1
            if not self.complete:
                return
            record = TieRecord(
                int(r[at["block_timestamp"]]),
                int(r[at["kind"]]),
                int(r[at["amount"]]),
                int(r[at["activity_id"]]),
                bool(r[at["revoked"]]),
                int(r[at["units"]]),
                int(r[at["unit"]]),
            )
            self.records.setdefault((r[at["participant"]], r[at["region"]]), []).append(record)
        supporter, region, amount = (_at("supports", c) for c in ("supporter", "region", "amount"))
        for r in sink.rows.get("supports", []):
            key = (mapper.person(r[supporter]), _jis(r[region]))
            self.supports.setdefault(key, []).append((int(r[4]), int(r[amount])))


def _tie_values(records: list[TieRecord], supports: list[tuple[int, int]], as_of: int) -> dict[str, Any]:
    """A tie's columns as the index's refresher writes them (:func:`ledger.indexer.refresh.tie_columns`),
    recomputed with the model (:func:`ledger.ties.compute_tie`) from the chain's records and supports."""
    tie = compute_tie(records, given_in_window(supports, as_of, DEFAULT_PARAMS), as_of, DEFAULT_PARAMS)
    # recency and score are not stored but read for the head's day: the model's values as of as_of
    return {**tie_columns(tie, records, as_of), "recency": tie.components.recency, "score": tie.score, "as_of": as_of}


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, float) and isinstance(got, int | float) and not isinstance(got, bool):
        return abs(want - got) <= 1e-9 * max(1.0, abs(want))
    return bool(want == got)


def _check_ties(
    path: Path,
    name: str,
    fmt: str,
    manifest: dict[str, Any],
    blocks: tuple[int, int],
    people: _People | None,
    inputs: _TieInputs,
    report: VerifyReport,
) -> None:
    """Ties are the index's derived table, recomputed here: each tie's person id must stand for a person
    of the records (the one-to-one correspondence holds in ties too), and every column — records,
    components, score, stage, 関係人口 and its category — must be what the model gives for that
    person's records and supports on chain, as of the manifest's ``ties_as_of``. Checked when the
    export covers the whole index (deployment to the indexed head) with nothing derived pending."""
    span, index = manifest["range"], manifest.get("index") or {}
    pending = (index.get("derived_pending") or {}).get("ties")
    start, to_block = blocks
    as_of = index.get("ties_as_of")
    if int(span["from_block"]) > start or to_block != index.get("head_block") or not isinstance(as_of, int):
        report.notes.append("ties: not compared with the records (the export does not cover the whole index)")
        return
    if not inputs.complete:
        report.notes.append(f"ties: not recomputed (more than {_TIE_INPUT_LIMIT:,} records); hashes and counts only")
        return
    t = TABLES["ties"]
    at = t.positions
    remaining = dict(inputs.records)
    found: list[tuple[Any, Discrepancy]] = []
    try:
        for row_no, values in _file_rows(path, fmt, t):
            person_id, region = values[at["participant"]], values[at["region"]]
            key_text = f"participant {person_id}, region {region}"
            person: Any = person_id
            if people is not None:
                owner = people.address_of(str(person_id))
                if owner is None:
                    found.append(
                        (
                            key_text,
                            Discrepancy(
                                name,
                                row_no,
                                key_text,
                                "participant",
                                None,
                                _canon(person_id),
                                "is not the person id of any record: no person on chain stands behind it",
                            ),
                        )
                    )
                    continue
                person = _Person(owner)
            records = remaining.pop((person, region), None)
            if records is None:
                message = "is not on chain: this person has no record in this region"
                found.append((key_text, Discrepancy(name, row_no, key_text, None, None, None, message)))
                continue
            want = _tie_values(records, inputs.supports.get((person, region), []), as_of)
            for field_name, expected in want.items():
                got = values[at[field_name]]
                if not _same(expected, got):
                    message = "differs from the tie the model gives for this person's records on chain"
                    found.append(
                        (
                            key_text,
                            Discrepancy(name, row_no, key_text, field_name, _canon(expected), _canon(got), message),
                        )
                    )
    except _BadFile as exc:
        report.add(Discrepancy(name, None, None, None, None, None, str(exc)))
        return
    for (person, region), records in remaining.items():
        message = f"is missing a tie: a person has {len(records)} record(s) in this region on chain but no row here"
        found.append(((person, region), Discrepancy(name, None, f"region {region}", None, None, None, message)))
    _within_pending(report, found, pending, "ties")


def _json_diffs(want: Any, got: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(path, expected, found) for every difference between two JSON values."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in want:
            if key not in got:
                yield f"{path}.{key}", want[key], None
            else:
                yield from _json_diffs(want[key], got[key], f"{path}.{key}")
        for key in got:
            if key not in want:
                yield f"{path}.{key}", None, got[key]
        return
    if isinstance(want, list) and isinstance(got, list):
        for i, (a, b) in enumerate(zip(want, got, strict=False)):
            label = a.get("name") if isinstance(a, dict) and isinstance(a.get("name"), str) else i
            yield from _json_diffs(a, b, f"{path}[{label}]")
        if len(want) != len(got):
            yield f"{path} (length)", len(want), len(got)
        return
    if type(want) is not type(got) or want != got:
        yield path, want, got


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text_value = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text_value if len(text_value) <= 200 else text_value[:199] + "…"


def _check_descriptors(folder: Path, manifest: dict[str, Any], missing: set[str], report: VerifyReport) -> None:
    """``datapackage.json`` and ``README.md`` must be what this tool writes for this manifest: the data
    dictionary (every field's type, unit, description), the sources and the coverage cannot be edited."""
    body = {k: v for k, v in manifest.items() if k != "files"}
    try:
        files_by_table: dict[str, list[FileRecord]] = {}
        for name, entry in manifest["tables"].items():
            if name not in TABLES:
                continue
            files_by_table[name] = []
            for path in entry.get("files", []):
                listed = manifest["files"].get(path) or {}
                files_by_table[name].append(
                    FileRecord(
                        path,
                        str(listed.get("sha256", "")),
                        int(listed.get("bytes") or 0),
                        listed.get("rows"),
                        listed.get("table"),
                        listed.get("month"),
                    )
                )
        want_package = datapackage(body, files_by_table)
        want_readme = readme(body, files_by_table)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        report.add(
            Discrepancy(
                MANIFEST,
                None,
                None,
                None,
                None,
                None,
                f"datapackage.json and README.md cannot be rebuilt from it: {exc!r} (an edited manifest)",
            )
        )
        return
    if DATAPACKAGE not in missing and (folder / DATAPACKAGE).is_file():
        try:
            found = orjson.loads((folder / DATAPACKAGE).read_bytes())
        except orjson.JSONDecodeError as exc:
            report.add(Discrepancy(DATAPACKAGE, None, None, None, None, None, f"is not valid JSON ({exc})"))
        else:
            for n, (path, want, got) in enumerate(_json_diffs(want_package, found, "")):
                if n >= _MAX_JSON_DIFFS:
                    break
                report.add(
                    Discrepancy(
                        DATAPACKAGE,
                        None,
                        None,
                        path.lstrip("."),
                        _short(want),
                        _short(got),
                        "differs from the data package this tool writes for this export's manifest",
                    )
                )
    if README not in missing and (folder / README).is_file():
        found_lines = (folder / README).read_text(encoding="utf-8", errors="replace").splitlines()
        want_lines = want_readme.splitlines()
        for line_no, (a, b) in enumerate(zip(want_lines, found_lines, strict=False), start=1):
            if a != b:
                report.add(
                    Discrepancy(
                        README,
                        None,
                        f"line {line_no}",
                        None,
                        _short(a),
                        _short(b),
                        "differs from the data dictionary this tool writes for this export's manifest",
                    )
                )
                break
        else:
            if len(want_lines) != len(found_lines):
                report.add(
                    Discrepancy(
                        README,
                        None,
                        None,
                        "lines",
                        str(len(want_lines)),
                        str(len(found_lines)),
                        "differs from the data dictionary this tool writes for this export's manifest",
                    )
                )
