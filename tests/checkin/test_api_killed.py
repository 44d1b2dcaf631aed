"""Fault test: the API process is killed (-9) in the middle of a burst of check-ins.

Real processes: anvil with 1 s blocks, ``tsunagari api serve``, ``tsunagari relay`` and
``tsunagari index run``. Phones whose request got no answer retry the same signed body once the
API is back (what the claim page does). Afterwards every claim the server acknowledged (202, or a
replay pointing at an earlier claim) is on chain exactly once, nothing else is, and no claim is
left pending.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.stack import DevStack, participants, running_stack, sign_claim

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

PEOPLE = 240


async def _post_all(
    base: str, bodies: list[dict[str, Any]], results: dict[int, int | None], concurrency: int = 16
) -> None:
    """Post every body; results[i] = claim id acknowledged, or None when no answer came."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            try:
                answer = await http.post("/api/v1/claims", json=bodies[i])
            except httpx.HTTPError:
                results[i] = None
                continue
            body = answer.json()
            if answer.status_code == 202:
                results[i] = int(body["claim_id"])
            elif body["error"]["code"] in ("replayed_request", "already_claimed"):
                results[i] = int(body["error"]["claim_id"])
            else:
                raise AssertionError(f"unexpected answer {answer.status_code}: {body}")

    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))


def test_killing_the_api_mid_burst_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    with running_stack(tmp_path / "stack", settings={"TSUNAGARI_CHECKIN__ROTATION_S": "60"}) as stack:
        _run(stack)


def _run(stack: DevStack) -> None:
    token = stack.current_token(stack.kiosk_url())
    bodies = [sign_claim(p, stack.signing, token, stack.activity_id) for p in participants(PEOPLE, "api-kill")]
    results: dict[int, int | None] = {}

    def kill_when_busy() -> None:
        deadline = time.monotonic() + 60
        while len(results) < PEOPLE // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        stack.kill("api")

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    asyncio.run(_post_all(stack.api_url, bodies, results))
    killer.join()
    unanswered = [i for i, claim in results.items() if claim is None]
    assert 0 < len(unanswered) < PEOPLE, "the kill should land mid-burst"

    stack.start("api")  # the phones retry what got no answer, with the same signed body
    retry: dict[int, int | None] = {}
    asyncio.run(_post_all(stack.api_url, [bodies[i] for i in unanswered], retry))
    for n, i in enumerate(unanswered):
        results[i] = retry[n]
    assert all(claim is not None for claim in results.values())

    claims = stack.wait_until_settled(timeout_s=120)
    acknowledged = {claim for claim in results.values() if claim is not None}
    assert len(acknowledged) == PEOPLE  # one claim per person
    assert set(claims) == acknowledged  # nothing in the outbox that nobody was told about
    assert {status for _, status in claims.values()} == {"confirmed"}
    on_chain = stack.on_chain()
    assert set(on_chain) == acknowledged
    assert set(on_chain.values()) == {1}  # exactly once each


def test_an_api_restarted_while_the_node_is_down_keeps_accepting(tmp_path: Path) -> None:
    """The chain node stops, the API is killed and restarted while it is down: phones still get
    「受け付けました」 for the indexed activity, and once the node is back every claim lands once."""
    with running_stack(tmp_path / "stack") as stack:
        kiosk = stack.kiosk_url()
        token = stack.current_token(kiosk)
        people = participants(30, "node-down")
        first = httpx.post(
            f"{stack.api_url}/api/v1/claims", json=sign_claim(people[0], stack.signing, token, stack.activity_id)
        )
        assert first.status_code == 202
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the activity is in the index (not only the API's cache)
            with stack.engine.connect() as conn:
                if conn.execute(text("SELECT COUNT(*) FROM activity_registrations")).scalar_one():
                    break
            time.sleep(0.5)

        stack.stop_anvil()
        stack.kill("api")
        stack.start("api")
        token = stack.current_token(kiosk)  # the kiosk keeps working too
        bodies = [sign_claim(p, stack.signing, token, stack.activity_id) for p in people[1:]]
        with httpx.Client(base_url=stack.api_url, timeout=10) as http:
            answers = [http.post("/api/v1/claims", json=body) for body in bodies]
        assert [a.status_code for a in answers] == [202] * len(bodies), answers[0].text
        assert {s for _, s in stack.claims().values()} <= {"accepted", "submitted", "confirmed"}

        stack.start_anvil()
        claims = stack.wait_until_settled(timeout_s=120)
        assert len(claims) == 30 and {s for _, s in claims.values()} == {"confirmed"}
        on_chain = stack.on_chain()
        assert set(on_chain) == set(claims) and set(on_chain.values()) == {1}
