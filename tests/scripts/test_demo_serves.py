"""The README's main command (``tsunagari demo``) serves the kiosk and claim pages with the relayer
and indexer running: simulated phones that scan its kiosk end up on chain and in the index, and a
headless chromium that follows the kiosk's QR URL creates a key, claims and reaches "confirmed"."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger.chain.devnet import free_port
from scripts.simulate import simulate_checkins

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


def test_the_demo_serves_a_kiosk_that_phones_can_check_in_at(tmp_path: Path) -> None:
    port, api_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TSUNAGARI_")},
        "TSUNAGARI_DEVNET__DATA_DIR": str(tmp_path / "devnet"),
        "TSUNAGARI_DEVNET__PORT": str(port),
        "TSUNAGARI_CHAIN__RPC_URL": f"http://127.0.0.1:{port}",
        "TSUNAGARI_CHAIN__DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
        "TSUNAGARI_DB__URL": f"sqlite:///{tmp_path / 'index.db'}",
        "TSUNAGARI_API__PORT": str(api_port),
        "TSUNAGARI_CHECKIN__SECRET_FILE": str(tmp_path / "kiosk.key"),
        "TSUNAGARI_DEMO__PEOPLE": "30",  # a small seeded year: the kiosk must work once the chain caught up
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", "demo"],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        kiosk = ""
        deadline = time.monotonic() + 180
        while not kiosk and time.monotonic() < deadline:
            assert demo.poll() is None, log.read_text(errors="replace")
            found = re.search(r"(http://\S+/kiosk/\d+\?k=\S+)", log.read_text(errors="replace"))
            kiosk = found.group(1) if found else ""
            time.sleep(0.5)
        assert kiosk, log.read_text(errors="replace")
        assert httpx.get(kiosk, timeout=10).status_code == 200  # the kiosk page

        result = simulate_checkins(kiosk, 6, concurrency=6, seed="demo-test", wait_s=60)
        assert result.statuses == {"accepted": 6}
        assert set(result.final) <= {"confirmed", "indexed"} and sum(result.final.values()) == 6

        _claim_in_chromium(kiosk)

        frame_url = kiosk.replace("/kiosk/", "/api/v1/kiosk/").replace("?k=", "/frame?k=")
        frame = httpx.get(frame_url, timeout=10).json()
        assert frame["activity"]["name"] == "館山わかしお祭り 受付"
        assert frame["counts"]["accepted"] >= 7
        assert httpx.get(frame["claim_url"], timeout=10).status_code == 200  # the claim page
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        subprocess.run(
            [sys.executable, "-m", "scripts.cli", "devnet", "down"],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            check=False,
            capture_output=True,
        )


def _claim_in_chromium(kiosk: str) -> None:
    """Follow the kiosk's QR URL on a phone-sized headless chromium until the coin is on chain."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        try:
            screen = browser.new_page(viewport={"width": 1280, "height": 800})
            screen.on("pageerror", lambda error: problems.append(f"kiosk: {error}"))
            screen.goto(kiosk)
            screen.wait_for_selector("#qr[data-claim-url] svg", timeout=15_000)
            claim_url = screen.locator("#qr").get_attribute("data-claim-url")
            assert claim_url is not None
            phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP", is_mobile=True)
            page = phone.new_page()
            page.on("pageerror", lambda error: problems.append(f"phone: {error}"))
            page.on("console", lambda m: problems.append(f"phone: {m.text}") if m.type == "error" else None)
            page.goto(claim_url)
            page.wait_for_selector("#status[data-state=confirmed], #status[data-state=indexed]", timeout=60_000)
            assert page.evaluate("() => localStorage.getItem('tsunagari.key.v1') !== null")
        finally:
            browser.close()
    assert not problems, problems
