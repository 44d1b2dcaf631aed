"""The FastAPI application factory: settings, database engine, error shape, body limit, routes.

``api`` is a thin layer over ``ledger``: routes call query functions and core services and turn
``ledger`` errors into the one JSON error shape (``api/errors.py``).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import document_errors, install_error_handlers
from api.limits import BodyLimit
from api.metrics import RequestMetrics
from api.metrics import router as operations_router
from api.routes import (
    activities,
    api_docs,
    certificate_pages,
    certificates,
    checkin,
    codes,
    console,
    dashboard,
    export,
    health,
    listings,
    pages,
    people,
    projects,
    region_admin,
    region_audit,
    regions,
    site,
    supports,
    verifier,
)
from ledger.db.engine import make_engine
from ledger.relay.journal import install_journal
from ledger.settings import Settings, get_settings

__all__ = ["create_app", "create_serving_app", "freeze_startup_heap"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """On shutdown, the claim committer's held database connection is closed (a PostgreSQL
    connection left open would linger on the server until it times out)."""
    yield
    committer = getattr(app.state, "claim_committer", None)
    if committer is not None:
        await committer.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """A configured app; the database schema must already be migrated (``tsunagari db upgrade``)."""
    settings = settings or get_settings()
    app = FastAPI(
        lifespan=_lifespan,
        # /docs is ours (api/routes/api_docs.py): Swagger UI from the pinned npm package, not a CDN.
        docs_url=None,
        redoc_url=None,
        title="Tsunagari Ledger API",
        version="0.1.0",
        description="関係人口 made visible and verifiable: ties, region dashboards and the researcher export.",
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.db.url)
    if settings.checkin.journal_file is not None:
        install_journal(app.state.engine, settings.checkin.journal_file)
    install_error_handlers(app)

    # Project image uploads (1 MiB) and signed certificates (2 MB) get their own, larger limits.
    allowances = (*projects.UPLOAD_ALLOWANCES, *certificates.UPLOAD_ALLOWANCES)
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes, allowances=allowances)
    app.add_middleware(RequestMetrics)  # outermost: counts every answer, the body limit's 413 included

    # The claim endpoint is matched first: a request is matched against routes in order, and under a
    # festival's load nearly every request is a claim.
    app.include_router(checkin.router)
    app.include_router(health.router)
    app.include_router(operations_router)
    app.include_router(regions.router)
    app.include_router(dashboard.router)
    app.include_router(people.router)
    app.include_router(export.router)
    app.include_router(supports.router)
    app.include_router(certificates.router)
    app.include_router(verifier.router)
    app.include_router(listings.router)
    app.include_router(pages.router)
    app.include_router(site.router)
    app.include_router(certificate_pages.router)
    app.include_router(activities.router)
    app.include_router(codes.router)
    app.include_router(projects.router)
    app.include_router(region_admin.router)
    app.include_router(region_audit.router)
    app.include_router(console.router)
    app.include_router(api_docs.router)
    # The document lists every status each operation can answer, each error with the one shape.
    app.openapi = document_errors(app)  # type: ignore[method-assign]
    return app


def freeze_startup_heap() -> None:
    """Move every object alive now (the imported modules, the app, its routes and engine: a few
    hundred thousand objects) out of the garbage collector's view, for a process about to serve.

    Without this, each full collection walks them all: measured here, under load a full collection
    ran about once a second and stopped the event loop for 110–160 ms, which was the whole latency
    tail of every endpoint (``/health`` p99 199 ms at p50 31 ms; 42 ms after freezing, and 44 %
    more requests a second; ``make bench BENCH=claims``). Objects made after this are collected as
    before; what is frozen is what lives for the whole process anyway. Call it once, after start-up
    and before serving, in a serving process only (a test process that builds many apps would keep
    the old ones).
    """
    gc.collect()
    gc.freeze()


def create_serving_app(settings: Settings | None = None) -> FastAPI:
    """The app as a server process runs it (``tsunagari api serve`` — also as the uvicorn factory of
    each worker — and ``tsunagari serve``): :func:`create_app`, then :func:`freeze_startup_heap`."""
    app = create_app(settings)
    freeze_startup_heap()
    return app
