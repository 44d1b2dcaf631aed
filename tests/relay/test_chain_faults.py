"""The relayer against a real anvil whose chain misbehaves: a dropped transaction, a reorg or a
revert that removes a batch already confirmed, confirmations, a receipt served late, a signed
support someone else submits first, a nonce gap none of our transactions can fill.

Every test ends with every claim (or support) on chain exactly once and nothing pending.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, text

from ledger.chain.client import RecordInput
from ledger.chain.context import open_chain
from ledger.chain.devnet import AnvilDevnet
from ledger.chain.signing import SupportRequest, sign_support
from ledger.relay import Relayer
from ledger.relay.support_intake import accept_support, support_status
from ledger.settings import Settings
from tests.indexer.helpers import database
from tests.relay.helpers import (
    TATEYAMA,
    Ledger,
    assert_exactly_once,
    claim_rows,
    insert_claims,
    people,
    relay_settings,
)
from tests.relay.rpc_proxy import RpcProxy

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


def _rpc(ledger: Ledger, method: str, *params: Any) -> Any:
    answer = ledger.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer.get("result")


def _relayer(ledger: Ledger, db_url: str, engine: Engine, **relay: Any) -> Relayer:
    settings = relay_settings(ledger, db_url, **relay)
    return Relayer(settings, engine, open_chain(settings))


def _step_until(relayer: Relayer, condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        relayer.step(drain=True)
        time.sleep(0.05)


def _batches(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM relay_batches ORDER BY id")).mappings()]


def test_a_dropped_transaction_is_sent_again_and_recorded_once(ledger: Ledger, sqlite_db: tuple[str, Engine]) -> None:
    db_url, engine = sqlite_db
    _rpc(ledger, "evm_setAutomine", False)  # transactions wait in the pool
    ids = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(12, 1))
    relayer = _relayer(ledger, db_url, engine)
    _step_until(relayer, lambda: bool(relayer.deck.flights), "a batch in flight")
    (flight,) = relayer.deck.flights.values()
    _rpc(ledger, "anvil_dropTransaction", flight.latest.tx_hash)  # the node forgets it
    assert ledger.w3.eth.get_transaction_count(ledger.relayer.address, "pending") == flight.nonce
    _step_until(relayer, lambda: ledger.w3.eth.get_transaction_count(ledger.relayer.address, "pending") > flight.nonce,
                "the transaction to be broadcast again", timeout_s=15)  # fmt: skip
    more = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(5, 2))
    _rpc(ledger, "anvil_dropAllTransactions")  # and once more, the whole pool
    _rpc(ledger, "evm_setAutomine", True)
    assert relayer.run_once(timeout_s=60).claims == {"confirmed": 17}
    assert_exactly_once(ledger, engine, set(ids) | set(more))


@pytest.mark.parametrize("how", ["anvil_reorg", "evm_revert"])
def test_a_batch_whose_block_leaves_the_chain_is_sent_again_and_recorded_once(
    how: str, ledger: Ledger, sqlite_db: tuple[str, Engine], caplog: pytest.LogCaptureFixture
) -> None:
    db_url, engine = sqlite_db
    snapshot = _rpc(ledger, "evm_snapshot")
    ids = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(15, 1))
    relayer = _relayer(ledger, db_url, engine)
    assert relayer.run_once(timeout_s=30).claims == {"confirmed": 15}
    (batch,) = _batches(engine)
    assert batch["status"] == "confirmed" and batch["block_hash"]
    if how == "anvil_reorg":  # replace the batch's block (and any after it) with empty ones
        _rpc(ledger, "anvil_reorg", ledger.w3.eth.block_number - batch["block_number"] + 1, [])
    else:  # the node goes back to an older state: a shorter chain
        _rpc(ledger, "evm_revert", snapshot)
    assert not ledger.client.record_of(ledger.activities[TATEYAMA], people(15, 1)[0])[0]
    # The relayer notices the chain changed under a confirmed batch.
    _step_until(relayer, lambda: "left the chain" in caplog.text, "the relayer to notice", timeout_s=10)
    assert relayer.run_once(timeout_s=30).claims == {"confirmed": 15}
    assert_exactly_once(ledger, engine, set(ids))
    (again,) = _batches(engine)
    assert again["status"] == "confirmed" and again["block_hash"] != batch["block_hash"]


@pytest.mark.postgres
def test_a_batch_whose_block_leaves_the_chain_is_sent_again_on_postgres(ledger: Ledger, tmp_path: Path) -> None:
    with database("postgres", tmp_path) as engine:
        ids = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(10, 1))
        relayer = _relayer(ledger, "sqlite:///unused.db", engine)
        assert relayer.run_once(timeout_s=30).claims == {"confirmed": 10}
        (batch,) = _batches(engine)
        _rpc(ledger, "anvil_reorg", ledger.w3.eth.block_number - batch["block_number"] + 1, [])
        relayer.step()
        assert relayer.run_once(timeout_s=30).claims == {"confirmed": 10}
        assert_exactly_once(ledger, engine, set(ids))


def test_with_confirmations_a_batch_is_confirmed_only_at_depth(ledger: Ledger, sqlite_db: tuple[str, Engine]) -> None:
    db_url, engine = sqlite_db
    settings = Settings(
        chain={
            "backend": "anvil",
            "rpc_url": ledger.rpc_url,
            "deployments_dir": ledger.deployments_dir,
            "confirmations": 3,
        },
        db={"url": db_url},
        relay={"batch_size": 20, "max_wait_s": 0.1, "poll_interval_s": 0.05},
    )
    relayer = Relayer(settings, engine, open_chain(settings))
    ids = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(6, 1))
    _step_until(relayer, lambda: _batches(engine) != [] and _batches(engine)[0]["status"] == "mined", "a mined batch")
    rows = claim_rows(engine)
    assert {rows[i]["status"] for i in ids} == {"submitted"}  # on chain, but not final: not "confirmed"
    assert all(rows[i]["tx_hash"] == _batches(engine)[0]["tx_hash"] for i in ids)
    # A reorg before it is final: the batch goes back in flight and lands again.
    _rpc(ledger, "anvil_reorg", 1, [])
    _step_until(relayer, lambda: _batches(engine)[0]["status"] == "mined" and ledger.client.record_of(
        ledger.activities[TATEYAMA], people(6, 1)[0])[0], "the batch to land again")  # fmt: skip
    _rpc(ledger, "anvil_mine", hex(3))
    _step_until(relayer, lambda: _batches(engine)[0]["status"] == "confirmed", "the batch to be final")
    assert {claim_rows(engine)[i]["status"] for i in ids} == {"confirmed"}
    assert_exactly_once(ledger, engine, set(ids))


def _supporter_with_coins(ledger: Ledger) -> tuple[LocalAccount, int]:
    supporter: LocalAccount = Account.from_key(bytes([5] * 32))
    ledger.client.record_batch(
        ledger.relayer, TATEYAMA, [RecordInput(supporter.address, ledger.activities[TATEYAMA], 1)]
    )
    return supporter, ledger.client.register_project(ledger.admin, TATEYAMA)


def _signed_support(ledger: Ledger, supporter: LocalAccount, project: int) -> tuple[SupportRequest, bytes]:
    request = SupportRequest(supporter.address, project, 4, ledger.client.nonce(supporter.address), ledger.now() + 3600)
    return request, sign_support(supporter, request, 31337, ledger.client.address)


def _queue(engine: Engine, ledger: Ledger, request: SupportRequest, signature: bytes) -> int:
    return accept_support(
        engine,
        ledger.client,
        supporter=request.supporter,
        project_id=request.project_id,
        amount=request.amount,
        nonce=request.nonce,
        deadline=request.deadline,
        signature="0x" + signature.hex(),
    ).id


def test_a_mined_support_whose_receipt_is_late_is_confirmed_never_rejected(
    anvil: AnvilDevnet, ledger: Ledger, sqlite_db: tuple[str, Engine]
) -> None:
    """The demo-seed case: the node counted the transaction's nonce (and the supporter's) before it
    served the receipt. Deciding by the nonce alone marked a support that is on chain ``rejected``
    with ``nonce_already_used``; by evidence, the relayer waits for its own transaction."""
    db_url, engine = sqlite_db
    supporter, project = _supporter_with_coins(ledger)
    request, signature = _signed_support(ledger, supporter, project)
    support_id = _queue(engine, ledger, request, signature)
    _rpc(ledger, "evm_setIntervalMining", 1)
    with RpcProxy(anvil.rpc_url) as proxy:
        settings = Settings(
            chain={"backend": "rpc", "rpc_url": proxy.url, "deployments_dir": ledger.deployments_dir},
            db={"url": db_url},
            relay={"poll_interval_s": 0.05},
        )
        relayer = Relayer(settings, engine, open_chain(settings))
        proxy.hide_receipts.set()
        _step_until(relayer, lambda: ledger.client.nonce(supporter.address) == 1, "the support to be mined")
        ends = time.monotonic() + 4  # long past the point where the nonce showed it used
        while time.monotonic() < ends:
            relayer.step(drain=True)
            time.sleep(0.05)
        found = support_status(engine, support_id)
        assert found is not None and found.status == "submitted", found
        assert proxy.withheld > 0
        proxy.hide_receipts.clear()
        assert relayer.run_once(timeout_s=30).supports == {"confirmed": 1}
    found = support_status(engine, support_id)
    assert found is not None and found.tx_hash is not None
    receipt = ledger.w3.eth.get_transaction_receipt(found.tx_hash)
    (event,) = ledger.client.events(receipt, "ProjectSupported")
    assert event["relayer"] == ledger.relayer.address
    assert ledger.client.project(project).raised == 4


@pytest.mark.parametrize("when", ["before_relaying", "while_in_flight"])
def test_a_support_someone_else_submitted_first_is_confirmed_from_their_transaction(
    when: str, ledger: Ledger, sqlite_db: tuple[str, Engine]
) -> None:
    db_url, engine = sqlite_db
    supporter, project = _supporter_with_coins(ledger)
    request, signature = _signed_support(ledger, supporter, project)
    support_id = _queue(engine, ledger, request, signature)
    relayer = _relayer(ledger, db_url, engine)
    outsider = ledger.platform  # anyone may submit a signed support; here an account with ETH
    if when == "while_in_flight":
        _rpc(ledger, "evm_setAutomine", False)
        _step_until(relayer, lambda: bool(relayer.deck.flights), "the relayer's transaction in flight")
        # The front-runner outbids it; both are mined in one block, theirs first, ours reverts.
        tx = ledger.client.contract.functions.supportBySig(
            request.supporter, request.project_id, request.amount, request.nonce, request.deadline, signature
        ).build_transaction(
            {
                "from": outsider.address,
                "nonce": ledger.w3.eth.get_transaction_count(outsider.address, "pending"),
                "maxPriorityFeePerGas": 50 * 10**9,
                "maxFeePerGas": 100 * 10**9,
                "gas": 200_000,
            }
        )
        front = ledger.w3.eth.send_raw_transaction(outsider.sign_transaction(tx).raw_transaction)
        _rpc(ledger, "evm_mine")
        _rpc(ledger, "evm_setAutomine", True)
    else:
        front = bytes.fromhex(ledger.client.support_by_sig(outsider, request, signature)["transactionHash"].hex())
    assert relayer.run_once(timeout_s=30).supports == {"confirmed": 1}
    found = support_status(engine, support_id)
    assert found is not None and found.error_code is None
    assert found.tx_hash == "0x" + bytes(front).hex()
    assert ledger.client.project(project).raised == 4  # once


def test_a_nonce_gap_none_of_our_transactions_can_fill_gets_a_filler(
    ledger: Ledger, sqlite_db: tuple[str, Engine], caplog: pytest.LogCaptureFixture
) -> None:
    """Another program used the relayer's key (nonce n); the relayer's batch took n + 1; then a
    reorg removed both. Nothing of ours was ever signed with n, so the batch would wait behind the
    gap forever: a zero-value transfer to ourselves fills it."""
    db_url, engine = sqlite_db
    relayer_key = ledger.relayer
    before = ledger.w3.eth.block_number
    transfer = relayer_key.sign_transaction(
        {
            "type": 2,
            "chainId": 31337,
            "nonce": ledger.w3.eth.get_transaction_count(relayer_key.address),
            "to": ledger.platform.address,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    ledger.w3.eth.send_raw_transaction(transfer.raw_transaction)
    ids = insert_claims(engine, TATEYAMA, ledger.activities[TATEYAMA], people(8, 1))
    relayer = _relayer(ledger, db_url, engine)
    assert relayer.run_once(timeout_s=30).claims == {"confirmed": 8}
    _rpc(ledger, "anvil_reorg", ledger.w3.eth.block_number - before, [])
    assert relayer.run_once(timeout_s=60).claims == {"confirmed": 8}
    assert "filler" in caplog.text
    assert_exactly_once(ledger, engine, set(ids))
    kinds = [b["kind"] for b in _batches(engine) if b["status"] == "confirmed"]
    assert sorted(kinds) == ["filler", "record"]
