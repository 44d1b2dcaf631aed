"""Operator endpoints of a region's admin: its issuers (the keys that record contributions) and its
staff accounts. The console's issuer and staff pages call the same functions
(ledger/console/issuers.py, ledger/staff/accounts.py).

Authorised by :data:`api.deps.ActorDep` (an API key or the console session with its CSRF token).
Listing issuers needs ``read`` in the region, changing them ``issuers``; staff accounts need
``staff`` (a region admin or a platform operator). Another region's caller gets 403.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from api.deps import ActorDep, ChainDep, ConnDep, EngineDep, RegionCode, SettingsDep, chain_of, client_ip
from api.errors import problems
from api.routes.console.home import invite_url
from ledger.chain.context import ChainContext
from ledger.console import issuers as issuer_ops
from ledger.db.engine import write_transaction
from ledger.errors import TsunagariError
from ledger.municipalities import jis_code
from ledger.staff import accounts
from ledger.staff.accounts import Account
from ledger.staff.roles import ROLE_LABELS, Actor

router = APIRouter(tags=["operator"])

AccountId = Annotated[int, Path(ge=1, le=2**62, description="a staff account's id")]
Address = Annotated[str, Path(min_length=1, max_length=64, description="the issuer's address (0x and 40 hex digits)")]
StaffRoleName = Literal["admin", "staff", "viewer"]


async def optional_chain(request: Request) -> ChainContext | None:
    """The app's chain, or None while the node cannot be reached (lists fall back to the index)."""
    chain: ChainContext | None = getattr(request.app.state, "chain", None)
    if chain is not None:
        return chain
    try:
        return await asyncio.to_thread(chain_of, request.app)
    except TsunagariError:
        return None


# -- issuers ---------------------------------------------------------------------------------------


class IssuerGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(max_length=64, description="0x and 40 hex digits (an EIP-55 checksum is checked)")
    label: str = Field("", max_length=issuer_ops.MAX_LABEL, description="a human name, e.g. 受付タブレット1")


class IssuerLabelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(max_length=issuer_ops.MAX_LABEL, description="a human name ('' removes it)")


def issuers_json(engine: Engine, actor: Actor, region: int, chain: ChainContext | None) -> dict[str, Any]:
    with engine.connect() as conn:
        found, source = issuer_ops.list_issuers(conn, actor, region, chain.client if chain is not None else None)
    return {"region": region, "code": jis_code(region), "source": source, "issuers": [i.as_json() for i in found]}


@router.get("/api/v1/regions/{region}/issuers", summary="A region's issuers, with labels and what each issued")
async def list_issuers(request: Request, region: RegionCode, actor: ActorDep, engine: EngineDep) -> dict[str, Any]:
    actor.require("read", region)
    chain = await optional_chain(request)
    return await asyncio.to_thread(issuers_json, engine, actor, region, chain)


@router.post("/api/v1/regions/{region}/issuers", status_code=201, summary="Grant the issuer role (on chain)")
def grant_issuer(
    request: Request, region: RegionCode, body: IssuerGrant, actor: ActorDep, chain: ChainDep, engine: EngineDep
) -> dict[str, Any]:
    actor.require("issuers", region)
    return issuer_ops.grant(engine, actor, chain, region, body.address, body.label, client_ip(request))


@router.patch("/api/v1/regions/{region}/issuers/{address}", summary="Name an issuer address (local)")
def label_issuer(
    request: Request, region: RegionCode, address: Address, body: IssuerLabelBody, actor: ActorDep, engine: EngineDep
) -> dict[str, Any]:
    actor.require("issuers", region)
    checked = issuer_ops.set_label(engine, actor, region, address, body.label, client_ip(request))
    return {"region": region, "code": jis_code(region), "address": checked, "label": body.label.strip()}


@router.delete("/api/v1/regions/{region}/issuers/{address}", summary="Revoke the issuer role (on chain)")
def revoke_issuer(
    request: Request, region: RegionCode, address: Address, actor: ActorDep, chain: ChainDep, engine: EngineDep
) -> dict[str, Any]:
    actor.require("issuers", region)
    return issuer_ops.revoke(engine, actor, chain, region, address, client_ip(request))


# -- staff accounts --------------------------------------------------------------------------------


def account_status(account: Account) -> Literal["active", "invited", "disabled"]:
    if account.disabled_at is not None:
        return "disabled"
    return "active" if account.has_password else "invited"


def account_json(account: Account) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "login": account.login,
        "display_name": account.display_name,
        "role": account.role,
        "role_label": ROLE_LABELS.get(account.role, ("", ""))[0],
        "region": account.region,
        "code": jis_code(account.region) if account.region else None,
        "totp": account.has_totp,
        "last_login_at": account.last_login_at,
        "status": account_status(account),
        "created_at": account.created_at,
    }


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(min_length=3, max_length=120, description="the sign-in name (an e-mail address, say)")
    display_name: str = Field(min_length=1, max_length=80, description="the name the audit shows")
    role: StaffRoleName = Field(description="admin, staff or viewer")


class StaffPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: StaffRoleName | None = None
    disabled: bool | None = Field(None, description="true ends every session of the account at once")


@router.get("/api/v1/regions/{region}/staff", summary="A region's staff accounts")
def list_staff(region: RegionCode, actor: ActorDep, conn: ConnDep) -> list[dict[str, Any]]:
    actor.require("staff", region)
    return [account_json(a) for a in accounts.list_accounts(conn, region)]


@router.post(
    "/api/v1/regions/{region}/staff",
    status_code=201,
    summary="Invite a staff member: the one-time invite link is in the answer, only this once",
    responses=problems(409),  # account_exists
)
def create_staff(
    request: Request, region: RegionCode, body: StaffCreate, actor: ActorDep, engine: EngineDep, settings: SettingsDep
) -> dict[str, Any]:
    actor.require("staff", region)
    with write_transaction(engine) as conn:
        invite = accounts.create_account(
            conn,
            actor,
            login=body.login,
            display_name=body.display_name,
            role=body.role,
            region=region,
            settings=settings.console,
            client=client_ip(request),
        )
        account = accounts.get_account(conn, invite.account_id)
    return {**account_json(account), "invite_url": invite_url(request, invite.token), "expires_at": invite.expires_at}


@router.patch("/api/v1/staff/{account_id}", summary="Change a staff member's role, or disable / enable the account")
def patch_staff(
    request: Request, account_id: AccountId, body: StaffPatch, actor: ActorDep, engine: EngineDep
) -> dict[str, Any]:
    with write_transaction(engine) as conn:
        account = accounts.get_account(conn, account_id)
        actor.require("staff", account.region)
        if body.role is not None and body.role != account.role:
            account = accounts.set_role(conn, actor, account_id, body.role, client_ip(request))
        if body.disabled is not None and body.disabled != (account.disabled_at is not None):
            account = accounts.set_disabled(conn, actor, account_id, body.disabled, client_ip(request))
        return account_json(account)


@router.post(
    "/api/v1/staff/{account_id}/invite",
    summary="A new one-time invite link for an account (a forgotten password): its sessions end",
)
def reinvite_staff(
    request: Request, account_id: AccountId, actor: ActorDep, engine: EngineDep, settings: SettingsDep
) -> dict[str, Any]:
    with write_transaction(engine) as conn:
        account = accounts.get_account(conn, account_id)
        actor.require("staff", account.region)
        invite = accounts.invite_account(conn, actor, account_id, settings.console, client_ip(request))
    return {**account_json(account), "invite_url": invite_url(request, invite.token), "expires_at": invite.expires_at}
