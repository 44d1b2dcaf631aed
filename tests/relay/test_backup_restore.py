"""The backup and restore drill, on the real stack (anvil; `tsunagari api serve`, relay and index as
processes; one SQLite file; the claim journal on): a backup taken during a check-in burst, the
database then lost, restored from the backup, the journal replayed, the relayer and indexer
started again. Every acknowledged claim is back under its id, on chain exactly once, indexed once.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger.db.backup import backup_database, restore_database
from ledger.relay.journal import read_journal, replay_journal
from scripts.simulate import PacedResult, paced_checkins
from tests.relay.helpers import wait_until
from tests.stack import running_stack

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


def test_backup_during_a_burst_then_restore_and_replay_loses_and_doubles_nothing(tmp_path: Path) -> None:
    journal = tmp_path / "journal" / "claims.jsonl"
    root = tmp_path / "stack"
    with running_stack(root, settings={"TSUNAGARI_CHECKIN__JOURNAL_FILE": str(journal)}) as stack:
        kiosk = stack.kiosk_url()
        burst: list[PacedResult] = []
        phones = threading.Thread(target=lambda: burst.append(paced_checkins(kiosk, 80, per_s=8.0)))
        phones.start()

        def acknowledged() -> int:
            with stack.engine.connect() as conn:
                return int(conn.execute(text("SELECT COUNT(*) FROM claims")).scalar_one())

        wait_until(lambda: acknowledged() >= 30, 120, "30 acknowledged claims")
        backup = backup_database(stack.engine, tmp_path / "backups" / "tsunagari.db")
        assert 0 < backup.last_claim_id < 80 and backup.revision is not None
        phones.join(timeout=300)
        (result,) = burst
        assert len(result.acknowledged) == 80 and not result.refused, result.refused
        before = stack.wait_until_settled(timeout_s=180)
        assert len(before) == 80

        # The disaster: every process stops and the database is gone.
        for name in ("api", "relay", "index"):
            stack.kill(name)
        database = Path(stack.engine.url.database or "")
        stack.engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)

        restored = restore_database(backup.path, stack.engine)
        assert restored.last_claim_id == backup.last_claim_id
        entries = list(read_journal(journal))
        assert {e.claim_id for e in entries} == set(result.acknowledged.values())
        replay = replay_journal(stack.engine, [journal])
        assert replay.replayed == 80 - backup.last_claim_id and replay.present == backup.last_claim_id
        assert not replay.conflicts
        again = replay_journal(stack.engine, [journal])  # a second replay changes nothing
        assert again.replayed == 0 and again.present == 80

        for name in ("relay", "index", "api"):
            stack.start(name)
        after = stack.wait_until_settled(timeout_s=240)
        # Every phone's claim id still names its claim, confirmed (the ones already on chain are
        # confirmed from their records, the others recorded now).
        assert {claim_id: participant for claim_id, (participant, _) in after.items()} == {
            claim_id: participant.lower() for participant, claim_id in result.acknowledged.items()
        }
        assert {status for _, status in after.values()} == {"confirmed"}
        on_chain = stack.on_chain()
        assert on_chain == {claim_id: 1 for claim_id in after}, on_chain

        def indexed() -> int:
            with stack.engine.connect() as conn:
                return int(
                    conn.execute(
                        text("SELECT COUNT(*) FROM contributions WHERE activity_id = :a"), {"a": stack.activity_id}
                    ).scalar_one()
                )

        wait_until(lambda: indexed() >= 80, 120, "every record indexed")
        with stack.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT participant, COUNT(*) FROM contributions WHERE activity_id = :a GROUP BY participant"),
                {"a": stack.activity_id},
            ).all()
        assert len(rows) == 80 and all(int(n) == 1 for _, n in rows)
