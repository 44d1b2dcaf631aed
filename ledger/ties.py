"""The ties model: how a person is tied to one region, computed from their contribution records.

Pure functions, no I/O. The formulas, constants and their sources are stated in ``docs/ties.md``;
this docstring records the decisions a reader of the code needs.

Basis. 関係人口 is 「特定の地域に継続的に多様な形で関わる者」 (第2期「まち・ひと・しごと創生総合戦略」,
quoted in the seed deck). The model therefore measures *continuity* and *diversity* first, then
*frequency* in MLIT's annual visit-day bands, *recency* and *intensity*. Types come from
:mod:`ledger.taxonomy` (MLIT's typology).

Decisions.

- Calendar. Days, months and seasons are Japan time (UTC+9, a fixed offset: Japan has no DST).
  Seasons are the Japan Meteorological Agency's: 春 3-5月, 夏 6-8月, 秋 9-11月, 冬 12-2月.
- What is counted. Records stamped after ``as_of`` are ignored (not yet known at ``as_of``).
  Revoked records are ignored everywhere and only counted in ``Tie.revoked_records``.
- 地縁・血縁. Kin records (family / hometown visits) are set aside, as MLIT sets them aside from
  訪問系: they feed no component and no stage rule, and are shown as ``kin_records`` and
  ``kin_visit_days`` so nobody wonders where they went. A kin-only tie is stage ``NONE``.
- 非訪問系. ふるさと納税, remote purchases and online exchange count for continuity, diversity (as
  one MLIT type), recency and intensity, never for visit days.
- Two trailing windows, both whole JST calendar days ending on ``as_of``'s date: the *year*
  (``window_days`` = 365; visit days, types, coins) because MLIT's bands are per year, and the
  *continuity window* (``continuity_window_days`` = 730) because a tie renewed once a year (the
  May 田植え, the December ふるさと納税) is the archetype of 継続的 and a one-year window cannot see
  it. Recency looks at the last record of any age.
- Monotonicity. Every component is a non-decreasing function of the set of counted records, so
  adding a record never lowers a component, the score or the stage, and revoking one never raises
  them. This is why diversity uses the count of distinct types: entropy (``type_entropy``) is
  shown but would *fall* when someone repeats their main activity, punishing continuity.
- Duplicates are not merged: the chain allows one record per person per activity, and the
  indexer keys rows by log, so the model takes its input as given.
- ``support_given`` (coins spent on 応援) has no timestamp here; the caller passes the sum for the
  same trailing year. It feeds intensity only.
- Units (ledger v2). A record of an activity rewarded per day (a telework stay, 二地域居住) with N
  units stands for a stay of N days ending on the record's day (the stay is recorded at its end):
  each of those days is an active day and, for a 訪問系 kind, a visit day — MLIT counts visit days.
  A record rewarded per hour is one day; its hours feed intensity at ``intensity_coins_per_hour``
  (actcoin's 1,000 coins an hour), or its coins if those are more, so a region that pays nothing
  per hour still sees the hours. Both only add days, hours or coins: monotonicity holds.
- No incremental state object: ``compute_tie`` runs over a person's records for one region in
  well under a millisecond for ~100 records, so the indexer recomputes a row when it changes.
- What changes with the calendar alone. Recency (and so the score) decays every day; every other
  figure is a step function of ``as_of``: it changes only on a day when a record's day (or a stay's
  covered day, or a support) leaves the year or the continuity window, when the last record stops
  being recent (``core_max_days_since_last``), or in a new month. :func:`next_change` names the
  first such day, so the indexer recomputes a tie only then (docs/decisions/0016); the recency and
  the score are computed when read, with :func:`recency_of` and :func:`tie_score` — the same two
  functions ``compute_tie`` uses, so the figures have one definition.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from ledger.jst import (
    JST,
    JST_OFFSET_SECONDS,
    SECONDS_PER_DAY,
    date_of,
    date_of_epoch_day,
    epoch_day,
    epoch_day_of_date,
    month_first_day,
    month_key_of_date,
    next_month,
)
from ledger.taxonomy import MlitType, is_visiting, mlit_type_of

__all__ = [
    "DEFAULT_PARAMS",
    "JST",
    "JST_OFFSET_SECONDS",
    "MAX_TIMESTAMP",
    "VISIT_BAND_LABELS",
    "Season",
    "Stage",
    "StageCriteria",
    "StepFigures",
    "Tie",
    "TieComponents",
    "TieParams",
    "TieRecord",
    "compute_tie",
    "fine_visit_band",
    "is_kankei_jinkou",
    "jst_date",
    "kankei_category",
    "next_change",
    "FAR_DAY",
    "recency_of",
    "season_of_month",
    "step_figures_at",
    "tie_reading",
    "tie_score",
    "visit_band",
]

# JST, JST_OFFSET_SECONDS and SECONDS_PER_DAY are ledger.jst's (the one calendar), importable here too.
# The last second whose JST date ``datetime.date`` can still represent (9999-12-31 23:59:59 JST).
MAX_TIMESTAMP = 253_402_300_799 - JST_OFFSET_SECONDS
_MLIT_FORMS = 5  # MLIT's four 訪問系 types plus 非訪問系; 地縁・血縁 is not a form of 関係人口
_UNIT_RECORD, _UNIT_HOUR, _UNIT_DAY = 0, 1, 2  # ledger.taxonomy.RewardUnit


# ---------------------------------------------------------------------------------------------
# Calendar
# ---------------------------------------------------------------------------------------------


class Season(StrEnum):
    """JMA's seasons (気象庁「季節に関する用語」): three whole months each."""

    SPRING = "spring"  # 春 3-5月
    SUMMER = "summer"  # 夏 6-8月
    AUTUMN = "autumn"  # 秋 9-11月
    WINTER = "winter"  # 冬 12-2月


_SEASON_BY_MONTH: dict[int, Season] = {
    **dict.fromkeys((3, 4, 5), Season.SPRING),
    **dict.fromkeys((6, 7, 8), Season.SUMMER),
    **dict.fromkeys((9, 10, 11), Season.AUTUMN),
    **dict.fromkeys((12, 1, 2), Season.WINTER),
}


def season_of_month(month: int) -> Season:
    """The JMA season of a calendar month (1-12)."""
    try:
        return _SEASON_BY_MONTH[month]
    except KeyError:
        raise ValueError(f"month must be 1-12, got {month}") from None


def _check_timestamp(name: str, value: int) -> None:
    if not 0 <= value <= MAX_TIMESTAMP:
        raise ValueError(f"{name} must be unix seconds in [0, {MAX_TIMESTAMP}], got {value}")


_jst_day = epoch_day  # days since 1970-01-01 in Japan time: the key for "distinct calendar days"


def jst_date(timestamp: int) -> date:
    """The Japan-time calendar date of a unix timestamp (:func:`ledger.jst.date_of`), refusing a
    timestamp outside [0, MAX_TIMESTAMP]."""
    _check_timestamp("timestamp", timestamp)
    return date_of(timestamp)


# ---------------------------------------------------------------------------------------------
# Visit-day bands
# ---------------------------------------------------------------------------------------------

# MLIT reports annual visit days in bands; the brief cites the 2-7 band as modal (≈49%) and
# 就労型 as mostly 8+. "0" is ours (no visit in the year); "8-23" / "24+" split MLIT's 8+ at
# 24 days, i.e. two days a month, and are our refinement, not MLIT's.
VISIT_BAND_LABELS: dict[str, tuple[str, str]] = {
    "0": ("訪問なし", "No visit"),
    "1": ("1日", "1 day"),
    "2-7": ("2〜7日", "2-7 days"),
    "8+": ("8日以上", "8 days or more"),
    "8-23": ("8〜23日", "8-23 days"),
    "24+": ("24日以上", "24 days or more"),
}


def visit_band(visit_days: int) -> str:
    """MLIT-comparable band code of annual visit days: ``"0"``, ``"1"``, ``"2-7"`` or ``"8+"``."""
    if visit_days < 0:
        raise ValueError(f"visit_days must be >= 0, got {visit_days}")
    if visit_days == 0:
        return "0"
    if visit_days == 1:
        return "1"
    if visit_days <= 7:
        return "2-7"
    return "8+"


def fine_visit_band(visit_days: int) -> str:
    """Like :func:`visit_band` but with 8+ split into ``"8-23"`` and ``"24+"`` (our refinement)."""
    band = visit_band(visit_days)
    if band != "8+":
        return band
    return "8-23" if visit_days < 24 else "24+"


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TieRecord:
    """One contribution record of a person in a region, as indexed from the chain.

    ``kind`` is the on-chain :class:`~ledger.taxonomy.ContributionKind` code, ``amount`` the coins
    earned by it, ``timestamp`` unix seconds (UTC).
    """

    timestamp: int
    kind: int
    amount: int
    activity_id: int
    revoked: bool = False
    units: int = 1  # hours or days (1 for a visit or an event)
    unit: int = 0  # RewardUnit: 0 per record, 1 per hour, 2 per day

    def __post_init__(self) -> None:
        _check_timestamp("timestamp", self.timestamp)
        mlit_type_of(self.kind)  # ValueError for a kind the taxonomy does not know
        if self.amount < 0:
            raise ValueError(f"amount must be >= 0, got {self.amount}")
        if self.units < 1:
            raise ValueError(f"units must be >= 1, got {self.units}")
        if self.unit not in (_UNIT_RECORD, _UNIT_HOUR, _UNIT_DAY):
            raise ValueError(f"unit must be 0, 1 or 2, got {self.unit}")

    @property
    def days(self) -> int:
        """Calendar days the record stands for: its units for a per-day activity, else 1."""
        return self.units if self.unit == _UNIT_DAY else 1


@dataclass(frozen=True, slots=True)
class TieParams:
    """Every constant of the model; the defaults are argued in ``docs/ties.md``."""

    # Windows (whole JST calendar days ending on as_of's date)
    window_days: int = 365
    continuity_window_days: int = 730
    # Component transforms
    continuity_month_scale: float = 3.0  # months beyond the first, per e-fold
    continuity_full_span_days: int = 365  # span that counts as fully continuous
    frequency_scale_days: float = 8.0  # visit days per e-fold: MLIT's 8+ band maps to 1 - 1/e
    diversity_full_types: int = 4  # distinct MLIT forms that count as fully diverse
    recency_half_life_days: float = 90.0  # まちのコイン's shorter coin expiry
    intensity_scale_coins: float = 3000.0  # ≈ 3 hours of volunteering at actcoin's 1,000/h
    intensity_coins_per_hour: float = 1000.0  # an hour of help weighs at least this (actcoin's rate)
    support_weight: float = 1.0  # a coin given in 応援 counts as much as a coin earned
    # Score weights (normalised by their sum)
    weight_continuity: float = 0.30
    weight_frequency: float = 0.25
    weight_diversity: float = 0.20
    weight_recency: float = 0.15
    weight_intensity: float = 0.10
    # Stage thresholds
    repeater_min_active_days: int = 2
    kankei_min_active_months: int = 2
    kankei_min_span_days: int = 90
    kankei_min_types: int = 2
    kankei_min_visit_days: int = 8
    kankei_min_non_visiting_kinds: int = 2
    core_max_days_since_last: int = 90
    core_min_visit_days: int = 8
    core_min_types_with_visits: int = 2
    core_min_visit_days_alone: int = 24
    core_min_types_alone: int = 3

    def __post_init__(self) -> None:
        if self.window_days < 1:
            raise ValueError("window_days must be >= 1")
        if self.continuity_window_days < self.window_days:
            raise ValueError("continuity_window_days must be >= window_days")
        positive = {
            "continuity_month_scale": self.continuity_month_scale,
            "continuity_full_span_days": self.continuity_full_span_days,
            "frequency_scale_days": self.frequency_scale_days,
            "recency_half_life_days": self.recency_half_life_days,
            "intensity_scale_coins": self.intensity_scale_coins,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.diversity_full_types < 2:
            raise ValueError("diversity_full_types must be >= 2")
        if self.support_weight < 0:
            raise ValueError("support_weight must be >= 0")
        if self.intensity_coins_per_hour < 0:
            raise ValueError("intensity_coins_per_hour must be >= 0")
        weights = self.weights
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError("score weights must be >= 0 with a positive sum")

    @property
    def weights(self) -> tuple[float, float, float, float, float]:
        """Score weights in component order: continuity, frequency, diversity, recency, intensity."""
        return (
            self.weight_continuity,
            self.weight_frequency,
            self.weight_diversity,
            self.weight_recency,
            self.weight_intensity,
        )


DEFAULT_PARAMS = TieParams()


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


class Stage(StrEnum):
    """Where a tie stands; the value is a stable code, ``ja`` / ``en`` are the labels shown."""

    NONE = "none"
    VISITOR = "visitor"
    REPEATER = "repeater"
    KANKEI = "kankei"
    CORE = "core"

    @property
    def ja(self) -> str:
        return _STAGE_LABELS[self][0]

    @property
    def en(self) -> str:
        return _STAGE_LABELS[self][1]

    @property
    def rank(self) -> int:
        """0 (NONE) to 4 (CORE): stages are ordered."""
        return _STAGE_ORDER.index(self)


_STAGE_LABELS: dict[Stage, tuple[str, str]] = {
    Stage.NONE: ("なし", "No current tie"),
    Stage.VISITOR: ("来訪", "Visitor"),
    Stage.REPEATER: ("リピーター", "Repeater"),
    Stage.KANKEI: ("関係人口", "Kankei jinkou (tied person)"),
    Stage.CORE: ("コア", "Core"),
}
_STAGE_ORDER: tuple[Stage, ...] = (
    Stage.NONE,
    Stage.VISITOR,
    Stage.REPEATER,
    Stage.KANKEI,
    Stage.CORE,
)


@dataclass(frozen=True, slots=True)
class TieComponents:
    """The five components (each in [0, 1]) and the raw figures behind them.

    "Window" is the trailing year (``window_days``), "continuity window" the longer one.
    Kin (地縁・血縁) records are excluded from every figure except ``kin_*``.
    """

    continuity: float
    frequency: float
    diversity: float
    recency: float
    intensity: float
    # continuity (continuity window)
    active_months: int  # distinct JST (year, month)
    active_seasons: int  # distinct JMA seasons, 0-4
    span_days: int  # JST days from first to last record in the continuity window
    active_days_in_continuity_window: int
    # frequency (window)
    visit_days_in_window: int  # distinct JST dates with a 訪問系 record
    visit_band: str  # MLIT-comparable band code, see visit_band()
    active_days_in_window: int  # distinct JST dates with any non-kin record
    # diversity (window)
    distinct_types: int  # distinct MLIT forms, 0-5 (非訪問系 is one)
    type_entropy: float  # Shannon entropy in bits of records over types; shown, not scored
    non_visiting_kinds: int  # distinct 非訪問系 kinds (ふるさと納税, purchase, online)
    # recency (all time up to as_of)
    days_since_last: int | None  # JST days from the last non-kin record to as_of
    # intensity (window)
    coins_earned: int
    coins_given: int
    # shown for transparency (window)
    non_visiting_records: int
    kin_records: int
    kin_visit_days: int
    activities_in_window: int  # distinct activity ids
    help_hours: int = 0  # hours of per-hour records in the window
    stay_days: int = 0  # distinct days covered by per-day records in the window

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        """The five components in score-weight order."""
        return (self.continuity, self.frequency, self.diversity, self.recency, self.intensity)


@dataclass(frozen=True, slots=True)
class StageCriteria:
    """The yes/no tests the stage is derived from, so a page can say *why* a tie is where it is."""

    active: bool  # any non-kin record in the window                          → 来訪
    returning: bool  # active on enough distinct days in the continuity window   → リピーター
    continuous: bool  # 継続的: enough distinct months and a long enough span
    diverse_or_frequent: bool  # 多様な形で (types, non-visiting kinds) or frequent visits
    recent: bool  # last record recent enough for コア
    deep: bool  # frequent and diverse, very frequent, or very diverse      → コア


@dataclass(frozen=True, slots=True)
class Tie:
    """A person×region tie as of ``as_of``: components, score, stage, and why."""

    components: TieComponents
    score: float  # 0-100, the weighted mean of the components; never shown without them
    stage: Stage
    criteria: StageCriteria
    first_at: int | None  # first non-kin record up to as_of (unix seconds)
    last_at: int | None  # last non-kin record up to as_of
    as_of: int
    revoked_records: int  # revoked records up to as_of, ignored by the model

    @property
    def kin_only(self) -> bool:
        """Only 地縁・血縁 records in the window: MLIT would not count this person."""
        return self.components.kin_records > 0 and self.components.active_days_in_window == 0


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


def _saturate(x: float, scale: float) -> float:
    """1 - exp(-x / scale): 0 at 0, 1 - 1/e at ``scale``, approaching 1."""
    return -math.expm1(-x / scale) if x > 0 else 0.0


def _entropy_bits(counts: Counter[MlitType]) -> float:
    total = sum(counts.values())
    if total == 0:
        return 0.0
    # Sorted so that the float sum does not depend on record order.
    return sum((n / total) * math.log2(total / n) for _, n in sorted(counts.items()) if n > 0)


def compute_tie(
    records: Iterable[TieRecord],
    support_given: int,
    as_of: int,
    params: TieParams = DEFAULT_PARAMS,
) -> Tie:
    """The tie of one person with one region as of ``as_of`` (unix seconds).

    ``records`` are that person's records in that region (any order, revoked ones included or
    not); ``support_given`` the coins they spent supporting the region's projects over the
    trailing year.
    """
    if support_given < 0:
        raise ValueError(f"support_given must be >= 0, got {support_given}")
    _check_timestamp("as_of", as_of)
    today = _jst_day(as_of)

    revoked = 0
    first_at: int | None = None
    last_at: int | None = None
    # continuity window
    months: set[tuple[int, int]] = set()
    seasons: set[Season] = set()
    cont_days: set[int] = set()
    # window (year)
    year_days: set[int] = set()
    visit_days: set[int] = set()
    kin_days: set[int] = set()
    type_counts: Counter[MlitType] = Counter()
    non_visiting_kinds: set[int] = set()
    activities: set[int] = set()
    coins_earned = 0
    intensity_coins = 0.0
    help_hours = 0
    stay_days: set[int] = set()
    non_visiting_records = 0
    kin_records = 0

    for record in records:
        if record.timestamp > as_of:
            continue
        if record.revoked:
            revoked += 1
            continue
        day = _jst_day(record.timestamp)
        age = today - day
        covered = range(day - record.days + 1, day + 1)  # a stay's days end on the record's day
        mlit_type = mlit_type_of(record.kind)
        if mlit_type is MlitType.KIN:
            if age < params.window_days:
                kin_records += 1
                kin_days.update(d for d in covered if today - d < params.window_days)
            continue

        start = record.timestamp - (record.days - 1) * SECONDS_PER_DAY
        if first_at is None or start < first_at:
            first_at = max(start, 0)
        if last_at is None or record.timestamp > last_at:
            last_at = record.timestamp

        visiting = is_visiting(record.kind)
        for d in covered:
            if today - d < params.continuity_window_days and d not in cont_days and d >= 0:
                cont_days.add(d)
                c = date_of_epoch_day(d)
                months.add((c.year, c.month))
                seasons.add(_SEASON_BY_MONTH[c.month])
            if today - d < params.window_days and d >= 0:
                year_days.add(d)
                if visiting:
                    visit_days.add(d)
                if record.unit == _UNIT_DAY:
                    stay_days.add(d)
        if age < params.window_days:
            type_counts[mlit_type] += 1
            activities.add(record.activity_id)
            coins_earned += record.amount
            if record.unit == _UNIT_HOUR:
                help_hours += record.units
                intensity_coins += max(record.amount, record.units * params.intensity_coins_per_hour)
            else:
                intensity_coins += record.amount
            if not visiting:
                non_visiting_records += 1
                non_visiting_kinds.add(record.kind)

    span_days = max(cont_days) - min(cont_days) if cont_days else 0
    days_since_last = _days_since(last_at, as_of)
    distinct_types = len(type_counts)

    continuity = (
        _saturate(len(months) - 1, params.continuity_month_scale)
        + max(len(seasons) - 1, 0) / 3
        + min(span_days / params.continuity_full_span_days, 1.0)
    ) / 3
    frequency = _saturate(len(visit_days), params.frequency_scale_days)
    diversity = min(max(distinct_types - 1, 0) / (params.diversity_full_types - 1), 1.0)
    recency = recency_of(days_since_last, params)
    intensity = _saturate(intensity_coins + params.support_weight * support_given, params.intensity_scale_coins)

    components = TieComponents(
        continuity=continuity,
        frequency=frequency,
        diversity=diversity,
        recency=recency,
        intensity=intensity,
        active_months=len(months),
        active_seasons=len(seasons),
        span_days=span_days,
        active_days_in_continuity_window=len(cont_days),
        visit_days_in_window=len(visit_days),
        visit_band=visit_band(len(visit_days)),
        active_days_in_window=len(year_days),
        distinct_types=distinct_types,
        type_entropy=_entropy_bits(type_counts),
        non_visiting_kinds=len(non_visiting_kinds),
        days_since_last=days_since_last,
        coins_earned=coins_earned,
        coins_given=support_given,
        non_visiting_records=non_visiting_records,
        kin_records=kin_records,
        kin_visit_days=len(kin_days),
        activities_in_window=len(activities),
        help_hours=help_hours,
        stay_days=len(stay_days),
    )
    criteria = _criteria(components, params)
    return Tie(
        components=components,
        score=tie_score(components.as_tuple(), params),
        stage=_stage(criteria),
        criteria=criteria,
        first_at=first_at,
        last_at=last_at,
        as_of=as_of,
        revoked_records=revoked,
    )


def _days_since(last_at: int | None, as_of: int) -> int | None:
    """JST days from the day of ``last_at`` to the day of ``as_of`` (None without a last record)."""
    return None if last_at is None else _jst_day(as_of) - _jst_day(last_at)


def recency_of(days_since_last: int | None, params: TieParams = DEFAULT_PARAMS) -> float:
    """The recency component: halves every ``recency_half_life_days`` since the last record, 0 without one."""
    return 0.0 if days_since_last is None else 0.5 ** (days_since_last / params.recency_half_life_days)


def tie_score(components: tuple[float, float, float, float, float], params: TieParams = DEFAULT_PARAMS) -> float:
    """The score (0-100): the weighted mean of the five components in score-weight order."""
    weights = params.weights
    score = 100.0 * sum(w * c for w, c in zip(weights, components, strict=True))
    return min(max(score / sum(weights), 0.0), 100.0)


def tie_reading(
    last_at: int,
    continuity: float,
    frequency: float,
    diversity: float,
    intensity: float,
    as_of: int,
    params: TieParams = DEFAULT_PARAMS,
) -> tuple[float, float]:
    """(recency, score) of a stored tie read at ``as_of``: the index stores the step components and the
    last record's time (``last_at``, 0 when there is none), never the daily-decaying figures."""
    recency = recency_of(_days_since(last_at or None, as_of), params)
    return recency, tie_score((continuity, frequency, diversity, recency, intensity), params)


def next_change(
    records: Iterable[TieRecord],
    support_times: Iterable[int],
    as_of: int,
    params: TieParams = DEFAULT_PARAMS,
    *,
    new_month: bool = True,
) -> int:
    """The end of the first JST day after ``as_of``'s at which a figure of the tie other than recency
    and score may change with no new record, revocation or support: a covered day leaving the year
    or the continuity window, a record or support leaving the year, the last record ceasing to be
    recent, or (``new_month``) the first day of the next month (a new month row). Until then
    :func:`compute_tie` gives the same figures apart from recency and score; on that day they may
    differ. ``support_times`` are the timestamps of the supports given to the region. Without
    ``new_month`` and with nothing left to leave a window, the answer is one fixed far day
    (:data:`FAR_DAY`), the same whatever ``as_of``: so without ``new_month`` the answer computed at
    any day before it is the same, which lets the refresher store it and carry a tie over a month's
    turn without asking the model again (``ties.steady_until``, migration 0018)."""
    today = _jst_day(as_of)
    on = date_of_epoch_day(today)
    best = epoch_day_of_date(month_first_day(next_month(month_key_of_date(on)))) if new_month else FAR_DAY

    def leave(lo: int, hi: int, window: int) -> None:
        # The first day d + window > today for d in [lo, hi].
        nonlocal best
        first = max(lo, today - window + 1)
        if first <= hi and first + window < best:
            best = first + window

    last_day: int | None = None
    for record in records:
        if record.timestamp > as_of or record.revoked:
            continue
        day = _jst_day(record.timestamp)
        if mlit_type_of(record.kind) is MlitType.KIN:
            leave(day, day, params.window_days)
            continue
        lo = max(day - record.days + 1, 0)
        leave(lo, day, params.window_days)
        leave(lo, day, params.continuity_window_days)
        last_day = day if last_day is None else max(last_day, day)
    for timestamp in support_times:
        if timestamp <= as_of:
            day = _jst_day(timestamp)
            leave(day, day, params.window_days)
    if last_day is not None:
        leave(last_day, last_day, params.core_max_days_since_last + 1)
    return (best + 1) * SECONDS_PER_DAY - JST_OFFSET_SECONDS - 1


FAR_DAY = 200_000  # an epoch day beyond any window (in the year 2517): "no change from the calendar alone"


@dataclass(frozen=True, slots=True)
class StepFigures:
    """What a ``tie_months`` row stores of the model at a month's end: the figures that are step
    functions of the day and do not depend on support (the stage's criteria never read intensity)."""

    stage: Stage
    kankei: bool
    category: str | None
    visit_band: str


def step_figures_at(
    records: Sequence[TieRecord], moments: Sequence[int], params: TieParams = DEFAULT_PARAMS
) -> list[StepFigures]:
    """The step figures of the tie at each of ``moments`` (ascending), exactly those of
    :func:`compute_tie` at each moment, with one ``compute_tie`` per stretch of moments in which none
    can change: no record (revoked or not, kin or not) is made within it and it ends before the day
    :func:`next_change` (without the month turn) names. A tie whose records are all in one month is
    then a compute or two for a year of month ends, not twelve."""
    times = sorted(r.timestamp for r in records)
    out: list[StepFigures] = []
    current: StepFigures | None = None
    holds_until = -1  # the last moment ``current`` is known to hold for
    for i, moment in enumerate(moments):
        if current is None or moment > holds_until:
            tie = compute_tie(records, 0, moment, params)
            current = StepFigures(tie.stage, is_kankei_jinkou(tie), kankei_category(tie), tie.components.visit_band)
            later = bisect_right(times, moment)
            holds_until = times[later] - 1 if later < len(times) else MAX_TIMESTAMP
            if i + 1 < len(moments) and moments[i + 1] <= holds_until:
                # next_change gives the end of the first day that may differ: hold until the day
                # before. Not asked when a record comes before the next moment anyway (a tie with
                # records in most months pays the model once per month, as without this function).
                holds_until = min(
                    holds_until, next_change(records, (), moment, params, new_month=False) - SECONDS_PER_DAY
                )
        out.append(current)
    return out


def _criteria(c: TieComponents, p: TieParams) -> StageCriteria:
    visits = c.visit_days_in_window
    types = c.distinct_types
    return StageCriteria(
        active=c.active_days_in_window >= 1,
        returning=c.active_days_in_continuity_window >= p.repeater_min_active_days,
        continuous=c.active_months >= p.kankei_min_active_months and c.span_days >= p.kankei_min_span_days,
        diverse_or_frequent=types >= p.kankei_min_types
        or visits >= p.kankei_min_visit_days
        or c.non_visiting_kinds >= p.kankei_min_non_visiting_kinds,
        recent=c.days_since_last is not None and c.days_since_last <= p.core_max_days_since_last,
        deep=(visits >= p.core_min_visit_days and types >= p.core_min_types_with_visits)
        or visits >= p.core_min_visit_days_alone
        or types >= p.core_min_types_alone,
    )


def _stage(k: StageCriteria) -> Stage:
    if not k.active:
        return Stage.NONE
    if k.continuous and k.diverse_or_frequent:
        return Stage.CORE if k.recent and k.deep else Stage.KANKEI
    if k.returning:
        return Stage.REPEATER
    return Stage.VISITOR


def is_kankei_jinkou(tie: Tie) -> bool:
    """True when the tie meets the 関係人口 rule (stage 関係人口 or コア)."""
    return tie.stage in (Stage.KANKEI, Stage.CORE)


def kankei_category(tie: Tie) -> str | None:
    """MLIT's split of 関係人口: ``"visiting"`` (訪問系) or ``"non_visiting"`` (非訪問系).

    ``None`` when the tie is not 関係人口. A 関係人口 with at least one visit day in the window is
    訪問系, otherwise 非訪問系, so a region's counts line up with MLIT's 18% / 4%.
    """
    if not is_kankei_jinkou(tie):
        return None
    return "visiting" if tie.components.visit_days_in_window >= 1 else "non_visiting"
