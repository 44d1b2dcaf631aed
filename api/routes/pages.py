"""HTML pages: the participant's claim page (``/c/{token}``, the QR code's URL), the page where a
claim code from a letter is typed (``/c``) and the kiosk.

Pages are server-rendered Jinja2 templates (``api/templates``) with every string from the message
catalogues (``api/i18n.py``); their scripts talk to the JSON API only. Nothing comes from a CDN:
our own files are served from ``api/static`` at ``/static/``, a short whitelist of pinned npm
files (ethers, ECharts, Swagger UI) from ``hardhat-free-devnet/node_modules`` at ``/vendor/``, and the
national view's map of Japan (``@svg-maps/japan``, see :mod:`api.japan_map`) at ``/map/japan.svg``. URLs carry a
version (``?v=``), so those files are cached for a year; pages themselves are never cached and
carry a strict Content-Security-Policy (no inline script, no inline style, same origin only).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api import japan_map
from api.errors import ApiError
from api.i18n import LANG_COOKIE, LANGUAGES, catalogue, pick_language
from ledger.checkin.codes import normalise_code
from ledger.checkin.errors import CheckinRejected
from ledger.demo_seed.progress import SeedProgress, progress_path, read_progress

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_DIR", "VENDOR_FILES", "japan_map_url", "router"]

_API_DIR: Final = Path(__file__).resolve().parents[1]
TEMPLATES_DIR: Final = _API_DIR / "templates"
STATIC_DIR: Final = _API_DIR / "static"
NODE_MODULES: Final = _API_DIR.parent / "hardhat-free-devnet" / "node_modules"

# name under /vendor/ -> (npm package, file inside it). Only these are served.
VENDOR_FILES: Final[dict[str, tuple[str, str]]] = {
    "ethers.umd.min.js": ("ethers", "dist/ethers.umd.min.js"),
    "echarts.min.js": ("echarts", "dist/echarts.min.js"),
    "swagger-ui-bundle.js": ("swagger-ui-dist", "swagger-ui-bundle.js"),  # /docs (api/routes/api_docs.py)
    "swagger-ui.css": ("swagger-ui-dist", "swagger-ui.css"),
}
_STATIC_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9-]*\.(?:js|css|svg|png|ico)$")
_MEDIA_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
_IMMUTABLE: Final = "public, max-age=31536000, immutable"
_REVALIDATE: Final = "no-cache"

router = APIRouter(tags=["pages"], include_in_schema=False)


@cache
def _content_version(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    path = STATIC_DIR / name
    return f"/static/{name}?v={_content_version(path, path.stat().st_mtime_ns)}"


@cache
def _package_version(package: str) -> str:
    manifest = json.loads((NODE_MODULES / package / "package.json").read_text(encoding="utf-8"))
    return str(manifest["version"])


def vendor_url(name: str) -> str:
    package, _ = VENDOR_FILES[name]
    return f"/vendor/{name}?v={_package_version(package)}"


_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# The pattern of a typed date field (api/templates/_date_input.html; ledger.jst.parse_date_text reads
# it on the server). Written for the browser's `v` flag: no bare `-` or `/` inside a class.
DATE_PATTERN: Final = (
    r"\s*[0-9０-９]{4}(?:(?:-|/|\.)[0-9０-９]{1,2}(?:-|/|\.)[0-9０-９]{1,2}"
    r"|年[0-9０-９]{1,2}月[0-9０-９]{1,2}日?|[0-9０-９]{4})\s*"
)


def seeding_progress(request: Request) -> SeedProgress | None:
    """The demo year's seed while it runs (``_seeding_banner.html``), else None."""
    settings = getattr(request.app.state, "settings", None)
    if settings is None:
        return None
    progress = read_progress(progress_path(settings.devnet.data_dir))
    return progress if progress is not None and progress.is_live() else None


_environment.globals.update(
    static_url=static_url, vendor_url=vendor_url, date_pattern=DATE_PATTERN, seeding_progress=seeding_progress
)
templates = Jinja2Templates(env=_environment)


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        "Vary": "Accept-Language, Cookie",
    }


def render_page(
    request: Request, template: str, context: dict[str, Any], *, script_messages: tuple[str, ...]
) -> HTMLResponse:
    """Render ``template`` in the request's language with the page headers (layout: ``base.html``).

    ``script_messages`` are the catalogue key prefixes the page's script needs; they are embedded
    as a JSON block (data, not code, so the CSP holds).
    """
    lang, explicit = pick_language(request)
    messages = catalogue(lang)
    switch = {other: f"{request.url.path}?{request.url.include_query_params(lang=other).query}" for other in LANGUAGES}
    response = templates.TemplateResponse(
        request,
        template,
        {
            **context,
            "lang": lang,
            "t": messages.t,
            "languages": LANGUAGES,
            "lang_urls": switch,
            "script_messages": messages.subset(*script_messages),
        },
        headers=_page_headers(),
    )
    if explicit:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86_400, samesite="lax", httponly=True)
    return response


Token = Annotated[str, PathParam(min_length=1, max_length=512, description="the token of the QR code")]


@router.get("/c", response_class=HTMLResponse, summary="Type a single-use claim code (from a letter or an e-mail)")
def code_entry_page(request: Request, code: Annotated[str | None, Query()] = None) -> Response:
    """The form (one field, a plain GET to this URL: no script needed); with ``code``, a code that
    reads right (length, letters, check character) goes on to its claim page ``/c/<CANONICAL16>``
    (303), anything else is explained on the form, the typed text kept. Whether the code exists is
    for the claim page to ask (that is where guessing is rate-limited)."""
    typed = (code or "").strip()
    error = ""
    if typed:
        try:
            return RedirectResponse(f"/c/{normalise_code(typed)}", status_code=303)
        except CheckinRejected as rejected:
            error = "code_mistyped" if rejected.code == "code_mistyped" else "code_malformed"
    return render_page(
        request,
        "code_entry.html",
        {"typed": typed[:64], "error": error, "page": "code"},
        script_messages=("common.",),
    )


@router.get("/c/{token}", response_class=HTMLResponse, summary="The claim page a kiosk QR code opens")
def claim_page(request: Request, token: Token) -> HTMLResponse:
    return render_page(
        request,
        "claim.html",
        {"token": token, "page": "claim"},
        script_messages=("common.", "claim.", "error.", "state.", "status."),
    )


@router.get("/kiosk/{activity_id}", response_class=HTMLResponse, summary="The venue kiosk: rotating QR code")
def kiosk_page(
    request: Request,
    activity_id: Annotated[int, PathParam(ge=0, le=2**64 - 1)],
    k: Annotated[str, Query(max_length=1024, description="kiosk session token")] = "",
) -> HTMLResponse:
    return render_page(
        request,
        "kiosk.html",
        {"activity_id": activity_id, "kiosk_session": k, "page": "kiosk"},
        script_messages=("common.", "kiosk.", "state."),
    )


@dataclass(frozen=True)
class _Asset:
    body: bytes
    gzipped: bytes | None
    etag: str
    media_type: str


def _make_asset(body: bytes, suffix: str) -> _Asset:
    media_type = _MEDIA_TYPES.get(suffix, "application/octet-stream")
    compressible = media_type.startswith("text/") or suffix == ".svg"
    gzipped = gzip.compress(body, compresslevel=9, mtime=0) if compressible and len(body) > 1024 else None
    return _Asset(body, gzipped, f'"{hashlib.sha256(body).hexdigest()[:24]}"', media_type)


@cache
def _load_asset(path: Path, mtime_ns: int) -> _Asset:
    """A file's bytes, gzipped once (text only), with a content ETag; kept in memory (a whitelist)."""
    return _make_asset(path.read_bytes(), path.suffix)


@cache
def _map_asset(mtime_ns: int) -> _Asset:
    return _make_asset(japan_map.map_svg(), ".svg")


def japan_map_url() -> str:
    """The national view's map of Japan (the pinned ``@svg-maps/japan`` drawing, our colours)."""
    return f"/map/japan.svg?v={_package_version(japan_map.MAP_PACKAGE)}"


def _asset(path: Path, request: Request) -> Response:
    return _serve(_load_asset(path, path.stat().st_mtime_ns), request)


def _serve(asset: _Asset, request: Request) -> Response:
    headers = {
        "Cache-Control": _IMMUTABLE if "v" in request.query_params else _REVALIDATE,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if asset.etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=asset.media_type, headers=headers)


@router.get("/vendor/{name}", summary="A pinned npm file the pages use (whitelisted)")
def vendor_file(request: Request, name: str) -> Response:
    entry = VENDOR_FILES.get(name)
    path = NODE_MODULES / entry[0] / entry[1] if entry else None
    if path is None or not path.is_file():
        raise ApiError(404, "not_found", f"no vendor file {name!r}")
    return _asset(path, request)


@router.get("/map/japan.svg", summary="The map of Japan under the national view (from a pinned npm package)")
def japan_map_file(request: Request) -> Response:
    if not japan_map.MAP_FILE.is_file():
        raise ApiError(404, "not_found", "the map of Japan is not installed (./run setup)")
    return _serve(_map_asset(japan_map.MAP_FILE.stat().st_mtime_ns), request)


@router.get("/static/{name}", summary="The pages' own scripts and styles")
def static_file(request: Request, name: str) -> Response:
    path = STATIC_DIR / name
    if not _STATIC_NAME.fullmatch(name) or not path.is_file():
        raise ApiError(404, "not_found", f"no static file {name!r}")
    return _asset(path, request)
