"""The participant's side of the certificate, in a real browser (Debian chromium via Playwright).

A phone holding the participant's key (stored as the claim page stores it after a check-in) opens
its つながり page, served by the real app over HTTP against anvil (tests/certificate/world.py:
three designated activities and an ordinary one in 館山, one in 長岡, indexed): it makes the 館山
certificate, signed in the page; the downloaded JSON verifies against the node with the Premium
verdict, the PDF link serves a PDF. It answers a verifier's challenge on /present (the answer
reaches /api/v1/presentations and proves the key), and opts in and out of being listed to 館山's
staff. Without the key, and with a bad or expired challenge link, the pages explain in Japanese.
The whole path from a kiosk check-in is the lead's test (tests/browser); this one is lighter.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from ledger.certificate.issue import today_jst
from ledger.certificate.model import parse_certificate
from ledger.certificate.typed import certificate_typed_data, recover_typed
from ledger.certificate.verify import verify_certificate, verify_holder_proof
from tests.browser.conftest import PHONE, Console
from tests.certificate.world import NAGAOKA, TATEYAMA, CertificateWorld, certificate_world, served_app
from tests.pdf_streams import inflated_streams

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

AUDIENCE = "館山市 ふるさと住民登録窓口"


@dataclass
class Served:
    world: CertificateWorld
    url: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("certificate-browser")
    with certificate_world(root) as world, served_app(world, root) as url:
        yield Served(world, url)


def phone(browser: Browser, served: Served, *, with_key: bool = True) -> BrowserContext:
    """A phone; with the participant's key where the claim page keeps it (localStorage)."""
    context = browser.new_context(**PHONE, accept_downloads=True)  # type: ignore[arg-type]
    if with_key:
        person = served.world.person
        key = {"address": person.address, "privateKey": "0x" + bytes(person.key).hex(), "backedUp": True}
        context.add_init_script(f"localStorage.setItem('tsunagari.key.v1', {json.dumps(json.dumps(key))})")
    return context


def test_a_phone_makes_its_tateyama_certificate(
    served: Served, browser: Browser, console: Console, tmp_path: Path
) -> None:
    world = served.world
    context = phone(browser, served)
    page = console.watch(context.new_page(), "people")
    page.goto(f"{served.url}/people/{world.person.address}")
    section = page.locator("section#certificate")
    expect(section).to_be_visible()
    expect(page.locator("#certificate-no-key")).to_be_hidden()
    options = page.locator("#certificate-region option")
    assert sorted(options.evaluate_all("os => os.map(o => o.value)")) == sorted([str(TATEYAMA), str(NAGAOKA)])
    expect(page.locator("#certificate-status")).to_have_attribute("data-state", "idle")

    # a range that ends before it starts is refused in the page, before anything is signed
    page.locator("#certificate-region").select_option(str(TATEYAMA))
    page.locator("#certificate-from").fill("2026-03-02")
    page.locator("#certificate-to").fill("2026-03-01")
    page.locator("#certificate-button").click()
    expect(page.locator("#certificate-status")).to_have_attribute("data-state", "error")
    expect(page.locator("#certificate-message")).to_contain_text("開始日を終了日より前")

    # the default range: the last 12 months
    page.locator("#certificate-from").fill("")
    page.locator("#certificate-to").fill("")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/certificates") and r.request.method == "POST") as saved:
        page.locator("#certificate-button").click()
    assert saved.value.status == 201, saved.value.text()
    expect(page.locator("#certificate-status")).to_have_attribute("data-state", "ready")
    expect(page.locator("#certificate-verdict")).to_have_text("指定活動 3件（直近12か月）")
    expect(page.locator("#certificate-premium")).to_contain_text("要件（指定活動が年3件以上）を満たしています")
    expect(page.locator("#certificate-records")).to_contain_text("記録 4件")
    page.screenshot(path=str(tmp_path / "certificate-ready.png"), full_page=True)

    # the JSON: downloaded, signed by the person's key in the page, and it verifies on the node
    with page.expect_download() as download:
        page.locator("#certificate-json").click()
    saved_file = tmp_path / "certificate.json"
    download.value.save_as(saved_file)
    raw = saved_file.read_bytes()
    certificate = parse_certificate(raw)
    assert certificate.holder == world.person.address and certificate.municipality.region == TATEYAMA
    assert [r.name for r in certificate.records] == ["田植え体験", "棚田の草刈り", "海岸清掃", "朝市のお手伝い"]
    assert certificate.signature is not None
    assert recover_typed(certificate_typed_data(certificate), certificate.signature) == world.person.address
    rpc = world.rpc()
    try:
        report = verify_certificate(certificate, rpc, trusted_ledger=world.deployment.ledger, as_of=today_jst())
    finally:
        rpc.close()
    assert report.valid and report.premium, report.to_json()

    # the PDF and the verifier link name the same certificate (its id is the file's sha256)
    certificate_id = hashlib.sha256(raw).hexdigest()
    expect(page.locator("#certificate-verify")).to_have_attribute("href", f"/verify/certificate?c={certificate_id}")
    pdf_href = page.locator("#certificate-pdf").get_attribute("href")
    assert pdf_href == f"/api/v1/certificates/{certificate_id}/pdf"
    pdf = page.request.get(served.url + pdf_href, timeout=60_000)
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")
    assert raw in inflated_streams(pdf.body())  # the JSON file is attached inside, byte for byte
    context.close()


def test_without_the_key_the_page_explains_and_offers_nothing(
    served: Served, browser: Browser, console: Console
) -> None:
    context = phone(browser, served, with_key=False)
    page = console.watch(context.new_page(), "people without key")
    page.goto(f"{served.url}/people/{served.world.person.address}")
    expect(page.locator("#certificate-no-key")).to_be_visible()
    expect(page.locator("#certificate-no-key")).to_contain_text("チェックインに使ったスマートフォン")
    expect(page.locator("#certificate-button")).to_be_disabled()
    expect(page.locator("#listing-no-key")).to_be_visible()
    expect(page.locator(f"#listing-in-{TATEYAMA}")).to_be_disabled()
    page.locator("#certificate-privacy summary").click()
    expect(page.locator("#certificate-privacy")).to_contain_text("選んだひとつの自治体")
    context.close()


def challenge_url(served: Served, nonce: str, expires_at: int, audience: str = AUDIENCE) -> str:
    return f"{served.url}/present?n={nonce}&e={expires_at}&a={quote(audience)}"


def presentations(served: Served, nonce: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{served.url}/api/v1/presentations/{nonce}", timeout=10)
    assert answer.status_code == 200
    found: list[dict[str, object]] = answer.json()["presentations"]
    return found


def test_the_phone_answers_a_verifiers_challenge(
    served: Served, browser: Browser, console: Console, tmp_path: Path
) -> None:
    world = served.world
    nonce = "0x" + os.urandom(32).hex()
    expires_at = int(time.time()) + 600
    context = phone(browser, served)
    page = console.watch(context.new_page(), "present")
    page.goto(challenge_url(served, nonce, expires_at))
    expect(page.locator("#present-audience")).to_have_text(AUDIENCE)
    expect(page.locator("#present-address")).to_have_text(world.person.address)
    expect(page.locator("#present-remaining")).to_contain_text("あと約")
    assert presentations(served, nonce) == []
    page.locator("#present-button").click()
    expect(page.locator("#present-status")).to_have_attribute("data-state", "sent")
    expect(page.locator("#present-message")).to_have_text("送りました。確認する人の画面を見てください。")
    page.screenshot(path=str(tmp_path / "present-sent.png"), full_page=True)
    [answer] = presentations(served, nonce)
    assert answer["holder"] == world.person.address and answer["audience"] == AUDIENCE
    reasons = verify_holder_proof(
        answer,
        chain_id=31337,
        ledger=world.deployment.ledger,
        holder=world.person.address,
        nonce=nonce,
        now=int(time.time()),
    )
    assert reasons == []
    context.close()


def test_bad_links_no_key_and_no_network_are_explained(served: Served, browser: Browser, console: Console) -> None:
    nonce = "0x" + os.urandom(32).hex()
    context = phone(browser, served)
    page = console.watch(context.new_page(), "present", allow=("net::ERR_FAILED",))
    status = page.locator("#present-status")

    page.goto(challenge_url(served, nonce, int(time.time()) - 5))
    expect(status).to_have_attribute("data-error", "expired")
    expect(page.locator("#present-message")).to_contain_text("期限が切れています")
    expect(page.locator("#present-button")).to_be_disabled()

    page.goto(f"{served.url}/present?n=0x1234&e=soon")
    expect(status).to_have_attribute("data-error", "malformed")
    expect(page.locator("#present-message")).to_contain_text("このリンクは正しくありません")
    expect(page.locator("#present-button")).to_have_count(0)

    page.route("**/api/v1/presentations", lambda route: route.abort())
    page.goto(challenge_url(served, nonce, int(time.time()) + 600))
    page.locator("#present-button").click()
    expect(status).to_have_attribute("data-error", "network")
    expect(page.locator("#present-message")).to_contain_text("通信できませんでした")
    expect(page.locator("#present-button")).to_be_enabled()  # try again when the signal is back
    assert presentations(served, nonce) == []
    context.close()

    keyless = phone(browser, served, with_key=False)
    page = console.watch(keyless.new_page(), "present without key")
    page.goto(challenge_url(served, nonce, int(time.time()) + 600))
    expect(page.locator("#present-status")).to_have_attribute("data-error", "no_key")
    expect(page.locator("#present-message")).to_contain_text("この端末のブラウザには鍵がありません")
    expect(page.locator("#present-button")).to_be_disabled()
    keyless.close()


def listed(served: Served) -> list[dict[str, object]]:
    answer = httpx.get(f"{served.url}/api/v1/people/{served.world.person.address}/listings", timeout=10)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, object]] = answer.json()["listings"]
    return found


def open_listing(page: Page, served: Served) -> None:
    page.goto(f"{served.url}/people/{served.world.person.address}")
    expect(page.locator(f"#listing-state-{TATEYAMA}")).not_to_have_attribute("data-listed", "unknown")


def test_opt_in_and_out_of_the_eligibility_listing(served: Served, browser: Browser, console: Console) -> None:
    context = phone(browser, served)
    page = console.watch(context.new_page(), "listing")
    open_listing(page, served)
    state = page.locator(f"#listing-state-{TATEYAMA}")
    expect(state).to_have_attribute("data-listed", "false")
    expect(page.locator(f"#listing-out-{TATEYAMA}")).to_be_disabled()

    page.locator(f"#listing-in-{TATEYAMA}").click()  # no contact yet: asked for one, nothing signed
    expect(page.locator(f"#listing-status-{TATEYAMA}")).to_have_attribute("data-state", "error")
    assert listed(served) == []

    page.locator(f"#listing-contact-{TATEYAMA}").fill("taro@example.jp")
    with page.expect_response(lambda r: r.url.endswith("/listings") and r.request.method == "POST") as posted:
        page.locator(f"#listing-in-{TATEYAMA}").click()
    assert posted.value.ok, posted.value.text()
    expect(page.locator(f"#listing-status-{TATEYAMA}")).to_have_attribute("data-state", "done")
    expect(state).to_have_attribute("data-listed", "true")
    assert listed(served) == [{"region": TATEYAMA, "code": f"{TATEYAMA:05d}", "listed": True}]
    assert "taro@example.jp" not in json.dumps(listed(served))  # the contact is never sent back

    open_listing(page, served)  # the state comes back from the server on a new visit
    expect(state).to_have_attribute("data-listed", "true")
    expect(page.locator(f"#listing-state-{NAGAOKA}")).to_have_attribute("data-listed", "false")
    page.locator(f"#listing-out-{TATEYAMA}").click()
    expect(page.locator(f"#listing-status-{TATEYAMA}")).to_have_attribute("data-state", "done")
    expect(page.locator(f"#listing-status-{TATEYAMA}")).to_contain_text("連絡先は消去されました")
    expect(state).to_have_attribute("data-listed", "false")
    assert listed(served) == []
    context.close()


WALLET = """
window.__walletCalls = [];
window.ethereum = {
  request: async ({ method, params }) => {
    window.__walletCalls.push(method);
    const wallet = new window.ethers.Wallet(%(key)s);
    if (method === "eth_requestAccounts") return [wallet.address.toLowerCase()];
    if (method === "eth_signTypedData_v4") {
      const typed = JSON.parse(params[1]);
      const types = Object.assign({}, typed.types);
      delete types.EIP712Domain;
      return wallet.signTypedData(typed.domain, types, typed.message);
    }
    throw new Error("unsupported " + method);
  },
};
localStorage.setItem("tsunagari.mode.v1", JSON.stringify("wallet"));
localStorage.setItem("tsunagari.wallet.v1", JSON.stringify({ address: %(address)s }));
"""


def test_a_wallet_signs_instead_of_the_browser_key(served: Served, browser: Browser, console: Console) -> None:
    """The claim page's wallet mode (window.ethereum, eth_signTypedData_v4): here a stand-in wallet
    that signs with the person's key, and no browser key at all."""
    person = served.world.person
    context = phone(browser, served, with_key=False)
    context.add_init_script(
        WALLET % {"key": json.dumps("0x" + bytes(person.key).hex()), "address": json.dumps(person.address)}
    )
    page = console.watch(context.new_page(), "wallet")
    page.goto(f"{served.url}/people/{person.address}")
    expect(page.locator("#certificate-no-key")).to_be_hidden()
    page.locator("#certificate-region").select_option(str(TATEYAMA))
    page.locator("#certificate-button").click()
    expect(page.locator("#certificate-status")).to_have_attribute("data-state", "ready")
    expect(page.locator("#certificate-verdict")).to_have_text("指定活動 3件（直近12か月）")
    assert page.evaluate("window.__walletCalls") == ["eth_requestAccounts", "eth_signTypedData_v4"]
    context.close()


def test_the_present_page_is_strict_and_speaks_english(served: Served) -> None:
    answer = httpx.get(f"{served.url}/present?n=0x{'ab' * 32}&e=4102444800&a=Tateyama%20desk&lang=en", timeout=10)
    assert answer.status_code == 200
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "unsafe-inline" not in answer.headers["content-security-policy"]
    assert "Show that you are the holder" in answer.text and "Tateyama desk" in answer.text
    for tag in re.findall(r"<script[^>]*>", answer.text):  # no inline code: files, or JSON data
        assert ' src="/' in tag or 'type="application/json"' in tag, tag
    assert " style=" not in answer.text
    controls = httpx.get(f"{served.url}/present?n=0x{'ab' * 32}&e=1&a=%01", timeout=10)
    assert "このリンクは正しくありません" in controls.text  # a control character in the audience
