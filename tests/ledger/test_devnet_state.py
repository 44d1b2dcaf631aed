"""The devnet node (a real anvil) and its state file: a file left unreadable by a SIGKILL in the
middle of anvil's once-a-second rewrite does not keep the node from starting again; it starts from
the state it last started from, the unreadable file kept aside."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ledger.chain.accounts import dev_account
from ledger.chain.devnet import AnvilDevnet

pytestmark = [pytest.mark.anvil]


def test_an_unreadable_state_file_falls_back_to_the_last_good_state(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    devnet = AnvilDevnet(state_file=state).start()
    try:
        port = devnet.port
        devnet.w3.provider.make_request("anvil_mine", ["0x5"])  # type: ignore[arg-type]
        devnet.close()  # anvil writes its state (5 blocks) on a normal stop
        devnet = AnvilDevnet(port=port, state_file=state).start()
        assert devnet.w3.eth.block_number == 5  # this start loaded it: the last good state
        sender = dev_account(4)
        devnet.w3.provider.make_request("anvil_mine", ["0x3"])  # type: ignore[arg-type]
        time.sleep(1.5)  # written once a second
        devnet.kill()
        whole = state.read_bytes()
        state.write_bytes(whole[: len(whole) // 2])  # what a kill in the middle of a write leaves
        devnet = AnvilDevnet(port=port, state_file=state).start()
        assert devnet.w3.eth.block_number == 5  # the 3 later blocks are lost, as from an older snapshot
        assert devnet.w3.eth.get_balance(sender.address) > 0
        assert state.with_name(state.name + ".unreadable").read_bytes() == whole[: len(whole) // 2]
    finally:
        devnet.close()


def test_a_node_that_fails_for_another_reason_still_says_so(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    state.write_text("not json at all")  # and no last good state to fall back to
    with pytest.raises(Exception, match="exited with code"):
        AnvilDevnet(state_file=state).start()
    assert state.read_text() == "not json at all"  # nothing replaced without a good copy
