"""What ledger v2 added, exported and verified: units, designations, coin expiry, signature nonces,
the platform's region pause, metadata changes (``build_v2_history`` in tests/export/conftest.py).

Every event table is compared with the index row for row; entity, derived and aggregate columns
against the index's views and the chain; and verify must pass on whole and partial ranges and
name an edit of any of the new fields.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text

from ledger.export import TABLES, ExportOptions, export_dataset, plan_export, verify_export
from ledger.export.dataset import _snapshot, _write_export
from ledger.export.schema import PROVENANCE
from ledger.export.writers import FolderTarget
from ledger.indexer.handlers import TABLE_COLUMNS
from ledger.municipalities import jis_code
from tests.export.conftest import (
    EXPIRY_DAYS,
    HELP_METADATA,
    PROJECT_METADATA,
    Indexed,
    V2History,
    build_v2_history,
    indexed_history,
)
from tests.indexer.test_indexer import NAGAOKA, TATEYAMA

# The municipality codes as the export writes them: five-digit text.
TATEYAMA_CODE, NAGAOKA_CODE = jis_code(TATEYAMA), jis_code(NAGAOKA)

SALT = bytes(range(50, 82))


def export(indexed: Indexed, out: Path, **options: Any) -> dict[str, Any]:
    return export_dataset(indexed.engine, indexed.history.deployment, ExportOptions(**options), out).manifest


def history(indexed: Indexed) -> V2History:
    assert isinstance(indexed.history, V2History)
    return indexed.history


def parquet_rows(folder: Path, name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(folder / f"{name}.parquet").to_pylist()
    return rows


def as_export(name: str, column: str, value: Any) -> Any:
    """An index value as the export holds it: days as dates, 0/1 flags as booleans."""
    kind = TABLES[name].field(column).type
    if value is None:
        return None
    if TABLES[name].field(column).jis:
        return jis_code(value)
    if kind == "date":
        return date(value // 10_000, value // 100 % 100, value % 100)
    if kind == "boolean":
        return bool(value)
    return value


def index_rows(engine: Engine, name: str, columns: tuple[str, ...], table: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY block_number, log_index"))
        return [{c: as_export(name, c, v) for c, v in zip(columns, row, strict=True)} for row in found]


def rewrite_csv(path: Path, row: int, field: str, value: str) -> None:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[row][rows[0].index(field)] = value
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


# -- the files hold the index ------------------------------------------------------------------------


def test_every_event_table_holds_the_index_rows(v2_indexed: Indexed, tmp_path: Path) -> None:
    manifest = export(v2_indexed, tmp_path / "out", format="parquet", pseudonymise=False)
    for name, t in TABLES.items():
        if t.kind != "events" or t.index_table is None:
            continue
        columns = (*(f.name for f in PROVENANCE), *TABLE_COLUMNS[t.index_table])
        exported = [{c: row[c] for c in columns} for row in parquet_rows(tmp_path / "out", name)]
        assert exported == index_rows(v2_indexed.engine, name, columns, t.index_table), name
    counts = manifest["row_counts"]
    assert (counts["coin_expiries"], counts["activity_designations"], counts["region_expiry_settings"]) == (2, 1, 1)
    assert counts["support_nonce_cancellations"] == 1 and counts["undecodable_logs"] == 0
    assert (counts["activity_metadata_changes"], counts["project_metadata_changes"]) == (2, 1)


def test_v2_fields_say_what_happened_on_chain(v2_indexed: Indexed, tmp_path: Path) -> None:
    h = history(v2_indexed)
    p0, p1, p2 = (p.address.lower() for p in h.people)
    export(v2_indexed, tmp_path / "out", format="parquet", pseudonymise=False)
    folder = tmp_path / "out"
    records = {(r["participant"], r["activity_id"]): r for r in parquet_rows(folder, "contributions")}
    assert {
        k: (r["units"], r["unit"], r["designated"], r["amount"])
        for k, r in records.items()
        if r["region"] == TATEYAMA_CODE
    } == {
        (p0, h.help_activity): (3, 1, True, 300),  # designated after registration, before it started
        (p1, h.help_activity): (5, 1, True, 500),
        (p2, h.stay_activity): (4, 2, True, 200),
    }
    assert records[(p0, h.festival)]["revoked"] and not records[(p1, h.festival)]["revoked"]
    (revocation,) = parquet_rows(folder, "revocations")
    assert (revocation["participant"], revocation["claim_id"]) == (p0, 4)
    supports = [(r["supporter"], r["nonce"]) for r in parquet_rows(folder, "supports")]
    assert supports == [(p0, None), (p1, 0)]  # sent directly, then signed with nonce 0
    assert [(r["supporter"], r["nonce"]) for r in parquet_rows(folder, "support_nonce_cancellations")] == [(p2, 0)]
    pauses = [(r["region"], r["paused"], r["by_platform"]) for r in parquet_rows(folder, "region_pause_changes")]
    assert pauses == [
        (NAGAOKA_CODE, True, True),
        (NAGAOKA_CODE, False, True),
        (TATEYAMA_CODE, True, False),
        (TATEYAMA_CODE, False, False),
    ]
    assert [(r["region"], r["holder"], r["amount"]) for r in parquet_rows(folder, "coin_expiries")] == [
        (NAGAOKA_CODE, p1, 100),
        (NAGAOKA_CODE, p2, 100),
    ]
    regions = {r["region"]: r["expiry_days"] for r in parquet_rows(folder, "regions")}
    assert regions == {TATEYAMA_CODE: 0, NAGAOKA_CODE: EXPIRY_DAYS}
    activities = {
        r["activity_id"]: (r["designated"], r["unit"], r["max_units"]) for r in parquet_rows(folder, "activities")
    }
    assert activities[h.help_activity] == (True, 1, 8) and activities[h.stay_activity] == (True, 2, 14)
    assert activities[h.festival] == (False, 0, 1)
    # Metadata hashes: the last change, else the registration's; every change is a row.
    hashes = {r["activity_id"]: r["metadata_hash"] for r in parquet_rows(folder, "activities")}
    assert hashes[h.help_activity] == "0x" + HELP_METADATA[1].hex() and hashes[h.festival] == "0x" + "00" * 32
    changes = [(r["activity_id"], r["metadata_hash"]) for r in parquet_rows(folder, "activity_metadata_changes")]
    assert changes == [(h.help_activity, "0x" + m.hex()) for m in HELP_METADATA]
    [project] = parquet_rows(folder, "projects")
    assert (project["project_id"], project["metadata_hash"]) == (h.project, "0x" + PROJECT_METADATA.hex())
    [change] = parquet_rows(folder, "project_metadata_changes")
    assert (change["project_id"], change["metadata_hash"]) == (h.project, "0x" + PROJECT_METADATA.hex())
    units = [(r["unit"], r["unit_en"]) for r in parquet_rows(folder, "reward_units")]
    assert units == [(0, "per participation"), (1, "per hour"), (2, "per day")]


def test_entities_match_the_index_views(v2_indexed: Indexed, tmp_path: Path) -> None:
    export(v2_indexed, tmp_path / "out", format="parquet", pseudonymise=False)
    with v2_indexed.engine.connect() as conn:
        regions = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
            text("SELECT region, paused, transfers_enabled, expiry_days FROM regions"))}  # fmt: skip
        activities = {r[0]: (bool(r[1]), r[2], r[3], bool(r[4]), r[5]) for r in conn.execute(text(
            "SELECT activity_id, designated, unit, max_units, closed, metadata_hash FROM activities"))}  # fmt: skip
        projects = {r[0]: (bool(r[1]), r[2]) for r in conn.execute(
            text("SELECT project_id, closed, metadata_hash FROM projects"))}  # fmt: skip
    exported = parquet_rows(tmp_path / "out", "regions")
    assert {r["region"]: (r["paused"], r["transfers_enabled"], r["expiry_days"]) for r in exported} == {
        jis_code(k): (bool(a), bool(b), c) for k, (a, b, c) in regions.items()
    }
    exported = parquet_rows(tmp_path / "out", "activities")
    assert {
        r["activity_id"]: (r["designated"], r["unit"], r["max_units"], r["closed"], r["metadata_hash"])
        for r in exported
    } == activities
    exported = parquet_rows(tmp_path / "out", "projects")
    assert {r["project_id"]: (r["closed"], r["metadata_hash"]) for r in exported} == projects


def test_coin_movements_include_expiries_and_add_up_to_the_balances(v2_indexed: Indexed, tmp_path: Path) -> None:
    h = history(v2_indexed)
    export(v2_indexed, tmp_path / "out", format="parquet", pseudonymise=False)
    movements = parquet_rows(tmp_path / "out", "coin_movements")
    assert {m["movement"] for m in movements} == {"mint", "revoke", "support", "expire", "transfer_out", "transfer_in"}
    assert sorted(-m["delta"] for m in movements if m["movement"] == "expire") == [100, 100]
    for person in h.people:
        for region in (TATEYAMA, NAGAOKA):
            balance = sum(
                m["delta"]
                for m in movements
                if m["account"] == person.address.lower() and m["region"] == jis_code(region)
            )
            assert balance == h.client.balance_of(person.address, region)


def test_ties_and_daily_coins_carry_hours_stays_and_expiries(v2_indexed: Indexed, tmp_path: Path) -> None:
    h = history(v2_indexed)
    p0, p1, p2 = (p.address.lower() for p in h.people)
    export(v2_indexed, tmp_path / "k1", format="parquet", pseudonymise=False, k=1)
    export(v2_indexed, tmp_path / "k5", format="parquet", pseudonymise=False, k=5)
    ties = {
        (r["participant"], r["region"]): (r["help_hours"], r["stay_days"])
        for r in parquet_rows(tmp_path / "k1", "ties")
    }
    tateyama = TATEYAMA_CODE
    assert ties[(p0, tateyama)] == (3, 0) and ties[(p1, tateyama)] == (5, 0) and ties[(p2, tateyama)] == (0, 4)
    with v2_indexed.engine.connect() as conn:
        expired = {
            (r[0], r[1]): r[2] for r in conn.execute(text("SELECT region, day, expired FROM region_daily_coins"))
        }
    raw = {(r["region"], r["day"]): r["expired"] for r in parquet_rows(tmp_path / "k1", "region_daily_coins")}
    assert raw == {
        (jis_code(region), as_export("region_daily_coins", "day", day)): n for (region, day), n in expired.items()
    }
    assert sorted(raw.values()) == [0, 0, 200]
    shown = {key: r for key, r in zip(raw, parquet_rows(tmp_path / "k5", "region_daily_coins"), strict=True)}
    # two people's coins lapsed that day: fewer than k = 5, so the total is hidden; zero stays
    assert sorted((v["expired"] is None, raw[key]) for key, v in shown.items()) == [(False, 0), (False, 0), (True, 200)]


# -- verify ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_a_v2_export_verifies(v2_indexed: Indexed, tmp_path: Path, fmt: str) -> None:
    manifest = export(v2_indexed, tmp_path / "out", format=fmt, salt=SALT)
    report = verify_export(tmp_path / "out", v2_indexed.rpc, SALT)
    assert report.ok, report.lines()
    for name in (
        "contributions",
        "coin_expiries",
        "activity_designations",
        "activity_metadata_changes",
        "project_metadata_changes",
        "support_nonce_cancellations",
        "regions",
        "projects",
    ):
        assert report.checked[f"rows:{name}"] == manifest["row_counts"][name] > 0, name
    without = verify_export(tmp_path / "out", v2_indexed.rpc)
    assert without.ok, without.lines()


def test_a_range_that_starts_after_the_registrations_verifies(v2_indexed: Indexed, tmp_path: Path) -> None:
    """Records of activities registered before the range are rebuilt from the activity directory."""
    with v2_indexed.engine.connect() as conn:
        first_record = conn.execute(text("SELECT MIN(block_number) FROM contributions")).scalar_one()
        registered = conn.execute(text("SELECT MAX(block_number) FROM activity_designations")).scalar_one()
    assert first_record > registered
    manifest = export(v2_indexed, tmp_path / "out", format="csv", salt=SALT, from_block=first_record)
    assert manifest["row_counts"]["activity_designations"] == 0 and manifest["row_counts"]["contributions"] == 8
    report = verify_export(tmp_path / "out", v2_indexed.rpc, SALT)
    assert report.ok, report.lines()
    assert report.checked["rows:contributions"] == 8
    # Without the activities table, verify reads the directory for the records alone.
    tables = ("contributions", "coin_movements")
    export(v2_indexed, tmp_path / "records", format="csv", salt=SALT, from_block=first_record, tables=tables)
    report = verify_export(tmp_path / "records", v2_indexed.rpc, SALT)
    assert report.ok, report.lines()
    assert report.checked["rows:contributions"] == 8


def test_metadata_hashes_are_the_last_change_up_to_the_last_block(v2_indexed: Indexed, tmp_path: Path) -> None:
    """A range that ends between two changes of a text holds the first: the activity as of that block."""
    h = history(v2_indexed)
    with v2_indexed.engine.connect() as conn:
        first, second = conn.execute(
            text("SELECT block_number FROM activity_metadata_changes ORDER BY block_number, log_index")
        ).scalars()
    assert first < second
    manifest = export(v2_indexed, tmp_path / "out", format="csv", salt=SALT, to_block=second - 1)
    assert manifest["row_counts"]["activity_metadata_changes"] == 1
    with open(tmp_path / "out" / "activities.csv", newline="", encoding="utf-8") as handle:
        hashes = {int(r["activity_id"]): r["metadata_hash"] for r in csv.DictReader(handle)}
    assert hashes[h.help_activity] == "0x" + HELP_METADATA[0].hex()
    report = verify_export(tmp_path / "out", v2_indexed.rpc, SALT)
    assert report.ok, report.lines()
    # A range that starts after both changes still takes the hash from them (read from the deployment on).
    manifest = export(v2_indexed, tmp_path / "late", format="csv", salt=SALT, from_block=second + 1)
    assert manifest["row_counts"]["activity_metadata_changes"] == 0
    with open(tmp_path / "late" / "activities.csv", newline="", encoding="utf-8") as handle:
        hashes = {int(r["activity_id"]): r["metadata_hash"] for r in csv.DictReader(handle)}
    assert hashes[h.help_activity] == "0x" + HELP_METADATA[1].hex()
    report = verify_export(tmp_path / "late", v2_indexed.rpc, SALT)
    assert report.ok, report.lines()


def test_a_region_export_names_no_people_of_other_regions(v2_indexed: Indexed, tmp_path: Path) -> None:
    manifest = export(v2_indexed, tmp_path / "out", format="parquet", salt=SALT, regions=(TATEYAMA,))
    counts = manifest["row_counts"]
    assert counts["support_nonce_cancellations"] == 0  # a nonce has no region: left out, not exported whole
    assert counts["coin_expiries"] == 0 and counts["region_expiry_settings"] == 0  # 長岡's only
    assert counts["activity_designations"] == 1 and counts["role_changes"] > 0  # platform-wide: whole
    report = verify_export(tmp_path / "out", v2_indexed.rpc, SALT)
    assert report.ok, report.lines()


@pytest.mark.parametrize(
    ("table", "field", "value"),
    [
        ("contributions", "units", "9"),
        ("contributions", "designated", "false"),
        ("revocations", "claim_id", "5"),
        ("supports", "nonce", "7"),
        ("coin_expiries", "amount", "99"),
        ("regions", "expiry_days", "30"),
        ("activities", "designated", "false"),
        ("region_pause_changes", "by_platform", "false"),
        ("activity_metadata_changes", "metadata_hash", "0x" + "0d" * 32),
        ("project_metadata_changes", "metadata_hash", "0x" + "0d" * 32),
        # the first change's or the registration's hash: no longer the one at the last block
        ("activities", "metadata_hash", "0x" + HELP_METADATA[0].hex()),
        ("projects", "metadata_hash", "0x" + "07" * 32),
    ],
)
def test_an_edited_v2_field_is_named(v2_indexed: Indexed, tmp_path: Path, table: str, field: str, value: str) -> None:
    export(v2_indexed, tmp_path / "out", format="csv", salt=SALT)
    path = tmp_path / "out" / f"{table}.csv"
    rewrite_csv(path, 1, field, value)
    report = verify_export(tmp_path / "out", v2_indexed.rpc, SALT)
    [row] = [d for d in report.discrepancies if d.file == path.name and d.row is not None]
    assert (row.row, row.field, row.found) == (1, field, value)


def fast_and_generic_files(indexed: Indexed, tmp_path: Path, fmt: str) -> list[dict[str, Any]]:
    """Every file of one plan written by the fast (window text) reader and by the generic one, in
    windows of three rows (so most event tables span several): its sha256, or for Parquet its
    schema and rows (the generic reader may cut a window into two row groups)."""
    with _snapshot(indexed.engine) as conn:
        plan = plan_export(conn, indexed.history.deployment, ExportOptions(format=fmt, salt=SALT), chunk_rows=3)  # type: ignore[arg-type]
        hashes = []
        for fast in (True, False):
            folder = tmp_path / f"{fmt}-fast-{fast}"
            folder.mkdir()
            for _ in _write_export(conn, plan, FolderTarget(folder), fast_reader=fast):
                pass
            hashes.append(
                {
                    p.name: (
                        [*pq.read_table(p).to_pylist(), str(pq.read_schema(p))]
                        if fmt == "parquet"
                        else hashlib.sha256(p.read_bytes()).hexdigest()
                    )
                    for p in folder.glob(f"*.{fmt}")
                }
            )
    return hashes


def test_the_fast_reader_and_the_generic_one_agree_on_v2_tables(v2_indexed: Indexed, tmp_path: Path) -> None:
    hashes = fast_and_generic_files(v2_indexed, tmp_path, "csv")
    assert hashes[0] == hashes[1] and len(hashes[0]) == len(TABLES)


@pytest.mark.postgres
def test_a_v2_export_of_a_postgresql_index_verifies(tmp_path: Path) -> None:
    with indexed_history("anvil", "postgres", tmp_path, build_v2_history) as indexed:
        # PostgreSQL's window text (concat_ws / string_agg, booleans as t / f, NULL as '') gives
        # the generic reader's files, in every format.
        for fmt in ("csv", "parquet", "jsonl"):
            hashes = fast_and_generic_files(indexed, tmp_path, fmt)
            assert hashes[0] == hashes[1] and len(hashes[0]) == len(TABLES), fmt
        export(indexed, tmp_path / "out", format="jsonl", salt=SALT)
        report = verify_export(tmp_path / "out", indexed.rpc, SALT)
        assert report.ok, report.lines()
        export(indexed, tmp_path / "k5", format="parquet", salt=SALT, k=5)
        assert sorted(r["expired"] is None for r in parquet_rows(tmp_path / "k5", "region_daily_coins")) == [
            False,
            False,
            True,
        ]
