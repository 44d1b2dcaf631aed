"""The standalone certificate verifier, served at a stable URL (``/verify/certificate``).

The page is the very file a verifier can download (``?download=1``) and open from disk: built by
:mod:`ledger.certificate.standalone` for this deployment (the chain and ledger it trusts by default,
the node browsers can reach, our public URL for holder proof challenges). ``?c=<id>`` makes the
page fetch that kept certificate from this origin and verify it (the PDF's QR code links here).

Its Content-Security-Policy differs from the other pages' (``api/routes/pages.py``) only where
it must: its scripts and style are inline (one file), allowed by their sha256 hashes, and it
connects anywhere, since the verifier chooses the node; everything else stays shut.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SettingsDep, chain_of, offline_deployment
from ledger.certificate.standalone import DOWNLOAD_NAME, build_verifier_page
from ledger.checkin.service import public_base_url
from ledger.errors import TsunagariError

__all__ = ["router"]

router = APIRouter(tags=["pages"], include_in_schema=False)


def _trusted_deployment(app: FastAPI) -> tuple[int | None, str | None]:
    """The chain id and ledger this app serves: from the node when it answers, else from the
    deployments file; (None, None) when neither says (the page then asks the user)."""
    try:
        ctx = chain_of(app)
        return ctx.chain_id, ctx.deployment.ledger
    except TsunagariError:
        pass
    try:
        deployment = offline_deployment(app.state.settings)
    except TsunagariError:
        return None, None
    return deployment.chain_id, deployment.ledger


@router.get("/verify/certificate", response_class=HTMLResponse, summary="The standalone certificate verifier")
def verifier_page(
    request: Request,
    settings: SettingsDep,
    download: Annotated[bool, Query(description="as a file to save and open from disk")] = False,
) -> Response:
    chain_id, ledger = _trusted_deployment(request.app)
    page = build_verifier_page(
        chain_id=chain_id,
        ledger=ledger,
        rpc_url=settings.chain.browser_rpc_url,
        site=public_base_url(settings),
    )
    headers = {
        "Content-Security-Policy": page.csp_header,
        "Cache-Control": "no-cache",
        "ETag": page.etag,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{DOWNLOAD_NAME}"'
    if page.etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return HTMLResponse(page.html, headers=headers)
