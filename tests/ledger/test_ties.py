"""Tests of the ties model: unit tests of every rule, property tests of its guarantees."""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.indexer.refresh import given_in_window, month_of, tie_columns
from ledger.jst import day_end as jst_day_end
from ledger.jst import day_start as jst_day_start
from ledger.jst import epoch_day
from ledger.jst import month_first_day as month_first
from ledger.jst import next_month as next_month_key
from ledger.taxonomy import ContributionKind as K
from ledger.taxonomy import MlitType, mlit_type_of
from ledger.ties import (
    DEFAULT_PARAMS,
    VISIT_BAND_LABELS,
    Season,
    Stage,
    Tie,
    TieParams,
    TieRecord,
    compute_tie,
    fine_visit_band,
    is_kankei_jinkou,
    jst_date,
    kankei_category,
    next_change,
    season_of_month,
    step_figures_at,
    tie_reading,
    visit_band,
)

JST = timezone(timedelta(hours=9))
DAY = 86_400
DOCS = Path(__file__).resolve().parents[2] / "docs" / "ties.md"
COMPONENTS = ("continuity", "frequency", "diversity", "recency", "intensity")


def jst(year: int, month: int, day: int, hour: int = 12) -> int:
    """Unix seconds of a Japan-time wall clock."""
    return int(datetime(year, month, day, hour, tzinfo=JST).timestamp())


def rec(ts: int, kind: K, amount: int = 100, activity_id: int = 0, *, revoked: bool = False) -> TieRecord:
    return TieRecord(timestamp=ts, kind=int(kind), amount=amount, activity_id=activity_id, revoked=revoked)


def comps(tie: Tie) -> tuple[float, ...]:
    return tie.components.as_tuple()


AS_OF = jst(2025, 12, 1)


# --- calendar -------------------------------------------------------------------------------


def test_jst_date_turns_at_15_utc() -> None:
    just_before = int(datetime(2025, 1, 31, 14, 59, 59, tzinfo=UTC).timestamp())
    assert jst_date(just_before).isoformat() == "2025-01-31"
    assert jst_date(just_before + 1).isoformat() == "2025-02-01"


def test_two_records_either_side_of_jst_midnight_are_two_visit_days() -> None:
    midnight = jst(2025, 11, 1, 0)
    tie = compute_tie([rec(midnight - 1, K.SIGHTSEEING), rec(midnight, K.SIGHTSEEING)], 0, AS_OF)
    assert tie.components.visit_days_in_window == 2


@pytest.mark.parametrize(
    ("month", "season"),
    [
        (3, Season.SPRING),
        (5, Season.SPRING),
        (6, Season.SUMMER),
        (8, Season.SUMMER),
        (9, Season.AUTUMN),
        (11, Season.AUTUMN),
        (12, Season.WINTER),
        (1, Season.WINTER),
        (2, Season.WINTER),
    ],
)
def test_seasons_are_jma_three_month_blocks(month: int, season: Season) -> None:
    assert season_of_month(month) is season


@pytest.mark.parametrize("month", [0, 13])
def test_season_of_month_rejects_bad_months(month: int) -> None:
    with pytest.raises(ValueError, match="month"):
        season_of_month(month)


# --- visit bands ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "band", "fine"),
    [
        (0, "0", "0"),
        (1, "1", "1"),
        (2, "2-7", "2-7"),
        (7, "2-7", "2-7"),
        (8, "8+", "8-23"),
        (23, "8+", "8-23"),
        (24, "8+", "24+"),
        (365, "8+", "24+"),
    ],
)
def test_visit_band_boundaries(days: int, band: str, fine: str) -> None:
    assert visit_band(days) == band
    assert fine_visit_band(days) == fine
    assert band in VISIT_BAND_LABELS
    assert fine in VISIT_BAND_LABELS


def test_visit_band_rejects_negative() -> None:
    with pytest.raises(ValueError, match="visit_days"):
        visit_band(-1)


def test_visit_days_are_distinct_dates_and_band_is_reported() -> None:
    records = [rec(jst(2025, 10, d, h), K.SIGHTSEEING, activity_id=d * 100 + h) for d in (1, 2, 3) for h in (9, 15)]
    tie = compute_tie(records, 0, AS_OF)
    assert tie.components.visit_days_in_window == 3
    assert tie.components.visit_band == "2-7"
    assert tie.components.activities_in_window == 6


# --- inputs ---------------------------------------------------------------------------------


def test_unknown_kind_negative_amount_and_bad_timestamps_are_rejected() -> None:
    with pytest.raises(ValueError):
        TieRecord(timestamp=AS_OF, kind=99, amount=1, activity_id=1)
    with pytest.raises(ValueError, match="amount"):
        TieRecord(timestamp=AS_OF, kind=int(K.SIGHTSEEING), amount=-1, activity_id=1)
    with pytest.raises(ValueError, match="timestamp"):
        TieRecord(timestamp=-1, kind=int(K.SIGHTSEEING), amount=1, activity_id=1)
    with pytest.raises(ValueError, match="support_given"):
        compute_tie([], -1, AS_OF)
    with pytest.raises(ValueError, match="as_of"):
        compute_tie([], 0, -5)


@pytest.mark.parametrize(
    "changes",
    [
        {"window_days": 0},
        {"continuity_window_days": 100},
        {"recency_half_life_days": 0.0},
        {"diversity_full_types": 1},
        {"support_weight": -1.0},
        {"weight_continuity": -0.1},
        dict.fromkeys(("weight_continuity", "weight_frequency", "weight_diversity"), 0.0)
        | {"weight_recency": 0.0, "weight_intensity": 0.0},
    ],
)
def test_params_are_validated(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(DEFAULT_PARAMS, **changes)


# --- components -----------------------------------------------------------------------------


def test_no_records_is_an_empty_tie() -> None:
    tie = compute_tie([], 0, AS_OF)
    assert comps(tie) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert tie.score == 0.0
    assert tie.stage is Stage.NONE
    assert tie.components.days_since_last is None
    assert tie.first_at is None
    assert tie.last_at is None


def test_continuity_counts_months_seasons_and_span() -> None:
    records = [rec(jst(2025, 5, 10), K.FARMING_EXPERIENCE), rec(jst(2025, 9, 20), K.FESTIVAL_EVENT)]
    c = compute_tie(records, 0, AS_OF).components
    assert (c.active_months, c.active_seasons, c.span_days) == (2, 2, 133)
    expected = ((1 - math.exp(-1 / 3)) + 1 / 3 + 133 / 365) / 3
    assert c.continuity == pytest.approx(expected)


def test_one_day_has_no_continuity() -> None:
    c = compute_tie([rec(jst(2025, 11, 1), K.VOLUNTEERING)], 0, AS_OF).components
    assert c.continuity == 0.0
    assert c.frequency == pytest.approx(1 - math.exp(-1 / 8))


def test_year_window_and_continuity_window_edges() -> None:
    # 364 JST days before as_of's date is inside the year; 365 is outside it but inside 730.
    inside = AS_OF - 364 * DAY
    outside = AS_OF - 365 * DAY
    tie_in = compute_tie([rec(inside, K.SIGHTSEEING)], 0, AS_OF)
    tie_out = compute_tie([rec(outside, K.SIGHTSEEING)], 0, AS_OF)
    assert tie_in.components.visit_days_in_window == 1
    assert tie_out.components.visit_days_in_window == 0
    assert tie_out.components.active_days_in_continuity_window == 1
    assert compute_tie([rec(AS_OF - 730 * DAY, K.SIGHTSEEING)], 0, AS_OF).components.active_months == 0


def test_diversity_counts_distinct_mlit_forms() -> None:
    kinds = [K.SIGHTSEEING, K.LOCAL_PURCHASE, K.FESTIVAL_EVENT, K.TELEWORK, K.VOLUNTEERING, K.FURUSATO_NOZEI]
    values = []
    for n in range(1, len(kinds) + 1):
        c = compute_tie([rec(jst(2025, 11, 1), k, activity_id=i) for i, k in enumerate(kinds[:n])], 0, AS_OF)
        values.append((c.components.distinct_types, c.components.diversity))
    assert values == [(1, 0.0), (1, 0.0), (2, 1 / 3), (3, 2 / 3), (4, 1.0), (5, 1.0)]


def test_type_entropy_is_shown_in_bits() -> None:
    records = [rec(jst(2025, 11, 1), K.SIGHTSEEING), rec(jst(2025, 11, 2), K.VOLUNTEERING, activity_id=1)]
    assert compute_tie(records, 0, AS_OF).components.type_entropy == pytest.approx(1.0)


def test_recency_halves_every_half_life() -> None:
    for days, expected in [(0, 1.0), (90, 0.5), (180, 0.25)]:
        tie = compute_tie([rec(AS_OF - days * DAY, K.SIGHTSEEING)], 0, AS_OF)
        assert tie.components.days_since_last == days
        assert tie.components.recency == pytest.approx(expected)


def test_intensity_counts_coins_earned_and_given() -> None:
    records = [rec(jst(2025, 11, 1), K.VOLUNTEERING, amount=2000)]
    earned_only = compute_tie(records, 0, AS_OF).components
    with_support = compute_tie(records, 1000, AS_OF).components
    assert earned_only.coins_earned == 2000
    assert with_support.coins_given == 1000
    assert earned_only.intensity == pytest.approx(1 - math.exp(-2000 / 3000))
    assert with_support.intensity == pytest.approx(1 - math.exp(-1))


def test_score_is_the_weighted_mean_of_the_shown_components() -> None:
    records = [rec(jst(2025, 5, 10), K.FARMING_EXPERIENCE), rec(jst(2025, 11, 20), K.REMOTE_PURCHASE)]
    tie = compute_tie(records, 50, AS_OF)
    weights = DEFAULT_PARAMS.weights
    assert tie.score == pytest.approx(100 * sum(w * c for w, c in zip(weights, comps(tie), strict=True)))


# --- counting rules: revoked, future, kin, non-visiting -------------------------------------


def test_revoked_records_are_excluded_but_counted_apart() -> None:
    good = [rec(jst(2025, 6, 1), K.SIGHTSEEING)]
    bad = [rec(jst(2025, 11, 1), K.VOLUNTEERING, amount=5000, activity_id=9, revoked=True)]
    base = compute_tie(good, 0, AS_OF)
    with_revoked = compute_tie(good + bad, 0, AS_OF)
    assert with_revoked.components == base.components
    assert with_revoked.stage is base.stage
    assert with_revoked.revoked_records == 1


def test_records_after_as_of_are_ignored() -> None:
    tie = compute_tie([rec(AS_OF + 1, K.SIGHTSEEING)], 0, AS_OF)
    assert tie.stage is Stage.NONE
    assert tie.last_at is None


def test_kin_visits_are_flagged_and_excluded_from_visit_days() -> None:
    records = [rec(jst(2025, 8, 13), K.KIN_VISIT), rec(jst(2025, 8, 14), K.KIN_VISIT, activity_id=1)]
    records.append(rec(jst(2025, 8, 14), K.SIGHTSEEING, activity_id=2))
    c = compute_tie(records, 0, AS_OF).components
    assert c.kin_records == 2
    assert c.kin_visit_days == 2
    assert c.visit_days_in_window == 1
    assert c.distinct_types == 1
    assert c.coins_earned == 100


def test_kin_only_tie_never_reaches_kankei_jinkou() -> None:
    # Home for Obon and New Year, every year, for two years: MLIT does not count this.
    days = [(2024, 1, 2), (2024, 8, 14), (2025, 1, 2), (2025, 8, 14), (2025, 11, 30)]
    records = [rec(jst(y, m, d), K.KIN_VISIT, amount=500, activity_id=i) for i, (y, m, d) in enumerate(days)]
    tie = compute_tie(records, 0, AS_OF)
    assert tie.stage is Stage.NONE
    assert tie.kin_only
    assert not is_kankei_jinkou(tie)
    assert comps(tie) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert tie.components.kin_records == 3


def test_non_visiting_records_count_as_such() -> None:
    tie = compute_tie([rec(jst(2025, 11, 1), K.FURUSATO_NOZEI, amount=300)], 0, AS_OF)
    c = tie.components
    assert (c.non_visiting_records, c.visit_days_in_window, c.active_days_in_window) == (1, 0, 1)
    assert c.distinct_types == 1
    assert c.frequency == 0.0
    assert c.intensity > 0.0
    assert tie.stage is Stage.VISITOR


def test_furusato_nozei_every_year_alone_is_a_repeater_not_kankei() -> None:
    # Seed deck: municipalities run programmes to turn donors *into* 関係人口 (関係人口化).
    records = [rec(jst(2024, 12, 20), K.FURUSATO_NOZEI), rec(jst(2025, 11, 25), K.FURUSATO_NOZEI, activity_id=1)]
    tie = compute_tie(records, 0, AS_OF)
    assert tie.criteria.continuous
    assert not tie.criteria.diverse_or_frequent
    assert tie.stage is Stage.REPEATER


def test_non_visiting_only_tie_can_be_kankei_jinkou() -> None:
    # A donor who also joins the region's online exchange (e.g. donor events) over months.
    records = [rec(jst(2025, 2, 10), K.FURUSATO_NOZEI), rec(jst(2025, 7, 5), K.ONLINE_EXCHANGE, activity_id=1)]
    tie = compute_tie(records, 0, AS_OF)
    assert tie.stage is Stage.KANKEI
    assert kankei_category(tie) == "non_visiting"


# --- stages ---------------------------------------------------------------------------------


def test_stage_none_when_nothing_in_the_year() -> None:
    assert compute_tie([rec(AS_OF - 400 * DAY, K.FESTIVAL_EVENT)], 0, AS_OF).stage is Stage.NONE


def test_stage_visitor_one_day() -> None:
    tie = compute_tie([rec(jst(2025, 11, 3), K.FESTIVAL_EVENT)], 0, AS_OF)
    assert tie.stage is Stage.VISITOR
    assert (tie.stage.ja, tie.stage.en) == ("来訪", "Visitor")


def test_stage_repeater_two_days() -> None:
    records = [rec(jst(2025, 11, 1), K.SIGHTSEEING), rec(jst(2025, 11, 2), K.SIGHTSEEING, activity_id=1)]
    assert compute_tie(records, 0, AS_OF).stage is Stage.REPEATER


def test_stage_repeater_when_returning_a_year_later_in_one_form() -> None:
    records = [rec(jst(2024, 10, 1), K.FESTIVAL_EVENT), rec(jst(2025, 10, 1), K.FESTIVAL_EVENT, activity_id=1)]
    tie = compute_tie(records, 0, AS_OF)
    assert tie.criteria.continuous
    assert tie.stage is Stage.REPEATER


def test_stage_kankei_continuous_and_diverse() -> None:
    records = [
        rec(jst(2025, 5, 10), K.FARMING_EXPERIENCE),
        rec(jst(2025, 8, 15), K.FESTIVAL_EVENT, activity_id=1),
        rec(jst(2025, 8, 15), K.LOCAL_PURCHASE, activity_id=2),
    ]
    tie = compute_tie(records, 0, AS_OF)
    assert tie.stage is Stage.KANKEI
    assert is_kankei_jinkou(tie)
    assert kankei_category(tie) == "visiting"
    assert not tie.criteria.recent


def test_stage_kankei_needs_a_span_of_90_days() -> None:
    records = [
        rec(jst(2025, 9, 1), K.FARMING_EXPERIENCE),
        rec(jst(2025, 10, 30), K.LOCAL_PURCHASE, activity_id=1),
    ]
    tie = compute_tie(records, 0, AS_OF)
    assert tie.components.active_months == 2
    assert not tie.criteria.continuous
    assert tie.stage is Stage.REPEATER


def test_stage_kankei_needs_two_months() -> None:
    kinds = [K.SIGHTSEEING, K.FESTIVAL_EVENT, K.TELEWORK, K.VOLUNTEERING]
    records = [rec(jst(2025, 11, 1 + i), k, activity_id=i) for i, k in enumerate(kinds)]
    tie = compute_tie(records, 0, AS_OF)
    assert tie.components.distinct_types == 4
    assert tie.stage is Stage.REPEATER


def test_stage_kankei_by_frequency_in_one_form() -> None:
    # A side job: 8 days between April and July, nothing else.
    records = [rec(jst(2025, 4 + i // 2, 1 + i), K.SIDE_JOB, activity_id=i) for i in range(8)]
    tie = compute_tie(records, 0, AS_OF)
    assert tie.components.visit_band == "8+"
    assert tie.stage is Stage.KANKEI
    # Recent but single-form and under 24 days: still not コア.
    tie_recent = compute_tie(records, 0, jst(2025, 8, 1))
    assert tie_recent.criteria.recent
    assert not tie_recent.criteria.deep
    assert tie_recent.stage is Stage.KANKEI


def _core_records() -> list[TieRecord]:
    dates = [(2025, m, 5) for m in range(4, 12)]  # 8 visit days, one a month, April-November
    records = [rec(jst(*d), K.VOLUNTEERING, activity_id=i) for i, d in enumerate(dates)]
    records.append(rec(jst(2025, 8, 5), K.FESTIVAL_EVENT, activity_id=99))
    return records


def test_stage_core_frequent_diverse_recent() -> None:
    tie = compute_tie(_core_records(), 0, AS_OF)
    assert tie.stage is Stage.CORE
    assert tie.criteria.deep
    assert tie.criteria.recent
    assert is_kankei_jinkou(tie)


def test_stage_core_falls_back_to_kankei_when_not_recent() -> None:
    tie = compute_tie(_core_records(), 0, AS_OF + 91 * DAY)
    assert tie.components.days_since_last == 117
    assert tie.stage is Stage.KANKEI


def test_stage_core_by_three_forms_or_24_days() -> None:
    forms = [K.SIGHTSEEING, K.FESTIVAL_EVENT, K.VOLUNTEERING]
    three = [rec(jst(2025, 3 + 3 * i, 10), k, activity_id=i) for i, k in enumerate(forms)]
    assert compute_tie(three, 0, AS_OF).stage is Stage.CORE  # last visit 2025-09-10: 82 days
    many = [rec(jst(2025, 6, 1) + i * 7 * DAY, K.TELEWORK, activity_id=i) for i in range(24)]
    tie = compute_tie(many, 0, AS_OF)
    assert tie.components.visit_days_in_window == 24
    assert tie.stage is Stage.CORE


def test_stage_order_and_labels() -> None:
    order = [Stage.NONE, Stage.VISITOR, Stage.REPEATER, Stage.KANKEI, Stage.CORE]
    assert [s.rank for s in order] == [0, 1, 2, 3, 4]
    assert [s.ja for s in order] == ["なし", "来訪", "リピーター", "関係人口", "コア"]
    assert all(s.en for s in order)
    assert Stage("kankei") is Stage.KANKEI


def test_kankei_category_none_below_kankei() -> None:
    assert kankei_category(compute_tie([rec(jst(2025, 11, 3), K.SIGHTSEEING)], 0, AS_OF)) is None


# --- documentation --------------------------------------------------------------------------


def test_every_param_is_documented_with_its_default() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for f in dataclasses.fields(TieParams):
        default = getattr(DEFAULT_PARAMS, f.name)
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        assert re.search(rf"`{f.name}`\s*\|\s*{re.escape(shown)}\s*\|", text), f.name


def test_every_stage_and_band_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for stage in Stage:
        assert stage.ja in text
        assert f"`{stage.value}`" in text
    for code in VISIT_BAND_LABELS:
        assert f"`{code}`" in text


def test_worked_example_in_the_docs() -> None:
    # The person of docs/ties.md "Worked example", as of 2025-12-01 12:00 JST.
    records = [
        rec(jst(2024, 12, 15), K.FURUSATO_NOZEI, amount=0, activity_id=1),
        rec(jst(2025, 5, 17), K.FARMING_EXPERIENCE, amount=300, activity_id=2),
        rec(jst(2025, 5, 18), K.SIGHTSEEING, amount=100, activity_id=3),
        rec(jst(2025, 8, 2), K.FESTIVAL_EVENT, amount=300, activity_id=4),
        rec(jst(2025, 8, 3), K.VOLUNTEERING, amount=1000, activity_id=5),
        rec(jst(2025, 8, 13), K.KIN_VISIT, amount=0, activity_id=6),
        rec(jst(2025, 10, 4), K.FARMING_EXPERIENCE, amount=300, activity_id=7, revoked=True),
        rec(jst(2025, 10, 5), K.VOLUNTEERING, amount=1000, activity_id=8),
    ]
    tie = compute_tie(records, 500, AS_OF)
    c = tie.components
    assert (c.active_months, c.active_seasons, c.span_days) == (4, 4, 294)
    assert (c.visit_days_in_window, c.visit_band, c.distinct_types) == (5, "2-7", 4)
    assert (c.days_since_last, c.coins_earned, c.coins_given) == (57, 2700, 500)
    assert (c.kin_records, c.non_visiting_records, tie.revoked_records) == (1, 1, 1)
    assert tuple(round(x, 3) for x in comps(tie)) == (0.813, 0.465, 1.0, 0.645, 0.656)
    assert round(tie.score, 1) == 72.2
    assert tie.stage is Stage.CORE
    # Six weeks on, nothing new: the donation leaves the year, the last visit is 97 days old.
    later = compute_tie(records, 500, jst(2026, 1, 10))
    assert (later.components.days_since_last, later.components.distinct_types) == (97, 3)
    assert later.stage is Stage.KANKEI


# --- properties -----------------------------------------------------------------------------

PROPERTY = settings(max_examples=120, deadline=None, database=None)
AS_OF_RANGE = (jst(2021, 1, 1), jst(2031, 1, 1))


@st.composite
def records_before(draw: st.DrawFn, as_of: int, *, max_size: int = 25) -> list[TieRecord]:
    offsets = st.integers(min_value=-3 * DAY, max_value=800 * DAY)
    # per record (unit 0, units 1), per hour or per day (units 1..14): every property holds for all
    terms = st.just((0, 1)) | st.tuples(st.sampled_from((1, 2)), st.integers(min_value=1, max_value=14))
    record = st.builds(
        lambda off, kind, amount, activity, revoked, unit_units: TieRecord(
            as_of - off, int(kind), amount, activity, revoked, unit_units[1], unit_units[0]
        ),
        offsets,
        st.sampled_from(list(K)),
        st.integers(min_value=0, max_value=5000),
        st.integers(min_value=0, max_value=40),
        st.booleans() | st.just(False),
        terms,
    )
    return draw(st.lists(record, max_size=max_size))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[TieRecord], int, int]:
    as_of = draw(st.integers(*AS_OF_RANGE))
    return draw(records_before(as_of)), draw(st.integers(min_value=0, max_value=20_000)), as_of


def non_revoked_record(as_of: int) -> st.SearchStrategy[TieRecord]:
    return st.builds(
        lambda off, kind, amount: TieRecord(as_of - off, int(kind), amount, 1000),
        st.integers(min_value=-DAY, max_value=800 * DAY),
        st.sampled_from(list(K)),
        st.integers(min_value=0, max_value=5000),
    )


def assert_all_at_least(bigger: Tie, smaller: Tie) -> None:
    for name, b, s in zip(COMPONENTS, comps(bigger), comps(smaller), strict=True):
        assert b >= s, name
    assert bigger.score >= smaller.score
    assert bigger.stage.rank >= smaller.stage.rank


@PROPERTY
@given(scenarios())
def test_components_and_score_are_bounded(scenario: tuple[list[TieRecord], int, int]) -> None:
    records, support, as_of = scenario
    tie = compute_tie(records, support, as_of)
    assert all(0.0 <= x <= 1.0 for x in comps(tie))
    assert 0.0 <= tie.score <= 100.0
    assert 0 <= tie.components.active_seasons <= 4
    assert 0 <= tie.components.distinct_types <= 5
    assert 0.0 <= tie.components.type_entropy <= math.log2(5) + 1e-9
    assert tie.components.visit_days_in_window <= tie.components.active_days_in_window <= 365
    if tie.kin_only:
        assert tie.stage is Stage.NONE


@PROPERTY
@given(scenarios())
def test_deterministic(scenario: tuple[list[TieRecord], int, int]) -> None:
    records, support, as_of = scenario
    assert compute_tie(records, support, as_of) == compute_tie(list(records), support, as_of)


@PROPERTY
@given(st.data())
def test_invariant_to_record_order(data: st.DataObject) -> None:
    records, support, as_of = data.draw(scenarios())
    shuffled = data.draw(st.permutations(records))
    assert compute_tie(shuffled, support, as_of) == compute_tie(records, support, as_of)


@PROPERTY
@given(st.data())
def test_adding_a_record_never_lowers_anything(data: st.DataObject) -> None:
    records, support, as_of = data.draw(scenarios())
    extra = data.draw(non_revoked_record(as_of))
    assert_all_at_least(compute_tie([*records, extra], support, as_of), compute_tie(records, support, as_of))


@PROPERTY
@given(st.data())
def test_revoking_a_record_never_raises_anything(data: st.DataObject) -> None:
    records, support, as_of = data.draw(scenarios())
    if not records:
        return
    i = data.draw(st.integers(min_value=0, max_value=len(records) - 1))
    revoked = [*records[:i], dataclasses.replace(records[i], revoked=True), *records[i + 1 :]]
    assert_all_at_least(compute_tie(records, support, as_of), compute_tie(revoked, support, as_of))


@PROPERTY
@given(scenarios(), st.integers(min_value=0, max_value=20_000))
def test_support_given_raises_only_intensity(scenario: tuple[list[TieRecord], int, int], more: int) -> None:
    records, support, as_of = scenario
    low = compute_tie(records, support, as_of)
    high = compute_tie(records, support + more, as_of)
    assert high.components.intensity >= low.components.intensity
    assert comps(high)[:4] == comps(low)[:4]
    assert high.stage is low.stage


def test_support_given_strictly_raises_unsaturated_intensity() -> None:
    assert compute_tie([], 100, AS_OF).components.intensity > compute_tie([], 0, AS_OF).components.intensity


@PROPERTY
@given(st.data())
def test_more_recent_last_activity_never_lowers_recency(data: st.DataObject) -> None:
    records, support, as_of = data.draw(scenarios())
    earlier = data.draw(st.integers(min_value=0, max_value=800 * DAY))
    later = data.draw(st.integers(min_value=0, max_value=earlier))
    kind = data.draw(st.sampled_from([k for k in K if mlit_type_of(k) is not MlitType.KIN]))
    old = compute_tie([*records, rec(as_of - earlier, kind)], support, as_of)
    new = compute_tie([*records, rec(as_of - later, kind)], support, as_of)
    assert new.components.recency >= old.components.recency


@PROPERTY
@given(st.data())
def test_kin_records_change_nothing_but_the_kin_figures(data: st.DataObject) -> None:
    records, support, as_of = data.draw(scenarios())
    offsets = data.draw(st.lists(st.integers(min_value=0, max_value=800 * DAY), min_size=1, max_size=10))
    kin = [rec(as_of - off, K.KIN_VISIT, amount=500, activity_id=500 + i) for i, off in enumerate(offsets)]
    base = compute_tie(records, support, as_of)
    with_kin = compute_tie([*records, *kin], support, as_of)
    assert comps(with_kin) == comps(base)
    assert with_kin.score == base.score
    assert with_kin.stage is base.stage
    assert with_kin.components.kin_records >= base.components.kin_records


@PROPERTY
@given(scenarios())
def test_stage_follows_its_criteria(scenario: tuple[list[TieRecord], int, int]) -> None:
    records, support, as_of = scenario
    tie = compute_tie(records, support, as_of)
    k = tie.criteria
    assert is_kankei_jinkou(tie) == (k.active and k.continuous and k.diverse_or_frequent)
    assert (tie.stage is Stage.CORE) == (is_kankei_jinkou(tie) and k.recent and k.deep)
    assert (tie.stage is Stage.NONE) == (not k.active)


# --- units: stays of N days, hours of help --------------------------------------------------------


def stay(ts: int, days: int, kind: K = K.TELEWORK, amount: int = 600) -> TieRecord:
    return TieRecord(ts, int(kind), amount, 900, units=days, unit=2)


def hours(ts: int, n: int, amount: int = 0) -> TieRecord:
    return TieRecord(ts, int(K.VOLUNTEERING), amount, 901, units=n, unit=1)


def test_a_stay_of_n_days_counts_n_visit_days_ending_on_its_record_day() -> None:
    tie = compute_tie([stay(jst(2025, 11, 20), 4)], 0, AS_OF)
    c = tie.components
    assert (c.visit_days_in_window, c.stay_days, c.visit_band) == (4, 4, "2-7")
    assert tie.stage is Stage.REPEATER  # four days, one visit: a repeater by MLIT's days, not a visitor
    # the same days as four one-day visits on 17..20 November
    visits = [rec(jst(2025, 11, d), K.TELEWORK, activity_id=d) for d in range(17, 21)]
    assert compute_tie(visits, 0, AS_OF).components.visit_days_in_window == 4


def test_a_stay_and_visits_on_the_same_days_are_not_counted_twice() -> None:
    both = compute_tie([stay(jst(2025, 11, 20), 3), rec(jst(2025, 11, 19), K.SIGHTSEEING)], 0, AS_OF)
    assert (both.components.visit_days_in_window, both.components.stay_days) == (3, 3)


def test_only_the_days_of_a_stay_inside_the_year_count() -> None:
    # recorded on the window's first day: its three days reach two days before the window
    first = AS_OF - 364 * DAY
    c = compute_tie([stay(first, 3)], 0, AS_OF).components
    assert (c.visit_days_in_window, c.stay_days) == (1, 1)


def test_hours_of_help_are_one_day_and_feed_intensity() -> None:
    tie = compute_tie([hours(jst(2025, 11, 20), 3)], 0, AS_OF)
    c = tie.components
    assert (c.visit_days_in_window, c.help_hours) == (1, 3)
    # three hours weigh at least 3 × intensity_coins_per_hour, even when the coins were fewer
    assert (
        c.intensity == compute_tie([rec(jst(2025, 11, 20), K.VOLUNTEERING, amount=3000)], 0, AS_OF).components.intensity
    )
    assert c.intensity > compute_tie([hours(jst(2025, 11, 20), 1)], 0, AS_OF).components.intensity


def test_units_are_validated() -> None:
    with pytest.raises(ValueError, match="units"):
        TieRecord(AS_OF, int(K.TELEWORK), 1, 1, units=0, unit=2)
    with pytest.raises(ValueError, match="unit"):
        TieRecord(AS_OF, int(K.TELEWORK), 1, 1, units=1, unit=3)


@PROPERTY
@given(st.data())
def test_a_longer_stay_never_lowers_anything(data: st.DataObject) -> None:
    records, support, as_of = data.draw(scenarios())
    offset = data.draw(st.integers(min_value=0, max_value=800 * DAY))
    days = data.draw(st.integers(min_value=1, max_value=13))
    kind = data.draw(st.sampled_from([k for k in K if 1 <= int(mlit_type_of(k)) <= 4]))
    shorter = compute_tie([*records, stay(as_of - offset, days, kind)], support, as_of)
    longer = compute_tie([*records, stay(as_of - offset, days + 1, kind)], support, as_of)
    assert_all_at_least(longer, shorter)
    assert longer.components.visit_days_in_window >= shorter.components.visit_days_in_window
    assert longer.components.stay_days >= shorter.components.stay_days


@PROPERTY
@given(st.data())
def test_more_hours_never_lower_anything(data: st.DataObject) -> None:
    records, support, as_of = data.draw(scenarios())
    offset = data.draw(st.integers(min_value=0, max_value=800 * DAY))
    n = data.draw(st.integers(min_value=1, max_value=11))
    fewer = compute_tie([*records, hours(as_of - offset, n)], support, as_of)
    more = compute_tie([*records, hours(as_of - offset, n + 1)], support, as_of)
    assert_all_at_least(more, fewer)
    assert more.components.help_hours >= fewer.components.help_hours


# --- what changes with the calendar alone (next_change, tie_reading; docs/decisions/0016) ----------


@st.composite
def stored_scenarios(draw: st.DrawFn) -> tuple[list[TieRecord], list[tuple[int, int]], int]:
    """Records and supports up to the end of a JST day, as the indexer holds them for its head."""
    as_of = jst_day_end(jst_date(draw(st.integers(*AS_OF_RANGE))))
    records = [r for r in draw(records_before(as_of)) if r.timestamp <= as_of]
    supports = draw(
        st.lists(
            st.tuples(st.integers(min_value=0, max_value=800 * DAY), st.integers(min_value=1, max_value=3000)),
            max_size=4,
        )
    )
    return records, [(as_of - off, amount) for off, amount in supports], as_of


def stored_columns(records: list[TieRecord], supports: list[tuple[int, int]], as_of: int) -> dict[str, Any]:
    tie = compute_tie(records, given_in_window(supports, as_of, DEFAULT_PARAMS), as_of)
    return tie_columns(tie, records, as_of)


@settings(max_examples=150, deadline=None, database=None)
@given(stored_scenarios())
def test_stored_figures_hold_until_next_change(scenario: tuple[list[TieRecord], list[tuple[int, int]], int]) -> None:
    records, supports, as_of = scenario
    changes = next_change(records, (t for t, _ in supports), as_of)
    assert changes > as_of and (changes - as_of) % DAY == 0  # the end of a later JST day
    # never beyond the first day of the next month: the tie gets a new month row then
    assert month_of(changes) == next_month_key(month_of(as_of)) or month_of(changes) == month_of(as_of)
    first = stored_columns(records, supports, as_of)  # what the index stores: no recency, no score
    for day in range(as_of + DAY, changes, DAY):
        assert stored_columns(records, supports, day) == first, jst_date(day)
        # read on a later day, the stored row gives the model's recency and score exactly
        tie = compute_tie(records, given_in_window(supports, day, DEFAULT_PARAMS), day)
        reading = tie_reading(
            first["last_at"],
            first["continuity"],
            first["frequency"],
            first["diversity"],
            first["intensity"],
            day,
        )
        assert reading == (tie.components.recency, tie.score)


@settings(max_examples=150, deadline=None, database=None)
@given(stored_scenarios())
def test_next_change_is_where_a_window_or_the_month_turns(
    scenario: tuple[list[TieRecord], list[tuple[int, int]], int],
) -> None:
    """next_change is a day some input crosses a boundary: a covered day (or record, or support)
    leaving the year or the continuity window, the last record turning 91 days old, or a new month."""
    records, supports, as_of = scenario
    day = epoch_day(next_change(records, (t for t, _ in supports), as_of))
    live = [r for r in records if not r.revoked]
    counted = [r for r in live if mlit_type_of(r.kind) is not MlitType.KIN]
    boundaries = {epoch_day(jst_day_start(month_first(next_month_key(month_of(as_of)))))}
    for r in live:
        end = epoch_day(r.timestamp)
        covered = range(end - r.days + 1, end + 1) if r in counted else range(end, end + 1)
        boundaries |= {d + 365 for d in covered} | ({d + 730 for d in covered} if r in counted else set())
    boundaries |= {epoch_day(t) + 365 for t, _ in supports}
    if counted:
        boundaries.add(max(epoch_day(r.timestamp) for r in counted) + 91)
    assert day in boundaries


@settings(max_examples=150, deadline=None, database=None)
@given(stored_scenarios(), st.integers(min_value=0, max_value=400))
def test_the_month_turn_and_steady_until_make_next_change(
    scenario: tuple[list[TieRecord], list[tuple[int, int]], int], later_days: int
) -> None:
    """The refresher stores ``steady_until`` (next_change without the month's turn) and takes
    ``next_change`` as the earlier of it and the turn (next_change of no records); it carries a tie
    over a turn on the promise that ``steady_until`` is the same computed on any later day before it
    (FAR_DAY when nothing is left to leave a window)."""
    records, supports, as_of = scenario
    times = [t for t, _ in supports]
    steady = next_change(records, times, as_of, new_month=False)
    assert next_change(records, times, as_of) == min(steady, next_change((), (), as_of))
    later = as_of + later_days * DAY
    if later < steady and all(r.timestamp <= as_of for r in records) and all(t <= as_of for t in times):
        assert next_change(records, times, later, new_month=False) == steady


@settings(max_examples=150, deadline=None, database=None)
@given(st.data())
def test_step_figures_are_compute_tie_at_every_moment(data: st.DataObject) -> None:
    """step_figures_at skips the model between moments where nothing can change (no record made,
    no window crossed): what it gives must be what compute_tie gives at each moment, records after
    some moments included (a tie's month rows span its whole history)."""
    as_of = jst_day_end(jst_date(data.draw(st.integers(*AS_OF_RANGE))))
    records = data.draw(records_before(as_of))
    days = data.draw(st.lists(st.integers(min_value=-900, max_value=30), min_size=1, max_size=30, unique=True))
    moments = sorted(as_of + day * DAY for day in days)
    figures = step_figures_at(records, moments)
    for moment, got in zip(moments, figures, strict=True):
        tie = compute_tie(records, 0, moment)
        assert got.stage is tie.stage, jst_date(moment)
        assert got.kankei == is_kankei_jinkou(tie)
        assert got.category == kankei_category(tie)
        assert got.visit_band == tie.components.visit_band


def test_step_figures_compute_once_while_nothing_can_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """One visit on 2025-01-10: the stage may change when it is 91 days old (コア needs recency)
    and when it leaves the year; the month ends in between reuse the first computation."""
    import ledger.ties as ties_module

    records = [rec(jst(2025, 1, 10), K.SIGHTSEEING)]
    month_ends = [jst_day_end(month_first(next_month_key(202500 + m)) - timedelta(days=1)) for m in range(1, 13)]
    moments: list[int] = []

    def counting(records: list[TieRecord], support: int, as_of: int, params: TieParams = DEFAULT_PARAMS) -> Tie:
        moments.append(as_of)
        return compute_tie(records, support, as_of, params)

    monkeypatch.setattr(ties_module, "compute_tie", counting)
    figures = step_figures_at(records, month_ends)
    assert [f.stage for f in figures] == [Stage.VISITOR] * 12
    # January's end, then April's end (the visit turned 91 days old on 2025-04-11): nothing else
    assert [jst_date(m).isoformat() for m in moments] == ["2025-01-31", "2025-04-30"]


def test_a_tie_read_on_a_later_day_decays_without_being_recomputed() -> None:
    as_of = jst_day_end(jst_date(jst(2025, 6, 10)))
    records = [rec(jst(2025, 6, 1), K.VOLUNTEERING), rec(jst(2025, 6, 8), K.FURUSATO_NOZEI)]
    stored = stored_columns(records, [], as_of)
    later = as_of + 10 * DAY
    assert next_change(records, [], as_of) > later  # nothing stored changes by then
    recency, score = tie_reading(
        stored["last_at"], stored["continuity"], stored["frequency"], stored["diversity"], stored["intensity"], later
    )
    tie = compute_tie(records, 0, later)
    assert (recency, score) == (tie.components.recency, tie.score)
    assert recency == 0.5 ** (12 / DEFAULT_PARAMS.recency_half_life_days)
    # the last record turns 91 days old on 2025-09-07: the stage may leave コア then
    assert jst_date(next_change(records, [], jst_day_end(jst_date(jst(2025, 9, 1))))).isoformat() == "2025-09-07"
    # a month with nothing leaving any window still ends: the tie gets its next month's row
    assert jst_date(next_change(records, [], jst_day_end(jst_date(jst(2025, 9, 7))))).isoformat() == "2025-10-01"
