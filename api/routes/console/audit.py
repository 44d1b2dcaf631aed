"""Console pages: a region's audit — its records (記録), revocations (取消) and staff actions
(操作履歴) — and the CSV downloads of its records and revocations.

The same functions answer the JSON endpoints (api/routes/region_audit.py). Everything needs
``read`` in the region; the text of a revocation note needs ``notes``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import EngineDep
from api.errors import ApiError
from api.i18n import pick_language
from api.routes.console.common import (
    ConsoleSession,
    parse_day,
    redirect_to,
    region_path,
    render_console,
    require_region,
)
from api.routes.region_audit import period_of, records_csv_response, revocations_csv_response, this_month
from ledger.console import audit as audit_ops
from ledger.console import report as report_ops
from ledger.errors import InvalidInput
from ledger.jst import date_of_day_key, format_date

router = APIRouter(prefix="/console", include_in_schema=False)

TABS = ("records", "revocations", "actions")
PER_PAGE = 50
MonthQuery = Annotated[str | None, Query(max_length=7)]
DayQuery = Annotated[str | None, Query(max_length=20)]  # 2026-12-07 or 2026年12月31日


def _month_or_default(month: str | None) -> tuple[int, int]:
    if not month:
        return this_month()
    try:
        return report_ops.parse_month(month)
    except InvalidInput as exc:
        raise ApiError(422, "invalid", str(exc)) from None


@router.get("/regions/{code}/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    code: str,
    session: ConsoleSession,
    engine: EngineDep,
    tab: Annotated[Literal["records", "revocations", "actions"], Query()] = "records",
    month: MonthQuery = None,
    activity: Annotated[int | None, Query(ge=0, le=2**64 - 1)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    region = require_region(session, code, "read")
    if code != f"{region:05d}":
        return redirect_to(f"{region_path(region)}/audit")
    actor = session.actor
    year, mon = _month_or_default(month)
    start, end = report_ops.month_range(year, mon)
    month_value = report_ops.month_key(year, mon)
    lang, _ = pick_language(request)
    base = f"{region_path(region)}/audit"
    context: dict[str, Any] = {
        "tab": tab,
        "tabs": TABS,
        "month": month_value,
        "start": start,
        "end": end,
        "activity": activity,
        "audit_url": base,
        "can_notes": actor.can("notes"),
        "can_export": actor.can("export"),
        "note_hidden": audit_ops.NOTE_HIDDEN[0 if lang == "ja" else 1],
        "short": audit_ops.short_address,
        "activity_label": audit_ops.activity_label,
        "day_text": lambda key: format_date(date_of_day_key(key), lang),
        "day_label": lambda day: format_date(day, lang),
        "records_csv": f"{base}/records.csv",
        "revocations_csv": f"{base}/revocations.csv",
    }
    with engine.connect() as conn:
        if tab == "records":
            context["activities"] = audit_ops.activity_choices(conn, region)
            found = audit_ops.records(conn, region, start, end, activity_id=activity, page=page, per_page=PER_PAGE)
            context["page_of"] = found
            context["pages"] = max(1, -(-found.total // PER_PAGE))
        elif tab == "revocations":
            context["revocations"] = audit_ops.revocations(conn, region, start, end, notes=actor.can("notes"))
        else:
            rows = audit_ops.actions(conn, region, before_id=before, limit=PER_PAGE, notes=actor.can("notes"))
            context["actions"] = rows
            context["next_before"] = rows[-1].entry_id if len(rows) == PER_PAGE else None
    return render_console(request, "console/audit.html", context, session, region=region)


def _csv_period(month: str | None, start: str | None, end: str | None) -> tuple[date, date]:
    if start or end:
        return period_of(None, parse_day(start), parse_day(end))
    return report_ops.month_range(*_month_or_default(month))


@router.get("/regions/{code}/audit/records.csv")
def records_csv(
    code: str,
    session: ConsoleSession,
    engine: EngineDep,
    month: MonthQuery = None,
    start: DayQuery = None,
    end: DayQuery = None,
    activity: Annotated[int | None, Query(ge=0, le=2**64 - 1)] = None,
    lang: Annotated[Literal["ja", "en"], Query()] = "ja",
) -> Response:
    region = require_region(session, code, "read")
    first, last = _csv_period(month, start, end)
    with engine.connect() as conn:
        return records_csv_response(conn, session.actor, region, first, last, lang, activity)


@router.get("/regions/{code}/audit/revocations.csv")
def revocations_csv(
    code: str,
    session: ConsoleSession,
    engine: EngineDep,
    month: MonthQuery = None,
    start: DayQuery = None,
    end: DayQuery = None,
    lang: Annotated[Literal["ja", "en"], Query()] = "ja",
) -> Response:
    region = require_region(session, code, "read")
    first, last = _csv_period(month, start, end)
    with engine.connect() as conn:
        return revocations_csv_response(conn, session.actor, region, first, last, lang)
