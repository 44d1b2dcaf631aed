"""Console pages of a region admin: the region's issuers (the keys that record contributions) and
its staff accounts.

Both pages need their permission (``issuers``, ``staff``: a region admin or a platform operator);
staff and viewers get 403 (the issuer list is also readable by them through the JSON endpoint).
The logic is ledger/console/issuers.py and ledger/staff/accounts.py, shared with the JSON
endpoints (api/routes/region_admin.py). A new invite link is shown once, on the page that made it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ChainDep, EngineDep, SettingsDep, client_ip
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
from api.routes.console.home import invite_url
from api.routes.region_admin import account_status, optional_chain
from ledger.console import issuers as issuer_ops
from ledger.db.engine import write_transaction
from ledger.staff import accounts
from ledger.staff.errors import StaffError
from ledger.staff.roles import ROLE_LABELS
from ledger.staff.sessions import Session

router = APIRouter(prefix="/console", include_in_schema=False)

Address = Annotated[str, Path(min_length=1, max_length=64)]
AccountId = Annotated[int, Path(ge=1, le=2**62)]
ASSIGNABLE_ROLES = ("admin", "staff", "viewer")


# -- issuers ---------------------------------------------------------------------------------------


def _issuers_url(region: int) -> str:
    return f"{region_path(region)}/issuers"


async def _issuers_page(
    request: Request,
    session: Session,
    engine: EngineDep,
    region: int,
    *,
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    chain = await optional_chain(request)

    def load() -> tuple[list[issuer_ops.Issuer], str]:
        with engine.connect() as conn:
            return issuer_ops.list_issuers(conn, session.actor, region, chain.client if chain is not None else None)

    found, source = await asyncio.to_thread(load)
    return render_console(
        request,
        "console/issuers.html",
        {
            "issuers": found,
            "source": source,
            "error": error,
            "values": values or {"address": "", "label": ""},
            "issuers_url": _issuers_url(region),
            "max_label": issuer_ops.MAX_LABEL,
        },
        session,
        region=region,
        status=status,
    )


@router.get("/regions/{code}/issuers", response_class=HTMLResponse)
async def issuers_page(request: Request, code: str, session: ConsoleSession, engine: EngineDep) -> Response:
    region = require_region(session, code, "issuers")
    return await _issuers_page(request, session, engine, region)


@router.post("/regions/{code}/issuers", response_class=HTMLResponse)
async def grant_issuer(
    request: Request,
    code: str,
    session: ConsoleForm,
    engine: EngineDep,
    chain: ChainDep,
    address: Annotated[str, Form(max_length=100)] = "",
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    region = require_region(session, code, "issuers")
    values = {"address": address, "label": label}
    try:
        issuer_ops.checked_address(address)
    except ValueError:
        return await _issuers_page(request, session, engine, region, error="bad_address", values=values, status=422)
    try:
        issuer_ops.check_label(label)
    except ValueError:
        return await _issuers_page(request, session, engine, region, error="bad_label", values=values, status=422)
    await asyncio.to_thread(issuer_ops.grant, engine, session.actor, chain, region, address, label, client_ip(request))
    return redirect_to(_issuers_url(region), done="issuer_granted")


@router.post("/regions/{code}/issuers/{address}/label", response_class=HTMLResponse)
async def label_issuer(
    request: Request,
    code: str,
    address: Address,
    session: ConsoleForm,
    engine: EngineDep,
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    region = require_region(session, code, "issuers")
    try:
        await asyncio.to_thread(issuer_ops.set_label, engine, session.actor, region, address, label, client_ip(request))
    except ValueError:
        return await _issuers_page(request, session, engine, region, error="bad_label", status=422)
    return redirect_to(_issuers_url(region), done="issuer_labelled")


@router.post("/regions/{code}/issuers/{address}/revoke", response_class=HTMLResponse)
async def revoke_issuer(
    request: Request, code: str, address: Address, session: ConsoleForm, engine: EngineDep, chain: ChainDep
) -> Response:
    region = require_region(session, code, "issuers")
    try:
        issuer_ops.checked_address(address)
    except ValueError:
        return await _issuers_page(request, session, engine, region, error="bad_address", status=422)
    await asyncio.to_thread(issuer_ops.revoke, engine, session.actor, chain, region, address, client_ip(request))
    return redirect_to(_issuers_url(region), done="issuer_revoked")


# -- staff accounts --------------------------------------------------------------------------------


def _staff_url(region: int) -> str:
    return f"{region_path(region)}/staff"


def _staff_page(
    request: Request,
    session: Session,
    engine: EngineDep,
    region: int,
    *,
    invite: str = "",
    invited_name: str = "",
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    lang, _ = pick_language(request)
    with engine.connect() as conn:
        found = accounts.list_accounts(conn, region)
    rows: list[dict[str, Any]] = [
        {
            "account": a,
            "role_label": ROLE_LABELS.get(a.role, (a.role, a.role))[0 if lang == "ja" else 1],
            "status": account_status(a),
            "is_self": a.account_id == session.account.account_id,
        }
        for a in found
    ]
    roles = [(r, ROLE_LABELS[r][0 if lang == "ja" else 1]) for r in ASSIGNABLE_ROLES]
    return render_console(
        request,
        "console/staff.html",
        {
            "rows": rows,
            "roles": roles,
            "invite": invite,
            "invited_name": invited_name,
            "error": error,
            "values": values or {"login": "", "display_name": "", "role": "staff"},
            "staff_url": _staff_url(region),
        },
        session,
        region=region,
        status=status,
    )


def _error_key(exc: Exception, session: Session, account_id: int | None = None) -> str:
    if account_id is not None and account_id == session.account.account_id:
        return "staff_self"
    if isinstance(exc, StaffError):
        return exc.code
    return "invalid"


def _in_region(engine: EngineDep, session: Session, region: int, account_id: int) -> accounts.Account:
    """The account, if it belongs to the region of the URL (another region's id: 404, no data)."""
    with engine.connect() as conn:
        try:
            account = accounts.get_account(conn, account_id)
        except StaffError:
            account = None
    if account is None or account.region != region:
        raise ApiError(404, "unknown_account", f"no account {account_id} in region {region:05d}")
    return account


@router.get("/regions/{code}/staff", response_class=HTMLResponse)
def staff_page(request: Request, code: str, session: ConsoleSession, engine: EngineDep) -> Response:
    region = require_region(session, code, "staff")
    return _staff_page(request, session, engine, region)


@router.post("/regions/{code}/staff", response_class=HTMLResponse)
def invite_staff(
    request: Request,
    code: str,
    session: ConsoleForm,
    engine: EngineDep,
    settings: SettingsDep,
    login: Annotated[str, Form(max_length=200)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "staff",
) -> Response:
    region = require_region(session, code, "staff")
    values = {"login": login, "display_name": display_name, "role": role}
    if role not in ASSIGNABLE_ROLES:
        return _staff_page(request, session, engine, region, error="invalid", values=values, status=422)
    try:
        with write_transaction(engine) as conn:
            invite = accounts.create_account(
                conn,
                session.actor,
                login=login,
                display_name=display_name,
                role=role,
                region=region,
                settings=settings.console,
                client=client_ip(request),
            )
    except (StaffError, ValueError) as exc:
        status = 409 if isinstance(exc, StaffError) and exc.code == "account_exists" else 422
        if isinstance(exc, StaffError) and exc.code in ("forbidden", "wrong_region"):
            status = 403
        return _staff_page(
            request, session, engine, region, error=_error_key(exc, session), values=values, status=status
        )
    return _staff_page(
        request, session, engine, region, invite=invite_url(request, invite.token), invited_name=display_name.strip()
    )


@router.post("/regions/{code}/staff/{account_id}/invite", response_class=HTMLResponse)
def reinvite_staff(
    request: Request, code: str, account_id: AccountId, session: ConsoleForm, engine: EngineDep, settings: SettingsDep
) -> Response:
    region = require_region(session, code, "staff")
    account = _in_region(engine, session, region, account_id)
    try:
        with write_transaction(engine) as conn:
            invite = accounts.invite_account(conn, session.actor, account_id, settings.console, client_ip(request))
    except StaffError as exc:
        return _staff_page(request, session, engine, region, error=_error_key(exc, session), status=403)
    return _staff_page(
        request, session, engine, region, invite=invite_url(request, invite.token), invited_name=account.display_name
    )


@router.post("/regions/{code}/staff/{account_id}/role", response_class=HTMLResponse)
def change_role(
    request: Request,
    code: str,
    account_id: AccountId,
    session: ConsoleForm,
    engine: EngineDep,
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    region = require_region(session, code, "staff")
    _in_region(engine, session, region, account_id)
    if role not in ASSIGNABLE_ROLES:
        return _staff_page(request, session, engine, region, error="invalid", status=422)
    try:
        with write_transaction(engine) as conn:
            accounts.set_role(conn, session.actor, account_id, role, client_ip(request))
    except (StaffError, ValueError) as exc:
        return _staff_page(request, session, engine, region, error=_error_key(exc, session, account_id), status=403)
    return redirect_to(_staff_url(region), done="staff_role")


def _set_disabled(
    request: Request, code: str, account_id: int, session: Session, engine: EngineDep, disabled: bool
) -> Response:
    region = require_region(session, code, "staff")
    _in_region(engine, session, region, account_id)
    try:
        with write_transaction(engine) as conn:
            accounts.set_disabled(conn, session.actor, account_id, disabled, client_ip(request))
    except StaffError as exc:
        return _staff_page(request, session, engine, region, error=_error_key(exc, session, account_id), status=403)
    return redirect_to(_staff_url(region), done="staff_disabled" if disabled else "staff_enabled")


@router.post("/regions/{code}/staff/{account_id}/disable", response_class=HTMLResponse)
def disable_staff(
    request: Request, code: str, account_id: AccountId, session: ConsoleForm, engine: EngineDep
) -> Response:
    return _set_disabled(request, code, account_id, session, engine, True)


@router.post("/regions/{code}/staff/{account_id}/enable", response_class=HTMLResponse)
def enable_staff(
    request: Request, code: str, account_id: AccountId, session: ConsoleForm, engine: EngineDep
) -> Response:
    return _set_disabled(request, code, account_id, session, engine, False)
