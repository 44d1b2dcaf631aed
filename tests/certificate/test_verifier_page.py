"""The standalone verifier page in a real browser (Debian chromium via Playwright), against anvil.

The page is built as one file, written to disk and opened from ``file://`` (no server of ours), and
every certificate it checks is checked by the Python verifier too: the same verdicts and the same
reason codes per line (the Python/JS agreement). Then the served page (CSP by hashes, download)
over real HTTP, a certificate opened by its id, the holder proof answered through the app's
mailbox and through the paste box, and the eligibility window on edge dates in both languages.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from eth_utils.crypto import keccak
from playwright.sync_api import Browser, Page

from ledger.certificate.eligibility import eligibility, window
from ledger.certificate.issue import today_jst
from ledger.certificate.model import Certificate
from ledger.certificate.standalone import LIBRARIES, NODE_MODULES, build_verifier_html, build_verifier_page
from ledger.certificate.typed import holder_proof_typed_data, sign_typed
from ledger.certificate.verify import (
    HOLDER_PROOF_REASONS,
    LINE_REASONS,
    VerificationReport,
    verify_certificate,
    verify_holder_proof,
)
from ledger.chain.devnet import free_port
from ledger.indexer.handlers import jst_day
from tests.browser.conftest import PHONE, Console
from tests.certificate.world import NAGAOKA, CertificateWorld, certificate_world, served_app

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "ja-JP"}
DONE = "#verifier-result[data-state=done], #verifier-result[data-state=error]"


@dataclass
class Verifier:
    world: CertificateWorld
    file_url: str
    tmp: Path


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verifier]:
    tmp = tmp_path_factory.mktemp("verifier-page")
    with certificate_world(tmp) as world:
        html = build_verifier_html(chain_id=31337, ledger=world.deployment.ledger, rpc_url=world.rpc_url, site=None)
        path = tmp / "tsunagari-verifier.html"
        path.write_text(html, encoding="utf-8")
        yield Verifier(world, path.as_uri(), tmp)


@pytest.fixture(scope="module")
def _phone_page(browser: Browser, verifier: Verifier) -> Iterator[tuple[Page, Console]]:
    watcher = Console()
    context = browser.new_context(**PHONE)  # type: ignore[arg-type]
    page = watcher.watch(context.new_page(), "verifier (shared)")
    page.goto(verifier.file_url)
    try:
        yield page, watcher
    finally:
        context.close()


@pytest.fixture
def phone(_phone_page: tuple[Page, Console]) -> Iterator[Page]:
    """One page opened from disk on a phone, reused by the tests that only load certificates into
    it (opening the 650 KB page costs a second a time); any console error still fails the test."""
    page, watcher = _phone_page
    yield page
    problems, watcher.problems[:] = list(watcher.problems), []
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# Helpers: the page's result and the Python report in one shape
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    valid: bool
    premium: bool
    problems: list[str]
    lines: dict[int, tuple[str, list[str]]]  # line -> (status, reason codes)
    designated: int
    eligible_until: str | None


def python_outcome(report: VerificationReport) -> Outcome:
    return Outcome(
        report.valid,
        report.premium,
        [p.code for p in report.problems],
        {line.line: (line.status, list(line.reasons)) for line in report.lines},
        report.verdict.designated if report.verdict else 0,
        report.verdict.eligible_until.isoformat() if report.verdict and report.verdict.eligible_until else None,
    )


def page_outcome(page: Page) -> Outcome:
    raw = page.evaluate(
        """() => {
            const r = document.getElementById("verifier-result");
            const lines = {};
            for (const row of r.querySelectorAll("[data-line]")) {
                const reasons = row.dataset.reasons ? row.dataset.reasons.split(",") : [];
                lines[row.dataset.line] = [row.dataset.status, reasons];
            }
            return {state: r.dataset.state, valid: r.dataset.valid, premium: r.dataset.premium,
                    problems: r.dataset.problems || "", lines, designated: r.dataset.designated,
                    until: r.dataset.eligibleUntil || null};
        }"""
    )
    assert raw["state"] == "done", raw
    return Outcome(
        raw["valid"] == "true",
        raw["premium"] == "true",
        [c for c in raw["problems"].split(",") if c],
        {int(n): (status, reasons) for n, (status, reasons) in raw["lines"].items()},
        int(raw["designated"]),
        raw["until"],
    )


def python_check(world: CertificateWorld, certificate: Certificate, rpc_url: str | None = None, **kw: Any) -> Outcome:
    from ledger.indexer.rpc import HttpJsonRpc

    rpc = HttpJsonRpc(rpc_url or world.rpc_url, timeout_s=5)
    try:
        options: dict[str, Any] = {"trusted_ledger": world.deployment.ledger, "as_of": today_jst()}
        options.update(kw)
        return python_outcome(verify_certificate(certificate, rpc, **options))
    finally:
        rpc.close()


def open_page(
    browser: Browser, console: Console, url: str, device: dict[str, Any], allow: tuple[str, ...] = ()
) -> Page:
    context = browser.new_context(**device)
    page = console.watch(context.new_page(), "verifier", allow=allow)
    page.goto(url)
    return page


def verify_in_page(
    page: Page,
    certificate_file: Path,
    *,
    rpc: str,
    ledger: str | None,
    chain: str = "31337",
    as_of: date | None = None,
) -> Outcome:
    page.fill("#verifier-rpc", rpc)
    page.fill("#verifier-ledger", ledger or "")
    page.fill("#verifier-chain", chain)
    page.fill("#verifier-as-of", (as_of or today_jst()).isoformat())
    page.set_input_files("#verifier-file", str(certificate_file))  # loading a file starts the check
    page.wait_for_selector(DONE)
    text = page.inner_text("#verifier-result")
    assert "null" not in text and "undefined" not in text and "{" not in text, text
    return page_outcome(page)


def write(tmp: Path, certificate: Certificate, name: str) -> Path:
    path = tmp / f"{name}.json"
    path.write_bytes(certificate.to_bytes())
    return path


def replace_line(certificate: Certificate, index: int, **changes: Any) -> Certificate:
    records = list(certificate.records)
    records[index] = dataclasses.replace(records[index], **changes)
    return dataclasses.replace(certificate, records=tuple(records))


def no_horizontal_overflow(page: Page) -> None:
    width, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width <= client, f"the page is {width} px wide in a {client} px viewport"


# ---------------------------------------------------------------------------------------------
# From disk: a good certificate, on a phone and on a desktop
# ---------------------------------------------------------------------------------------------


def test_a_good_certificate_from_disk_on_a_phone(verifier: Verifier, browser: Browser, console: Console) -> None:
    world = verifier.world
    certificate = world.sign(world.draft())
    page = open_page(browser, console, verifier.file_url, PHONE)
    assert page.evaluate("location.protocol") == "file:"
    outcome = verify_in_page(
        page, write(verifier.tmp, certificate, "good"), rpc=world.rpc_url, ledger=world.deployment.ledger
    )
    assert outcome.valid and outcome.premium, outcome
    assert outcome.lines == {n: ("ok", []) for n in range(1, 5)}
    assert outcome == python_check(world, certificate)
    verdict = eligibility([r.day for r in certificate.records if r.designated], today_jst())
    assert page.text_content("#verifier-verdict-text") == verdict.text_ja == "指定活動 3件（直近12か月）"
    assert page.text_content("#verifier-verdict-head") == "この証明書は有効です"
    assert "満たしています" in (page.text_content("#verifier-premium") or "")
    until = date.fromisoformat(outcome.eligible_until or "")
    assert (
        page.text_content("#verifier-until")
        == f"このままなら {until.year}年{until.month}月{until.day}日 まで条件を満たします"
    )
    # each line: its date, name, kind, designation, units and coins, in Japanese
    ordinary = next(i for i, r in enumerate(certificate.records, start=1) if not r.designated)
    row = page.locator(f"[data-line='{ordinary}']")
    assert "朝市のお手伝い" in row.inner_text() and "ボランティア" in row.inner_text()
    assert "2時間" in row.inner_text() and "100 コイン" in row.inner_text() and "指定活動" not in row.inner_text()
    assert page.locator("[data-line='1'] .badge").first.inner_text() == "指定活動"
    assert page.locator("[data-line='1']").inner_text().count(certificate.records[0].day.isoformat()) == 1
    no_horizontal_overflow(page)
    # the English switch re-renders the same result
    page.click("#verifier-lang")
    assert page.text_content("#verifier-verdict-text") == "3 designated activities (last 12 months)"
    assert page.evaluate("document.documentElement.lang") == "en"
    no_horizontal_overflow(page)
    page.context.close()


def test_a_good_certificate_on_a_desktop_and_the_run_button(
    verifier: Verifier, browser: Browser, console: Console
) -> None:
    world = verifier.world
    certificate = world.sign(world.draft())
    page = open_page(browser, console, verifier.file_url, DESKTOP)
    outcome = verify_in_page(
        page, write(verifier.tmp, certificate, "good"), rpc=world.rpc_url, ledger=world.deployment.ledger
    )
    assert outcome.premium
    # a year and a day later nothing is in the window: valid, no Premium — as in Python
    later = today_jst() + timedelta(days=366)
    page.fill("#verifier-as-of", later.isoformat())
    page.click("#verifier-run")
    page.wait_for_selector("#verifier-result[data-state=done][data-premium=false]")
    outcome = page_outcome(page)
    assert outcome == python_check(world, certificate, as_of=later)
    assert outcome.valid and not outcome.premium and outcome.designated == 0
    assert page.locator(".badge.outside").count() == 4
    page.context.close()


def test_defaults_come_from_the_page_and_the_certificate(
    verifier: Verifier, browser: Browser, console: Console
) -> None:
    """Opened as built: the trusted ledger and node are the build's; a certificate dropped on it
    is verified without typing anything."""
    world = verifier.world
    page = open_page(browser, console, verifier.file_url, PHONE)
    assert page.input_value("#verifier-rpc") == world.rpc_url
    assert page.input_value("#verifier-ledger") == world.deployment.ledger
    assert page.input_value("#verifier-chain") == "31337"
    assert page.input_value("#verifier-as-of") == today_jst().isoformat()
    text = world.sign(world.draft()).to_bytes().decode()
    page.evaluate(
        """(text) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], "certificate.json", {type: "application/json"}));
            document.getElementById("verifier-drop").dispatchEvent(
                new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""",
        text,
    )
    page.wait_for_selector(DONE)
    assert page_outcome(page).premium
    page.context.close()


# ---------------------------------------------------------------------------------------------
# Bad input: the page and the Python verifier name the same lines and reasons
# ---------------------------------------------------------------------------------------------


def _edited_date(world: CertificateWorld) -> Certificate:
    good = world.sign(world.draft())
    return replace_line(good, 1, day=good.records[1].day - timedelta(days=1))


def _claimed_designated(world: CertificateWorld) -> Certificate:
    good = world.draft()
    index = next(i for i, r in enumerate(good.records) if not r.designated)
    return world.sign(replace_line(good, index, designated=True))


def _edited_name(world: CertificateWorld) -> Certificate:
    good = world.draft()
    document = good.records[0].activity_document or ""
    return world.sign(replace_line(good, 0, activity_document=document.replace("田植え体験", "稲刈り体験")))


def _forged_line(world: CertificateWorld) -> Certificate:
    return world.sign(replace_line(world.draft(), 2, tx_hash="0x" + keccak(text="no such tx").hex()))


def _stolen_line(world: CertificateWorld) -> Certificate:
    good = world.draft()
    theirs = world.draft(holder=world.other.address).records[0]
    stolen = dataclasses.replace(theirs, activity_id=world.designated[2])
    return world.sign(dataclasses.replace(good, records=(*good.records[:2], stolen)))


def _other_municipality(world: CertificateWorld) -> Certificate:
    good = world.draft()
    return world.sign(dataclasses.replace(good, records=(*good.records, world.draft(region=NAGAOKA).records[0])))


def _duplicate(world: CertificateWorld) -> Certificate:
    good = world.draft()
    return world.sign(dataclasses.replace(good, records=(*good.records, good.records[0])))


def _other_key(world: CertificateWorld) -> Certificate:
    return world.sign(world.draft(), key=world.other)


def _unsigned(world: CertificateWorld) -> Certificate:
    return world.draft()


def _other_chain(world: CertificateWorld) -> Certificate:
    return world.sign(dataclasses.replace(world.draft(), chain_id=81))


def _edited_coins(world: CertificateWorld) -> Certificate:
    good = world.draft()
    return world.sign(replace_line(good, 0, coins=good.records[0].coins * 10, kind=40, unit=2))


TAMPERED: dict[str, tuple[Callable[[CertificateWorld], Certificate], set[str]]] = {
    # name: (make it, reason codes the page must show — and Python too)
    "edited_date": (_edited_date, {"date_mismatch", "signature_invalid"}),
    "claimed_designated": (_claimed_designated, {"not_designated"}),
    "edited_name": (_edited_name, {"name_mismatch"}),
    "forged_line": (_forged_line, {"tx_not_found"}),
    "stolen_line": (_stolen_line, {"wrong_holder", "activity_mismatch", "kind_mismatch", "metadata_unknown"}),
    "other_municipality": (_other_municipality, {"wrong_municipality"}),
    "duplicate": (_duplicate, {"duplicate"}),
    "edited_kind_unit_coins": (_edited_coins, {"kind_mismatch", "unit_mismatch", "coins_mismatch"}),
    "other_key": (_other_key, {"signature_invalid"}),
    "unsigned": (_unsigned, {"unsigned"}),
    # the Python verifier takes the chain from the node the operator chose: no trusted chain id here
    "other_chain": (_other_chain, {"chain_id_mismatch"}),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_the_page_and_python_agree_on_a_tampered_certificate(case: str, verifier: Verifier, phone: Page) -> None:
    world = verifier.world
    make, expected = TAMPERED[case]
    certificate = make(world)
    page = phone
    chain = "" if case == "other_chain" else "31337"
    outcome = verify_in_page(
        page, write(verifier.tmp, certificate, case), rpc=world.rpc_url, ledger=world.deployment.ledger, chain=chain
    )
    assert outcome == python_check(world, certificate)
    assert not outcome.valid and not outcome.premium
    shown = set(outcome.problems) | {code for _status, reasons in outcome.lines.values() for code in reasons}
    assert shown == expected, shown
    for number, (status, reasons) in outcome.lines.items():
        row = page.locator(f"[data-line='{number}']")
        for code in reasons:  # each failing line names its reasons in Japanese
            assert LINE_REASONS[code][0] in row.inner_text()
        assert status in {"ok", "failed"}
    no_horizontal_overflow(page)


def test_a_trusted_chain_id_refuses_a_ledger_on_another_chain(verifier: Verifier, phone: Page) -> None:
    """The page's own rule on top of Python's: with a trusted chain id (the page's default), a
    certificate of another chain is not the trusted ledger even at the same address."""
    world = verifier.world
    certificate = _other_chain(world)
    outcome = verify_in_page(
        phone, write(verifier.tmp, certificate, "chain81"), rpc=world.rpc_url, ledger=world.deployment.ledger
    )
    assert outcome.problems == ["untrusted_ledger", "chain_id_mismatch"] and not outcome.valid


def test_no_trusted_ledger_and_an_rpc_that_is_down(verifier: Verifier, browser: Browser, console: Console) -> None:
    world = verifier.world
    certificate = world.sign(world.draft())
    path = write(verifier.tmp, certificate, "good")
    page = open_page(browser, console, verifier.file_url, PHONE, allow=("ERR_CONNECTION_REFUSED",))
    # no trusted ledger: the certificate's own is used, and the verdict says so
    outcome = verify_in_page(page, path, rpc=world.rpc_url, ledger=None)
    assert outcome == python_check(world, certificate, trusted_ledger=None)
    assert outcome.problems == ["untrusted_ledger"] and not outcome.valid
    assert outcome.lines == {n: ("ok", []) for n in range(1, 5)}
    # a node that is down
    down = f"http://127.0.0.1:{free_port()}"
    page.fill("#verifier-rpc", down)
    page.fill("#verifier-ledger", world.deployment.ledger)
    page.click("#verifier-run")
    page.wait_for_selector("#verifier-result[data-state=done][data-problems=rpc_unavailable]")
    outcome = page_outcome(page)
    assert outcome == python_check(world, certificate, rpc_url=down)
    assert outcome.problems == ["rpc_unavailable"] and not outcome.lines and not outcome.valid
    assert "チェーンのノードに接続できません" in page.inner_text("#verifier-verdict")
    page.context.close()


def test_a_file_that_is_not_a_certificate(verifier: Verifier, phone: Page) -> None:
    world = verifier.world
    page = phone
    broken = json.loads(world.sign(world.draft()).to_bytes())
    broken["records"][1]["date"] = "2026-02-30"
    path = verifier.tmp / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    page.set_input_files("#verifier-file", str(path))
    page.wait_for_selector("#verifier-result[data-state=error][data-error=format]")
    assert "records[1].date: is not a calendar date" in page.inner_text("#verifier-state")


def test_a_revoked_record_changes_the_verdict(browser: Browser, console: Console, tmp_path: Path) -> None:
    """Its own chain: a revocation is for good."""
    with certificate_world(tmp_path) as world:
        html = build_verifier_html(chain_id=31337, ledger=world.deployment.ledger, rpc_url=world.rpc_url, site=None)
        page_file = tmp_path / "verifier.html"
        page_file.write_text(html, encoding="utf-8")
        certificate = world.sign(world.draft())
        path = write(tmp_path, certificate, "certificate")
        page = open_page(browser, console, page_file.as_uri(), PHONE)
        before = verify_in_page(page, path, rpc=world.rpc_url, ledger=world.deployment.ledger)
        assert before.premium
        world.client.revoke(world.admin, world.designated[1], world.person.address, 1)
        page.click("#verifier-run")
        page.wait_for_selector("#verifier-result[data-state=done][data-premium=false]")
        after = page_outcome(page)
        assert after == python_check(world, certificate)
        assert after.valid and not after.premium and after.designated == 2
        assert after.lines[2] == ("revoked", ["revoked"])
        assert "取り消された行（数えません）: 2" in page.inner_text("#verifier-verdict")
        assert "満たしていません" in page.inner_text("#verifier-premium")
        page.context.close()


# ---------------------------------------------------------------------------------------------
# The eligibility window and JST days: the page's functions against eligibility.py
# ---------------------------------------------------------------------------------------------

EDGE_CASES: list[tuple[str, list[str]]] = [
    ("2024-02-29", ["2023-02-28", "2023-03-01", "2023-12-31", "2024-02-29"]),
    ("2025-02-28", ["2024-02-29", "2024-03-01", "2024-12-31", "2025-01-01"]),
    ("2025-03-01", ["2024-02-29", "2024-03-01", "2024-03-02", "2025-03-01"]),
    ("2028-02-29", ["2027-03-01", "2027-12-31", "2028-01-01", "2028-02-29"]),
    ("2026-12-31", ["2025-12-31", "2026-01-01", "2026-06-30", "2026-12-31"]),
    ("2027-01-01", ["2026-01-01", "2026-01-02", "2026-12-31", "2027-01-02"]),
    ("2025-12-31", ["2024-02-29", "2025-01-01", "2025-06-01"]),
    ("2024-12-31", ["2023-02-28", "2024-02-29", "2024-03-01", "2024-12-31"]),
]


def test_the_eligibility_window_agrees_on_edge_dates(phone: Page) -> None:
    page = phone
    for as_of, days in EDGE_CASES:
        for count in range(len(days) + 1):
            chosen = days[:count]
            js = page.evaluate("([days, asOf]) => TsunagariVerifier.eligibility(days, asOf)", [chosen, as_of])
            py = eligibility([date.fromisoformat(d) for d in chosen], date.fromisoformat(as_of))
            assert js == {
                "as_of": as_of,
                "designated": py.designated,
                "eligible": py.eligible,
                "eligible_until": py.eligible_until.isoformat() if py.eligible_until else None,
            }, (as_of, chosen)
        start, end = window(date.fromisoformat(as_of))
        assert page.evaluate("(d) => TsunagariVerifier.eligibilityWindow(d)", as_of) == [
            start.isoformat(),
            end.isoformat(),
        ]
    for day in ("2023-02-28", "2024-02-29", "2025-12-31"):
        py_after = date.fromisoformat(day)
        try:
            expected = py_after.replace(year=py_after.year + 1)
        except ValueError:
            expected = py_after.replace(year=py_after.year + 1, day=28)
        assert page.evaluate("(d) => TsunagariVerifier.yearAfter(d)", day) == expected.isoformat()
    # JST days around midnight and the year's end, as the indexer counts them
    for ts in (1_767_193_199, 1_767_193_200, 1_709_132_400 - 1, 1_709_132_400, 0, 1_798_729_200):
        js_day = page.evaluate("(t) => TsunagariVerifier.jstDay(t)", ts)
        assert int(js_day.replace("-", "")) == jst_day(ts), ts


# ---------------------------------------------------------------------------------------------
# Served by the app: CSP by hashes, download, ?c=<id>, and the holder proof
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(verifier: Verifier) -> Iterator[str]:
    with served_app(verifier.world, verifier.tmp / "served") as base_url:
        yield base_url


def _inline_scripts(html: str) -> list[str]:
    return re.findall(r"<script(?![^>]*application/json)[^>]*>(.*?)</script>", html, flags=re.DOTALL)


def test_the_served_page_carries_its_csp_and_downloads(verifier: Verifier, served: str) -> None:
    world = verifier.world
    answer = httpx.get(f"{served}/verify/certificate")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    csp = answer.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    scripts = _inline_scripts(html)
    assert len(scripts) == len(LIBRARIES) + 2  # the libraries, our checks and page; nothing else runs
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in scripts}
    assert set(directives["script-src"].split()) == hashes
    assert "unsafe" not in csp and "'self'" not in directives["script-src"]
    assert directives["connect-src"] == "*" and directives["img-src"] == "data:"
    assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert re.search(r"<script[^>]*\bsrc=", html) is None and '<link rel="stylesheet"' not in html
    style = re.findall(r"<style>(.*?)</style>", html, flags=re.DOTALL)
    assert len(style) == 1
    assert (
        directives["style-src"]
        == "'sha256-" + base64.b64encode(hashlib.sha256(style[0].encode()).digest()).decode() + "'"
    )
    # the page's own <meta> says the same (the downloaded file keeps its policy)
    assert f'content="{csp.removesuffix("; frame-ancestors " + directives["frame-ancestors"])}"' in html
    # built for this deployment: its chain, ledger, node and site
    config = json.loads(
        re.findall(r'<script type="application/json" id="verifier-config">(.*?)</script>', html, re.DOTALL)[0]
    )
    assert config["chain_id"] == 31337 and config["ledger"] == world.deployment.ledger
    assert config["rpc_url"] == world.rpc_url and config["site"] == served
    # the first comment names each library, its version and the sha256 of the file inlined
    head = html[: html.index("<html")]
    pins = json.loads((NODE_MODULES.parent / "package.json").read_text(encoding="utf-8"))["dependencies"]
    for library in LIBRARIES:
        version = json.loads((library.path.parents[1] / "package.json").read_text())["version"]
        assert pins[library.package] == version  # pinned exactly, and that is what is installed
        digest = hashlib.sha256(library.path.read_bytes()).hexdigest()
        assert f"{library.package} {version} " in head and f"sha256={digest}" in head
    # the same page as a file to keep; a revalidation is answered 304
    download = httpx.get(f"{served}/verify/certificate", params={"download": 1})
    assert download.headers["content-disposition"] == 'attachment; filename="tsunagari-verifier.html"'
    assert download.text == html
    again = httpx.get(f"{served}/verify/certificate", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    # and it is the file the builder makes for these settings
    page = build_verifier_page(chain_id=31337, ledger=world.deployment.ledger, rpc_url=world.rpc_url, site=served)
    assert page.html == html and page.csp_header == csp


def _keep(served: str, certificate: Certificate) -> str:
    kept = httpx.post(f"{served}/api/v1/certificates", content=certificate.to_bytes())
    assert kept.status_code == 201, kept.text
    return str(kept.json()["verify_url"])


def _answer(world: CertificateWorld, challenge_url: str, key: Any = None) -> dict[str, Any]:
    """What the participant's page does: sign the challenge with their key (here in Python)."""
    query = parse_qs(urlsplit(challenge_url).query, keep_blank_values=True)
    nonce, expires_at, audience = query["n"][0], int(query["e"][0]), query["a"][0]
    signer = key or world.person
    document = holder_proof_typed_data(31337, world.deployment.ledger, signer.address, nonce, expires_at, audience)
    return {
        "holder": signer.address,
        "nonce": nonce,
        "expires_at": expires_at,
        "audience": audience,
        "signature": sign_typed(document, signer.key),
    }


def test_served_by_id_and_the_holder_proof(verifier: Verifier, served: str, browser: Browser, console: Console) -> None:
    """The PDF's QR link opens the page on a kept certificate; staff show a challenge; the
    participant's answer arrives through our mailbox and is checked in the page."""
    world = verifier.world
    certificate = world.sign(world.draft())
    page = open_page(browser, console, f"{served}{_keep(served, certificate)}", PHONE)
    page.wait_for_selector(DONE)
    assert page_outcome(page).premium
    assert page.is_visible("#verifier-download")
    assert "本人確認は国のアプリでマイナンバーカード" in page.inner_text("#holder-note")

    page.fill("#holder-audience", "館山市役所 窓口")
    page.click("#holder-start")
    qr = page.locator("#holder-qr")
    challenge_url = qr.get_attribute("data-url") or ""
    assert challenge_url.startswith(f"{served}/present?n=0x")
    assert parse_qs(urlsplit(challenge_url).query)["a"] == ["館山市役所 窓口"]
    assert (qr.get_attribute("src") or "").startswith("data:image/svg+xml;base64,")
    assert qr.evaluate("(img) => img.complete && img.naturalWidth > 0")  # the QR code rendered
    expires_at = int(parse_qs(urlsplit(challenge_url).query)["e"][0])
    assert 0 < expires_at - time.time() <= 300
    assert page.get_attribute("#holder-result", "data-state") == "waiting"
    no_horizontal_overflow(page)

    # someone else's key answers first: refused in the page, with the reason
    theirs = _answer(world, challenge_url, key=world.other)
    assert httpx.post(f"{served}/api/v1/presentations", json=theirs).status_code == 201
    page.wait_for_selector("#holder-result[data-state=failed]")
    assert page.get_attribute("#holder-result", "data-reasons") == "wrong_signer"
    assert HOLDER_PROOF_REASONS["wrong_signer"][0] in page.inner_text("#holder-result")
    # the holder answers: proven
    mine = _answer(world, challenge_url)
    assert httpx.post(f"{served}/api/v1/presentations", json=mine).status_code == 201
    page.wait_for_selector("#holder-result[data-state=ok]")
    assert page.inner_text("#holder-result") == "提示者はこの証明書のアドレスの鍵を持っています"
    page.context.close()


def test_holder_proof_answers_pasted_from_disk(verifier: Verifier, browser: Browser, console: Console) -> None:
    """Opened from disk with no site to poll (the certificate names none): answers are pasted.
    A replayed, an expired, a foreign and another desk's answer are each named, as in Python."""
    world = verifier.world
    nowhere = f"http://127.0.0.1:{free_port()}"
    certificate = dataclasses.replace(world.sign(world.draft()), site=nowhere)
    page = open_page(browser, console, verifier.file_url, PHONE, allow=("ERR_CONNECTION_REFUSED",))
    verify_in_page(
        page, write(verifier.tmp, certificate, "with-site"), rpc=world.rpc_url, ledger=world.deployment.ledger
    )
    page.fill("#holder-audience", "長岡市役所")
    page.click("#holder-start")
    first = page.get_attribute("#holder-qr", "data-url") or ""
    assert first.startswith(f"{nowhere}/present?n=0x")
    page.wait_for_selector("#holder-result[data-state=unreachable]")
    old_answer = _answer(world, first)
    page.click("#holder-start")  # a new challenge: the first answer is now a replay
    challenge = page.get_attribute("#holder-qr", "data-url") or ""
    assert challenge != first
    query = parse_qs(urlsplit(challenge).query)
    nonce, expires_at = query["n"][0], int(query["e"][0])

    def pasted(answer: object) -> tuple[str, list[str]]:
        page.fill("#holder-paste", json.dumps(answer, ensure_ascii=False))
        page.click("#holder-check")
        result = page.locator("#holder-result")
        state = result.get_attribute("data-state") or ""
        reasons = result.get_attribute("data-reasons") or ""
        return state, [r for r in reasons.split(",") if r]

    def python(answer: dict[str, Any]) -> list[str]:
        return verify_holder_proof(
            answer,
            chain_id=31337,
            ledger=world.deployment.ledger,
            holder=world.person.address,
            nonce=nonce,
            now=int(time.time()),
            audience="長岡市役所",
        )

    page.click("summary")
    good = _answer(world, challenge)
    assert pasted(good) == ("ok", []) and python(good) == []
    assert pasted(old_answer) == ("failed", ["wrong_nonce"]) == ("failed", python(old_answer))
    theirs = _answer(world, challenge, key=world.other)
    assert pasted(theirs) == ("failed", ["wrong_signer"]) == ("failed", python(theirs))
    # an answer whose expiry was moved: expired, and its signature no longer the holder's
    stale = {**good, "expires_at": expires_at - 3_600}
    assert pasted(stale) == ("failed", python(stale)) and python(stale) == ["expired", "wrong_signer"]
    garbled = {**good, "signature": "0x" + "00" * 65}
    assert pasted(garbled) == ("failed", ["bad_signature"]) == ("failed", python(garbled))
    # signed for another desk's audience: refused, by the page and by Python alike
    elsewhere = dict(good)
    document = holder_proof_typed_data(
        31337, world.deployment.ledger, world.person.address, nonce, expires_at, "別の窓口"
    )
    elsewhere.update(audience="別の窓口", signature=sign_typed(document, world.person.key))
    assert pasted(elsewhere) == ("failed", ["wrong_audience"]) == ("failed", python(elsewhere))
    assert pasted("not an answer")[0] == "failed"
    page.context.close()


# ---------------------------------------------------------------------------------------------
# Building: what the page trusts when the app cannot say, and hostile settings
# ---------------------------------------------------------------------------------------------


def _config_of(html: str) -> dict[str, Any]:
    found = re.findall(r'<script type="application/json" id="verifier-config">(.*?)</script>', html, re.DOTALL)
    assert len(found) == 1
    config: dict[str, Any] = json.loads(found[0])
    return config


def test_a_built_page_cannot_be_broken_out_of_by_its_settings() -> None:
    """The site and node URLs are settings, not code: a value with HTML in it stays data."""
    site = "https://example.jp/--></script><script>alert(1)</script><!--"
    page = build_verifier_page(chain_id=None, ledger=None, rpc_url=site, site=site)
    assert len(_inline_scripts(page.html)) == len(LIBRARIES) + 2
    assert page.html.count("</script>") == len(LIBRARIES) + 3  # the libraries, ours and the config
    head = page.html[: page.html.index("<html")]
    assert head.count("-->") == 1 and "<script" not in head
    config = _config_of(page.html)
    assert config["site"] == site and config["rpc_url"] == site
    assert config["chain_id"] is None and config["ledger"] is None
    # the same inputs build the same file (its hash can be compared with anyone else's copy)
    assert build_verifier_html(chain_id=None, ledger=None, rpc_url=site, site=site) == page.html


def test_the_served_page_when_the_node_is_down(tmp_path: Path, verifier: Verifier) -> None:
    """Served while the node is down: it trusts the deployments file's ledger; with no file, none
    (the page then asks for the ledger)."""
    from api.app import create_app
    from ledger.chain.deploy import save_deployment
    from ledger.settings import Settings
    from tests.console.conftest import serving

    down = f"http://127.0.0.1:{free_port()}"
    deployments = tmp_path / "deployments"
    for known in (False, True):
        if known:
            save_deployment(deployments, verifier.world.deployment)
        settings = Settings(
            db={"url": f"sqlite:///{tmp_path / 'down.db'}"},  # type: ignore[arg-type]
            chain={"backend": "rpc", "rpc_url": down, "deployments_dir": deployments},  # type: ignore[arg-type]
        )
        app = create_app(settings)
        try:
            with serving(app) as base_url:
                answer = httpx.get(f"{base_url}/verify/certificate")
        finally:
            app.state.engine.dispose()
        assert answer.status_code == 200
        config = _config_of(answer.text)
        assert config["rpc_url"] == down
        if known:
            assert (config["chain_id"], config["ledger"]) == (31337, verifier.world.deployment.ledger)
        else:
            assert (config["chain_id"], config["ledger"]) == (None, None)


# ---------------------------------------------------------------------------------------------
# Any JSON-RPC endpoint: a node that refuses batches, and one that fails one call
# ---------------------------------------------------------------------------------------------


class _Node(BaseHTTPRequestHandler):
    """A JSON-RPC endpoint in front of anvil that refuses batch requests and fails the receipt of
    one transaction, as some public nodes and overloaded ones do; it counts what it was sent."""

    upstream: str = ""
    failing_tx: str = ""
    seen: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _send(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "content-type")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_OPTIONS(self) -> None:
        self._send(204)

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if isinstance(request, list):
            self.seen.append("batch")
            refusal = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batch not supported"}}
            self._send(200, json.dumps(refusal).encode())
            return
        self.seen.append(request["method"])
        if request["method"] == "eth_getTransactionReceipt" and request["params"][0] == self.failing_tx:
            answer = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32000, "message": "overloaded"}}
            self._send(200, json.dumps(answer).encode())
            return
        self._send(200, httpx.post(self.upstream, json=request, timeout=10).content)


def test_a_node_without_batches_that_fails_one_call(verifier: Verifier, phone: Page) -> None:
    world = verifier.world
    certificate = world.sign(world.draft())
    failing = certificate.records[0].tx_hash
    handler = type("Node", (_Node,), {"upstream": world.rpc_url, "failing_tx": failing, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        outcome = verify_in_page(
            phone, write(verifier.tmp, certificate, "via-node"), rpc=url, ledger=world.deployment.ledger
        )
        page_calls = list(handler.seen)
        handler.seen.clear()
        assert outcome == python_check(world, certificate, rpc_url=url)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    # the receipt's transaction holds the first two records: both lines name the node's failure
    same_tx = [n for n, r in enumerate(certificate.records, start=1) if r.tx_hash == failing]
    assert outcome.lines == {n: ("failed", ["rpc_error"]) if n in same_tx else ("ok", []) for n in range(1, 5)}
    assert not outcome.valid
    # one batch was tried, refused, and never again: every answer came from a single call
    assert page_calls[0] == "batch" and page_calls.count("batch") == 1
    assert {"eth_chainId", "eth_getCode", "eth_getBlockByNumber", "eth_call"} <= set(page_calls)
