"""Signed supports (応援) through the API routes and the relayer, on a real anvil and SQLite file."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine

from api.app import create_app
from ledger.chain.client import RecordInput
from ledger.chain.context import open_chain
from ledger.chain.devnet import free_port
from ledger.chain.signing import CancelRequest, SupportRequest, sign_cancel, sign_support
from ledger.relay import Relayer
from tests.relay.helpers import TATEYAMA, Ledger, relay_settings

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


@dataclass
class Setup:
    ledger: Ledger
    engine: Engine
    http: httpx.Client
    relayer: Relayer
    project: int
    supporter: LocalAccount

    def body(self, signer: LocalAccount | None = None, **overrides: int) -> dict[str, object]:
        values = {
            "project_id": self.project,
            "amount": 30,
            "nonce": self.ledger.client.nonce(self.supporter.address),
            "deadline": self.ledger.now() + 3600,
        }
        values.update(overrides)
        request = SupportRequest(self.supporter.address, **values)
        signature = sign_support(signer or self.supporter, request, 31337, self.ledger.client.address)
        return {"supporter": self.supporter.address, **values, "signature": "0x" + signature.hex()}


@pytest.fixture
def setup(ledger: Ledger, sqlite_db: tuple[str, Engine]) -> Iterator[Setup]:
    db_url, engine = sqlite_db
    supporter: LocalAccount = Account.from_key(bytes([5] * 32))
    ledger.client.record_batch(
        ledger.relayer, TATEYAMA, [RecordInput(supporter.address, ledger.activities[TATEYAMA], 1)]
    )
    project = ledger.client.register_project(ledger.admin, TATEYAMA)
    settings = relay_settings(ledger, db_url)
    relayer = Relayer(settings, engine, open_chain(settings))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield Setup(ledger, engine, http, relayer, project, supporter)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_signed_support_is_relayed_and_confirmed(setup: Setup) -> None:
    client = setup.ledger.client
    accepted = setup.http.post("/api/v1/supports", json=setup.body(amount=4))
    assert accepted.status_code == 202, accepted.text
    support_id = accepted.json()["support_id"]
    assert accepted.json() == {"support_id": support_id, "status": "accepted"}
    second = setup.http.post("/api/v1/supports", json=setup.body(amount=3, nonce=1))  # queued behind the first
    assert second.status_code == 202, second.text
    assert setup.relayer.run_once(timeout_s=60).supports == {"confirmed": 2}
    status = setup.http.get(f"/api/v1/supports/{support_id}").json()
    assert status["status"] == "confirmed" and status["error"] is None
    receipt = client.w3.eth.get_transaction_receipt(status["tx_hash"])
    assert receipt["blockNumber"] == status["block_number"]
    (event,) = client.events(receipt, "ProjectSupported")
    assert (event["supporter"], event["amount"], event["relayer"]) == (
        setup.supporter.address,
        4,
        setup.ledger.relayer.address,
    )
    assert client.balance_of(setup.supporter.address, TATEYAMA) == 10 - 4 - 3
    assert client.project(setup.project).raised == 7
    assert client.nonce(setup.supporter.address) == 2
    reused = setup.http.post("/api/v1/supports", json=setup.body(amount=1, nonce=0))
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "nonce_used"


def test_bad_signatures_and_expired_deadlines_are_refused(setup: Setup) -> None:
    stranger: LocalAccount = Account.from_key(bytes([6] * 32))
    forged = setup.http.post("/api/v1/supports", json=setup.body(signer=stranger))
    assert forged.status_code == 422 and forged.json()["error"]["code"] == "invalid_signature"
    tampered = setup.body()
    tampered["amount"] = 9  # signed for 30
    assert setup.http.post("/api/v1/supports", json=tampered).json()["error"]["code"] == "invalid_signature"
    garbage = {**setup.body(), "signature": "0x1234"}
    assert setup.http.post("/api/v1/supports", json=garbage).json()["error"]["code"] == "invalid_signature"
    expired = setup.http.post("/api/v1/supports", json=setup.body(deadline=setup.ledger.now() - 1))
    assert expired.status_code == 422 and expired.json()["error"]["code"] == "signature_expired"
    zero = setup.http.post("/api/v1/supports", json=setup.body(amount=0))
    assert zero.status_code == 422 and zero.json()["error"]["code"] == "invalid_amount"
    unknown = setup.http.post("/api/v1/supports", json=setup.body(project_id=99))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_project"
    gap = setup.http.post("/api/v1/supports", json=setup.body(nonce=5))
    assert gap.status_code == 422 and gap.json()["error"]["code"] == "nonce_gap"
    bad_address = {**setup.body(), "supporter": "0x1234"}
    assert setup.http.post("/api/v1/supports", json=bad_address).json()["error"]["code"] == "invalid_address"
    assert setup.http.get("/api/v1/supports/12345").status_code == 404
    setup.ledger.client.close_project(setup.ledger.admin, setup.project)
    closed = setup.http.post("/api/v1/supports", json=setup.body())
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "project_closed"
    assert setup.relayer.run_once(timeout_s=30).supports == {}


def test_a_support_the_chain_refuses_is_rejected_with_its_code(setup: Setup) -> None:
    accepted = setup.http.post("/api/v1/supports", json=setup.body(amount=500))  # holds 10 coins
    assert accepted.status_code == 202, accepted.text
    assert setup.relayer.run_once(timeout_s=30).supports == {"rejected": 1}
    status = setup.http.get(f"/api/v1/supports/{accepted.json()['support_id']}").json()
    assert status["status"] == "rejected" and status["tx_hash"] is None
    assert status["error"]["code"] == "insufficient_balance" and "500 needed" in status["error"]["message"]


def test_a_support_whose_nonce_the_supporter_cancelled_is_rejected_as_cancelled(setup: Setup) -> None:
    body = setup.body()
    accepted = setup.http.post("/api/v1/supports", json=body)
    assert accepted.status_code == 202, accepted.text
    # Before the relayer sends it, the supporter withdraws that signature (someone else pays the gas).
    client = setup.ledger.client
    nonce = int(str(body["nonce"]))
    request = CancelRequest(setup.supporter.address, nonce, setup.ledger.now() + 600)
    signature = sign_cancel(setup.supporter, request, 31337, client.address)
    client.cancel_nonce_by_sig(setup.ledger.admin, request, signature)
    assert setup.relayer.run_once(timeout_s=30).supports == {"rejected": 1}
    status = setup.http.get(f"/api/v1/supports/{accepted.json()['support_id']}").json()
    assert status["status"] == "rejected" and status["error"]["code"] == "nonce_cancelled"
    assert client.balance_of(setup.supporter.address, TATEYAMA) == 10  # nothing spent
