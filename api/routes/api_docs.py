"""The interactive API documentation at ``/docs``: Swagger UI served from the pinned npm package
``swagger-ui-dist`` (``hardhat-free-devnet/package.json``) under ``/vendor/``, like ECharts.

FastAPI's default ``/docs`` loads Swagger UI from a CDN, so it is blank offline and on a venue's
closed network; this page loads nothing from outside this origin. The page is our own small
template and ``api/static/api-docs.js`` starts Swagger UI on ``/openapi.json``: no inline script,
so it keeps the pages' strict Content-Security-Policy (``api/routes/pages.py``), except that Swagger
UI's own stylesheet may set inline styles.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.routes.pages import CONTENT_SECURITY_POLICY, templates

__all__ = ["DOCS_CONTENT_SECURITY_POLICY", "router"]

router = APIRouter(tags=["pages"], include_in_schema=False)

# Swagger UI (React) writes style attributes while it renders; everything else stays shut.
DOCS_CONTENT_SECURITY_POLICY: Final = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


@router.get("/docs", response_class=HTMLResponse, summary="The API's interactive documentation (Swagger UI)")
def api_docs(request: Request) -> HTMLResponse:
    app = request.app
    return templates.TemplateResponse(
        request,
        "api_docs.html",
        {"title": f"{app.title} — Swagger UI", "openapi_url": app.openapi_url},
        headers={
            "Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY,
            "Cache-Control": "no-cache",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )
