"""Console page for check-in and check-out at an activity rewarded per hour or per day: who is
there (滞在中), check-outs awaiting confirmation (確認待ち), check-ins nobody closed (期限切れ), the
recent ends, and the activity's rule. Staff record a session with the measured or corrected units,
or cancel it; each action is audited (:mod:`ledger.console.presence`, which the JSON endpoints in
``api/routes/codes.py`` and ``tsunagari presence`` share).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import EngineDep, checkin_of, client_ip
from api.errors import ApiError
from api.i18n import catalogue, pick_language
from api.routes.console.common import (
    ConsoleForm,
    ConsoleSession,
    redirect_to,
    region_path,
    render_console,
    require_region,
)
from ledger.checkin.errors import CheckinRejected
from ledger.checkin.service import CheckinService
from ledger.console import presence as work
from ledger.console.activities import short_address
from ledger.staff import sessions
from ledger.staff.errors import WrongRegion
from ledger.taxonomy import RewardUnit

router = APIRouter(prefix="/console", include_in_schema=False)

_Id = Annotated[int, Path(ge=1, le=2**48 - 1)]
_SessionId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_PresencePath = "/regions/{code}/activities/{activity_id}/presence"
# What a refused action shows (other codes: a generic message)
_KNOWN = ("invalid_units", "overlapping_stay", "already_claimed", "unknown_claim")
_STATUS = {"invalid_units": 422, "unknown_claim": 404}


def _service(request: Request) -> CheckinService:
    return checkin_of(request.app)


def presence_url(region: int, activity_id: int) -> str:
    return f"{region_path(region)}/activities/{activity_id}/presence"


def _check_activity(request: Request, region: int, activity_id: int) -> None:
    """404 unless the activity is ``region``'s and rewarded per hour or day."""
    try:
        work.activity_of(_service(request), region, activity_id)
    except (CheckinRejected, work.NotPresenceActivity, WrongRegion):
        raise ApiError(
            404, "not_found", f"no hour- or day-based activity {activity_id} in region {region:05d}"
        ) from None


def _page(
    request: Request,
    session: sessions.Session,
    engine: EngineDep,
    region: int,
    activity_id: int,
    *,
    error: str = "",
    rule_values: dict[str, str] | None = None,
    rule_errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    service = _service(request)
    board = work.board(engine, session.actor, service, region, activity_id)
    activity = board.activity
    rule = board.rule
    unit = RewardUnit(activity.unit).code
    return render_console(
        request,
        "console/presence.html",
        {
            "a": activity,
            "unit": unit,
            "noun": catalogue(pick_language(request)[0]).t(f"console.activities.unit_noun.{unit}"),
            "board": board,
            "rule": rule,
            "now": int(service.clock()),
            "can_act": session.actor.can("checkins"),
            "error": error,
            "rule_values": rule_values
            or {
                "rounding": rule.rounding,
                "min_units": str(rule.min_units),
                "cap_units": str(rule.cap_units),
                "expiry_hours": str(rule.open_expiry_s // 3600),
                "staff_confirms": "1" if rule.staff_confirms else "",
            },
            "rule_errors": rule_errors or {},
            "ceiling": work.rule_ceiling(activity),
            "expiry_ceiling": work.expiry_hours_ceiling(activity, rule.cap_units),
            "short": short_address,
            "url": presence_url(region, activity_id),
            "activity_url": f"{region_path(region)}/activities/{activity_id}",
        },
        session,
        region=region,
        status=status,
    )


@router.get(_PresencePath, response_class=HTMLResponse)
def presence_page(
    request: Request, code: str, activity_id: _Id, session: ConsoleSession, engine: EngineDep
) -> Response:
    region = require_region(session, code)
    _check_activity(request, region, activity_id)
    return _page(request, session, engine, region, activity_id)


def _units(raw: str) -> int | str | None:
    """Blank: None (the measure); an integer; else ``"bad"``."""
    raw = raw.strip()
    if not raw:
        return None
    if raw.lstrip("-").isdigit() and len(raw) <= 9:
        return int(raw)
    return "bad"


@router.post(_PresencePath + "/sessions/{session_id}/close", response_class=HTMLResponse)
def close_session(
    request: Request,
    code: str,
    activity_id: _Id,
    session_id: _SessionId,
    session: ConsoleForm,
    engine: EngineDep,
    units: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    region = require_region(session, code, "checkins")
    _check_activity(request, region, activity_id)
    chosen = _units(units)
    if isinstance(chosen, str):
        return _page(request, session, engine, region, activity_id, error="invalid_units", status=422)
    try:
        work.close(
            engine, session.actor, _service(request), region, activity_id, session_id, chosen, client_ip(request)
        )
    except CheckinRejected as exc:
        key = exc.code if exc.code in _KNOWN else "other"
        return _page(request, session, engine, region, activity_id, error=key, status=_STATUS.get(key, 409))
    return redirect_to(presence_url(region, activity_id), done="presence_closed")


@router.post(_PresencePath + "/sessions/{session_id}/cancel", response_class=HTMLResponse)
def cancel_session(
    request: Request,
    code: str,
    activity_id: _Id,
    session_id: _SessionId,
    session: ConsoleForm,
    engine: EngineDep,
) -> Response:
    region = require_region(session, code, "checkins")
    _check_activity(request, region, activity_id)
    try:
        work.cancel(engine, session.actor, _service(request), region, activity_id, session_id, client_ip(request))
    except CheckinRejected as exc:
        key = exc.code if exc.code in _KNOWN else "other"
        return _page(request, session, engine, region, activity_id, error=key, status=_STATUS.get(key, 409))
    return redirect_to(presence_url(region, activity_id), done="presence_cancelled")


@router.post(_PresencePath + "/rule", response_class=HTMLResponse)
def save_rule(
    request: Request,
    code: str,
    activity_id: _Id,
    session: ConsoleForm,
    engine: EngineDep,
    rounding: Annotated[str, Form(max_length=12)] = "down",
    min_units: Annotated[str, Form(max_length=12)] = "",
    cap_units: Annotated[str, Form(max_length=12)] = "",
    expiry_hours: Annotated[str, Form(max_length=12)] = "",
    staff_confirms: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    region = require_region(session, code, "checkins")
    _check_activity(request, region, activity_id)
    service = _service(request)
    values = {
        "rounding": rounding,
        "min_units": min_units,
        "cap_units": cap_units,
        "expiry_hours": expiry_hours,
        "staff_confirms": staff_confirms,
    }
    activity = work.activity_of(service, region, activity_id)
    rule, errors = work.parse_rule_form(values, activity)
    if rule is not None:
        try:
            work.save_rule(engine, session.actor, service, region, activity_id, rule, client_ip(request))
        except ValueError:
            errors = {"form": "rule_invalid"}
        else:
            return redirect_to(presence_url(region, activity_id), done="presence_rule")
    return _page(request, session, engine, region, activity_id, rule_values=values, rule_errors=errors, status=422)
