"""The claim intake's commit gives the same answers on SQLite (one write transaction: lookups, then
the insert) and PostgreSQL (plain kiosk claims: one autocommitted ``INSERT … ON CONFLICT DO NOTHING``,
then lookups for what it did not insert): new claims accepted, a repeated request a replay of the
first, a second scan of the same person ``already_claimed`` with the first claim's id, within a
batch and against what the outbox already holds; every accepted claim journaled once; and two API
processes committing overlapping batches at once each accept a claim exactly once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.checkin.activities import ActivityView
from ledger.checkin.errors import CheckinRejected
from ledger.checkin.intake import AcceptedClaim, Answer, ClaimIntake, PreparedClaim
from ledger.checkin.signing import ClaimSigning
from ledger.checkin.tokens import KioskTokens
from ledger.db.engine import make_engine
from ledger.relay.journal import install_journal, read_journal
from tests.indexer.helpers import database

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
FESTIVAL = ActivityView(7, 12205, 20, 100, 0, 2**32, 0, False, "0x" + "00" * 32, "祭り", "", "", "館山市")


def _claim(person: int, request: int) -> PreparedClaim:
    return PreparedClaim(activity=FESTIVAL, participant=f"0x{person:040x}", request_hash=f"0x{request:064x}", slot=1)


def _intake(engine: Engine) -> ClaimIntake:
    tokens = KioskTokens(b"k" * 32, 31337, "0x" + "11" * 20)
    return ClaimIntake(engine, tokens, ClaimSigning(31337, "0x" + "11" * 20), directory=None)  # type: ignore[arg-type]


def _shape(answer: Answer, ids: dict[int, str]) -> tuple[str, str]:
    """An answer with its claim id named by the request that holds it (ids differ between backends)."""
    if isinstance(answer, AcceptedClaim):
        return "accepted", ids[answer.claim_id]
    assert isinstance(answer, CheckinRejected)
    claim_id = answer.claim_id
    assert claim_id is not None, answer
    return answer.code, ids[claim_id]


def _requests_by_id(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {int(i): str(h) for i, h in conn.execute(text("SELECT id, request_hash FROM claims"))}


@pytest.mark.parametrize("kind", BACKENDS)
def test_new_repeated_and_second_scans_get_the_same_answers_on_both_databases(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as engine:
        install_journal(engine, tmp_path / "claims.journal")
        intake = _intake(engine)
        first = intake.commit([_claim(1, 1)])
        assert isinstance(first[0], AcceptedClaim)
        batch = [
            _claim(2, 2),  # new
            _claim(2, 2),  # the same request again in the batch: a replay of the one above
            _claim(3, 3),  # new
            _claim(3, 4),  # the same person, another request: a second scan
            _claim(1, 1),  # a request the outbox already holds
            _claim(1, 5),  # a person the outbox already holds, a new request
            _claim(6, 6),  # new
        ]
        answers = intake.commit(batch)
        ids = _requests_by_id(engine)
        assert [_shape(a, ids) for a in answers] == [
            ("accepted", f"0x{2:064x}"),
            ("replayed_request", f"0x{2:064x}"),
            ("accepted", f"0x{3:064x}"),
            ("already_claimed", f"0x{3:064x}"),
            ("replayed_request", f"0x{1:064x}"),
            ("already_claimed", f"0x{1:064x}"),
            ("accepted", f"0x{6:064x}"),
        ]
        assert sorted(ids.values()) == [f"0x{n:064x}" for n in (1, 2, 3, 6)]  # nothing else stored
        journaled = [e.request_hash for e in read_journal(tmp_path / "claims.journal")]
        assert sorted(journaled) == sorted(ids.values())  # each accepted claim once, with its id
        assert {e.claim_id: e.request_hash for e in read_journal(tmp_path / "claims.journal")} == ids


@pytest.mark.postgres
def test_two_processes_committing_overlapping_batches_accept_each_claim_once(tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as engine:
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        other = make_engine(engine.url, connect_args={"options": f"-csearch_path={schema}"})  # "another process"
        try:
            intakes = (_intake(engine), _intake(other))
            rounds = 30
            answers: list[list[list[Answer]]] = [[], []]
            start = threading.Barrier(2)

            def process(n: int) -> None:
                for r in range(rounds):
                    # both send the same 20 claims (phones retrying through the other process) plus
                    # a second scan of each person with a request of their own
                    batch = [_claim(1000 * r + i, 1000 * r + i) for i in range(20)]
                    batch += [_claim(1000 * r + i, 1000 * r + 500 + 100 * n + i) for i in range(0, 20, 5)]
                    start.wait(timeout=30)
                    answers[n].append(intakes[n].commit(batch))

            threads = [threading.Thread(target=process, args=(n,)) for n in (0, 1)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            ids = _requests_by_id(engine)
            assert len(ids) == rounds * 20  # one claim per person: no second scan got in
            accepted = [a.claim_id for side in answers for batch in side for a in batch if isinstance(a, AcceptedClaim)]
            assert sorted(accepted) == sorted(ids)  # each stored claim accepted by exactly one process
            for side in answers:
                for r, batch in enumerate(side):
                    for i, answer in enumerate(batch[:20]):
                        held = [k for k, h in ids.items() if h == f"0x{1000 * r + i:064x}"]
                        assert isinstance(answer, AcceptedClaim) or (
                            isinstance(answer, CheckinRejected) and answer.code == "replayed_request"
                        ), answer
                        assert answer.claim_id == held[0]
                    assert all(isinstance(a, CheckinRejected) and a.code == "already_claimed" for a in batch[20:]), (
                        batch[20:]
                    )
        finally:
            other.dispose()
