"""Export benchmark: rows per second to Parquet and CSV, memory at 1M and 5M rows, verify on a devnet.

**Export speed and memory.** :mod:`scripts.bench.synthetic` writes a year of 5,000,000 contribution
records (~500k people, MLIT-like frequencies, four regions) through the indexer's own handlers and
store into a fresh SQLite file. The ``contributions`` table is then exported four times, each in a
child process of its own (``python -m scripts.bench.export --child ...``): Parquet and CSV, for the
block range holding the first 1,000,000 records and for all 5,000,000. The child times
:func:`ledger.export.export_dataset` alone (plan, read, pseudonymise, write, hash, fsync, rename)
and reports its own peak RSS (``VmHWM``), which includes the interpreter and its imports (~140 MB).
``rows_per_s`` is rows / that time.

**Verify on the devnet.** A fresh anvil (automine) gets the ledger, four regions and 200 activities;
1,000,000 ``ContributionRecorded`` logs are emitted in batches of 500 (2,000 ``recordBatch``
transactions, signed locally and sent back to back; 5,000 of 10,000 people per activity, so most
records are of returning people). anvil runs with ``--prune-history`` (it keeps every block's state
in memory otherwise: past 20 GB at 400k records). The indexer backfills them into SQLite, the
whole ledger is exported to Parquet, and :func:`ledger.export.verify_export` checks it against the
node over HTTP with the salt (every field compared): ``verify_1m_s``.

Targets (BRIEF section 5 and the export issue): Parquet ≥ 300,000 rows/s; peak RSS at 5M ≤ 1.3 × the
peak at 1M; verify of the 1M export < 60 s.

Run: ``make bench BENCH=export`` or ``python -m scripts.bench export``; progress goes to stderr.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from ledger.chain.accounts import dev_account
from ledger.chain.artifacts import abi_sha256
from ledger.chain.client import ActivitySpec, LedgerClient
from ledger.chain.deploy import deploy_ledger
from ledger.chain.devnet import AnvilDevnet
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.errors import TransactionFailed
from ledger.export import ChainInfo, ContractInfo, ExportOptions, export_dataset, verify_export
from ledger.indexer.rpc import HttpJsonRpc
from ledger.indexer.runner import Indexer
from ledger.indexer.spec import spec_for_deployment
from ledger.indexer.store import IndexStore
from ledger.taxonomy import ContributionKind
from scripts.bench.synthetic import REGIONS, generate_year, write_year

__all__ = ["run", "PARQUET_TARGET_ROWS_PER_S", "MEMORY_RATIO_TARGET", "VERIFY_TARGET_S"]

PARQUET_TARGET_ROWS_PER_S = 300_000
MEMORY_RATIO_TARGET = 1.3
VERIFY_TARGET_S = 60.0
SIZES = (1_000_000, 5_000_000)
DEVNET_RECORDS = 1_000_000
BATCH = 500
ACTIVITIES_PER_REGION = 50
PARTICIPANT_POOL = 10_000  # returning people: most records are the cheap ~10k-gas kind
_CONTRACT = "0x" + "7e" * 20  # the synthetic writer's contract address
_SALT = bytes(range(7, 39))


def _say(message: str) -> None:
    print(f"[bench export] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Export speed and memory (children)
# ---------------------------------------------------------------------------------------------


def _child(db: str, fmt: str, to_block: int, out: str) -> None:
    """Runs in a child process: one export, then its time and own peak RSS as JSON on stdout."""
    engine = make_engine(f"sqlite:///{db}")
    chain = ChainInfo(31337, (ContractInfo("TsunagariLedger", _CONTRACT, 0, abi_sha256("TsunagariLedger")),))
    options = ExportOptions(format=fmt, tables=("contributions",), to_block=to_block, salt=_SALT)  # type: ignore[arg-type]
    started = time.perf_counter()
    result = export_dataset(engine, chain, options, Path(out))
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": result.row_counts["contributions"], "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}))


def _peak_rss_mb() -> float:
    """This process's peak resident set since it was exec'd (``VmHWM``); ``ru_maxrss`` would also count
    the parent's pages the child had before exec (the parent holds the synthetic year)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _export_in_child(db: Path, fmt: str, to_block: int, out: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "scripts.bench.export", "--child", str(db), fmt, str(to_block), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"export child failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _synthetic_exports(workdir: Path, sizes: tuple[int, ...]) -> dict[str, Any]:
    largest = max(sizes)
    db = workdir / "synthetic.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade_to_head(engine)
    started = time.perf_counter()
    year = generate_year(largest)
    _say(f"{len(year.records):,} records by {year.participants:,} people generated; writing through the handlers")
    write_year(engine, 31337, year)
    ends = {size: year.records[size - 1].block for size in sizes}
    del year
    with engine.connect() as conn:
        counts = {
            size: int(
                conn.execute(text("SELECT COUNT(*) FROM contributions WHERE block_number <= :b"), {"b": end}).scalar()
                or 0
            )
            for size, end in ends.items()
        }
    engine.dispose()
    _say(f"indexed in {time.perf_counter() - started:.0f} s; exporting in child processes")
    result: dict[str, Any] = {}
    for size in sizes:
        for fmt in ("parquet", "csv"):
            measured = _export_in_child(db, fmt, ends[size], workdir / f"export-{fmt}-{size}")
            if measured["rows"] != counts[size]:
                raise AssertionError(f"exported {measured['rows']} rows, the index has {counts[size]}")
            rate = measured["rows"] / measured["seconds"]
            _say(f"{fmt} {measured['rows']:,} rows: {rate:,.0f} rows/s, peak RSS {measured['peak_rss_mb']:.0f} MB")
            tag = f"{size // 1_000_000}m" if size % 1_000_000 == 0 else str(size)
            result[f"{fmt}_rows_per_s_{tag}"] = round(rate)
            result[f"{fmt}_s_{tag}"] = round(measured["seconds"], 2)
            result[f"peak_rss_mb_{fmt}_{tag}"] = round(measured["peak_rss_mb"], 1)
    return result


# ---------------------------------------------------------------------------------------------
# Verify on the devnet
# ---------------------------------------------------------------------------------------------


def _participant(n: int) -> int:
    return (0xE4 << 152) | n


def _emit(devnet: AnvilDevnet, records: int) -> tuple[Any, int]:
    """Deploy and emit ``records`` contributions in batches of ``BATCH``; returns (deployment, head)."""
    w3 = devnet.w3
    admin, issuer, region_admin = dev_account(0), dev_account(1), dev_account(2)
    deployment = deploy_ledger(w3, admin)
    client = LedgerClient(w3, deployment.ledger, poll_s=0.01)
    now = int(w3.eth.get_block("latest")["timestamp"])
    kinds = list(ContributionKind)
    activities: list[tuple[int, int]] = []
    for n, region in enumerate(REGIONS):
        client.register_region(admin, region, f"Bench coin {region}", f"BE{n}", region_admin.address)
        client.grant_issuer(region_admin, region, issuer.address)
        for i in range(ACTIVITIES_PER_REGION):
            spec = ActivitySpec(region, kinds[i % len(kinds)], 100, now - 3600, now + 30 * 86_400)
            activities.append((region, client.register_activity(region_admin, spec)))
    per_activity = records // len(activities)
    rng = random.Random(11)
    calldata: list[str] = []
    seqs: dict[int, int] = {}
    claim = 0
    for region, activity in activities:
        people = sorted(rng.sample(range(PARTICIPANT_POOL), per_activity))
        for start in range(0, len(people), BATCH):
            packed = []
            for n in people[start : start + BATCH]:
                claim += 1
                packed.append((_participant(n) << 96) | (activity << 48) | claim)
            seqs[region] = seqs.get(region, 0) + 1
            calldata.append(client.contract.encode_abi("recordBatch", args=[region, seqs[region], packed]))
    gas = int(w3.eth.get_block("latest")["gasLimit"])
    nonce = w3.eth.get_transaction_count(issuer.address, "pending")
    hashes = []
    for i, data in enumerate(calldata):
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": 31337,
            "nonce": nonce + i,
            "to": client.address,
            "data": data,
            "value": 0,
            "gas": gas,
            "maxFeePerGas": 50 * 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        hashes.append(w3.eth.send_raw_transaction(issuer.sign_transaction(tx).raw_transaction))
    w3.eth.wait_for_transaction_receipt(hashes[-1], timeout=1800, poll_latency=0.2)
    for tx_hash in hashes[:: max(1, len(hashes) // 20)] + hashes[-1:]:
        if w3.eth.get_transaction_receipt(tx_hash)["status"] != 1:
            raise TransactionFailed(f"batch 0x{bytes(tx_hash).hex()} reverted")
    return deployment, int(w3.eth.block_number)


class _PrunedAnvil(AnvilDevnet):
    """anvil keeping only recent states in memory: with every block's state kept, a million records
    grow it past 20 GB. Blocks, receipts and logs are all kept (pruning is of states only)."""

    def command(self) -> list[str]:
        return [*super().command(), "--prune-history", "16"]


def _devnet_verify(workdir: Path, records: int) -> dict[str, Any]:
    devnet = _PrunedAnvil()
    try:
        devnet.start()
        started = time.perf_counter()
        deployment, head = _emit(devnet, records)
        _say(f"{records:,} records emitted in {time.perf_counter() - started:.0f} s (head {head}); indexing")
        engine = make_engine(f"sqlite:///{workdir / 'devnet.db'}")
        upgrade_to_head(engine)
        rpc = HttpJsonRpc(devnet.rpc_url or "", timeout_s=120)
        try:
            spec = spec_for_deployment(deployment)
            started = time.perf_counter()
            Indexer(spec, IndexStore(engine, spec.chain_id), rpc).backfill()
            index_s = time.perf_counter() - started
            started = time.perf_counter()
            exported = export_dataset(
                engine, deployment, ExportOptions(format="parquet", salt=_SALT), workdir / "devnet-export"
            )
            export_s = time.perf_counter() - started
            _say(f"indexed in {index_s:.0f} s, exported in {export_s:.1f} s; verifying")
            started = time.perf_counter()
            report = verify_export(workdir / "devnet-export", rpc, _SALT)
            verify_s = time.perf_counter() - started
        finally:
            rpc.close()
            engine.dispose()
        _say(f"verify: ok={report.ok} in {verify_s:.1f} s")
        return {
            "devnet_records": exported.row_counts["contributions"],
            "devnet_export_s": round(export_s, 2),
            "verify_1m_s": round(verify_s, 1),
            "verify_ok": report.ok,
            "verify_logs": report.checked.get("logs_fetched", 0),
            "verify_discrepancies": report.discrepancy_count,
        }
    finally:
        devnet.close()


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------


def run(sizes: tuple[int, ...] = SIZES, devnet_records: int = DEVNET_RECORDS) -> dict[str, Any]:
    """Measure everything in a temporary folder; one flat JSON-able dict."""
    started = time.perf_counter()
    small, large = min(sizes), max(sizes)
    tag = {s: f"{s // 1_000_000}m" if s % 1_000_000 == 0 else str(s) for s in sizes}
    with tempfile.TemporaryDirectory(prefix="tsunagari-bench-export-") as tmp:
        workdir = Path(tmp)
        measured = _synthetic_exports(workdir, sizes)
        devnet = _devnet_verify(workdir, devnet_records) if devnet_records else {}
    peak_small = max(measured[f"peak_rss_mb_parquet_{tag[small]}"], measured[f"peak_rss_mb_csv_{tag[small]}"])
    peak_large = max(measured[f"peak_rss_mb_parquet_{tag[large]}"], measured[f"peak_rss_mb_csv_{tag[large]}"])
    parquet_rate = measured[f"parquet_rows_per_s_{tag[large]}"]
    memory_ratio = peak_large / peak_small
    verify_s = devnet.get("verify_1m_s")
    result: dict[str, Any] = {
        "bench": "export",
        "rows": large,
        "parquet_rows_per_s": parquet_rate,
        "csv_rows_per_s": measured[f"csv_rows_per_s_{tag[large]}"],
        "peak_rss_mb_1m": peak_small,
        "peak_rss_mb_5m": peak_large,
        "memory_ratio": round(memory_ratio, 3),
        "verify_1m_s": verify_s,
        **measured,
        **devnet,
        "parquet_target_rows_per_s": PARQUET_TARGET_ROWS_PER_S,
        "memory_ratio_target": MEMORY_RATIO_TARGET,
        "verify_target_s": VERIFY_TARGET_S,
        "targets_met": parquet_rate >= PARQUET_TARGET_ROWS_PER_S
        and memory_ratio <= MEMORY_RATIO_TARGET
        and (verify_s is None or (verify_s < VERIFY_TARGET_S and bool(devnet.get("verify_ok")))),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    return result


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        print(json.dumps(run(), ensure_ascii=False))
