"""Screenshots of the pages people look at, at desktop and phone width, into docs/screenshots/.

    python -m scripts.screenshots                      # a running demo (`tsunagari demo`, :8000)
    python -m scripts.screenshots --url http://127.0.0.1:PORT --db-url sqlite:///…/tsunagari.db
    python -m scripts.screenshots --sample             # build a sample year on anvil and serve it
    python -m scripts.screenshots --console            # the staff console of a running demo (館山市)
    python -m scripts.screenshots --certificate        # the 活動証明書 pages of a running demo (館山市)
    python -m scripts.screenshots --checkin-forms CODE_URL KIOSK_URL   # claim codes and check-in/out

The participant shown is ``--person`` or, read from the index database (``--db-url``, else the
configured ``TSUNAGARI_DB__URL``), the one tied to the most regions; the region is ``--region`` or
the first registered one. Debian's chromium through Playwright (never
``playwright install``); the Noto CJK fonts render the Japanese. Fails on any console error.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import text

CHROMIUM = "/usr/bin/chromium"
OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}, "device_scale_factor": 1},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


def pick_person(db_url: str) -> str | None:
    """The participant tied to the most regions (then the strongest components) in the index."""
    from ledger.db.engine import make_engine

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT participant FROM ties WHERE records > 0 GROUP BY participant ORDER BY COUNT(*) DESC, "
                    "MAX(continuity + frequency + diversity + intensity) DESC, participant LIMIT 1"
                )
            ).first()
    finally:
        engine.dispose()
    return None if row is None else str(row[0])


def pick_region(base: str) -> int | None:
    regions = httpx.get(f"{base}/api/v1/regions", timeout=10).json()
    return int(regions[0]["region"]) if regions else None


@contextlib.contextmanager
def sample_server() -> Iterator[tuple[str, str]]:
    """Serve the sample history (scripts/sample_ledger.py) on a free port: (base URL, database URL)."""
    import uvicorn

    from api.app import create_app
    from ledger.chain.devnet import free_port
    from scripts.sample_ledger import sample_stack

    with tempfile.TemporaryDirectory(prefix="tsunagari-shots-") as folder, sample_stack(Path(folder)) as stack:
        settings, _, _ = stack
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}", settings.db.url
        finally:
            server.should_exit = True
            thread.join(timeout=10)


@contextlib.contextmanager
def _chromium() -> Iterator[Browser]:
    """Debian's chromium through Playwright (never `playwright install`), closed on exit."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            browser.close()


def _watched(page: Page, problems: list[str], label: str = "") -> Page:
    """``page``, with its console errors and uncaught exceptions noted in ``problems``."""
    prefix = f"{label}: " if label else ""
    page.on("console", lambda m: problems.append(prefix + m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page


def shoot(base: str, out: Path, person: str | None, region: int | None, langs: tuple[str, ...]) -> list[Path]:
    pages = {"home": "/", "national": "/national"}
    if region is not None:
        pages["region"] = f"/regions/{region}"
    if person is not None:
        pages["person"] = f"/people/{person}"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    problems: list[str] = []
    with _chromium() as browser:
        for size, options in SIZES.items():
            for lang in langs:
                context = browser.new_context(
                    locale="ja-JP" if lang == "ja" else "en-US",
                    reduced_motion="reduce",
                    **options,  # type: ignore[arg-type]
                )
                page = _watched(context.new_page(), problems, size)
                for name, path in pages.items():
                    page.goto(f"{base}{path}?lang={lang}", wait_until="networkidle")
                    page.wait_for_function(
                        "() => [...document.querySelectorAll('[data-chart]')].every(e => e.dataset.ready)"
                    )
                    if name == "national":
                        page.wait_for_selector("#japan-map[data-ready=true]")  # a fixed map: nothing settles
                    page.wait_for_timeout(300)
                    suffix = "" if lang == "ja" else "-en"
                    target = out / f"{name}-{size}{suffix}.png"
                    page.screenshot(path=str(target), full_page=True)
                    written.append(target)
                context.close()
    if problems:
        raise SystemExit("console errors:\n" + "\n".join(problems))
    return written


MAX_SHOT_HEIGHT = 2_400  # CSS pixels of a console screenshot

CONSOLE_PAGES = {
    "overview": "",
    "activities": "/activities",
    "activity-new": "/activities/new",
    "activity": "/activities/{activity}",
    "projects": "/projects",
    "issuers": "/issuers",
    "staff": "/staff",
    "audit": "/audit?tab=revocations",
    "reports": "/reports",
    "report": "/reports/{month}",
    "eligibility": "/eligibility",
}


def shoot_console(base: str, out: Path, region: int, password: str) -> list[Path]:
    """The staff console, signed in as the demo's admin of ``region`` (the development sign-in of
    ``tsunagari demo``: devnet only), at desktop and phone width, into ``console-<page>-<size>.png``."""
    from datetime import timedelta

    from ledger.jst import today
    from ledger.municipalities import jis_code

    home = f"{base}/console/regions/{jis_code(region)}"
    last_month = (today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    written: list[Path] = []
    problems: list[str] = []
    out.mkdir(parents=True, exist_ok=True)
    with _chromium() as browser:
        for size, options in SIZES.items():
            context = browser.new_context(locale="ja-JP", reduced_motion="reduce", **options)  # type: ignore[arg-type]
            page = _watched(context.new_page(), problems)
            page.goto(f"{base}/console/login", wait_until="networkidle")
            page.locator("#login").fill(f"admin-{region:05d}")
            page.locator("#password").fill(password)
            page.locator("form button[type=submit]").click()
            page.wait_for_url(f"{home}*")
            page.goto(f"{home}/activities")
            link = page.locator("main table a[href*='/activities/']").first
            activity = (link.get_attribute("href") or "/0").rsplit("/", 1)[1]
            if size == "desktop":
                target = out / f"console-login-{size}.png"
                login = context.browser.new_context(locale="ja-JP", **options) if context.browser else None  # type: ignore[arg-type]
                if login is not None:
                    blank = login.new_page()
                    blank.goto(f"{base}/console/login", wait_until="networkidle")
                    blank.screenshot(path=str(target), full_page=True)
                    written.append(target)
                    login.close()
            for name, path in CONSOLE_PAGES.items():
                page.goto(home + path.format(activity=activity, month=last_month), wait_until="networkidle")
                target = out / f"console-{name}-{size}.png"
                # long lists (the eligible people) are cut after the first screens
                height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_SHOT_HEIGHT)
                width = options["viewport"]["width"]  # type: ignore[index]
                page.screenshot(
                    path=str(target), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": height}
                )
                written.append(target)
            context.close()
    if problems:
        raise SystemExit("console errors:\n" + "\n".join(problems))
    return written


def shoot_certificate(base: str, out: Path, example: Path) -> list[Path]:
    """The ふるさと住民登録 pages for the demo's example participant (``tsunagari demo`` writes their
    certificate to ``.tsunagari/certificates/``): the つながり page making a certificate with the
    participant's seeded key (devnet only), the verifier on it, the 本人確認 answer page, and the
    PDF's first page (``pdftoppm`` from poppler-utils, when installed)."""
    import json
    import secrets
    import shutil
    import subprocess

    from ledger.demo_certificate import seeded_key_of
    from ledger.settings import get_settings

    settings = get_settings()
    holder = json.loads(example.read_text(encoding="utf-8"))["holder"]
    key = seeded_key_of(holder, settings.demo.seed, settings.demo.people)
    if key is None:
        raise SystemExit(f"{holder} is not a seeded demo participant")
    stored = json.dumps({"address": holder, "privateKey": "0x" + key.hex(), "phrase": None, "backedUp": True})
    written: list[Path] = []
    problems: list[str] = []
    out.mkdir(parents=True, exist_ok=True)
    with _chromium() as browser:
        for size, options in SIZES.items():
            context = browser.new_context(locale="ja-JP", reduced_motion="reduce", **options)  # type: ignore[arg-type]
            context.add_init_script(f"localStorage.setItem('tsunagari.key.v1', {json.dumps(stored)})")
            page = _watched(context.new_page(), problems)
            page.goto(f"{base}/people/{holder}", wait_until="networkidle")
            page.locator("#certificate-region").select_option("12205")
            page.locator("#certificate-button").click()
            page.wait_for_selector("#certificate-status[data-state=ready]", timeout=60_000)
            target = out / f"certificate-person-{size}.png"
            page.locator("#certificate").screenshot(path=str(target))
            written.append(target)
            verify = page.locator("#certificate-verify").get_attribute("href") or ""
            pdf_url = page.locator("#certificate-pdf").get_attribute("href") or ""
            page.goto(base + verify, wait_until="networkidle")
            page.wait_for_selector("#verifier-result[data-valid]", timeout=60_000)
            target = out / f"certificate-verifier-{size}.png"
            page.screenshot(path=str(target), full_page=True)
            written.append(target)
            expires = int(time.time()) + 300
            nonce = "0x" + secrets.token_hex(32)
            page.goto(f"{base}/present?n={nonce}&e={expires}&a=館山市役所 窓口", wait_until="networkidle")
            target = out / f"certificate-present-{size}.png"
            page.screenshot(path=str(target), full_page=True)
            written.append(target)
            context.close()
    if problems:
        raise SystemExit("console errors:\n" + "\n".join(problems))
    if shutil.which("pdftoppm") and pdf_url:
        pdf = httpx.get(base + pdf_url, timeout=60).content
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "certificate.pdf"
            source.write_bytes(pdf)
            subprocess.run(
                [
                    "pdftoppm",
                    "-png",
                    "-r",
                    "70",
                    "-f",
                    "1",
                    "-l",
                    "1",
                    "-singlefile",
                    str(source),
                    str(out / "certificate-pdf"),
                ],
                check=True,
            )
        written.append(out / "certificate-pdf.png")
    return written


def shoot_checkin_forms(base: str, out: Path, password: str, code_url: str, kiosk_url: str) -> list[Path]:
    """Claim codes and check-in / check-out, from the URLs a running demo prints (its claim-code URL
    and its presence kiosk): the console's 単回コード page and print sheet, the code's claim page on a
    phone (this redeems the code: the demo prints the next one on its next start), the code-entry
    page, the presence kiosk, an arrival on a phone, and the console's 到着・出発 page."""
    token = code_url.rstrip("/").rsplit("/", 1)[1]
    code = httpx.get(f"{base}/api/v1/checkin/{token}", timeout=30).json()
    region, code_activity = int(code["activity"]["region"]), int(code["activity"]["id"])
    kiosk_activity = int(kiosk_url.split("/kiosk/", 1)[1].split("?", 1)[0])
    home = f"{base}/console/regions/{region:05d}"
    written: list[Path] = []
    problems: list[str] = []
    out.mkdir(parents=True, exist_ok=True)

    def shot(page: Page, name: str) -> None:
        target = out / f"{name}.png"
        page.screenshot(path=str(target), full_page=True)
        written.append(target)

    with _chromium() as browser:
        staff = browser.new_context(locale="ja-JP", reduced_motion="reduce", **SIZES["desktop"])  # type: ignore[arg-type]
        page = _watched(staff.new_page(), problems, "console")
        page.goto(f"{base}/console/login", wait_until="networkidle")
        page.locator("#login").fill(f"admin-{region:05d}")
        page.locator("#password").fill(password)
        page.locator("form button[type=submit]").click()
        page.wait_for_url(f"{home}*")
        page.goto(f"{home}/activities/{code_activity}/codes", wait_until="networkidle")
        shot(page, "codes-console-desktop")
        sheet = page.locator("a[href*='/sheet']").first.get_attribute("href")
        if sheet:
            page.goto(base + sheet, wait_until="networkidle")
            shot(page, "codes-sheet-desktop")
        phone = browser.new_context(locale="ja-JP", reduced_motion="reduce", **SIZES["phone"])  # type: ignore[arg-type]
        donor = _watched(phone.new_page(), problems, "donor")
        donor.goto(f"{base}/c", wait_until="networkidle")
        shot(donor, "codes-entry-phone")
        donor.goto(code_url, wait_until="networkidle")
        donor.wait_for_selector("#status[data-state=indexed], #status[data-state=confirmed]", timeout=60_000)
        shot(donor, "codes-claim-phone")
        tablet = browser.new_context(locale="ja-JP", reduced_motion="reduce", **SIZES["desktop"])  # type: ignore[arg-type]
        kiosk = _watched(tablet.new_page(), problems, "kiosk")
        kiosk.goto(kiosk_url, wait_until="networkidle")
        kiosk.wait_for_selector("#qr svg", timeout=30_000)
        shot(kiosk, "presence-kiosk-desktop")
        frame = httpx.get(
            f"{base}/api/v1/kiosk/{kiosk_activity}/frame", params={"k": kiosk_url.split("k=", 1)[1]}, timeout=30
        ).json()
        volunteer = _watched(browser.new_context(locale="ja-JP", **SIZES["phone"]).new_page(), problems, "volunteer")  # type: ignore[arg-type]
        volunteer.goto(frame["claim_url"], wait_until="networkidle")
        volunteer.wait_for_selector("#status[data-state=arrived], #status[data-state=error]", timeout=30_000)
        shot(volunteer, "presence-arrival-phone")
        page.goto(f"{home}/activities/{kiosk_activity}/presence", wait_until="networkidle")
        shot(page, "presence-console-desktop")
    if problems:
        raise SystemExit("page errors:\n" + "\n".join(problems))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="where the pages are served")
    parser.add_argument("--db-url", default=None, help="index database, to find a participant to show")
    parser.add_argument("--person", default=None, help="the participant's address to show")
    parser.add_argument("--region", type=int, default=None, help="the region to show")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--english", action="store_true", help="also take the English pages")
    parser.add_argument("--sample", action="store_true", help="build a sample year on anvil and serve it")
    parser.add_argument(
        "--console",
        action="store_true",
        help="the staff console instead, signed in with the running demo's development sign-in",
    )
    parser.add_argument(
        "--certificate",
        action="store_true",
        help="the 活動証明書 pages for the running demo's example participant (.tsunagari/certificates)",
    )
    parser.add_argument(
        "--checkin-forms",
        nargs=2,
        metavar=("CODE_URL", "KIOSK_URL"),
        help="claim codes and check-in/out, from the claim-code URL and presence kiosk URL the demo prints",
    )
    args = parser.parse_args(argv)
    if args.checkin_forms:
        from ledger.settings import get_settings

        secret = get_settings().checkin.secret_file.parent / "console-dev-password"
        code_url, kiosk_url = args.checkin_forms
        for path in shoot_checkin_forms(
            args.url.rstrip("/"), args.out, secret.read_text().strip(), code_url, kiosk_url
        ):
            print(path)
        return
    if args.certificate:
        examples = sorted(Path(".tsunagari/certificates").glob("certificate-*.json"))
        if not examples:
            raise SystemExit("no example certificate: run `./run demo` first")
        for path in shoot_certificate(args.url.rstrip("/"), args.out, examples[0]):
            print(path)
        return
    if args.console:
        from ledger.settings import get_settings

        secret = get_settings().checkin.secret_file.parent / "console-dev-password"
        region = args.region or 12205
        for path in shoot_console(args.url.rstrip("/"), args.out, region, secret.read_text().strip()):
            print(path)
        return
    langs = ("ja", "en") if args.english else ("ja",)

    def run(base: str, db_url: str | None) -> None:
        person = args.person
        if person is None:
            if db_url is None:
                from ledger.settings import get_settings

                db_url = get_settings().db.url
            person = pick_person(db_url)
        region = args.region or pick_region(base)
        for path in shoot(base, args.out, person, region, langs):
            print(path)

    if args.sample:
        with sample_server() as (base, db_url):
            run(base, db_url)
    else:
        run(args.url.rstrip("/"), args.db_url)


if __name__ == "__main__":
    main()
