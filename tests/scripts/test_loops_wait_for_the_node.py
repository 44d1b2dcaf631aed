"""`tsunagari relay` and `tsunagari index run` started while the chain node is down wait for it
(one calm line per attempt) instead of exiting, and stop cleanly on SIGTERM while waiting.

Found by the fault test of an API restarted while the node is down: under load the relayer
process was still importing when the test stopped the node, and it exited at start-up, so no
claim was ever relayed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.chain.devnet import free_port


@pytest.mark.parametrize("command", [["relay"], ["index", "run"]])
def test_a_loop_started_while_the_node_is_down_waits_for_it(command: list[str], tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TSUNAGARI_CHAIN__RPC_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "TSUNAGARI_CHAIN__REQUEST_TIMEOUT_S": "1",
        "TSUNAGARI_CHAIN__DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
        "TSUNAGARI_DB__URL": f"sqlite:///{tmp_path / 'index.db'}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", *command],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(8)  # start-up, then a few attempts
        assert process.poll() is None, f"it exited: {process.communicate()}"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "waiting for the chain node" in err
    assert "stopped" in out
