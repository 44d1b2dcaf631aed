"""The check-in as a participant lives it, in a real browser (Debian chromium via Playwright).

The whole stack runs as real processes (anvil with 1 s blocks, the API, the relayer, the indexer:
tests/stack.py). A kiosk screen shows the rotating QR code; a phone-sized browser opens the URL in
it, gets a key created in the page, signs, sees 「受け付けました」 and then the coin confirmed on
chain; the language switch keeps the claim; a second device restores the key from the recovery
phrase. Any console error or uncaught exception in a page fails the test.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Route, expect

from tests.browser.conftest import DONE, PHONE, Console
from tests.stack import DevStack

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


def new_phone(browser: Browser) -> BrowserContext:
    return browser.new_context(**PHONE)  # type: ignore[arg-type]


def test_scan_sign_accepted_confirmed_then_english(
    stack: DevStack, browser: Browser, console: Console, tmp_path: Path
) -> None:
    kiosk_context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    kiosk = console.watch(kiosk_context.new_page(), "kiosk")
    kiosk.goto(stack.kiosk_url())
    qr = kiosk.locator("#qr")
    expect(qr).to_have_attribute("data-claim-url", re.compile(r"^http://127\.0\.0\.1:\d+/c/[\w-]+$"))
    expect(qr.locator("svg")).to_be_visible()
    expect(kiosk.locator("#rotation-text")).to_contain_text("秒後")
    expect(kiosk.locator("#count-accepted")).to_have_text("0")
    claim_url = qr.get_attribute("data-claim-url")
    assert claim_url is not None

    # The participant's phone opens the URL in the QR code.
    phone_context = new_phone(browser)
    phone = console.watch(phone_context.new_page(), "phone")
    with phone.expect_response(lambda r: r.url.endswith("/api/v1/claims") and r.request.method == "POST") as posted:
        phone.goto(claim_url)
        phone.wait_for_function("() => localStorage.getItem('tsunagari.key.v1') !== null")
    assert posted.value.status == 202
    answered = time.monotonic()
    expect(phone.locator("#status-headline")).to_have_text("受け付けました", timeout=5_000)
    accepted_after = time.monotonic() - answered
    assert accepted_after < 1.0, f"「受け付けました」 {accepted_after:.2f} s after the 202"
    key = phone.evaluate("() => JSON.parse(localStorage.getItem('tsunagari.key.v1'))")
    address = key["address"]
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", address) and len(key["phrase"].split()) == 12
    assert posted.value.json()["participant"].lower() == address.lower()

    # Then the coin is confirmed on chain (relayer → anvil), with its transaction.
    phone.wait_for_selector(DONE, timeout=30_000)
    expect(phone.locator("#status-headline")).to_have_text("コインが届きました")
    tx_hash = phone.locator("#tx-hash").get_attribute("title")
    assert tx_hash is not None and re.fullmatch(r"0x[0-9a-f]{64}", tx_hash)
    expect(phone.locator("#tx-hash")).to_have_text(f"{tx_hash[:10]}…{tx_hash[-6:]}")
    expect(phone.locator("#people-link")).to_have_attribute("href", f"/people/{address}")
    expect(phone.locator("#backup-reminder")).to_be_visible()
    phone.screenshot(path=str(tmp_path / "phone-confirmed-ja.png"), full_page=True)
    claims = [c for c in stack.claims().values() if c[0].lower() == address.lower()]
    assert [status for _, status in claims] == ["confirmed"]
    receipt = stack.client.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    assert receipt["status"] == 1

    # The kiosk counts the check-in.
    expect(kiosk.locator("#count-accepted")).to_have_text("1", timeout=10_000)
    expect(kiosk.locator("#count-confirmed")).to_have_text("1", timeout=10_000)

    # English: the page reloads in English and shows the same claim, with the same key.
    phone.locator("a[data-lang=en]").click()
    expect(phone.locator("html")).to_have_attribute("lang", "en")
    phone.wait_for_selector(DONE, timeout=10_000)
    expect(phone.locator("#status-headline")).to_have_text("Your coins have arrived")
    expect(phone.locator("#key-title")).to_have_text("Your key")
    assert phone.evaluate("() => JSON.parse(localStorage.getItem('tsunagari.key.v1')).address") == address
    phone.screenshot(path=str(tmp_path / "phone-confirmed-en.png"), full_page=True)
    assert [c for c in stack.claims().values() if c[0].lower() == address.lower()] == claims

    # Scan the kiosk again (its current code): the page signs again and the server answers with
    # the existing claim (already claimed), which the page shows — never a second claim.
    rescan = qr.get_attribute("data-claim-url")
    assert rescan is not None
    phone.evaluate("() => localStorage.removeItem('tsunagari.claims.v1')")  # the page's memo of claims
    again = console.watch(phone_context.new_page(), "phone again", allow=("status of 409",))
    with again.expect_response(lambda r: r.url.endswith("/api/v1/claims") and r.request.method == "POST") as repeat:
        again.goto(rescan + "?lang=ja")
    assert repeat.value.status == 409
    assert repeat.value.json()["error"]["code"] in ("already_claimed", "replayed_request")
    again.wait_for_selector(DONE, timeout=15_000)
    expect(again.locator("#tx-hash")).to_have_attribute("title", tx_hash)
    assert len([c for c in stack.claims().values() if c[0].lower() == address.lower()]) == 1

    # Backup: the recovery phrase is shown on request.
    phone.locator("#backup summary").click()
    phone.locator("#reveal-phrase").click()
    words = phone.locator("#phrase-words li").all_inner_texts()
    assert " ".join(words) == key["phrase"]
    phone.locator("#confirm-backup").click()
    expect(phone.locator("#backup-reminder")).to_be_hidden()

    # Another device restores the key from those 12 words (on a page whose token is bad: no claim).
    other_context = new_phone(browser)
    other = console.watch(other_context.new_page(), "other device", allow=("status of 400",))
    other.goto(f"{stack.api_url}/c/not-a-token")
    expect(other.locator("#status")).to_have_attribute("data-state", "error")
    expect(other.locator("#status-detail")).to_contain_text("会場の画面をもう一度読み取ってください")
    other.locator("#restore summary").click()
    other.locator("#restore-phrase").fill("  " + "  ".join(words).upper() + "\n")
    other.locator("#restore-form button[type=submit]").click()
    expect(other.locator("#key-address")).to_have_attribute("title", address)
    other.locator("#restore-phrase").fill("not a valid phrase")
    other.locator("#restore-form button[type=submit]").click()
    expect(other.locator("#restore-error")).to_be_visible()

    for context in (kiosk_context, phone_context, other_context):
        context.close()


def test_kiosk_with_a_bad_session_says_so(stack: DevStack, browser: Browser, console: Console) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = console.watch(context.new_page(), "kiosk", allow=("status of 401",))
    page.goto(f"{stack.api_url}/kiosk/{stack.activity_id}?k=ks1.forged")
    expect(page.locator("main")).to_have_attribute("data-state", "session_invalid")
    expect(page.locator("#state-title")).to_have_text("This kiosk link cannot be used")
    context.close()


def test_a_lost_answer_is_retried_with_the_same_signed_body(
    stack: DevStack, browser: Browser, console: Console
) -> None:
    claim_url = f"{stack.api_url}/c/{stack.current_token(stack.kiosk_url())}"
    context = new_phone(browser)
    page = console.watch(context.new_page(), "phone", allow=("net::ERR_FAILED",))
    bodies: list[str] = []

    def flaky(route: Route) -> None:
        bodies.append(route.request.post_data or "")
        if len(bodies) == 1:
            route.abort()  # the first answer never arrives (Wi-Fi dropped)
        else:
            route.continue_()

    page.route("**/api/v1/claims", flaky)
    page.goto(claim_url)
    expect(page.locator("#status-headline")).to_have_text("受け付けました", timeout=15_000)
    assert len(bodies) == 2 and bodies[0] == bodies[1], "a retry must resend the same signed body"
    page.wait_for_selector(DONE, timeout=30_000)
    assert page.evaluate("() => localStorage.getItem('tsunagari.pending.v1')") == "{}"
    context.close()


def test_the_kiosk_keeps_its_code_when_offline(stack: DevStack, browser: Browser, console: Console) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 1280}, locale="ja-JP")
    page = console.watch(context.new_page(), "kiosk", allow=("net::ERR_FAILED",))
    page.goto(stack.kiosk_url())
    qr = page.locator("#qr")
    expect(qr).to_have_attribute("data-claim-url", re.compile(r"/c/"))
    page.route("**/frame?*", lambda route: route.abort())
    expect(page.locator("#offline-badge")).to_be_visible(timeout=10_000)
    expect(qr.locator("svg")).to_be_visible()  # the last code stays (valid for the grace period)
    expect(qr).to_have_attribute("data-claim-url", re.compile(r"/c/"))
    page.unroute("**/frame?*")
    expect(page.locator("#offline-badge")).to_be_hidden(timeout=15_000)
    expect(qr).to_have_attribute("data-claim-url", re.compile(r"/c/"))
    context.close()
