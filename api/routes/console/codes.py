"""Console pages for single-use claim codes: an activity's batches and the form generating one,
the A4 print sheet (QR codes as inline SVG: nothing the page CSP refuses), the mail-merge CSV and
voiding a batch.

Pages parse and render; the work, its permissions and its audit are :mod:`ledger.console.codes`
(the JSON endpoints in ``api/routes/codes.py`` and ``tsunagari codes`` call the same functions).
Viewers see the batches and their counts; the codes themselves need the ``checkins`` permission.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from api.deps import EngineDep, checkin_of, client_ip
from api.errors import ApiError
from api.i18n import pick_language
from api.routes.console.common import (
    ConsoleForm,
    ConsoleSession,
    redirect_to,
    region_path,
    render_console,
    require_region,
)
from api.routes.region_audit import csv_response
from ledger.checkin.activities import ActivityView
from ledger.checkin.errors import CheckinRejected
from ledger.checkin.service import CheckinService
from ledger.console import codes as work
from ledger.console.presence import rule_ceiling
from ledger.jst import JST, format_date, parse_date_text
from ledger.staff import sessions
from ledger.taxonomy import RewardUnit

router = APIRouter(prefix="/console", include_in_schema=False)

_Id = Annotated[int, Path(ge=1, le=2**48 - 1)]
_BatchId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_CodesPath = "/regions/{code}/activities/{activity_id}/codes"
_BatchPath = "/regions/{code}/code-batches/{batch_id}"


def _service(request: Request) -> CheckinService:
    return checkin_of(request.app)


def codes_url(region: int, activity_id: int) -> str:
    return f"{region_path(region)}/activities/{activity_id}/codes"


def _batch_url(region: int, batch_id: int) -> str:
    return f"{region_path(region)}/code-batches/{batch_id}"


def _to_batch(region: int, activity_id: int, batch_id: int, done: str) -> Response:
    """303 to the codes page with a notice, at the batch's row."""
    response = redirect_to(codes_url(region, activity_id), done=done)
    response.headers["location"] += f"#batch-{batch_id}"
    return response


def _activity(request: Request, region: int, activity_id: int) -> ActivityView:
    """The activity, if it is ``region``'s (else 404, as the activity pages answer)."""
    try:
        activity = _service(request).directory.get(activity_id)
    except CheckinRejected:
        activity = None
    if activity is None or activity.region != region:
        raise ApiError(404, "not_found", f"no activity {activity_id} in region {region:05d}")
    return activity


def _japanese_day(day: date, lang: str) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if lang == "ja" else day.strftime("%d %b %Y")


def expiry_text(expires_at: int, lang: str) -> str:
    """The last moment a code works, as people read it: a day when it ends at midnight (Japan
    time; "through 31 December"), else the day and the time."""
    moment = datetime.fromtimestamp(expires_at - 1, JST)
    day = _japanese_day(moment.date(), lang)
    if moment.hour == 23 and moment.minute == 59 and moment.second == 59:
        return day
    return f"{day} {datetime.fromtimestamp(expires_at, JST).strftime('%H:%M')}"


def _unit_choices(activity: ActivityView) -> list[int]:
    if activity.unit == RewardUnit.RECORD:
        return []
    return list(range(1, rule_ceiling(activity) + 1))


def _page(
    request: Request,
    session: sessions.Session,
    engine: EngineDep,
    region: int,
    activity: ActivityView,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang = pick_language(request)[0]
    batches = work.list_batches(engine, session.actor, region, activity.activity_id)
    now = int(_service(request).clock())
    ended = activity.closed or now >= activity.ends_at
    return render_console(
        request,
        "console/codes.html",
        {
            "a": activity,
            "unit": RewardUnit(activity.unit).code,
            "batches": batches,
            "can_generate": session.actor.can("checkins") and not ended,
            "can_codes": session.actor.can("checkins"),
            "ended": ended,
            "values": values
            or {"count": "100", "expires": format_date(work.default_expiry_day(activity)), "label": "", "units": "1"},
            "errors": errors or {},
            "unit_choices": _unit_choices(activity),
            "max_batch": work.MAX_BATCH,
            "expiry_text": lambda ts: expiry_text(ts, lang),
            "url": codes_url(region, activity.activity_id),
            "activity_url": f"{region_path(region)}/activities/{activity.activity_id}",
            "batch_url": lambda b: _batch_url(region, b),
        },
        session,
        region=region,
        status=status,
    )


@router.get(_CodesPath, response_class=HTMLResponse)
def codes_page(request: Request, code: str, activity_id: _Id, session: ConsoleSession, engine: EngineDep) -> Response:
    region = require_region(session, code)
    return _page(request, session, engine, region, _activity(request, region, activity_id))


def _parse_form(values: dict[str, str], activity: ActivityView) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    count = values["count"].strip().replace(",", "")
    if not count.isdigit() or not 1 <= int(count) <= work.MAX_BATCH:
        errors["count"] = work.COUNT_INVALID
    else:
        parsed["count"] = int(count)
    try:
        parsed["expires_at"] = work.expiry_of_day(parse_date_text(values["expires"]), activity)
    except ValueError:
        errors["expires"] = "expiry_missing"
    units = values["units"].strip()
    if activity.unit == RewardUnit.RECORD:
        parsed["units"] = None
    elif not units.isdigit():
        errors["units"] = "units_invalid"
    else:
        parsed["units"] = int(units)
    if len(values["label"].strip()) > work.MAX_LABEL:
        errors["label"] = work.LABEL_TOO_LONG
    return parsed, errors


@router.post(_CodesPath, response_class=HTMLResponse)
def generate_codes(
    request: Request,
    code: str,
    activity_id: _Id,
    session: ConsoleForm,
    engine: EngineDep,
    count: Annotated[str, Form(max_length=12)] = "",
    expires: Annotated[str, Form(max_length=16)] = "",
    label: Annotated[str, Form(max_length=400)] = "",
    units: Annotated[str, Form(max_length=6)] = "1",
) -> Response:
    region = require_region(session, code, "checkins")
    activity = _activity(request, region, activity_id)
    values = {"count": count, "expires": expires, "label": label, "units": units}
    parsed, errors = _parse_form(values, activity)
    if not errors:
        try:
            batch = work.generate(
                engine,
                session.actor,
                _service(request),
                region,
                activity_id,
                parsed["count"],
                parsed["expires_at"],
                label,
                parsed["units"],
                client_ip(request),
            )
        except work.CodeInputInvalid as exc:
            field = {work.COUNT_INVALID: "count", work.LABEL_TOO_LONG: "label"}.get(exc.key, "expires")
            errors[field] = exc.key
        except CheckinRejected as exc:
            if exc.code == "invalid_units":
                errors["units"] = "units_invalid"
            else:
                errors["form"] = exc.code if exc.code in ("activity_closed", "activity_ended") else "other"
        else:
            return _to_batch(region, activity_id, batch.batch_id, "codes_generated")
    return _page(request, session, engine, region, activity, values=values, errors=errors, status=422)


def _qr_svg(url: str) -> Markup:
    """An inline SVG QR code of ``url`` (sized by the stylesheet)."""
    svg = segno.make(url, error="m").svg_inline(scale=1, border=2, omitsize=True, dark="#000", light="#fff")
    return Markup(svg)  # segno's own SVG of a URL we made


@router.get(_BatchPath + "/sheet", response_class=HTMLResponse)
def code_sheet(
    request: Request,
    code: str,
    batch_id: _BatchId,
    session: ConsoleSession,
    engine: EngineDep,
    status: Annotated[str, Query(pattern="^(|all|issued)$", description="issued: only the unused codes")] = "",
) -> Response:
    region = require_region(session, code, "checkins")
    sheet = _sheet(request, session, engine, region, batch_id, "print", only_unused=status == "issued")
    lang = pick_language(request)[0]
    service = _service(request)
    return render_console(
        request,
        "console/code_sheet.html",
        {
            "sheet": sheet,
            "a": sheet.activity,
            "cards": [(c, _qr_svg(c.url)) for c in sheet.codes],
            "expiry_text": lambda ts: expiry_text(ts, lang),
            "enter_url": f"{service.public_url}/c",
            "only_unused": status == "issued",
            "back_url": codes_url(region, sheet.batch.activity_id),
            "sheet_url": f"{_batch_url(region, batch_id)}/sheet",
        },
        session,
        region=region,
    )


def _sheet(
    request: Request,
    session: sessions.Session,
    engine: EngineDep,
    region: int,
    batch_id: int,
    purpose: str,
    *,
    only_unused: bool = False,
) -> work.CodeSheet:
    try:
        return work.codes_for_print(
            engine,
            session.actor,
            _service(request),
            region,
            batch_id,
            purpose=purpose,
            only_unused=only_unused,
            client=client_ip(request),
        )
    except work.BatchNotFound:
        raise ApiError(404, "not_found", f"no batch of codes {batch_id}") from None


@router.get(_BatchPath + "/codes.csv")
def codes_csv(request: Request, code: str, batch_id: _BatchId, session: ConsoleSession, engine: EngineDep) -> Response:
    region = require_region(session, code, "checkins")
    sheet = _sheet(request, session, engine, region, batch_id, "csv")
    return csv_response(work.codes_csv(sheet), work.csv_filename(sheet))


@router.post(_BatchPath + "/void")
def void_batch(request: Request, code: str, batch_id: _BatchId, session: ConsoleForm, engine: EngineDep) -> Response:
    region = require_region(session, code, "checkins")
    try:
        activity_id, _ = work.batch_place(engine, batch_id)
        work.void(engine, session.actor, region, batch_id, client_ip(request))
    except work.BatchNotFound:
        raise ApiError(404, "not_found", f"no batch of codes {batch_id}") from None
    return _to_batch(region, activity_id, batch_id, "codes_voided")
