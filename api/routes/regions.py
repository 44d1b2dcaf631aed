"""Public region figures (small cells suppressed) from the query layer."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import ConnDep, SettingsDep
from api.errors import ApiError
from ledger import queries

router = APIRouter(prefix="/api/v1/regions", tags=["regions"])

RegionCode = Annotated[int, Path(ge=1, le=999_999, description="JIS X 0402 municipality code")]
Start = Annotated[date, Query(description="first JST day of the range (inclusive)")]
End = Annotated[date, Query(description="last JST day of the range (inclusive)")]


def _known(conn: ConnDep, region: int) -> None:
    if region not in {r.region for r in queries.list_regions(conn)}:
        raise ApiError(404, "not_found", f"region {region} is not registered on this ledger")


@router.get("", summary="Registered regions")
def list_regions(conn: ConnDep) -> list[dict[str, Any]]:
    return [asdict(r) for r in queries.list_regions(conn)]


@router.get("/{region}/summary", summary="関係人口 and coins of a region over a range")
def region_summary(region: RegionCode, start: Start, end: End, conn: ConnDep, settings: SettingsDep) -> dict[str, Any]:
    _known(conn, region)
    return asdict(queries.region_summary(conn, region, start, end, k=settings.api.public_k))


@router.get("/{region}/monthly", summary="Month-by-month 関係人口, new and returning people")
def region_monthly(region: RegionCode, start: Start, end: End, conn: ConnDep, settings: SettingsDep) -> list[Any]:
    _known(conn, region)
    return [asdict(m) for m in queries.region_monthly(conn, region, start, end, k=settings.api.public_k)]
