"""Operator endpoints for single-use claim codes and for check-in / check-out (presence).

Authorised like ``api/routes/activities.py``: an API key (an operator key acts as its region's
admin) or a signed-in console session (``X-CSRF-Token`` on state-changing requests). Reading
needs ``read``; generating, downloading and voiding codes, closing or cancelling a check-in and
setting an activity's rule need ``checkins``. Another region's caller gets 403 ``wrong_region``.
The work is :mod:`ledger.console.codes` and :mod:`ledger.console.presence` (the console pages and
the CLI call the same functions, with the same audit).

**The codes in plain text** are returned once, in the answer to the generation (``codes``: serial,
code, display form, claim URL), for an integrator's mail merge; afterwards only the CSV endpoint
gives them again, and each download is audited (``codes.csv``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ActorDep, CheckinDep, EngineDep, client_ip
from api.errors import ApiError
from api.routes.region_audit import csv_response
from ledger.checkin.presence import UnitRule
from ledger.console import codes as code_work
from ledger.console import presence as presence_work

router = APIRouter(tags=["operator"])

ActivityId = Annotated[int, Path(ge=1, le=2**48 - 1, description="on-chain activity id")]
BatchId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a batch of claim codes")]
SessionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a check-in (presence session)")]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"example": {"error": {"code": description.split(maxsplit=1)[0], "message": "..."}}}
        },
    }


_AUTH: dict[int | str, dict[str, Any]] = {
    401: _error("unauthorized: no API key or console session"),
    403: _error("wrong_region / forbidden: another region's caller, or a role without the permission"),
}
_READ = {**_AUTH, 404: _error("unknown_activity: no such activity")}
_GENERATE = {
    **_READ,
    409: _error("activity_closed / activity_ended: the activity takes no more claims"),
    422: _error("invalid / invalid_units: a bad count, expiry (past, or after the activity ends), label or units"),
}
_BATCH = {**_AUTH, 404: _error("unknown_batch: no such batch of codes")}
_CSV = {200: {"content": {"text/csv": {}}, "description": "UTF-8 with a BOM (Excel), one code a row"}, **_BATCH}
_PRESENCE_READ = {
    **_READ,
    422: _error("invalid: the activity is rewarded per visit (it has no check-in and check-out)"),
}
_CLOSE = {
    **_AUTH,
    404: _error("unknown_claim: no such check-in"),
    409: _error("overlapping_stay / already_claimed / unknown_claim: the check-in cannot be recorded"),
    422: _error("invalid_units: units below 1 or above the activity's cap (24 for hours)"),
}
_CANCEL = {**_AUTH, 404: _error("unknown_claim: no such check-in, or one already ended")}
_RULE = {**_PRESENCE_READ, 422: _error("invalid: the rule does not fit the activity (cap, minimum, expiry)")}


class CodesCreate(BaseModel):
    """A batch of single-use claim codes for an activity."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=code_work.MAX_BATCH, description="how many codes")
    expires_at: int = Field(
        ge=0, lt=2**40, description="unix seconds; the codes stop working then (at the latest when the activity ends)"
    )
    label: str = Field("", max_length=code_work.MAX_LABEL, description="for staff, e.g. 2026年12月 お礼状")
    units: int | None = Field(
        None, description="hours or days each code records (activities rewarded per hour or day; default 1)"
    )


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    units: int | None = Field(None, description="hours or days to record (default: the measure by the rule)")


class RuleBody(BaseModel):
    """How an hour- or day-rewarded activity turns time into units."""

    model_config = ConfigDict(extra="forbid")

    rounding: Literal["down", "nearest", "up"] = Field("down", description="hours: 切り捨て / 四捨五入 / 切り上げ")
    min_units: int = Field(1, description="fewer units than this record nothing")
    cap_units: int = Field(description="most units one check-in records (at most the activity's max_units; 24 h)")
    open_expiry_s: int = Field(description="an arrival without departure expires after this many seconds")
    staff_confirms: bool = Field(False, description="each check-out waits for staff to confirm its units")


def _batch_place(engine: EngineDep, batch_id: int) -> tuple[int, int]:
    try:
        return code_work.batch_place(engine, batch_id)
    except code_work.BatchNotFound as exc:
        raise ApiError(404, "unknown_batch", str(exc)) from None


@router.post(
    "/api/v1/activities/{activity_id}/codes",
    status_code=201,
    summary="Generate single-use claim codes (the codes are in this answer once; later only as CSV)",
    responses=_GENERATE,
)
def generate_codes(
    request: Request,
    activity_id: ActivityId,
    body: CodesCreate,
    actor: ActorDep,
    engine: EngineDep,
    checkin: CheckinDep,
) -> dict[str, Any]:
    region = checkin.directory.get(activity_id).region
    actor.require("checkins", region)
    sheet = code_work.generate_with_codes(
        engine,
        actor,
        checkin,
        region,
        activity_id,
        body.count,
        body.expires_at,
        body.label,
        body.units,
        client_ip(request),
    )
    return {
        **sheet.batch.as_dict(),
        "csv_url": f"/api/v1/code-batches/{sheet.batch.batch_id}/codes.csv",
        "codes": [{"serial": c.serial, "code": c.code, "display": c.display, "url": c.url} for c in sheet.codes],
    }


@router.get(
    "/api/v1/activities/{activity_id}/codes",
    summary="An activity's batches of claim codes with their counts by state (no codes)",
    responses=_READ,
)
def list_codes(activity_id: ActivityId, actor: ActorDep, engine: EngineDep, checkin: CheckinDep) -> dict[str, Any]:
    region = checkin.directory.get(activity_id).region
    batches = code_work.list_batches(engine, actor, region, activity_id)
    return {"activity_id": activity_id, "batches": [b.as_dict() for b in batches]}


@router.get(
    "/api/v1/code-batches/{batch_id}/codes.csv",
    summary="A batch's codes as a mail-merge CSV (UTF-8 with BOM); each download is audited",
    response_class=Response,
    responses=_CSV,
)
def batch_csv(request: Request, batch_id: BatchId, actor: ActorDep, engine: EngineDep, checkin: CheckinDep) -> Response:
    _, region = _batch_place(engine, batch_id)
    sheet = code_work.codes_for_print(
        engine, actor, checkin, region, batch_id, purpose="csv", client=client_ip(request)
    )
    return csv_response(code_work.codes_csv(sheet), code_work.csv_filename(sheet))


@router.post(
    "/api/v1/code-batches/{batch_id}/void",
    summary="Void a batch's unused codes (redeemed ones keep their records)",
    responses=_BATCH,
)
def void_batch(request: Request, batch_id: BatchId, actor: ActorDep, engine: EngineDep) -> dict[str, Any]:
    _, region = _batch_place(engine, batch_id)
    voided = code_work.void(engine, actor, region, batch_id, client_ip(request))
    return {"batch_id": batch_id, "voided": voided}


@router.get(
    "/api/v1/activities/{activity_id}/presence",
    summary="Who is checked in, check-outs awaiting staff, expired check-ins and recent ends, with the rule",
    responses=_PRESENCE_READ,
)
def presence_board(activity_id: ActivityId, actor: ActorDep, engine: EngineDep, checkin: CheckinDep) -> dict[str, Any]:
    region = checkin.directory.get(activity_id).region
    return presence_work.board(engine, actor, checkin, region, activity_id).as_dict()


@router.post(
    "/api/v1/presence/{session_id}/close",
    summary="Record a check-in (open, expired or awaiting staff) with the measured or corrected units",
    responses=_CLOSE,
)
def close_presence(
    request: Request,
    session_id: SessionId,
    actor: ActorDep,
    engine: EngineDep,
    checkin: CheckinDep,
    body: CloseBody | None = None,
) -> dict[str, Any]:
    activity_id, region = presence_work.session_place(engine, session_id)
    closed = presence_work.close(
        engine,
        actor,
        checkin,
        region,
        activity_id,
        session_id,
        body.units if body is not None else None,
        client_ip(request),
    )
    return closed.as_dict()


@router.post(
    "/api/v1/presence/{session_id}/cancel",
    summary="End a check-in without a record",
    responses=_CANCEL,
)
def cancel_presence(
    request: Request, session_id: SessionId, actor: ActorDep, engine: EngineDep, checkin: CheckinDep
) -> dict[str, Any]:
    activity_id, region = presence_work.session_place(engine, session_id)
    return presence_work.cancel(engine, actor, checkin, region, activity_id, session_id, client_ip(request)).as_dict()


@router.put(
    "/api/v1/activities/{activity_id}/unit-rule",
    summary="Set how an hour- or day-rewarded activity turns time into units",
    responses=_RULE,
)
def put_rule(
    request: Request,
    activity_id: ActivityId,
    body: RuleBody,
    actor: ActorDep,
    engine: EngineDep,
    checkin: CheckinDep,
) -> dict[str, Any]:
    region = checkin.directory.get(activity_id).region
    rule = UnitRule(body.rounding, body.min_units, body.cap_units, body.open_expiry_s, body.staff_confirms)
    saved = presence_work.save_rule(engine, actor, checkin, region, activity_id, rule, client_ip(request))
    return {"activity_id": activity_id, **saved.as_dict()}
