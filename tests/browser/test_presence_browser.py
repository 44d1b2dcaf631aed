"""Check-in and check-out as volunteers and visitors live them, in a real browser (Debian chromium
via Playwright), against the real app on anvil with the relayer running and the indexer run by the
test (tests/checkin/presence_world.py). The check-in service's clock is the test's: "3 hours later"
is the same server a moment later with its clock moved on.

A presence kiosk says that its one QR code serves arrival and departure and counts who is here;
a volunteer's phone scans it on arrival (recorded at once), and again 3 hours later, when the page
offers 「出発を記録する」 with the time spent; the departure records 3 hours, confirmed on chain with
units 3. A telework stay from day D-4 to day D records 5 days, which the つながり page shows as 5
visit days and the region's dashboard counts in the 「2〜7日」 band. Any console error fails a test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import DONE, PHONE, Console
from tests.checkin.presence_world import DAY, TATEYAMA, CodesWorld, codes_world

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

INDEXED = "#status[data-state=indexed]"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodesWorld]:
    with codes_world(tmp_path_factory.mktemp("presence-browser"), relay=True) as built:
        yield built


@pytest.fixture(autouse=True)
def wall_clock(world: CodesWorld) -> Iterator[None]:
    yield
    world.clock.offset_s = 0.0


def new_phone(browser: Browser) -> BrowserContext:
    return browser.new_context(**PHONE)  # type: ignore[arg-type]


def scan(page: Page, url: str) -> None:
    """Open a kiosk's claim URL and wait for what the page posts (an arrival posts at once)."""
    with page.expect_response(lambda r: r.url.endswith("/api/v1/claims") and r.request.method == "POST") as posted:
        page.goto(url)
    assert posted.value.status == 202, posted.value.text()


def depart(page: Page) -> dict[str, object]:
    button = page.locator("#depart-button")
    expect(button).to_be_visible()
    expect(button).to_have_text("出発を記録する")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/claims") and r.request.method == "POST") as posted:
        button.click()
    assert posted.value.status == 202, posted.value.text()
    answer: dict[str, object] = posted.value.json()
    sent = posted.value.request.post_data_json
    assert sent is not None and sent["intent"] == "depart"  # a departure is asked for, never guessed
    return answer


def test_a_volunteer_checks_in_and_out_and_is_rewarded_for_the_hours(
    world: CodesWorld, browser: Browser, console: Console, tmp_path: Path
) -> None:
    world.clock.offset_s = -3 * 3600  # the volunteer arrives 3 hours before now
    kiosk_context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP")
    kiosk = console.watch(kiosk_context.new_page(), "kiosk")
    kiosk.goto(world.kiosk_url("volunteer", 0))
    qr = kiosk.locator("#qr")
    expect(qr).to_have_attribute("data-claim-url", re.compile(r"/c/[\w-]{38}$"))
    expect(kiosk.locator("#presence-scan")).to_have_text("到着・出発どちらもこのQRコードで")
    expect(kiosk.locator("#activity-reward")).to_have_text("1時間あたり100コイン")
    expect(kiosk.locator("#count-present")).to_have_text("0")
    arrival_url = qr.get_attribute("data-claim-url")
    assert arrival_url is not None

    phone_context = new_phone(browser)
    phone = console.watch(phone_context.new_page(), "volunteer")
    scan(phone, arrival_url)
    status = phone.locator("#status")
    expect(status).to_have_attribute("data-state", "arrived")
    expect(phone.locator("#status-headline")).to_have_text("到着を記録しました")
    expect(phone.locator("#status-detail")).to_have_text("帰るときにもう一度QRコードを読み取ってください。")
    expect(phone.locator("#depart-button")).to_be_hidden()
    expect(phone.locator("#activity-reward")).to_have_text("1時間あたり100コイン")
    expect(kiosk.locator("#count-present")).to_have_text("1", timeout=10_000)
    address = phone.evaluate("() => JSON.parse(localStorage.getItem('tsunagari.key.v1')).address")
    assert world.claims_of(address) == []  # an arrival records nothing yet
    # the same QR code again (a reload): the arrival is shown from what the phone remembered
    phone.reload()
    expect(status).to_have_attribute("data-state", "arrived")

    # Three hours later the kiosk shows a newer code; the phone scans it and is offered the departure.
    # (The kiosk is reloaded: a rotation it fetched just before the clock moved would still carry a
    # code from three hours ago, which the departure rightly refuses as expired.)
    world.clock.offset_s = 0
    kiosk.reload()
    # a claim URL, and not the arrival's (the attribute is empty while the reloaded kiosk loads)
    newer = re.compile(r"/c/(?!" + re.escape(arrival_url.rsplit("/", 1)[1]) + r"$)[\w-]{38}$")
    expect(qr).to_have_attribute("data-claim-url", newer, timeout=15_000)
    departure_url = qr.get_attribute("data-claim-url")
    assert departure_url is not None and departure_url != arrival_url
    phone.goto(departure_url)
    expect(status).to_have_attribute("data-state", "depart")
    expect(phone.locator("#status-detail")).to_contain_text("から滞在中（3時間")
    phone.screenshot(path=str(tmp_path / "volunteer-depart.png"), full_page=True)
    answer = depart(phone)
    assert answer["status"] == "accepted" and answer["units"] == 3
    expect(phone.locator("#presence-note")).to_have_text("3時間のお手伝いを記録しました")
    phone.wait_for_selector(DONE, timeout=30_000)
    expect(phone.locator("#status-headline")).to_have_text("コインが届きました")
    expect(phone.locator("#status-detail")).to_contain_text("300コイン")
    expect(phone.locator("#presence-note")).to_have_text("3時間のお手伝いを記録しました")
    assert [(c[2], c[3]) for c in world.claims_of(address)] == [(3, "confirmed")]
    world.index()
    phone.wait_for_selector(INDEXED, timeout=20_000)
    assert world.indexed_units(address, "volunteer") == [3]  # ContributionRecorded(units = 3)
    expect(kiosk.locator("#count-present")).to_have_text("0", timeout=10_000)
    expect(kiosk.locator("#count-accepted")).to_have_text("1", timeout=10_000)
    phone.screenshot(path=str(tmp_path / "volunteer-confirmed.png"), full_page=True)
    for context in (kiosk_context, phone_context):
        context.close()


def test_a_five_day_stay_is_five_visit_days(
    world: CodesWorld, browser: Browser, console: Console, tmp_path: Path
) -> None:
    world.clock.offset_s = -4 * DAY  # arrival on day D-4
    context = new_phone(browser)
    phone = console.watch(context.new_page(), "stay")
    scan(phone, world.presence_claim_url("stay"))
    expect(phone.locator("#status")).to_have_attribute("data-state", "arrived")
    expect(phone.locator("#activity-reward")).to_have_text("1日あたり200コイン")
    address = phone.evaluate("() => JSON.parse(localStorage.getItem('tsunagari.key.v1')).address")

    world.clock.offset_s = 0  # departure on day D, at a kiosk link opened today
    phone.goto(world.presence_claim_url("stay"))
    expect(phone.locator("#status")).to_have_attribute("data-state", "depart")
    expect(phone.locator("#status-detail")).to_contain_text("から滞在中（5日目）")
    answer = depart(phone)
    assert answer["units"] == 5
    expect(phone.locator("#presence-note")).to_have_text("5日間の滞在を記録しました")
    phone.wait_for_selector(DONE, timeout=30_000)
    expect(phone.locator("#status-detail")).to_contain_text("1,000コイン")
    world.index()
    phone.wait_for_selector(INDEXED, timeout=20_000)
    assert world.indexed_units(address, "stay") == [5]

    # The つながり page: 5 visit days with 館山.
    phone.locator("#people-link").click()
    expect(phone).to_have_url(re.compile(rf"/people/{address}$"))
    frequency = phone.locator(f"#tie-{TATEYAMA} tr[data-component=frequency]")
    expect(frequency).to_contain_text("訪問 5日（2〜7日）")
    phone.screenshot(path=str(tmp_path / "stay-person.png"), full_page=True)

    # The region's dashboard counts this visitor in the 2〜7日 band (the only one in it here).
    dashboard_context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    dashboard = console.watch(dashboard_context.new_page(), "region")
    dashboard.goto(f"{world.base_url}/regions/{TATEYAMA}")
    band = dashboard.locator("#bands tr[data-band='2-7']")
    expect(band.locator("th")).to_have_text("2〜7日")
    expect(band.locator("td.n").first).to_have_text("1")
    for opened in (context, dashboard_context):
        opened.close()
