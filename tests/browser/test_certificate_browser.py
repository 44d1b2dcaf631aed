"""The ふるさと住民登録 evidence as people live it, on the whole stack (anvil with 1 s blocks, the API,
the relayer and the indexer as real processes) and Debian's chromium:

a phone checks in at three designated 担い手活動 and one ordinary activity of 館山 through kiosk QR
codes → makes its activity certificate on its つながり page (the browser key signs) and downloads the
JSON → staff download the standalone verifier → **the API server is stopped** → the verifier page,
opened from disk, and the CLI verify the certificate against the node alone: valid, Premium yes →
one record is revoked on chain → both now say Premium no, naming the revoked line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec
from ledger.taxonomy import ContributionKind
from tests.browser.conftest import DONE, PHONE, Console
from tests.stack import TATEYAMA, DevStack

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


def _check_in(phone: Page, stack: DevStack, activity_id: int) -> None:
    token = stack.current_token(stack.kiosk_url(activity_id))
    phone.goto(f"{stack.api_url}/c/{token}")
    phone.wait_for_selector(DONE, timeout=45_000)


def _indexed_records(stack: DevStack, address: str, want: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        history = httpx.get(f"{stack.api_url}/api/v1/people/{address}/history", timeout=10).json()
        if sum(1 for h in history if h["entry"] == "contribution") >= want:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{want} records of {address} not indexed after {timeout_s} s")


def _cli_verify(stack: DevStack, certificate: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGARI_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.cli",
            "certificate",
            "verify",
            str(certificate),
            "--rpc",
            stack.anvil.rpc_url,
            "--ledger",
            stack.deployment.ledger,
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _run_verifier(page: Page, verifier: Path, certificate: Path, rpc_url: str) -> None:
    page.goto(verifier.as_uri())
    page.locator("#verifier-file").set_input_files(str(certificate))
    page.locator("#verifier-rpc").fill(rpc_url)
    page.locator("#verifier-run").click()
    expect(page.locator("#verifier-result")).to_have_attribute("data-valid", "true", timeout=30_000)


def test_certificate_from_check_ins_to_a_verdict_without_our_server(
    stack: DevStack, browser: Browser, console: Console, tmp_path: Path
) -> None:
    admin = dev_account(2)
    now = int(time.time())
    designated = [
        stack.client.register_activity(
            admin,
            ActivitySpec(TATEYAMA, kind, 100, now - 600, now + 86_400, 0, designated=True),
        )
        for kind in (ContributionKind.FARMING_EXPERIENCE, ContributionKind.VOLUNTEERING, ContributionKind.PROJECT_HELP)
    ]
    phone_context = browser.new_context(**PHONE, accept_downloads=True)  # type: ignore[arg-type]
    phone = console.watch(phone_context.new_page(), "phone")
    for activity_id in [*designated, stack.activity_id]:  # three designated, then the ordinary festival
        _check_in(phone, stack, activity_id)
    address = phone.evaluate("() => JSON.parse(localStorage.getItem('tsunagari.key.v1')).address")
    _indexed_records(stack, address, 4)

    # The participant makes the certificate on the つながり page; the browser key signs it.
    phone.goto(f"{stack.api_url}/people/{address}")
    phone.locator("#certificate-region").select_option(str(TATEYAMA))
    phone.locator("#certificate-button").click()
    expect(phone.locator("#certificate-status")).to_have_attribute("data-state", "ready", timeout=30_000)
    expect(phone.locator("#certificate-verdict")).to_contain_text("指定活動 3件")
    with phone.expect_download() as downloaded:
        phone.locator("#certificate-json").click()
    certificate = tmp_path / "certificate.json"
    downloaded.value.save_as(certificate)
    document = json.loads(certificate.read_text(encoding="utf-8"))
    assert document["holder"].lower() == address.lower() and len(document["records"]) == 4
    assert document["signature"]["type"] == "EIP-712"
    pdf = httpx.get(stack.api_url + phone.locator("#certificate-pdf").get_attribute("href"), timeout=60)  # type: ignore[operator]
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # Staff keep a copy of the standalone verifier; then our server goes away.
    page_file = tmp_path / "tsunagari-verifier.html"
    page_file.write_bytes(httpx.get(f"{stack.api_url}/verify/certificate?download=1", timeout=30).content)
    stack.kill("api")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{stack.api_url}/health", timeout=2)

    desk = console.watch(browser.new_context(viewport={"width": 1024, "height": 768}).new_page(), "verifier")
    _run_verifier(desk, page_file, certificate, stack.anvil.rpc_url)
    result = desk.locator("#verifier-result")
    expect(result).to_have_attribute("data-premium", "true")
    expect(desk.locator("[data-line][data-status=ok]")).to_have_count(4)
    cli = _cli_verify(stack, certificate)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "): yes" in cli.stdout

    # A designated record is revoked on chain: both verifiers change their verdict.
    stack.client.revoke(admin, designated[1], address, 1)
    _run_verifier(desk, page_file, certificate, stack.anvil.rpc_url)
    expect(result).to_have_attribute("data-premium", "false")
    expect(desk.locator("[data-line='2']")).to_have_attribute("data-status", "revoked")
    cli = _cli_verify(stack, certificate)
    assert cli.returncode == 0 and "): no" in cli.stdout and "revoked lines (not counted): 2" in cli.stdout
    stack.start("api")
