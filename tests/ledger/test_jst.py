"""Round trips of the JST calendar keys (ledger/jst.py), checked against the standard library."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import jst

UTC9 = timezone(timedelta(hours=9))
timestamps = st.integers(min_value=0, max_value=4_102_444_800)  # 1970 .. 2100
dates = st.dates(min_value=date(1970, 1, 2), max_value=date(2099, 12, 31))


@given(timestamps)
def test_date_of_agrees_with_the_standard_library(ts: int) -> None:
    assert jst.date_of(ts) == datetime.fromtimestamp(ts, UTC9).date()


@given(timestamps)
def test_the_keys_of_a_moment_name_the_same_day(ts: int) -> None:
    day = jst.date_of(ts)
    assert jst.date_of_day_key(jst.day_key(ts)) == day
    assert jst.date_of_epoch_day(jst.epoch_day(ts)) == day
    assert jst.month_first_day(jst.month_key(ts)) == day.replace(day=1)


@given(dates)
def test_a_day_runs_from_its_start_to_its_end(day: date) -> None:
    start, end = jst.day_start(day), jst.day_end(day)
    assert jst.date_of(start) == day and jst.date_of(end) == day
    assert jst.date_of(start - 1) == day - timedelta(days=1)
    assert jst.date_of(end + 1) == day + timedelta(days=1)
    assert end - start == jst.SECONDS_PER_DAY - 1


@given(dates)
def test_keys_round_trip(day: date) -> None:
    assert jst.date_of_day_key(jst.day_key_of_date(day)) == day
    assert jst.date_of_epoch_day(jst.epoch_day_of_date(day)) == day
    month = jst.month_key_of_date(day)
    assert jst.parse_month_text(jst.month_text(month)) == month
    assert jst.month_first_day(month) <= day <= jst.month_last_day(month)
    assert jst.month_last_day(month) + timedelta(days=1) == jst.month_first_day(jst.next_month(month))


@given(dates, dates)
def test_months_lists_every_month_once_in_order(a: date, b: date) -> None:
    first, last = sorted((jst.month_key_of_date(a), jst.month_key_of_date(b)))
    listed = list(jst.months(first, last))
    assert listed[0] == first and listed[-1] == last
    assert listed == sorted(set(listed))
    assert len(listed) == (last // 100 - first // 100) * 12 + last % 100 - first % 100 + 1


def test_midnight_in_japan_is_fifteen_hundred_utc() -> None:
    ts = int(datetime(2026, 12, 6, 15, 0, tzinfo=UTC).timestamp())
    assert jst.day_key(ts) == 20261207 and jst.day_key(ts - 1) == 20261206
    assert jst.format_datetime(ts) == "2026年12月7日 00:00 JST"
    assert jst.format_datetime(ts, "en") == "2026-12-07 00:00 JST"


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-01", "2026/01", "2026-1", "abcd-ef", ""])
def test_a_malformed_month_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        jst.parse_month_text(text)


def test_a_typed_date_reads_in_the_forms_people_use() -> None:
    for typed in (
        "2026-12-07",
        "2026/12/7",
        "2026年12月7日",
        "２０２６年１２月７日",
        " 2026-12-7 ",
        "2026年12月7",
        "20261207",
    ):
        assert jst.parse_date_text(typed) == date(2026, 12, 7), typed
    for wrong in ("", "12/07/2026", "2026-13-01", "2026年2月30日", "2026-12", "2026127", "yesterday"):
        with pytest.raises(ValueError):
            jst.parse_date_text(wrong)
