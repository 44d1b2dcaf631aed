"""The relayer's lease (ledger/relay/lease.py) on a real SQLite file and the local PostgreSQL: one
holder at a time, renewals keep it, an expired lease goes to the next process with a new epoch, a
released one at once, and a relayer without it broadcasts nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.chain.context import open_chain
from ledger.relay import Relayer
from ledger.relay.lease import LeaseLost, RelayLease
from tests.indexer.helpers import database
from tests.relay.helpers import TATEYAMA, Ledger, insert_claims, people, relay_settings

ACCOUNT = "0x" + "ab" * 20


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database(request.param, tmp_path) as db:
        yield db


def test_one_holder_at_a_time_and_hand_over_by_expiry_or_release(engine: Engine) -> None:
    first = RelayLease(engine, ACCOUNT, lease_s=30, margin_s=2, holder="first")
    second = RelayLease(engine, ACCOUNT, lease_s=30, margin_s=2, holder="second")
    assert first.acquire() and first.epoch == 1 and first.held
    assert not second.acquire() and not second.held
    with pytest.raises(LeaseLost):
        second.check()
    assert first.acquire() and first.epoch == 1  # a renewal keeps the epoch
    state = first.state()
    assert state is not None and state.holder == "first" and state.live
    first.release()
    assert not first.held
    assert second.acquire() and second.epoch == 2
    assert not first.acquire()

    short = RelayLease(engine, ACCOUNT, lease_s=1, margin_s=0.4, holder="third")
    second.release()
    assert short.acquire() and short.epoch == 3
    time.sleep(1.2)  # its lease ran out (by the database's clock, too): anyone may take it
    assert not short.held
    with pytest.raises(LeaseLost):
        short.check()
    assert first.acquire() and first.epoch == 4
    assert not short.acquire()


def test_a_relayer_without_the_lease_sends_nothing(ledger: Ledger, sqlite_db: tuple[str, Engine]) -> None:
    db_url, engine = sqlite_db
    settings = relay_settings(ledger, db_url, lease_s=30, lease_margin_s=2)
    holder = RelayLease(engine, ledger.relayer.address, lease_s=30, margin_s=2, holder="elsewhere")
    assert holder.acquire()
    ids = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(5, 41))
    standby = Relayer(settings, engine, open_chain(settings))
    nonce = ledger.w3.eth.get_transaction_count(ledger.relayer.address, "pending")
    for _ in range(5):
        assert standby.step(drain=True) is False
    assert not standby.active
    assert ledger.w3.eth.get_transaction_count(ledger.relayer.address, "pending") == nonce
    holder.release()
    report = standby.run_once(timeout_s=60)
    assert report.claims.get("confirmed") == len(ids)
    state = standby.lease.state()
    assert state is not None and not state.live  # run_once gives the lease back when done

    # The guard itself: once the lease is gone, the sender refuses before anything reaches the node.
    assert standby.lease.acquire()
    standby.lease.release()
    with pytest.raises(LeaseLost):
        standby.sender.broadcast("0x00")
