"""The region dashboard, the national view and the participant page's extra figures, as JSON.

Every response comes from one function of ``ledger.queries`` (the server-rendered pages call the
same ones), with small cells suppressed at ``settings.api.public_k``. Periods are JST calendar days;
without ``start`` / ``end`` a dashboard shows the last 12 months up to the indexed head
(:func:`ledger.queries.resolve_period`).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import Address, ConnDep, Day, RegionCode, SettingsDep
from api.errors import ApiError, problems
from ledger import queries
from ledger.taxonomy import ContributionKind, MlitType

router = APIRouter(tags=["dashboard"])

Start = Annotated[
    Day | None,
    Query(description="first JST day of the period, YYYY-MM-DD (inclusive); default: 12 months before `end`"),
]
End = Annotated[
    Day | None, Query(description="last JST day of the period, YYYY-MM-DD (inclusive); default: the indexed head")
]
KINDS = ", ".join(f"{int(k)}" for k in ContributionKind)
TYPES = ", ".join(f"{int(t)}" for t in MlitType)


def _period(conn: ConnDep, region: int | None, start: date | None, end: date | None) -> tuple[date, date]:
    """The period asked for, defaults filled in; 404 for an unregistered region, 422 for start > end."""
    if region is not None and region not in {r.region for r in queries.list_regions(conn)}:
        raise ApiError(
            404,
            "not_found",
            f"region {region} is not registered on this ledger; GET /api/v1/regions lists the registered codes",
        )
    start, end = queries.resolve_period(conn, start, end)  # the one default-period rule of pages, JSON and CLI
    if start > end:
        raise ApiError(422, "invalid", f"start {start} is after end {end}")
    return start, end


@router.get(
    "/api/v1/regions/{region}/dashboard",
    responses=problems(404),
    response_model=queries.RegionDashboard,
    summary="Everything a region dashboard shows, in one document",
    description=(
        "Region info; 関係人口 (model definition) and its monthly series; new vs returning; the stage funnel; "
        "MLIT type mix and visit-day bands beside MLIT's national figures; cohort retention; which kinds of "
        "activity bring people back; coins issued / spent on support / revoked and the gift rate; the public "
        f"issuer audit (no participant addresses; the newest {queries.REVOCATIONS_SHOWN} of `revocations_total` "
        "revocations: `GET /api/v1/regions/{code}/audit` pages through the rest); overlap with other regions; "
        "projects; the indexer's status (dirty keys counted up to `backlog_cap`); "
        "`k`; and `definitions` (ja/en) for every figure. Counts below `k` are null."
    ),
)
def region_dashboard(
    region: RegionCode, conn: ConnDep, settings: SettingsDep, start: Start = None, end: End = None
) -> queries.RegionDashboard:
    start, end = _period(conn, region, start, end)
    dashboard = queries.region_dashboard(conn, region, start, end, k=settings.api.public_k)
    if dashboard is None:  # pragma: no cover - _period checked it
        raise ApiError(404, "not_found", f"region {region} is not registered on this ledger")
    return dashboard


@router.get(
    "/api/v1/regions/{region}/cohorts",
    responses=problems(404),
    response_model=list[queries.Cohort],
    summary="Cohort retention by first-activity month",
)
def region_cohorts(
    region: RegionCode, conn: ConnDep, settings: SettingsDep, start: Start = None, end: End = None
) -> list[queries.Cohort]:
    start, end = _period(conn, region, start, end)
    return queries.cohort_retention(conn, region, start, end, k=settings.api.public_k)


@router.get(
    "/api/v1/regions/{region}/returning",
    responses=problems(404),
    summary="Which activities bring people back",
    description=(
        "`by=kind` (default, from rollups): per activity kind, the period's live records and how many were "
        "followed by a later record of the same person in the region. `by=activity`: per activity, the share "
        "of its participants who came back within the period (reads the period's records: slower)."
    ),
)
def region_returning(
    region: RegionCode,
    conn: ConnDep,
    settings: SettingsDep,
    start: Start = None,
    end: End = None,
    by: Annotated[str, Query(pattern="^(kind|activity)$", description="`kind` (default) or `activity`")] = "kind",
    limit: Annotated[int, Query(ge=1, le=100, description="activities to list (by=activity)")] = 20,
) -> list[dict[str, Any]]:
    start, end = _period(conn, region, start, end)
    k = settings.api.public_k
    if by == "activity":
        return [asdict(a) for a in queries.returning_activities(conn, region, start, end, limit=limit, k=k)]
    return [asdict(r) for r in queries.returning_kinds(conn, region, start, end, k=k)]


@router.get(
    "/api/v1/regions/{region}/coins",
    responses=problems(404),
    response_model=queries.CoinTotals,
    summary="Coins issued, spent on support and revoked, with the gift rate",
)
def region_coins(
    region: RegionCode, conn: ConnDep, settings: SettingsDep, start: Start = None, end: End = None
) -> queries.CoinTotals:
    start, end = _period(conn, region, start, end)
    return queries.region_summary(conn, region, start, end, k=settings.api.public_k).coins


@router.get(
    "/api/v1/regions/{region}/audit",
    responses=problems(404),
    response_model=queries.IssuerAudit,
    summary="Issuer audit (public: no participant addresses)",
    description=(
        "Per issuer: batches, records, coins minted, revoked records; the period's revocations with reasons, "
        f"newest first, `revocations_limit` of them (default {queries.REVOCATIONS_SHOWN}, as on the dashboard) "
        "from `revocations_offset`, with `revocations_total`; role changes."
    ),
)
def region_audit(
    region: RegionCode,
    conn: ConnDep,
    start: Start = None,
    end: End = None,
    revocations_offset: Annotated[
        int, Query(ge=0, description="revocations to skip, newest first (page through `revocations_total`)")
    ] = 0,
    revocations_limit: Annotated[
        int, Query(ge=0, le=queries.REVOCATIONS_PAGE_MAX, description="revocations to list")
    ] = queries.REVOCATIONS_SHOWN,
) -> queries.IssuerAudit:
    start, end = _period(conn, region, start, end)
    audit = queries.issuer_audit(
        conn, region, start, end, revocations_limit=revocations_limit, revocations_offset=revocations_offset
    )
    return queries.public_audit(audit)


@router.get(
    "/api/v1/regions/{region}/overlap",
    responses=problems(404),
    response_model=queries.RegionOverlap,
    summary="Other regions the region's people are also tied to",
)
def region_overlap(
    region: RegionCode, conn: ConnDep, settings: SettingsDep, start: Start = None, end: End = None
) -> queries.RegionOverlap:
    start, end = _period(conn, region, start, end)
    return queries.region_overlap(conn, region, start, end, k=settings.api.public_k)


@router.get(
    "/api/v1/regions/{region}/projects",
    responses=problems(404),
    response_model=list[queries.PublicProject],
    summary="The region's projects open for support (応援), with coins raised",
)
def region_projects(
    region: RegionCode,
    conn: ConnDep,
    settings: SettingsDep,
    include_closed: Annotated[bool, Query(description="also list closed projects")] = False,
) -> list[queries.PublicProject]:
    _period(conn, region, None, None)
    projects = queries.public_projects(conn, region, k=settings.api.public_k)
    return [p for p in projects if include_closed or not p.closed]


@router.get(
    "/api/v1/national",
    response_model=queries.NationalGraph,
    summary="Regions as nodes, shared people as weighted links",
    description="People active in the period (whole JST months); links of fewer than `k` people are left out.",
)
def national(
    conn: ConnDep,
    settings: SettingsDep,
    start: Start = None,
    end: End = None,
    kind: Annotated[int | None, Query(description=f"only records of this contribution kind ({KINDS})")] = None,
    mlit_type: Annotated[int | None, Query(description=f"only records of this MLIT type ({TYPES})")] = None,
) -> queries.NationalGraph:
    start, end = _period(conn, None, start, end)
    if kind is not None and kind not in {int(k) for k in ContributionKind}:
        raise ApiError(422, "invalid", f"kind {kind} is not a contribution kind ({KINDS})")
    if mlit_type is not None and mlit_type not in {int(t) for t in MlitType}:
        raise ApiError(422, "invalid", f"mlit_type {mlit_type} is not an MLIT type ({TYPES})")
    if kind is not None and mlit_type is not None:
        raise ApiError(422, "invalid", "filter by kind or by mlit_type, not both")
    return queries.national_graph(conn, start, end, kind=kind, mlit_type=mlit_type, k=settings.api.public_k)


@router.get(
    "/api/v1/people/{address}/coins",
    response_model=list[queries.PersonCoins],
    summary="The person's coins per region: earned, clawed back, spent, transferred, balance",
    tags=["people"],
)
def person_coins(address: Address, conn: ConnDep) -> list[queries.PersonCoins]:
    return queries.person_coins(conn, address)


@router.get(
    "/api/v1/people/{address}/supports",
    response_model=list[queries.SupportedProject],
    summary="The projects the person supported (応援), with what they gave",
    tags=["people"],
)
def person_supports(address: Address, conn: ConnDep) -> list[queries.SupportedProject]:
    return queries.person_supports(conn, address)
