"""The refresher computes the model once per tie *shape* (records as JST days, kinds, amounts, units
and the order their activities are first used): a tie whose shape it has seen must get exactly the
rows a fresh computation gives it (ledger.indexer.refresh.DerivedRefresher._shaped)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.db.engine import make_engine
from ledger.indexer.refresh import DerivedRefresher, tie_columns
from ledger.jst import day_end, day_start, epoch_day
from ledger.ties import TieRecord, jst_date
from tests.ledger.test_ties import AS_OF_RANGE, DAY, records_before


def _twin(records: list[TieRecord], shift: int, rename: int) -> list[TieRecord]:
    """The same records moved within their JST day (order kept: every record moves to the same
    second of its day or stays) and with their activities renamed one to one."""
    moved = []
    for r in records:
        start = day_start(jst_date(r.timestamp))
        at = min(start + shift, day_end(jst_date(r.timestamp))) if shift else r.timestamp
        moved.append(TieRecord(at, r.kind, r.amount, r.activity_id + rename, r.revoked, r.units, r.unit))
    return moved


@settings(max_examples=120, deadline=None, database=None)
@given(st.data())
def test_a_seen_shape_gives_the_rows_of_a_fresh_computation(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("shapes") / "shapes.db"
    engine = make_engine(f"sqlite:///{path}")
    as_of = day_end(jst_date(data.draw(st.integers(*AS_OF_RANGE))))
    records = data.draw(records_before(as_of))
    supports = [
        (as_of - off, amount)
        for off, amount in data.draw(st.lists(st.tuples(st.integers(0, 800 * DAY), st.integers(1, 3000)), max_size=3))
    ]
    since = data.draw(st.sampled_from([0, 202001, 202507]))
    # one second of the day for every record, so records of one day keep their order
    twin = _twin(records, data.draw(st.sampled_from([0, 1, 43_200, DAY - 1])), data.draw(st.integers(0, 5)))
    assert [epoch_day(r.timestamp) for r in twin] == [epoch_day(r.timestamp) for r in records]
    seen = DerivedRefresher(engine, 31337)
    seen._shaped(records, supports, as_of, since)
    fresh = DerivedRefresher(engine, 31337)
    got = seen._shaped(twin, supports, as_of, since)
    want = fresh._shaped(twin, supports, as_of, since)
    assert got[1:] == want[1:]  # next_change, month rows
    assert tie_columns(got[0], twin, as_of) == tie_columns(want[0], twin, as_of)
    engine.dispose()


def test_one_shape_is_computed_once(tmp_path: Path) -> None:
    """Two people at one activity on one day share a shape; a third on another day does not."""
    engine = make_engine(f"sqlite:///{tmp_path / 'shapes.db'}")
    as_of = day_end(jst_date(1_740_000_000))
    refresher = DerivedRefresher(engine, 31337)
    first = [TieRecord(1_735_000_000, 11, 100, 7)]
    second = [TieRecord(1_735_000_600, 11, 100, 9)]
    other_day = [TieRecord(1_735_000_000 + DAY, 11, 100, 7)]
    a = refresher._shaped(first, [], as_of, 0)
    assert refresher._shaped(second, [], as_of, 0) is a
    assert refresher._shaped(other_day, [], as_of, 0) is not a
    assert len(refresher._memo) == 2
    engine.dispose()
