"""Certificate benchmark: verify certificates of 10 and 100 records against anvil; render the PDF.

A fresh anvil (automine) gets the ledger, one region (館山 12205) and 100 designated activities; a
participant is recorded at all of them in ten batches (ten transactions, ten blocks). The index is
built into a SQLite file and the participant's certificate drafted from it and signed.

- ``verify_10_s`` / ``verify_100_s``: :func:`ledger.certificate.verify.verify_certificate` over HTTP
  (JSON-RPC batches, one pinned block) for the first 10 lines and for all 100; median of 3 runs.
- ``naive_verify_100_s``: the baseline measured in the same run: the same checks the way a plain
  web3.py script makes them, one request per fact (receipt, block, ``activityInfo``, ``recordOf``
  per line). ``speedup_100`` = naive / ours.
- ``issue_pdf_s``: :func:`ledger.certificate.pdf.render_certificate_pdf` of the 10-record
  certificate, median of 3 after a first render (``issue_pdf_first_s``, which imports WeasyPrint
  and loads the fonts).

Target (issue 15): ``verify_10_s`` ≤ 2.

Run: ``make bench BENCH=certificate`` or ``python -m scripts.bench certificate``.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils.crypto import keccak

from ledger.certificate.issue import draft_certificate, today_jst
from ledger.certificate.model import Certificate
from ledger.certificate.typed import certificate_typed_data, sign_typed
from ledger.certificate.verify import verify_certificate
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput
from ledger.chain.deploy import deploy_ledger
from ledger.chain.devnet import AnvilDevnet
from ledger.checkin.metadata import store_metadata
from ledger.db.engine import make_engine, upgrade_to_head, write_transaction
from ledger.indexer.refresh import DerivedRefresher
from ledger.indexer.rpc import HttpJsonRpc
from ledger.indexer.runner import Indexer, IndexerConfig
from ledger.indexer.spec import spec_for_deployment
from ledger.indexer.store import IndexStore
from ledger.taxonomy import ContributionKind

__all__ = ["run", "VERIFY_10_TARGET_S"]

VERIFY_10_TARGET_S = 2.0
REGION = 12205
ACTIVITIES = 100
RUNS = 3


def _log(message: str) -> None:
    print(f"[bench certificate] {message}", file=sys.stderr, flush=True)


def _median(action: Callable[[], Any], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _naive_verify(client: LedgerClient, certificate: Certificate) -> int:
    """The baseline: one web3.py request per fact, line after line."""
    w3 = client.w3
    ok = 0
    for record in certificate.records:
        receipt = w3.eth.get_transaction_receipt(record.tx_hash)  # type: ignore[arg-type]
        block = w3.eth.get_block(record.block_hash)  # type: ignore[arg-type]
        info, _metadata = client.contract.functions.activityInfo(record.activity_id).call()
        _recorded, revoked = client.contract.functions.recordOf(record.activity_id, certificate.holder).call()
        if receipt["status"] == 1 and block["hash"].hex().endswith(record.block_hash[2:]) and info[0] == REGION:
            ok += 0 if revoked else 1
    return ok


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tsunagari-bench-certificate-") as tmp_name:
        tmp = Path(tmp_name)
        anvil = AnvilDevnet(log_file=tmp / "anvil.log")
        anvil.start()
        try:
            return _run(anvil, tmp)
        finally:
            anvil.close()


def _run(anvil: AnvilDevnet, tmp: Path) -> dict[str, Any]:
    platform, relayer, admin = dev_account(0), dev_account(1), dev_account(2)
    deployment = deploy_ledger(anvil.w3, platform)
    client = LedgerClient(anvil.w3, deployment.ledger, poll_s=0.01)
    client.register_region(platform, REGION, "館山つながりコイン", "TSUNAGARI", admin.address)
    client.grant_issuer(admin, REGION, relayer.address)
    engine = make_engine(f"sqlite:///{tmp / 'bench.db'}")
    upgrade_to_head(engine)
    now = int(time.time())
    _log(f"registering {ACTIVITIES} designated activities")
    activities = []
    for i in range(ACTIVITIES):
        with write_transaction(engine) as conn:
            metadata = store_metadata(conn, f"棚田の草刈り 第{i + 1}回", "棚田の保全作業", "館山市")
        terms = ActivitySpec(
            REGION,
            ContributionKind.PAID_FARM_WORK,
            100,
            now - 600,
            now + 86_400,
            0,
            bytes.fromhex(metadata[2:]),
            designated=True,
        )
        activities.append(client.register_activity(admin, terms))
    person = Account.from_key(keccak(text="bench-certificate-person"))
    for start in range(0, ACTIVITIES, 10):
        batch = [RecordInput(person.address, a, start + j + 1) for j, a in enumerate(activities[start : start + 10])]
        client.record_batch(relayer, REGION, batch)
    spec = spec_for_deployment(deployment)
    rpc = HttpJsonRpc(anvil.rpc_url)
    indexer = Indexer(
        spec, IndexStore(engine, spec.chain_id), rpc, IndexerConfig(), refresh=DerivedRefresher(engine, spec.chain_id)
    )
    indexer.backfill()
    indexer.close()
    with engine.connect() as conn:
        draft = draft_certificate(conn, holder=person.address, region=REGION, chain_id=31337, ledger=deployment.ledger)
    engine.dispose()
    assert len(draft.records) == ACTIVITIES, len(draft.records)

    def signed(records: int) -> Certificate:
        part = dataclasses.replace(draft, records=draft.records[:records])
        return part.signed(sign_typed(certificate_typed_data(part), person.key))

    ten, hundred = signed(10), signed(ACTIVITIES)
    as_of = today_jst()
    verifier_rpc = HttpJsonRpc(anvil.rpc_url)

    def verify(certificate: Certificate) -> None:
        report = verify_certificate(certificate, verifier_rpc, trusted_ledger=deployment.ledger, as_of=as_of)
        assert report.valid and report.premium, report.to_json()

    _log("verifying (3 runs each)")
    verify(ten)  # warm the connection
    verify_10 = _median(lambda: verify(ten))
    verify_100 = _median(lambda: verify(hundred))
    naive_100 = _median(lambda: _naive_verify(client, hundred))
    verifier_rpc.close()
    rpc.close()

    from ledger.certificate.pdf import render_certificate_pdf

    _log("rendering the PDF")
    started = time.perf_counter()
    render_certificate_pdf(ten, verify_url="http://127.0.0.1:8000/verify/certificate")
    first_pdf = time.perf_counter() - started
    pdf = _median(lambda: render_certificate_pdf(ten, verify_url="http://127.0.0.1:8000/verify/certificate"))
    return {
        "bench": "certificate",
        "verify_10_s": round(verify_10, 4),
        "verify_100_s": round(verify_100, 4),
        "naive_verify_100_s": round(naive_100, 4),
        "speedup_100": round(naive_100 / verify_100, 1),
        "issue_pdf_s": round(pdf, 3),
        "issue_pdf_first_s": round(first_pdf, 3),
        "verify_10_target_s": VERIFY_10_TARGET_S,
        "verify_10_met": verify_10 <= VERIFY_10_TARGET_S,
        "runs": RUNS,
    }
