"""Console sign-in and the account's own settings: sign in (with lockout and an optional TOTP
code), sign out (here or everywhere), accept an invite (set the password), change the password,
turn the second factor on or off.

Signing in before a session exists is protected by ``check_origin`` and a double-submit token: the
form page sets a random ``tsunagari_login`` cookie (SameSite=Strict) and repeats it in the form.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

import pyotp
import segno
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SESSION_COOKIE, EngineDep, SettingsDep, check_origin, client_ip, session_of
from api.routes.console.common import (
    ConsoleForm,
    ConsoleSession,
    redirect_to,
    region_path,
    render_console,
    set_session_cookie,
)
from ledger.db.engine import write_transaction
from ledger.staff import accounts, audit, sessions
from ledger.staff.errors import AccountLocked, CsrfRejected, SessionInvalid, StaffError, TooManyAttempts

router = APIRouter(prefix="/console", include_in_schema=False)

LOGIN_COOKIE = "tsunagari_login"


def _safe_next(target: str | None) -> str:
    """Only a console path of our own site (no scheme, no host, no ``//``)."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"


def _login_page(request: Request, next_url: str, error: str = "", status: int = 200, login: str = "") -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render_console(
        request,
        "console/login.html",
        {"next_url": next_url, "error": error, "login_token": token, "login_value": login},
        None,
        status=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path="/console/login",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, engine: EngineDep, next: Annotated[str, Query(max_length=300)] = "/console"
) -> Response:
    try:
        session_of(request, engine)
        return redirect_to(_safe_next(next))
    except SessionInvalid:
        return _login_page(request, _safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    login: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    login_token: Annotated[str, Form(max_length=100)] = "",
    code: Annotated[str, Form(max_length=12)] = "",
    next: Annotated[str, Form(max_length=300)] = "/console",
) -> Response:
    check_origin(request)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), login_token.encode()):
        raise CsrfRejected("the sign-in form expired: reload the page and sign in again")
    try:
        account = accounts.sign_in(engine, login, password, code, settings.console, client_ip(request))
        with write_transaction(engine) as conn:
            session = sessions.start(conn, account, settings.console, request.headers.get("user-agent", ""))
    except AccountLocked:
        return _login_page(request, _safe_next(next), "locked", 423, login[:120])
    except TooManyAttempts:
        return _login_page(request, _safe_next(next), "too_many", 429, login[:120])
    except StaffError:
        return _login_page(request, _safe_next(next), "failed", 401, login[:120])
    response = redirect_to(_safe_next(next))
    set_session_cookie(request, response, session.session_id, settings.console.session_hours * 3600)
    response.delete_cookie(LOGIN_COOKIE, path="/console/login")
    return response


@router.post("/logout")
def logout(request: Request, session: ConsoleForm, engine: EngineDep) -> Response:
    with write_transaction(engine) as conn:
        sessions.end(conn, session.digest)
        audit.record(conn, session.actor, "sign_out", region=session.account.region, client=client_ip(request))
    response = redirect_to("/console/login", "signed_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/logout-everywhere")
def logout_everywhere(request: Request, session: ConsoleForm, engine: EngineDep) -> Response:
    with write_transaction(engine) as conn:
        ended = sessions.revoke_all(conn, session.account.account_id)
        audit.record(
            conn,
            session.actor,
            "sign_out_everywhere",
            region=session.account.region,
            detail={"sessions": ended},
            client=client_ip(request),
        )
    response = redirect_to("/console/login", "signed_out_everywhere")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


InviteToken = Annotated[str, Path(min_length=20, max_length=100)]


@router.get("/invite/{token}", response_class=HTMLResponse)
def invite_form(request: Request, token: InviteToken) -> HTMLResponse:
    return render_console(request, "console/invite.html", {"token": token, "error": ""}, None)


@router.post("/invite/{token}", response_class=HTMLResponse)
def accept_invite(
    request: Request,
    token: InviteToken,
    engine: EngineDep,
    settings: SettingsDep,
    password: Annotated[str, Form(max_length=1024)],
    password_again: Annotated[str, Form(max_length=1024)],
) -> Response:
    check_origin(request)
    if password != password_again:
        return render_console(request, "console/invite.html", {"token": token, "error": "mismatch"}, None, status=422)
    try:
        with write_transaction(engine) as conn:
            account = accounts.accept_invite(conn, token, password, client_ip(request))
            session = sessions.start(conn, account, settings.console, request.headers.get("user-agent", ""))
    except StaffError as exc:
        status = 410 if exc.code == "invite_invalid" else 422
        return render_console(request, "console/invite.html", {"token": token, "error": exc.code}, None, status=status)
    response = redirect_to("/console", "welcome")
    set_session_cookie(request, response, session.session_id, settings.console.session_hours * 3600)
    return response


def _account_page(request: Request, session: sessions.Session, engine: EngineDep, **extra: object) -> HTMLResponse:
    with engine.connect() as conn:
        live = sessions.list_sessions(conn, session.account.account_id)
    region = session.account.region
    context: dict[str, object] = {
        "sessions": [(digest == session.digest, created, seen, agent) for digest, created, seen, agent in live],
        "home_url": region_path(region) if region is not None else "/console",
        "error": "",
        "totp_secret": "",
        "totp_qr": "",
    }
    context.update(extra)
    return render_console(request, "console/account.html", context, session, region=region)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, session: ConsoleSession, engine: EngineDep) -> HTMLResponse:
    return _account_page(request, session, engine)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    session: ConsoleForm,
    engine: EngineDep,
    current: Annotated[str, Form(max_length=1024)],
    new: Annotated[str, Form(max_length=1024)],
    new_again: Annotated[str, Form(max_length=1024)],
) -> Response:
    if new != new_again:
        return _account_page(request, session, engine, error="mismatch")
    try:
        with write_transaction(engine) as conn:
            accounts.change_password(conn, session.account.account_id, current, new, session.digest, client_ip(request))
    except StaffError as exc:
        return _account_page(request, session, engine, error=exc.code)
    return redirect_to("/console/account", "password_changed")


@router.post("/account/totp/begin", response_class=HTMLResponse)
def totp_begin(request: Request, session: ConsoleForm, engine: EngineDep) -> HTMLResponse:
    with write_transaction(engine) as conn:
        secret = accounts.begin_totp(conn, session.account.account_id)
    uri = pyotp.TOTP(secret).provisioning_uri(name=session.account.login, issuer_name="Tsunagari Ledger")
    qr = segno.make(uri, error="m").svg_data_uri(scale=4, border=2)
    return _account_page(request, session, engine, totp_secret=secret, totp_qr=qr)


@router.post("/account/totp/confirm", response_class=HTMLResponse)
def totp_confirm(
    request: Request, session: ConsoleForm, engine: EngineDep, code: Annotated[str, Form(max_length=12)]
) -> Response:
    try:
        with write_transaction(engine) as conn:
            accounts.confirm_totp(conn, session.account.account_id, code, client_ip(request))
    except StaffError:
        return _account_page(request, session, engine, error="totp_mismatch")
    return redirect_to("/console/account", "totp_on")


@router.post("/account/totp/disable", response_class=HTMLResponse)
def totp_disable(
    request: Request, session: ConsoleForm, engine: EngineDep, password: Annotated[str, Form(max_length=1024)]
) -> Response:
    try:
        with write_transaction(engine) as conn:
            accounts.disable_totp(conn, session.account.account_id, password, client_ip(request))
    except StaffError:
        return _account_page(request, session, engine, error="sign_in_failed")
    return redirect_to("/console/account", "totp_off")
