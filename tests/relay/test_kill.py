"""kill -9 of a real `tsunagari relay` process mid-batch, then a restart: every claim ends on chain
exactly once and none is lost.

The exact moments come from the relayer's failpoints (``TSUNAGARI_RELAY_FAILPOINT``: the process
hangs there until it is killed): right after a batch row is written and before anything is signed,
and right after its transaction is sent. A further run is killed at a random moment.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.chain.accounts import dev_account
from ledger.chain.devnet import AnvilDevnet
from ledger.relay.flights import FAILPOINT_ENV
from tests.relay.helpers import (
    NAGAOKA,
    TATEYAMA,
    Ledger,
    assert_exactly_once,
    insert_claims,
    people,
    relay_env,
    relay_process,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; relay log:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def _batches(engine: Engine) -> list[tuple[int, str, int | None]]:
    with engine.connect() as conn:
        return [(int(i), str(s), n) for i, s, n in conn.execute(text("SELECT id, status, nonce FROM relay_batches"))]


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def test_kill_9_mid_batch_then_restart_records_every_claim_once(
    anvil: AnvilDevnet, ledger: Ledger, sqlite_db: tuple[str, Engine], tmp_path: Path
) -> None:
    db_url, engine = sqlite_db
    log = tmp_path / "relay.log"
    anvil.w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]  # 1 s blocks
    ids = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(50, 1))
    ids += insert_claims(engine, NAGAOKA, ledger.activities[NAGAOKA], people(30, 2))
    env = relay_env(ledger, db_url)

    # 1. Killed right after building: a batch row 'built', its claims 'submitted', nothing signed.
    first = relay_process({**env, FAILPOINT_ENV: "after_build"}, log)
    _wait_for(lambda: any(s == "built" for _, s, _ in _batches(engine)), 30, "a built batch", log)
    time.sleep(0.2)
    _kill(first)
    assert [s for _, s, _ in _batches(engine)] == ["built"]

    # 2. Killed right after sending: the batch is 'sent'; it is mined while no relayer runs.
    second = relay_process({**env, FAILPOINT_ENV: "after_send"}, log)
    _wait_for(lambda: any(s == "sent" for _, s, _ in _batches(engine)), 30, "a sent batch", log)
    time.sleep(0.2)
    _kill(second)
    assert "sent" in {s for _, s, _ in _batches(engine)}

    # 3. Killed at a random moment while more claims arrive.
    ids += insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(40, 3))
    rng = random.Random(20261128)
    third = relay_process(env, log)
    time.sleep(rng.uniform(2.0, 3.0))
    if third.poll() is None:
        _kill(third)

    # 4. The final run drains everything.
    final = relay_process(env, log, "--once")
    assert final.wait(timeout=120) == 0, log.read_text()[-3000:]
    assert_exactly_once(ledger, engine, set(ids))
    statuses = {s for _, s, _ in _batches(engine)}
    assert statuses <= {"confirmed", "failed"}, statuses


def test_restart_rebroadcasts_a_lost_transaction_or_resigns_when_its_nonce_is_taken(
    anvil: AnvilDevnet, ledger: Ledger, sqlite_db: tuple[str, Engine], tmp_path: Path
) -> None:
    """Killed after sending, and the node lost the transaction (its pool dropped): the restart sends
    the stored raw transaction again. Then a batch whose nonce was used by another transaction of
    the same key: the restart re-batches its claims with a fresh nonce, under the same batch seq."""
    db_url, engine = sqlite_db
    log = tmp_path / "relay.log"
    w3 = anvil.w3
    env = relay_env(ledger, db_url)
    ids = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(10, 4))

    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    victim = relay_process({**env, FAILPOINT_ENV: "after_send"}, log)
    _wait_for(lambda: any(s == "sent" for _, s, _ in _batches(engine)), 30, "a sent batch", log)
    _kill(victim)
    w3.provider.make_request("anvil_dropAllTransactions", [])  # type: ignore[arg-type]
    w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    final = relay_process(env, log, "--once")
    assert final.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert_exactly_once(ledger, engine, set(ids))
    assert "broadcasting its stored transaction again" in log.read_text()

    # Now the nonce of the stored transaction goes to another transaction of the relayer's key.
    more = insert_claims(engine, NAGAOKA, ledger.activities[NAGAOKA], people(10, 5))
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    victim = relay_process({**env, FAILPOINT_ENV: "after_send"}, log)
    _wait_for(lambda: sum(s == "sent" for _, s, _ in _batches(engine)) == 1, 30, "a sent batch", log)
    _kill(victim)
    w3.provider.make_request("anvil_dropAllTransactions", [])  # type: ignore[arg-type]
    relayer = dev_account(1)
    (nonce,) = [n for _, s, n in _batches(engine) if s == "sent"]
    transfer = relayer.sign_transaction(
        {
            "type": 2,
            "chainId": 31337,
            "nonce": int(nonce or 0),
            "to": dev_account(7).address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    w3.eth.send_raw_transaction(transfer.raw_transaction)
    w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    final = relay_process(env, log, "--once")
    assert final.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert_exactly_once(ledger, engine, set(ids) | set(more))
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT status, batch_seq, error FROM relay_batches WHERE region = :r ORDER BY id"), {"r": NAGAOKA}
        ).all()
    assert [(s, q) for s, q, _ in rows] == [("failed", None), ("confirmed", 1)]
    assert "was used by a transaction not in our outbox" in rows[0][2]
