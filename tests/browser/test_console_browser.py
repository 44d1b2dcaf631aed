"""The staff console as a municipality employee uses it, in a real browser (Debian chromium via
Playwright) against the whole stack as real processes (anvil with 1 s blocks, the API, the relayer,
the indexer: tests/stack.py).

A region admin signs in on a tablet, registers an activity through the form, opens its kiosk and
a phone checks in from the kiosk's QR code; the check-in appears in the live list; the admin posts
a named project, the participant supports it from their つながり page, the admin revokes the
check-in with a note; the audit shows the activity's name and the note, the CSV downloads and the
monthly report opens. Any console error or uncaught exception in a page fails the test.
"""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import text

from ledger.db.engine import write_transaction
from ledger.settings import ConsoleSettings
from ledger.staff import accounts
from ledger.staff.roles import Actor
from ledger.taxonomy import ContributionKind
from tests.browser.conftest import DONE, PHONE, Console
from tests.stack import TATEYAMA, DevStack

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

JST = timezone(timedelta(hours=9))
TABLET = {"viewport": {"width": 1024, "height": 768}, "locale": "ja-JP", "has_touch": True}
PASSWORD = "tateyama-staff-2026"
ACTIVITY = "棚田の田植え体験（ブラウザ試験）"
PROJECT = "棚田の石垣を直そう"
NOTE = "受付で別の方の端末を読み取ったため取消"


def _admin(stack: DevStack) -> str:
    """館山市's admin, created as the platform operator's CLI would, with the password set."""
    with write_transaction(stack.engine) as conn:
        invite = accounts.create_account(
            conn,
            Actor.cli(),
            login="kanri@tateyama.example",
            display_name="館山 管理者",
            role="admin",
            region=TATEYAMA,
            settings=ConsoleSettings(),
        )
    return invite.token


def _local(moment: datetime) -> str:
    return moment.astimezone(JST).strftime("%Y-%m-%dT%H:%M")


def _accept_dialogs(page: Page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def test_a_staff_member_runs_an_activity_end_to_end(
    stack: DevStack, browser: Browser, console: Console, tmp_path: Path
) -> None:
    base = stack.api_url
    token = _admin(stack)
    tablet_context = browser.new_context(**TABLET)  # type: ignore[arg-type]
    tablet = console.watch(tablet_context.new_page(), "console")
    _accept_dialogs(tablet)

    # The invite link sets the password and signs in; then sign out and in again with the form.
    tablet.goto(f"{base}/console/invite/{token}")
    tablet.locator("#password").fill(PASSWORD)
    tablet.locator("#password_again").fill(PASSWORD)
    tablet.locator("form button[type=submit]").click()
    expect(tablet).to_have_url(re.compile(r"/console/regions/12205"))
    expect(tablet.locator("h1")).to_contain_text("館山市")
    tablet.locator(".console-user button[type=submit]").click()  # ログアウト
    expect(tablet).to_have_url(re.compile(r"/console/login"))
    tablet.locator("#login").fill("kanri@tateyama.example")
    tablet.locator("#password").fill(PASSWORD)
    tablet.locator("form button[type=submit]").click()
    expect(tablet).to_have_url(re.compile(r"/console/regions/12205$"))

    # Register an activity through the form (kind from the Japanese list, JST date pickers).
    tablet.locator(".console-nav").get_by_role("link", name="活動", exact=True).click()
    tablet.locator("a.button.primary").click()
    now = datetime.now(JST)
    tablet.locator("#name").fill(ACTIVITY)
    tablet.locator("#venue").fill("大山千枚田")
    tablet.locator("#description").fill("苗を手で植えます。長靴をお持ちください。")
    tablet.locator("#kind").select_option(str(int(ContributionKind.FARMING_EXPERIENCE)))
    tablet.locator("#starts_at").fill(_local(now - timedelta(minutes=10)))
    tablet.locator("#ends_at").fill(_local(now + timedelta(hours=3)))
    tablet.locator("#reward").fill("100")
    tablet.locator("form.stack button[type=submit]").click()
    expect(tablet.locator(".notice.ok")).to_be_visible(timeout=30_000)
    expect(tablet.locator("h1")).to_contain_text(ACTIVITY)
    activity_url = tablet.url.split("?")[0]
    activity_id = int(activity_url.rsplit("/", 1)[1])

    # Open the kiosk: a link and a QR code for the venue's tablet.
    tablet.locator(f"form[action$='/{activity_id}/kiosk'] button[type=submit]").click()
    kiosk_url = tablet.locator("#kiosk-url").input_value()
    assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/kiosk/{activity_id}\?k=\S+", kiosk_url)
    expect(tablet.locator("img.qr")).to_be_visible()
    tablet.screenshot(path=str(tmp_path / "console-kiosk.png"), full_page=True)

    # A phone scans the kiosk's QR code and gets its coins.
    phone_context = browser.new_context(**PHONE)  # type: ignore[arg-type]
    phone = console.watch(phone_context.new_page(), "phone")
    phone.goto(f"{base}/c/{stack.current_token(kiosk_url)}")
    phone.wait_for_selector(DONE, timeout=40_000)
    address = phone.evaluate("() => JSON.parse(localStorage.getItem('tsunagari.key.v1')).address")
    short = f"{address[:6]}"

    # The check-in shows up in the live list (refreshed every 5 s) as recorded on chain.
    tablet.goto(activity_url)
    row = tablet.locator("#checkins tr", has_text=re.compile(short, re.I))
    expect(row).to_contain_text("記録済み", timeout=40_000)

    # A named project; the participant supports it from their つながり page.
    tablet.locator(".console-nav").get_by_role("link", name="プロジェクト", exact=True).click()
    tablet.locator("a.button.primary").first.click()
    tablet.locator("#name").fill(PROJECT)
    tablet.locator("#description").fill("大雨で崩れた石垣を、みんなで積み直します。")
    tablet.locator("#goal").fill("5000")
    tablet.locator("form.stack button[type=submit]").click()
    expect(tablet.locator(".notice.ok")).to_be_visible(timeout=30_000)
    project_id = int(tablet.url.split("?")[0].rsplit("/", 1)[1])
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:  # the indexer picks the project up
        with stack.engine.connect() as conn:
            if conn.execute(text("SELECT 1 FROM projects WHERE project_id = :p"), {"p": project_id}).first():
                break
        time.sleep(0.5)
    phone.goto(f"{base}/people/{address}")
    expect(phone.locator(f"#support-project option[value='{project_id}']")).to_contain_text(PROJECT)
    phone.locator("#support-project").select_option(str(project_id))
    phone.locator("#support-amount").fill("30")
    phone.locator("#support-button").click()
    expect(phone.locator("#support-status")).to_have_attribute("data-state", "confirmed", timeout=40_000)
    tablet.reload()
    deadline = time.monotonic() + 40
    while "30" not in (tablet.locator(".facts").first.inner_text() or "") and time.monotonic() < deadline:
        time.sleep(1)
        tablet.reload()
    expect(tablet.locator("main")).to_contain_text("30")

    # Revoke the check-in with a reason and a note (the note stays off chain, staff only).
    tablet.goto(activity_url)
    row = tablet.locator("#checkins tr", has_text=re.compile(short, re.I))
    row.locator("summary").click()
    row.locator("select[name=reason]").select_option("1")
    row.locator("textarea[name=note]").fill(NOTE)
    row.locator("form button[type=submit]").click()
    expect(tablet.locator(".notice.ok")).to_be_visible(timeout=30_000)

    # The audit names the activity, gives the reason and the note; the CSV downloads.
    month = now.strftime("%Y-%m")
    audit = f"{base}/console/regions/12205/audit"
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        tablet.goto(f"{audit}?tab=revocations&month={month}")
        if NOTE in tablet.locator("main").inner_text():
            break
        time.sleep(1)
    expect(tablet.locator("main")).to_contain_text(NOTE)
    expect(tablet.locator("main")).to_contain_text(ACTIVITY)
    tablet.goto(f"{audit}?tab=records&month={month}")
    expect(tablet.locator("main")).to_contain_text(ACTIVITY)
    expect(tablet.locator("main")).to_contain_text("田植え")
    with tablet.expect_download() as download:
        tablet.locator("a[download]").first.click()
    body = Path(download.value.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert any(ACTIVITY in cell for r in rows[1:] for cell in r), rows[:3]
    tablet.goto(f"{audit}?tab=actions")
    expect(tablet.locator("main")).to_contain_text("館山 管理者")

    # The monthly report for the mayor opens, named by the municipality.
    tablet.goto(f"{base}/console/regions/12205/reports/{month}")
    expect(tablet.locator("main")).to_contain_text("館山市")
    tablet.screenshot(path=str(tmp_path / "console-report.png"), full_page=True)

    for context in (tablet_context, phone_context):
        context.close()


def test_signing_in_with_a_wrong_password_says_so(stack: DevStack, browser: Browser, console: Console) -> None:
    context = browser.new_context(**TABLET)  # type: ignore[arg-type]
    page = console.watch(context.new_page(), "login", allow=("status of 401",))
    page.goto(f"{stack.api_url}/console/regions/12205/activities")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.locator("#login").fill("nobody@example.jp")
    page.locator("#password").fill("not the password")
    page.locator("form button[type=submit]").click()
    expect(page.locator("#login-error")).to_contain_text("違います")
    context.close()
