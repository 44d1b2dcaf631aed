"""Helpers for relayer tests: a deployed ledger on a real anvil, claims written straight into the
outbox (the relayer's input contract), and what the chain says about them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlalchemy import Engine, text
from web3 import Web3

from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient
from ledger.chain.deploy import Deployment, deploy_ledger, save_deployment
from ledger.db.engine import write_transaction
from ledger.relay.outbox import NewClaim
from ledger.relay.outbox import insert_claims as insert_claims_in
from ledger.settings import Settings
from ledger.taxonomy import ContributionKind

TATEYAMA = 12205
NAGAOKA = 15202


@dataclass
class Ledger:
    """A ledger with two regions; dev account 1 (the ``relayer`` operator) is issuer in both."""

    w3: Web3
    rpc_url: str
    deployment: Deployment
    deployments_dir: Path
    client: LedgerClient
    platform: LocalAccount
    relayer: LocalAccount
    admin: LocalAccount
    activities: dict[int, int]

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def activity(self, region: int, **overrides: Any) -> int:
        now = self.now()
        values: dict[str, Any] = {
            "region": region,
            "kind": ContributionKind.FESTIVAL_EVENT,
            "reward": 10,
            "starts_at": now - 60,
            "ends_at": now + 86_400,
        }
        values.update(overrides)
        return self.client.register_activity(self.admin, ActivitySpec(**values))


def deploy_two_regions(
    w3: Web3, rpc_url: str, deployments_dir: Path, *, issuer_in: tuple[int, ...] = (TATEYAMA, NAGAOKA)
) -> Ledger:
    platform, relayer, admin = dev_account(0), dev_account(1), dev_account(2)
    deployment = deploy_ledger(w3, platform)
    save_deployment(deployments_dir, deployment)
    client = LedgerClient(w3, deployment.ledger, poll_s=0.02)
    for region, name in ((TATEYAMA, "館山"), (NAGAOKA, "長岡")):
        client.register_region(platform, region, f"{name}コイン", f"C{region}", admin.address)
        if region in issuer_in:
            client.grant_issuer(admin, region, relayer.address)
    ledger = Ledger(w3, rpc_url, deployment, deployments_dir, client, platform, relayer, admin, {})
    ledger.activities = {region: ledger.activity(region) for region in (TATEYAMA, NAGAOKA)}
    return ledger


def relay_settings(ledger: Ledger, db_url: str, **relay: Any) -> Settings:
    values: dict[str, Any] = {"batch_size": 20, "max_wait_s": 0.1, "poll_interval_s": 0.05}
    values.update(relay)
    return Settings(
        chain={"backend": "anvil", "rpc_url": ledger.rpc_url, "deployments_dir": ledger.deployments_dir},
        db={"url": db_url},
        relay=values,
    )


def relay_env(ledger: Ledger, db_url: str, **relay: Any) -> dict[str, str]:
    """Environment variables for a ``tsunagari relay`` subprocess with these settings."""
    env = {
        "TSUNAGARI_CHAIN__BACKEND": "anvil",
        "TSUNAGARI_CHAIN__RPC_URL": ledger.rpc_url,
        "TSUNAGARI_CHAIN__DEPLOYMENTS_DIR": str(ledger.deployments_dir),
        "TSUNAGARI_DB__URL": db_url,
        "TSUNAGARI_RELAY__BATCH_SIZE": "20",
        "TSUNAGARI_RELAY__MAX_WAIT_S": "0.1",
        "TSUNAGARI_RELAY__POLL_INTERVAL_S": "0.05",
    }
    env.update({f"TSUNAGARI_RELAY__{k.upper()}": str(v) for k, v in relay.items()})
    return env


def people(count: int, salt: int = 0) -> list[str]:
    return [
        Account.from_key(bytes([9, salt % 256] + [0] * 25) + i.to_bytes(4, "big") + b"\x01").address
        for i in range(count)
    ]


def insert_claims(engine: Engine, region: int, activity_id: int, participants: list[str], units: int = 1) -> list[int]:
    """Accepted claims, as the check-in API writes them (through the outbox); returns their ids."""
    new = [
        NewClaim(activity_id, region, participant.lower(), "0x" + uuid.uuid4().hex, 0, units)
        for participant in participants
    ]
    with write_transaction(engine) as conn:
        ids = insert_claims_in(conn, new, int(time.time() * 1000))
    return [ids[c.request_hash] for c in new]


def claim_rows(engine: Engine) -> dict[int, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM claims ORDER BY id")).mappings().all()
    return {int(r["id"]): dict(r) for r in rows}


def recorded_claim_ids(ledger: Ledger, engine: Engine) -> Counter[int]:
    """How many ``ContributionRecorded`` logs stand for each claim of the outbox (exactly once is the
    goal). A log names its activity and participant; the outbox has one claim per pair."""
    event = ledger.client.contract.events.ContributionRecorded()
    logs = ledger.w3.eth.get_logs(
        {
            "address": ledger.client.address,
            "fromBlock": ledger.deployment.deploy_block,
            "toBlock": "latest",
            "topics": [HexBytes(event.topic)],
        }
    )
    by_pair = {(int(r["activity_id"]), str(r["participant"])): i for i, r in claim_rows(engine).items()}
    counts: Counter[int] = Counter()
    for entry in logs:
        args = event.process_log(entry)["args"]
        pair = (int(args["activityId"]), str(args["participant"]).lower())
        counts[by_pair.get(pair, -1)] += 1
    return counts


def assert_exactly_once(ledger: Ledger, engine: Engine, expected: set[int]) -> None:
    """Every claim in ``expected`` is confirmed and recorded on chain exactly once, and nothing else is."""
    rows = claim_rows(engine)
    counts = recorded_claim_ids(ledger, engine)
    not_confirmed = {i: rows[i]["status"] for i in expected if rows[i]["status"] != "confirmed"}
    assert not not_confirmed, f"claims not confirmed: {not_confirmed}"
    assert {i: n for i, n in counts.items() if n != 1} == {}, "a claim is on chain more than once"
    assert set(counts) == expected
    for claim_id in expected:
        row = rows[claim_id]
        assert ledger.client.record_of(row["activity_id"], row["participant"]) == (True, False)
        assert row["tx_hash"] and row["block_number"]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` until it holds; an AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def relay_process(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """A real ``tsunagari relay`` process with ``env`` (see :func:`relay_env`), its output appended
    to ``log``; ``args`` after ``relay`` (``--once``, ``--metrics-port N``)."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", "relay", *args],
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
