"""One JSON error shape for every failure: ``{"error": {"code": "...", "message": "..."}}``.

``ledger`` errors are translated here and only here (``ledger`` never raises HTTP errors and names no
HTTP status): :func:`status_of` gives each class of the tree in ``ledger/errors.py`` its status and
code. A plain ``ValueError`` is not translated: from ``ledger`` it is a programming error (500); a
caller's bad value is :class:`ledger.errors.InvalidInput` (422 ``invalid``).

Malformed requests answer 422 ``invalid`` whatever is wrong: a parameter that does not fit the
OpenAPI document, a body that is not JSON, not UTF-8, or holds an integer of more than 4,300 digits
(FastAPI turns the last two into a 400; they are the same mistake). :func:`document_errors` writes
every status a route can answer into the OpenAPI document, each with the :class:`Problem` shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.auth import AuthError
from ledger.certificate.issue import CertificateRequestError
from ledger.certificate.listings import ListingRefused
from ledger.certificate.model import CertificateFormatError
from ledger.checkin.errors import CheckinRejected
from ledger.console.projects import ImageTooLarge
from ledger.errors import (
    ChainUnavailable,
    ConfigError,
    ContractError,
    DeploymentNotFound,
    InvalidInput,
    TransactionFailed,
    TsunagariError,
    error_code,
)
from ledger.export.errors import ExportError, ExportExists, IndexNotReady, NotAnExport, RangeBeyondHead
from ledger.indexer.rpc import RpcError
from ledger.metrics import CLAIMS_REFUSED
from ledger.relay.support_intake import SupportRefused
from ledger.staff.errors import AccountLocked, StaffError, TooManyAttempts

__all__ = [
    "ApiError",
    "CHECKIN_STATUS",
    "LISTING_STATUS",
    "Problem",
    "Redirect",
    "STAFF_STATUS",
    "SUPPORT_STATUS",
    "document_errors",
    "error_body",
    "install_error_handlers",
    "problems",
    "status_of",
]


class ApiError(Exception):
    """An HTTP error raised by a route, with a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Redirect(Exception):
    """The resource lives at another URL (a region code written without its leading zero): 308."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class ProblemDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. `not_found`, `invalid`, `unauthorized`")
    message: str = Field(description="what went wrong, for a person")
    claim_id: int | None = Field(default=None, description="the claim concerned (check-in refusals only)")


class Problem(BaseModel):
    """The one error shape of every JSON endpoint."""

    error: ProblemDetail


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route for the statuses it answers itself (the ones its dependencies and
    the framework answer are added by :func:`document_errors`)."""
    return {status: {"description": _DESCRIPTIONS.get(status, "an error")} for status in statuses}


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
    "unknown_project": 404,
    "unknown_batch": 404,
}


# HTTP status of each support refusal code (ledger/relay/support_intake.py).
SUPPORT_STATUS: dict[str, int] = {
    "invalid": 422,
    "invalid_address": 422,
    "invalid_amount": 422,
    "invalid_signature": 422,
    "signature_expired": 422,
    "nonce_gap": 422,
    "unknown_project": 404,
    "project_closed": 409,
    "nonce_used": 409,
}

# HTTP status of each listing refusal code (ledger/certificate/listings.py): 409 for a replay, else 422.
LISTING_STATUS: dict[str, int] = {"replayed_request": 409}

# Status and code of the other classes of the tree, most specific first (the first match wins).
_BY_CLASS: tuple[tuple[type[TsunagariError], int, str | None], ...] = (
    (ImageTooLarge, 413, "too_large"),
    (InvalidInput, 422, "invalid"),
    (AuthError, 401, "unauthorized"),
    (ChainUnavailable, 503, "chain_unavailable"),
    (RpcError, 503, "chain_unavailable"),
    (DeploymentNotFound, 503, "not_deployed"),
    (ConfigError, 500, "misconfigured"),
    (ContractError, 409, None),  # the chain refused: e.g. RecordNotFound -> record_not_found
    (TransactionFailed, 409, "transaction_failed"),
    (CertificateRequestError, 422, "certificate_request"),
    (CertificateFormatError, 422, "certificate_invalid"),
    (IndexNotReady, 503, "not_indexed"),
    (ExportExists, 409, "export_exists"),
    (RangeBeyondHead, 422, "invalid"),
    (NotAnExport, 422, "invalid"),
    (ExportError, 422, "invalid"),
)


def status_of(exc: TsunagariError) -> tuple[int, str]:
    """The HTTP status and error code of a ``ledger`` error; 500 ``internal`` for the errors that
    mean the server itself failed (a build, a decoding, an indexer or relayer signal)."""
    if isinstance(exc, StaffError):
        return STAFF_STATUS.get(exc.code, 400), exc.code
    if isinstance(exc, CheckinRejected):
        return CHECKIN_STATUS.get(exc.code, 400), exc.code
    if isinstance(exc, SupportRefused):
        return SUPPORT_STATUS.get(exc.code, 422), exc.code
    if isinstance(exc, ListingRefused):
        return LISTING_STATUS.get(exc.code, 422), exc.code
    for cls, status, code in _BY_CLASS:
        if isinstance(exc, cls):
            return status, code or error_code(exc)
    return 500, "internal"


def _is_console_page(request: Request) -> bool:
    """The console's HTML pages answer errors with a page, its JSON endpoints with the JSON shape."""
    return request.url.path.startswith("/console")


_BODY_UNREADABLE = "the body is not JSON in UTF-8 (integers have at most 4,300 digits)"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if _is_console_page(request):
            from api.routes.console.common import console_error_page

            return console_error_page(request, exc, exc.status, exc.code)
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)

    @app.exception_handler(Redirect)
    async def redirect(_: Request, exc: Redirect) -> Response:
        return RedirectResponse(exc.url, status_code=308)

    @app.exception_handler(CheckinRejected)
    async def checkin_rejected(_: Request, exc: CheckinRejected) -> JSONResponse:
        CLAIMS_REFUSED.labels(exc.code).inc()
        body: dict[str, dict[str, object]] = {"error": {"code": exc.code, "message": exc.message}}
        if exc.claim_id is not None:
            body["error"]["claim_id"] = exc.claim_id
        headers = None
        if exc.retry_after_s is not None:
            headers = {"Retry-After": str(max(1, int(exc.retry_after_s + 0.999)))}
        return JSONResponse(body, status_code=status_of(exc)[0], headers=headers)

    @app.exception_handler(TsunagariError)
    async def ledger_error(request: Request, exc: TsunagariError) -> Response:
        status, code = status_of(exc)
        if _is_console_page(request):
            from api.routes.console.common import console_error_page

            return console_error_page(request, exc, status, code)
        headers: dict[str, str] | None = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after_s)}
        elif isinstance(exc, AccountLocked):
            headers = {"Retry-After": str(max(1, exc.until - int(time.time())))}
        message = getattr(exc, "message", None) or str(exc)
        return JSONResponse(error_body(code, message), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()
        )
        return JSONResponse(error_body("invalid", problems or "invalid request"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, an absurdly long integer)
            return JSONResponse(error_body("invalid", _BODY_UNREADABLE), status_code=422)
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)


# ---------------------------------------------------------------------------------------------
# The OpenAPI document: every status a route can answer, each with the Problem shape.

_DESCRIPTIONS: dict[int, str] = {
    308: "the same resource at its canonical URL (a region code written with five digits)",
    400: "the request cannot be used as sent (e.g. `token_malformed`, `code_mistyped`)",
    401: "`unauthorized`: no valid API key or console session (`WWW-Authenticate: Bearer`)",
    403: "`forbidden`, `wrong_region` or a refused token/signature: the caller may not do this",
    404: "`not_found` or an unknown id (`unknown_activity`, `unknown_claim`, ...)",
    409: "the state does not allow it (`already_claimed`, `activity_closed`, a contract error, ...)",
    410: "gone: an expired token or code (`token_expired`, `code_used`, `invite_invalid`, ...)",
    413: "`too_large`: the body is over the limit (`api.max_body_bytes`, or the route's own)",
    422: "`invalid`: a parameter or body that does not fit this document, or a value that cannot be used",
    423: "`account_locked`: too many failed sign-ins (`Retry-After`)",
    429: "`rate_limited` / `too_many_attempts`: wait (`Retry-After`)",
    500: "`misconfigured`: the server's settings cannot work",
    503: "`chain_unavailable`, `not_deployed` or `not_indexed`: a part the API needs is not there yet",
}

# Statuses implied by a dependency, by the dependency's qualified name (see api/deps.py).
_BY_DEPENDENCY: dict[str, frozenset[int]] = {
    "get_credential": frozenset({401}),
    "require.<locals>.check": frozenset({401, 403}),
    "get_actor": frozenset({401, 403}),
    "get_chain": frozenset({409, 503}),
    "get_checkin": frozenset({503, *CHECKIN_STATUS.values()}),
    "region_code": frozenset({422}),  # and 308 for a GET
}


def route_statuses(route: Any) -> set[int]:
    """The error (and redirect) statuses ``route`` can answer besides what it declares itself."""
    statuses = {413}  # the body limit (api/limits.py) refuses any request, whatever its route
    dependant = route.dependant
    if dependant.path_params or dependant.query_params or dependant.header_params or route.body_field:
        statuses.add(422)
    if dependant.path_params:  # an id in the path (activity, project, claim, account, batch...) may not exist
        statuses.add(404)
    for sub in _walk(dependant):
        if sub.header_params or sub.query_params or sub.path_params:
            statuses.add(422)
        name = getattr(sub.call, "__qualname__", "")
        statuses |= _BY_DEPENDENCY.get(name, frozenset())
        if name == "region_code" and route.methods & {"GET", "HEAD"}:
            statuses.add(308)
    return statuses


def _walk(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub
        yield from _walk(sub)


def _problem_response(status: int, declared: dict[str, Any] | None) -> dict[str, Any]:
    response = dict(declared or {})
    if response.get("description") in (None, "Validation Error"):
        response["description"] = _DESCRIPTIONS.get(status, "an error")
    if status == 308:
        response["headers"] = {"Location": {"description": "the canonical URL", "schema": {"type": "string"}}}
        response.pop("content", None)
        return response
    content = dict(response.get("content") or {})
    json_content = dict(content.get("application/json") or {})
    schema = json_content.get("schema")
    if not schema or schema.get("$ref", "").endswith(("/HTTPValidationError", "/ValidationError")):
        json_content["schema"] = {"$ref": "#/components/schemas/Problem"}
    content["application/json"] = json_content
    response["content"] = content
    return response


def _integer_keys(node: Any, schemas: dict[str, Any]) -> None:
    """JSON object keys are strings: a ``dict[int, ...]`` (or keyed by an ``IntEnum`` such as
    ``MlitType``) is documented with the keys as they are sent, decimal digits (or the enum's values
    written as text), not as integers no JSON key can be."""
    if isinstance(node, dict):
        names = node.get("propertyNames")
        if isinstance(names, dict):
            target = names
            ref = names.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                target = schemas.get(ref.rsplit("/", 1)[1], {})
            if target.get("type") == "integer":
                if "enum" in target:
                    node["propertyNames"] = {"type": "string", "enum": [str(value) for value in target["enum"]]}
                else:
                    node["propertyNames"] = {"type": "string", "pattern": "^-?[0-9]+$"}
        for value in node.values():
            _integer_keys(value, schemas)
    elif isinstance(node, list):
        for value in node:
            _integer_keys(value, schemas)


def document_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """An ``app.openapi`` that adds, to each operation, every status its route can answer."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        schema = original()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" in schemas:  # this version of the document is complete already
            return schema
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
                continue
            path = schema["paths"].get(route.path_format)
            if path is None:
                continue
            for method in route.methods or ():
                operation = path.get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                statuses = route_statuses(route) | {int(s) for s in responses if s.isdigit() and int(s) >= 300}
                for status in sorted(statuses):
                    responses[str(status)] = _problem_response(status, responses.get(str(status)))
        for unused in ("HTTPValidationError", "ValidationError"):
            if unused in schemas and f"/{unused}" not in str(schema["paths"]):
                del schemas[unused]
        _integer_keys(schema, schemas)
        return schema

    return openapi
