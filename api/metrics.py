"""Operations endpoints of every API process: ``/metrics`` for Prometheus, ``/ready`` for a load
balancer or an orchestrator (``/health`` stays the liveness check: the process answers).

- ``GET /metrics``: this process's counters (requests and latency by route template, claims
  accepted and refused) and the shared database's figures (:mod:`ledger.metrics`), in Prometheus'
  text format. No personal data is in it. Served to anyone unless ``api.metrics_token`` is set, then
  only with ``Authorization: Bearer <token>`` (Prometheus' ``authorization`` setting); a deployment
  also keeps the path off its public proxy (docs/operations.md).
- ``GET /ready``: 200 when the database answers, its schema is at the code's migration head and the
  node answers with the expected chain; 503 with the failing checks otherwise, so a proxy sends
  traffic only to processes that can serve it. Claims are still accepted while the node is down
  (the outbox holds them): ``node`` is reported, and ``/ready`` fails on it only with
  ``?node=required``.

Both are left out of the OpenAPI document: they are for machines of the operator, not API clients.
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.db.engine import current_revision, head_revision
from ledger.metrics import REQUEST_SECONDS, REQUESTS, register_database

__all__ = ["RequestMetrics", "router"]

router = APIRouter(include_in_schema=False)


class RequestMetrics:
    """Counts every HTTP request by its route template (``/api/v1/regions/{region}/dashboard``, never
    the raw path: the label set stays small), method and status, and times it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = str(getattr(route, "path", "")) or "unmatched"
            method = str(scope.get("method", ""))
            REQUESTS.labels(template, method, str(status)).inc()
            REQUEST_SECONDS.labels(template, method).observe(time.perf_counter() - started)


def _database_registry(app: FastAPI) -> CollectorRegistry:
    registry: CollectorRegistry | None = getattr(app.state, "metrics_registry", None)
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        register_database(app.state.engine, registry)
        app.state.metrics_registry = registry
    return registry


@router.get("/metrics")
def metrics(request: Request) -> Response:
    token = request.app.state.settings.api.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token.get_secret_value()}".encode()):
            return JSONResponse(
                {"error": {"code": "unauthorized", "message": "metrics need the operator's bearer token"}},
                status_code=401,
            )
    body = generate_latest(REGISTRY) + generate_latest(_database_registry(request.app))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/ready")
def ready(
    request: Request,
    node: Annotated[str, Query(pattern="^(optional|required)$")] = "optional",
) -> JSONResponse:
    app = request.app
    checks: dict[str, Any] = {}
    try:
        with app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
        at, head = current_revision(app.state.engine), head_revision()
        checks["migrations"] = {"ok": at == head, "at": at, "head": head}
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is "not ready"
        checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        checks["migrations"] = {"ok": False, "error": "the database did not answer"}
    checks["node"] = _node_check(app)
    needed = ["database", "migrations"] + (["node"] if node == "required" else [])
    ok = all(checks[name]["ok"] for name in needed)
    return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)


def _node_check(app: FastAPI) -> dict[str, Any]:
    from api.deps import chain_of

    try:
        ctx = chain_of(app)
        block = int(ctx.w3.eth.block_number)
        chain_id = int(ctx.w3.eth.chain_id)
    except Exception as exc:  # noqa: BLE001 - a node that is down, slow or another chain: not ready
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    expected = app.state.settings.chain.expected_chain_id
    if expected is not None and chain_id != expected:
        return {"ok": False, "error": f"the node is chain {chain_id}, expected {expected}", "block": block}
    return {"ok": True, "chain_id": chain_id, "block": block}
