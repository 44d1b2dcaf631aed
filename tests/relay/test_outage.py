"""The node stops for 30 s (its pool is lost; the chain is kept in its state file) while the
relayer runs and claims keep arriving: afterwards every claim is on chain exactly once."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.chain.context import open_chain
from ledger.chain.devnet import ManagedDevnet, connect_rpc, free_port
from ledger.relay import Relayer
from tests.relay.helpers import (
    NAGAOKA,
    TATEYAMA,
    assert_exactly_once,
    deploy_two_regions,
    insert_claims,
    people,
    relay_settings,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

OUTAGE_S = 30.0


def test_node_down_for_30_s_while_claims_arrive(
    tmp_path: Path, sqlite_db: tuple[str, Engine], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ledger.relay")
    db_url, engine = sqlite_db
    node = ManagedDevnet(tmp_path / "devnet", port=free_port())
    node.up()
    stop = threading.Event()
    feeding = threading.Event()
    threads: list[threading.Thread] = []
    try:
        w3 = connect_rpc(node.rpc_url)
        ledger = deploy_two_regions(w3, node.rpc_url, tmp_path / "deployments")
        w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]  # 1 s blocks
        node.block_time_s = 1.0  # and after the restart
        settings = relay_settings(ledger, db_url, batch_size=50, max_wait_s=0.3, bump_after_s=5.0)
        relayer = Relayer(settings, engine, open_chain(settings))
        ids: list[int] = []
        everyone = iter(people(2000, 7))

        def feed() -> None:  # a kiosk line: a few claims every 0.3 s in alternating regions
            turn = 0
            while not feeding.is_set():
                region = (TATEYAMA, NAGAOKA)[turn % 2]
                ids.extend(insert_claims(engine, region, ledger.activities[region], [next(everyone) for _ in range(3)]))
                turn += 1
                feeding.wait(0.3)

        threads = [threading.Thread(target=relayer.run, args=(stop,)), threading.Thread(target=feed)]
        for thread in threads:
            thread.start()
        time.sleep(3.0)
        assert node.down()
        time.sleep(OUTAGE_S)
        node.up()
        time.sleep(3.0)
        feeding.set()
        threads[1].join(timeout=10)
        deadline = time.monotonic() + 60
        while True:
            with engine.connect() as conn:
                open_claims = conn.execute(text("SELECT COUNT(*) FROM claims WHERE status <> 'confirmed'")).scalar()
            if open_claims == 0:
                break
            assert time.monotonic() < deadline, f"{open_claims} claims still not confirmed after the outage"
            time.sleep(0.2)
        assert len(ids) > 100
        assert "node unavailable" in caplog.text
        assert_exactly_once(ledger, engine, set(ids))
    finally:
        feeding.set()
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        node.down()
