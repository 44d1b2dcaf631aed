"""Request wiring: settings, database connections and credentials as ``Annotated`` dependencies.

Tests swap any of these with ``app.dependency_overrides``; route bodies never open engines or
build Web3 objects themselves.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Header, Path, Request
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator, WithJsonSchema
from sqlalchemy import Connection, Engine

from api.errors import ApiError, Redirect
from ledger.auth import Credential, Role, authenticate
from ledger.chain.context import ChainContext, open_chain
from ledger.chain.deploy import Deployment, load_deployment, local_deployment
from ledger.checkin.service import CheckinService, build_checkin
from ledger.db.engine import write_transaction
from ledger.errors import ChainUnavailable, DeploymentNotFound
from ledger.municipalities import jis_code, parse_jis_code
from ledger.settings import Settings
from ledger.staff import sessions
from ledger.staff.errors import CsrfRejected, SessionInvalid
from ledger.staff.roles import Actor

_LOCK = threading.Lock()

__all__ = [
    "Address",
    "Day",
    "RegionCode",
    "RegionQuery",
    "SettingsDep",
    "EngineDep",
    "ConnDep",
    "CredentialDep",
    "ChainDep",
    "CheckinDep",
    "ActorDep",
    "SESSION_COOKIE",
    "CSRF_HEADER",
    "client_ip",
    "session_of",
    "check_origin",
    "require",
    "chain_of",
    "checkin_of",
    "offline_deployment",
    "region_code",
]


_DAY = re.compile(r"2[0-9]{3}-[0-9]{2}-[0-9]{2}")  # years 2000..2999: the ledger's days, with room


def _day_text(value: Any) -> Any:
    """A JST day is written ``YYYY-MM-DD`` and only so: a number (``0`` would be 1970-01-01), a
    datetime or another spelling is refused (422 ``invalid``) instead of read generously. Years are
    2000..2999: a period's arithmetic (12 months back, the day after) stays inside the calendar."""
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str) or _DAY.fullmatch(value) is None:
        raise ValueError("a day is written YYYY-MM-DD, from 2000-01-01 to 2999-12-31, e.g. 2026-04-01")
    return value


Day = Annotated[
    date,
    BeforeValidator(_day_text),
    WithJsonSchema({"type": "string", "format": "date", "pattern": f"^{_DAY.pattern}$"}),
]
"""A JST calendar day in a query parameter: ``YYYY-MM-DD`` only (use ``Day | None`` for an optional one)."""


def region_code(
    request: Request,
    region: Annotated[
        str,
        Path(
            pattern=r"^[0-9]{1,5}$",
            examples=["12205", "01634"],
            description="JIS X 0402 municipality code, five digits (e.g. 12205 館山市, 01634 上士幌町); "
            "a code written without its leading zero redirects (308) to the five-digit URL",
        ),
    ],
) -> int:
    """The region of a ``{region}`` path segment, as the integer the ledger stores.

    Both spellings find the region (``1634`` and ``01634``); a GET at any but the canonical five
    digits answers 308 with the same URL (query included) spelled with :func:`jis_code`."""
    code = parse_jis_code(region)  # JisCodeError (InvalidInput): 422 invalid
    canonical = jis_code(code)
    if region != canonical and request.method in ("GET", "HEAD"):
        # A write is served at either spelling (a redirect would ask the client to send its body
        # again). A read is redirected, once its query parameters are known to be valid (a request
        # that cannot be served at the canonical URL either is refused here, 422, not redirected).
        route = request.scope["route"]
        _, in_path = request_params_to_args(route.dependant.path_params, request.path_params)
        _, in_query = request_params_to_args(route.dependant.query_params, request.query_params)
        problems = in_path + in_query
        if problems:
            raise RequestValidationError(problems)
        path = route.url_path_for(route.name, **{**request.path_params, "region": canonical})
        raise Redirect(str(request.url.replace(path=request.scope.get("root_path", "") + str(path))))
    return code


RegionCode = Annotated[int, Depends(region_code)]


def _region_text(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return parse_jis_code(value)  # a JisCodeError is a ValueError: pydantic reports it (422 invalid)


RegionQuery = Annotated[
    int,
    BeforeValidator(_region_text),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{1,5}$", "examples": ["12205", "01634"]}),
]
"""A municipality code in a query parameter: five digits (``01634``) or without the leading zero."""

Address = Annotated[
    str,
    Path(pattern=r"^0x[0-9a-fA-F]{40}$", description="the participant's address (0x + 40 hex digits, any case)"),
]
"""A participant's address in a path: anything else is 422 ``invalid`` before a route runs."""


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]


def get_conn(engine: EngineDep) -> Iterator[Connection]:
    with engine.connect() as conn:
        yield conn


ConnDep = Annotated[Connection, Depends(get_conn)]


def get_credential(
    engine: EngineDep,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
    x_api_key: Annotated[str | None, Header(description="the API key, as an alternative header")] = None,
) -> Credential:
    key = x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise ApiError(401, "unauthorized", "use 'Authorization: Bearer <API key>'")
        key = value.strip()
    if not key:
        raise ApiError(401, "unauthorized", "this endpoint needs an API key")
    with engine.connect() as conn:
        return authenticate(conn, key)


CredentialDep = Annotated[Credential, Depends(get_credential)]


SESSION_COOKIE = "tsunagari_console"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def check_origin(request: Request) -> None:
    """Refuse a state-changing request whose ``Origin`` (or, without it, ``Referer``) is another
    site: a second line behind the CSRF token (browsers send Origin on every cross-site POST)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return
    if urlsplit(source).netloc.lower() != request.headers.get("host", "").lower():
        raise CsrfRejected("this request came from another site")


def session_of(request: Request, engine: Engine) -> sessions.Session:
    """The signed-in console session of the request (touched), or :class:`SessionInvalid`."""
    cached: sessions.Session | None = getattr(request.state, "console_session", None)
    if cached is not None:
        return cached
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if not cookie:
        raise SessionInvalid("please sign in")
    with write_transaction(engine) as conn:
        session = sessions.load(conn, cookie, request.app.state.settings.console)
    request.state.console_session = session
    return session


def get_actor(
    request: Request,
    engine: EngineDep,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
    x_api_key: Annotated[str | None, Header(description="the API key, as an alternative header")] = None,
    x_csrf_token: Annotated[
        str | None, Header(description="the console session's CSRF token (session callers, state-changing requests)")
    ] = None,
) -> Actor:
    """Who calls an operator endpoint: an API key (``Authorization: Bearer``), or else a signed-in
    console session, whose state-changing requests must carry its CSRF token in ``X-CSRF-Token``."""
    if authorization or x_api_key:
        return Actor.of_key(get_credential(engine, authorization, x_api_key))
    if not request.cookies.get(SESSION_COOKIE):
        raise ApiError(401, "unauthorized", "this endpoint needs an API key or a console session")
    session = session_of(request, engine)
    if request.method not in _SAFE_METHODS:
        check_origin(request)
        sessions.check_csrf(session, x_csrf_token)
    return session.actor


ActorDep = Annotated[Actor, Depends(get_actor)]


def require(*roles: Role) -> Callable[[Credential], Credential]:
    """A dependency that lets only ``roles`` through (403 otherwise)."""

    def check(credential: CredentialDep) -> Credential:
        if credential.role not in roles:
            raise ApiError(403, "forbidden", f"this endpoint is for {' or '.join(roles)} keys")
        return credential

    return check


def chain_of(app: FastAPI) -> ChainContext:
    """The app's connection to the chain, opened on first use (the API starts while the node is down)."""
    ctx: ChainContext | None = getattr(app.state, "chain", None)
    if ctx is None:
        with _LOCK:
            ctx = getattr(app.state, "chain", None)
            if ctx is None:
                ctx = open_chain(app.state.settings)
                ctx.deployment  # noqa: B018 - fail now (503 not_deployed) rather than mid-request
                app.state.chain = ctx
    return ctx


def offline_deployment(settings: Settings) -> Deployment:
    """The deployment to serve when the node cannot be asked its chain id: the expected chain's, or
    the only one in the deployments folder."""
    folder = settings.chain.deployments_dir
    if settings.chain.expected_chain_id is not None:
        return load_deployment(folder, settings.chain.expected_chain_id)
    try:
        return local_deployment(folder)
    except DeploymentNotFound:
        raise ChainUnavailable(
            "the chain node is down and the deployment to serve is ambiguous: set chain.expected_chain_id"
        ) from None


def checkin_of(app: FastAPI) -> CheckinService:
    """The app's check-in service (tokens, intake, kiosk).

    Built from the node when it answers, else from the deployments file: an API restarted while
    the node is down keeps accepting claims for every activity the indexer already knows."""
    service: CheckinService | None = getattr(app.state, "checkin", None)
    if service is None:
        settings: Settings = app.state.settings
        try:
            ctx = chain_of(app)
            chain_id, ledger = ctx.chain_id, ctx.deployment.ledger
        except ChainUnavailable:
            deployment = offline_deployment(settings)
            chain_id, ledger = deployment.chain_id, deployment.ledger
        with _LOCK:
            service = getattr(app.state, "checkin", None)
            if service is None:
                service = build_checkin(settings, app.state.engine, chain_id, ledger, lambda: chain_of(app).client)
                app.state.checkin = service
    return service


# Both are async so that, once built, they cost no thread hop: FastAPI runs a plain ``def``
# dependency in its thread pool on every request (measured on the claim endpoint: a hop per claim
# for an attribute read). The first call, which may talk to the node, still runs in a thread.


async def get_chain(request: Request) -> ChainContext:
    ctx: ChainContext | None = getattr(request.app.state, "chain", None)
    return ctx if ctx is not None else await asyncio.to_thread(chain_of, request.app)


async def get_checkin(request: Request) -> CheckinService:
    service: CheckinService | None = getattr(request.app.state, "checkin", None)
    return service if service is not None else await asyncio.to_thread(checkin_of, request.app)


ChainDep = Annotated[ChainContext, Depends(get_chain)]
CheckinDep = Annotated[CheckinService, Depends(get_checkin)]
