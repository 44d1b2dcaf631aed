"""The README's main command (``tsunagari demo``) serves the kiosk and claim pages at once, while the
demo year is still being seeded in the background: the kiosk answers and takes scans (accepted,
held until the seed has brought the chain's clock to today), the pages show the seeding banner; then
the seed finishes, the held scans reach the chain dated today, the seeded year is indexed, and a
headless chromium that follows the kiosk's QR URL creates a key, claims and reaches "confirmed"."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger.jst import today
from scripts.devstack import demo_environment, start_demo
from scripts.simulate import simulate_checkins

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


def _progress(tmp_path: Path) -> dict[str, object]:
    return dict(json.loads((tmp_path / "devnet" / "demo-seed.json").read_text(encoding="utf-8")))


def _kiosk_counts(kiosk: str) -> dict[str, int]:
    frame_url = kiosk.replace("/kiosk/", "/api/v1/kiosk/").replace("?k=", "/frame?k=")
    return dict(httpx.get(frame_url, timeout=10).json()["counts"])


def test_the_demo_serves_a_kiosk_before_its_year_is_seeded(tmp_path: Path) -> None:
    env = demo_environment(tmp_path, 200)
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        demo = start_demo(env, tmp_path, out)
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
        assert _progress(tmp_path)["phase"] == "seeding", "the seed finished before the demo served"
        home = httpx.get(kiosk.split("/kiosk/")[0] + "/", timeout=10, headers={"Accept-Language": "ja"}).text
        assert "デモデータを準備中" in home  # the seeding banner

        result = simulate_checkins(kiosk, 6, concurrency=6, seed="demo-test", wait_s=0)
        assert result.statuses == {"accepted": 6}  # accepted while the year is being written...
        counts = _kiosk_counts(kiosk)
        assert _progress(tmp_path)["phase"] == "seeding", "the seed finished before the scans were checked"
        assert counts["accepted"] == 6 and counts["confirmed"] == 0  # ...and held: the chain's clock is in the past

        deadline = time.monotonic() + 600
        while _progress(tmp_path)["phase"] == "seeding" and time.monotonic() < deadline:
            assert demo.poll() is None, log.read_text(errors="replace")
            time.sleep(1)
        assert _progress(tmp_path)["phase"] == "done", log.read_text(errors="replace")
        while _kiosk_counts(kiosk)["confirmed"] < 6 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _kiosk_counts(kiosk) == {"accepted": 6, "confirmed": 6, "rejected": 0}
        kiosk_activity = int(kiosk.split("/kiosk/")[1].split("?")[0])
        day = int(today().strftime("%Y%m%d"))
        db = sqlite3.connect(tmp_path / "index.db")
        try:
            indexed_today, seeded_past = 0, 0
            while (indexed_today < 6 or not seeded_past) and time.monotonic() < deadline:
                time.sleep(0.5)
                indexed_today = db.execute(
                    "SELECT COUNT(*) FROM contributions WHERE activity_id = ? AND day = ?", (kiosk_activity, day)
                ).fetchone()[0]
                seeded_past = db.execute("SELECT COUNT(*) FROM contributions WHERE day < ?", (day,)).fetchone()[0]
        finally:
            db.close()
        assert indexed_today == 6  # the held scans landed dated today
        assert seeded_past > 100  # the seeded year is indexed
        assert "the demo year is on chain" in log.read_text(errors="replace")

        _claim_in_chromium(kiosk)

        frame_url = kiosk.replace("/kiosk/", "/api/v1/kiosk/").replace("?k=", "/frame?k=")
        frame = httpx.get(frame_url, timeout=10).json()
        assert frame["activity"]["name"] == "館山わかしお祭り 受付"
        assert frame["counts"]["accepted"] >= 7
        assert httpx.get(frame["claim_url"], timeout=10).status_code == 200  # the claim page

        demo.send_signal(signal.SIGINT)  # Ctrl-C: says what stopped and what keeps running, no traceback
        assert demo.wait(timeout=60) == 0
        said = log.read_text(errors="replace")
        assert "stopped: the pages, kiosk and API" in said and "still running: the devnet" in said, said
        assert "Traceback" not in said, said

        # a second start finds the finished year: it serves again and seeds nothing
        second = tmp_path / "demo-again.log"
        with open(second, "wb") as out:
            demo = start_demo(env, tmp_path, out)
        again = ""
        while not again and time.monotonic() < deadline:
            assert demo.poll() is None, second.read_text(errors="replace")
            found = re.search(r"(http://\S+/kiosk/\d+\?k=\S+)", second.read_text(errors="replace"))
            again = found.group(1) if found else ""
            time.sleep(0.2)
        assert again and httpx.get(again, timeout=10).status_code == 200, second.read_text(errors="replace")
        assert "demo year" not in second.read_text(errors="replace")
        assert _progress(tmp_path)["phase"] == "done"
        assert 'id="seeding-banner"' not in httpx.get(again.split("/kiosk/")[0] + "/", timeout=10).text
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=60)
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


def test_an_interrupted_year_is_seeded_again_never_shown_as_finished(tmp_path: Path) -> None:
    """Ctrl-C while the year is being written: the demo says the seed stopped and where; the next
    start says the year did not finish, starts a fresh devnet and seeds the year again from day 0."""
    env = demo_environment(tmp_path, 2000)

    def start(log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            return start_demo(env, tmp_path, out)

    def wait_for_days(demo: subprocess.Popen[bytes], log: Path, days: int) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert demo.poll() is None, log.read_text(errors="replace")
            with contextlib.suppress(FileNotFoundError, ValueError):
                progress = _progress(tmp_path)
                if progress["phase"] == "seeding" and int(str(progress["days_done"])) >= days:
                    return
            time.sleep(0.5)
        raise AssertionError(log.read_text(errors="replace"))

    first, second = tmp_path / "first.log", tmp_path / "second.log"
    demo = start(first)
    try:
        wait_for_days(demo, first, 5)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
        said = first.read_text(errors="replace")
        assert "stopped: the demo year's seed at" in said and "Traceback" not in said, said
        stopped = _progress(tmp_path)
        assert stopped["phase"] == "interrupted" and 5 <= int(str(stopped["days_done"])) < 364

        demo = start(second)
        wait_for_days(demo, second, 0)
        said = second.read_text(errors="replace")
        assert "the demo year did not finish last time (interrupted" in said, said
        assert "devnet started" in said  # a fresh chain, not the one with a partial year
        again = _progress(tmp_path)
        assert again["started_at"] != stopped["started_at"] and again["genesis_hash"] == stopped["genesis_hash"]
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=60)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
        subprocess.run(
            [sys.executable, "-m", "scripts.cli", "devnet", "down"],
            cwd=tmp_path,
            env=env,
            check=False,
            capture_output=True,
        )
