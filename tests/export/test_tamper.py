"""Tampering that the file hashes alone cannot catch, because the manifest is resealed after it.

A careful hand edits the data, then rewrites ``manifest.json`` (every file's sha256, size and, where
it edited them, its row counts) and regenerates ``datapackage.json`` and ``README.md`` with this
tool, so the folder is internally consistent. Verify must still fail, without the salt (the normal
case for a researcher), with a discrepancy that names the file, the row and what differs. Each case
runs on CSV and Parquet exports of a real history (anvil over HTTP, indexed into SQLite).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger import jst
from ledger.export import Discrepancy, ExportOptions, VerifyReport, export_dataset, verify_export
from ledger.export.package import DATAPACKAGE, MANIFEST, README, datapackage, readme
from ledger.export.schema import TABLES
from ledger.export.writers import FileRecord
from ledger.indexer.rpc import quantity
from tests.export.conftest import Indexed

SALT = bytes(range(7, 39))
FORMATS = ["csv", "parquet"]
Rows = list[dict[str, Any]]


def export(indexed: Indexed, out: Path, fmt: str) -> dict[str, Any]:
    options = ExportOptions(format=fmt, salt=SALT)  # type: ignore[arg-type]
    return export_dataset(indexed.engine, indexed.history.deployment, options, out).manifest


def read_rows(folder: Path, fmt: str, table: str) -> Rows:
    path = folder / f"{table}.{fmt}"
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    rows: Rows = pq.read_table(path).to_pylist()
    return rows


def write_rows(folder: Path, fmt: str, table: str, rows: Rows) -> None:
    path = folder / f"{table}.{fmt}"
    names = list(TABLES[table].field_names)
    if fmt == "csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
            writer.writerow(names)
            writer.writerows([[row[n] for n in names] for row in rows])
        return
    schema = pq.read_schema(path)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def edit(folder: Path, fmt: str, table: str, change: Callable[[Rows], Rows | None]) -> None:
    rows = read_rows(folder, fmt, table)
    changed = change(rows)
    write_rows(folder, fmt, table, rows if changed is None else changed)


def _digest(path: Path) -> tuple[str, int]:
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), len(data)


def reseal(folder: Path, change: Callable[[dict[str, Any]], None] | None = None, descriptors: bool = True) -> None:
    """Rewrite the manifest as the exporter would for the files as they are now (after ``change``),
    regenerating datapackage.json and README.md with the tool unless ``descriptors`` is False."""
    manifest = json.loads((folder / MANIFEST).read_text())
    if change is not None:
        change(manifest)
    for name, entry in manifest["files"].items():
        if name not in (DATAPACKAGE, README):
            entry["sha256"], entry["bytes"] = _digest(folder / name)
    if descriptors:
        files = manifest["files"]
        body = {k: v for k, v in manifest.items() if k != "files"}
        by_table = {
            table: [
                FileRecord(p, files[p]["sha256"], files[p]["bytes"], files[p]["rows"], files[p]["table"])
                for p in entry["files"]
            ]
            for table, entry in manifest["tables"].items()
        }
        (folder / DATAPACKAGE).write_bytes(
            orjson.dumps(datapackage(body, by_table), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        )
        (folder / README).write_text(readme(body, by_table), encoding="utf-8")
    for name in (DATAPACKAGE, README):
        manifest["files"][name]["sha256"], manifest["files"][name]["bytes"] = _digest(folder / name)
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2))


def problems(report: VerifyReport) -> list[Discrepancy]:
    assert not report.ok
    assert not report.personal_fields_checked  # all of this holds without the salt
    return report.discrepancies


@pytest.fixture
def clean(anvil_indexed: Indexed, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, str]:
    fmt = request.param
    export(anvil_indexed, tmp_path / "out", fmt)
    report = verify_export(tmp_path / "out", anvil_indexed.rpc)
    assert report.ok, report.lines()
    return tmp_path / "out", fmt


by_format = pytest.mark.parametrize("clean", FORMATS, indirect=True)


def _people(rows: Rows) -> list[str]:
    return sorted({str(r["participant"]) for r in rows})


# -- person ids against addresses, without the salt ------------------------------------------------------


@by_format
def test_a_reassigned_person_id_fails(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    folder, fmt = clean
    target = f"contributions.{fmt}"

    def reassign(rows: Rows) -> None:
        other = next(r["participant"] for r in rows if r["participant"] != rows[0]["participant"])
        rows[0]["participant"] = other  # row 1 now claims another (real) person did it

    edit(folder, fmt, "contributions", reassign)
    reseal(folder)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    [row] = [d for d in found if d.file == target]
    assert (row.row, row.field) == (1, "participant")
    assert "one person, two ids" in row.message or "one id, two people" in row.message
    assert f"{target} row 1" in str(row) and "participant" in str(row)


@by_format
def test_swapped_person_ids_fail(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    folder, fmt = clean

    def swap(rows: Rows) -> None:
        j = next(i for i, r in enumerate(rows) if r["participant"] != rows[0]["participant"])
        rows[0]["participant"], rows[j]["participant"] = rows[j]["participant"], rows[0]["participant"]

    edit(folder, fmt, "contributions", swap)
    reseal(folder)
    found = [d for d in problems(verify_export(folder, anvil_indexed.rpc)) if d.file == f"contributions.{fmt}"]
    assert found and all(d.field == "participant" and d.row is not None for d in found)
    assert 1 in {d.row for d in found}


@by_format
def test_merged_people_fail_even_when_merged_in_every_table(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    """Two people made one, consistently in every table with person ids: the rebuilt 関係人口 would
    shrink, and only the correspondence with the chain's addresses shows it."""
    folder, fmt = clean
    a, b = _people(read_rows(folder, fmt, "contributions"))[:2]
    person_columns = {
        name: [f.name for f in t.fields if f.personal]
        for name, t in TABLES.items()
        if any(f.personal for f in t.fields)
    }
    for name, columns in person_columns.items():
        if not (folder / f"{name}.{fmt}").exists():
            continue

        def merge(rows: Rows, columns: list[str] = columns) -> None:
            for r in rows:
                for c in columns:
                    if r[c] == b:
                        r[c] = a

        edit(folder, fmt, name, merge)
    # Ties get one row per person and region: keep the first of the two, as a careful hand would.
    edit(folder, fmt, "ties", lambda rows: list({(r["participant"], r["region"]): r for r in reversed(rows)}.values()))

    def recount(manifest: dict[str, Any]) -> None:
        n = len(read_rows(folder, fmt, "ties"))
        manifest["row_counts"]["ties"] = manifest["tables"]["ties"]["rows"] = manifest["files"][f"ties.{fmt}"][
            "rows"
        ] = n

    reseal(folder, recount)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    merged = [d for d in found if "one id, two people" in d.message]
    assert merged and all(d.row is not None and d.field in ("participant", "account", "supporter") for d in merged)
    assert {d.file for d in merged} >= {f"contributions.{fmt}", f"coin_movements.{fmt}"}


@by_format
def test_a_split_person_fails(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    """One person's later records given a new id (in contributions and their mints alike)."""
    folder, fmt = clean
    a = _people(read_rows(folder, fmt, "contributions"))[0]
    new_id = "p_" + "5" * 32
    blocks: set[Any] = set()

    def split(rows: Rows) -> None:
        mine = [r for r in rows if r["participant"] == a]
        for r in mine[len(mine) // 2 :]:
            r["participant"] = new_id
            blocks.add(str(r["block_number"]))

    def split_mints(rows: Rows) -> None:
        for r in rows:
            if r["account"] == a and str(r["block_number"]) in blocks and r["movement"] == "mint":
                r["account"] = new_id

    edit(folder, fmt, "contributions", split)
    edit(folder, fmt, "coin_movements", split_mints)
    reseal(folder)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    split_rows = [d for d in found if "one person, two ids" in d.message]
    assert split_rows and {d.found for d in split_rows} == {new_id}
    assert all(d.row is not None for d in split_rows)


@by_format
def test_a_tie_of_nobody_fails(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    folder, fmt = clean

    def invent(rows: Rows) -> None:
        rows[0]["participant"] = "p_" + "6" * 32

    edit(folder, fmt, "ties", invent)
    reseal(folder)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    rows = [d for d in found if d.file == f"ties.{fmt}" and d.row == 1]
    assert rows and rows[0].field == "participant" and "no person on chain" in rows[0].message


@by_format
def test_edited_tie_records_fail(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    folder, fmt = clean

    def inflate(rows: Rows) -> None:
        rows[2]["records"] = int(rows[2]["records"]) + 3

    edit(folder, fmt, "ties", inflate)
    reseal(folder)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    [row] = [d for d in found if d.file == f"ties.{fmt}"]
    assert (row.row, row.field) == (3, "records") and int(row.found or 0) == int(row.expected or 0) + 3


# -- the manifest's counts and range -----------------------------------------------------------------------


@by_format
def test_edited_row_counts_fail(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    folder, fmt = clean

    def count(manifest: dict[str, Any]) -> None:
        manifest["row_counts"]["revocations"] += 1
        manifest["files"][f"supports.{fmt}"]["rows"] += 2

    reseal(folder, count)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    by_key = {d.key: d for d in found}
    assert (by_key["manifest row_counts.revocations"].file, by_key["manifest row_counts.revocations"].found) == (
        f"revocations.{fmt}",
        "1",
    )
    supports = by_key[f"manifest files.supports.{fmt}.rows"]
    assert (supports.file, supports.expected, supports.found) == (f"supports.{fmt}", "3", "1")


@by_format
def test_edited_range_days_fail(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    folder, _fmt = clean

    def days(manifest: dict[str, Any]) -> None:
        manifest["range"]["first_day"] = "2001-01-01"
        manifest["range"]["last_day"] = "2099-12-31"
        manifest["range"]["to_block_timestamp"] += 86_400

    reseal(folder, days)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    fields = {d.field: d for d in found if d.file == MANIFEST}
    assert fields["first_day"].found == "2001-01-01" and "is not the JST day of block" in fields["first_day"].message
    assert "differs from the block's timestamp on chain" in fields["to_block_timestamp"].message
    assert fields["last_day"].found == "2099-12-31" and fields["last_day"].expected != "2099-12-31"


@by_format
def test_rows_out_of_chain_order_fail(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    folder, fmt = clean

    def swap(rows: Rows) -> None:
        rows[4], rows[5] = rows[5], rows[4]

    edit(folder, fmt, "batches", swap)
    reseal(folder)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    [row] = found
    assert (row.file, row.row) == (f"batches.{fmt}", 6) and "out of chain order" in row.message
    assert "comes after" in str(row) and f"batches.{fmt} row 5" in row.message


@by_format
def test_a_shrunken_range_is_one_clear_message_per_file(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    """The last block moved back to an earlier block (with its real hash, time and day): the rows after
    it are named once per file, not one 'not on chain' line each."""
    folder, fmt = clean
    contributions = read_rows(folder, fmt, "contributions")
    new_end = int(contributions[len(contributions) // 2]["block_number"])
    block = anvil_indexed.rpc.call("eth_getBlockByNumber", [hex(new_end), False])
    timestamp = quantity(block["timestamp"])

    def shrink(manifest: dict[str, Any]) -> None:
        span = manifest["range"]
        span["to_block"], span["to_block_hash"], span["to_block_timestamp"] = new_end, block["hash"], timestamp
        span["last_day"] = jst.date_of(timestamp).isoformat()
        for entry in manifest["tables"].values():
            if "blocks" in entry:
                entry["blocks"][1] = new_end

    reseal(folder, shrink)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    assert not [d for d in found if "is not on chain" in d.message], [str(d) for d in found]
    beyond = [d for d in found if "rows beyond the claimed range" in d.message]
    per_file = {d.file for d in beyond}
    assert len(per_file) == len(beyond)  # one line per file
    after = sum(1 for r in contributions if int(r["block_number"]) > new_end)
    [line] = [d for d in beyond if d.file == f"contributions.{fmt}"]
    assert f"{after} row(s) after block {new_end}" in line.message and line.row == len(contributions) - after + 1
    assert len(found) < 40


# -- the data package ---------------------------------------------------------------------------------------


@by_format
@pytest.mark.parametrize("what", ["description", "type", "sources"])
def test_an_edited_datapackage_fails(anvil_indexed: Indexed, clean: tuple[Path, str], what: str) -> None:
    folder, _fmt = clean
    package = json.loads((folder / DATAPACKAGE).read_text())
    resource = next(r for r in package["resources"] if r["name"] == "contributions")
    amount = next(f for f in resource["schema"]["fields"] if f["name"] == "amount")
    if what == "description":
        amount["description"] = "yen paid to the participant"
        path = "resources[contributions].schema.fields[amount].description"
    elif what == "type":
        amount["type"] = "number"
        path = "resources[contributions].schema.fields[amount].type"
    else:
        package["sources"][0]["path"] = "eip155:1:0x" + "00" * 20
        path = "sources[0].path"
    (folder / DATAPACKAGE).write_text(json.dumps(package, ensure_ascii=False, indent=2))
    reseal(folder, descriptors=False)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    [only] = found
    assert (only.file, only.field) == (DATAPACKAGE, path) and "differs from the data package" in only.message


@by_format
def test_an_edited_readme_fails(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    folder, _fmt = clean
    text = (folder / README).read_text(encoding="utf-8")
    (folder / README).write_text(
        text.replace("coins minted by the record", "yen paid for the record"), encoding="utf-8"
    )
    reseal(folder, descriptors=False)
    [only] = problems(verify_export(folder, anvil_indexed.rpc))
    assert only.file == README and (only.key or "").startswith("line ") and "yen paid" in (only.found or "")


# -- municipality codes --------------------------------------------------------------------------------------


@by_format
def test_municipality_codes_are_five_digit_text(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    folder, fmt = clean
    if fmt == "parquet":
        assert pq.read_schema(folder / "contributions.parquet").field("region").type == pa.string()
    else:
        assert '"12205"' in (folder / "contributions.csv").read_text()
    package = json.loads((folder / DATAPACKAGE).read_text())
    for resource in package["resources"]:
        for f in resource["schema"]["fields"]:
            if f["name"] == "region":
                assert f["type"] == "string", resource["name"]
    assert {str(r["region"]) for r in read_rows(folder, fmt, "regions")} == {"12205", "15202"}


# -- the aggregates ---------------------------------------------------------------------------------------


@by_format
@pytest.mark.parametrize(("table", "column"), [("region_daily", "records"), ("region_daily_coins", "issued")])
def test_an_edited_aggregate_fails(anvil_indexed: Indexed, clean: tuple[Path, str], table: str, column: str) -> None:
    """Aggregates of an export of the whole index are recomputed from the chain's rows (same suppression)."""
    folder, fmt = clean
    rows = read_rows(folder, fmt, table)
    i = next(i for i, r in enumerate(rows) if r[column] not in (None, ""))
    rows[i][column] = int(rows[i][column]) + 100
    write_rows(folder, fmt, table, rows)
    reseal(folder)
    [only] = problems(verify_export(folder, anvil_indexed.rpc))
    assert (only.file, only.row, only.field) == (f"{table}.{fmt}", i + 1, column)
    assert int(only.found or 0) == int(only.expected or 0) + 100 and "differs from the chain" in only.message


@by_format
def test_an_edited_tie_stage_fails(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    """Someone counting 関係人口 from the ties table is protected too: every tie is recomputed."""
    folder, fmt = clean
    rows = read_rows(folder, fmt, "ties")
    i = 1
    rows[i]["stage"] = "visitor" if rows[i]["stage"] != "visitor" else "core"
    rows[i]["score"] = float(rows[i]["score"]) + 7.5
    write_rows(folder, fmt, "ties", rows)
    reseal(folder)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    assert {d.field for d in found} == {"stage", "score"}
    assert all((d.file, d.row) == (f"ties.{fmt}", i + 1) for d in found)
    assert all("the model gives" in d.message for d in found)


@by_format
@pytest.mark.parametrize("table", ["ties", "region_daily", "region_daily_coins"])
def test_derived_rows_out_of_order_fail(anvil_indexed: Indexed, clean: tuple[Path, str], table: str) -> None:
    folder, fmt = clean

    def swap(rows: Rows) -> None:
        rows[0], rows[1] = rows[1], rows[0]

    edit(folder, fmt, table, swap)
    reseal(folder)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    assert [(d.file, d.row) for d in found] == [(f"{table}.{fmt}", 2)]
    assert "is out of order" in found[0].message


# -- the rest of the manifest ------------------------------------------------------------------------------


@by_format
@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("index", "head_block_hash"), "0x" + "ab" * 32),
        (("index", "head_block_timestamp"), 12),
        (("index", "ties_as_of"), 12),
        (("tables", "contributions", "kind"), "aggregates"),
        (("tables", "supports", "blocks"), [0, 1]),
        (("options", "tables"), ["contributions"]),
        (("pseudonym", "prefix"), "q_"),
    ],
)
def test_an_edited_manifest_claim_fails(
    anvil_indexed: Indexed, clean: tuple[Path, str], path: tuple[str, ...], value: Any
) -> None:
    folder, _fmt = clean

    def claim(manifest: dict[str, Any]) -> None:
        target = manifest
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    reseal(folder, claim)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    named = [d for d in found if d.file == MANIFEST and (d.key or "").endswith(".".join(path[1:]))]
    assert named, [str(d) for d in found]


@by_format
def test_derived_rows_still_pending_are_a_note_not_a_failure(anvil_indexed: Indexed, clean: tuple[Path, str]) -> None:
    """An export made while the index was still recomputing ties says how many; up to that many ties may
    differ from the chain (a note), more may not."""
    folder, fmt = clean
    edit(folder, fmt, "ties", lambda rows: rows.__setitem__(0, {**rows[0], "score": float(rows[0]["score"]) + 1}))

    def pending(n: int) -> Callable[[dict[str, Any]], None]:
        def change(manifest: dict[str, Any]) -> None:
            manifest["index"]["derived_pending"]["ties"] = n

        return change

    reseal(folder, pending(1))
    report = verify_export(folder, anvil_indexed.rpc)
    assert report.ok and any("within the 1 the manifest says" in n for n in report.notes), report.lines()
    edit(folder, fmt, "ties", lambda rows: rows.__setitem__(1, {**rows[1], "score": float(rows[1]["score"]) + 1}))
    reseal(folder, pending(1))
    found = problems(verify_export(folder, anvil_indexed.rpc))
    assert {(d.row, d.field) for d in found} == {(1, "score"), (2, "score")}


@by_format
@pytest.mark.parametrize("shift", [-1, 1])
def test_an_edited_start_block_fails(anvil_indexed: Indexed, clean: tuple[Path, str], shift: int) -> None:
    folder, _fmt = clean

    def move(manifest: dict[str, Any]) -> None:
        manifest["chain"]["contracts"][0]["start_block"] += shift

    reseal(folder, move)
    found = problems(verify_export(folder, anvil_indexed.rpc))
    assert any(d.field == "start_block" and "created in" in d.message for d in found), [str(d) for d in found]
