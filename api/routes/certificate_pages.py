"""The participant's answer to a verifier's challenge: ``/present?n=<nonce>&e=<expires_at>&a=<audience>``.

A verifier (municipal staff) shows a challenge QR; the participant's phone opens it on our site,
where their key lives (``localStorage``, see ``api/static/keys.js``), sees who is asking and until
when, and signs a ``HolderProof`` (``ledger.certificate.typed``) that the page posts to
``/api/v1/presentations`` for the verifier to fetch (``api/routes/certificates.py``). The page
never trusts the link: it is parsed here and shown as text, a malformed one gets a plain-Japanese
explanation instead of a button, and expiry is judged against the server's clock (the page carries
it, so a phone with a wrong clock still says the truth).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.i18n import pick_language
from api.routes.pages import render_page
from ledger.ties import JST

__all__ = ["Challenge", "parse_challenge", "router"]

router = APIRouter(tags=["pages"], include_in_schema=False)

_NONCE: Final = re.compile(r"0x[0-9a-fA-F]{64}")
_EXPIRY: Final = re.compile(r"[0-9]{1,19}")  # ASCII digits only (str.isdigit takes any script's)
MAX_AUDIENCE: Final = 200  # as POST /api/v1/presentations accepts
MAX_EXPIRY: Final = 253_402_300_800  # year 10000: past anything a date can show


@dataclass(frozen=True)
class Challenge:
    nonce: str  # 0x + 64 lowercase hex
    expires_at: int  # unix seconds
    audience: str  # who asks, as the verifier typed it (may be empty)


def parse_challenge(params: dict[str, str]) -> Challenge | None:
    """The challenge in a ``/present`` link's query, or None when the link is malformed."""
    nonce = params.get("n", "")
    expires = params.get("e", "")
    audience = params.get("a", "")
    if not _NONCE.fullmatch(nonce) or not _EXPIRY.fullmatch(expires):
        return None
    expires_at = int(expires)
    if expires_at >= MAX_EXPIRY or len(audience) > MAX_AUDIENCE or any(ord(c) < 32 for c in audience):
        return None
    return Challenge(nonce.lower(), expires_at, audience)


@router.get("/present", response_class=HTMLResponse, summary="Answer a verifier's challenge (holder proof)")
def present_page(request: Request) -> HTMLResponse:
    challenge = parse_challenge(dict(request.query_params))
    now = int(time.time())
    data: dict[str, Any] = {"now": now, "challenge": None}
    expires_text = expires_iso = None
    if challenge is not None:
        data["challenge"] = {
            "nonce": challenge.nonce,
            "expires_at": challenge.expires_at,
            "audience": challenge.audience,
        }
        moment = datetime.fromtimestamp(challenge.expires_at, JST)
        expires_iso = moment.isoformat()
        expires_text = (
            f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M} 日本時間"
            if pick_language(request)[0] != "en"
            else f"{moment:%Y-%m-%d %H:%M} JST"
        )
    return render_page(
        request,
        "present.html",
        {
            "page": "present",
            "banner": None,
            "challenge": challenge,
            "expired": challenge is not None and challenge.expires_at < now,
            "expires_text": expires_text,
            "expires_iso": expires_iso,
            "data": data,
        },
        script_messages=("common.", "present.", "error."),
    )
