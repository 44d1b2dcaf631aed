"""The outbox's named transitions (``ledger.relay.outbox``) on a real SQLite file and on PostgreSQL:
each moves only the rows in the state it starts from, and no module but the outbox writes its tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.db.engine import write_transaction
from ledger.relay.outbox import (
    BatchStatus,
    Landing,
    Moved,
    NewClaim,
    Outbox,
    RecordedClaim,
    SeqTaken,
    claim_counts,
    claim_status,
    insert_claim,
    insert_claims,
    insert_support,
    known_participants,
    known_requests,
    live_claims,
)
from ledger.relay.sender import Fees, SignedAttempt
from tests.indexer.helpers import database

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "0x" + "ab" * 20
KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _claims(engine: Engine, count: int, activity: int = 7) -> list[int]:
    new = [NewClaim(activity, 12205, f"0x{i:040x}", f"0x{activity:04x}{i:060x}", 1) for i in range(1, count + 1)]
    with write_transaction(engine) as conn:
        ids = insert_claims(conn, new, 1_000)
    return [ids[c.request_hash] for c in new]


def _attempt(nonce: int, tag: int = 1) -> SignedAttempt:
    return SignedAttempt(f"0x{tag:064x}", nonce, Fees(2 * 10**9, 10**9), "0x02")


def _statuses(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {int(i): str(s) for i, s in conn.execute(text("SELECT id, status FROM claims"))}


@pytest.mark.parametrize("kind", KINDS)
def test_a_claim_goes_through_every_state_and_back_only_where_drawn(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as engine:
        outbox = Outbox(engine)
        ids = _claims(engine, 4)
        with engine.connect() as conn:
            assert known_participants(conn, 7, ["0x" + "0" * 39 + "1", "0x" + "f" * 40]) == {
                "0x" + "0" * 39 + "1": ids[0]
            }
            assert live_claims(conn, 7) == 4
            assert set(known_requests(conn, [f"0x{7:04x}{1:060x}"]).values()) == {ids[0]}
        with write_transaction(engine) as conn:  # a unique key holds: nothing inserted, None
            assert insert_claim(conn, NewClaim(7, 12205, "0x" + "0" * 39 + "1", "0xnew", 1), 2_000) is None
        batch = outbox.take_for_record_batch(12205, ISSUER, 1, ids[:3])
        with pytest.raises(Moved):  # ids[0] is no longer accepted: nothing is written
            outbox.take_for_record_batch(12205, ISSUER, 2, ids[:1])
        with pytest.raises(SeqTaken):
            outbox.take_for_record_batch(12205, ISSUER, 1, ids[3:])
        assert _statuses(engine) == {ids[0]: "submitted", ids[1]: "submitted", ids[2]: "submitted", ids[3]: "accepted"}
        outbox.store_attempt(batch, _attempt(5), first=True)
        assert outbox.batch(batch).status is BatchStatus.SENT and outbox.batch(batch).nonce == 5
        assert outbox.attempts_with_nonce(ISSUER, 5) == [(batch, _attempt(5))]
        assert outbox.highest_nonce(ISSUER) == 5

        # Mined but not final: still submitted, with its transaction; then final: confirmed.
        landing = Landing("0x" + "11" * 32, 40, "0x" + "22" * 32, 90_000)
        carried = [RecordedClaim(7, f"0x{n:040x}") for n in (1, 2)]  # the records of ids[0] and ids[1]
        assert outbox.land(batch, landing, final=False, recorded=carried) == 1  # ids[2] was not carried
        assert _statuses(engine) == {ids[0]: "submitted", ids[1]: "submitted", ids[2]: "accepted", ids[3]: "accepted"}
        with engine.connect() as conn:
            status = claim_status(conn, ids[0])
        assert status is not None and status["tx_hash"] == landing.tx_hash and status["status"] == "submitted"
        outbox.finalise(batch)
        assert outbox.batch(batch).status is BatchStatus.CONFIRMED
        assert _statuses(engine)[ids[0]] == "confirmed"

        # Its block leaves the chain: back to submitted, the batch back to sent, then landed again.
        outbox.unconfirm(batch, "block 40 left the chain")
        row = outbox.batch(batch)
        assert row.status is BatchStatus.SENT and row.tx_hash is None and row.block_hash is None
        assert _statuses(engine)[ids[0]] == "submitted"
        with engine.connect() as conn:
            assert (claim_status(conn, ids[0]) or {})["tx_hash"] is None
        outbox.land(batch, landing, final=True, recorded=carried)
        assert _statuses(engine)[ids[0]] == "confirmed"
        outbox.unconfirm(batch, "again")
        outbox.release(batch, "its nonce was used by another transaction")
        assert outbox.batch(batch).status is BatchStatus.FAILED and outbox.batch(batch).batch_seq is None
        assert set(_statuses(engine).values()) == {"accepted"}

        outbox.reject_claims(ids[3:], "activity_closed", "activity 7 is closed")
        outbox.reject_claims(ids[3:], "other", "a second rejection changes nothing")
        with engine.connect() as conn:
            assert claim_counts(conn, 7) == {"accepted": 3, "confirmed": 0, "rejected": 1}
            assert (claim_status(conn, ids[3]) or {})["error"] == {
                "code": "activity_closed",
                "message": "activity 7 is closed",
            }
        assert outbox.counts().claims == {"accepted": 3, "rejected": 1}


@pytest.mark.parametrize("kind", KINDS)
def test_a_support_is_rejected_only_by_its_own_reverted_transaction(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as engine:
        outbox = Outbox(engine)
        with write_transaction(engine) as conn:
            support = insert_support(
                conn,
                supporter="0x" + "CD" * 20,
                project_id=3,
                region=12205,
                amount=5,
                nonce=0,
                deadline=99,
                signature="0x00",
            )
        assert support.supporter == "0x" + "cd" * 20
        batch = outbox.take_for_support_batch(support, ISSUER)
        with pytest.raises(Moved):
            outbox.take_for_support_batch(support, ISSUER)
        outbox.store_attempt(batch, _attempt(0), first=True)
        outbox.land(batch, Landing("0x" + "33" * 32, 9, "0x" + "44" * 32, 50_000), final=True)
        assert outbox.counts().supports == {"confirmed": 1}
        outbox.unconfirm(batch, "left the chain")
        assert outbox.counts().supports == {"submitted": 1}
        outbox.fail_support(batch, "invalid_signature", "LedgerInvalidSignature")
        found = outbox.support_of_batch(batch)
        assert found is not None and (found.status, found.error_code) == ("rejected", "invalid_signature")


_OUTBOX_TABLES = ("claims", "support_requests", "relay_batches", "relay_attempts")
_SQL = re.compile(r"\b(FROM|INTO|UPDATE|JOIN)\s+(" + "|".join(_OUTBOX_TABLES) + r")\b", re.I)


def test_no_module_but_the_outbox_touches_its_tables() -> None:
    """One owner per table that changes state: the intake, the relayer, the demo seed, the dev stack
    and the benchmarks go through ``ledger.relay.outbox``."""
    allowed = {ROOT / "ledger/relay/outbox.py"}
    offenders = []
    for folder in ("ledger", "api", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            if path in allowed or "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if _SQL.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "SQL on the outbox's tables outside ledger/relay/outbox.py:\n" + "\n".join(offenders)


@pytest.mark.parametrize("kind", KINDS)
def test_a_horizon_hands_out_only_work_accepted_up_to_it(kind: str, tmp_path: Path) -> None:
    """The demo's seed relays a past day while live scans (accepted today) wait: its outbox view stops
    at the end of the simulated day; the plain view (the live relayer) sees everything."""
    with database(kind, tmp_path) as engine:
        past = [NewClaim(7, 12205, f"0x{i:040x}", f"0x{i:064x}", 1) for i in range(1, 3)]
        live = [NewClaim(8, 12205, f"0x{i:040x}", f"0x{i + 100:064x}", 1) for i in range(3, 5)]
        with write_transaction(engine) as conn:
            insert_claims(conn, past, 1_000)
            insert_claims(conn, live, 9_000)
            for nonce, (at, supporter) in enumerate([(1_000, "0x" + "cd" * 20), (9_000, "0x" + "ef" * 20)]):
                insert_support(
                    conn,
                    supporter=supporter,
                    project_id=3,
                    region=12205,
                    amount=5,
                    nonce=nonce,
                    deadline=99,
                    signature="0x00",
                    now_ms=at,
                )
        seed = Outbox(engine, lambda: 5_000)
        assert seed.waiting_regions() == [(12205, 2, 1_000)]
        assert [c.activity_id for c in seed.pending_claims(12205, 10)] == [7, 7]
        assert [s.supporter for s in seed.open_supports()] == ["0x" + "cd" * 20]
        assert seed.counts().pending == 3  # nothing past the horizon keeps the seed's day from settling
        everyone = Outbox(engine)
        assert everyone.waiting_regions() == [(12205, 4, 1_000)]
        assert [c.activity_id for c in everyone.pending_claims(12205, 10)] == [7, 7, 8, 8]
        assert len(everyone.open_supports()) == 2 and everyone.counts().pending == 6
