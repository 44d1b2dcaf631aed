"""The HTML pages (claim page, kiosk), their message catalogues and the static/vendor files.

In process over ASGI (no chain needed: the pages are shells whose scripts call the JSON API; the
whole flow in a real browser is tests/browser/test_checkin_browser.py).
"""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.errors import CHECKIN_STATUS
from api.i18n import LANGUAGES, catalogue, from_accept_language
from api.routes.pages import CONTENT_SECURITY_POLICY, NODE_MODULES, STATIC_DIR, VENDOR_FILES
from ledger.settings import Settings

API = Path(__file__).resolve().parents[2] / "api"
TEMPLATES = API / "templates"
SCRIPTS = sorted(STATIC_DIR.glob("*.js"))

# Every code the claim page can meet: the check-in rejections, the API's generic errors, and the
# page's own (no answer at all, anything unexpected).
CLAIM_ERROR_CODES = sorted(
    {
        *CHECKIN_STATUS,
        "token_malformed",
        "token_forged",
        "token_expired",
        "token_wrong_activity",
        "token_wrong_region",
        "bad_address",
        "bad_signature",
        "unknown_activity",
        "activity_closed",
        "activity_not_started",
        "activity_ended",
        "activity_full",
        "already_claimed",
        "replayed_request",
        "rate_limited",
        "too_large",
        "invalid_request",
        "invalid",
        "unavailable",
        "chain_unavailable",
        "not_deployed",
        "not_found",
        "network",
        "unknown",
    }
    - {"kiosk_session_invalid"}  # the kiosk's, not the claim page's
)
ACTIVITY_STATES = ("open", "closed", "full", "not_started", "ended")
MESSAGE_USE = re.compile(r"""\bt\(\s*["']([A-Za-z0-9_.]+)["']""")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    db = tmp_path_factory.mktemp("pages") / "index.db"
    return create_app(Settings(db={"url": f"sqlite:///{db}"}))


def get(app: FastAPI, url: str, **kwargs: Any) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pages.test") as client:
            return await client.get(url, **kwargs)

    return asyncio.run(call())


class Page(HTMLParser):
    """What the checks need from a page: its tags with attributes and the text of inline scripts."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[tuple[dict[str, str], str]] = []
        self._script: dict[str, str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if tag == "script":
            self._script = values
            self.scripts.append((values, ""))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def ids(self) -> set[str]:
        return {attrs["id"] for _, attrs in self.tags if "id" in attrs}

    def first(self, tag: str) -> dict[str, str]:
        return next(attrs for name, attrs in self.tags if name == tag)


# -- catalogues ---------------------------------------------------------------------------------


def test_every_language_has_the_same_keys_and_placeholders() -> None:
    ja, en = (catalogue(lang).messages for lang in LANGUAGES)
    assert sorted(ja) == sorted(en), f"only in ja: {set(ja) - set(en)}; only in en: {set(en) - set(ja)}"
    for key in ja:
        assert ja[key].strip() and en[key].strip(), f"{key} is empty"
        assert set(re.findall(r"\{(\w+)\}", ja[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key


def test_pages_and_scripts_use_no_missing_message() -> None:
    used: dict[str, set[str]] = {}
    for path in [*TEMPLATES.rglob("*.html"), *SCRIPTS]:
        for key in MESSAGE_USE.findall(path.read_text(encoding="utf-8")):
            used.setdefault(key, set()).add(path.name)
    # keys the scripts build from a code or state
    dynamic = {f"error.{code}" for code in CLAIM_ERROR_CODES}
    dynamic |= {f"state.{state}" for state in ACTIVITY_STATES}
    dynamic |= {f"kiosk.state_{state}_text" for state in ACTIVITY_STATES if state != "open"}
    prefixes = {key for key in used if key.endswith(".") or key.endswith("_")}
    for lang in LANGUAGES:
        messages = catalogue(lang).messages
        missing = sorted(k for k in (set(used) - prefixes) | dynamic if k not in messages)
        assert not missing, f"api/locales/{lang}.json lacks {missing}"
    # the console builds keys from a code (console.error.<code>, console.nav.<key>...): each such
    # prefix must have messages in every language
    console_prefixes = {p for p in prefixes if p.startswith("console.")}
    for lang in LANGUAGES:
        messages = catalogue(lang).messages
        empty = sorted(p for p in console_prefixes if not any(k.startswith(p) for k in messages))
        assert not empty, f"no {lang} messages for the built keys {empty}"
    assert prefixes - console_prefixes <= {"error.", "state.", "kiosk.state_"}, f"unexpected built keys: {prefixes}"


def test_the_brief_wording_of_an_expired_code() -> None:
    assert catalogue("ja").t("error.token_expired") == (
        "QRコードの有効期限が切れました。会場の画面をもう一度読み取ってください。"
    )
    assert catalogue("ja").t("claim.accepted_headline") == "受け付けました"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("ja-JP,ja;q=0.9", "ja"),
        ("en-US,en;q=0.9,ja;q=0.8", "en"),
        ("fr-FR, en;q=0.5, ja;q=0.7", "ja"),
        ("fr, de", None),
        ("en;q=0, ja;q=0.1", "ja"),
        ("EN-gb", "en"),
        ("ja;q=oops, en", "en"),
    ],
)
def test_accept_language(header: str | None, expected: str | None) -> None:
    assert from_accept_language(header) == expected


# -- the claim page ------------------------------------------------------------------------------


def test_claim_page_is_japanese_and_strict(app: FastAPI) -> None:
    answer = get(app, "/c/AQAAL60AAAAAAAEAA5FeZRqZtuBmmSPUUmQgMg")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["x-content-type-options"] == "nosniff"
    page = Page(answer.text)
    assert page.first("html")["lang"] == "ja"
    assert page.first("main")["data-token"] == "AQAAL60AAAAAAAEAA5FeZRqZtuBmmSPUUmQgMg"
    assert any(name == "meta" and attrs.get("name") == "viewport" for name, attrs in page.tags)
    assert "参加の受付" in answer.text and "本文へ移動" in answer.text


def test_pages_have_no_inline_code_or_style(app: FastAPI) -> None:
    for url in ("/c/tok", "/kiosk/1?k=ks1.x", "/c/tok?lang=en"):
        page = Page(get(app, url).text)
        for attrs, text in page.scripts:
            if attrs.get("type") == "application/json":
                json.loads(text)  # data for the script, not code
                continue
            assert attrs.get("src", "").startswith(("/static/", "/vendor/")), attrs
            assert not text.strip(), "inline script"
            assert "?v=" in attrs["src"], "script URLs carry a version (they are cached for a year)"
        for name, attrs in page.tags:
            assert "style" not in attrs, f"inline style on <{name}>"
            assert not [a for a in attrs if a.startswith("on")], f"inline handler on <{name}>"
            assert name != "style"
            if name in ("link", "img", "script") and ("href" in attrs or "src" in attrs):
                target = attrs.get("href") or attrs.get("src", "")
                assert target.startswith("/"), f"{target} is not served by us"


@pytest.mark.parametrize(("script", "url"), [("claim.js", "/c/tok"), ("kiosk.js", "/kiosk/7?k=ks1.a")])
def test_every_element_a_script_looks_up_is_on_its_page(app: FastAPI, script: str, url: str) -> None:
    source = (STATIC_DIR / script).read_text(encoding="utf-8")
    wanted = set(re.findall(r"""\$\(\s*["']([\w-]+)["']\s*\)""", source))
    wanted |= set(re.findall(r"""getElementById\(\s*["']([\w-]+)["']\s*\)""", source))
    assert wanted, "the script looks nothing up?"
    page = Page(get(app, url).text)
    assert wanted <= page.ids(), f"{script} needs #{sorted(wanted - page.ids())}"


def test_form_controls_have_labels(app: FastAPI) -> None:
    page = Page(get(app, "/c/tok").text)
    labelled = {attrs["for"] for name, attrs in page.tags if name == "label" and "for" in attrs}
    for name, attrs in page.tags:
        if name in ("input", "textarea", "select"):
            assert attrs.get("id") in labelled or "aria-label" in attrs or "aria-labelledby" in attrs, attrs


def test_english_by_parameter_is_remembered_in_a_cookie(app: FastAPI) -> None:
    answer = get(app, "/c/tok?lang=en")
    assert Page(answer.text).first("html")["lang"] == "en"
    assert "Check in" in answer.text and "参加の受付" not in answer.text
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("lang=en;") and "SameSite=lax" in cookie and "Max-Age=31536000" in cookie
    again = get(app, "/c/tok", headers={"Cookie": "lang=en"})
    assert Page(again.text).first("html")["lang"] == "en" and "set-cookie" not in again.headers
    back = get(app, "/c/tok?lang=ja", headers={"Cookie": "lang=en"})
    assert Page(back.text).first("html")["lang"] == "ja" and back.headers["set-cookie"].startswith("lang=ja;")


def test_language_from_the_browser_and_the_default(app: FastAPI) -> None:
    assert Page(get(app, "/c/tok", headers={"Accept-Language": "en-US,en;q=0.9"}).text).first("html")["lang"] == "en"
    assert Page(get(app, "/c/tok", headers={"Accept-Language": "fr-FR"}).text).first("html")["lang"] == "ja"
    assert Page(get(app, "/c/tok?lang=xx").text).first("html")["lang"] == "ja"  # unknown: ignored
    # an explicit cookie wins over the browser's preference
    answer = get(app, "/c/tok", headers={"Accept-Language": "en", "Cookie": "lang=ja"})
    assert Page(answer.text).first("html")["lang"] == "ja"


def test_the_language_switch_keeps_the_page(app: FastAPI) -> None:
    page = Page(get(app, "/kiosk/5?k=ks1.abc").text)
    links = {attrs["data-lang"]: attrs for name, attrs in page.tags if name == "a" and "data-lang" in attrs}
    assert links["en"]["href"] == "/kiosk/5?k=ks1.abc&lang=en"
    assert links["ja"]["aria-current"] == "true" and "aria-current" not in links["en"]


def test_the_page_embeds_only_its_messages(app: FastAPI) -> None:
    page = Page(get(app, "/c/tok?lang=en").text)
    messages = json.loads(next(text for attrs, text in page.scripts if attrs.get("id") == "messages"))
    assert messages["error.token_expired"] == catalogue("en").t("error.token_expired")
    assert not [k for k in messages if k.startswith("kiosk.")]


def test_values_in_urls_are_escaped(app: FastAPI) -> None:
    answer = get(app, '/kiosk/3?k="><script>alert(1)</script>')
    assert answer.status_code == 200
    assert "<script>alert" not in answer.text
    assert Page(answer.text).first("main")["data-session"] == '"><script>alert(1)</script>'
    claim = get(app, "/c/%22%3E%3Cimg%20src=x%3E")
    assert "<img src=x>" not in claim.text


# -- the kiosk -------------------------------------------------------------------------------------


def test_kiosk_page(app: FastAPI) -> None:
    answer = get(app, "/kiosk/12?k=ks1.12.999.sig")
    assert answer.status_code == 200 and answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page = Page(answer.text)
    main = page.first("main")
    assert (main["data-activity-id"], main["data-session"]) == ("12", "ks1.12.999.sig")
    assert {"qr", "count-accepted", "count-confirmed", "state-screen", "offline-badge"} <= page.ids()
    assert "スマートフォンのカメラで読み取ってください" in answer.text
    assert not [attrs for attrs, _ in page.scripts if "ethers" in attrs.get("src", "")], "the kiosk signs nothing"
    assert get(app, "/kiosk/notanumber?k=x").status_code == 422
    assert get(app, "/kiosk/12?lang=en").status_code == 200  # no session: the page says so itself


# -- static and vendor files ---------------------------------------------------------------------------


def test_vendor_files_are_the_pinned_npm_files(app: FastAPI) -> None:
    pins = json.loads((NODE_MODULES.parent / "package.json").read_text(encoding="utf-8"))["dependencies"]
    for name, (package, inside) in VENDOR_FILES.items():
        version = json.loads((NODE_MODULES / package / "package.json").read_text(encoding="utf-8"))["version"]
        assert version == pins[package], f"node_modules/{package} is not the pinned version: run npm ci"
        answer = get(app, f"/vendor/{name}?v={version}", headers={"Accept-Encoding": "identity"})
        assert answer.status_code == 200
        assert answer.content == (NODE_MODULES / package / inside).read_bytes()
        media = "text/css" if name.endswith(".css") else "text/javascript"
        assert answer.headers["content-type"] == f"{media}; charset=utf-8"
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert f'src="/vendor/ethers.umd.min.js?v={pins["ethers"]}"' in get(app, "/c/tok").text


def test_vendor_files_are_compressed_and_revalidated(app: FastAPI) -> None:
    plain = get(app, "/vendor/ethers.umd.min.js", headers={"Accept-Encoding": "identity"})
    assert plain.headers["cache-control"] == "no-cache"  # unversioned URL: revalidate
    packed = get(app, "/vendor/ethers.umd.min.js", headers={"Accept-Encoding": "gzip, br"})
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
    assert packed.content == plain.content  # httpx decodes it; the wire size is the header
    assert int(packed.headers["content-length"]) < len(plain.content) / 2
    again = get(app, "/vendor/ethers.umd.min.js", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304 and not again.content


@pytest.mark.parametrize(
    "name",
    [
        "ethers.js",
        "ethers.min.js",
        "package.json",
        "..%2Fethers%2Fpackage.json",
        "..%2F..%2Fpackage-lock.json",
        "echarts.js",
        "ETHERS.UMD.MIN.JS",
    ],
)
def test_only_whitelisted_vendor_files(app: FastAPI, name: str) -> None:
    answer = get(app, f"/vendor/{name}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_static_files(app: FastAPI) -> None:
    for path in STATIC_DIR.iterdir():
        answer = get(app, f"/static/{path.name}?v=1", headers={"Accept-Encoding": "identity"})
        assert answer.status_code == 200, path.name
        assert answer.content == path.read_bytes()
    assert get(app, "/static/claim.css").headers["content-type"] == "text/css; charset=utf-8"
    for name in ("nope.js", "..%2Fi18n.py", ".hidden.js", "claim.js.map", "CLAIM.JS"):
        assert get(app, f"/static/{name}").status_code == 404, name
    page = get(app, "/c/tok").text
    for name in ("common.js", "claim.js", "base.css", "claim.css"):
        assert re.search(rf'"/static/{re.escape(name)}\?v=[0-9a-f]{{12}}"', page), name


def test_the_seeding_banner_shows_while_the_demo_year_is_written(tmp_path: Path) -> None:
    """Every page (here the claim page and the kiosk) says how far the demo's seed is, from the
    progress file beside the devnet, in the page's language; not once it is done or went stale."""
    import time
    from dataclasses import replace

    from ledger.demo_seed.progress import SeedPhase, SeedProgress, progress_path, write_progress

    devnet = tmp_path / "devnet"
    app = create_app(Settings(db={"url": f"sqlite:///{tmp_path / 'index.db'}"}, devnet={"data_dir": devnet}))
    claim = "/c/AQAAL60AAAAAAAEAA5FeZRqZtuBmmSPUUmQgMg"
    assert 'id="seeding-banner"' not in get(app, claim).text  # no demo here
    seeding = SeedProgress(SeedPhase.SEEDING, "0x" + "00" * 32, "0x" + "11" * 20, days=364, days_done=146)
    write_progress(progress_path(devnet), seeding)
    ja = Page(get(app, claim).text)
    banner = next(attrs for name, attrs in ja.tags if attrs.get("id") == "seeding-banner")
    assert banner["data-percent"] == "40" and banner["aria-labelledby"] == "seeding-banner-title"
    assert ("p", {"role": "status"}) in ja.tags and "seeding-banner-title" in ja.ids()
    assert "デモデータを準備中: 40 %" in get(app, claim).text and "146/364 日" in get(app, claim).text
    assert "Preparing the demo data: 40 %" in get(app, claim + "?lang=en").text
    assert "デモデータを準備中" in get(app, "/kiosk/1?k=x").text
    write_progress(progress_path(devnet), seeding.finished(SeedPhase.DONE))
    assert 'id="seeding-banner"' not in get(app, claim).text
    write_progress(progress_path(devnet), replace(seeding, updated_at=time.time() - 3600))  # a killed seed
    assert 'id="seeding-banner"' not in get(app, claim).text
