"""``verify_export`` against the chain: a clean export passes, every kind of tampering is named.

Exports are of a real history (anvil over HTTP, py-evm in process, SQLite and PostgreSQL); the
tampering is done to the files the way a careless or dishonest hand would: one value edited, one
row deleted, a file removed or added, the manifest pointed at another chain.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger.chain.accounts import dev_account
from ledger.chain.client import LedgerClient
from ledger.chain.deploy import deploy_ledger
from ledger.chain.devnet import AnvilDevnet
from ledger.demo import DEMO_REGIONS, setup_demo, summarise
from ledger.export import (
    Discrepancy,
    ExportOptions,
    NotAnExport,
    VerifyReport,
    export_dataset,
    stream_export_zip,
    verify_export,
)
from ledger.indexer.rpc import json_rpc_for
from tests.export.conftest import Indexed, indexed_history
from tests.indexer.helpers import OPEN_INDEXERS, database, make_indexer
from tests.indexer.test_indexer import NAGAOKA

SALT = bytes(range(100, 132))


def export(indexed: Indexed, out: Path, **options: Any) -> dict[str, Any]:
    options.setdefault("salt", SALT)
    result = export_dataset(indexed.engine, indexed.history.deployment, ExportOptions(**options), out)
    return result.manifest


def rewrite_csv(path: Path, change: Any) -> None:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows = change(rows)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, quoting=csv.QUOTE_MINIMAL).writerows(rows)


def rows_about(report: VerifyReport, file: str) -> list[Discrepancy]:
    return [d for d in report.discrepancies if d.file == file and d.row is not None]


# -- clean exports pass ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_a_clean_export_verifies_with_and_without_the_salt(anvil_indexed: Indexed, tmp_path: Path, fmt: str) -> None:
    manifest = export(anvil_indexed, tmp_path / "out", format=fmt, partition_by_month=fmt == "parquet")
    with_salt = verify_export(tmp_path / "out", anvil_indexed.rpc, SALT)
    assert with_salt.ok, with_salt.lines()
    assert with_salt.personal_fields_checked
    assert with_salt.checked["rows:contributions"] == manifest["row_counts"]["contributions"] == 36
    assert with_salt.checked["logs_fetched"] >= sum(
        manifest["row_counts"][t] for t in ("contributions", "revocations", "supports", "batches")
    )
    without = verify_export(tmp_path / "out", anvil_indexed.rpc)
    assert without.ok, without.lines()
    assert not without.personal_fields_checked
    assert any("person fields were not compared" in n for n in without.notes)
    assert without.checked["rows:coin_movements"] == manifest["row_counts"]["coin_movements"]


def test_verify_works_on_the_in_process_chain(pyevm_indexed: Indexed, tmp_path: Path) -> None:
    export(pyevm_indexed, tmp_path / "out", format="parquet")
    report = verify_export(tmp_path / "out", pyevm_indexed.rpc, SALT)
    assert report.ok, report.lines()


def test_a_raw_export_verifies_people_without_a_salt(anvil_indexed: Indexed, tmp_path: Path) -> None:
    export(anvil_indexed, tmp_path / "out", format="csv", pseudonymise=False, salt=None)
    report = verify_export(tmp_path / "out", anvil_indexed.rpc)
    assert report.ok and report.personal_fields_checked, report.lines()


@pytest.mark.postgres
def test_an_export_of_a_postgresql_index_verifies(tmp_path: Path) -> None:
    with indexed_history("anvil", "postgres", tmp_path) as indexed:
        whole = export(indexed, tmp_path / "out", format="parquet")
        report = verify_export(tmp_path / "out", indexed.rpc, SALT)
        assert report.ok, report.lines()
        first_day = whole["range"]["first_day"]
        regional = export(
            indexed, tmp_path / "regional", format="csv", regions=(NAGAOKA,), from_date=date.fromisoformat(first_day)
        )
        assert regional["row_counts"]["contributions"] == 4 * 3
        report = verify_export(tmp_path / "regional", indexed.rpc, SALT)
        assert report.ok, report.lines()
        stream = stream_export_zip(indexed.engine, indexed.history.deployment, ExportOptions(format="jsonl", salt=SALT))
        zipfile.ZipFile(io.BytesIO(b"".join(stream))).extractall(tmp_path / "zipped")
        report = verify_export(tmp_path / "zipped", indexed.rpc, SALT)
        assert report.ok, report.lines()


# -- tampering is named ---------------------------------------------------------------------------------


def test_an_edited_value_fails_naming_file_row_and_field(anvil_indexed: Indexed, tmp_path: Path) -> None:
    export(anvil_indexed, tmp_path / "out", format="csv")
    path = tmp_path / "out" / "contributions.csv"

    def edit(rows: list[list[str]]) -> list[list[str]]:
        header = rows[0]
        rows[3][header.index("amount")] = str(int(rows[3][header.index("amount")]) + 1)
        return rows

    rewrite_csv(path, edit)
    report = verify_export(tmp_path / "out", anvil_indexed.rpc, SALT)
    assert not report.ok
    [row] = rows_about(report, "contributions.csv")
    assert (row.row, row.field) == (3, "amount")
    assert int(row.found or 0) == int(row.expected or 0) + 1
    assert "contributions.csv row 3" in str(row) and "amount" in str(row)
    assert any(d.file == "contributions.csv" and d.field == "sha256" for d in report.discrepancies)


def test_an_edited_person_id_is_caught_with_and_without_the_salt(anvil_indexed: Indexed, tmp_path: Path) -> None:
    export(anvil_indexed, tmp_path / "out", format="parquet")
    path = tmp_path / "out" / "supports.parquet"
    table = pq.read_table(path)
    supporters = table.column("supporter").to_pylist()
    supporters[0] = "p_" + "0" * 32
    pq.write_table(table.set_column(table.schema.get_field_index("supporter"), "supporter", pa.array(supporters)), path)
    with_salt = verify_export(tmp_path / "out", anvil_indexed.rpc, SALT)
    [row] = rows_about(with_salt, "supports.parquet")
    assert (row.row, row.field, row.found) == (1, "supporter", "p_" + "0" * 32)
    # Without the salt the id cannot be recomputed, but the person already has another id elsewhere.
    without = verify_export(tmp_path / "out", anvil_indexed.rpc)
    [row] = rows_about(without, "supports.parquet")
    assert (row.row, row.field, row.found) == (1, "supporter", "p_" + "0" * 32)
    assert "one person, two ids" in row.message


def test_an_edited_key_is_paired_with_its_log(anvil_indexed: Indexed, tmp_path: Path) -> None:
    export(anvil_indexed, tmp_path / "out", format="jsonl")
    path = tmp_path / "out" / "batches.jsonl"
    lines = path.read_bytes().splitlines()
    obj = orjson.loads(lines[1])
    obj["block_number"] += 1000
    lines[1] = orjson.dumps(obj)
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = verify_export(tmp_path / "out", anvil_indexed.rpc, SALT)
    [row] = rows_about(report, "batches.jsonl")
    assert (row.row, row.field) == (2, "block_number")


def test_a_deleted_row_is_reported_missing(anvil_indexed: Indexed, tmp_path: Path) -> None:
    manifest = export(anvil_indexed, tmp_path / "out", format="csv")
    path = tmp_path / "out" / "contributions.csv"
    deleted: list[str] = []

    def delete(rows: list[list[str]]) -> list[list[str]]:
        deleted.extend(rows[5])
        return rows[:5] + rows[6:]

    rewrite_csv(path, delete)
    report = verify_export(tmp_path / "out", anvil_indexed.rpc)
    missing = [d for d in report.discrepancies if "is missing" in d.message]
    assert len(missing) == 1 and missing[0].file == "contributions.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert manifest["row_counts"]["contributions"] == 36
    block, log_index = deleted[header.index("block_number")], deleted[header.index("log_index")]
    assert missing[0].key == f"block_number {block}, log_index {log_index}"
    assert deleted[header.index("tx_hash")] in missing[0].message
    counts = [d for d in report.discrepancies if d.field == "rows"]
    assert {(d.expected, d.found) for d in counts} == {("36", "35")}


def test_a_row_that_is_not_on_chain_is_reported(anvil_indexed: Indexed, tmp_path: Path) -> None:
    export(anvil_indexed, tmp_path / "out", format="csv", tables=("revocations",))
    path = tmp_path / "out" / "revocations.csv"

    def forge(rows: list[list[str]]) -> list[list[str]]:
        forged = list(rows[1])
        forged[rows[0].index("log_index")] = "77"
        forged[rows[0].index("tx_hash")] = "0x" + "ab" * 32
        forged[rows[0].index("evidence_hash")] = "0x" + "cd" * 32
        forged[rows[0].index("clawed_back")] = "1"
        return [*rows, forged]

    rewrite_csv(path, forge)
    report = verify_export(tmp_path / "out", anvil_indexed.rpc, SALT)
    [extra] = [d for d in report.discrepancies if "is not on chain" in d.message]
    assert (extra.file, extra.row) == ("revocations.csv", 2)


def test_an_edited_entity_row_is_named(anvil_indexed: Indexed, tmp_path: Path) -> None:
    export(anvil_indexed, tmp_path / "out", format="csv", tables=("regions", "activities", "supports"))
    clean = verify_export(tmp_path / "out", anvil_indexed.rpc)
    assert clean.ok, clean.lines()
    assert any("feed contributions, a table this export does not include" in n for n in clean.notes)

    def pause(rows: list[list[str]]) -> list[list[str]]:
        rows[2][rows[0].index("paused")] = "true"
        return rows

    rewrite_csv(tmp_path / "out" / "regions.csv", pause)
    report = verify_export(tmp_path / "out", anvil_indexed.rpc)
    [row] = rows_about(report, "regions.csv")
    assert (row.row, row.field, row.expected, row.found) == (2, "paused", "false", "true")


def test_missing_and_extra_files_are_named(anvil_indexed: Indexed, tmp_path: Path) -> None:
    export(anvil_indexed, tmp_path / "out", format="parquet")
    (tmp_path / "out" / "ties.parquet").unlink()
    (tmp_path / "out" / "notes.txt").write_text("added later")
    report = verify_export(tmp_path / "out", anvil_indexed.rpc, SALT)
    messages = {(d.file, d.message) for d in report.discrepancies}
    assert ("ties.parquet", "listed in the manifest but missing") in messages
    assert ("notes.txt", "is not part of the export (not in the manifest)") in messages
    assert report.checked["rows:contributions"] == 36  # the rest was still checked


def test_a_manifest_for_another_chain_is_refused_clearly(anvil_indexed: Indexed, tmp_path: Path) -> None:
    export(anvil_indexed, tmp_path / "out", format="csv")
    path = tmp_path / "out" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["chain"]["chain_id"] = 137
    path.write_text(json.dumps(manifest))
    report = verify_export(tmp_path / "out", anvil_indexed.rpc, SALT)
    [only] = report.discrepancies
    assert (only.file, only.field, only.expected, only.found) == ("manifest.json", "chain_id", "137", "31337")
    assert "the export is of chain 137 but the node serves chain 31337" in str(only)


def test_a_range_of_other_blocks_is_refused_clearly(anvil_indexed: Indexed, tmp_path: Path) -> None:
    export(anvil_indexed, tmp_path / "out", format="csv")
    path = tmp_path / "out" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["range"]["to_block_hash"] = "0x" + "11" * 32
    path.write_text(json.dumps(manifest))
    report = verify_export(tmp_path / "out", anvil_indexed.rpc)
    [only] = report.discrepancies
    assert only.field == "to_block_hash" and "another chain or of blocks later reorganised away" in only.message


def test_a_wrong_salt_is_reported_as_such(anvil_indexed: Indexed, tmp_path: Path) -> None:
    export(anvil_indexed, tmp_path / "out", format="csv")
    report = verify_export(tmp_path / "out", anvil_indexed.rpc, bytes(32))
    [only] = report.discrepancies
    assert only.field == "salt" and "not the one this export was made with" in only.message
    assert not report.personal_fields_checked


def test_a_folder_that_is_not_an_export_is_named(anvil_indexed: Indexed, tmp_path: Path) -> None:
    with pytest.raises(NotAnExport, match="is not a folder"):
        verify_export(tmp_path / "nowhere", anvil_indexed.rpc)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "data.csv").write_text("a,b\n1,2\n")
    with pytest.raises(NotAnExport, match=r"is not an export: it has no manifest\.json"):
        verify_export(tmp_path / "plain", anvil_indexed.rpc)
    (tmp_path / "plain" / "manifest.json").write_text("{not json")
    with pytest.raises(NotAnExport, match="is not valid JSON"):
        verify_export(tmp_path / "plain", anvil_indexed.rpc)
    (tmp_path / "plain" / "manifest.json").write_text('{"name": "something else"}')
    with pytest.raises(NotAnExport, match="is not a Tsunagari Ledger export manifest"):
        verify_export(tmp_path / "plain", anvil_indexed.rpc)


# -- the demo ---------------------------------------------------------------------------------------------


def test_the_demo_exports_and_verifies(tmp_path: Path) -> None:
    """What `tsunagari demo` puts on chain (ledger/demo.py, the CLI's operator accounts) exports and verifies."""
    devnet = AnvilDevnet().start()
    try:
        platform, relayer, region_admin = dev_account(0), dev_account(1), dev_account(2)
        deployment = deploy_ledger(devnet.w3, platform)
        client = LedgerClient(devnet.w3, deployment.ledger, poll_s=0.01)
        assert setup_demo(client, platform, region_admin, relayer, int(devnet.w3.eth.get_block("latest")["timestamp"]))
        with database("sqlite", tmp_path) as engine:
            indexer = make_indexer(devnet, deployment, engine)
            indexer.backfill()
            OPEN_INDEXERS.remove(indexer)
            indexer.close()
            result = export_dataset(engine, deployment, ExportOptions(format="csv"), tmp_path / "demo-export")
        rpc = json_rpc_for(devnet.w3, devnet.rpc_url)
        try:
            report = verify_export(tmp_path / "demo-export", rpc, bytes.fromhex(result.salt_hex or ""))
        finally:
            rpc.close()
        assert report.ok, report.lines()
        minted = sum(s.minted for s in summarise(client))
        movements = (tmp_path / "demo-export" / "coin_movements.csv").read_text().splitlines()[1:]
        assert sum(int(line.split(",")[-2]) for line in movements if '"mint"' in line) == minted
        assert result.row_counts["regions"] == len(DEMO_REGIONS) and result.row_counts["supports"] == 1
    finally:
        devnet.close()
