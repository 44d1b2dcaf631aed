"""Public region figures (small cells suppressed) from the query layer."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import ConnDep, Day, RegionCode, SettingsDep
from api.errors import ApiError, problems
from ledger import queries

router = APIRouter(prefix="/api/v1/regions", tags=["regions"])

Start = Annotated[
    Day | None, Query(description="first JST day of the range (inclusive), YYYY-MM-DD; default: 12 months before `end`")
]
End = Annotated[Day | None, Query(description="last JST day of the range (inclusive); default: the indexed head")]


def _period(conn: ConnDep, region: int, start: date | None, end: date | None) -> tuple[date, date]:
    """404 for an unregistered region; the period with the dashboard's defaults filled in
    (:func:`ledger.queries.resolve_period`, one rule for pages, JSON and CLI); 422 for start > end."""
    if region not in {r.region for r in queries.list_regions(conn)}:
        raise ApiError(404, "not_found", f"region {region} is not registered on this ledger")
    start, end = queries.resolve_period(conn, start, end)
    if start > end:
        raise ApiError(422, "invalid", f"start {start} is after end {end}")
    return start, end


@router.get("", summary="Registered regions")
def list_regions(conn: ConnDep) -> list[dict[str, Any]]:
    return [asdict(r) for r in queries.list_regions(conn)]


@router.get("/{region}/summary", summary="関係人口 and coins of a region over a range", responses=problems(404))
def region_summary(
    region: RegionCode, conn: ConnDep, settings: SettingsDep, start: Start = None, end: End = None
) -> dict[str, Any]:
    start, end = _period(conn, region, start, end)
    return asdict(queries.region_summary(conn, region, start, end, k=settings.api.public_k))


@router.get("/{region}/monthly", summary="Month-by-month 関係人口, new and returning people", responses=problems(404))
def region_monthly(
    region: RegionCode, conn: ConnDep, settings: SettingsDep, start: Start = None, end: End = None
) -> list[Any]:
    start, end = _period(conn, region, start, end)
    return [asdict(m) for m in queries.region_monthly(conn, region, start, end, k=settings.api.public_k)]
