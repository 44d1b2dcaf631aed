"""A region's figures: the registered regions, the summary (people, 関係人口, stages, bands, type mix,
coins), units of help and stays, the monthly series, cohorts, and the activities that bring people back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, text

from ledger.queries.cells import (
    _VISITING_TYPES,
    STAGES,
    VISIT_BANDS,
    _check_k,
    _check_range,
    _check_region,
    _daily_source,
    _kin_only,
    _kind_labels,
    _month_first_day,
    _month_last_day,
    _month_window,
    _period_people,
    _region_name,
    _share,
    _slice,
    _slice_columns,
    day_int,
    months_between,
    name_region,
    suppress,
    suppress_group,
)
from ledger.queries.network import NATIONAL_REFERENCE, NationalReference
from ledger.taxonomy import TYPE_LABELS, MlitType, RewardUnit
from ledger.ties import VISIT_BAND_LABELS, Stage

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
    code: str = ""  # the five-digit JIS code as text ("01634"), filled from ``region``
    label: str = ""  # what pages call it: the municipality's name (日本語), else the coin's name

    def __post_init__(self) -> None:
        name_region(self, self.name)


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
    participants: int | None  # with a live record in the region up to then (every stage, kin-only included)
    participants_without_kin: int | None  # ... with a live record other than 地縁・血縁 (the model's stages)
    kin_only: int | None  # ... whose only live records are 地縁・血縁 (stage none)
    kankei: int | None  # 関係人口 by the model's definition (stages 関係人口 + コア)
    kankei_visiting: int | None
    kankei_non_visiting: int | None
    stages: tuple[StageCount, ...]  # lowest rung first; sums to participants (kin-only at none)
    visit_bands: tuple[BandCount, ...]
    # people, over the months of the range
    active: int | None  # with a live (non-kin) record in the range
    new: int | None  # ... whose first live record is in the range
    returning: int | None  # ... active in a month of it after an earlier active month (before it or in it)
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
    first_month, as_of_month, _ = _month_window(conn, start, end)
    columns, params = _slice_columns()
    params.update(r=region, m=as_of_month, d0=day_int(start), d1=day_int(end))
    month = _slice(
        conn.execute(text(f"SELECT {columns} FROM region_month_people WHERE region = :r AND month = :m"), params).one()
    )
    kin_only = _kin_only(conn, region, [as_of_month]).get(as_of_month, 0)
    # kin-only people are participants at stage none, with no visit day (MLIT leaves kin out of 訪問系)
    stages = {**month.stages, Stage.NONE.value: month.stages.get(Stage.NONE.value, 0) + kin_only}
    bands = {**month.bands, "0": month.bands.get("0", 0) + kin_only}
    participants = month.people + kin_only
    kankei = {"visiting": month.kankei - month.non_visiting, "non_visiting": month.non_visiting}
    period = _period_people(conn, region, first_month, as_of_month)
    active = period.active

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
    # the three disjoint cells behind new / returning, hidden together so none is recovered from active
    cells = suppress_group({"once": period.new_once, "back": period.new_back, "before": period.from_before}, k)
    shown = all(v is not None for v in cells.values())
    people_split = suppress_group({"without_kin": month.people, "kin_only": kin_only}, k)
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
        participants_without_kin=people_split["without_kin"],
        kin_only=people_split["kin_only"],
        kankei=suppress(kankei_total, k),
        kankei_visiting=split["visiting"],
        kankei_non_visiting=split["non_visiting"],
        stages=_stage_counts(stages, k),
        visit_bands=visit_bands,
        active=suppress(active, k),
        new=suppress(period.new, k) if shown else None,
        returning=suppress(period.returning, k) if shown else None,
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
    participants: int | None  # with a live record in the region up to this month (kin-only included)
    kin_only: int | None  # ... whose only live records are 地縁・血縁 (counted at stage none)
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
    kin_only = _kin_only(conn, region, months)
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
        kin = kin_only.get(month, 0)
        month_stages = {**cell.stages, Stage.NONE.value: cell.stages.get(Stage.NONE.value, 0) + kin}
        people_split = suppress_group({"without_kin": cell.people, "kin_only": kin}, k)
        issued, spent, clawed, supports, revocations, expired = coins.get(month, (0, 0, 0, 0, 0, 0))
        points.append(
            MonthlyPoint(
                month=month,
                participants=suppress(cell.people + kin, k),
                kin_only=people_split["kin_only"],
                kankei=suppress(cell.kankei, k),
                kankei_visiting=split["visiting"],
                kankei_non_visiting=split["non_visiting"],
                active=suppress(cell.active, k),
                new=in_month["new"],
                returning=in_month["returning"],
                stages=_stage_counts(month_stages, k),
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
