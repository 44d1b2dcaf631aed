"""Public check-in endpoints: what a scanned code is for, posting a signed claim, its status, and the
kiosk's current frame. No API key: the kiosk token, the participant's signature and the kiosk
session carry the authority (docs/checkin.md)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CheckinDep, ConnDep
from api.errors import problems
from ledger.checkin import presence
from ledger.checkin.activities import activity_state
from ledger.checkin.errors import CheckinRejected
from ledger.checkin.intake import AcceptedClaim, ClaimRequest, GroupCommit
from ledger.checkin.service import CheckinService
from ledger.checkin.signing import CLAIM_TYPES, normalise_address
from ledger.relay.outbox import claim_counts, claim_status

router = APIRouter(tags=["check-in"])

ActivityId = Annotated[int, Path(ge=1, le=2**48 - 1, description="on-chain activity id")]


class ClaimBody(BaseModel):
    """A participant's signed claim (EIP-712 ``Claim``, see docs/checkin.md)."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(max_length=64, description="the token from the kiosk QR code's URL")
    participant: str = Field(max_length=64, description="the participant's address (0x…)")
    requested_at: int = Field(ge=0, lt=2**64, description="unix seconds on the phone when it signed")
    signature: str = Field(max_length=140, description="65-byte EIP-712 signature, 0x hex")
    activity_id: int | None = Field(None, ge=1, lt=2**48, description="the activity the page shows (optional)")
    intent: Literal["arrive", "depart"] | None = Field(
        None,
        description="a presence kiosk's code (units 0): check in (arrive) or out (depart); "
        "without it the participant's state decides",
    )


def _committer(request: Request, service: CheckinService) -> GroupCommit:
    committer: GroupCommit | None = getattr(request.app.state, "claim_committer", None)
    if committer is None or committer.intake is not service.intake:
        settings = request.app.state.settings
        committer = GroupCommit(service.intake, max_wait_ms=settings.checkin.max_batch_wait_ms)
        request.app.state.claim_committer = committer
    return committer


@router.get(
    "/api/v1/checkin/{token}",
    summary="What a scanned check-in code or a single-use claim code is for (before signing)",
    description="``token`` is a kiosk QR code's token or a claim code from a letter (typed loosely: "
    "hyphens, lower case); the answer's ``token`` is what to sign. With ``participant``, a presence "
    "kiosk's answer says whether that address is checked in now (arrival or departure next).",
)
def checkin_context(
    token: Annotated[str, Path(max_length=64)],
    service: CheckinDep,
    conn: ConnDep,
    request: Request,
    participant: Annotated[str | None, Query(max_length=64, description="the phone's address (0x…)")] = None,
) -> dict[str, Any]:
    client = request.client.host if request.client else "unknown"
    payload, activity = service.intake.resolve(token, client)
    state = activity_state(activity, service.clock(), claim_counts(conn, activity.activity_id)["accepted"])
    extra: dict[str, Any] = {}
    if payload.code is not None:
        row = service.intake.code_state(payload.code)
        extra["code"] = {
            "expires_at": payload.expires_at,
            "used": row is not None and row.state == "redeemed",
            "display": "-".join(payload.code[i : i + 4] for i in range(0, len(payload.code), 4)),
        }
    if payload.units == 0:
        extra["presence"] = _presence_state(conn, activity.activity_id, participant, service.clock())
    return {
        "token": payload.code or token,
        "kind": "code" if payload.code is not None else ("presence" if payload.units == 0 else "kiosk"),
        **extra,
        "activity": {**activity.as_dict(state), "units": payload.units},
        "typed_data": {
            "domain": service.signing.domain(),
            "types": {"Claim": CLAIM_TYPES},
            "primaryType": "Claim",
        },
        "expires_at": payload.expires_at,
    }


@router.post(
    "/api/v1/claims",
    status_code=202,
    summary="Check in: a signed claim is checked and written to the outbox before this answers",
    responses={
        202: {"description": "accepted; the claim id's status follows it on chain"},
        409: {"description": "already_claimed / replayed_request (with claim_id), activity closed/full/..."},
        429: {"description": "rate_limited (Retry-After)"},
    },
)
async def post_claim(body: ClaimBody, request: Request, service: CheckinDep) -> JSONResponse:
    claim = ClaimRequest(
        token=body.token,
        participant=body.participant,
        requested_at=body.requested_at,
        signature=body.signature,
        activity_id=body.activity_id,
        intent=body.intent,
    )
    client = request.client.host if request.client else "unknown"
    if service.intake.needs_io(claim.token):
        prepared = await asyncio.to_thread(service.intake.prepare, claim, client)
    else:  # ~0.1 ms of hashing and one signature recovery: cheaper than a thread hop
        prepared = service.intake.prepare(claim, client)
    accepted = await _committer(request, service).submit(prepared)
    if not isinstance(accepted, AcceptedClaim):  # a presence kiosk: an arrival or a departure
        answer = accepted.as_dict()
        recorded = accepted.claim_id is not None
        return JSONResponse(
            {
                "claim_id": accepted.claim_id,
                "status": "accepted" if recorded else accepted.state,
                "activity_id": accepted.activity_id,
                "participant": accepted.participant,
                "accepted_at_ms": accepted.accepted_at_ms,
                "units": accepted.units,
                "presence": answer,
                "status_url": f"/api/v1/claims/{accepted.claim_id}" if recorded else None,
            },
            status_code=202,
        )
    return JSONResponse(
        {
            "claim_id": accepted.claim_id,
            "status": "accepted",
            "activity_id": accepted.activity_id,
            "participant": accepted.participant,
            "accepted_at_ms": accepted.accepted_at_ms,
            "units": accepted.units,
            "status_url": f"/api/v1/claims/{accepted.claim_id}",
        },
        status_code=202,
    )


def _presence_state(conn: Any, activity_id: int, participant: str | None, now: float) -> dict[str, Any]:
    """Whether ``participant`` is checked in at the activity now (what the next scan will do)."""
    if participant is None:
        return {"next": None, "session": None}
    address = normalise_address(participant)
    session = presence.latest_session_of(conn, activity_id, address)
    if session is None:
        return {"next": presence.ARRIVE, "session": None}
    shown = session.as_dict()
    if session.state == "open" and session.expires_at <= now:
        shown["state"] = "expired"
    nxt = presence.DEPART if shown["state"] == "open" else None
    if shown["state"] in ("too_short", "expired", "cancelled"):
        nxt = presence.ARRIVE
    return {"next": nxt, "session": shown}


@router.get(
    "/api/v1/claims/{claim_id}",
    summary="A claim's progress: accepted → submitted → confirmed → indexed",
    responses=problems(404),
)
def get_claim(claim_id: Annotated[int, Path(ge=1, lt=2**63)], conn: ConnDep) -> dict[str, Any]:
    status = claim_status(conn, claim_id)
    if status is None:
        raise CheckinRejected("unknown_claim", f"there is no claim {claim_id}")
    return status


@router.get("/api/v1/kiosk/{activity_id}/frame", summary="What the kiosk screen shows now (QR code, counts, state)")
def kiosk_frame(
    activity_id: ActivityId,
    k: Annotated[str, Query(max_length=200, description="the kiosk session from the kiosk URL")],
    service: CheckinDep,
) -> dict[str, Any]:
    return service.frame(activity_id, k).as_dict()
