"""The operator's endpoints on a real stack (anvil, `tsunagari api serve`, relay and indexer as
processes, one SQLite file): /metrics counts what phones did, the outbox drains to a depth of 0,
the relayer's lease and heartbeats show; /ready says which dependency is missing."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger.chain.accounts import dev_account
from scripts.simulate import simulate_checkins
from tests.stack import DevStack, running_stack

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(tmp_path_factory.mktemp("operations")) as running:
        yield running


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of ``name`` with exactly these labels (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = ",".join(sorted(p for p in (match.group(2) or "").split(",") if p))
        if found == wanted:
            return float(match.group(3))
    return 0.0


def test_metrics_count_a_checkin_burst_and_the_outbox_drains(stack: DevStack) -> None:
    result = simulate_checkins(stack.kiosk_url(), people=24, concurrency=8)
    accepted = result.statuses.get("accepted", 0)
    assert accepted == 24, result.statuses
    stack.wait_until_settled()
    deadline = time.monotonic() + 60
    while True:
        page = httpx.get(f"{stack.api_url}/metrics", timeout=10)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
        body = page.text
        drained = _metric(body, "tsunagari_outbox_depth", table="claims", state="accepted") == 0 and (
            _metric(body, "tsunagari_outbox_depth", table="claims", state="submitted") == 0
        )
        if drained or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert drained, body
    assert _metric(body, "tsunagari_claims_accepted_total") == 24
    assert _metric(body, "tsunagari_http_requests_total", route="/api/v1/claims", method="POST", status="202") == 24
    assert _metric(body, "tsunagari_http_request_seconds_count", route="/api/v1/claims", method="POST") == 24
    assert _metric(body, "tsunagari_database_up") == 1
    assert _metric(body, "tsunagari_relay_lease_epoch", account=dev_account(1).address.lower()) >= 1
    assert _metric(body, "tsunagari_service_heartbeat_age_seconds", service="relayer") < 60
    assert _metric(body, "tsunagari_index_checkpoint_block", chain_id="31337") > 0
    assert "tsunagari_refresh_backlog" in body

    # The same phones scan again: refused (one record per person and activity), counted by code.
    again = simulate_checkins(stack.kiosk_url(), people=2, concurrency=2)
    assert "accepted" not in again.statuses and sum(again.statuses.values()) == 2, again.statuses
    body = httpx.get(f"{stack.api_url}/metrics", timeout=10).text
    assert _metric(body, "tsunagari_claims_accepted_total") == 24
    for code, count in again.statuses.items():
        assert _metric(body, "tsunagari_claims_refused_total", code=code) == count, code


def test_ready_names_what_is_missing(stack: DevStack) -> None:
    ready = httpx.get(f"{stack.api_url}/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] and checks["migrations"]["ok"] and checks["node"]["chain_id"] == 31337
    assert checks["migrations"]["at"] == checks["migrations"]["head"]
    assert httpx.get(f"{stack.api_url}/health", timeout=10).status_code == 200
    stack.stop_anvil()
    try:
        optional = httpx.get(f"{stack.api_url}/ready", timeout=30)
        required = httpx.get(f"{stack.api_url}/ready", params={"node": "required"}, timeout=30)
        assert optional.status_code == 200  # claims are still accepted into the outbox
        assert not optional.json()["checks"]["node"]["ok"]
        assert required.status_code == 503 and required.json()["ready"] is False
    finally:
        stack.start_anvil()
    assert httpx.get(f"{stack.api_url}/ready", params={"node": "bogus"}, timeout=10).status_code == 422


def test_metrics_can_require_a_token_and_logs_can_be_json(tmp_path: Path) -> None:
    settings = {"TSUNAGARI_API__METRICS_TOKEN": "s3cret", "TSUNAGARI_LOG__FORMAT": "json"}
    with running_stack(tmp_path / "token", services=("api", "relay"), settings=settings) as s:
        deadline = time.monotonic() + 60
        while "active (lease" not in s.services["relay"].log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        logged = [json.loads(line) for line in s.services["relay"].log.read_text().splitlines() if line.startswith("{")]
        active = [entry for entry in logged if "active (lease epoch" in entry["message"]]
        assert active and active[0]["level"] == "INFO" and active[0]["logger"] == "ledger.relay", logged
        assert {"time", "process"} <= active[0].keys()
        assert httpx.get(f"{s.api_url}/metrics", timeout=10).status_code == 401
        wrong = httpx.get(f"{s.api_url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401
        right = httpx.get(f"{s.api_url}/metrics", headers={"Authorization": "Bearer s3cret"}, timeout=10)
        assert right.status_code == 200 and "tsunagari_database_up 1.0" in right.text
