"""Two processes sending with one key (the demo's staff console while the demo year is seeded with
the same region-admin key): each reads the node's pending nonce, and one of them loses the race.
``send_transaction`` signs the loser again with the next nonce, so every call lands exactly once."""

from __future__ import annotations

import threading

from web3 import Web3

from ledger.chain.client import LedgerClient
from ledger.chain.devnet import AnvilDevnet
from tests.relay.helpers import Ledger

CALLS = 12


def test_every_call_lands_once_when_two_senders_share_a_key(anvil: AnvilDevnet, ledger: Ledger) -> None:
    holder = ledger.admin
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def sender() -> None:
        client = LedgerClient(Web3(Web3.HTTPProvider(anvil.rpc_url)), ledger.client.address)  # "another process"
        start.wait(timeout=30)
        for _ in range(CALLS):
            try:
                client.cancel_nonce(holder)
            except BaseException as exc:  # noqa: BLE001 - collected and reported below
                failures.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert ledger.client.nonce(holder.address) == 2 * CALLS  # each cancelNonce landed exactly once
