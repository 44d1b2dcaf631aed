"""The read side of the index: what the つながり page, the region dashboards, the national view and
the researcher export ask of the database.

Plain functions over a SQLAlchemy :class:`~sqlalchemy.Connection`, returning frozen dataclasses (no
ORM objects, no web types). SQL is SQLAlchemy Core ``text()`` with bound parameters only, portable
between SQLite and PostgreSQL; every number coming back is converted with ``int()`` / ``float()``
(PostgreSQL sums of ``BIGINT`` come back as ``Decimal``).

Conventions.

- **Calendar.** ``start`` / ``end`` are :class:`datetime.date` JST calendar days, both inclusive.
  Records, coins and revocations are counted by JST *day* (``region_daily``,
  ``region_daily_coins``). People are counted by JST *month* from ``tie_months``: a range covers
  the whole months of ``start`` and ``end``, and a stage or 関係人口 figure "as of ``end``" is the
  tie as of the end of ``end``'s month (or the index head when that is earlier, see below).
- **Head.** ``tie_months`` has rows up to the month of the index head. Month series, cohorts and
  "as of" figures never go past it (a range ending in the future is cut at the head's month), so a
  month that has not happened yet never reads as zero people.
- **Live.** A live record is one that has not been revoked. "Active in a month" means at least one
  live record that month (``tie_months.active``; 地縁・血縁 records count here, though they feed no
  stage). A person's cohort is the month of their first live record (``first_month``).
- **Addresses** are accepted in any case (checksummed or not) and validated
  (:func:`normalize_address`); the index stores them lowercase.
- **One chain per database.** The derived tables carry no chain id, so neither do these queries.
- **Small cells.** Public aggregates take ``k`` (``None`` = raw figures, for operator views; the
  dashboards pass :data:`DEFAULT_K`). A count of people or records below ``k`` becomes ``None``
  (:func:`suppress`); zero is shown, since it identifies nobody. Where a group of cells is published
  with its total (the stage funnel, the visit bands, the type mix, new + returning), a second cell
  is hidden when only one was, so the hidden one cannot be recovered by subtraction
  (:func:`suppress_group`). Coin totals are hidden when fewer than ``k`` people were active in the
  range. Differences between overlapping ranges or consecutive months are not protected: publish
  fixed periods.

Indexes and rollups each query relies on. The rollups (``region_month_people``,
``region_month_cohorts``, ``region_pair_months``, ``region_month_kinds``, ``region_daily_stays``,
``region_month_stays``; migration 0005, docs/events.md "Dashboard rollups") are kept by triggers as the
refresher rewrites ``tie_months``, ``ties`` and ``region_daily``. Timings: SQLite at 1M records from
``scripts/bench/synthetic.py``, in process, p50 / p95 over ranges of 1-365 days, on a shared 2-CPU
machine under load (read them as orders of magnitude); the HTTP figures are in ``make bench
BENCH=dashboard``. "Before" is the previous implementation on the same data.

=========================  ===================================================================
``person_ties``            ``ties`` PK (participant, region)                            < 1 ms
``person_history``         ``ix_contributions_participant_region``,                     < 2 ms
                           ``ix_supports_supporter_region``, ``ix_revocations_activity_participant``
``person_coins``           the ``coin_movements`` view: ``ix_contributions_participant_region``,
                           ``ix_supports_supporter_region``; it *scans* ``revocations`` and
                           ``coin_transfers`` (*wanted*: ``revocations (participant)``,
                           ``coin_transfers (from_account)``, ``coin_transfers (to_account)``)
``person_supports``        ``ix_supports_supporter_region``                             < 2 ms
``region_summary``         ``region_month_people`` (one month), ``region_month_cohorts`` (one month),
                           ``region_month_kinds`` + edge days of ``region_daily``, ``region_daily_coins``:
                           7 / 15 ms (before: 16-19 ms p95 from the ``ix_tie_months_slice`` slice)
``region_monthly``         ``region_month_people``, ``region_month_kinds``: 2.5 / 14 ms (before ~66 ms)
``cohort_retention``       ``region_month_cohorts``: 0.4 / 5 ms (before 48 ms)
``returning_kinds``        ``region_month_kinds`` / ``region_daily`` and ``region_month_stays`` /
                           ``region_daily_stays``: 5 / 12 ms
``returning_activities``   ``ix_contributions_region_day``, ``ix_revocations_activity_participant``:
                           reads the region's records of the range (p95 350-570 ms): not on the
                           dashboard, which shows ``returning_kinds``
``issuer_audit``           ``ix_batches_region``, ``ix_revocations_region_day``,
                           ``ix_contributions_activity_participant``, ``ix_region_role_changes_region``:
                           1 / 9 ms
``region_overlap``         ``region_pair_months`` (one month): 0.7 / 11 ms (before 162-370 ms)
``national_graph``         unfiltered: ``region_month_cohorts`` and ``region_pair_months`` (one month):
                           1 / 5 ms (before 400-650 ms). With a kind or type it still reads
                           ``contributions`` by type and day: a full scan, 2.7-10 s (*wanted*: a
                           rollup per kind, or the covering ``contributions (mlit_type, day, kind,
                           region, participant, activity_id)``, ~250 ms, which would slow indexing)
``region_units``           ``activity_registrations`` (the region's per-hour and per-day activities), then
                           ``ix_contributions_activity_participant``: reads those activities' records
                           only (not timed at 1M records: the synthetic data has none)
``region_dashboard``       all of the above but ``returning_activities``: 23 / 41 ms
``index_status``           tiny tables
=========================  ===================================================================
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from itertools import combinations
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, bindparam, text

from ledger.health import ServiceState, service_health
from ledger.indexer.refresh import month_of
from ledger.taxonomy import KIND_LABELS, TYPE_LABELS, ContributionKind, MlitType, RewardUnit
from ledger.ties import JST_OFFSET_SECONDS, VISIT_BAND_LABELS, Stage

__all__ = [
    "returning_kinds",
    "region_dashboard",
    "public_projects",
    "public_audit",
    "person_supports",
    "default_range",
    "SupportedProject",
    "RegionDashboard",
    "PublicProject",
    "KindReturn",
    "FIGURE_DEFINITIONS",
    "DEFAULT_K",
    "NATIONAL_REFERENCE",
    "REVOCATION_REASONS",
    "ROLE_KINDS",
    "STAGES",
    "VISIT_BANDS",
    "ActivityReturn",
    "BandCount",
    "CheckpointStatus",
    "CoinTotals",
    "Cohort",
    "CohortMonth",
    "GraphLink",
    "GraphNode",
    "HistoryEntry",
    "IndexStatus",
    "IssuerActivity",
    "IssuerAudit",
    "MonthlyPoint",
    "NationalGraph",
    "NationalReference",
    "PersonCoins",
    "PersonTie",
    "ProjectEntry",
    "RegionInfo",
    "RegionOverlap",
    "RegionSummary",
    "RevocationEntry",
    "RevocationInfo",
    "RoleChangeEntry",
    "SharedRegion",
    "StageCount",
    "TieComponentValues",
    "TypeCount",
    "UnitFigure",
    "UnitTotals",
    "activity_names",
    "cohort_retention",
    "day_int",
    "index_status",
    "issuer_audit",
    "list_regions",
    "month_int",
    "months_between",
    "national_graph",
    "normalize_address",
    "person_coins",
    "person_history",
    "person_ties",
    "region_monthly",
    "region_overlap",
    "region_projects",
    "region_summary",
    "region_units",
    "returning_activities",
    "suppress",
    "suppress_group",
]

DEFAULT_K = 5
"""The dashboards' default k: public cells of fewer than 5 people are not shown."""

STAGES: tuple[Stage, ...] = (Stage.NONE, Stage.VISITOR, Stage.REPEATER, Stage.KANKEI, Stage.CORE)
"""The funnel, lowest rung first."""

VISIT_BANDS: tuple[str, ...] = ("0", "1", "2-7", "8+")
"""The MLIT-comparable visit-day bands held by ``ties`` / ``tie_months`` (``ledger.ties.visit_band``)."""

_VISITING_TYPES = (
    MlitType.HOBBY_CONSUMPTION,
    MlitType.PARTICIPATION_EXCHANGE,
    MlitType.WORK,
    MlitType.DIRECT_CONTRIBUTION,
)

REVOCATION_REASONS: dict[int, tuple[str, str]] = {
    1: ("誤発行", "Issued in error"),
    2: ("不参加", "Not present"),
    3: ("同一人物の重複", "Duplicate person"),
    4: ("本人の申し出", "Participant's request"),
    5: ("その他", "Other"),
}
"""Revocation reason codes of ``revoke`` (docs/contracts.md §6) with their 日本語 / English labels."""

ROLE_KINDS: dict[int, tuple[str, str]] = {1: ("地域管理者", "Region admin"), 2: ("発行者", "Issuer")}
"""``roleKind`` of ``RegionRoleGranted`` / ``RegionRoleRevoked``."""


@dataclass(frozen=True, slots=True)
class NationalReference:
    """MLIT's national figures that a region's shapes are shown beside (only those the brief quotes)."""

    source: str
    respondents: int
    kankei_share_of_adults: float
    visiting_share_of_adults: float
    non_visiting_share_of_adults: float
    # share of 訪問系 関係人口 by MLIT type (the four do not sum to 1: the rest is other/unanswered)
    visitor_type_mix: Mapping[MlitType, float]
    # share of 訪問系 関係人口 by annual visit days; only the modal band is quoted
    visit_band_shares: Mapping[str, float]
    notes: str


NATIONAL_REFERENCE = NationalReference(
    source=(
        "国土交通省「関係人口の実態把握」2023年度調査 (n=118,963), as summarised in the product brief §3 "
        "(MLIT 2023 survey of relationship population)"
    ),
    respondents=118_963,
    kankei_share_of_adults=0.22,
    visiting_share_of_adults=0.18,
    non_visiting_share_of_adults=0.04,
    visitor_type_mix={
        MlitType.HOBBY_CONSUMPTION: 0.38,
        MlitType.PARTICIPATION_EXCHANGE: 0.26,
        MlitType.DIRECT_CONTRIBUTION: 0.23,
        MlitType.WORK: 0.08,
    },
    visit_band_shares={"2-7": 0.49},
    notes=(
        "Survey shares are of people (self-reported); a region's figures here are of recorded activity "
        "(type mix: records by type; bands: people by visit days in the trailing year). Compare shapes, "
        "not levels. 就労型 is mostly in the 8+ band. 地縁・血縁 visits are excluded from 訪問系."
    ),
)

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_SECONDS_PER_DAY = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

K = TypeVar("K", bound=Hashable)


# ---------------------------------------------------------------------------------------------
# Helpers: addresses, calendar, small cells
# ---------------------------------------------------------------------------------------------


def normalize_address(address: str) -> str:
    """``address`` as stored in the index (lowercase ``0x`` hex); ``ValueError`` when malformed."""
    if not isinstance(address, str) or _ADDRESS.fullmatch(address.strip()) is None:
        raise ValueError(f"{address!r} is not an address: expected 0x followed by 40 hex digits")
    return address.strip().lower()


def day_int(day: date) -> int:
    """``YYYYMMDD`` of a JST calendar day, as the index stores days."""
    return day.year * 10_000 + day.month * 100 + day.day


def month_int(day: date) -> int:
    """``YYYYMM`` of the JST month containing ``day``."""
    return day.year * 100 + day.month


def _next_month(month: int) -> int:
    year, mon = divmod(month, 100)
    return (year + 1) * 100 + 1 if mon == 12 else month + 1


def months_between(first: int, last: int) -> list[int]:
    """Every ``YYYYMM`` from ``first`` to ``last`` inclusive (empty when ``first > last``)."""
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = _next_month(month)
    return months


def _month_first_day(month: int) -> date:
    return date(month // 100, month % 100, 1)


def _month_last_day(month: int) -> date:
    return _month_first_day(_next_month(month)) - timedelta(days=1)


def _day_start(day: date) -> int:
    """Unix seconds of 00:00 JST on ``day``."""
    return (day.toordinal() - _EPOCH_ORDINAL) * _SECONDS_PER_DAY - JST_OFFSET_SECONDS


def _check_k(k: int | None) -> None:
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValueError(f"k must be a positive integer or None, got {k!r}")


def suppress(value: int | None, k: int | None) -> int | None:
    """``value``, or ``None`` when it is a small cell (``0 < value < k``); ``k=None`` returns it raw.

    Zero is never suppressed: it describes nobody.
    """
    _check_k(k)
    if k is None or value is None:
        return value
    return None if 0 < value < k else value


def suppress_group(values: Mapping[K, int], k: int | None) -> dict[K, int | None]:
    """Suppress a group of cells whose total is published alongside them.

    Each small cell is hidden (:func:`suppress`); when that hides exactly one cell, the smallest
    other non-zero cell is hidden too, so the hidden one cannot be recovered as total minus the rest.
    """
    _check_k(k)
    result: dict[K, int | None] = {key: suppress(value, k) for key, value in values.items()}
    if k is None:
        return result
    hidden = [key for key, value in result.items() if value is None]
    if len(hidden) == 1:
        visible = sorted((v, i) for i, (key, v) in enumerate(values.items()) if result[key] is not None and v > 0)
        if visible:
            keys = list(values)
            result[keys[visible[0][1]]] = None
    return result


def _share(part: int | None, whole: int) -> float | None:
    return None if part is None or whole <= 0 else part / whole


def _check_range(start: date, end: date) -> None:
    if not isinstance(start, date) or not isinstance(end, date):
        raise ValueError("start and end must be datetime.date values (JST calendar days)")
    if start > end:
        raise ValueError(f"start {start} is after end {end}")


def _check_region(region: int) -> None:
    if isinstance(region, bool) or not isinstance(region, int) or region <= 0:
        raise ValueError(f"region must be a positive JIS X 0402 code, got {region!r}")


def _daily_source(table: str, month_table: str, columns: str, start: date, end: date) -> tuple[str, dict[str, Any]]:
    """A row source over ``start``..``end`` for a per-day table and its per-month rollup: the whole
    months inside the range from ``month_table`` (``month`` column), the edge days from ``table``
    (``day``), so a year reads ~12 rows per key instead of ~365. Both must have ``region`` and
    ``columns``; the source exposes ``region`` and ``columns``; parameters ``:r`` is the caller's."""
    first_full = month_int(start) if start.day == 1 else _next_month(month_int(start))
    last_full = month_int(end) if end == _month_last_day(month_int(end)) else _prev_month(month_int(end))
    params: dict[str, Any] = {"ds0": day_int(start), "ds1": day_int(end)}
    if first_full > last_full:
        return f"SELECT region, {columns} FROM {table} WHERE region = :r AND day BETWEEN :ds0 AND :ds1", params
    params.update(
        fm0=first_full,
        fm1=last_full,
        de0=day_int(_month_first_day(first_full)),
        de1=day_int(_month_last_day(last_full)),
    )
    return (
        f"SELECT region, {columns} FROM {month_table} WHERE region = :r AND month BETWEEN :fm0 AND :fm1 "
        f"UNION ALL SELECT region, {columns} FROM {table} WHERE region = :r AND day BETWEEN :ds0 AND :ds1 "
        "AND (day < :de0 OR day > :de1)",
        params,
    )


def _prev_month(month: int) -> int:
    year, mon = divmod(month, 100)
    return (year - 1) * 100 + 12 if mon == 1 else month - 1


def _head_month(conn: Connection) -> int | None:
    """The JST month of the index head (the newest checkpoint), or None before the first one."""
    timestamp = conn.execute(text("SELECT MAX(block_timestamp) FROM indexer_checkpoints")).scalar()
    return month_of(int(timestamp)) if timestamp is not None else None


def _month_window(conn: Connection, start: date, end: date) -> tuple[int, int, bool]:
    """(first, last, at_head): the months of a range, the last cut at the head's month (first may
    exceed last), and whether the range reaches the head's month."""
    first, last = month_int(start), month_int(end)
    head = _head_month(conn)
    if head is None:
        return first, last, False
    return first, min(last, head), last >= head


# Who was active (a live record) in a range of months, as (region, participant) pairs. When the range
# reaches the head's month, ``ties`` answers exactly and in one row per tie: every live record is at
# or before the head, so "a live record in months m0..head" is "the last live record is in m0 or
# later" (``ties.last_at``; ``records > 0`` leaves out ties whose records were all revoked). Earlier
# ranges need ``tie_months``, one row per person and month, and a DISTINCT over them. (The region
# figures and the national graph now read the rollups; these stay as the reference the tests use.)
_PAIRS_VIA_TIES = "SELECT region, participant, first_month FROM ties WHERE records > 0 AND last_at >= :t0"
_PAIRS_VIA_MONTHS = (
    "SELECT region, participant, MIN(first_month) AS first_month FROM tie_months "
    "WHERE month BETWEEN :m0 AND :m1 AND active GROUP BY region, participant"
)


def _pairs_sql(via_ties: bool, region: bool) -> str:
    """The active-pairs query (columns region, participant, first_month), optionally for ``:r`` only."""
    sql = _PAIRS_VIA_TIES if via_ties else _PAIRS_VIA_MONTHS
    if region:
        sql = sql.replace(" WHERE ", " WHERE region = :r AND ", 1)
    return sql


def _pairs_params(first: int, last: int) -> dict[str, Any]:
    return {"m0": first, "m1": last, "t0": _day_start(_month_first_day(first))}


def _people_in_range(conn: Connection, region: int, first: int, last: int, via_ties: bool) -> tuple[int, int]:
    """(active, new): people with a live record in the region in months ``first``..``last``, and those
    of them whose first live record is in that range.

    One month's slice answers it: every tie has a ``tie_months`` row for each month from its first
    record to the head, and ``last_active_month`` says when it was last active; the rollup
    ``region_month_cohorts`` (kept by triggers) counts those rows by cohort and last active month, so
    this reads a few dozen rows. ``via_ties`` is kept for callers; both paths read the same rows.
    """
    if first > last:
        return 0, 0
    row = conn.execute(
        text(
            "SELECT SUM(CASE WHEN last_active_month >= :m0 THEN people ELSE 0 END), "
            "SUM(CASE WHEN first_month >= :m0 THEN people ELSE 0 END) "
            "FROM region_month_cohorts WHERE region = :r AND month = :m1"
        ),
        {"r": region, "m0": first, "m1": last},
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def _slice_columns() -> tuple[str, dict[str, Any]]:
    """Conditional aggregates over ``region_month_people`` rows (``tie_months`` counted by the
    dashboard's groups, kept by triggers): people, per stage, 関係人口 (all and 非訪問系), per visit
    band, active, new (first active month) — one pass over a few dozen rows."""
    params: dict[str, Any] = {f"s{i}": s.value for i, s in enumerate(STAGES)}
    params.update({f"b{i}": b for i, b in enumerate(VISIT_BANDS)})
    params["nv"] = "non_visiting"
    columns = ["SUM(people)"]
    columns += [f"SUM(CASE WHEN stage = :s{i} THEN people ELSE 0 END)" for i in range(len(STAGES))]
    columns += [
        "SUM(CASE WHEN kankei THEN people ELSE 0 END)",
        "SUM(CASE WHEN kankei AND category = :nv THEN people ELSE 0 END)",
    ]
    columns += [f"SUM(CASE WHEN visit_band = :b{i} THEN people ELSE 0 END)" for i in range(len(VISIT_BANDS))]
    columns += ["SUM(CASE WHEN active THEN people ELSE 0 END)", "SUM(CASE WHEN is_new THEN people ELSE 0 END)"]
    return ", ".join(columns), params


@dataclass(frozen=True, slots=True)
class _Slice:
    people: int
    stages: dict[str, int]
    kankei: int
    non_visiting: int
    bands: dict[str, int]
    active: int
    new: int


def _slice(values: Sequence[Any]) -> _Slice:
    n = [int(v or 0) for v in values]
    i = 1 + len(STAGES)
    j = i + 2 + len(VISIT_BANDS)
    return _Slice(
        people=n[0],
        stages={s.value: v for s, v in zip(STAGES, n[1:i], strict=True)},
        kankei=n[i],
        non_visiting=n[i + 1],
        bands=dict(zip(VISIT_BANDS, n[i + 2 : j], strict=True)),
        active=n[j],
        new=n[j + 1],
    )


def _region_names(conn: Connection) -> dict[int, str]:
    return {int(r[0]): str(r[1]) for r in conn.execute(text("SELECT region, name FROM regions"))}


def _region_name(conn: Connection, region: int) -> str | None:
    name = conn.execute(text("SELECT name FROM regions WHERE region = :r"), {"r": region}).scalar()
    return None if name is None else str(name)


def _kind_labels(kind: int) -> tuple[str, str]:
    try:
        return KIND_LABELS[ContributionKind(kind)]
    except ValueError:
        return (str(kind), str(kind))


# ---------------------------------------------------------------------------------------------
# Regions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """A registered region (``regions`` view)."""

    region: int  # JIS X 0402 code
    name: str  # the name registered on chain with the region's coin (RegionRegistered.name)
    symbol: str
    coin: str  # the region's ERC-20 coin contract (lowercase hex)
    first_admin: str
    registered_block: int
    registered_at: int  # unix seconds
    paused: bool
    transfers_enabled: bool


def list_regions(conn: Connection) -> list[RegionInfo]:
    """Every registered region, by code."""
    rows = conn.execute(
        text(
            "SELECT region, name, symbol, coin, first_admin, registered_block, registered_at, paused, "
            "transfers_enabled FROM regions ORDER BY region"
        )
    )
    return [
        RegionInfo(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5]), int(r[6]), bool(r[7]), bool(r[8]))
        for r in rows
    ]


# ---------------------------------------------------------------------------------------------
# A person: ties, history, coins
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TieComponentValues:
    """The five published components of a tie, each in [0, 1] (docs/ties.md §3)."""

    continuity: float
    frequency: float
    diversity: float
    recency: float
    intensity: float


@dataclass(frozen=True, slots=True)
class PersonTie:
    """One person×region tie (``ties`` row) with the raw figures behind it; never show the score alone."""

    region: int
    region_name: str | None  # RegionRegistered.name (None if the region is not indexed)
    stage: Stage
    stage_ja: str
    stage_en: str
    score: float  # 0-100, the weighted mean of the components
    components: TieComponentValues
    kankei: bool  # counts as 関係人口 (stage 関係人口 or コア)
    category: str | None  # "visiting" / "non_visiting" when kankei
    records: int  # live records
    revoked_records: int
    coins_earned: int  # in the trailing year
    coins_given: int  # spent on 応援 in the trailing year
    first_at: int  # unix seconds of the first live record (0 when none is live)
    last_at: int
    first_month: int  # YYYYMM, the cohort (0 when none is live)
    visit_days: int  # 訪問系 days in the trailing year
    visit_band: str
    visit_band_ja: str
    visit_band_en: str
    help_hours: int  # hours of live per-hour records in the trailing year (docs/ties.md §3, units)
    stay_days: int  # distinct days covered by live per-day records (stays) in the trailing year
    active_months: int  # in the continuity window
    distinct_types: int  # MLIT forms in the trailing year
    non_visiting_records: int
    kin_records: int
    as_of: int  # the moment the tie was computed for (end of the head's JST day)


def person_ties(conn: Connection, address: str) -> list[PersonTie]:
    """Every region ``address`` is tied to, strongest stage first, then by score.

    Includes ties whose records were all revoked (stage なし, ``records == 0``), so a person sees
    what happened to them.
    """
    participant = normalize_address(address)
    rows = conn.execute(
        text(
            "SELECT t.region, g.name, t.stage, t.score, t.continuity, t.frequency, t.diversity, t.recency, "
            "t.intensity, t.kankei, t.category, t.records, t.revoked_records, t.coins_earned, t.coins_given, "
            "t.first_at, t.last_at, t.first_month, t.visit_days, t.visit_band, t.active_months, "
            "t.distinct_types, t.non_visiting_records, t.kin_records, t.as_of, t.help_hours, t.stay_days "
            "FROM ties t LEFT JOIN regions g ON g.region = t.region WHERE t.participant = :p"
        ),
        {"p": participant},
    ).all()
    ties = []
    for r in rows:
        stage = Stage(str(r[2]))
        band = str(r[19])
        band_ja, band_en = VISIT_BAND_LABELS.get(band, (band, band))
        ties.append(
            PersonTie(
                region=int(r[0]),
                region_name=None if r[1] is None else str(r[1]),
                stage=stage,
                stage_ja=stage.ja,
                stage_en=stage.en,
                score=float(r[3]),
                components=TieComponentValues(float(r[4]), float(r[5]), float(r[6]), float(r[7]), float(r[8])),
                kankei=bool(r[9]),
                category=None if r[10] is None else str(r[10]),
                records=int(r[11]),
                revoked_records=int(r[12]),
                coins_earned=int(r[13]),
                coins_given=int(r[14]),
                first_at=int(r[15]),
                last_at=int(r[16]),
                first_month=int(r[17]),
                visit_days=int(r[18]),
                visit_band=band,
                visit_band_ja=band_ja,
                visit_band_en=band_en,
                help_hours=int(r[25]),
                stay_days=int(r[26]),
                active_months=int(r[20]),
                distinct_types=int(r[21]),
                non_visiting_records=int(r[22]),
                kin_records=int(r[23]),
                as_of=int(r[24]),
            )
        )
    ties.sort(key=lambda t: (-t.stage.rank, -t.score, t.region))
    return ties


@dataclass(frozen=True, slots=True)
class RevocationInfo:
    """Why and when a record was revoked."""

    reason: int
    reason_ja: str
    reason_en: str
    clawed_back: int  # coins burned from the participant
    shortfall: int  # coins already spent, left spent
    evidence_hash: str
    admin: str
    block_number: int
    tx_hash: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a person's history: a contribution record or a support (応援)."""

    entry: Literal["contribution", "support"]
    region: int
    region_name: str | None
    amount: int  # coins minted (contribution) or spent (support)
    block_number: int
    log_index: int
    tx_hash: str
    timestamp: int  # unix seconds
    day: int  # YYYYMMDD JST
    # contribution only
    activity_id: int | None = None
    kind: int | None = None
    kind_ja: str | None = None
    kind_en: str | None = None
    mlit_type: int | None = None
    issuer: str | None = None
    units: int | None = None  # hours or days (1 for a visit or an event)
    unit: int | None = None  # the activity's RewardUnit: 0 per record, 1 per hour, 2 per day
    designated: bool = False  # a designated 担い手活動 (ふるさと住民登録)
    revoked: bool = False
    revocation: RevocationInfo | None = None
    # support only
    project_id: int | None = None
    relayer: str | None = None  # zero address when the supporter sent it themselves

    @property
    def cursor(self) -> tuple[int, int]:
        """Pass as ``before=`` to :func:`person_history` for the next page."""
        return (self.block_number, self.log_index)


_HISTORY_BEFORE = "AND (x.block_number < :b OR (x.block_number = :b AND x.log_index < :l)) "


def person_history(
    conn: Connection, address: str, limit: int = 50, before: tuple[int, int] | None = None
) -> list[HistoryEntry]:
    """A person's contributions (with revocations) and supports in every region, newest first.

    ``before`` is the ``cursor`` of the last entry of the previous page: entries strictly older
    than that (block number, log index) are returned.
    """
    participant = normalize_address(address)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    params: dict[str, Any] = {"p": participant, "n": limit}
    where = ""
    if before is not None:
        block, log_index = before
        params.update(b=int(block), l=int(log_index))
        where = _HISTORY_BEFORE
    names = _region_names(conn)
    contributions = conn.execute(
        text(
            "SELECT x.region, x.amount, x.block_number, x.log_index, x.tx_hash, x.block_timestamp, x.day, "
            "x.activity_id, x.kind, x.mlit_type, x.issuer, x.units, v.reason, v.clawed_back, v.shortfall, "
            "v.evidence_hash, v.admin, v.block_number, v.tx_hash, v.block_timestamp, x.unit, x.designated "
            "FROM contributions x LEFT JOIN revocations v ON v.chain_id = x.chain_id "
            "AND v.activity_id = x.activity_id AND v.participant = x.participant "
            f"WHERE x.participant = :p {where}"
            "ORDER BY x.block_number DESC, x.log_index DESC LIMIT :n"
        ),
        params,
    ).all()
    supports = conn.execute(
        text(
            "SELECT x.region, x.amount, x.block_number, x.log_index, x.tx_hash, x.block_timestamp, x.day, "
            "x.project_id, x.relayer FROM supports x "
            f"WHERE x.supporter = :p {where}"
            "ORDER BY x.block_number DESC, x.log_index DESC LIMIT :n"
        ),
        params,
    ).all()
    entries: list[HistoryEntry] = []
    for r in contributions:
        kind = int(r[8])
        kind_ja, kind_en = _kind_labels(kind)
        revocation = None
        if r[12] is not None:
            reason = int(r[12])
            reason_ja, reason_en = REVOCATION_REASONS.get(reason, (str(reason), str(reason)))
            revocation = RevocationInfo(
                reason, reason_ja, reason_en, int(r[13]), int(r[14]), str(r[15]), str(r[16]), int(r[17]),
                str(r[18]), int(r[19]),
            )  # fmt: skip
        entries.append(
            HistoryEntry(
                entry="contribution",
                region=int(r[0]),
                region_name=names.get(int(r[0])),
                amount=int(r[1]),
                block_number=int(r[2]),
                log_index=int(r[3]),
                tx_hash=str(r[4]),
                timestamp=int(r[5]),
                day=int(r[6]),
                activity_id=int(r[7]),
                kind=kind,
                kind_ja=kind_ja,
                kind_en=kind_en,
                mlit_type=int(r[9]),
                issuer=str(r[10]),
                units=int(r[11]),
                unit=int(r[20]),
                designated=bool(r[21]),
                revoked=revocation is not None,
                revocation=revocation,
            )
        )
    for r in supports:
        entries.append(
            HistoryEntry(
                entry="support",
                region=int(r[0]),
                region_name=names.get(int(r[0])),
                amount=int(r[1]),
                block_number=int(r[2]),
                log_index=int(r[3]),
                tx_hash=str(r[4]),
                timestamp=int(r[5]),
                day=int(r[6]),
                project_id=int(r[7]),
                relayer=str(r[8]),
            )
        )
    entries.sort(key=lambda e: e.cursor, reverse=True)
    return entries[:limit]


@dataclass(frozen=True, slots=True)
class PersonCoins:
    """A person's coins of one region, from every movement (``coin_movements``)."""

    region: int
    region_name: str | None
    earned: int  # minted by their records (revoked ones included: see clawed_back)
    clawed_back: int  # burned by revocations
    spent: int  # on 応援
    transferred_in: int
    transferred_out: int
    balance: int  # earned - clawed_back - spent + transferred_in - transferred_out - expired
    expired: int = 0  # lapsed under the region's expiry rule (as counted on chain so far)


def person_coins(conn: Connection, address: str) -> list[PersonCoins]:
    """Per region, how ``address``'s coins were earned and used, and the balance that results."""
    account = normalize_address(address)
    totals: dict[int, dict[str, int]] = {}
    for region, movement, delta in conn.execute(
        text("SELECT region, movement, SUM(delta) FROM coin_movements WHERE account = :a GROUP BY region, movement"),
        {"a": account},
    ):
        totals.setdefault(int(region), {})[str(movement)] = int(delta)
    names = _region_names(conn)
    result = []
    for region in sorted(totals):
        t = totals[region]
        earned, clawed = t.get("mint", 0), -t.get("revoke", 0)
        spent, t_in, t_out = -t.get("support", 0), t.get("transfer_in", 0), -t.get("transfer_out", 0)
        expired = -t.get("expire", 0)
        result.append(
            PersonCoins(
                region=region,
                region_name=names.get(region),
                earned=earned,
                clawed_back=clawed,
                spent=spent,
                transferred_in=t_in,
                transferred_out=t_out,
                balance=earned - clawed - spent + t_in - t_out - expired,
                expired=expired,
            )
        )
    return result


# ---------------------------------------------------------------------------------------------
# A region: summary, months, cohorts, activities that bring people back
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageCount:
    """People at one stage of the funnel."""

    stage: Stage
    label_ja: str
    label_en: str
    people: int | None  # None: suppressed


@dataclass(frozen=True, slots=True)
class TypeCount:
    """Live records of one MLIT type in the range, beside MLIT's national visitor mix."""

    mlit_type: MlitType
    label_ja: str
    label_en: str
    records: int | None
    share_of_visiting: float | None  # of 訪問系 records (types 1-4); None for types 5 and 6
    national_share: float | None  # NATIONAL_REFERENCE.visitor_type_mix (people, not records)


@dataclass(frozen=True, slots=True)
class BandCount:
    """People in one visit-day band (trailing year, as of the summary month), beside MLIT's figure."""

    band: str
    label_ja: str
    label_en: str
    people: int | None
    share_of_visitors: float | None  # of people with at least one visit day; None for band "0"
    national_share: float | None


@dataclass(frozen=True, slots=True)
class CoinTotals:
    """Coins of a region over a range of days (region_daily_coins); None when suppressed."""

    issued: int | None  # minted by records of these days (later revocations not netted)
    spent: int | None  # spent on 応援
    clawed_back: int | None  # burned by revocations made on these days
    supports: int | None  # number of 応援 transactions
    revocations: int | None  # number of revocations made on these days
    gift_rate: float | None  # spent / issued: how much of what the region gave came back as support
    expired: int | None  # lapsed under the region's expiry rule, counted on these days


@dataclass(frozen=True, slots=True)
class RegionSummary:
    """A region's dashboard figures for a range (see the module docstring for the calendar rules)."""

    region: int
    region_name: str | None
    start: date
    end: date
    k: int | None
    first_month: int  # YYYYMM of start
    as_of_month: int  # YYYYMM the people figures are as of: month(end), cut at the index head
    # people, as of the end of as_of_month
    participants: int | None  # with a live record in the region up to then (every stage)
    kankei: int | None  # 関係人口 by the model's definition (stages 関係人口 + コア)
    kankei_visiting: int | None
    kankei_non_visiting: int | None
    stages: tuple[StageCount, ...]  # lowest rung first; sums to participants
    visit_bands: tuple[BandCount, ...]
    # people, over the months of the range
    active: int | None  # with a live record in the range
    new: int | None  # ... whose first live record is in the range
    returning: int | None  # ... who had one before the range
    # records and coins, over the days of the range
    records: int | None  # live records
    revoked_records: int | None  # records of these days since revoked
    type_mix: tuple[TypeCount, ...]
    coins: CoinTotals
    national: NationalReference


def _stage_counts(counts: Mapping[str, int], k: int | None) -> tuple[StageCount, ...]:
    shown = suppress_group({s: counts.get(s.value, 0) for s in STAGES}, k)
    return tuple(StageCount(s, s.ja, s.en, shown[s]) for s in STAGES)


def _coin_totals(
    issued: int, spent: int, clawed: int, supports: int, revocations: int, expired: int, people: int, k: int | None
) -> CoinTotals:
    if k is not None and 0 < people < k:
        return CoinTotals(None, None, None, None, None, None, None)
    return CoinTotals(issued, spent, clawed, supports, revocations, spent / issued if issued else None, expired)


def region_summary(conn: Connection, region: int, start: date, end: date, k: int | None = None) -> RegionSummary:
    """The region dashboard's headline figures for ``start``..``end`` (JST days, inclusive).

    People figures come from ``tie_months`` (the stage funnel, 関係人口 and visit bands: one pass over
    the region's rows of ``end``'s month) and, for active / new / returning over the range's months,
    from ``ties`` when the range reaches the index head's month (one row per tie) or ``tie_months``
    otherwise (one row per person and month). Records, the MLIT type mix, coins and revocations come
    from ``region_daily`` / ``region_daily_coins`` over the range's days. Never scans
    ``contributions``. ``k`` suppresses small cells (module docstring).
    """
    _check_region(region)
    _check_range(start, end)
    _check_k(k)
    first_month, as_of_month, at_head = _month_window(conn, start, end)
    columns, params = _slice_columns()
    params.update(r=region, m=as_of_month, d0=day_int(start), d1=day_int(end))
    month = _slice(
        conn.execute(text(f"SELECT {columns} FROM region_month_people WHERE region = :r AND month = :m"), params).one()
    )
    stages, bands, participants = month.stages, month.bands, month.people
    kankei = {"visiting": month.kankei - month.non_visiting, "non_visiting": month.non_visiting}
    active, new = _people_in_range(conn, region, first_month, as_of_month, via_ties=at_head)

    types: dict[int, int] = {}
    revoked = 0
    source, source_params = _daily_source(
        "region_daily", "region_month_kinds", "mlit_type, records, revoked_records", start, end
    )
    for mlit_type, records, revoked_records in conn.execute(
        text(f"SELECT mlit_type, SUM(records), SUM(revoked_records) FROM ({source}) x GROUP BY mlit_type"),
        {**params, **source_params},
    ):
        types[int(mlit_type)] = int(records or 0)
        revoked += int(revoked_records or 0)
    records = sum(types.values())

    issued, spent, clawed, supports, revocations, expired = (
        int(x or 0)
        for x in conn.execute(
            text(
                "SELECT SUM(issued), SUM(spent), SUM(clawed_back), SUM(supports), SUM(revocations), SUM(expired) "
                "FROM region_daily_coins WHERE region = :r AND day BETWEEN :d0 AND :d1"
            ),
            params,
        ).one()
    )

    kankei_total = kankei["visiting"] + kankei["non_visiting"]
    split = suppress_group(kankei, k)
    people_in_range = suppress_group({"new": new, "returning": active - new}, k)
    type_cells = suppress_group({t: types.get(int(t), 0) for t in MlitType}, k)
    visiting_records = sum(types.get(int(t), 0) for t in _VISITING_TYPES)
    type_mix = tuple(
        TypeCount(
            mlit_type=t,
            label_ja=TYPE_LABELS[t][0],
            label_en=TYPE_LABELS[t][1],
            records=type_cells[t],
            share_of_visiting=_share(type_cells[t], visiting_records) if t in _VISITING_TYPES else None,
            national_share=NATIONAL_REFERENCE.visitor_type_mix.get(t),
        )
        for t in MlitType
    )
    band_cells = suppress_group({b: bands.get(b, 0) for b in VISIT_BANDS}, k)
    visitors = participants - bands.get("0", 0)
    visit_bands = tuple(
        BandCount(
            band=b,
            label_ja=VISIT_BAND_LABELS[b][0],
            label_en=VISIT_BAND_LABELS[b][1],
            people=band_cells[b],
            share_of_visitors=None if b == "0" else _share(band_cells[b], visitors),
            national_share=NATIONAL_REFERENCE.visit_band_shares.get(b),
        )
        for b in VISIT_BANDS
    )
    return RegionSummary(
        region=region,
        region_name=_region_name(conn, region),
        start=start,
        end=end,
        k=k,
        first_month=first_month,
        as_of_month=as_of_month,
        participants=suppress(participants, k),
        kankei=suppress(kankei_total, k),
        kankei_visiting=split["visiting"],
        kankei_non_visiting=split["non_visiting"],
        stages=_stage_counts(stages, k),
        visit_bands=visit_bands,
        active=suppress(active, k),
        new=people_in_range["new"],
        returning=people_in_range["returning"],
        records=suppress(records, k),
        revoked_records=suppress(revoked, k),
        type_mix=type_mix,
        coins=_coin_totals(issued, spent, clawed, supports, revocations, expired, active, k),
        national=NATIONAL_REFERENCE,
    )


@dataclass(frozen=True, slots=True)
class UnitFigure:
    """A sum of hours or days over a range and the people behind it (both ``None`` when suppressed)."""

    total: int | None
    people: int | None


@dataclass(frozen=True, slots=True)
class UnitTotals:
    """Hours of help and days of stays in a region over a range (docs/ties.md, "Hours and days on
    the pages"): the region's side of a tie's ``help_hours`` and ``stay_days``."""

    help_hours: UnitFigure  # お手伝いの時間: units of live per-hour records made on the range's days
    stay_days: UnitFigure  # 滞在日数: person-days inside the range covered by live per-day records


def _unit_figure(total: int, people: int, k: int | None) -> UnitFigure:
    if suppress(people, k) is None:
        return UnitFigure(None, None)
    return UnitFigure(total, people)


def _day_ordinal(day: int) -> int:
    """The proleptic ordinal of a ``YYYYMMDD`` day."""
    return date(day // 10_000, day // 100 % 100, day % 100).toordinal()


def region_units(conn: Connection, region: int, start: date, end: date, k: int | None = None) -> UnitTotals:
    """お手伝いの時間 and 滞在日数 of the region over ``start``..``end`` (JST days, inclusive), counted
    as the ties model counts a tie's ``help_hours`` and ``stay_days`` (ledger/ties.py):

    - **help hours**: the units of live, non-kin per-hour records made on the range's days, and the
      people who made them;
    - **stay days**: a per-day record of N units is a stay of the N days ending on its day; the days
      of live, non-kin stays that fall inside the range, counted once per person and day (two stays
      of one person over the same day count it once), and the people with at least one such day. A
      stay that began before ``start`` counts its days from ``start``; one that ends after ``end``
      (recorded later) counts its days up to ``end``.

    So over the 365 days ending on the index head's day, each figure is the sum of the ties'
    ``help_hours`` / ``stay_days`` in the region. ``k`` hides a figure made by fewer than ``k``
    people (its total with its people). Reads the records of the region's per-hour and per-day
    activities only (``activity_registrations``, then ``ix_contributions_activity_participant``).
    """
    _check_region(region)
    _check_range(start, end)
    _check_k(k)
    params: dict[str, Any] = {"r": region, "hour": int(RewardUnit.HOUR), "day": int(RewardUnit.DAY)}
    longest = conn.execute(
        text("SELECT MAX(max_units) FROM activity_registrations WHERE region = :r AND unit = :day"), params
    ).scalar()
    last_day = end + timedelta(days=max(int(longest or 1), 1) - 1)  # a stay recorded later may cover ``end``
    params.update(d0=day_int(start), d1=day_int(last_day), kin=int(MlitType.KIN))
    rows = conn.execute(
        text(
            "SELECT c.participant, c.unit, c.units, c.day FROM contributions c "
            "WHERE c.activity_id IN (SELECT activity_id FROM activity_registrations "
            " WHERE region = :r AND unit IN (:hour, :day)) "
            "AND c.unit IN (:hour, :day) AND c.mlit_type <> :kin AND c.day BETWEEN :d0 AND :d1 "
            "AND NOT EXISTS (SELECT 1 FROM revocations v "
            " WHERE v.activity_id = c.activity_id AND v.participant = c.participant)"
        ),
        params,
    )
    first, last, end_day = start.toordinal(), end.toordinal(), day_int(end)
    hours = 0
    helpers: set[str] = set()
    stays: set[tuple[str, int]] = set()
    for participant, unit, units, day in rows:
        if int(unit) == RewardUnit.HOUR:
            if int(day) <= end_day:
                hours += int(units)
                helpers.add(str(participant))
            continue
        ends_on = _day_ordinal(int(day))
        for covered in range(max(ends_on - int(units) + 1, first), min(ends_on, last) + 1):
            stays.add((str(participant), covered))
    stayers = {participant for participant, _ in stays}
    return UnitTotals(
        help_hours=_unit_figure(hours, len(helpers), k),
        stay_days=_unit_figure(len(stays), len(stayers), k),
    )


@dataclass(frozen=True, slots=True)
class MonthlyPoint:
    """One month of a region's series: people as of the month's end, records and coins in the month."""

    month: int  # YYYYMM
    participants: int | None  # with a live record in the region up to this month
    kankei: int | None
    kankei_visiting: int | None
    kankei_non_visiting: int | None
    active: int | None  # with a live record this month
    new: int | None  # ... their first
    returning: int | None  # ... not their first
    stages: tuple[StageCount, ...]
    records: int | None  # live records made this month
    coins: CoinTotals


def region_monthly(conn: Connection, region: int, start: date, end: date, k: int | None = None) -> list[MonthlyPoint]:
    """How the region's 関係人口, stages and activity changed month by month over the range.

    One point per month from ``start``'s month to ``end``'s (cut at the index head), months with
    nothing included as zeros. Records and coins are summed over the whole month.
    """
    _check_region(region)
    _check_range(start, end)
    _check_k(k)
    first, last, _ = _month_window(conn, start, end)
    months = months_between(first, last)
    if not months:
        return []
    columns, params = _slice_columns()
    params.update(r=region, m0=first, m1=last, d0=day_int(_month_first_day(first)), d1=day_int(_month_last_day(last)))
    slices = {
        int(row[0]): _slice(row[1:])
        for row in conn.execute(
            text(
                f"SELECT month, {columns} FROM region_month_people WHERE region = :r "
                "AND month BETWEEN :m0 AND :m1 GROUP BY month"
            ),
            params,
        )
    }
    empty = _slice([0] * (5 + len(STAGES) + len(VISIT_BANDS)))
    records = {
        int(m): int(n or 0)
        for m, n in conn.execute(
            text(
                "SELECT month, SUM(records) FROM region_month_kinds WHERE region = :r AND month BETWEEN :m0 AND :m1 "
                "GROUP BY month"
            ),
            params,
        )
    }
    coins = {
        int(r[0]): tuple(int(x or 0) for x in r[1:])
        for r in conn.execute(
            text(
                "SELECT day / 100, SUM(issued), SUM(spent), SUM(clawed_back), SUM(supports), SUM(revocations), "
                "SUM(expired) FROM region_daily_coins WHERE region = :r AND day BETWEEN :d0 AND :d1 GROUP BY day / 100"
            ),
            params,
        )
    }
    points = []
    for month in months:
        cell = slices.get(month, empty)
        split = suppress_group({"visiting": cell.kankei - cell.non_visiting, "non_visiting": cell.non_visiting}, k)
        in_month = suppress_group({"new": cell.new, "returning": cell.active - cell.new}, k)
        issued, spent, clawed, supports, revocations, expired = coins.get(month, (0, 0, 0, 0, 0, 0))
        points.append(
            MonthlyPoint(
                month=month,
                participants=suppress(cell.people, k),
                kankei=suppress(cell.kankei, k),
                kankei_visiting=split["visiting"],
                kankei_non_visiting=split["non_visiting"],
                active=suppress(cell.active, k),
                new=in_month["new"],
                returning=in_month["returning"],
                stages=_stage_counts(cell.stages, k),
                records=suppress(records.get(month, 0), k),
                coins=_coin_totals(issued, spent, clawed, supports, revocations, expired, cell.active, k),
            )
        )
    return points


@dataclass(frozen=True, slots=True)
class CohortMonth:
    """How many of a cohort were active in one month."""

    month: int  # YYYYMM
    offset: int  # months since the cohort month (0 = the cohort month itself)
    active: int | None
    share: float | None  # active / cohort size


@dataclass(frozen=True, slots=True)
class Cohort:
    """The people whose first live record in the region fell in ``month``, and their retention."""

    month: int  # YYYYMM, the cohort
    size: int | None
    months: tuple[CohortMonth, ...]  # from the cohort month to the range's last month


def cohort_retention(conn: Connection, region: int, start: date, end: date, k: int | None = None) -> list[Cohort]:
    """Retention by first-activity month: for each cohort month in the range, its size and the share of
    it active in each month from then to the end of the range (cut at the index head).

    With ``k``, a cohort smaller than ``k`` shows no figures at all, and a month's active count below
    ``k`` is hidden with its share.
    """
    _check_region(region)
    _check_range(start, end)
    _check_k(k)
    first, last, _ = _month_window(conn, start, end)
    if first > last:
        return []
    active: dict[tuple[int, int], int] = {}
    for cohort, month, n in conn.execute(
        text(
            "SELECT first_month, month, SUM(CASE WHEN last_active_month = month THEN people ELSE 0 END) "
            "FROM region_month_cohorts WHERE region = :r AND month BETWEEN :m0 AND :m1 AND first_month >= :m0 "
            "GROUP BY first_month, month HAVING SUM(people) > 0"
        ),
        {"r": region, "m0": first, "m1": last},
    ):
        active[int(cohort), int(month)] = int(n or 0)
    cohorts = []
    for cohort in sorted({c for c, _ in active}):
        size = active.get((cohort, cohort), 0)  # everyone is active in their first month
        hidden = k is not None and size < k
        months = []
        for offset, month in enumerate(months_between(cohort, last)):
            n = None if hidden else suppress(active.get((cohort, month), 0), k)
            months.append(CohortMonth(month, offset, n, _share(n, size)))
        cohorts.append(Cohort(cohort, None if hidden else size, tuple(months)))
    return cohorts


@dataclass(frozen=True, slots=True)
class ActivityReturn:
    """How many of an activity's participants came back to the region on a later day."""

    activity_id: int
    kind: int
    kind_ja: str
    kind_en: str
    mlit_type: int
    reward: int
    participants: int  # with a live record of the activity in the range
    returned: int | None  # ... who have a live record in the region on a later day in the range
    return_rate: float | None  # returned / participants


def returning_activities(
    conn: Connection, region: int, start: date, end: date, limit: int = 20, k: int | None = None
) -> list[ActivityReturn]:
    """Activities of the region ranked by return rate: the share of their participants (live records
    in the range) who took part in the region again on a later day within the range. Ties are
    broken by the number of participants, then the activity id.

    An activity late in the range has had little time to bring people back: read the rates of a
    closed period. With ``k``, activities with fewer than ``k`` participants are left out and a
    ``returned`` count below ``k`` is hidden with its rate (those rank last).
    Reads the region's contributions of the range (``ix_contributions_region_day``).
    """
    _check_region(region)
    _check_range(start, end)
    _check_k(k)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    rows = conn.execute(
        text(
            # One record per person per activity (enforced on chain), so COUNT(*) counts people.
            "WITH live AS ("
            " SELECT c.activity_id, c.day, MAX(c.day) OVER (PARTITION BY c.participant) AS last_day"
            " FROM contributions c WHERE c.region = :r AND c.day BETWEEN :d0 AND :d1 AND NOT EXISTS ("
            "  SELECT 1 FROM revocations v WHERE v.activity_id = c.activity_id AND v.participant = c.participant)) "
            "SELECT activity_id, COUNT(*), SUM(CASE WHEN last_day > day THEN 1 ELSE 0 END) FROM live "
            "GROUP BY activity_id"
        ),
        {"r": region, "d0": day_int(start), "d1": day_int(end)},
    ).all()
    ranked = []
    for activity_id, participants, returned in rows:
        if k is not None and int(participants) < k:
            continue
        shown = suppress(int(returned or 0), k)
        ranked.append(
            (int(activity_id), int(participants), shown, None if shown is None else shown / int(participants))
        )
    ranked.sort(key=lambda a: (a[3] is None, -(a[3] or 0.0), -a[1], a[0]))
    ranked = ranked[:limit]
    if not ranked:
        return []
    details = {
        int(r[0]): (int(r[1]), int(r[2]), int(r[3]))
        for r in conn.execute(
            text(
                "SELECT activity_id, kind, mlit_type, reward FROM activity_registrations WHERE activity_id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": [a[0] for a in ranked]},
        )
    }
    result = []
    for activity_id, participants, returned, rate in ranked:
        kind, mlit_type, reward = details.get(activity_id, (0, 0, 0))
        kind_ja, kind_en = _kind_labels(kind)
        result.append(
            ActivityReturn(activity_id, kind, kind_ja, kind_en, mlit_type, reward, participants, returned, rate)
        )
    return result


# ---------------------------------------------------------------------------------------------
# Issuer audit (operator view: never suppressed)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuerActivity:
    """What one issuer recorded in the region over the range."""

    issuer: str
    batches: int
    records: int
    coins_minted: int
    revoked_records: int  # of the issuer's records of the range, revoked since
    first_batch_at: int  # unix seconds
    last_batch_at: int
    first_batch_block: int
    last_batch_block: int
    last_batch_tx: str
    is_issuer_now: bool  # still holds the issuer role


@dataclass(frozen=True, slots=True)
class RevocationEntry:
    """A revocation made in the range: which record, who issued it, who revoked it and why."""

    participant: str | None  # None in the public version (public_audit)
    activity_id: int
    kind: int | None  # of the revoked record
    record_issuer: str | None
    record_day: int | None  # YYYYMMDD of the revoked record
    reason: int
    reason_ja: str
    reason_en: str
    clawed_back: int
    shortfall: int
    evidence_hash: str
    admin: str
    block_number: int
    tx_hash: str
    timestamp: int
    day: int


@dataclass(frozen=True, slots=True)
class RoleChangeEntry:
    """A region role granted or revoked in the range."""

    role_kind: int  # 1 region admin, 2 issuer
    role_ja: str
    role_en: str
    account: str
    sender: str  # who granted or revoked it
    granted: bool
    block_number: int
    tx_hash: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class IssuerAudit:
    """Who issued what, what was revoked and why, and who got or lost a role — for one region."""

    region: int
    region_name: str | None
    start: date
    end: date
    issuers: tuple[IssuerActivity, ...]  # most coins minted first
    revocations: tuple[RevocationEntry, ...]  # oldest first
    role_changes: tuple[RoleChangeEntry, ...]  # oldest first


def issuer_audit(conn: Connection, region: int, start: date, end: date) -> IssuerAudit:
    """The issuer audit of a region for ``start``..``end`` (JST days; batches and role changes by their
    block time, revocations by their day). An operator view: figures are never suppressed.
    """
    _check_region(region)
    _check_range(start, end)
    t0, t1 = _day_start(start), _day_start(end + timedelta(days=1))
    params = {"r": region, "t0": t0, "t1": t1, "d0": day_int(start), "d1": day_int(end)}
    current = {
        str(r[0])
        for r in conn.execute(
            text("SELECT account FROM region_roles WHERE region = :r AND role_kind = 2"), {"r": region}
        )
    }
    revoked_by_issuer = {
        str(r[0]): int(r[1])
        for r in conn.execute(
            text(
                "SELECT c.issuer, COUNT(*) FROM revocations v JOIN contributions c ON c.chain_id = v.chain_id "
                "AND c.activity_id = v.activity_id AND c.participant = v.participant "
                "WHERE v.region = :r AND c.block_timestamp >= :t0 AND c.block_timestamp < :t1 GROUP BY c.issuer"
            ),
            params,
        )
    }
    issuers = []
    for r in conn.execute(
        text(
            "SELECT b.issuer, COUNT(*), SUM(b.count), SUM(b.minted), MIN(b.block_timestamp), MAX(b.block_timestamp), "
            "MIN(b.block_number), MAX(b.block_number), "
            "(SELECT l.tx_hash FROM batches l WHERE l.region = b.region AND l.issuer = b.issuer "
            " AND l.block_timestamp >= :t0 AND l.block_timestamp < :t1 "
            " ORDER BY l.block_number DESC, l.log_index DESC LIMIT 1) "
            "FROM batches b WHERE b.region = :r AND b.block_timestamp >= :t0 AND b.block_timestamp < :t1 "
            "GROUP BY b.region, b.issuer"
        ),
        params,
    ):
        issuer = str(r[0])
        issuers.append(
            IssuerActivity(
                issuer=issuer,
                batches=int(r[1]),
                records=int(r[2] or 0),
                coins_minted=int(r[3] or 0),
                revoked_records=revoked_by_issuer.get(issuer, 0),
                first_batch_at=int(r[4]),
                last_batch_at=int(r[5]),
                first_batch_block=int(r[6]),
                last_batch_block=int(r[7]),
                last_batch_tx=str(r[8]),
                is_issuer_now=issuer in current,
            )
        )
    issuers.sort(key=lambda i: (-i.coins_minted, i.issuer))
    revocations = []
    for r in conn.execute(
        text(
            "SELECT v.participant, v.activity_id, c.kind, c.issuer, c.day, v.reason, v.clawed_back, v.shortfall, "
            "v.evidence_hash, v.admin, v.block_number, v.tx_hash, v.block_timestamp, v.day "
            "FROM revocations v LEFT JOIN contributions c ON c.chain_id = v.chain_id "
            "AND c.activity_id = v.activity_id AND c.participant = v.participant "
            "WHERE v.region = :r AND v.day BETWEEN :d0 AND :d1 ORDER BY v.block_number, v.log_index"
        ),
        params,
    ):
        reason = int(r[5])
        reason_ja, reason_en = REVOCATION_REASONS.get(reason, (str(reason), str(reason)))
        revocations.append(
            RevocationEntry(
                participant=str(r[0]),
                activity_id=int(r[1]),
                kind=None if r[2] is None else int(r[2]),
                record_issuer=None if r[3] is None else str(r[3]),
                record_day=None if r[4] is None else int(r[4]),
                reason=reason,
                reason_ja=reason_ja,
                reason_en=reason_en,
                clawed_back=int(r[6]),
                shortfall=int(r[7]),
                evidence_hash=str(r[8]),
                admin=str(r[9]),
                block_number=int(r[10]),
                tx_hash=str(r[11]),
                timestamp=int(r[12]),
                day=int(r[13]),
            )
        )
    role_changes = []
    for r in conn.execute(
        text(
            "SELECT role_kind, account, sender, granted, block_number, tx_hash, block_timestamp "
            "FROM region_role_changes WHERE region = :r AND block_timestamp >= :t0 AND block_timestamp < :t1 "
            "ORDER BY block_number, log_index"
        ),
        params,
    ):
        role_kind = int(r[0])
        role_ja, role_en = ROLE_KINDS.get(role_kind, (str(role_kind), str(role_kind)))
        role_changes.append(
            RoleChangeEntry(
                role_kind, role_ja, role_en, str(r[1]), str(r[2]), bool(r[3]), int(r[4]), str(r[5]), int(r[6])
            )
        )
    return IssuerAudit(
        region=region,
        region_name=_region_name(conn, region),
        start=start,
        end=end,
        issuers=tuple(issuers),
        revocations=tuple(revocations),
        role_changes=tuple(role_changes),
    )


# ---------------------------------------------------------------------------------------------
# Between regions: overlap and the national graph
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SharedRegion:
    """Another region that people of the region are also tied to."""

    region: int
    region_name: str | None
    shared: int | None  # people active in both regions in the range
    share: float | None  # shared / the region's active people


@dataclass(frozen=True, slots=True)
class RegionOverlap:
    """The other regions a region's people are also tied to."""

    region: int
    region_name: str | None
    start: date
    end: date
    first_month: int
    last_month: int
    people: int | None  # active in the region in the range
    others: tuple[SharedRegion, ...]  # most shared first


def region_overlap(conn: Connection, region: int, start: date, end: date, k: int | None = None) -> RegionOverlap:
    """Other regions sharing the region's people: those with a live record in both during the range's
    months. With ``k``, regions sharing fewer than ``k`` people are left out.
    """
    _check_region(region)
    _check_range(start, end)
    _check_k(k)
    first, last, at_head = _month_window(conn, start, end)
    people, _ = _people_in_range(conn, region, first, last, via_ties=at_head)
    # A person active in both regions in months m0..m1 has rows of month m1 in both, each with a last
    # active month >= m0; ``region_pair_months`` counts such pairs by the earlier of the two.
    rows: Sequence[Any] = (
        []
        if first > last
        else conn.execute(
            text(
                "SELECT other, SUM(people) FROM region_pair_months "
                "WHERE month = :m1 AND region = :r AND last_active_month >= :m0 GROUP BY other HAVING SUM(people) > 0"
            ),
            {"r": region, "m0": first, "m1": last},
        ).all()
    )
    names = _region_names(conn)
    others = [
        SharedRegion(int(other), names.get(int(other)), int(n), int(n) / people if people else None)
        for other, n in rows
        if suppress(int(n), k) is not None
    ]
    others.sort(key=lambda s: (-(s.shared or 0), s.region))
    return RegionOverlap(
        region=region,
        region_name=names.get(region),
        start=start,
        end=end,
        first_month=first,
        last_month=last,
        people=suppress(people, k),
        others=tuple(others),
    )


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A region of the national graph."""

    region: int
    region_name: str | None
    people: int | None  # active in the region in the period (under the kind filter)


@dataclass(frozen=True, slots=True)
class GraphLink:
    """People active in both regions of a pair (``source < target``)."""

    source: int
    target: int
    shared: int


@dataclass(frozen=True, slots=True)
class NationalGraph:
    """Regions as nodes, shared people as weighted links."""

    start: date
    end: date
    first_month: int
    last_month: int
    kind: int | None
    mlit_type: int | None
    k: int | None
    nodes: tuple[GraphNode, ...]  # by region code
    links: tuple[GraphLink, ...]  # heaviest first


def national_graph(
    conn: Connection,
    start: date,
    end: date,
    kind: int | None = None,
    mlit_type: int | None = None,
    k: int | None = None,
) -> NationalGraph:
    """The national view: every region with people active in the period, linked by the people active
    in both. People are counted over the range's whole months (like every people figure here).

    ``kind`` (a :class:`~ledger.taxonomy.ContributionKind` code) or ``mlit_type`` (a
    :class:`~ledger.taxonomy.MlitType`) keeps only live records of that kind or type, read from
    ``contributions``; without a filter it comes from ``ties`` (a range reaching the index head's
    month) or ``tie_months``. With ``k``, a node's
    count below ``k`` is hidden and a link of fewer than ``k`` people is left out.
    """
    _check_range(start, end)
    _check_k(k)
    if kind is not None and mlit_type is not None:
        raise ValueError("filter by kind or by mlit_type, not both")
    if kind is not None:
        kind = int(ContributionKind(kind))
    if mlit_type is not None:
        mlit_type = int(MlitType(mlit_type))
    first, last, _ = _month_window(conn, start, end)
    names = _region_names(conn)
    if kind is None and mlit_type is None:
        # From the rollups (kept by triggers on tie_months): nodes are the people of month m1's rows
        # last active in m0 or later; links the pairs of such rows of one person.
        node_rows: Sequence[Any] = []
        link_rows: Sequence[Any] = []
        if first <= last:
            node_rows = conn.execute(
                text(
                    "SELECT region, SUM(people) FROM region_month_cohorts "
                    "WHERE month = :m1 AND last_active_month >= :m0 "
                    "GROUP BY region HAVING SUM(people) > 0 ORDER BY region"
                ),
                {"m0": first, "m1": last},
            ).all()
            link_rows = conn.execute(
                text(
                    "SELECT region, other, SUM(people) FROM region_pair_months WHERE month = :m1 "
                    "AND last_active_month >= :m0 AND region < other GROUP BY region, other HAVING SUM(people) > 0"
                ),
                {"m0": first, "m1": last},
            ).all()
        graph_nodes = [GraphNode(int(r), names.get(int(r)), suppress(int(n), k)) for r, n in node_rows]
        graph_links = [GraphLink(int(a), int(b), int(n)) for a, b, n in link_rows if suppress(int(n), k) is not None]
        graph_links.sort(key=lambda link: (-link.shared, link.source, link.target))
        return NationalGraph(start, end, first, last, kind, mlit_type, k, tuple(graph_nodes), tuple(graph_links))
    params: dict[str, Any] = _pairs_params(first, last)
    # kind // 10 is the type, so a kind filter is also a type filter: one index serves both.
    params.update(
        d0=day_int(_month_first_day(first)),
        d1=day_int(_month_last_day(last)) if first <= last else 0,
        t=mlit_type if kind is None else kind // 10,
        kd=kind,
    )
    pairs = (
        "SELECT DISTINCT c.region, c.participant FROM contributions c "
        "WHERE c.mlit_type = :t AND c.day BETWEEN :d0 AND :d1"
        + (" AND c.kind = :kd" if kind is not None else "")
        + " AND NOT EXISTS (SELECT 1 FROM revocations v "
        "WHERE v.activity_id = c.activity_id AND v.participant = c.participant)"
    )
    # One pass over the (region, person) pairs; nodes and links are counted here rather than by a
    # self-join, which would read the pairs twice.
    regions_of: dict[str, list[int]] = {}
    for region, participant in conn.execute(text(f"SELECT region, participant FROM ({pairs}) p"), params):
        regions_of.setdefault(str(participant), []).append(int(region))
    people: Counter[int] = Counter()
    shared: Counter[tuple[int, int]] = Counter()
    for regions in regions_of.values():
        people.update(regions)
        if len(regions) > 1:
            shared.update(combinations(sorted(regions), 2))
    nodes = [GraphNode(region, names.get(region), suppress(people[region], k)) for region in sorted(people)]
    links = [GraphLink(a, b, n) for (a, b), n in shared.items() if suppress(n, k) is not None]
    links.sort(key=lambda link: (-link.shared, link.source, link.target))
    return NationalGraph(start, end, first, last, kind, mlit_type, k, tuple(nodes), tuple(links))


# ---------------------------------------------------------------------------------------------
# The indexer's state
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckpointStatus:
    """Where the indexer of one chain is."""

    chain_id: int
    contract: str
    block_number: int  # every log up to this block is in the tables
    block_hash: str
    block_timestamp: int
    updated_at: int  # wall clock of the last commit
    head_seen: int  # chain head when last polled
    lag_blocks: int  # head_seen - block_number (never negative)
    last_error: str | None
    last_error_at: int | None


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """The indexer's checkpoint(s) and backlog."""

    checkpoints: tuple[CheckpointStatus, ...]
    dirty_ties: int  # ties waiting to be recomputed
    dirty_days: int  # region-days waiting to be recomputed
    undecodable_logs: int  # logs kept but not understood: investigate if not zero
    services: tuple[ServiceState, ...] = ()  # the indexer's and relayer's loops: alive, last error

    @property
    def caught_up(self) -> bool:
        """Indexed to the head seen and no derived row waiting."""
        return (
            bool(self.checkpoints)
            and all(c.lag_blocks == 0 for c in self.checkpoints)
            and self.dirty_ties == 0
            and self.dirty_days == 0
        )


def index_status(conn: Connection) -> IndexStatus:
    """Checkpoint, lag, last error, dirty keys and undecodable logs (for ``tsunagari index status``,
    the operator's health page and monitoring)."""
    checkpoints = tuple(
        CheckpointStatus(
            chain_id=int(r[0]),
            contract=str(r[1]),
            block_number=int(r[2]),
            block_hash=str(r[3]),
            block_timestamp=int(r[4]),
            updated_at=int(r[5]),
            head_seen=int(r[6]),
            lag_blocks=max(0, int(r[6]) - int(r[2])),
            last_error=None if r[7] is None else str(r[7]),
            last_error_at=None if r[8] is None else int(r[8]),
        )
        for r in conn.execute(
            text(
                "SELECT chain_id, contract, block_number, block_hash, block_timestamp, updated_at, head_seen, "
                "last_error, last_error_at FROM indexer_checkpoints ORDER BY chain_id, contract"
            )
        )
    )
    counts = conn.execute(
        text(
            "SELECT (SELECT COUNT(*) FROM dirty_ties), (SELECT COUNT(*) FROM dirty_days), "
            "(SELECT COUNT(*) FROM undecodable_logs)"
        )
    ).one()
    return IndexStatus(checkpoints, int(counts[0]), int(counts[1]), int(counts[2]), tuple(service_health(conn)))


# ---------------------------------------------------------------------------------------------
# Projects (応援先) and the off-chain text of activities and projects
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProjectEntry:
    """A project of a region that participants can support (応援) with the region's coins."""

    project_id: int
    region: int
    region_name: str | None
    name: str | None  # off-chain text whose keccak256 is the metadata hash on chain (None if unknown)
    description: str | None
    metadata_hash: str
    closed: bool
    raised: int  # coins spent on it
    supporters: int  # distinct supporters
    registered_at: int  # unix seconds
    tx_hash: str


def region_projects(conn: Connection, region: int | None = None) -> list[ProjectEntry]:
    """The projects of ``region`` (every region when ``None``), open ones first, newest first.

    ``raised`` and ``supporters`` come from the indexed ``ProjectSupported`` logs; names from the
    off-chain text kept by ``ledger.checkin.metadata`` (committed to by the hash on chain).
    """
    if region is not None:
        _check_region(region)
    where = "" if region is None else "WHERE p.region = :r "
    rows = conn.execute(
        text(
            "SELECT p.project_id, p.region, m.name, m.description, p.metadata_hash, p.closed, p.raised, "
            "p.supporters, p.registered_at, p.tx_hash FROM projects p "
            "LEFT JOIN activity_metadata m ON m.metadata_hash = p.metadata_hash "
            f"{where}ORDER BY p.closed, p.project_id DESC"
        ),
        {"r": region},
    ).all()
    names = _region_names(conn)
    return [
        ProjectEntry(
            project_id=int(r[0]),
            region=int(r[1]),
            region_name=names.get(int(r[1])),
            name=None if r[2] is None else str(r[2]),
            description=None if r[3] is None else str(r[3]),
            metadata_hash=str(r[4]),
            closed=bool(r[5]),
            raised=int(r[6] or 0),
            supporters=int(r[7] or 0),
            registered_at=int(r[8]),
            tx_hash=str(r[9]),
        )
        for r in rows
    ]


def activity_names(conn: Connection, activity_ids: Sequence[int]) -> dict[int, str]:
    """The off-chain names of activities (those whose text is known), by activity id."""
    ids = sorted({int(i) for i in activity_ids})
    if not ids:
        return {}
    rows = conn.execute(
        text(
            "SELECT a.activity_id, m.name FROM activities a "
            "JOIN activity_metadata m ON m.metadata_hash = a.metadata_hash WHERE a.activity_id IN :ids"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": ids},
    )
    return {int(r[0]): str(r[1]) for r in rows}


# ---------------------------------------------------------------------------------------------
# The region dashboard as one document (the JSON API and the server-rendered page both use it)
# ---------------------------------------------------------------------------------------------


FIGURE_DEFINITIONS: dict[str, tuple[str, str]] = {
    "participants": (
        "期間末の月までにこの地域で有効な記録が1件以上ある人数（全段階）。",
        "People with at least one live record in the region up to the end of the as-of month (every stage).",
    ),
    "kankei": (
        "関係人口：つながりモデルの段階が「関係人口」または「コア」の人数（継続的：2か月以上・90日以上、"
        "かつ多様な形で：2形態以上・年8日以上の訪問・非訪問系2種以上のいずれか。docs/ties.md §6）。期間末の月の時点。",
        "関係人口: people whose tie is at stage kankei or core (continuous: 2+ months spanning 90+ days, and "
        "diverse or frequent: 2+ MLIT forms, 8+ visit days a year or 2+ non-visiting kinds; docs/ties.md §6), "
        "as of the end of the as-of month.",
    ),
    "kankei_visiting": (
        "関係人口のうち訪問系（過去1年に訪問日が1日以上）。",
        "関係人口 with at least one visit day in the trailing year (訪問系).",
    ),
    "kankei_non_visiting": (
        "関係人口のうち非訪問系（過去1年に訪問日なし：ふるさと納税・特産品購入・オンライン交流のみ）。",
        "関係人口 with no visit day in the trailing year (非訪問系: donations, local products, online exchange).",
    ),
    "monthly": (
        "月ごとの推移：各月末時点の人数と段階、その月に活動した人（新規・再来）、記録数とコイン。",
        "Month by month: people and stages as of each month's end; people active that month (new, returning); "
        "records and coins of the month.",
    ),
    "active": (
        "期間内の月に有効な記録（地縁・血縁を除く）が1件以上ある人数。",
        "People with a live (non-kin) record in the range's months.",
    ),
    "new": (
        "新規：期間内に活動した人のうち、この地域での最初の記録が期間内の月にある人。",
        "New: people active in the range whose first live record in the region falls in the range's months.",
    ),
    "returning": (
        "再来：期間内に活動した人のうち、期間より前にもこの地域で記録がある人。",
        "Returning: people active in the range who already had a live record in the region before it.",
    ),
    "stages": (
        "段階の内訳（なし→来訪→リピーター→関係人口→コア）、期間末の月の時点。規則は docs/ties.md §6。",
        "The stage funnel (none → visitor → repeater → kankei → core) as of the end of the as-of month; "
        "rules in docs/ties.md §6.",
    ),
    "visit_bands": (
        "過去1年の訪問日数の区分（国交省の 1日／2〜7日／8日以上、0＝訪問なし）。全国値は 2〜7日＝49% のみ公表。",
        "Visit days in the trailing year in MLIT's bands (1, 2-7, 8+; 0 = no visit); the national figure quoted "
        "is 2-7 days = 49%.",
    ),
    "type_mix": (
        "期間内の有効な記録の国交省類型別件数。訪問系4類型の構成比を全国の訪問系関係人口の構成（人ベース）と並べる。",
        "Live records of the range by MLIT type; the four visiting types' shares sit beside the national mix of "
        "visiting 関係人口 (which counts people, not records).",
    ),
    "national": (
        "全国値：国土交通省 2023年度調査（n=118,963）。自己申告の調査で、台帳は記録された活動のみ："
        "水準ではなく形を比べる。",
        "National figures: MLIT 2023 survey (n=118,963), self-reported; the ledger sees recorded activity only, so "
        "compare shapes, not levels.",
    ),
    "cohorts": (
        "初回活動月別の継続率：この地域で最初の記録がその月にある人のうち、各月に活動した人の割合。",
        "Retention by first-activity month: of the people whose first live record in the region fell in that "
        "month, the share active in each later month.",
    ),
    "returning_kinds": (
        "再訪につながる活動：期間内の活動種別ごとの有効な記録数と、そのうち参加者が後日この地域で再び記録した件数"
        "（指標の時点まで）。地縁・血縁は除く。",
        "Activities that bring people back: per activity kind, the range's live records and how many of them "
        "were followed by a later live record of the same person in the region (up to the index head); kin "
        "visits excluded.",
    ),
    "coins_issued": (
        "発行：期間内の記録で発行されたコイン（後に取り消された記録を含む）。",
        "Issued: coins minted by the range's records (records revoked later included).",
    ),
    "coins_spent": (
        "応援：期間内にプロジェクトの応援に使われたコイン。",
        "Support: coins spent on projects in the range.",
    ),
    "coins_clawed_back": (
        "取消：期間内の取り消しで回収されたコイン。",
        "Revoked: coins burned by revocations made in the range.",
    ),
    "gift_rate": (
        "応援率＝応援 ÷ 発行（同じ期間）。地域が渡したコインのうち応援として戻った割合。",
        "Gift rate = support ÷ issued over the same range: how much of what the region gave came back as support.",
    ),
    "audit": (
        "発行者監査：発行者ごとの記録・発行コイン・取り消し、期間内の取り消し（理由つき）と権限の変更。公開版は参加者アドレスを含まない。",
        "Issuer audit: per issuer the records, coins and revoked records; revocations in the range with their "
        "reasons; role changes. The public version carries no participant address.",
    ),
    "overlap": (
        "重なり：この地域と他の地域の両方で期間内に活動した人数と、この地域の活動者に占める割合。",
        "Overlap: people active in both this region and another in the range, and their share of this region's "
        "active people.",
    ),
    "projects": (
        "応援先プロジェクト：応援額と応援者数（応援者が k 人未満のときは非表示）。",
        "Projects open for support, with coins raised and supporters (hidden with fewer than k supporters).",
    ),
    "help_hours": (
        "お手伝いの時間：期間内の日の、時間単位の活動の有効な記録（地縁・血縁を除く）の時間の合計と、その人数。"
        "k 人未満のときは時間も人数も表示しない。",
        "Hours of help: the hours of live per-hour records (kin visits excluded) made on the range's days, and the "
        "people behind them; both hidden with fewer than k people.",
    ),
    "stay_days": (
        "滞在日数：日単位の活動の有効な記録（N日の滞在は記録の日に終わるN日間）がカバーする期間内の日を、人ごとに数えた合計"
        "（同じ人の同じ日は1日）と、その人数。k 人未満のときは日数も人数も表示しない。",
        "Days of stays: the days inside the range covered by live per-day records (a stay of N days is the N days "
        "ending on the day it was recorded), counted once per person and day, and the people behind them; both "
        "hidden with fewer than k people.",
    ),
    "index": (
        "インデクサの状態：取り込んだブロック、チェーンの先頭との差（ラグ）、未計算の派生行。",
        "Indexer status: the block indexed, the lag behind the chain head, derived rows waiting.",
    ),
    "k": (
        "小さなセルの秘匿：k 人未満の人数（と差し引きで分かる1セル）は表示しない（null）。0 は表示する。",
        "Small-cell suppression: a count of fewer than k people (and one more cell when subtraction would reveal "
        "it) is shown as null; zero is shown.",
    ),
}
"""A short 日本語 and English definition of every figure of the region dashboard, by figure key."""


def default_range(conn: Connection) -> tuple[date, date]:
    """The dashboards' default period: the last 12 whole JST months up to the index head's day
    (up to today before anything is indexed)."""
    timestamp = conn.execute(text("SELECT MAX(block_timestamp) FROM indexer_checkpoints")).scalar()
    end = (
        date.fromordinal(_EPOCH_ORDINAL + (int(timestamp) + JST_OFFSET_SECONDS) // _SECONDS_PER_DAY)
        if (timestamp is not None)
        else date.today()
    )
    year, month = divmod(end.year * 12 + end.month - 1 - 11, 12)
    return date(year, month + 1, 1), end


@dataclass(frozen=True, slots=True)
class KindReturn:
    """How often a kind of activity in the region was followed by the person's return."""

    kind: int
    kind_ja: str
    kind_en: str
    mlit_type: int
    records: int | None  # live records of this kind in the range
    returned: int | None  # ... followed by a later live record of the person in the region
    return_rate: float | None  # returned / records


def returning_kinds(conn: Connection, region: int, start: date, end: date, k: int | None = None) -> list[KindReturn]:
    """Which kinds of activity bring people back: per kind, the live records of ``start``..``end`` and
    how many were followed by a later live (non-kin) record of the same person in the region, at any
    time up to the index head. Highest return rate first; 地縁・血縁 left out (it feeds no stage).

    From ``region_daily`` and ``region_daily_stays`` (kept by triggers on ``ties``: the records on a
    tie's last active day did not bring that person back), so it reads one row per day and kind.
    With ``k``, kinds with fewer than ``k`` records are left out and a ``returned`` (or the
    complementary stayed) count below ``k`` is hidden with its rate.
    """
    _check_region(region)
    _check_range(start, end)
    _check_k(k)
    params = {"r": region, "d0": day_int(start), "d1": day_int(end), "kin": int(MlitType.KIN)}
    source, source_params = _daily_source("region_daily", "region_month_kinds", "kind, mlit_type, records", start, end)
    records = {
        int(r[0]): (int(r[1]), int(r[2] or 0))
        for r in conn.execute(
            text(f"SELECT kind, MIN(mlit_type), SUM(records) FROM ({source}) x WHERE mlit_type <> :kin GROUP BY kind"),
            {**params, **source_params},
        )
    }
    source, source_params = _daily_source("region_daily_stays", "region_month_stays", "kind, stays", start, end)
    stays = {
        int(r[0]): int(r[1] or 0)
        for r in conn.execute(
            text(f"SELECT kind, SUM(stays) FROM ({source}) x GROUP BY kind"), {**params, **source_params}
        )
    }
    result = []
    for kind, (mlit_type, n) in records.items():
        if n <= 0 or (k is not None and n < k):
            continue
        returned = max(0, n - stays.get(kind, 0))
        shown = returned if suppress(returned, k) is not None and suppress(n - returned, k) is not None else None
        kind_ja, kind_en = _kind_labels(kind)
        result.append(KindReturn(kind, kind_ja, kind_en, mlit_type, n, shown, None if shown is None else shown / n))
    result.sort(key=lambda r: (r.return_rate is None, -(r.return_rate or 0.0), -(r.records or 0), r.kind))
    return result


def public_audit(audit: IssuerAudit) -> IssuerAudit:
    """The issuer audit without participant addresses (what a public dashboard shows)."""
    return replace(audit, revocations=tuple(replace(v, participant=None) for v in audit.revocations))


@dataclass(frozen=True, slots=True)
class PublicProject:
    """A project as a public page shows it: raised and supporters hidden below ``k`` supporters."""

    project_id: int
    region: int
    region_name: str | None
    name: str | None
    description: str | None
    metadata_hash: str
    closed: bool
    raised: int | None
    supporters: int | None
    registered_at: int
    tx_hash: str


def public_projects(conn: Connection, region: int | None = None, k: int | None = None) -> list[PublicProject]:
    """:func:`region_projects` with small cells suppressed: with fewer than ``k`` supporters (but
    some), neither the supporter count nor the coins raised are shown."""
    _check_k(k)
    result = []
    for p in region_projects(conn, region):
        hidden = suppress(p.supporters, k) is None
        result.append(
            PublicProject(
                p.project_id,
                p.region,
                p.region_name,
                p.name,
                p.description,
                p.metadata_hash,
                p.closed,
                None if hidden else p.raised,
                None if hidden else p.supporters,
                p.registered_at,
                p.tx_hash,
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class SupportedProject:
    """A project a person supported (応援), with what they gave."""

    project_id: int
    region: int
    region_name: str | None
    name: str | None
    closed: bool
    amount: int  # coins the person spent on it
    supports: int  # their support transactions
    first_at: int
    last_at: int


def person_supports(conn: Connection, address: str) -> list[SupportedProject]:
    """The projects ``address`` supported, most recent first (``ix_supports_supporter_region``)."""
    supporter = normalize_address(address)
    rows = conn.execute(
        text(
            "SELECT s.project_id, s.region, m.name, p.closed, SUM(s.amount), COUNT(*), MIN(s.block_timestamp), "
            "MAX(s.block_timestamp) FROM supports s LEFT JOIN projects p ON p.project_id = s.project_id "
            "LEFT JOIN activity_metadata m ON m.metadata_hash = p.metadata_hash "
            "WHERE s.supporter = :p GROUP BY s.project_id, s.region, m.name, p.closed"
        ),
        {"p": supporter},
    ).all()
    names = _region_names(conn)
    result = [
        SupportedProject(
            int(r[0]),
            int(r[1]),
            names.get(int(r[1])),
            None if r[2] is None else str(r[2]),
            bool(r[3]),
            int(r[4] or 0),
            int(r[5]),
            int(r[6]),
            int(r[7]),
        )
        for r in rows
    ]
    result.sort(key=lambda s: (-s.last_at, s.project_id))
    return result


@dataclass(frozen=True, slots=True)
class RegionDashboard:
    """Everything a region dashboard shows, for one period; every figure's definition is in
    ``definitions`` (:data:`FIGURE_DEFINITIONS`)."""

    region: RegionInfo
    start: date
    end: date
    k: int | None
    summary: RegionSummary  # 関係人口, stages, bands, type mix, new/returning, coins (gift rate)
    units: UnitTotals  # hours of help and days of stays
    monthly: tuple[MonthlyPoint, ...]
    cohorts: tuple[Cohort, ...]
    returning_kinds: tuple[KindReturn, ...]
    audit: IssuerAudit  # public: no participant addresses
    overlap: RegionOverlap
    projects: tuple[PublicProject, ...]
    index: IndexStatus
    caught_up: bool
    national: NationalReference
    definitions: dict[str, dict[str, str]]


def region_dashboard(
    conn: Connection, region: int, start: date | None = None, end: date | None = None, k: int | None = DEFAULT_K
) -> RegionDashboard | None:
    """The whole public region dashboard (``None`` when the region is not registered); ``start`` /
    ``end`` default to :func:`default_range`. Every part comes from the functions above, so a page
    and the JSON API show the same numbers. Reads rollups and small tables (no scan of
    ``contributions`` or ``tie_months``), and the records of per-hour and per-day activities by
    activity (:func:`region_units`)."""
    _check_region(region)
    info = next((r for r in list_regions(conn) if r.region == region), None)
    if info is None:
        return None
    if start is None or end is None:
        default_start, default_end = default_range(conn)
        start, end = start or default_start, end or default_end
    _check_range(start, end)
    status = index_status(conn)
    return RegionDashboard(
        region=info,
        start=start,
        end=end,
        k=k,
        summary=region_summary(conn, region, start, end, k=k),
        units=region_units(conn, region, start, end, k=k),
        monthly=tuple(region_monthly(conn, region, start, end, k=k)),
        cohorts=tuple(cohort_retention(conn, region, start, end, k=k)),
        returning_kinds=tuple(returning_kinds(conn, region, start, end, k=k)),
        audit=public_audit(issuer_audit(conn, region, start, end)),
        overlap=region_overlap(conn, region, start, end, k=k),
        projects=tuple(public_projects(conn, region, k=k)),
        index=status,
        caught_up=status.caught_up,
        national=NATIONAL_REFERENCE,
        definitions={key: {"ja": ja, "en": en} for key, (ja, en) in FIGURE_DEFINITIONS.items()},
    )
