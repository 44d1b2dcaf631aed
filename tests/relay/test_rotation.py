"""Rotating the relayer's key while claims keep arriving (real anvil, real `tsunagari relay`
processes, one SQLite file): grant the new key, stop and drain the old one, start the relayer with
the new key, revoke the old. Every claim is on chain exactly once; the old key is no issuer any more
and every batch after the switch is the new key's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.chain.accounts import dev_account
from ledger.chain.context import open_chain
from ledger.chain.devnet import AnvilDevnet
from ledger.relay.rotation import drain_old_key, grant_new_key, revoke_old_key
from tests.relay.helpers import (
    NAGAOKA,
    TATEYAMA,
    Ledger,
    assert_exactly_once,
    insert_claims,
    people,
    relay_env,
    relay_process,
    relay_settings,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_the_relayer_key_is_rotated_without_losing_or_doubling_a_claim(
    anvil: AnvilDevnet, ledger: Ledger, sqlite_db: tuple[str, Engine], tmp_path: Path
) -> None:
    db_url, engine = sqlite_db
    anvil.w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]  # 1 s blocks
    old, new = ledger.relayer.address.lower(), dev_account(3).address.lower()
    log = tmp_path / "relay.log"
    env = relay_env(ledger, db_url, lease_s=3.0, lease_margin_s=1.0)
    ids: list[int] = []
    stop = threading.Event()

    def arrive() -> None:  # phones keep checking in the whole time, 10 every 0.4 s in both regions
        round_ = 0
        while not stop.is_set():
            round_ += 1
            region, activity = (TATEYAMA, NAGAOKA)[round_ % 2], ledger.activities[(TATEYAMA, NAGAOKA)[round_ % 2]]
            ids.extend(insert_claims(engine, region, activity, people(10, 100 + round_)))
            stop.wait(0.4)

    arrivals = threading.Thread(target=arrive)
    first = relay_process(env, log)
    second: subprocess.Popen[bytes] | None = None
    arrivals.start()
    try:
        time.sleep(4)
        settings = relay_settings(ledger, db_url, lease_s=3.0, lease_margin_s=1.0)
        ctx = open_chain(settings)
        granted = grant_new_key(ctx, ledger.admin, old, new)
        assert sorted(granted.done) == [TATEYAMA, NAGAOKA] and not granted.others
        assert ids  # the old key has been recording meanwhile

        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0, log.read_text()[-3000:]
        drain_old_key(settings, engine, ctx, timeout_s=120)
        assert _open_batches(engine, old) == 0
        switched_at = _last_batch_id(engine)
        second = relay_process({**env, "TSUNAGARI_RELAY__KEY": "relayer-2"}, log)
        time.sleep(4)
        revoked = revoke_old_key(ctx, engine, ledger.admin, old)
        assert sorted(revoked.done) == [TATEYAMA, NAGAOKA]
        time.sleep(2)
    finally:
        stop.set()
        arrivals.join(timeout=30)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                pending = conn.execute(
                    text("SELECT COUNT(*) FROM claims WHERE status NOT IN ('confirmed', 'rejected')")
                ).scalar_one()
            if pending == 0:
                break
            time.sleep(0.5)
        assert_exactly_once(ledger, engine, set(ids))
        assert not any(ledger.client.is_issuer(r, old) for r in (TATEYAMA, NAGAOKA))
        with engine.connect() as conn:
            after = conn.execute(
                text("SELECT DISTINCT issuer FROM relay_batches WHERE id > :b AND kind = 'record'"), {"b": switched_at}
            ).all()
        assert [str(r[0]) for r in after] == [new]
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def _open_batches(engine: Engine, issuer: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT COUNT(*) FROM relay_batches WHERE issuer = :i AND status IN ('built', 'sent', 'mined')"),
                {"i": issuer},
            ).scalar_one()
        )


def _last_batch_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM relay_batches")).scalar_one())


def test_tsunagari_relay_rotate_key_grants_drains_and_revokes(
    anvil: AnvilDevnet, ledger: Ledger, sqlite_db: tuple[str, Engine], tmp_path: Path
) -> None:
    """The operator's command: `tsunagari relay rotate-key --to relayer-2` with the old relayer
    stopped and claims of its still in flight; then the relayer on the new key records the rest."""
    db_url, engine = sqlite_db
    anvil.w3.provider.make_request("evm_setIntervalMining", [2])  # type: ignore[arg-type]  # batches stay in flight a while
    old, new = ledger.relayer.address.lower(), dev_account(3).address.lower()
    log = tmp_path / "relay.log"
    env = relay_env(ledger, db_url, lease_s=3.0, lease_margin_s=1.0)
    ids = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(40, 201))
    first = relay_process(env, log)
    try:
        deadline = time.monotonic() + 60
        while _open_batches(engine, old) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        rotated = subprocess.run(
            [sys.executable, "-m", "scripts.cli", "relay", "rotate-key", "--to", "relayer-2", "--timeout-s", "120"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        assert "12205 館山市" in rotated.stdout and "revoked" in rotated.stdout, rotated.stdout
        assert "TSUNAGARI_RELAY__KEY=relayer-2" in rotated.stdout
        assert _open_batches(engine, old) == 0
        assert not ledger.client.is_issuer(TATEYAMA, old) and ledger.client.is_issuer(TATEYAMA, new)
        ids += insert_claims(engine, NAGAOKA, ledger.activities[NAGAOKA], people(20, 202))
        final = subprocess.run(
            [sys.executable, "-m", "scripts.cli", "relay", "--once"],
            cwd=ROOT,
            env={**os.environ, **env, "TSUNAGARI_RELAY__KEY": "relayer-2"},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert final.returncode == 0, final.stdout + final.stderr
        assert_exactly_once(ledger, engine, set(ids))
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)
