"""The claim intake's group commit never blocks the API's event loop on the engine's connection pool.

Found under a burst of 16 phones: request handlers held every pooled connection until the event
loop finished their responses, while the event loop itself waited (synchronously) for a pooled
connection to commit the next claims; nothing moved until the pool's timeout. Here the pool has
one connection, a "handler" holds it and gives it back only once the event loop has run another
task; the group commit must complete.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from ledger.checkin.activities import ActivityView
from ledger.checkin.intake import AcceptedClaim, ClaimIntake, GroupCommit, PreparedClaim
from ledger.checkin.signing import ClaimSigning
from ledger.checkin.tokens import KioskTokens
from ledger.db.engine import make_engine, upgrade_to_head


def _claim(n: int) -> PreparedClaim:
    activity = ActivityView(7, 12205, 20, 100, 0, 2**32, 0, False, "0x" + "00" * 32, "祭り", "", "", "館山市")
    return PreparedClaim(activity=activity, participant=f"0x{n:040x}", request_hash=f"0x{n:064x}", slot=1)


def test_a_commit_waits_for_the_pool_off_the_event_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    upgrade_to_head(make_engine(url))
    engine = make_engine(url, pool_size=1, max_overflow=0, pool_timeout=20)
    tokens = KioskTokens(b"k" * 32, 31337, "0x" + "11" * 20)
    intake = ClaimIntake(engine, tokens, ClaimSigning(31337, "0x" + "11" * 20), directory=None)  # type: ignore[arg-type]
    group = GroupCommit(intake, max_wait_ms=0)
    loop_ran = threading.Event()
    held = engine.connect()  # a request handler's connection, released by its response's teardown

    def handler_teardown() -> None:
        loop_ran.wait(30)  # the response goes out only when the event loop runs
        held.close()

    releaser = threading.Thread(target=handler_teardown)
    releaser.start()

    async def scenario() -> AcceptedClaim:
        commit = asyncio.create_task(group.submit(_claim(1)))
        await asyncio.sleep(0.2)  # the loop is free while the commit waits for a connection
        loop_ran.set()
        try:
            return await asyncio.wait_for(commit, timeout=10)
        finally:
            await group.close()

    started = time.monotonic()
    accepted = asyncio.run(scenario())
    releaser.join(timeout=5)
    assert isinstance(accepted, AcceptedClaim) and accepted.claim_id == 1
    assert time.monotonic() - started < 10


def test_a_broken_connection_is_replaced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'broken.db'}"
    upgrade_to_head(make_engine(url))
    engine = make_engine(url)
    intake = ClaimIntake(
        engine, KioskTokens(b"k" * 32, 31337, "0x" + "11" * 20), ClaimSigning(31337, "0x" + "11" * 20), directory=None
    )  # type: ignore[arg-type]
    group = GroupCommit(intake, max_wait_ms=0)

    async def scenario() -> list[int]:
        first = await group.submit(_claim(1))
        assert group._connection is not None
        group._connection.close()  # the database went away under it
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver says, the caller hears it
            await group.submit(_claim(2))
        second = await group.submit(_claim(3))
        await group.close()
        return [first.claim_id, second.claim_id]

    assert asyncio.run(scenario()) == [1, 2]
