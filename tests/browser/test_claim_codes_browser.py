"""Single-use claim codes as staff and donors live them, in a real browser (Debian chromium via
Playwright), against the real app on anvil with the relayer running and the indexer run by the
test (tests/checkin/presence_world.py).

館山's staff member signs in to the console, generates three codes for 館山's ふるさと納税 activity
on its 単回コード page and opens the batch's A4 print sheet, from which a code is read. A donor's
phone (390×844) opens the code's claim page, as the letter's QR code does, and sees 「お礼状のコード」,
「受け付けました」, the coins confirmed on chain and then
indexed. The same code on another phone (another key) is explained as used; a code typed by hand
(lower case, hyphens) at ``/c`` works. Any console error or uncaught exception fails the test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from playwright.sync_api import Browser, BrowserContext, Page, expect

from ledger.db.engine import write_transaction
from ledger.staff import accounts
from ledger.staff.roles import Actor
from tests.browser.conftest import DONE, PHONE, Console
from tests.checkin.presence_world import TATEYAMA, CodesWorld, codes_world
from tests.console.conftest import PASSWORD

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

INDEXED = "#status[data-state=indexed]"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodesWorld]:
    with codes_world(tmp_path_factory.mktemp("codes-browser"), relay=True) as built:
        yield built


def phone(browser: Browser, *, key_of: LocalAccount | None = None) -> BrowserContext:
    """A phone; with ``key_of``'s key where the claim page keeps it (a phone that has claimed before)."""
    context = browser.new_context(**PHONE)  # type: ignore[arg-type]
    if key_of is not None:
        key = {"address": key_of.address, "privateKey": "0x" + bytes(key_of.key).hex(), "backedUp": True}
        context.add_init_script(f"localStorage.setItem('tsunagari.key.v1', {json.dumps(json.dumps(key))})")
    return context


def print_codes(world: CodesWorld, browser: Browser, console: Console, tmp_path: Path) -> list[str]:
    """館山's staff member signs in to the console and reads three new codes off the print sheet."""
    with write_transaction(world.engine) as conn:
        invite = accounts.create_account(
            conn,
            Actor.cli(),
            login="furusato@tateyama.example",
            display_name="館山 ふるさと納税担当",
            role="staff",
            region=TATEYAMA,
            settings=world.settings.console,
        )
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = console.watch(context.new_page(), "console")
    page.goto(f"{world.base_url}/console/invite/{invite.token}")
    page.locator("#password").fill(PASSWORD)
    page.locator("#password_again").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/console/regions/12205"))

    # The staff member generates three codes on the activity's 単回コード page and prints them.
    activity_id = world.activities["furusato"]
    page.goto(f"{world.base_url}/console/regions/{TATEYAMA:05d}/activities/{activity_id}/codes")
    page.locator("#codes-count").fill("3")
    page.locator("#codes-label").fill("2026年12月 お礼状")
    page.locator("form.stack button[type=submit]").click()
    batch_row = page.locator("tr[id^=batch-]").first
    expect(batch_row).to_contain_text("2026年12月 お礼状")
    batch_id = int((batch_row.get_attribute("id") or "").removeprefix("batch-"))
    page.goto(f"{world.base_url}/console/regions/{TATEYAMA:05d}/code-batches/{batch_id}/sheet")
    cards = page.locator(".code-card")
    expect(cards).to_have_count(3)
    expect(cards.first.locator(".code-card-activity")).to_have_text("館山市へのふるさと納税")
    expect(cards.first.locator(".code-card-qr svg")).to_be_visible()
    page.screenshot(path=str(tmp_path / "code-sheet.png"), full_page=True)
    printed = [text.strip() for text in page.locator(".code-card-code").all_inner_texts()]
    context.close()
    assert all(re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", code) for code in printed), printed
    return printed


def open_code(page: Page, url: str) -> int:
    """Open a claim page and return the status of the claim the page posts."""
    with page.expect_response(lambda r: r.url.endswith("/api/v1/claims") and r.request.method == "POST") as posted:
        page.goto(url)
    return posted.value.status


def test_staff_print_codes_a_phone_redeems_one(
    world: CodesWorld, browser: Browser, console: Console, tmp_path: Path
) -> None:
    printed = print_codes(world, browser, console, tmp_path)
    first = printed[0]
    canonical = first.replace("-", "")
    claim_url = world.service.claim_url(canonical)  # what the QR code on the letter holds

    # The donor's phone opens the letter's QR code.
    donor_context = phone(browser)
    donor = console.watch(donor_context.new_page(), "donor")
    assert open_code(donor, claim_url) == 202
    expect(donor.locator("#status-headline")).to_have_text("受け付けました", timeout=5_000)
    expect(donor.locator("#code-box")).to_be_visible()
    expect(donor.locator("#code-box .code-label")).to_have_text("お礼状のコード")
    expect(donor.locator("#code-display")).to_have_text(first)
    expect(donor.locator("#code-expiry")).to_contain_text("有効期限")
    expect(donor.locator("#activity-name")).to_have_text("館山市へのふるさと納税")
    donor.wait_for_selector(DONE, timeout=30_000)
    expect(donor.locator("#status-headline")).to_have_text("コインが届きました")
    expect(donor.locator("#status-detail")).to_contain_text("500コイン")
    address = donor.evaluate("() => JSON.parse(localStorage.getItem('tsunagari.key.v1')).address")
    assert [(c[2], c[3]) for c in world.claims_of(address, "furusato")] == [(1, "confirmed")]
    assert world.code_state(canonical) == "redeemed"
    world.index()
    donor.wait_for_selector(INDEXED, timeout=20_000)
    assert world.indexed_units(address, "furusato") == [1]
    donor.screenshot(path=str(tmp_path / "code-confirmed.png"), full_page=True)

    # The same code on someone else's phone (a key of its own): used, and nothing is recorded.
    other_person: LocalAccount = Account.create()
    other_context = phone(browser, key_of=other_person)
    other = console.watch(other_context.new_page(), "other phone", allow=("status of 409",))
    assert open_code(other, claim_url) == 409
    expect(other.locator("#status")).to_have_attribute("data-state", "error")
    expect(other.locator("#status")).to_have_attribute("data-error", "code_used")
    expect(other.locator("#status-detail")).to_contain_text("このコードはすでに使われています")
    expect(other.locator("#code-entry-link")).to_be_visible()
    assert world.claims_of(other_person.address) == []

    # A phone without a key opening a used code is told so before any key is made.
    fresh_context = phone(browser)
    fresh = console.watch(fresh_context.new_page(), "fresh phone")
    fresh.goto(claim_url)
    expect(fresh.locator("#status")).to_have_attribute("data-error", "code_used")
    assert fresh.evaluate("() => localStorage.getItem('tsunagari.key.v1')") is None

    # The donor reloads in English: the same claim, from what the page remembered.
    donor.goto(claim_url + "?lang=en")
    donor.wait_for_selector(DONE, timeout=10_000)
    expect(donor.locator("#status-headline")).to_have_text("Your coins have arrived")
    assert len(world.claims_of(address)) == 1

    for context in (donor_context, other_context, fresh_context):
        context.close()


def test_a_code_typed_by_hand(world: CodesWorld, browser: Browser, console: Console) -> None:
    _, issued = world.code_batch("furusato2", 2)
    typed = issued[0].display.lower()  # as read from the letter: lower case, with hyphens
    context = phone(browser)
    page = console.watch(context.new_page(), "typing")
    page.goto(f"{world.base_url}/c")
    field = page.locator("#code-input")
    expect(field).to_have_attribute("autocapitalize", "characters")
    expect(field).to_have_attribute("placeholder", "XXXX-XXXX-XXXX-XXXX")
    # a typo is caught on the form, before anything is looked up
    wrong = typed[:-1] + ("0" if typed[-1] != "0" else "1")
    field.fill(wrong)
    page.get_by_role("button", name="コードを使う").click()
    expect(page.locator("#code-error")).to_contain_text("打ち間違い")
    expect(page.locator("#code-input")).to_have_value(wrong)
    page.locator("#code-input").fill(typed)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/claims") and r.request.method == "POST") as posted:
        page.get_by_role("button", name="コードを使う").click()
    assert posted.value.status == 202
    assert page.url == f"{world.base_url}/c/{issued[0].code}"
    expect(page.locator("#code-display")).to_have_text(issued[0].display)
    page.wait_for_selector(DONE, timeout=30_000)
    address = page.evaluate("() => JSON.parse(localStorage.getItem('tsunagari.key.v1')).address")
    assert [c[3] for c in world.claims_of(address, "furusato2")] == ["confirmed"]
    assert world.code_state(issued[1].code) == "issued"
    context.close()
