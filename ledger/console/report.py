"""The monthly report for the mayor: one JST month of a region on one printable page.

Every headline figure comes from :func:`ledger.queries.region_summary` with the month as the
period and the public dashboard's ``k`` — the very call the region dashboard makes — so the report,
its JSON and ``/api/v1/regions/{region}/dashboard?start=…&end=…`` of the same month agree (one
definition per figure). What the dashboard does not have — the day-by-day records, the activities
of the month, how many were held and the designated 担い手活動 records — is read here from the same
tables with the same rule for a live record (a record with no revocation) and the same small-cell
suppression (:func:`ledger.queries.suppress`).

The page, the PDF and the JSON are rendered by ``api/`` from :class:`MonthlyReport`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from sqlalchemy import Connection, text

from ledger import jst, queries
from ledger.errors import InvalidInput
from ledger.municipalities import jis_code, municipality_name
from ledger.taxonomy import KIND_LABELS, ContributionKind

__all__ = [
    "HEADLINE_FIGURES",
    "REPORT_DEFINITIONS",
    "TOP_ACTIVITIES",
    "DailyPoint",
    "MonthlyReport",
    "ReportActivity",
    "ReportFigures",
    "ReportSource",
    "last_complete_month",
    "month_key",
    "month_range",
    "monthly_report",
    "parse_month",
    "recent_months",
]

TOP_ACTIVITIES: Final = 5
_MONTH: Final = re.compile(r"(\d{4})-(\d{2})")

# The figures of the report, in the order the page shows them, with the key of their definition.
HEADLINE_FIGURES: Final[tuple[tuple[str, str], ...]] = (
    ("active", "active"),
    ("participants", "participants"),
    ("kankei", "kankei"),
    ("kankei_visiting", "kankei_visiting"),
    ("kankei_non_visiting", "kankei_non_visiting"),
    ("new", "new"),
    ("returning", "returning"),
    ("records", "records"),
    ("designated_records", "designated_records"),
    ("activities_held", "activities_held"),
    ("coins_issued", "coins_issued"),
    ("coins_spent", "coins_spent"),
    ("supports", "supports"),
)

REPORT_DEFINITIONS: Final[dict[str, tuple[str, str]]] = {
    "records": (
        "その月に行われた有効な記録（取り消されたものを除く）の件数。",
        "Live records made in the month (revoked ones left out).",
    ),
    "supports": (
        "その月の応援（参加者がコインをプロジェクトに使った回数）。",
        "Supports (応援) in the month: how many times participants spent coins on a project.",
    ),
    "activities_held": (
        "その月に有効な記録が1件以上ある活動の数。",
        "Activities with at least one live record in the month.",
    ),
    "designated_records": (
        "その月の有効な記録のうち、地域が指定した担い手活動（ふるさと住民登録の対象）の件数。",
        "Live records of the month at designated 担い手活動 (what ふるさと住民登録 counts).",
    ),
    "daily": (
        "日別の有効な記録数（日本時間）。k 件未満の日は件数を示さない。",
        "Live records per JST day; days with fewer than k records are not shown.",
    ),
    "top_activities": (
        f"その月の有効な記録が多い活動（上位{TOP_ACTIVITIES}件）。k 未満の件数・人数は示さない。",
        f"The month's activities with the most live records (top {TOP_ACTIVITIES}); counts below k are not shown.",
    ),
}
"""Definitions of the report's figures that the dashboard catalogue (FIGURE_DEFINITIONS) lacks."""


def parse_month(value: str) -> tuple[int, int]:
    """``YYYY-MM`` as (year, month); ``InvalidInput`` otherwise."""
    match = _MONTH.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise InvalidInput(f"the month must be YYYY-MM, got {str(value)[:20]!r}")
    return int(match.group(1)), int(match.group(2))


def month_key(year: int, month: int) -> str:
    """``"YYYY-MM"`` (:func:`ledger.jst.month_text`)."""
    return jst.month_text(year * 100 + month)


def month_range(year: int, month: int) -> tuple[date, date]:
    """The first and last JST day of a month."""
    key = year * 100 + month
    return jst.month_first_day(key), jst.month_last_day(key)


def last_complete_month(now: float | None = None) -> tuple[int, int]:
    """The last JST month that has ended (the report page's default)."""
    last = jst.today(now).replace(day=1) - timedelta(days=1)
    return last.year, last.month


def recent_months(conn: Connection, region: int, now: float | None = None, limit: int = 24) -> list[tuple[int, int]]:
    """Months a report can be asked for, newest first: from the index head's month (or this month)
    back to the region's registration, at most ``limit``."""
    row = conn.execute(
        text(
            "SELECT MIN(r.block_timestamp), (SELECT MAX(block_timestamp) FROM indexer_checkpoints) "
            "FROM region_registrations r WHERE r.region = :r"
        ),
        {"r": region},
    ).one()
    today = jst.today(now)
    newest = today if row[1] is None else max(today, jst.date_of(int(row[1])))
    oldest = newest if row[0] is None else jst.date_of(int(row[0]))
    months: list[tuple[int, int]] = []
    year, month = newest.year, newest.month
    while (year, month) >= (oldest.year, oldest.month) and len(months) < limit:
        months.append((year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months


@dataclass(frozen=True, slots=True)
class ReportFigures:
    """The headline figures of the month (None: fewer than k, not shown)."""

    active: int | None  # people with a live record in the month
    participants: int | None  # people with a live record in the region up to the month's end
    kankei: int | None
    kankei_visiting: int | None
    kankei_non_visiting: int | None
    new: int | None
    returning: int | None
    records: int | None
    designated_records: int | None
    activities_held: int
    coins_issued: int | None
    coins_spent: int | None
    supports: int | None


@dataclass(frozen=True, slots=True)
class DailyPoint:
    day: date
    records: int | None  # live records of the day (None: fewer than k)
    coins_issued: int


@dataclass(frozen=True, slots=True)
class ReportActivity:
    activity_id: int
    name: str | None
    kind: int
    kind_ja: str
    kind_en: str
    designated: bool
    records: int | None
    participants: int | None
    units: int
    coins_issued: int


@dataclass(frozen=True, slots=True)
class ReportSource:
    chain_id: int | None
    ledger: str | None
    head_block: int | None
    head_at: int | None  # unix seconds of the indexed head block


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    region: int
    region_code: str  # five digits, e.g. "01634"
    municipality_ja: str
    municipality_en: str
    month: str  # YYYY-MM
    start: date
    end: date
    k: int | None
    complete: bool  # the month has ended and the index has passed it
    figures: ReportFigures
    daily: tuple[DailyPoint, ...]
    top_activities: tuple[ReportActivity, ...]
    definitions: dict[str, dict[str, str]]
    source: ReportSource
    generated_at: int


def _kind_labels(kind: int) -> tuple[str, str]:
    try:
        return KIND_LABELS[ContributionKind(kind)]
    except ValueError:
        return str(kind), str(kind)


def _daily(conn: Connection, region: int, start: date, end: date, k: int | None) -> tuple[DailyPoint, ...]:
    params = {"r": region, "d0": jst.day_key_of_date(start), "d1": jst.day_key_of_date(end)}
    records = {
        int(r[0]): int(r[1] or 0)
        for r in conn.execute(
            text(
                "SELECT day, SUM(records) FROM region_daily WHERE region = :r AND day BETWEEN :d0 AND :d1 GROUP BY day"
            ),
            params,
        )
    }
    issued = {
        int(r[0]): int(r[1] or 0)
        for r in conn.execute(
            text(
                "SELECT day, SUM(issued) FROM region_daily_coins WHERE region = :r "
                "AND day BETWEEN :d0 AND :d1 GROUP BY day"
            ),
            params,
        )
    }
    points = []
    day = start
    while day <= end:
        key = jst.day_key_of_date(day)
        points.append(DailyPoint(day, queries.suppress(records.get(key, 0), k), issued.get(key, 0)))
        day += timedelta(days=1)
    return tuple(points)


def _activities(
    conn: Connection, region: int, start: date, end: date, k: int | None
) -> tuple[list[ReportActivity], int, int]:
    """(the month's activities, most live records first; how many had a live record; live records
    at designated activities)."""
    rows = conn.execute(
        text(
            "SELECT c.activity_id, c.kind, MAX(CASE WHEN c.designated THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN v.id IS NULL THEN 1 ELSE 0 END), "
            "COUNT(DISTINCT CASE WHEN v.id IS NULL THEN c.participant END), "
            "SUM(CASE WHEN v.id IS NULL THEN c.units ELSE 0 END), SUM(c.amount) "
            "FROM contributions c LEFT JOIN revocations v ON v.chain_id = c.chain_id "
            "AND v.activity_id = c.activity_id AND v.participant = c.participant "
            "WHERE c.region = :r AND c.day BETWEEN :d0 AND :d1 GROUP BY c.activity_id, c.kind"
        ),
        {"r": region, "d0": jst.day_key_of_date(start), "d1": jst.day_key_of_date(end)},
    ).all()
    held = sum(1 for r in rows if int(r[3] or 0) > 0)
    designated = sum(int(r[3] or 0) for r in rows if int(r[2] or 0))
    ranked = sorted(rows, key=lambda r: (-int(r[3] or 0), -int(r[4] or 0), int(r[0])))[:TOP_ACTIVITIES]
    names = queries.activity_names(conn, [int(r[0]) for r in ranked])
    activities = []
    for r in ranked:
        if int(r[3] or 0) == 0:
            continue
        kind_ja, kind_en = _kind_labels(int(r[1]))
        activities.append(
            ReportActivity(
                activity_id=int(r[0]),
                name=names.get(int(r[0])),
                kind=int(r[1]),
                kind_ja=kind_ja,
                kind_en=kind_en,
                designated=bool(int(r[2] or 0)),
                records=queries.suppress(int(r[3] or 0), k),
                participants=queries.suppress(int(r[4] or 0), k),
                units=int(r[5] or 0),
                coins_issued=int(r[6] or 0),
            )
        )
    return activities, held, designated


def _source(conn: Connection) -> ReportSource:
    status = queries.index_status(conn)
    if not status.checkpoints:
        return ReportSource(None, None, None, None)
    head = status.checkpoints[0]
    return ReportSource(head.chain_id, head.contract, head.block_number, head.block_timestamp)


def monthly_report(
    conn: Connection, region: int, year: int, month: int, k: int | None, now: float | None = None
) -> MonthlyReport | None:
    """The report of ``region`` for one JST month with small cells below ``k`` hidden (the
    dashboards' ``k``); None when the region is not registered."""
    if region not in {r.region for r in queries.list_regions(conn)}:
        return None
    start, end = month_range(year, month)
    summary = queries.region_summary(conn, region, start, end, k=k)
    activities, held, designated = _activities(conn, region, start, end, k)
    source = _source(conn)
    generated = int(time.time() if now is None else now)
    day_after = jst.day_key_of_date(end + timedelta(days=1))
    head_day = 0 if source.head_at is None else jst.day_key(source.head_at)
    figures = ReportFigures(
        active=summary.active,
        participants=summary.participants,
        kankei=summary.kankei,
        kankei_visiting=summary.kankei_visiting,
        kankei_non_visiting=summary.kankei_non_visiting,
        new=summary.new,
        returning=summary.returning,
        records=summary.records,
        designated_records=queries.suppress(designated, k),
        activities_held=held,
        coins_issued=summary.coins.issued,
        coins_spent=summary.coins.spent,
        supports=summary.coins.supports,
    )
    definitions = {
        key: {"ja": ja, "en": en}
        for key, (ja, en) in {**queries.FIGURE_DEFINITIONS, **REPORT_DEFINITIONS}.items()
        if key in {d for _, d in HEADLINE_FIGURES} | {"daily", "top_activities", "k"}
    }
    return MonthlyReport(
        region=region,
        region_code=jis_code(region),
        municipality_ja=municipality_name(region, "ja") or summary.region_name or jis_code(region),
        municipality_en=municipality_name(region, "en") or summary.region_name or jis_code(region),
        month=month_key(year, month),
        start=start,
        end=end,
        k=k,
        complete=head_day >= day_after and jst.day_key(generated) >= day_after,
        figures=figures,
        daily=_daily(conn, region, start, end, k),
        top_activities=tuple(activities),
        definitions=definitions,
        source=source,
        generated_at=generated,
    )
