"""The whole stack as separate processes on one SQLite file (``tsunagari api serve``, ``tsunagari
relay``, ``tsunagari index run``) while things go wrong, as a new operator would break it:

- a check-in burst: the indexer never exits and every claim reaches ``indexed``;
- the node killed with SIGKILL mid-burst, three times, and once restarted from an older copy of
  its state file (so it has certainly lost blocks the relayer had seen confirmed), with signed
  supports on the way too: every acknowledged claim and support is on chain exactly once, nothing is
  stuck after a bounded time, and every claim is indexed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from ledger.chain.accounts import dev_account
from ledger.chain.signing import SupportRequest, sign_support
from ledger.relay.outbox import claim_status
from scripts.devstack import TATEYAMA, DevStack, running_stack
from scripts.simulate import PacedResult, paced_checkins, simulate_checkins

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

SEED = "node-loss"


def _wait(condition: object, timeout_s: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.5)


def _all_indexed(stack: DevStack, claim_ids: list[int]) -> bool:
    with stack.engine.connect() as conn:
        return all((claim_status(conn, i) or {}).get("status") == "indexed" for i in claim_ids)


def _alive(stack: DevStack, *names: str) -> None:
    for name in names:
        service = stack.services[name]
        assert service.running(), f"`{name}` exited:\n{service.log.read_text(errors='replace')[-3000:]}"


def test_the_indexer_keeps_up_with_a_checkin_burst_on_one_sqlite_file(tmp_path: Path) -> None:
    with running_stack(tmp_path / "stack") as stack:
        result = simulate_checkins(stack.kiosk_url(), 300, concurrency=16, seed=f"{SEED}-burst", wait_s=0)
        assert result.statuses == {"accepted": 300}
        ids = sorted(stack.claims())
        _wait(lambda: _all_indexed(stack, ids), 120, "every claim to be indexed")
        _alive(stack, "api", "relay", "index")
        assert "database is locked" not in stack.services["index"].log.read_text(errors="replace")
        assert set(stack.on_chain()) == set(ids) and set(stack.on_chain().values()) == {1}
        status = httpx.get(f"{stack.api_url}/api/v1/index/status", timeout=10).json()
        loops = {s["service"]: s for s in status["services"]}
        assert set(loops) == {"indexer", "relayer"}
        assert all(time.time() - loop["seen_at"] < 30 for loop in loops.values())
        assert status["checkpoints"][0]["last_error"] is None


def _support(stack: DevStack, http: httpx.Client, index: int, project: int) -> int:
    person = Account.from_key(keccak(text=f"{SEED}-{index}"))
    nonce_answer = http.get(
        "/api/v1/supports/typed-data", params={"supporter": person.address, "project_id": project, "amount": 50}
    )
    nonce_answer.raise_for_status()
    request = SupportRequest(
        person.address, project, 50, int(nonce_answer.json()["message"]["nonce"]), int(time.time()) + 3600
    )
    signature = sign_support(person, request, 31337, stack.deployment.ledger)
    body = {
        "supporter": person.address,
        "project_id": project,
        "amount": 50,
        "nonce": request.nonce,
        "deadline": request.deadline,
        "signature": "0x" + signature.hex(),
    }
    for _ in range(60):  # the phone resends until the server answers
        try:
            answer = http.post("/api/v1/supports", json=body)
        except httpx.HTTPError:
            time.sleep(1.0)
            continue
        assert answer.status_code == 202, answer.text
        return int(answer.json()["support_id"])
    raise AssertionError("the support was never accepted")


def test_every_acknowledged_claim_and_support_survives_the_node_killed_three_times(tmp_path: Path) -> None:
    with running_stack(tmp_path / "stack", settings={"TSUNAGARI_RELAY__BUMP_AFTER_S": "5"}) as stack:
        project = stack.client.register_project(dev_account(2), TATEYAMA)
        kiosk = stack.kiosk_url()
        phones: dict[str, PacedResult] = {}
        thread = threading.Thread(
            target=lambda: phones.update(done=paced_checkins(kiosk, 240, per_s=10, seed=SEED, give_up_s=120))
        )
        thread.start()
        time.sleep(4)
        stack.kill_anvil()  # 1: a plain kill -9 mid-burst
        time.sleep(4)
        older = stack.copy_anvil_state()
        time.sleep(3)  # batches land and are confirmed after the copy...
        stack.kill_anvil(restore=older)  # 2: ...and the node comes back without them
        time.sleep(4)
        stack.kill_anvil()  # 3
        thread.join(timeout=180)
        result = phones["done"]
        assert not result.refused and len(result.acknowledged) == 240, result

        # Supports from 30 of them, with the node killed (and set back) once more while they go out.
        with httpx.Client(base_url=stack.api_url, timeout=10) as http:
            _wait(lambda: stack.client.balance_of(Account.from_key(keccak(text=f"{SEED}-29")).address, TATEYAMA) > 0,
                  120, "the first phones' coins")  # fmt: skip
            support_ids = [_support(stack, http, i, project) for i in range(15)]
            older = stack.copy_anvil_state()
            time.sleep(2)
            stack.kill_anvil(restore=older)  # 4
            support_ids += [_support(stack, http, i, project) for i in range(15, 30)]

            claims = stack.wait_until_settled(timeout_s=180)
            acknowledged = set(result.acknowledged.values())
            assert set(claims) == acknowledged  # nothing accepted that a phone was not told about
            assert {s for _, s in claims.values()} == {"confirmed"}
            on_chain = stack.on_chain()
            assert set(on_chain) == acknowledged and set(on_chain.values()) == {1}, "lost or duplicated claims"
            _wait(
                lambda: all(http.get(f"/api/v1/supports/{i}").json()["status"] == "confirmed" for i in support_ids),
                120,
                "every support to be confirmed",
            )
            supporters = {Account.from_key(keccak(text=f"{SEED}-{i}")).address.lower() for i in range(30)}
            assert stack.supports_on_chain() == dict.fromkeys(supporters, 1)
        _wait(lambda: _all_indexed(stack, sorted(acknowledged)), 120, "every claim to be indexed")
        _alive(stack, "api", "relay", "index")
        relay_log = stack.services["relay"].log.read_text(errors="replace")
        assert "left the chain" in relay_log  # the restored node really lost confirmed batches
        assert "Traceback" not in relay_log
