"""How the refresher groups a batch of dirty region-days into queries (pure logic), and how it
passes a batch's keys and rows to PostgreSQL as arrays."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.indexer.refresh import DerivedRefresher, _day_runs
from tests.indexer.helpers import database


def test_a_regions_days_are_one_run_until_a_gap_of_more_than_a_week() -> None:
    keys = [(2, 20250105), (1, 20250131), (1, 20250201), (1, 20250207), (1, 20250216), (2, 20250101)]
    assert _day_runs(keys) == [
        (1, [20250131, 20250201, 20250207]),  # across a month's end: days, not YYYYMMDD numbers
        (1, [20250216]),  # nine days after the 7th
        (2, [20250101, 20250105]),
    ]


def test_duplicate_keys_are_one_day() -> None:
    assert _day_runs([(1, 20250101), (1, 20250101)]) == [(1, [20250101])]


@pytest.mark.postgres
def test_array_literals_read_back_exactly_on_postgresql(tmp_path: Path) -> None:
    """The keys and rows a refresh passes as arrays (``_pg_arrays``) come back from ``unnest`` as
    they went in, whatever the text holds."""
    texts = ["0xab", 'a"b', "back\\slash", "{brace}", "com,ma", "NULL", "", " space ", "日本語", None]
    rows = [(t, i - 4, i % 2 == 0, i / 3 if i else 0.1, 2**40 + i) for i, t in enumerate(texts)]
    with database("postgres", tmp_path) as engine, engine.connect() as conn:
        refresher = DerivedRefresher(engine, 31337)
        relation, arrays = refresher._pg_arrays(["t", "i", "b", "f", "big"], rows)
        got = conn.exec_driver_sql(f"SELECT t, i, b, f, big FROM {relation}", arrays).all()
    assert [tuple(r) for r in got] == rows
