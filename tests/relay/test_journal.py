"""The claim journal on a real SQLite file and the local PostgreSQL: a committed insert is journaled,
a rolled-back one is not, and a replay into an empty database puts the claims back under their ids,
after which new claims continue after the largest id (PostgreSQL's sequence included)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger.db.engine import write_transaction
from ledger.relay.journal import install_journal, read_journal, replay_journal
from ledger.relay.outbox import NewClaim, insert_claim, insert_claims
from tests.indexer.helpers import database


@pytest.fixture(params=["sqlite", "postgresql"])
def kind(request: pytest.FixtureRequest) -> Iterator[str]:
    yield str(request.param)


def _claim(i: int) -> NewClaim:
    return NewClaim(7, 12205, "0x" + f"{i:040x}", "0x" + uuid.uuid4().hex, 0, 1)


def test_committed_claims_are_journaled_and_replayed_under_their_ids(kind: str, tmp_path: Path) -> None:
    journal = tmp_path / "journal" / "claims.jsonl"
    with database(kind, tmp_path) as source:
        install_journal(source, journal)
        with write_transaction(source) as conn:
            ids = insert_claims(conn, [_claim(i) for i in range(5)], 1_000)
        with pytest.raises(RuntimeError), write_transaction(source) as conn:
            insert_claims(conn, [_claim(100)], 2_000)
            raise RuntimeError("the transaction fails after the insert")
        with write_transaction(source) as conn:
            single = insert_claim(conn, _claim(6), 3_000)
        entries = list(read_journal(journal))
        assert [e.claim_id for e in entries] == [*sorted(ids.values()), single]
        assert {e.accepted_at_ms for e in entries} == {1_000, 3_000}

    with database(kind, tmp_path) as restored:
        result = replay_journal(restored, [journal])
        assert (result.replayed, result.present, result.conflicts) == (6, 0, [])
        with write_transaction(restored) as conn:
            after = insert_claim(conn, _claim(7), 4_000)
            rows = conn.execute(text("SELECT id, accepted_at_ms FROM claims ORDER BY id")).all()
        assert after == max(e.claim_id for e in entries) + 1  # ids continue after the replayed ones
        assert [(int(i), int(t)) for i, t in rows[:-1]] == [(e.claim_id, e.accepted_at_ms) for e in entries]
        again = replay_journal(restored, [journal])
        assert (again.replayed, again.present) == (0, 6)


def test_a_journal_without_install_writes_nothing(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as engine, write_transaction(engine) as conn:
        insert_claims(conn, [_claim(1)], 1_000)
    assert not any(tmp_path.rglob("*.jsonl"))
