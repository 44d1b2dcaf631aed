"""Operator endpoints: a region's staff create, edit, designate and close activities, follow and
revoke check-ins, and open the kiosk.

A caller is an API key (``Authorization: Bearer``; an operator key acts as its region's admin) or a
signed-in console session (``X-CSRF-Token`` on state-changing requests), with the permission
model of :mod:`ledger.staff.roles`: reading needs ``read``, activities ``activities``, the kiosk
and revocations ``checkins``; another region gets 403 ``wrong_region``. The work is done by
:mod:`ledger.console.activities` (the console pages call the same functions): chain writes are
recorded as pending actions and audited, and are signed by the server's ``region-admin`` operator
key (devnet mnemonic on chain 31337 only, a keystore elsewhere)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.deps import ActorDep, CheckinDep, ConnDep, EngineDep, RegionCode, chain_of, client_ip
from api.errors import ApiError
from ledger.checkin.service import CheckinService
from ledger.console import activities as work
from ledger.console import pending
from ledger.console.activities import ActivityInput, ChainSource
from ledger.municipalities import jis_code
from ledger.relay.outbox import claim_counts, list_claims
from ledger.taxonomy import ContributionKind

router = APIRouter(tags=["operator"])

ActivityId = Annotated[int, Path(ge=1, le=2**48 - 1, description="on-chain activity id")]


class ActivityCreate(BaseModel):
    """A new activity. Its name, description and venue are kept off chain; the chain stores the
    keccak256 of their canonical JSON as the metadata hash. No personal data."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=2000)
    venue: str = Field("", max_length=200)
    kind: int = Field(description="contribution kind code (ledger/taxonomy.py), e.g. 20 祭り・イベント参加")
    reward: int = Field(ge=0, le=2**40 - 1, description="coins minted per participant, or per hour / day (unit)")
    starts_at: int = Field(ge=0, lt=2**40, description="unix seconds")
    ends_at: int = Field(ge=0, lt=2**40, description="unix seconds")
    capacity: int = Field(0, ge=0, lt=2**32, description="most participants (0 = unlimited)")
    designated: bool = Field(False, description="a 担い手活動 designated by the municipality (ふるさと住民登録)")
    unit: Literal["record", "hour", "day"] = Field(
        "record", description="what the reward is per: one record (a visit, an event), an hour of help, a day of a stay"
    )
    max_units: int = Field(1, ge=1, le=65_535, description="most hours or days one check-in records (1 for record)")

    @model_validator(mode="after")
    def _check(self) -> ActivityCreate:
        if self.unit == "record" and self.max_units != 1:
            raise ValueError("max_units applies to an activity rewarded per hour or day: use 1 with unit 'record'")
        if self.kind not in {int(k) for k in ContributionKind}:
            raise ValueError(
                f"kind {self.kind} is not a contribution kind ({', '.join(str(int(k)) for k in ContributionKind)})"
            )
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class DesignationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    designated: bool = Field(description="whether the activity is a designated 担い手活動")


class KioskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    units: int | None = Field(
        None,
        ge=0,
        le=65_535,
        description="hours or days each check-in at this kiosk records (default: the cap); 0 opens a presence "
        "kiosk of an hour- or day-rewarded activity: one code for arrival and departure (docs/checkin.md)",
    )


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    participant: str = Field(max_length=64)
    reason: int = Field(
        ge=1, le=5, description="1 issued in error, 2 not present, 3 duplicate person, 4 participant's request, 5 other"
    )
    note: str = Field("", max_length=2000, description="the explanation; only its keccak256 goes on chain")


class ActivityEdit(BaseModel):
    """New text for an activity (every field is replaced; the chain stores the new hash)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=2000)
    venue: str = Field("", max_length=200)


def _region_of(checkin: CheckinService, activity_id: int) -> int:
    """The activity's region, as the check-in intake knows it (index first, then the chain);
    404 ``unknown_activity`` when neither has it."""
    return checkin.directory.get(activity_id).region


def _chain(request: Request) -> ChainSource:
    return lambda: chain_of(request.app)


@router.post("/api/v1/regions/{region}/activities", status_code=201, summary="Register an activity on chain")
def create_activity(
    request: Request, region: RegionCode, body: ActivityCreate, actor: ActorDep, engine: EngineDep
) -> dict[str, Any]:
    actor.require("activities", region)
    value = ActivityInput(**body.model_dump())
    result = work.create_activity(engine, actor, region, value, _chain(request), client_ip(request))
    return {**result, "region": region, "code": jis_code(region), **body.model_dump()}


@router.get("/api/v1/regions/{region}/activities", summary="A region's activities with their claim counts")
def region_activities(region: RegionCode, actor: ActorDep, conn: ConnDep, checkin: CheckinDep) -> list[dict[str, Any]]:
    actor.require("read", region)
    rows = work.region_activities(conn, checkin.signing.chain_id, region)
    return [row.as_dict() for row in sorted(rows, key=lambda r: r.activity_id)]


@router.get("/api/v1/activities/{activity_id}", summary="An activity: its terms, text and claim counts")
def activity_detail(activity_id: ActivityId, actor: ActorDep, conn: ConnDep, checkin: CheckinDep) -> dict[str, Any]:
    actor.require("read", _region_of(checkin, activity_id))
    facts = work.activity_facts(conn, checkin.signing.chain_id, activity_id, checkin.directory)
    if facts is None:
        raise ApiError(404, "unknown_activity", f"activity {activity_id} does not exist")
    return facts.as_dict()


@router.patch(
    "/api/v1/activities/{activity_id}",
    summary="Edit an activity's name, description and venue (the new text's hash is committed on chain)",
)
def edit_activity(
    request: Request,
    activity_id: ActivityId,
    body: ActivityEdit,
    actor: ActorDep,
    engine: EngineDep,
    checkin: CheckinDep,
) -> dict[str, Any]:
    region = _region_of(checkin, activity_id)
    actor.require("activities", region)
    return work.edit_activity(
        engine,
        actor,
        region,
        activity_id,
        name=body.name,
        description=body.description,
        venue=body.venue,
        chain=_chain(request),
        directory=checkin.directory,
        client=client_ip(request),
    )


@router.post("/api/v1/activities/{activity_id}/close", summary="Close an activity: no further check-ins")
def close_activity(
    request: Request, activity_id: ActivityId, actor: ActorDep, engine: EngineDep, checkin: CheckinDep
) -> dict[str, Any]:
    region = _region_of(checkin, activity_id)
    actor.require("activities", region)
    return work.close_activity(
        engine, actor, region, activity_id, _chain(request), checkin.directory, client_ip(request)
    )


@router.post(
    "/api/v1/activities/{activity_id}/designation",
    summary="Designate an activity as a 担い手活動 (or undo it): only before it starts, each change an event",
)
def designate_activity(
    request: Request,
    activity_id: ActivityId,
    body: DesignationBody,
    actor: ActorDep,
    engine: EngineDep,
    checkin: CheckinDep,
) -> dict[str, Any]:
    region = _region_of(checkin, activity_id)
    actor.require("activities", region)
    return work.designate_activity(
        engine, actor, region, activity_id, body.designated, _chain(request), checkin.directory, client_ip(request)
    )


@router.get("/api/v1/activities/{activity_id}/claims", summary="An activity's claims (paged by id)")
def activity_claims(
    activity_id: ActivityId,
    actor: ActorDep,
    conn: ConnDep,
    checkin: CheckinDep,
    status: Annotated[str | None, Query(pattern="^(accepted|submitted|confirmed|rejected)$")] = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    actor.require("read", _region_of(checkin, activity_id))
    claims = list_claims(conn, activity_id, status=status, after_id=after_id, limit=limit)
    return {
        "activity_id": activity_id,
        "counts": claim_counts(conn, activity_id),
        "claims": claims,
        "next_after_id": claims[-1]["claim_id"] if len(claims) == limit else None,
    }


@router.get(
    "/api/v1/activities/{activity_id}/checkins",
    summary="An activity's check-ins as the console lists them: claims with what the index shows (newest first)",
)
def activity_checkins(
    activity_id: ActivityId,
    actor: ActorDep,
    conn: ConnDep,
    checkin: CheckinDep,
    address: Annotated[str, Query(max_length=42, pattern="^(0x)?[0-9a-fA-F]*$", description="address prefix")] = "",
    status: Annotated[str | None, Query(pattern="^(accepted|submitted|confirmed|rejected|revoked)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    actor.require("read", _region_of(checkin, activity_id))
    rows = work.check_ins(conn, activity_id, address_prefix=address, status=status, limit=limit)
    return {
        "activity_id": activity_id,
        "counts": claim_counts(conn, activity_id),
        "checkins": [r.as_dict() for r in rows],
    }


@router.post("/api/v1/activities/{activity_id}/revoke", summary="Revoke a recorded contribution, with a reason")
def revoke(
    request: Request, activity_id: ActivityId, body: RevokeBody, actor: ActorDep, engine: EngineDep, checkin: CheckinDep
) -> dict[str, Any]:
    region = _region_of(checkin, activity_id)
    actor.require("checkins", region)
    return work.revoke_record(
        engine,
        actor,
        region,
        activity_id,
        body.participant,
        body.reason,
        body.note,
        _chain(request),
        client_ip(request),
    )


@router.post("/api/v1/activities/{activity_id}/kiosk", summary="Open the kiosk: a link for the venue's screen")
def open_kiosk(
    request: Request,
    activity_id: ActivityId,
    actor: ActorDep,
    engine: EngineDep,
    checkin: CheckinDep,
    body: KioskBody | None = None,
) -> dict[str, Any]:
    region = _region_of(checkin, activity_id)
    actor.require("checkins", region)
    link = work.open_kiosk(
        engine, actor, region, activity_id, body.units if body is not None else None, checkin, client_ip(request)
    )
    return {"activity_id": activity_id, "kiosk_url": link.url, "expires_at": link.expires_at, "units": link.units}


@router.get(
    "/api/v1/regions/{region}/pending-actions",
    summary="Chain actions of the region not confirmed done: failed ones, and ones a crash left sending",
)
def pending_actions(region: RegionCode, actor: ActorDep, engine: EngineDep) -> list[dict[str, Any]]:
    actor.require("read", region)
    pending.reconcile(engine, region)
    with engine.connect() as conn:
        return [a.__dict__ for a in pending.open_actions(conn, region)]


@router.post(
    "/api/v1/regions/{region}/pending-actions/{action_id}/dismiss",
    summary="Mark a failed or unconfirmed chain action as looked at",
)
def dismiss_pending(
    request: Request,
    region: RegionCode,
    action_id: Annotated[int, Path(ge=1)],
    actor: ActorDep,
    engine: EngineDep,
) -> dict[str, Any]:
    actor.require("activities", region)
    pending.dismiss(engine, actor, region, action_id, client_ip(request))
    return {"action_id": action_id, "dismissed": True}
