"""A hot standby relayer: two real `tsunagari relay` processes for the same key, on a SQLite file
and on the local PostgreSQL. Only the lease holder sends; when it is killed with SIGKILL mid-stream
the standby takes the lease (one hand-over, epoch 2) and every claim ends on chain exactly once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from ledger.chain.devnet import AnvilDevnet, free_port
from ledger.relay.lease import read_lease
from tests.indexer.helpers import database
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

LEASE_S = 3.0


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str, *logs: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    with database(request.param, tmp_path) as engine:
        if request.param == "sqlite":
            yield str(engine.url), engine
        else:
            with engine.connect() as conn:
                schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            url = engine.url.update_query_dict({"options": f"-csearch_path={schema}"})
            yield url.render_as_string(hide_password=False), engine


def test_the_standby_takes_over_when_the_active_relayer_is_killed(
    anvil: AnvilDevnet, ledger: Ledger, db: tuple[str, Engine], tmp_path: Path
) -> None:
    db_url, engine = db
    anvil.w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]  # 1 s blocks
    env = relay_env(ledger, db_url, lease_s=LEASE_S, lease_margin_s=1.0)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"

    def lease() -> tuple[str, int, bool] | None:
        with engine.connect() as conn:
            state = read_lease(conn, ledger.relayer.address)
        return None if state is None else (state.holder, state.epoch, state.live)

    first = relay_process(env, first_log)
    second: subprocess.Popen[bytes] | None = None
    metrics = free_port()
    try:
        _wait_for(lambda: (s := lease()) is not None and f":{first.pid}:" in s[0], 60, "the first lease", first_log)
        second = relay_process(env, second_log, "--metrics-port", str(metrics))
        standing_by = re.compile(rf"standing by: \S+:{first.pid}:")
        _wait_for(lambda: bool(standing_by.search(second_log.read_text())), 60, "a standby", second_log)

        ids = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(60, 61))
        ids += insert_claims(engine, NAGAOKA, ledger.activities[NAGAOKA], people(40, 62))

        def confirmed() -> int:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT COUNT(*) FROM claims WHERE status = 'confirmed'")).scalar_one())

        _wait_for(lambda: confirmed() >= 20, 120, "the first confirmed claims", first_log)
        ids += insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(50, 63))
        assert "active" not in second_log.read_text()  # the standby has not sent anything
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

        _wait_for(
            lambda: (s := lease()) is not None and f":{second.pid}:" in s[0],  # type: ignore[union-attr]
            60,
            "the standby to take the lease",
            second_log,
        )
        state = lease()
        assert state is not None and state[1] == 2, state  # exactly one hand-over
        _wait_for(lambda: "active (lease epoch 2" in second_log.read_text(), 30, "the standby's log line", second_log)
        _wait_for(lambda: confirmed() == len(ids), 180, "every claim confirmed", second_log)
        assert_exactly_once(ledger, engine, set(ids))
        with engine.connect() as conn:
            nonces = conn.execute(
                text(
                    "SELECT nonce, COUNT(*) FROM relay_batches WHERE status <> 'failed' "
                    "GROUP BY nonce HAVING COUNT(*) > 1"
                )
            ).all()
        assert nonces == [], f"two live batches with one nonce: {nonces}"

        # The standby's own metrics: it holds the lease now, sent transactions and confirmed claims.
        scraped = httpx.get(f"http://127.0.0.1:{metrics}/metrics", timeout=10).text
        assert "tsunagari_relay_lease_active 1.0" in scraped
        assert "tsunagari_relay_lease_takeovers_total 1.0" in scraped
        assert re.search(r"^tsunagari_relay_broadcasts_total [1-9]", scraped, re.MULTILINE)
        assert re.search(r'^tsunagari_claims_settled_total\{status="confirmed"\} [1-9]', scraped, re.MULTILINE)
        assert re.search(r'^tsunagari_relay_gas_used_total\{kind="record"\} [1-9]', scraped, re.MULTILINE)
        # its key's balance, read when it became active (before its first sends, so not below now)
        address = ledger.relayer.address
        series = rf'^tsunagari_relay_balance_wei\{{account="{address.lower()}"\}} (\S+)$'
        balance = re.search(series, scraped, re.MULTILINE)
        assert balance is not None, scraped
        assert float(balance.group(1)) >= anvil.w3.eth.get_balance(address) > 0

        second.send_signal(signal.SIGTERM)  # a normal stop gives the lease back at once
        assert second.wait(timeout=30) == 0, second_log.read_text()[-3000:]
        state = lease()
        assert state is not None and not state[2]
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
