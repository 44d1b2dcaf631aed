"""Small cells and the shared helpers of the read side: addresses, calendar keys, suppression (k),
the month window of a range, who was active in a range, region names and kind labels."""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Connection, text

from ledger import jst
from ledger.indexer.refresh import month_of
from ledger.municipalities import jis_code, region_label
from ledger.taxonomy import KIND_LABELS, ContributionKind, MlitType
from ledger.ties import Stage

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

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")

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
    return jst.day_key_of_date(day)


def month_int(day: date) -> int:
    """``YYYYMM`` of the JST month containing ``day``."""
    return jst.month_key_of_date(day)


def months_between(first: int, last: int) -> list[int]:
    """Every ``YYYYMM`` from ``first`` to ``last`` inclusive (empty when ``first > last``)."""
    return list(jst.months(first, last))


_next_month = jst.next_month
_month_first_day = jst.month_first_day
_month_last_day = jst.month_last_day
_day_start = jst.day_start


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


def name_region(row: Any, registered_name: str | None) -> None:
    """Fill a frozen row's ``code`` (five-digit JIS text) and ``label`` (the municipality's name,
    else the name registered with the coin) from its ``region``: every row that names a region does
    it this one way (``__post_init__``)."""
    object.__setattr__(row, "code", jis_code(row.region))
    object.__setattr__(row, "label", region_label(row.region, registered_name))


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


@dataclass(frozen=True, slots=True)
class PeriodPeople:
    """Who was active in a range of months, split three ways that never overlap: new and gone (first
    record in the range, not back since), new and back (first record in the range, active again in a
    later month of it), and back from before (first record before the range, active in it)."""

    new_once: int
    new_back: int
    from_before: int

    @property
    def active(self) -> int:
        return self.new_once + self.new_back + self.from_before

    @property
    def new(self) -> int:
        return self.new_once + self.new_back

    @property
    def returning(self) -> int:
        """Active in a month of the range after an earlier month with a record (before it or in it)."""
        return self.new_back + self.from_before


def _period_people(conn: Connection, region: int, first: int, last: int) -> PeriodPeople:
    """:class:`PeriodPeople` of months ``first``..``last`` from one month of ``region_month_cohorts``:
    the rows of ``last`` carry each person's first month and last active month up to ``last``, and a
    person came back within the range exactly when that last active month is in the range and after
    their first (the last active month is then a month of the range after an earlier active one)."""
    if first > last:
        return PeriodPeople(0, 0, 0)
    row = conn.execute(
        text(
            "SELECT SUM(CASE WHEN first_month >= :m0 AND last_active_month = first_month THEN people ELSE 0 END), "
            "SUM(CASE WHEN first_month >= :m0 AND last_active_month > first_month THEN people ELSE 0 END), "
            "SUM(CASE WHEN first_month < :m0 AND last_active_month >= :m0 THEN people ELSE 0 END) "
            "FROM region_month_cohorts WHERE region = :r AND month = :m1"
        ),
        {"r": region, "m0": first, "m1": last},
    ).one()
    return PeriodPeople(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


def _kin_only(conn: Connection, region: int, months: Sequence[int]) -> dict[int, int]:
    """People of ``region`` whose only live records up to the end of each month of ``months`` are
    地縁・血縁 (stage none, no ``tie_months`` row yet): ties with ``0 < kin_first_month <= m`` and no
    other live record by then (``first_month`` 0 or later than ``m``). Reads the region's ties with a
    kin record only, counted by (kin month, first month) in the covering index
    ``ix_ties_region_kin_first_month`` (migration 0012): at most a few hundred pairs, whatever the
    number of people."""
    if not months:
        return {}
    low, high = min(months), max(months)
    rows = conn.execute(
        text(
            "SELECT kin_first_month, first_month, COUNT(*) FROM ties WHERE region = :r AND kin_first_month > 0 "
            "AND kin_first_month <= :m1 AND (first_month = 0 OR first_month > :m0) "
            "GROUP BY kin_first_month, first_month"
        ),
        {"r": region, "m0": low, "m1": high},
    ).all()
    counts = [(int(r[0]), int(r[1]), int(r[2])) for r in rows]
    return {m: sum(n for kin, other, n in counts if kin <= m and (other == 0 or other > m)) for m in months}
