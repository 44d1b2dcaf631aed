"""Console pages: a region's activities (受付中 / これから / 終了), registering one, and one activity's
page: its facts, editing its text, the 担い手活動 designation, opening the kiosk for the venue's
tablet (link and QR code), closing it, and its check-ins with revocation.

Pages only parse and render: the work is :mod:`ledger.console.activities` (the JSON endpoints in
``api/routes/activities.py`` call the same functions with the same permissions). Viewers see
everything here but no forms; every POST checks the permission again.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import EngineDep, chain_of, checkin_of, client_ip
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
from ledger.checkin.errors import CheckinRejected
from ledger.checkin.service import CheckinService, KioskLink
from ledger.console import activities as work
from ledger.console import pending
from ledger.console.activities import ActivityFacts, ChainSource
from ledger.errors import ChainUnavailable, ContractError, TransactionFailed, error_code
from ledger.staff import sessions
from ledger.taxonomy import KIND_LABELS, TYPE_LABELS, UNIT_LABELS, ContributionKind, MlitType, RewardUnit

router = APIRouter(prefix="/console", include_in_schema=False)

_Text = Annotated[str, Form(max_length=2000)]
_Short = Annotated[str, Form(max_length=200)]
_ActivityPath = "/regions/{code}/activities/{activity_id}"
_Id = Annotated[int, Path(ge=1, le=2**48 - 1)]
_STATUSES = ("accepted", "submitted", "confirmed", "rejected", "revoked")


def _lang_index(request: Request) -> int:
    return 0 if pick_language(request)[0] == "ja" else 1


def _kind_groups(request: Request) -> list[tuple[str, list[tuple[int, str]]]]:
    """The kinds for a ``<select>``: one ``<optgroup>`` per MLIT type."""
    i = _lang_index(request)
    return [
        (TYPE_LABELS[t][i], [(int(k), KIND_LABELS[k][i]) for k in ContributionKind if int(k) // 10 == int(t)])
        for t in MlitType
    ]


def _labels(request: Request) -> dict[str, Any]:
    i = _lang_index(request)
    return {
        "kind_labels": {int(k): label[i] for k, label in KIND_LABELS.items()},
        "type_labels": {int(t): label[i] for t, label in TYPE_LABELS.items()},
        "unit_labels": {u.code: label[i] for u, label in UNIT_LABELS.items()},
    }


def _chain(request: Request) -> ChainSource:
    return lambda: chain_of(request.app)


def _checkin(request: Request) -> CheckinService:
    return checkin_of(request.app)


def _activities_url(region: int) -> str:
    return f"{region_path(region)}/activities"


def _activity_url(region: int, activity_id: int) -> str:
    return f"{_activities_url(region)}/{activity_id}"


def _facts(request: Request, engine: EngineDep, region: int, activity_id: int) -> ActivityFacts:
    """The activity, if it is ``region``'s (else 404: another region's ids are not confirmed)."""
    checkin = _checkin(request)
    with engine.connect() as conn:
        facts = work.activity_facts(conn, checkin.signing.chain_id, activity_id, checkin.directory)
    if facts is None or facts.region != region:
        raise ApiError(404, "not_found", f"no activity {activity_id} in region {region:05d}")
    return facts


# ---------------------------------------------------------------------------------------------
# The list
# ---------------------------------------------------------------------------------------------


PAST_SHOWN = 20  # ended activities listed at first (a year of a busy region has hundreds)


@router.get("/regions/{code}/activities", response_class=HTMLResponse)
def activities_page(
    request: Request,
    code: str,
    session: ConsoleSession,
    engine: EngineDep,
    past: Annotated[int, Query(ge=1, le=100_000, description="how many ended activities to list")] = PAST_SHOWN,
) -> Response:
    region = require_region(session, code)
    chain_id = _checkin(request).signing.chain_id
    pending.reconcile(engine, region)
    now = int(time.time())
    with engine.connect() as conn:
        rows = work.region_activities(conn, chain_id, region)
        actions = [a for a in pending.open_actions(conn, region) if a.kind in work.ACTIVITY_KINDS]
    sections: dict[str, list[work.ActivityRow]] = {"open": [], "upcoming": [], "past": []}
    for row in rows:
        sections[row.section(now)].append(row)
    sections["open"].sort(key=lambda r: r.ends_at)
    sections["upcoming"].sort(key=lambda r: r.starts_at)
    sections["past"].sort(key=lambda r: r.ends_at, reverse=True)  # the latest first, a page at a time
    counts = {key: len(rows) for key, rows in sections.items()}
    sections["past"] = sections["past"][:past]
    return render_console(
        request,
        "console/activities.html",
        {
            "sections": sections,
            "counts": counts,
            "more_past_url": f"?past={past + PAST_SHOWN}" if counts["past"] > past else "",
            "actions": actions,
            "stale_after": now - pending.STALE_AFTER_S,
            "payload_keys": (
                "name",
                "venue",
                "activity_id",
                "starts_at",
                "ends_at",
                "reward",
                "designated",
                "participant",
                "reason",
            ),
            "short": work.short_address,
            "can_edit": session.actor.can("activities"),
            "base_url": _activities_url(region),
            **_labels(request),
        },
        session,
        region=region,
    )


@router.post("/regions/{code}/activities/pending/{action_id}/dismiss")
def dismiss_pending(request: Request, code: str, action_id: _Id, session: ConsoleForm, engine: EngineDep) -> Response:
    region = require_region(session, code, "activities")
    pending.dismiss(engine, session.actor, region, action_id, client_ip(request))
    return redirect_to(_activities_url(region), done="activities_dismissed")


# ---------------------------------------------------------------------------------------------
# Registering
# ---------------------------------------------------------------------------------------------


def _new_page(
    request: Request,
    session: sessions.Session,
    region: int,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render_console(
        request,
        "console/activity_new.html",
        {
            "values": values,
            "errors": errors or {},
            "kind_groups": _kind_groups(request),
            "units": [(u.code, UNIT_LABELS[u][_lang_index(request)]) for u in RewardUnit],
            "action_url": _activities_url(region),
            "back_url": _activities_url(region),
        },
        session,
        region=region,
        status=status,
    )


@router.get("/regions/{code}/activities/new", response_class=HTMLResponse)
def new_activity_page(request: Request, code: str, session: ConsoleSession) -> Response:
    region = require_region(session, code, "activities")
    return _new_page(request, session, region, work.default_form())


@router.post("/regions/{code}/activities", response_class=HTMLResponse)
def create_activity(
    request: Request,
    code: str,
    session: ConsoleForm,
    engine: EngineDep,
    name: _Short = "",
    venue: _Short = "",
    description: _Text = "",
    kind: Annotated[str, Form(max_length=8)] = "",
    starts_at: Annotated[str, Form(max_length=32)] = "",
    ends_at: Annotated[str, Form(max_length=32)] = "",
    reward: Annotated[str, Form(max_length=24)] = "",
    unit: Annotated[str, Form(max_length=8)] = "record",
    max_units: Annotated[str, Form(max_length=8)] = "1",
    capacity: Annotated[str, Form(max_length=12)] = "0",
    designated: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    region = require_region(session, code, "activities")
    values = {
        "name": name,
        "venue": venue,
        "description": description,
        "kind": kind,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "reward": reward,
        "unit": unit,
        "max_units": max_units,
        "capacity": capacity,
        "designated": designated,
    }
    value, errors = work.parse_activity_form(values)
    if value is None:
        return _new_page(request, session, region, values, errors, status=422)
    try:
        result = work.create_activity(engine, session.actor, region, value, _chain(request), client_ip(request))
    except ChainUnavailable:
        return _new_page(request, session, region, values, {"form": "chain_unavailable"}, status=503)
    except (ContractError, TransactionFailed) as exc:
        return _new_page(request, session, region, values, {"form": _contract_key(exc)}, status=409)
    return redirect_to(_activity_url(region, int(result["activity_id"])), done="activity_created")


# ---------------------------------------------------------------------------------------------
# One activity
# ---------------------------------------------------------------------------------------------


def _contract_key(exc: Exception) -> str:
    code = error_code(exc) if isinstance(exc, ContractError) else "transaction_failed"
    known = {
        "activity_started",
        "activity_closed",
        "activity_ended",
        "already_revoked",
        "record_not_found",
        "unknown_activity",
        "not_region_admin",
        "region_paused",
        "paused",
        "invalid_window",
        "invalid_unit_terms",
        "invalid_kind",
        "invalid_reason",
    }
    return f"contract_{code}" if code in known else "contract_other"


def _checkin_filters(address: str, status: str) -> tuple[str, str | None]:
    address = address.strip()[:42]
    if address and not all(c in "0123456789abcdefABCDEFx" for c in address):
        address = ""
    return address, (status if status in _STATUSES else None)


def _checkins_context(
    engine: EngineDep, region: int, facts: ActivityFacts, address: str, status: str
) -> dict[str, Any]:
    prefix, state = _checkin_filters(address, status)
    with engine.connect() as conn:
        rows = work.check_ins(conn, facts.activity_id, address_prefix=prefix, status=state, limit=500)
    query = "&".join(p for p in (f"address={prefix}" if prefix else "", f"status={state}" if state else "") if p)
    refresh = f"{_activity_url(region, facts.activity_id)}/checkins" + (f"?{query}" if query else "")
    return {
        "checkins": rows,
        "filter_address": prefix,
        "filter_status": state or "",
        "statuses": _STATUSES,
        "refresh_url": refresh,
        "short": work.short_address,
    }


def _activity_page(
    request: Request,
    session: sessions.Session,
    engine: EngineDep,
    region: int,
    facts: ActivityFacts,
    *,
    kiosk: KioskLink | None = None,
    error: str = "",
    edit_values: dict[str, str] | None = None,
    address: str = "",
    status_filter: str = "",
    status: int = 200,
) -> HTMLResponse:
    actor = session.actor
    now = int(time.time())
    return render_console(
        request,
        "console/activity.html",
        {
            "a": facts,
            "state": facts.state(now),
            "can_designate": facts.starts_at > now and not facts.closed,
            "can_edit": actor.can("activities"),
            "can_checkins": actor.can("checkins"),
            "kiosk": kiosk,
            "kiosk_qr": segno.make(kiosk.url, error="m").svg_data_uri(scale=5, border=2) if kiosk else "",
            "unit_choices": list(range(1, min(facts.max_units, 24) + 1)) if facts.unit != "record" else [],
            "error": error,
            "edit": edit_values or {"name": facts.name, "venue": facts.venue, "description": facts.description},
            "url": _activity_url(region, facts.activity_id),
            "back_url": _activities_url(region),
            "reasons": work.REVOKE_REASONS,
            **_checkins_context(engine, region, facts, address, status_filter),
            **_labels(request),
        },
        session,
        region=region,
        status=status,
    )


@router.get(_ActivityPath, response_class=HTMLResponse)
def activity_page(
    request: Request,
    code: str,
    activity_id: _Id,
    session: ConsoleSession,
    engine: EngineDep,
    address: Annotated[str, Query(max_length=42)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    region = require_region(session, code)
    facts = _facts(request, engine, region, activity_id)
    return _activity_page(request, session, engine, region, facts, address=address, status_filter=status)


@router.get(_ActivityPath + "/checkins", response_class=HTMLResponse)
def checkins_fragment(
    request: Request,
    code: str,
    activity_id: _Id,
    session: ConsoleSession,
    engine: EngineDep,
    address: Annotated[str, Query(max_length=42)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """The check-in list alone (what the page re-fetches every 5 s)."""
    region = require_region(session, code)
    facts = _facts(request, engine, region, activity_id)
    context = {
        "a": facts,
        "can_checkins": session.actor.can("checkins"),
        "url": _activity_url(region, facts.activity_id),
        "reasons": work.REVOKE_REASONS,
        **_checkins_context(engine, region, facts, address, status),
    }
    return render_console(request, "console/activity_checkins.html", context, session, region=region)


def _chain_failure(
    request: Request,
    session: sessions.Session,
    engine: EngineDep,
    region: int,
    activity_id: _Id,
    exc: Exception,
    **extra: Any,
) -> HTMLResponse:
    """The activity page again with what the chain said (a 409), e.g. designating after the start."""
    facts = _facts(request, engine, region, activity_id)
    return _activity_page(request, session, engine, region, facts, error=_contract_key(exc), status=409, **extra)


@router.post(_ActivityPath + "/edit", response_class=HTMLResponse)
def edit_activity(
    request: Request,
    code: str,
    activity_id: _Id,
    session: ConsoleForm,
    engine: EngineDep,
    name: _Short = "",
    venue: _Short = "",
    description: _Text = "",
) -> Response:
    region = require_region(session, code, "activities")
    facts = _facts(request, engine, region, activity_id)
    values = {"name": name.strip(), "venue": venue.strip(), "description": description.strip()}
    if not values["name"] or len(values["name"]) > 120:
        error = "name_required" if not values["name"] else "name_too_long"
        return _activity_page(
            request, session, engine, region, facts, error=f"form_{error}", edit_values=values, status=422
        )
    try:
        work.edit_activity(
            engine,
            session.actor,
            region,
            activity_id,
            **values,
            chain=_chain(request),
            directory=_checkin(request).directory,
            client=client_ip(request),
        )
    except (ContractError, TransactionFailed) as exc:
        return _chain_failure(request, session, engine, region, activity_id, exc, edit_values=values)
    return redirect_to(_activity_url(region, activity_id), done="activity_edited")


@router.post(_ActivityPath + "/designation", response_class=HTMLResponse)
def designate_activity(
    request: Request,
    code: str,
    activity_id: _Id,
    session: ConsoleForm,
    engine: EngineDep,
    designated: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    region = require_region(session, code, "activities")
    _facts(request, engine, region, activity_id)
    try:
        work.designate_activity(
            engine,
            session.actor,
            region,
            activity_id,
            designated in ("1", "on", "true"),
            _chain(request),
            _checkin(request).directory,
            client_ip(request),
        )
    except (ContractError, TransactionFailed) as exc:
        return _chain_failure(request, session, engine, region, activity_id, exc)
    return redirect_to(_activity_url(region, activity_id), done="activity_designation")


@router.post(_ActivityPath + "/close", response_class=HTMLResponse)
def close_activity(request: Request, code: str, activity_id: _Id, session: ConsoleForm, engine: EngineDep) -> Response:
    region = require_region(session, code, "activities")
    _facts(request, engine, region, activity_id)
    try:
        work.close_activity(
            engine, session.actor, region, activity_id, _chain(request), _checkin(request).directory, client_ip(request)
        )
    except (ContractError, TransactionFailed) as exc:
        return _chain_failure(request, session, engine, region, activity_id, exc)
    return redirect_to(_activity_url(region, activity_id), done="activity_closed")


@router.post(_ActivityPath + "/kiosk", response_class=HTMLResponse)
def open_kiosk(
    request: Request,
    code: str,
    activity_id: _Id,
    session: ConsoleForm,
    engine: EngineDep,
    units: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    region = require_region(session, code, "checkins")
    facts = _facts(request, engine, region, activity_id)
    chosen = int(units) if units.strip().isdigit() else None
    try:
        link = work.open_kiosk(
            engine, session.actor, region, activity_id, chosen, _checkin(request), client_ip(request)
        )
    except CheckinRejected as exc:
        return _activity_page(
            request,
            session,
            engine,
            region,
            facts,
            error="kiosk_invalid_units" if exc.code == "invalid_units" else "kiosk_other",
            status=422,
        )
    return _activity_page(request, session, engine, region, facts, kiosk=link)


@router.post(_ActivityPath + "/revoke", response_class=HTMLResponse)
def revoke_record(
    request: Request,
    code: str,
    activity_id: _Id,
    session: ConsoleForm,
    engine: EngineDep,
    participant: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=2)] = "",
    note: _Text = "",
) -> Response:
    region = require_region(session, code, "checkins")
    facts = _facts(request, engine, region, activity_id)
    reason_code = int(reason) if reason.isdigit() else 0
    if reason_code not in work.REVOKE_REASONS:
        return _activity_page(request, session, engine, region, facts, error="form_reason_required", status=422)
    try:
        work.revoke_record(
            engine,
            session.actor,
            region,
            activity_id,
            participant,
            reason_code,
            note,
            _chain(request),
            client_ip(request),
        )
    except ValueError:
        return _activity_page(request, session, engine, region, facts, error="form_participant_invalid", status=422)
    except (ContractError, TransactionFailed) as exc:
        return _chain_failure(request, session, engine, region, activity_id, exc)
    return redirect_to(_activity_url(region, activity_id), done="record_revoked")
