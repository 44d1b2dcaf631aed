"""How the refresher groups a batch of dirty region-days into queries (pure logic)."""

from __future__ import annotations

from ledger.indexer.refresh import _day_runs


def test_a_regions_days_are_one_run_until_a_gap_of_more_than_a_week() -> None:
    keys = [(2, 20250105), (1, 20250131), (1, 20250201), (1, 20250207), (1, 20250216), (2, 20250101)]
    assert _day_runs(keys) == [
        (1, [20250131, 20250201, 20250207]),  # across a month's end: days, not YYYYMMDD numbers
        (1, [20250216]),  # nine days after the 7th
        (2, [20250101, 20250105]),
    ]


def test_duplicate_keys_are_one_day() -> None:
    assert _day_runs([(1, 20250101), (1, 20250101)]) == [(1, [20250101])]
