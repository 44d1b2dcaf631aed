"""Every page at a phone's width (390×844) and a desktop's (1366×900), in a real browser (Debian
chromium via Playwright): nothing sticks out sideways (``scrollWidth ≤ clientWidth`` of the
document) and axe-core (the pinned npm package, injected from node_modules, never a CDN) finds no
serious or critical accessibility violation. A failure names the offending elements.

The pages: home, a region dashboard, the national view, a つながり page and the problem page over
a year of sample history (scripts/sample_ledger.py); the code-entry page, the holder-proof page,
the staff console's pages (signed in as 館山市's admin); and, on a chain with open activities
(tests/checkin/presence_world.py), a claim page that reaches the chain, a kiosk and a presence
kiosk. ``/docs`` (Swagger UI) loads with every request to another origin refused.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from api.app import create_app
from api.routes.pages import NODE_MODULES
from ledger import queries
from ledger.db.engine import make_engine, write_transaction
from ledger.jst import today
from ledger.settings import ConsoleSettings
from ledger.staff import accounts
from ledger.staff.roles import Actor
from scripts.sample_ledger import sample_stack
from tests.browser.conftest import DONE, PHONE, Console
from tests.checkin.presence_world import TATEYAMA, CodesWorld, codes_world
from tests.console.conftest import serving

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

AXE = NODE_MODULES / "axe-core" / "axe.min.js"
DESKTOP = {"viewport": {"width": 1366, "height": 900}, "locale": "ja-JP"}
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
LOGIN, PASSWORD = "kanri@tateyama.example", "tateyama-layout-2026"

# Lists every element whose right edge is past the viewport (outermost first), when the page scrolls sideways.
_OVERFLOW_JS = """() => {
  const root = document.documentElement;
  const width = root.clientWidth;
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += '#' + el.id;
    if (el.classList.length) name += '.' + [...el.classList].join('.');
    return name;
  };
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (style.overflowX !== 'visible' && p.getBoundingClientRect().right <= width + 0.5) return true;
    }
    return false;
  };
  const offenders = [];
  if (root.scrollWidth > width) {
    for (const el of document.body.querySelectorAll('*')) {
      const box = el.getBoundingClientRect();
      if (box.width > 0 && box.right > width + 0.5 && !clipped(el)) {
        offenders.push(`${describe(el)} (right edge ${Math.round(box.right)} px)`);
      }
    }
  }
  return {scrollWidth: root.scrollWidth, clientWidth: width, offenders: offenders.slice(0, 20)};
}"""

_AXE_JS = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
  }));
}"""


@dataclass
class Site:
    """The sample year served over HTTP, with a signed-in console session (a browser storage state)."""

    url: str
    person: str
    console_state: dict[str, Any]
    activity: int
    month: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Site]:
    with sample_stack(tmp_path_factory.mktemp("layout-sample"), people=40) as (settings, sample, _):
        engine = make_engine(settings.db.url)
        with write_transaction(engine) as conn:
            invite = accounts.create_account(
                conn,
                Actor.cli(),
                login=LOGIN,
                display_name="館山 管理者",
                role="admin",
                region=TATEYAMA,
                settings=ConsoleSettings(),
            )
            accounts.accept_invite(conn, invite.token, PASSWORD)
        app = create_app(settings)
        with serving(app) as url:
            context = browser.new_context(**DESKTOP)  # type: ignore[arg-type]
            page = context.new_page()
            page.goto(f"{url}/console/login")
            page.locator("#login").fill(LOGIN)
            page.locator("#password").fill(PASSWORD)
            page.locator("form button[type=submit]").click()
            page.wait_for_url(f"{url}/console/regions/12205*")
            page.goto(f"{url}/console/regions/12205/activities")
            href = page.locator("main table a[href*='/activities/']").first.get_attribute("href") or "/0"
            state = context.storage_state()
            context.close()
            with engine.connect() as conn:
                person = sample.richest_person(lambda a: len(queries.person_ties(conn, a)))
            month = (today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
            yield Site(url, person, dict(state), int(href.rsplit("/", 1)[1]), month)
        app.state.engine.dispose()
        engine.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodesWorld]:
    with codes_world(tmp_path_factory.mktemp("layout-chain"), relay=True) as built:
        yield built


def _present_path() -> str:
    return f"/present?n=0x{secrets.token_hex(32)}&e={int(time.time()) + 300}&a=館山市役所 窓口"


# name -> (which server, path or a function of the server giving the path, selector that says it is ready)
SITE_PAGES: dict[str, tuple[str | Callable[[Site], str], str]] = {
    "home": ("/", ".region-card"),
    "region": ("/regions/12205", "#audit"),
    "national": ("/national", "main"),
    "person": (lambda s: f"/people/{s.person}", "article.tie"),
    "problem": ("/regions/99999", "#problem"),
    "problem-range": ("/regions/12205?start=2026-12-01&end=2026-01-01", "#problem"),
    "code-entry": ("/c", "main form"),
    "present": (lambda _: _present_path(), "main"),
}
CONSOLE_PAGES: dict[str, str] = {  # {home}: 館山市's console
    "console-overview": "{home}",
    "console-activities": "{home}/activities",
    "console-activity-new": "{home}/activities/new",
    "console-activity": "{home}/activities/{activity}",
    "console-codes": "{home}/activities/{activity}/codes",
    "console-projects": "{home}/projects",
    "console-project-new": "{home}/projects/new",
    "console-audit": "{home}/audit",
    "console-audit-revocations": "{home}/audit?tab=revocations",
    "console-reports": "{home}/reports",
    "console-report": "{home}/reports/{month}",
    "console-eligibility": "{home}/eligibility",
    "console-issuers": "{home}/issuers",
    "console-staff": "{home}/staff",
    "console-account": "/console/account",
}
CHAIN_PAGES = ("claim", "kiosk", "presence-kiosk")
ALL_PAGES = (*SITE_PAGES, *CONSOLE_PAGES, *CHAIN_PAGES)


def _scanned(world: CodesWorld, kiosk_url: str) -> str:
    """The claim URL in the QR code the kiosk at ``kiosk_url`` shows now."""
    path, _, session = kiosk_url.partition("?k=")
    activity = path.rsplit("/", 1)[1]
    frame = httpx.get(f"{world.base_url}/api/v1/kiosk/{activity}/frame", params={"k": session}, timeout=10)
    frame.raise_for_status()
    return str(frame.json()["claim_url"])


def _ready(page: Page, selector: str) -> None:
    expect(page.locator(selector).first).to_be_attached(timeout=30_000)
    page.wait_for_function("() => [...document.querySelectorAll('[data-chart]')].every(e => e.dataset.ready)")


def _open(name: str, size: str, request: pytest.FixtureRequest, browser: Browser, console: Console) -> Page:
    options: dict[str, Any] = {**VIEWPORTS[size], "bypass_csp": True}  # axe is injected as a script
    allow: tuple[str, ...] = ()
    if name in SITE_PAGES:
        site: Site = request.getfixturevalue("site")
        target, selector = SITE_PAGES[name]
        path = target(site) if callable(target) else target
        url = site.url + path
        if name.startswith("problem"):
            allow = ("status of 404", "status of 422")
    elif name in CONSOLE_PAGES:
        site = request.getfixturevalue("site")
        options["storage_state"] = site.console_state
        home = "/console/regions/12205"
        url = site.url + CONSOLE_PAGES[name].format(home=home, activity=site.activity, month=site.month)
        selector = "main h1"
    else:
        world: CodesWorld = request.getfixturevalue("world")
        if name == "claim":
            url, selector = _scanned(world, world.kiosk_url("furusato")), DONE
        elif name == "kiosk":
            url, selector = world.kiosk_url("furusato"), "#qr svg"
        else:
            url, selector = world.kiosk_url("volunteer", 0), "#qr svg"
    context: BrowserContext = browser.new_context(**options)
    request.addfinalizer(context.close)
    page = console.watch(context.new_page(), f"{name}-{size}", allow=allow)
    page.goto(url)
    _ready(page, selector)
    return page


@pytest.mark.parametrize("size", VIEWPORTS)
@pytest.mark.parametrize("name", ALL_PAGES)
def test_no_sideways_scroll_and_no_serious_axe_violation(
    name: str, size: str, request: pytest.FixtureRequest, browser: Browser, console: Console
) -> None:
    page = _open(name, size, request, browser, console)
    overflow = page.evaluate(_OVERFLOW_JS)
    assert overflow["scrollWidth"] <= overflow["clientWidth"], (
        f"{name} at {size} is {overflow['scrollWidth']} px wide in a {overflow['clientWidth']} px viewport; "
        "sticking out:\n  " + "\n  ".join(overflow["offenders"])
    )
    if name not in CHAIN_PAGES:  # dates for people are Japanese (2026年12月7日), never 2026-12-07
        iso = page.evaluate(r"() => document.body.innerText.match(/\b\d{4}-\d{2}-\d{2}\b/g) || []")
        assert not iso, f"{name} at {size} shows dates as {sorted(set(iso))[:5]}, not 2026年12月7日"
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    violations = page.evaluate(_AXE_JS)
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, f"{name} at {size}:\n" + "\n".join(
        f"  {v['impact']} {v['id']} ({v['help']}): {', '.join(v['targets'])}" for v in serious
    )


def test_api_docs_load_with_no_request_leaving_the_machine(site: Site, browser: Browser, console: Console) -> None:
    """/docs renders Swagger UI with every operation from the pinned npm package, while any request
    to another origin is refused (as on a venue's closed network)."""
    context = browser.new_context(**DESKTOP)  # type: ignore[arg-type]
    outside: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(site.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = console.watch(context.new_page(), "docs")
    page.goto(f"{site.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Tsunagari Ledger API", timeout=30_000)
    openapi = json.loads(page.evaluate("() => fetch('/openapi.json').then((r) => r.text())"))
    expect(page.locator(".opblock").first).to_be_visible()
    shown = set(page.locator(".opblock-summary-path").evaluate_all("(all) => all.map((e) => e.dataset.path)"))
    assert shown == set(openapi["paths"]), f"Swagger UI shows {len(shown)} of {len(openapi['paths'])} paths"
    assert not outside, f"/docs asked other origins for: {outside}"
    context.close()
