"""kill -9 of a real `tsunagari index backfill` process at random moments, then a restart: the
database must end exactly as an uninterrupted run leaves it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from eth_account import Account

from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput
from ledger.chain.deploy import deploy_ledger, save_deployment
from ledger.chain.devnet import AnvilDevnet
from ledger.db.engine import make_engine
from ledger.taxonomy import ContributionKind
from tests.indexer.helpers import dump

ROOT = Path(__file__).resolve().parents[2]


def _backfill(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:  # the child keeps its own descriptor; no pipe to drain or leak
        return subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", "index", "backfill"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def test_kill_9_during_backfill_then_restart_gives_the_uninterrupted_database(tmp_path: Path) -> None:
    devnet = AnvilDevnet().start()
    try:
        platform, relayer, admin = dev_account(0), dev_account(1), dev_account(2)
        deployment = deploy_ledger(devnet.w3, platform)
        save_deployment(tmp_path / "deployments", deployment)
        client = LedgerClient(devnet.w3, deployment.ledger, poll_s=0.01)
        client.register_region(platform, 12205, "館山", "TATE", admin.address)
        client.grant_issuer(admin, 12205, relayer.address)
        now = int(devnet.w3.eth.get_block("latest")["timestamp"])
        people = [
            Account.from_key(bytes([3] * 30 + [i // 256, i % 256 + 1 if i % 256 < 255 else 1])) for i in range(300)
        ]
        people = list({p.address: p for p in people}.values())
        for round_ in range(12):
            spec = ActivitySpec(12205, ContributionKind.FESTIVAL_EVENT, 10 + round_, now - 60, now + 86_400)
            activity = client.register_activity(admin, spec)
            client.record_batch(
                relayer, 12205, [RecordInput(p.address, activity, round_ * 1000 + i) for i, p in enumerate(people)]
            )

        def env_for(db: Path) -> dict[str, str]:
            return {
                **os.environ,
                "TSUNAGARI_CHAIN__RPC_URL": devnet.rpc_url,
                "TSUNAGARI_CHAIN__DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
                "TSUNAGARI_DB__URL": f"sqlite:///{db}",
                "TSUNAGARI_INDEXER__INITIAL_RANGE": "1",
                "TSUNAGARI_INDEXER__MAX_RANGE": "1",
            }

        log = tmp_path / "backfill.log"
        reference = _backfill(env_for(tmp_path / "reference.db"), log)
        assert reference.wait(timeout=120) == 0, log.read_text()
        expected = dump(make_engine(f"sqlite:///{tmp_path / 'reference.db'}"))
        assert len(expected["contributions"]) == 12 * len(people)

        rng = random.Random(20261127)
        victim_db = tmp_path / "victim.db"
        kills = 0
        for _ in range(6):  # bounded: six attempts to kill it mid-run
            process = _backfill(env_for(victim_db), log)
            time.sleep(rng.uniform(0.8, 2.5))
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                kills += 1
            process.wait(timeout=60)
        final = _backfill(env_for(victim_db), log)
        assert final.wait(timeout=120) == 0, log.read_text()[-3000:]
        assert kills >= 1, "no kill landed while the indexer was running; widen the timing"
        assert dump(make_engine(f"sqlite:///{victim_db}")) == expected
    finally:
        devnet.close()
