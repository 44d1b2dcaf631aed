"""The derived tables as the head moves day by day with no new record (docs/decisions/0016).

A tie is recomputed only on the days its ``next_change`` says (a record's day leaving the year or the
continuity window, the last record ceasing to be recent, a new month), and of its ``tie_months`` only
the rows from its last stored month on; between those days its row is not touched, and recency and
score are read for the head's day. Whatever days the refreshes ran on, the database ends equal to a
fresh index of the same chain; a revocation and a reorg rollback after many such days stay exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from web3 import Web3

from ledger import jst
from ledger.chain.accounts import dev_account
from ledger.chain.devnet import PyEvmDevnet
from ledger.indexer.refresh import DerivedRefresher, head_as_of
from ledger.queries.person import person_ties
from ledger.ties import compute_tie
from tests.indexer.helpers import count, database, dump, make_indexer
from tests.indexer.test_indexer import DAY, TATEYAMA, History, _fresh_dump, build_history


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database(request.param, tmp_path) as db:
        yield db


@pytest.fixture
def history() -> Iterator[History]:
    devnet = PyEvmDevnet()
    try:
        yield build_history(devnet, months=4)
    finally:
        devnet.close()


def _ties(engine: Engine) -> dict[tuple[str, int], tuple[Any, ...]]:
    with engine.connect() as conn:
        return {(str(r[0]), int(r[1])): tuple(r) for r in conn.execute(text("SELECT * FROM ties"))}


def _next_changes(engine: Engine) -> dict[tuple[str, int], int]:
    with engine.connect() as conn:
        return {
            (str(r[0]), int(r[1])): int(r[2])
            for r in conn.execute(text("SELECT participant, region, next_change FROM ties"))
        }


def _month_rows(engine: Engine) -> set[tuple[Any, ...]]:
    with engine.connect() as conn:
        return {
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT participant, region, month, first_month, active, last_active_month, records, stage, "
                    "kankei, category, visit_band FROM tie_months"
                )
            )
        }


def test_days_without_records_recompute_only_the_ties_due(history: History, engine: Engine, tmp_path: Path) -> None:
    devnet = history.devnet
    indexer = make_indexer(devnet, history.deployment, engine)
    indexer.backfill()
    refresher = DerivedRefresher(engine, indexer.spec.chain_id)
    last = int(devnet.w3.eth.get_block("latest")["timestamp"])
    # day by day past the recency boundary of the last records and two month ends, then a month at
    # a time past the year and the continuity window of every record
    steps = [DAY] * 100 + [30 * DAY] * 22
    recomputed_days = 0
    for step in steps:
        before, months_before, changes = _ties(engine), _month_rows(engine), _next_changes(engine)
        last += step
        devnet.set_next_block_timestamp(last)
        devnet.mine(1)
        indexer.backfill()
        with engine.connect() as conn:
            as_of = head_as_of(conn)
        assert as_of is not None
        due = {k for k, n in changes.items() if n <= as_of}
        after = _ties(engine)
        assert set(after) == set(before)
        assert {k for k in after if after[k] != before[k]} == due  # exactly the due ties are rewritten
        assert all(n > as_of for n in _next_changes(engine).values())
        recomputed_days += bool(due)
        # month rows: only the due ties' rows from their last stored month on are touched
        touched = {(str(r[0]), int(r[1])) for r in months_before ^ _month_rows(engine)}
        assert touched <= due
        assert refresher.pending() == (0, 0)
    assert 0 < recomputed_days < len(steps)  # some days change nothing at all
    assert dump(engine) == _fresh_dump(devnet, history.deployment, tmp_path)


def test_recency_and_score_are_read_for_the_heads_day(history: History, engine: Engine) -> None:
    devnet = history.devnet
    indexer = make_indexer(devnet, history.deployment, engine)
    indexer.backfill()
    last = int(devnet.w3.eth.get_block("latest")["timestamp"])
    person = history.people[1].address
    with engine.connect() as conn:
        first = {t.region: t for t in person_ties(conn, person)}
    devnet.set_next_block_timestamp(last + 5 * DAY)
    devnet.mine(1)
    indexer.backfill()
    with engine.connect() as conn:
        later = {t.region: t for t in person_ties(conn, person)}
        as_of = head_as_of(conn)
    tie = later[TATEYAMA]
    assert tie.as_of == as_of and tie.as_of > first[TATEYAMA].as_of
    assert tie.components.recency < first[TATEYAMA].components.recency
    assert tie.score < first[TATEYAMA].score
    # the model's figures for that day, from the records on chain
    records = indexer_records(engine, person, TATEYAMA)
    model = compute_tie(records, 50, as_of)
    assert (tie.components.recency, tie.score) == (model.components.recency, model.score)


def indexer_records(engine: Engine, person: str, region: int) -> list[Any]:
    from ledger.ties import TieRecord

    with engine.connect() as conn:
        revoked = {
            int(r[0])
            for r in conn.execute(
                text("SELECT activity_id FROM revocations WHERE participant = :p"), {"p": person.lower()}
            )
        }
        return [
            TieRecord(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[3]) in revoked, int(r[4]), int(r[5]))
            for r in conn.execute(
                text(
                    "SELECT block_timestamp, kind, amount, activity_id, units, unit FROM contributions "
                    "WHERE participant = :p AND region = :r"
                ),
                {"p": person.lower(), "r": region},
            )
        ]


def test_a_revocation_and_a_rollback_after_quiet_days_stay_exact(
    history: History, engine: Engine, tmp_path: Path
) -> None:
    devnet, client, admin = history.devnet, history.client, dev_account(2)
    indexer = make_indexer(devnet, history.deployment, engine)
    indexer.backfill()
    last = int(devnet.w3.eth.get_block("latest")["timestamp"])
    for _ in range(40):
        last += DAY
        devnet.set_next_block_timestamp(last)
        devnet.mine(1)
        indexer.backfill()
    with engine.connect() as conn:
        activity, person = conn.execute(
            text(
                "SELECT activity_id, participant FROM contributions c WHERE region = :r AND NOT EXISTS "
                "(SELECT 1 FROM revocations v WHERE v.activity_id = c.activity_id AND v.participant = c.participant) "
                "ORDER BY block_number LIMIT 1"
            ),
            {"r": TATEYAMA},
        ).one()
    snapshot = devnet.snapshot()
    last += DAY
    devnet.set_next_block_timestamp(last)
    client.revoke(
        admin, int(activity), Web3.to_checksum_address(str(person)), 2, b"\x07" * 32
    )  # a record of the first month
    indexer.backfill()
    assert count(engine, "revocations") == 2
    assert dump(engine) == _fresh_dump(devnet, history.deployment, tmp_path)
    # the revocation's block is reorganised away: the rollback restores every month row
    devnet.revert(snapshot)
    for _ in range(3):
        last += DAY
        devnet.set_next_block_timestamp(last)
        devnet.mine(1)
    result = indexer.run_step()
    assert result is not None and result.rolled_back_to is not None
    indexer.backfill()
    assert count(engine, "revocations") == 1
    assert dump(engine) == _fresh_dump(devnet, history.deployment, tmp_path)


class _Watched(DerivedRefresher):
    """A refresher that notes the ties it computes through the model."""

    def __init__(self, engine: Engine, chain_id: int) -> None:
        super().__init__(engine, chain_id)
        self.modelled: set[tuple[str, int]] = set()

    def _compute_ties(self, conn: Any, keys: list[tuple[str, int]], as_of: int, *, due: bool = False) -> Any:
        self.modelled |= set(keys)
        return super()._compute_ties(conn, keys, as_of, due=due)


def test_a_months_turn_carries_in_sql_the_ties_due_for_it_alone(
    history: History, engine: Engine, tmp_path: Path
) -> None:
    """On a month's first day the ties due only for the turn (their ``steady_until`` to come) get
    their new month's row and ``next_change`` without the model (decision 0021), and any other due
    tie goes through the model; the tables end as a fresh index's. (The day-by-day test above
    crosses month turns with both kinds of due ties.)"""
    devnet = history.devnet
    indexer = make_indexer(devnet, history.deployment, engine)
    indexer.backfill()
    last = int(devnet.w3.eth.get_block("latest")["timestamp"])
    turn = jst.day_end(jst.month_first_day(jst.next_month(jst.month_key(last))))
    with engine.connect() as conn:
        ties = conn.execute(text("SELECT participant, region, next_change, steady_until FROM ties")).all()
        months_before = int(conn.execute(text("SELECT COUNT(*) FROM tie_months")).scalar() or 0)
    carried = {(str(p), int(r)) for p, r, change, steady in ties if change == turn and steady > turn}
    modelled = {(str(p), int(r)) for p, r, change, steady in ties if change <= turn} - carried
    assert carried
    watched = _Watched(engine, indexer.spec.chain_id)
    indexer.refresh = watched
    devnet.set_next_block_timestamp(turn - 3600)  # late on the month's first day
    devnet.mine(1)
    indexer.backfill()
    assert watched.modelled == modelled
    assert watched.pending() == (0, 0)
    next_turn = jst.day_end(jst.month_first_day(jst.next_month(jst.month_key(turn))))
    with engine.connect() as conn:
        after = {(str(r[0]), int(r[1])): (int(r[2]), int(r[3])) for r in conn.execute(
            text("SELECT participant, region, next_change, steady_until FROM ties"))}  # fmt: skip
        added = int(conn.execute(text("SELECT COUNT(*) FROM tie_months")).scalar() or 0) - months_before
    assert added == len(carried | modelled)  # one new month row each (every tie here has a counted record)
    steady = {(str(p), int(r)): int(s) for p, r, _, s in ties}
    assert all(after[key] == (min(steady[key], next_turn), steady[key]) for key in carried)
    assert dump(engine) == _fresh_dump(devnet, history.deployment, tmp_path)
