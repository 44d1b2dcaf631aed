"""The production topology on this machine, as real processes on the local PostgreSQL: two
`tsunagari api serve` processes, a relayer with a hot standby, and an indexer. Phones scan at both
API processes at once (the same people at both: uniqueness is decided by the database); the active
relayer is killed with SIGKILL mid-burst. Every acknowledged claim ends on chain exactly once,
indexed once; the standby took over in one hand-over; both API processes' metrics count what they
answered, and an activity's capacity holds across both processes."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec
from ledger.relay.lease import read_lease
from ledger.taxonomy import ContributionKind
from scripts.simulate import PacedResult, paced_checkins
from tests.indexer.helpers import database
from tests.relay.helpers import wait_until
from tests.stack import TATEYAMA, DevStack, running_stack

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

PEOPLE = 50  # scan at both API processes (a race the database decides)
OTHERS = 10  # scan at one process only (each process has its own)


def _metric(body: str, name: str, labels: str = "") -> float:
    pattern = re.compile(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", re.MULTILINE)
    found = pattern.search(body)
    return 0.0 if found is None else float(found.group(1))


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    with database("postgresql", tmp_path) as engine:
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        url = engine.url.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False), engine


def test_two_apis_a_standby_relayer_and_an_indexer_on_postgresql(postgres: tuple[str, Engine], tmp_path: Path) -> None:
    db_url, _ = postgres
    settings = {"TSUNAGARI_RELAY__LEASE_S": "3", "TSUNAGARI_RELAY__LEASE_MARGIN_S": "1"}
    services = ("api", "api2", "relay", "index")
    with running_stack(tmp_path / "stack", services=services, settings=settings, db_url=db_url) as stack:
        relayer = dev_account(1).address.lower()
        wait_until(lambda: _holder(stack, relayer) is not None, 60, "the first relayer's lease")
        stack.start("relay2")
        wait_until(lambda: "standing by" in stack.services["relay2"].log.read_text(), 60, "the standby")

        first = stack.kiosk_url()
        second = first.replace(f":{stack.api_port}/", f":{stack.api2_port}/")
        assert second != first
        results: list[PacedResult] = []

        def scan(url: str, people: int, seed: str) -> None:
            results.append(paced_checkins(url, people, per_s=6.0, seed=seed))

        # The same PEOPLE scan at both processes (a race the database decides); OTHERS at one each.
        bursts = (
            (first, PEOPLE, "both"),
            (second, PEOPLE, "both"),
            (first, OTHERS, "first-only"),
            (second, OTHERS, "second-only"),
        )
        phones = [threading.Thread(target=scan, args=burst) for burst in bursts]
        for thread in phones:
            thread.start()

        def confirmed() -> int:
            with stack.engine.connect() as conn:
                return int(conn.execute(text("SELECT COUNT(*) FROM claims WHERE status = 'confirmed'")).scalar_one())

        wait_until(lambda: confirmed() >= 10, 120, "the first confirmed claims")
        active = _holder(stack, relayer)
        assert active is not None
        victim = next(n for n in ("relay", "relay2") if str(stack.services[n].process.pid) in active)  # type: ignore[union-attr]
        standby = "relay2" if victim == "relay" else "relay"
        stack.kill(victim)  # SIGKILL to its process group
        for thread in phones:
            thread.join(timeout=300)
        assert len(results) == 4
        acknowledged: dict[str, int] = {}
        for result in results:
            assert not result.refused, result.refused
            for person, claim_id in result.acknowledged.items():
                assert acknowledged.setdefault(person, claim_id) == claim_id  # one claim per person
        assert len(acknowledged) == PEOPLE + 2 * OTHERS

        claims = stack.wait_until_settled(timeout_s=240)
        assert {claim_id: person for claim_id, (person, _) in claims.items()} == {
            claim_id: person for person, claim_id in acknowledged.items()
        }
        assert {status for _, status in claims.values()} == {"confirmed"}
        assert stack.on_chain() == {claim_id: 1 for claim_id in claims}
        with stack.engine.connect() as conn:
            state = read_lease(conn, relayer)
        assert state is not None and state.epoch == 2, state  # one hand-over
        assert str(stack.services[standby].process.pid) in state.holder  # type: ignore[union-attr]

        # Each API process counts what it answered; together, one 202 per person.
        bodies = [
            httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text for port in (stack.api_port, stack.api2_port)
        ]
        accepted = [_metric(b, "tsunagari_claims_accepted_total") for b in bodies]
        assert sum(accepted) == PEOPLE + 2 * OTHERS and all(a > 0 for a in accepted), accepted
        assert all(_metric(b, "tsunagari_outbox_depth", '{state="accepted",table="claims"}') == 0 for b in bodies)

        def indexed() -> int:
            with stack.engine.connect() as conn:
                return int(
                    conn.execute(
                        text("SELECT COUNT(*) FROM contributions WHERE activity_id = :a"), {"a": stack.activity_id}
                    ).scalar_one()
                )

        wait_until(lambda: indexed() == PEOPLE + 2 * OTHERS, 120, "every record indexed once")

        # Capacity is decided by the database too: 12 places, 30 people at two processes.
        now = int(time.time())
        admin = dev_account(2)
        small = stack.client.register_activity(
            admin, ActivitySpec(TATEYAMA, ContributionKind.FESTIVAL_EVENT, 10, now - 600, now + 86_400, 12)
        )
        kiosk = stack.kiosk_url(small)
        crowd: list[PacedResult] = []
        rush = [
            threading.Thread(
                target=lambda url=url, seed=seed: crowd.append(paced_checkins(url, 15, per_s=15.0, seed=seed))
            )
            for url, seed in (
                (kiosk, "rush-a"),
                (kiosk.replace(f":{stack.api_port}/", f":{stack.api2_port}/"), "rush-b"),
            )
        ]
        for thread in rush:
            thread.start()
        for thread in rush:
            thread.join(timeout=180)
        taken = sum(len(r.acknowledged) for r in crowd)
        full = sum(1 for r in crowd for code in r.refused.values() if code == "activity_full")
        assert taken == 12 and full == 18, (taken, [r.refused for r in crowd])


def _holder(stack: DevStack, account: str) -> str | None:
    with stack.engine.connect() as conn:
        state = read_lease(conn, account)
    return state.holder if state is not None and state.live else None
