"""Exports of a real chain history: formats, files, data dictionary, ranges, privacy, failures.

Every export here is of ``build_history`` (tests/indexer/test_indexer.py) indexed by the real
indexer; values are checked against the index database and the chain, not against constants.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from ledger.export import (
    TABLES,
    ExportExists,
    ExportOptions,
    InvalidExportOptions,
    RangeBeyondHead,
    export_dataset,
    plan_export,
    stream_export_zip,
    verify_export,
)
from ledger.export.dataset import _snapshot, _write_export
from ledger.export.source import jst_date_of
from ledger.export.writers import FolderTarget
from ledger.municipalities import jis_code
from ledger.queries import suppress
from tests.export.conftest import Indexed
from tests.indexer.test_indexer import NAGAOKA, TATEYAMA

SALT = bytes(range(32))


def export(indexed: Indexed, out: Path, **options: Any) -> Any:
    return export_dataset(indexed.engine, indexed.history.deployment, ExportOptions(**options), out)


def read_table(folder: Path, name: str, fmt: str) -> pd.DataFrame:
    manifest = json.loads((folder / "manifest.json").read_text())
    files = manifest["tables"][name]["files"]
    frames = []
    for f in files:
        path = folder / f
        if fmt == "parquet":
            frames.append(pd.read_parquet(path))
        elif fmt == "csv":
            frames.append(pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str))
        else:
            frames.append(pd.read_json(path, lines=True, dtype=False))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# -- formats round-trip ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_each_format_round_trips_the_index(anvil_indexed: Indexed, tmp_path: Path, fmt: str) -> None:
    result = export(anvil_indexed, tmp_path / "out", format=fmt, salt=SALT)
    folder = tmp_path / "out"
    with anvil_indexed.engine.connect() as conn:
        db = conn.execute(
            text(
                "SELECT block_number, log_index, tx_hash, activity_id, region, amount, units, unit, designated, "
                "issuer, day FROM contributions ORDER BY block_number, log_index"
            )
        ).all()
        revoked = conn.execute(text("SELECT activity_id, participant, tx_hash FROM revocations")).all()
    frame = read_table(folder, "contributions", fmt)
    assert len(frame) == len(db) == result.row_counts["contributions"] == 4 * 9
    for (block, log_index, tx, activity, region, amount, units, unit, designated, issuer, day), row in zip(
        db, frame.itertuples(index=False), strict=True
    ):
        assert (int(row.block_number), int(row.log_index), row.tx_hash) == (block, log_index, tx)
        assert (int(row.activity_id), int(row.region), int(row.amount)) == (activity, region, amount)
        assert (int(row.units), int(row.unit), str(row.designated).lower()) == (
            units,
            unit,
            str(bool(designated)).lower(),
        )
        assert row.issuer == issuer
        assert str(row.day)[:10] == f"{day // 10000:04d}-{day // 100 % 100:02d}-{day % 100:02d}"
        assert str(row.participant).startswith("p_") and len(str(row.participant)) == 34
    flags = frame[frame["revoked"].astype(str).str.lower() == "true"]
    assert len(flags) == len(revoked) == 1
    assert flags.iloc[0]["revoked_tx_hash"] == revoked[0][2]
    movements = read_table(folder, "coin_movements", fmt)
    assert sorted(movements["movement"].unique()) == ["mint", "revoke", "support", "transfer_in", "transfer_out"]
    assert result.row_counts["regions"] == 2 and result.row_counts["kinds"] == 14


def test_manifest_datapackage_and_readme_describe_the_files(anvil_indexed: Indexed, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    result = export(anvil_indexed, folder, format="parquet", partition_by_month=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    deployment = anvil_indexed.history.deployment
    assert manifest == result.manifest
    assert manifest["chain"]["chain_id"] == 31337
    assert manifest["chain"]["contracts"][0]["address"] == deployment.ledger.lower()
    assert manifest["chain"]["contracts"][0]["abi_sha256"] == deployment.abi_sha256
    w3 = anvil_indexed.devnet.w3
    span = manifest["range"]
    assert span["from_block"] == deployment.deploy_block and span["to_block"] == w3.eth.block_number
    for end in ("from", "to"):
        block = w3.eth.get_block(span[f"{end}_block"])
        assert span[f"{end}_block_hash"] == "0x" + bytes(block["hash"]).hex()
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert on_disk == sorted([*manifest["files"], "manifest.json"])
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    # a month per partition file, in order, and every partitioned row in its month
    months = [f for f in manifest["tables"]["contributions"]["files"]]
    assert len(months) == 4 and months == sorted(months) and all(m.startswith("contributions/") for m in months)
    for f in months:
        stamps = pq.read_table(folder / f, columns=["block_timestamp"]).column(0).to_pylist()
        assert {jst_date_of(s).strftime("%Y-%m") for s in stamps} == {f[-15:-8]}
    package = json.loads((folder / "datapackage.json").read_text())
    assert package["licenses"][0]["name"] == "LicenseRef-to-be-set"
    assert "eip155:31337:" in package["sources"][0]["path"]
    resources = {r["name"]: r for r in package["resources"]}
    assert list(resources) == list(manifest["tables"])
    readme = (folder / "README.md").read_text()
    for name, resource in resources.items():
        paths = resource["path"] if isinstance(resource["path"], list) else [resource["path"]]
        assert paths == manifest["tables"][name]["files"]
        fields = [f["name"] for f in resource["schema"]["fields"]]
        for path in paths:
            assert pq.read_schema(folder / path).names == fields
        assert all(f["description"] for f in resource["schema"]["fields"])
        assert f"### `{name}`" in readme
        assert all(f"| `{f}` |" in readme for f in fields)
    personal = {f["name"] for f in resources["contributions"]["schema"]["fields"] if f.get("personal")}
    assert personal == {"participant"}
    units = {f["name"]: f.get("unit") for f in resources["contributions"]["schema"]["fields"]}
    assert units["amount"] == "coin" and units["block_timestamp"].startswith("s")


def test_zip_stream_is_the_same_export(anvil_indexed: Indexed, tmp_path: Path) -> None:
    stream = stream_export_zip(
        anvil_indexed.engine, anvil_indexed.history.deployment, ExportOptions(format="csv", salt=SALT)
    )
    assert stream.salt_hex == SALT.hex() and stream.filename.endswith(".zip")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(stream)))
    names = archive.namelist()
    assert names[-3:] == ["datapackage.json", "README.md", "manifest.json"]
    folder = tmp_path / "unzipped"
    archive.extractall(folder)
    assert stream.manifest is not None and json.loads((folder / "manifest.json").read_text()) == stream.manifest
    report = verify_export(folder, anvil_indexed.rpc, SALT)
    assert report.ok, report.lines()
    # the same bytes as a folder export of the same plan
    direct = export(anvil_indexed, tmp_path / "direct", format="csv", salt=SALT)
    for name, entry in direct.manifest["files"].items():
        if name not in ("README.md", "datapackage.json"):  # these carry the export time
            assert stream.manifest["files"][name]["sha256"] == entry["sha256"], name


def test_the_fast_reader_and_the_generic_one_write_the_same_files(anvil_indexed: Indexed, tmp_path: Path) -> None:
    with _snapshot(anvil_indexed.engine) as conn:
        plan = plan_export(conn, anvil_indexed.history.deployment, ExportOptions(format="csv", salt=SALT), chunk_rows=7)
        hashes = []
        for fast in (True, False):
            folder = tmp_path / f"fast-{fast}"
            folder.mkdir()
            for _ in _write_export(conn, plan, FolderTarget(folder), fast_reader=fast):
                pass
            hashes.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.csv")})
    assert hashes[0] == hashes[1] and len(hashes[0]) == len(TABLES)


# -- ranges ------------------------------------------------------------------------------------------


def test_a_block_range_and_a_date_range_export_what_they_say(anvil_indexed: Indexed, tmp_path: Path) -> None:
    with anvil_indexed.engine.connect() as conn:
        blocks = [r[0] for r in conn.execute(text("SELECT DISTINCT block_number FROM contributions ORDER BY 1"))]
        days = sorted({r[0] for r in conn.execute(text("SELECT day FROM contributions"))})
    middle = export(anvil_indexed, tmp_path / "blocks", from_block=blocks[2], to_block=blocks[-3], format="csv")
    frame = read_table(tmp_path / "blocks", "contributions", "csv")
    assert frame["block_number"].astype(int).between(blocks[2], blocks[-3]).all()
    assert middle.manifest["range"]["from_block"] == blocks[2]
    # dates: the second month's day only
    second = days[1]
    day = jst_date_of(0).replace(year=second // 10000, month=second // 100 % 100, day=second % 100)
    dated = export(anvil_indexed, tmp_path / "dates", from_date=day, to_date=day, format="parquet", salt=SALT)
    frame = read_table(tmp_path / "dates", "contributions", "parquet")
    assert len(frame) == 9 and {str(d)[:10] for d in frame["day"]} == {day.isoformat()}
    assert dated.manifest["range"]["from_date"] == day.isoformat()
    report = verify_export(tmp_path / "dates", anvil_indexed.rpc, SALT)
    assert report.ok, report.lines()


def test_a_range_beyond_the_indexed_head_names_the_head(anvil_indexed: Indexed, tmp_path: Path) -> None:
    head = anvil_indexed.devnet.w3.eth.block_number
    with pytest.raises(RangeBeyondHead, match=f"indexed head {head}") as raised:
        export(anvil_indexed, tmp_path / "out", to_block=head + 5)
    assert raised.value.head == head
    today = jst_date_of(int(anvil_indexed.devnet.w3.eth.get_block("latest")["timestamp"]))
    with pytest.raises(RangeBeyondHead, match=f"block {head} of {today.isoformat()}"):
        export(anvil_indexed, tmp_path / "out", to_date=today + timedelta(days=3))
    assert not (tmp_path / "out").exists()


def test_bad_options_are_refused_before_anything_is_written(anvil_indexed: Indexed, tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"format": "xlsx"}, "unknown format"),
        ({"tables": ("contributions", "nope")}, "unknown table"),
        ({"k": 0}, "k must be"),
        ({"regions": (0,)}, "JIS X 0402"),
        ({"salt": b"short"}, "at least 16 bytes"),
        ({"pseudonymise": False, "salt": SALT}, "salt only makes sense"),
        ({"from_block": 10, "to_block": 5}, "range is empty"),
    ]
    for options, message in cases:
        with pytest.raises(InvalidExportOptions, match=message):
            export(anvil_indexed, tmp_path / "out", **options)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("mine")
    with pytest.raises(ExportExists, match="already exists"):
        export(anvil_indexed, tmp_path / "taken")
    assert not (tmp_path / "out").exists()


# -- interruption -----------------------------------------------------------------------------------


class Crash(Exception):
    pass


@pytest.mark.parametrize("where", ["chunk:coin_movements", "manifest"])
def test_an_interrupted_export_leaves_no_folder_that_looks_complete(
    anvil_indexed: Indexed, tmp_path: Path, where: str
) -> None:
    def fault(point: str) -> None:
        if point == where:
            raise Crash(point)

    with pytest.raises(Crash):
        export_dataset(
            anvil_indexed.engine, anvil_indexed.history.deployment, ExportOptions(), tmp_path / "out", fault=fault
        )
    assert list(tmp_path.iterdir()) == []  # neither the folder nor the temporary one


def test_a_killed_export_leaves_only_a_hidden_folder_without_manifest(anvil_indexed: Indexed, tmp_path: Path) -> None:
    # What a kill -9 in the middle would leave behind is the temporary folder as it is at that moment.
    seen: dict[str, Any] = {}

    def fault(point: str) -> None:
        if point == "chunk:supports":
            (partial,) = list(tmp_path.iterdir())
            seen["name"] = partial.name
            seen["files"] = {p.name for p in partial.rglob("*")}
            raise Crash(point)

    with pytest.raises(Crash):
        export_dataset(
            anvil_indexed.engine, anvil_indexed.history.deployment, ExportOptions(), tmp_path / "out", fault=fault
        )
    assert seen["name"].startswith(".out.partial-")
    assert "contributions.parquet" in seen["files"] and "manifest.json" not in seen["files"]
    assert not (tmp_path / "out").exists()


# -- privacy ---------------------------------------------------------------------------------------------


def _ids(folder: Path) -> set[str]:
    return set(read_table(folder, "contributions", "parquet")["participant"])


def test_pseudonyms_join_only_under_the_same_salt(anvil_indexed: Indexed, tmp_path: Path) -> None:
    first = export(anvil_indexed, tmp_path / "a", format="parquet")
    second = export(anvil_indexed, tmp_path / "b", format="parquet")
    shared = export(anvil_indexed, tmp_path / "c", format="parquet", salt=bytes.fromhex(first.salt_hex))
    assert first.salt_hex != second.salt_hex and len(bytes.fromhex(first.salt_hex)) == 32
    assert not _ids(tmp_path / "a") & _ids(tmp_path / "b")
    assert _ids(tmp_path / "a") == _ids(tmp_path / "c")
    assert shared.manifest["pseudonym"]["salt_fingerprint"] == first.manifest["pseudonym"]["salt_fingerprint"]
    # no raw address of a person and not the salt anywhere in the export
    people = [p.address.lower()[2:].encode() for p in anvil_indexed.history.people]
    for path in (tmp_path / "a").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(person in data for person in people), path
            assert first.salt_hex.encode() not in data and bytes.fromhex(first.salt_hex) not in data
    # ties and supports use the same ids as contributions
    ties = set(read_table(tmp_path / "a", "ties", "parquet")["participant"])
    assert ties == _ids(tmp_path / "a")
    supporters = set(read_table(tmp_path / "a", "supports", "parquet")["supporter"])
    assert supporters <= ties


def test_a_raw_export_keeps_addresses_and_operators_are_never_pseudonymised(
    anvil_indexed: Indexed, tmp_path: Path
) -> None:
    raw = export(anvil_indexed, tmp_path / "raw", format="csv", pseudonymise=False)
    assert raw.salt_hex is None and raw.manifest["pseudonym"] is None
    people = {p.address.lower() for p in anvil_indexed.history.people}
    assert set(read_table(tmp_path / "raw", "contributions", "csv")["participant"]) <= people
    pseudo = export(anvil_indexed, tmp_path / "pseudo", format="csv")
    raw_batches = read_table(tmp_path / "raw", "batches", "csv")
    assert raw_batches.equals(read_table(tmp_path / "pseudo", "batches", "csv"))  # issuers stay raw
    assert pseudo.manifest["options"]["pseudonymised"] is True


def test_aggregates_suppress_small_cells_like_the_dashboards(anvil_indexed: Indexed, tmp_path: Path) -> None:
    export(anvil_indexed, tmp_path / "k5", format="parquet", tables=("region_daily",), k=5)
    export(anvil_indexed, tmp_path / "k1", format="parquet", tables=("region_daily",), k=1)
    shown = read_table(tmp_path / "k5", "region_daily", "parquet")
    raw = read_table(tmp_path / "k1", "region_daily", "parquet")
    assert len(shown) == len(raw) > 0
    for (_, s), (_, r) in zip(shown.iterrows(), raw.iterrows(), strict=True):
        expected = suppress(int(r["participants"]), 5)
        assert (None if pd.isna(s["participants"]) else int(s["participants"])) == expected
        if expected is None:
            assert pd.isna(s["coins_issued"])
    assert shown["participants"].isna().any() and not shown["participants"].isna().all()  # 館山 6 people, 長岡 3


def test_a_region_filter_keeps_the_region_and_platform_tables(anvil_indexed: Indexed, tmp_path: Path) -> None:
    result = export(anvil_indexed, tmp_path / "out", format="jsonl", regions=(NAGAOKA,), salt=SALT)
    frame = read_table(tmp_path / "out", "contributions", "jsonl")
    assert set(frame["region"]) == {jis_code(NAGAOKA)} and len(frame) == 4 * 3  # five-digit text
    assert result.row_counts["role_changes"] > 0  # platform-wide, no region column
    assert set(read_table(tmp_path / "out", "regions", "jsonl")["region"]) == {jis_code(NAGAOKA)}
    assert jis_code(TATEYAMA) not in set(read_table(tmp_path / "out", "coin_movements", "jsonl")["region"])
    report = verify_export(tmp_path / "out", anvil_indexed.rpc, SALT)
    assert report.ok, report.lines()


def test_csv_rows_parse_with_the_csv_module(anvil_indexed: Indexed, tmp_path: Path) -> None:
    export(anvil_indexed, tmp_path / "out", format="csv", tables=("regions", "kinds"))
    with open(tmp_path / "out" / "regions.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["name"] for r in rows} == {f"coin {TATEYAMA}", f"coin {NAGAOKA}"}
    assert {r["transfers_enabled"] for r in rows} == {"true", "false"}
