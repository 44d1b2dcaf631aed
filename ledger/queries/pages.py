"""The page assemblers: one document per page, rendered by both the JSON route and the HTML route."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text

from ledger.figures import FIGURES
from ledger.queries.audit import IssuerAudit, issuer_audit, public_audit
from ledger.queries.cells import _EPOCH_ORDINAL, _SECONDS_PER_DAY, DEFAULT_K, _check_range, _check_region
from ledger.queries.network import NATIONAL_REFERENCE, NationalReference, RegionOverlap, region_overlap
from ledger.queries.projects import PublicProject, public_projects
from ledger.queries.region import (
    Cohort,
    KindReturn,
    MonthlyPoint,
    RegionInfo,
    RegionSummary,
    UnitTotals,
    cohort_retention,
    list_regions,
    region_monthly,
    region_summary,
    region_units,
    returning_kinds,
)
from ledger.queries.status import IndexStatus, index_status
from ledger.ties import JST_OFFSET_SECONDS

# ---------------------------------------------------------------------------------------------
# The region dashboard as one document (the JSON API and the server-rendered page both use it)
# ---------------------------------------------------------------------------------------------


FIGURE_DEFINITIONS: dict[str, tuple[str, str]] = {f.id: (f.definition_ja, f.definition_en) for f in FIGURES.values()}
"""(日本語, English) definition of every figure by id: a view of :data:`ledger.figures.FIGURES`."""


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
