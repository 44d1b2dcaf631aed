"""Operator endpoints of a region's audit and monthly report: its records with chain provenance,
its revocations (with the staff's notes for those allowed to read them), its staff actions, CSV
downloads for Excel and the monthly report's figures. The console's audit and report pages call
the same functions (ledger/console/audit.py, ledger/console/report.py).

Authorised by :data:`api.deps.ActorDep` (an API key or the console session). Everything needs
``read`` in the region; revocation notes need ``notes`` (a viewer sees only that a note exists).
Another region's caller gets 403.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.deps import ActorDep, ConnDep, Day, RegionCode, SettingsDep
from api.errors import ApiError
from ledger.console import audit as audit_ops
from ledger.console import report as report_ops
from ledger.errors import InvalidInput
from ledger.jst import today
from ledger.municipalities import jis_code
from ledger.staff.roles import Actor

router = APIRouter(tags=["operator"])

Month = Annotated[
    str | None, Query(max_length=7, pattern=r"^\d{4}-\d{2}$", description="a JST month, YYYY-MM (instead of start/end)")
]
Start = Annotated[Day | None, Query(description="first JST day, YYYY-MM-DD (with end)")]
End = Annotated[Day | None, Query(description="last JST day, YYYY-MM-DD (inclusive)")]
Lang = Annotated[Literal["ja", "en"], Query(description="language of the CSV header and labels")]
ActivityFilter = Annotated[int | None, Query(ge=0, le=2**64 - 1, description="only this activity's records")]


def period_of(month: str | None, start: date | None, end: date | None) -> tuple[date, date]:
    """The period asked for: ``month`` (YYYY-MM), else ``start``..``end``, else this JST month."""
    if month:
        try:
            return report_ops.month_range(*report_ops.parse_month(month))
        except InvalidInput as exc:
            raise ApiError(422, "invalid", str(exc)) from None
    if start is not None or end is not None:
        if start is None or end is None:
            raise ApiError(422, "invalid", "give both start and end (or month)")
        if start > end:
            raise ApiError(422, "invalid", f"start {start} is after end {end}")
        return start, end
    return report_ops.month_range(*this_month())


def this_month() -> tuple[int, int]:
    """The current JST month (the audit's default)."""
    day = today()
    return day.year, day.month


def csv_response(body: bytes, filenames: tuple[str, str]) -> Response:
    """A CSV download with a Japanese file name (RFC 6266 ``filename*``) and an ASCII fallback."""
    japanese, ascii_name = filenames
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(japanese)}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def records_csv_response(
    conn: ConnDep, actor: Actor, region: int, start: date, end: date, lang: str, activity: int | None
) -> Response:
    actor.require("read", region)
    try:
        body = audit_ops.records_csv(
            conn, region, start, end, lang=lang, notes=actor.can("notes"), activity_id=activity
        )
    except InvalidInput as exc:
        raise ApiError(422, "invalid", str(exc)) from None
    return csv_response(body, audit_ops.csv_filename(region, "records", start, end))


def revocations_csv_response(conn: ConnDep, actor: Actor, region: int, start: date, end: date, lang: str) -> Response:
    actor.require("read", region)
    try:
        body = audit_ops.revocations_csv(conn, region, start, end, lang=lang, notes=actor.can("notes"))
    except InvalidInput as exc:
        raise ApiError(422, "invalid", str(exc)) from None
    return csv_response(body, audit_ops.csv_filename(region, "revocations", start, end))


@router.get(
    "/api/v1/regions/{region}/audit/records",
    response_model=audit_ops.RecordPage,
    summary="The region's records with names, labels and chain provenance (paged, newest first)",
)
def audit_records(
    region: RegionCode,
    actor: ActorDep,
    conn: ConnDep,
    month: Month = None,
    start: Start = None,
    end: End = None,
    activity: ActivityFilter = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> audit_ops.RecordPage:
    actor.require("read", region)
    first, last = period_of(month, start, end)
    return audit_ops.records(conn, region, first, last, activity_id=activity, page=page, per_page=per_page)


@router.get(
    "/api/v1/regions/{region}/audit/revocations",
    summary="The region's revocations with reasons, who revoked and (with the notes permission) the note",
)
def audit_revocations(
    region: RegionCode, actor: ActorDep, conn: ConnDep, month: Month = None, start: Start = None, end: End = None
) -> dict[str, Any]:
    actor.require("read", region)
    first, last = period_of(month, start, end)
    notes = actor.can("notes")
    rows = audit_ops.revocations(conn, region, first, last, notes=notes)
    return {
        "region": region,
        "region_code": jis_code(region),
        "start": first,
        "end": last,
        "notes_visible": notes,
        "revocations": [asdict(r) for r in rows],
    }


@router.get("/api/v1/regions/{region}/audit/actions", summary="What the region's staff did (staff audit, paged)")
def audit_actions(
    region: RegionCode,
    actor: ActorDep,
    conn: ConnDep,
    before: Annotated[int | None, Query(ge=1, description="entries older than this entry id (next page)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    actor.require("read", region)
    rows = audit_ops.actions(conn, region, before_id=before, limit=limit, notes=actor.can("notes"))
    return {
        "region": region,
        "region_code": jis_code(region),
        "actions": [asdict(r) for r in rows],
        "next_before": rows[-1].entry_id if len(rows) == limit else None,
    }


_CSV_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


@router.get(
    "/api/v1/regions/{region}/records.csv",
    summary="The region's records as CSV for Excel (UTF-8 with BOM), one row per record with provenance",
    response_class=Response,
    responses=_CSV_RESPONSES,
)
def records_csv(
    region: RegionCode,
    actor: ActorDep,
    conn: ConnDep,
    month: Month = None,
    start: Start = None,
    end: End = None,
    activity: ActivityFilter = None,
    lang: Lang = "ja",
) -> Response:
    actor.require("read", region)
    first, last = period_of(month, start, end)
    return records_csv_response(conn, actor, region, first, last, lang, activity)


@router.get(
    "/api/v1/regions/{region}/revocations.csv",
    summary="The region's revocations as CSV for Excel (notes only with the notes permission)",
    response_class=Response,
    responses=_CSV_RESPONSES,
)
def revocations_csv(
    region: RegionCode,
    actor: ActorDep,
    conn: ConnDep,
    month: Month = None,
    start: Start = None,
    end: End = None,
    lang: Lang = "ja",
) -> Response:
    actor.require("read", region)
    first, last = period_of(month, start, end)
    return revocations_csv_response(conn, actor, region, first, last, lang)


def load_report(conn: ConnDep, actor: Actor, region: int, month: str, k: int) -> report_ops.MonthlyReport:
    actor.require("read", region)
    try:
        year, mon = report_ops.parse_month(month)
    except InvalidInput as exc:
        raise ApiError(422, "invalid", str(exc)) from None
    found = report_ops.monthly_report(conn, region, year, mon, k=k)
    if found is None:
        raise ApiError(404, "not_found", f"region {region} is not registered on this ledger")
    return found


@router.get(
    "/api/v1/regions/{region}/reports/{month}",
    response_model=report_ops.MonthlyReport,
    summary="The monthly report for the mayor: the month's figures, daily records, top activities",
    description=(
        "The headline figures are the region dashboard's for the month (`/api/v1/regions/{region}/dashboard` "
        "with start/end = the month's first and last day), with the same `k`."
    ),
)
def monthly_report(
    region: RegionCode,
    month: Annotated[str, Path(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (JST)")],
    actor: ActorDep,
    conn: ConnDep,
    settings: SettingsDep,
) -> report_ops.MonthlyReport:
    return load_report(conn, actor, region, month, settings.api.public_k)
