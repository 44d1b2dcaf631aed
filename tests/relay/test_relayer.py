"""The relayer against a real anvil and a real database: batches, rejections, fee bumps."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.chain.context import open_chain
from ledger.relay import Relayer
from ledger.settings import Settings
from ledger.taxonomy import RewardUnit
from tests.indexer.helpers import database
from tests.relay.helpers import (
    NAGAOKA,
    TATEYAMA,
    Ledger,
    assert_exactly_once,
    claim_rows,
    insert_claims,
    people,
    relay_settings,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


def _relayer(settings: Settings, engine: Engine) -> Relayer:
    return Relayer(settings, engine, open_chain(settings))


def _happy_path(ledger: Ledger, engine: Engine, db_url: str) -> None:
    ids = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(45, 1))
    ids += insert_claims(engine, NAGAOKA, ledger.activities[NAGAOKA], people(30, 2))
    report = _relayer(relay_settings(ledger, db_url), engine).run_once(timeout_s=60)
    assert report.claims == {"confirmed": 75}
    assert_exactly_once(ledger, engine, set(ids))
    with engine.connect() as conn:
        batches = conn.execute(
            text("SELECT region, batch_seq, size, status, gas_used FROM relay_batches ORDER BY region, batch_seq")
        ).all()
    assert [(r, s, n, st) for r, s, n, st, _ in batches] == [
        (TATEYAMA, 1, 20, "confirmed"),
        (TATEYAMA, 2, 20, "confirmed"),
        (TATEYAMA, 3, 5, "confirmed"),
        (NAGAOKA, 1, 20, "confirmed"),
        (NAGAOKA, 2, 10, "confirmed"),
    ]
    assert all(gas > 0 for *_, gas in batches)
    assert ledger.client.next_batch_seq(ledger.relayer.address, TATEYAMA) == 4


def test_happy_path_two_regions_sqlite(ledger: Ledger, sqlite_db: tuple[str, Engine]) -> None:
    db_url, engine = sqlite_db
    _happy_path(ledger, engine, db_url)


@pytest.mark.postgres
def test_happy_path_two_regions_postgres(ledger: Ledger, tmp_path: Path) -> None:
    with database("postgres", tmp_path) as engine:
        _happy_path(ledger, engine, "sqlite:///unused.db")


def test_hours_and_days_of_a_claim_reach_the_chain(ledger: Ledger, sqlite_db: tuple[str, Engine]) -> None:
    db_url, engine = sqlite_db
    help_ = ledger.activity(TATEYAMA, reward=1000, unit=RewardUnit.HOUR, max_units=8, designated=True)
    stay = ledger.activity(NAGAOKA, reward=200, unit=RewardUnit.DAY, max_units=7)
    helpers, stayers = people(3, 7), people(2, 8)
    ids = insert_claims(engine, TATEYAMA, help_, helpers, units=3)
    ids += insert_claims(engine, NAGAOKA, stay, stayers, units=5)
    too_long = insert_claims(engine, NAGAOKA, stay, people(1, 9), units=9)  # over the cap: the chain refuses
    report = _relayer(relay_settings(ledger, db_url), engine).run_once(timeout_s=60)
    assert report.claims == {"confirmed": 5, "rejected": 1}
    assert claim_rows(engine)[too_long[0]]["error_code"] == "invalid_units"
    assert_exactly_once(ledger, engine, set(ids))
    assert [ledger.client.balance_of(p, TATEYAMA) for p in helpers] == [3_000] * 3
    assert [ledger.client.balance_of(p, NAGAOKA) for p in stayers] == [1_000] * 2


def test_a_claim_the_chain_refuses_is_rejected_and_the_rest_of_its_batch_confirmed(
    ledger: Ledger, sqlite_db: tuple[str, Engine]
) -> None:
    db_url, engine = sqlite_db
    closed = ledger.activity(TATEYAMA)
    full = ledger.activity(TATEYAMA, capacity=2)
    good = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(8, 1))
    refused = insert_claims(engine, TATEYAMA, closed, people(2, 2))
    fits = insert_claims(engine, TATEYAMA, full, people(2, 3))
    too_many = insert_claims(engine, TATEYAMA, full, people(1, 4))
    ledger.client.close_activity(ledger.admin, closed)  # closed on chain after the claims were accepted
    report = _relayer(relay_settings(ledger, db_url), engine).run_once(timeout_s=60)
    assert report.claims == {"confirmed": 10, "rejected": 3}
    rows = claim_rows(engine)
    for claim_id in refused:
        assert (rows[claim_id]["status"], rows[claim_id]["error_code"]) == ("rejected", "activity_closed")
        assert f"activity {closed} is closed" in rows[claim_id]["error_message"]
    assert (rows[too_many[0]]["status"], rows[too_many[0]]["error_code"]) == ("rejected", "activity_full")
    assert_exactly_once(ledger, engine, set(good) | set(fits))
    with engine.connect() as conn:  # one batch: the refused claims were taken out before it was sent
        assert conn.execute(text("SELECT COUNT(*) FROM relay_batches")).scalar() == 1


def test_a_region_without_the_issuer_role_or_paused_keeps_its_claims_pending(
    ledger: Ledger, sqlite_db: tuple[str, Engine], caplog: pytest.LogCaptureFixture
) -> None:
    db_url, engine = sqlite_db
    ledger.client.revoke_issuer(ledger.admin, NAGAOKA, ledger.relayer.address)
    ledger.client.set_region_paused(ledger.admin, TATEYAMA, True)
    waiting = insert_claims(engine, NAGAOKA, ledger.activities[NAGAOKA], people(3, 1))
    paused = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(3, 2))
    relayer = _relayer(relay_settings(ledger, db_url), engine)
    report = relayer.run_once(timeout_s=30)
    assert report.claims == {"accepted": 6}
    assert "is not an issuer of region 15202" in caplog.text and "grant-issuer 15202" in caplog.text
    assert "region 12205 is paused" in caplog.text
    ledger.client.grant_issuer(ledger.admin, NAGAOKA, ledger.relayer.address)
    ledger.client.set_region_paused(ledger.admin, TATEYAMA, False)
    relayer = _relayer(relay_settings(ledger, db_url), engine)  # a fresh process: no holds
    assert relayer.run_once(timeout_s=30).claims == {"confirmed": 6}
    assert_exactly_once(ledger, engine, set(waiting) | set(paused))


def test_a_stuck_transaction_is_replaced_with_higher_fees_and_confirmed_once(
    ledger: Ledger, sqlite_db: tuple[str, Engine]
) -> None:
    db_url, engine = sqlite_db
    w3 = ledger.w3
    ids = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(5, 1))
    settings = relay_settings(ledger, db_url, bump_after_s=1.0, fee_bump_percent=25)
    relayer = _relayer(settings, engine)
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]  # nothing is mined
    stop = threading.Event()
    thread = threading.Thread(target=relayer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            with engine.connect() as conn:
                attempts = conn.execute(
                    text(
                        "SELECT tx_hash, nonce, max_fee_per_gas, max_priority_fee_per_gas FROM relay_attempts "
                        "ORDER BY id"
                    )
                ).all()
            if len(attempts) >= 3:
                break
            assert time.monotonic() < deadline, "the stuck transaction was not bumped"
            time.sleep(0.1)
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        deadline = time.monotonic() + 30
        while claim_rows(engine)[ids[0]]["status"] != "confirmed":
            assert time.monotonic() < deadline, "the bumped transaction was not confirmed"
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert len({n for _, n, _, _ in attempts}) == 1, "a bump keeps the nonce"
    fees = [(m, p) for _, _, m, p in attempts]
    for (m0, p0), (m1, p1) in itertools.pairwise(fees):
        assert m1 >= m0 * 125 // 100 and p1 >= p0 * 125 // 100
    with engine.connect() as conn:
        (mined,) = conn.execute(text("SELECT tx_hash FROM relay_batches WHERE status = 'confirmed'")).one()
    assert mined in {h for h, *_ in attempts}
    assert mined != attempts[0][0], "the first, cheaper transaction was replaced"
    assert_exactly_once(ledger, engine, set(ids))
