"""One JSON error shape for every failure: ``{"error": {"code": "...", "message": "..."}}``.

``ledger`` errors are translated here and only here (``ledger`` never raises HTTP errors).
"""

from __future__ import annotations

import re
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.auth import AuthError
from ledger.checkin.errors import CheckinRejected
from ledger.errors import ChainUnavailable, ConfigError, ContractError, DeploymentNotFound, TsunagariError
from ledger.staff.errors import AccountLocked, StaffError, TooManyAttempts

__all__ = ["ApiError", "CHECKIN_STATUS", "error_body", "install_error_handlers"]


class ApiError(Exception):
    """An HTTP error raised by a route, with a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


# HTTP status of each check-in rejection code (ledger/checkin/errors.py).
CHECKIN_STATUS: dict[str, int] = {
    "token_malformed": 400,
    "token_forged": 403,
    "token_expired": 410,
    "token_wrong_activity": 403,
    "token_wrong_region": 403,
    "bad_address": 422,
    "bad_signature": 403,
    "unknown_activity": 404,
    "activity_closed": 409,
    "activity_not_started": 409,
    "activity_ended": 409,
    "activity_full": 409,
    "already_claimed": 409,
    "replayed_request": 409,
    "rate_limited": 429,
    "kiosk_session_invalid": 401,
    "unknown_claim": 404,
    "invalid_units": 422,
    "code_unknown": 404,
    "code_mistyped": 400,
    "code_used": 409,
    "code_voided": 410,
    "code_expired": 410,
    "not_checked_in": 409,
    "already_checked_in": 409,
    "checkin_expired": 410,
    "overlapping_stay": 409,
}


# HTTP status of each console error code (ledger/staff/errors.py).
STAFF_STATUS: dict[str, int] = {
    "sign_in_failed": 401,
    "session_invalid": 401,
    "account_locked": 423,
    "too_many_attempts": 429,
    "invite_invalid": 410,
    "weak_password": 422,
    "csrf_rejected": 403,
    "forbidden": 403,
    "wrong_region": 403,
    "account_exists": 409,
    "unknown_account": 404,
}


def _status_of(exc: TsunagariError) -> tuple[int, str]:
    if isinstance(exc, StaffError):
        return STAFF_STATUS.get(exc.code, 400), exc.code
    if isinstance(exc, AuthError):
        return 401, "unauthorized"
    if isinstance(exc, ChainUnavailable):
        return 503, "chain_unavailable"
    if isinstance(exc, DeploymentNotFound):
        return 503, "not_deployed"
    if isinstance(exc, ConfigError):
        return 500, "misconfigured"
    if isinstance(exc, ContractError):  # the chain refused: e.g. RecordNotFound -> record_not_found
        return 409, re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
    return 400, "bad_request"


def _is_console_page(request: Request) -> bool:
    """The console's HTML pages answer errors with a page, its JSON endpoints with the JSON shape."""
    return request.url.path.startswith("/console")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if _is_console_page(request):
            from api.routes.console.common import console_error_page

            return console_error_page(request, exc, exc.status, exc.code)
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)

    @app.exception_handler(CheckinRejected)
    async def checkin_rejected(_: Request, exc: CheckinRejected) -> JSONResponse:
        body: dict[str, dict[str, object]] = {"error": {"code": exc.code, "message": exc.message}}
        if exc.claim_id is not None:
            body["error"]["claim_id"] = exc.claim_id
        headers = None
        if exc.retry_after_s is not None:
            headers = {"Retry-After": str(max(1, int(exc.retry_after_s + 0.999)))}
        return JSONResponse(body, status_code=CHECKIN_STATUS.get(exc.code, 400), headers=headers)

    @app.exception_handler(TsunagariError)
    async def ledger_error(request: Request, exc: TsunagariError) -> Response:
        status, code = _status_of(exc)
        if _is_console_page(request):
            from api.routes.console.common import console_error_page

            return console_error_page(request, exc, status, code)
        headers: dict[str, str] | None = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after_s)}
        elif isinstance(exc, AccountLocked):
            headers = {"Retry-After": str(max(1, exc.until - int(time.time())))}
        return JSONResponse(error_body(code, str(exc)), status_code=status, headers=headers)

    @app.exception_handler(ValueError)
    async def value_error(_: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse(error_body("invalid", str(exc)), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()
        )
        return JSONResponse(error_body("invalid", problems or "invalid request"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)
