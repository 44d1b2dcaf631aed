"""ふるさと住民登録 Premium eligibility: participants' opt-in to be listed to a municipality's staff,
and the staff's roster and CSV (docs/console.md, 「ふるさと住民登録の対象者」).

Participants (no credential: the EIP-712 ``EligibilityListing`` signed by their key is the
authorisation; ledger/certificate/listings.py checks it):

- ``GET /api/v1/people/{address}/listings/typed-data?region=&contact=&listed=``: what to sign, for
  this deployment, with ``issuedAt`` = now (refused early for a bad contact, an unknown region or
  no records, before the person is asked to sign);
- ``POST /api/v1/people/{address}/listings`` ``{region, contact, listed, issued_at, signature}``;
- ``GET /api/v1/people/{address}/listings`` → ``{"listings": [{"region": 12205, "code": "12205", "listed": true}]}``:
  where they are listed, never the contact (anyone may ask; the address is pseudonymous).

Staff (:data:`api.deps.ActorDep`: an API key or the console session), tagged ``operator``:

- ``GET /api/v1/regions/{region}/eligibility?as_of=``: the roster (``read`` in the region);
  contacts only with :data:`ledger.certificate.listings.CONTACTS_PERMISSION`;
- ``GET /api/v1/regions/{region}/eligibility.csv?as_of=&lang=``: the opted-in people with their
  contacts, for the municipality (needs that permission; recorded in the staff audit).

**Decision: contacts need ``notes``**, not a new permission and not ``export``: region admins and
staff have it — they already read staff notes about individual people and they are the ones who
contact participants — while viewers do not, and researcher keys (which have ``export``) never see
a contact. The reasoning is in ledger/certificate/listings.py, next to the constant.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine

from api.deps import ActorDep, ChainDep, ConnDep, Day, EngineDep, RegionCode, RegionQuery, client_ip
from api.errors import ApiError, status_of
from api.routes.region_audit import csv_response
from ledger.certificate import listings as listing_ops
from ledger.certificate.issue import today_jst
from ledger.certificate.roster import Roster, roster
from ledger.certificate.typed import listing_typed_data
from ledger.municipalities import jis_code
from ledger.staff.roles import Actor

__all__ = ["eligibility_csv_response", "roster_for", "router"]

router = APIRouter()


Address = Annotated[str, Path(max_length=64, description="the participant's address (0x + 40 hex digits)")]
Region = RegionCode
AsOf = Annotated[Day | None, Query(description="the JST day eligibility is judged on (default: today)")]


def _refused(exc: listing_ops.ListingRefused) -> ApiError:
    status, code = status_of(exc)
    return ApiError(status, code, exc.message)


# -- participants -------------------------------------------------------------------------------


@router.get(
    "/api/v1/people/{address}/listings/typed-data",
    tags=["people"],
    summary="The EIP-712 EligibilityListing a participant signs to be listed (or not) to a municipality's staff",
)
def listing_document(
    address: Address,
    conn: ConnDep,
    chain: ChainDep,
    region: Annotated[RegionQuery, Query(description="the municipality's JIS code, five digits (e.g. 12205)")],
    contact: Annotated[
        str, Query(max_length=1_000, description="the contact to show to staff (trimmed; ignored to opt out)")
    ] = "",
    listed: Annotated[bool, Query(description="true to be listed, false to be taken off the list")] = True,
) -> dict[str, Any]:
    try:
        value = listing_ops.check_listing(conn, holder=address, region=region, contact=contact, listed=listed)
    except listing_ops.ListingRefused as exc:
        raise _refused(exc) from None
    issued_at = listing_ops.next_issued_at(conn, address, region, int(time.time()))
    return listing_typed_data(chain.chain_id, chain.deployment.ledger, address, region, value, listed, issued_at)


class ListingBody(BaseModel):
    region: int = Field(ge=1, le=999_999, description="the municipality's JIS code")
    contact: str = Field(max_length=1_000, description="the signed contact (trimmed; '' to opt out)")
    listed: bool = Field(description="true: list me with this contact; false: take me off and delete it")
    issued_at: int = Field(ge=0, le=2**63, description="the signed issuedAt, unix seconds")
    signature: str = Field(max_length=200, description="EIP-712 EligibilityListing signature, 0x hex")


@router.post(
    "/api/v1/people/{address}/listings",
    tags=["people"],
    summary="A participant's signed request to be listed to a municipality's staff, or taken off the list",
)
def listing_set(address: Address, body: ListingBody, engine: EngineDep, chain: ChainDep) -> dict[str, Any]:
    try:
        result = listing_ops.set_listing(
            engine,
            chain_id=chain.chain_id,
            ledger=chain.deployment.ledger,
            holder=address,
            region=body.region,
            contact=body.contact,
            listed=body.listed,
            issued_at=body.issued_at,
            signature=body.signature,
            now=time.time(),
        )
    except listing_ops.ListingRefused as exc:
        raise _refused(exc) from None
    return {"region": result.region, "code": jis_code(result.region), "listed": result.listed}


@router.get(
    "/api/v1/people/{address}/listings",
    tags=["people"],
    summary="The municipalities a participant asked to be listed to (never the contact)",
)
def listing_list(address: Address, conn: ConnDep) -> dict[str, Any]:
    try:
        regions = listing_ops.listings_of(conn, address)
    except listing_ops.ListingRefused as exc:
        raise _refused(exc) from None
    return {"listings": [{"region": region, "code": jis_code(region), "listed": True} for region in regions]}


# -- staff --------------------------------------------------------------------------------------


def roster_for(conn: Connection, actor: Actor, region: int, as_of: date | None) -> Roster:
    """The roster as ``actor`` may see it (``read`` in the region; contacts with the permission)."""
    actor.require("read", region)
    return roster(conn, region, as_of or today_jst(), contacts=actor.can(listing_ops.CONTACTS_PERMISSION))


def eligibility_csv_response(
    engine: Engine, actor: Actor, region: int, as_of: date | None, lang: str, client: str
) -> Response:
    actor.require("read", region)
    day = as_of or today_jst()
    body = listing_ops.export_listing_csv(engine, actor, region, day, lang=lang, client=client)
    return csv_response(body.encode("utf-8"), listing_ops.listing_csv_filename(region, day))


def _json_roster(found: Roster) -> dict[str, Any]:
    document = asdict(found)
    document["people"] = [{**asdict(row), "status": row.status} for row in found.people]
    return document


@router.get(
    "/api/v1/regions/{region}/eligibility",
    tags=["operator"],
    summary="Who in the region is eligible for ふるさと住民登録 Premium, and when it lapses (and who is close)",
)
def eligibility_roster(region: Region, actor: ActorDep, conn: ConnDep, as_of: AsOf = None) -> dict[str, Any]:
    return _json_roster(roster_for(conn, actor, region, as_of))


@router.get(
    "/api/v1/regions/{region}/eligibility.csv",
    tags=["operator"],
    summary="The people who opted in to be listed, with their contacts, as CSV for Excel (recorded in the audit)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def eligibility_csv(
    request: Request,
    region: Region,
    actor: ActorDep,
    engine: EngineDep,
    as_of: AsOf = None,
    lang: Annotated[Literal["ja", "en"], Query(description="language of the CSV header and yes/no")] = "ja",
) -> Response:
    return eligibility_csv_response(engine, actor, region, as_of, lang, client_ip(request))
