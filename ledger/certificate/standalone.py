"""The standalone verifier page: one self-contained HTML file that verifies a certificate against any
JSON-RPC endpoint of the chain, opened from our site or from disk (docs/certificate.md).

The file is assembled here from ``verifier/`` (``verifier.html``; ``verifier.js``, the checks;
``page.js``, what the page shows; ``verifier.css``; ``messages.json``, its ja/en texts), the pinned
browser libraries read from ``hardhat-free-devnet/node_modules`` (ethers for JSON-RPC, ABI and
EIP-712; qrcode-generator for the holder proof's challenge QR code) and a JSON config with
everything the JavaScript must agree on with Python: the EIP-712 domains and types (:mod:`.typed`),
the event topics, call selectors and reason tables (:mod:`.verify`), the Premium threshold
(:mod:`.eligibility`), kind and municipality names. So the two verifiers cannot drift apart in what
they print; ``tests/certificate/test_verifier_page.py`` runs both on the same certificates.

The libraries are inlined at build time, never copied into the repository; the file's first comment
names each with its version and sha256. Its scripts and style are allowed by hash in a
Content-Security-Policy ``<meta>`` (the served page also sends it as a header, see
:attr:`VerifierPage.csp_header`): no other script can run in the page, it may ``connect`` anywhere
(the verifier chooses the node) and show ``data:`` images (the QR code) only.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from eth_utils.address import to_checksum_address

from ledger.certificate.eligibility import PREMIUM_MIN_ACTIVITIES
from ledger.certificate.model import FORMAT, FORMAT_VERSION, MAX_BYTES, MAX_RECORDS
from ledger.certificate.typed import (
    CERTIFICATE_DOMAIN_NAME,
    CERTIFICATE_TYPES,
    HOLDER_PROOF_DOMAIN_NAME,
    HOLDER_PROOF_TYPES,
    holder_proof_typed_data,
)
from ledger.certificate.verify import (
    ACTIVITY_INFO_SELECTOR,
    ACTIVITY_TUPLE,
    DESIGNATED_FLAG,
    HOLDER_PROOF_REASONS,
    LINE_REASONS,
    METADATA_CHANGED_WORD,
    METADATA_TOPIC,
    PROBLEMS,
    RECORD_OF_SELECTOR,
    RECORDED_TOPIC,
    REGISTERED_METADATA_WORD,
    REGISTERED_TOPIC,
    RPC_BATCH,
)
from ledger.errors import BuildError
from ledger.municipalities import MUNICIPALITIES
from ledger.taxonomy import KIND_LABELS

__all__ = [
    "CHALLENGE_S",
    "DOWNLOAD_NAME",
    "LIBRARIES",
    "Library",
    "VerifierPage",
    "build_verifier_html",
    "build_verifier_page",
]

SOURCE_DIR: Final = Path(__file__).resolve().parent / "verifier"
NODE_MODULES: Final = Path(__file__).resolve().parents[2] / "hardhat-free-devnet" / "node_modules"
DOWNLOAD_NAME: Final = "tsunagari-verifier.html"
CHALLENGE_S: Final = 5 * 60  # a holder proof challenge is answered within five minutes
POLL_MS: Final = 1_500


@dataclass(frozen=True)
class Library:
    """A browser library inlined into the page, read from the pinned npm package."""

    package: str
    file: str  # inside the package

    @property
    def path(self) -> Path:
        return NODE_MODULES / self.package / self.file


LIBRARIES: Final = (
    Library("ethers", "dist/ethers.umd.min.js"),
    Library("qrcode-generator", "dist/qrcode.js"),
)


@dataclass(frozen=True)
class _Inlined:
    package: str
    file: str
    version: str
    license: str
    sha256: str  # of the file as read, hex
    text: str  # as inlined (line endings normalised, as the HTML parser would)


@dataclass(frozen=True)
class VerifierPage:
    """The built file and what a server needs to send it."""

    html: str
    script_hashes: tuple[str, ...]  # 'sha256-…' of each inline script, in page order
    style_hashes: tuple[str, ...]
    libraries: tuple[dict[str, str], ...]  # name, version, file, license, sha256

    @property
    def csp(self) -> str:
        """The policy the page carries in its ``<meta>`` (and a server sends as a header)."""
        return _csp(self.script_hashes, self.style_hashes)

    @property
    def csp_header(self) -> str:
        """:attr:`csp` plus what only a header can say (``frame-ancestors``)."""
        return f"{self.csp}; frame-ancestors 'none'"

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.html.encode()).hexdigest()[:32] + '"'


def _csp(script_hashes: tuple[str, ...], style_hashes: tuple[str, ...]) -> str:
    return "; ".join(
        (
            "default-src 'none'",
            "script-src " + " ".join(f"'{h}'" for h in script_hashes),
            "style-src " + " ".join(f"'{h}'" for h in style_hashes),
            "img-src data:",
            "connect-src *",  # the verifier chooses the node; our site only for ?c= and the holder proof
            "base-uri 'none'",
            "form-action 'none'",
        )
    )


def _normalised(text: str) -> str:
    """Text as the HTML parser hands it to the script engine (and hashes it for the CSP)."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _inline_safe(text: str, what: str) -> str:
    lowered = text.lower()
    if "</script" in lowered or "<!--" in lowered or "</style" in lowered:
        raise BuildError(f"{what} cannot be inlined in the verifier page: it contains an HTML end tag or comment")
    return text


@lru_cache(maxsize=8)
def _read_library(library: Library, mtime_ns: int) -> _Inlined:
    manifest = json.loads((NODE_MODULES / library.package / "package.json").read_text(encoding="utf-8"))
    raw = library.path.read_bytes()
    text = _inline_safe(_normalised(raw.decode("utf-8")), f"{library.package}/{library.file}")
    return _Inlined(
        library.package,
        library.file,
        str(manifest["version"]),
        str(manifest.get("license", "")),
        hashlib.sha256(raw).hexdigest(),
        text,
    )


def _libraries() -> tuple[_Inlined, ...]:
    found = []
    for library in LIBRARIES:
        try:
            mtime_ns = library.path.stat().st_mtime_ns
        except FileNotFoundError:
            raise BuildError(
                f"{library.package} is not installed: run `npm ci` in hardhat-free-devnet/ (the verifier page inlines "
                f"{library.package}/{library.file})"
            ) from None
        found.append(_read_library(library, mtime_ns))
    return tuple(found)


def _sources_stamp() -> tuple[int, ...]:
    """Modification times of everything the page is made of: a change rebuilds it."""
    names = ("verifier.html", "verifier.js", "page.js", "verifier.css", "messages.json")
    stamps = [(SOURCE_DIR / n).stat().st_mtime_ns for n in names]
    for library in LIBRARIES:
        try:
            stamps.append(library.path.stat().st_mtime_ns)
        except FileNotFoundError:
            stamps.append(0)
    return tuple(stamps)


def _messages() -> dict[str, dict[str, str]]:
    messages: dict[str, dict[str, str]] = json.loads((SOURCE_DIR / "messages.json").read_text(encoding="utf-8"))
    if set(messages) != {"ja", "en"} or set(messages["ja"]) != set(messages["en"]):
        missing = set(messages.get("ja", {})) ^ set(messages.get("en", {}))
        raise BuildError(f"verifier/messages.json: ja and en must have the same keys (differ: {sorted(missing)})")
    return messages


def _pairs(table: dict[Any, tuple[str, str]]) -> dict[str, list[str]]:
    return {str(key): [ja, en] for key, (ja, en) in table.items()}


def _config(
    chain_id: int | None, ledger: str | None, rpc_url: str | None, site: str | None, libraries: tuple[_Inlined, ...]
) -> dict[str, Any]:
    zero = "0x" + "00" * 20
    domain_version = holder_proof_typed_data(1, zero, zero, "0x" + "00" * 32, 0, "")["domain"]["version"]
    return {
        "chain_id": chain_id,
        "ledger": ledger,
        "rpc_url": rpc_url,
        "site": site,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "max_records": MAX_RECORDS,
        "max_bytes": MAX_BYTES,
        "premium_min_activities": PREMIUM_MIN_ACTIVITIES,
        "typed": {
            "version": domain_version,
            "certificate_domain": CERTIFICATE_DOMAIN_NAME,
            "holder_proof_domain": HOLDER_PROOF_DOMAIN_NAME,
            "certificate_types": CERTIFICATE_TYPES,
            "holder_proof_types": HOLDER_PROOF_TYPES,
        },
        "abi": {
            "recorded_topic": RECORDED_TOPIC,
            "registered_topic": REGISTERED_TOPIC,
            "metadata_topic": METADATA_TOPIC,
            "registered_metadata_word": REGISTERED_METADATA_WORD,
            "metadata_changed_word": METADATA_CHANGED_WORD,
            "activity_info": "0x" + ACTIVITY_INFO_SELECTOR.hex(),
            "record_of": "0x" + RECORD_OF_SELECTOR.hex(),
            "activity_tuple": ACTIVITY_TUPLE,
            "designated_flag": DESIGNATED_FLAG,
            "batch": RPC_BATCH,
        },
        "kinds": {str(int(kind)): list(names) for kind, names in KIND_LABELS.items()},
        "municipalities": {str(code): [ja, en] for code, (ja, en, _prefecture) in MUNICIPALITIES.items()},
        "line_reasons": _pairs(LINE_REASONS),
        "problems": _pairs(PROBLEMS),
        "holder_proof_reasons": _pairs(HOLDER_PROOF_REASONS),
        "holder_proof": {"challenge_s": CHALLENGE_S, "poll_ms": POLL_MS},
        "messages": _messages(),
        "libraries": [{"name": lib.package, "version": lib.version} for lib in libraries],
    }


def _json_for_html(value: Any) -> str:
    """JSON that cannot end its ``<script type="application/json">`` element early."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _comment_safe(text: str) -> str:
    return text.replace("--", "- -").replace("<", "&lt;").replace(">", "&gt;")


def _digest(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _replace_once(template: str, marker: str, value: str) -> str:
    if template.count(marker) != 1:
        raise BuildError(f"verifier/verifier.html must contain {marker} exactly once")
    return template.replace(marker, value)


@lru_cache(maxsize=16)
def _build(
    stamp: tuple[int, ...], chain_id: int | None, ledger: str | None, rpc_url: str | None, site: str | None
) -> VerifierPage:
    libraries = _libraries()
    template = (SOURCE_DIR / "verifier.html").read_text(encoding="utf-8")
    style = _inline_safe(_normalised((SOURCE_DIR / "verifier.css").read_text(encoding="utf-8")), "verifier.css")
    checks, shown = (
        _inline_safe(_normalised((SOURCE_DIR / name).read_text(encoding="utf-8")), name)
        for name in ("verifier.js", "page.js")
    )
    scripts = [lib.text for lib in libraries] + [checks, shown]
    script_hashes = tuple(_digest(s) for s in scripts)
    style_hashes = (_digest(style),)
    header = "\n".join(
        [
            "<!--",
            "  つながり台帳 活動証明書の確認 — Tsunagari Ledger standalone certificate verifier.",
            "  Open this file in any current browser, from our site or from disk: it checks a certificate",
            "  against a JSON-RPC node of the chain and needs no other server.",
            f"  Built for chain {chain_id if chain_id is not None else '-'}, ledger {ledger or '-'};"
            f" default node {_comment_safe(rpc_url or '-')}; site {_comment_safe(site or '-')}.",
            "  Inlined libraries, unmodified, from hardhat-free-devnet/node_modules (pinned in its package-lock.json):",
            *(
                f"    {lib.package} {lib.version} ({lib.license} licence) {lib.file} sha256={lib.sha256}"
                for lib in libraries
            ),
            "-->",
        ]
    )
    config = _config(chain_id, ledger, rpc_url, site, libraries)
    page = template
    page = _replace_once(page, "@@HEADER@@", header)
    page = _replace_once(
        page, "@@CSP@@", html.escape(_csp(script_hashes, style_hashes), quote=False).replace('"', "&quot;")
    )
    page = _replace_once(page, "@@STYLE@@", style)
    page = _replace_once(page, "@@CONFIG@@", _json_for_html(config))
    inlined = "\n".join(f'<script data-library="{lib.package} {lib.version}">{lib.text}</script>' for lib in libraries)
    page = _replace_once(page, "@@LIBRARIES@@", inlined)
    page = _replace_once(page, "@@VERIFIER@@", checks)
    page = _replace_once(page, "@@PAGE@@", shown)
    return VerifierPage(
        page,
        script_hashes,
        style_hashes,
        tuple(
            {
                "name": lib.package,
                "version": lib.version,
                "file": lib.file,
                "license": lib.license,
                "sha256": lib.sha256,
            }
            for lib in libraries
        ),
    )


def build_verifier_page(
    *, chain_id: int | None, ledger: str | None, rpc_url: str | None, site: str | None
) -> VerifierPage:
    """The verifier page for a deployment: ``chain_id`` and ``ledger`` are what it trusts by default
    (None: the user enters them), ``rpc_url`` the node it asks by default (None: the certificate's
    ``rpc_hint``), ``site`` where holder proof challenges go when the file is opened from disk.
    Built once per arguments and per change of its sources; :class:`BuildError` when the pinned
    libraries are not installed."""
    checksummed = str(to_checksum_address(ledger)) if ledger else None
    return _build(_sources_stamp(), chain_id, checksummed, rpc_url or None, site.rstrip("/") if site else None)


def build_verifier_html(*, chain_id: int | None, ledger: str | None, rpc_url: str | None, site: str | None) -> str:
    """The verifier page as one self-contained HTML file (see :func:`build_verifier_page`)."""
    return build_verifier_page(chain_id=chain_id, ledger=ledger, rpc_url=rpc_url, site=site).html
