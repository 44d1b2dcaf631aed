"""Operator endpoints: a region's staff create and close activities, follow and revoke claims, and
open the kiosk. Every call needs an operator key of the activity's region (or a platform key);
another region's key gets 403 ``wrong_region``. Chain writes are signed by the server's
``region-admin`` operator key (devnet mnemonic on chain 31337 only, a keystore elsewhere)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from eth_utils.crypto import keccak
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import text

from api.deps import ChainDep, CheckinDep, ConnDep, EngineDep, require
from api.errors import ApiError
from ledger.auth import Credential
from ledger.chain.client import ActivitySpec
from ledger.checkin.metadata import store_metadata
from ledger.checkin.service import CheckinService
from ledger.checkin.signing import normalise_address
from ledger.db.engine import write_transaction
from ledger.relay.outbox import claim_counts, list_claims
from ledger.taxonomy import ContributionKind, RewardUnit

router = APIRouter(tags=["operator"])

OperatorDep = Annotated[Credential, Depends(require("operator", "platform"))]
RegionCode = Annotated[int, Path(ge=1, le=999_999, description="JIS X 0402 municipality code")]
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
        None, ge=1, le=65_535, description="hours or days each check-in at this kiosk records (default: the cap)"
    )


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    participant: str = Field(max_length=64)
    reason: int = Field(
        ge=1, le=5, description="1 issued in error, 2 not present, 3 duplicate person, 4 participant's request, 5 other"
    )
    note: str = Field("", max_length=2000, description="the explanation; only its keccak256 goes on chain")


def _activity_region(checkin: CheckinService, activity_id: int) -> int:
    """The activity's region, as the check-in intake knows it (index first, then the chain);
    404 ``unknown_activity`` when neither has it."""
    return checkin.directory.get(activity_id).region


def _scoped(credential: Credential, region: int) -> None:
    if not credential.may_access_region(region):
        raise ApiError(403, "wrong_region", f"this key is for region {credential.region}, not {region}")


@router.post("/api/v1/regions/{region}/activities", status_code=201, summary="Register an activity on chain")
def create_activity(
    region: RegionCode, body: ActivityCreate, credential: OperatorDep, chain: ChainDep, engine: EngineDep
) -> dict[str, Any]:
    _scoped(credential, region)
    with write_transaction(engine) as conn:  # the text first, so the kiosk can show the name as soon as it is indexed
        metadata_hash = store_metadata(conn, body.name, body.description, body.venue)
    spec = ActivitySpec(
        region=region,
        kind=ContributionKind(body.kind),
        reward=body.reward,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        capacity=body.capacity,
        metadata_hash=bytes.fromhex(metadata_hash[2:]),
        designated=body.designated,
        unit=RewardUnit.of_code(body.unit),
        max_units=body.max_units,
    )
    activity_id = chain.client.register_activity(chain.operator("region-admin"), spec)
    return {"activity_id": activity_id, "region": region, "metadata_hash": metadata_hash, **body.model_dump()}


@router.get("/api/v1/regions/{region}/activities", summary="A region's activities with their claim counts")
def region_activities(
    region: RegionCode, credential: OperatorDep, chain: ChainDep, conn: ConnDep
) -> list[dict[str, Any]]:
    _scoped(credential, region)
    rows = conn.execute(
        text(
            "SELECT a.activity_id, a.kind, a.reward, a.starts_at, a.ends_at, a.capacity, a.closed, a.designated, "
            "a.unit, a.max_units, m.name "
            "FROM activities a LEFT JOIN activity_metadata m ON m.metadata_hash = a.metadata_hash "
            "WHERE a.chain_id = :c AND a.region = :r ORDER BY a.activity_id"
        ),
        {"c": chain.chain_id, "r": region},
    ).all()
    return [
        {
            "activity_id": int(r.activity_id),
            "name": r.name,
            "kind": int(r.kind),
            "reward": int(r.reward),
            "starts_at": int(r.starts_at),
            "ends_at": int(r.ends_at),
            "capacity": int(r.capacity),
            "closed": bool(r.closed),
            "designated": bool(r.designated),
            "unit": RewardUnit(int(r.unit)).code,
            "max_units": int(r.max_units),
            "claims": claim_counts(conn, int(r.activity_id)),
        }
        for r in rows
    ]


@router.post("/api/v1/activities/{activity_id}/close", summary="Close an activity: no further check-ins")
def close_activity(
    activity_id: ActivityId, credential: OperatorDep, chain: ChainDep, checkin: CheckinDep
) -> dict[str, Any]:
    _scoped(credential, _activity_region(checkin, activity_id))
    receipt = chain.client.close_activity(chain.operator("region-admin"), activity_id)
    checkin.directory.mark_closed(activity_id)
    return {"activity_id": activity_id, "closed": True, "tx_hash": chain.client.tx_hash(receipt)}


@router.post(
    "/api/v1/activities/{activity_id}/designation",
    summary="Designate an activity as a 担い手活動 (or undo it): only before it starts, each change an event",
)
def designate_activity(
    activity_id: ActivityId, body: DesignationBody, credential: OperatorDep, chain: ChainDep, checkin: CheckinDep
) -> dict[str, Any]:
    _scoped(credential, _activity_region(checkin, activity_id))
    receipt = chain.client.set_activity_designated(chain.operator("region-admin"), activity_id, body.designated)
    checkin.directory.invalidate(activity_id)
    return {"activity_id": activity_id, "designated": body.designated, "tx_hash": chain.client.tx_hash(receipt)}


@router.get("/api/v1/activities/{activity_id}/claims", summary="An activity's claims (paged by id)")
def activity_claims(
    activity_id: ActivityId,
    credential: OperatorDep,
    chain: ChainDep,  # unused here, kept so the endpoint still answers 503 while the node is down
    conn: ConnDep,
    checkin: CheckinDep,
    status: Annotated[str | None, Query(pattern="^(accepted|submitted|confirmed|rejected)$")] = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    _scoped(credential, _activity_region(checkin, activity_id))
    claims = list_claims(conn, activity_id, status=status, after_id=after_id, limit=limit)
    return {
        "activity_id": activity_id,
        "counts": claim_counts(conn, activity_id),
        "claims": claims,
        "next_after_id": claims[-1]["claim_id"] if len(claims) == limit else None,
    }


@router.post("/api/v1/activities/{activity_id}/revoke", summary="Revoke a recorded contribution, with a reason")
def revoke(
    activity_id: ActivityId, body: RevokeBody, credential: OperatorDep, chain: ChainDep, checkin: CheckinDep
) -> dict[str, Any]:
    _scoped(credential, _activity_region(checkin, activity_id))
    participant = normalise_address(body.participant)
    evidence = keccak(text=body.note) if body.note else bytes(32)
    event = chain.client.revoke(chain.operator("region-admin"), activity_id, participant, body.reason, evidence)
    return {
        "activity_id": activity_id,
        "participant": participant,
        "reason": body.reason,
        "evidence_hash": "0x" + evidence.hex(),
        "clawed_back": int(event["clawedBack"]),
        "shortfall": int(event["shortfall"]),
    }


@router.post("/api/v1/activities/{activity_id}/kiosk", summary="Open the kiosk: a link for the venue's screen")
def open_kiosk(
    activity_id: ActivityId,
    credential: OperatorDep,
    chain: ChainDep,  # unused here, kept so the endpoint still answers 503 while the node is down
    checkin: CheckinDep,
    body: KioskBody | None = None,
) -> dict[str, Any]:
    _scoped(credential, _activity_region(checkin, activity_id))
    link = checkin.kiosk_link(activity_id, body.units if body is not None else None)
    return {"activity_id": activity_id, "kiosk_url": link.url, "expires_at": link.expires_at, "units": link.units}
