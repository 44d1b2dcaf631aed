"""The pages people look at, in a real browser (Debian chromium via Playwright), over a year of
sample history on anvil (scripts/sample_ledger.py) indexed into SQLite and served by the real app:
each page loads with its charts, its key numbers equal the query layer's, the language switch works,
unknown things get a helpful page, and a participant supports (応援) a project with the key the claim
page stored, signed in the page and relayed without gas. Any console error fails a test.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine

from api.app import create_app
from ledger import queries
from ledger.chain.context import open_chain
from ledger.chain.devnet import free_port
from ledger.db.engine import make_engine
from ledger.relay import Relayer
from ledger.settings import Settings
from scripts.sample_ledger import Sample, sample_stack
from tests.browser.conftest import PHONE, Console

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


@dataclass
class Served:
    url: str
    settings: Settings
    sample: Sample
    engine: Engine


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with sample_stack(tmp_path_factory.mktemp("pages-sample"), people=70) as (settings, sample, _):
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        engine = make_engine(settings.db.url)
        try:
            yield Served(f"http://127.0.0.1:{port}", settings, sample, engine)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            engine.dispose()


def charts_ready(page: Page) -> None:
    page.wait_for_function("() => [...document.querySelectorAll('[data-chart]')].every(e => e.dataset.ready)")
    assert page.locator("[data-chart] svg").count() == page.locator("[data-chart]").count()


def period(served: Served) -> tuple[date, date]:
    with served.engine.connect() as conn:
        return queries.resolve_period(conn)


def person_with_most_ties(served: Served) -> str:
    with served.engine.connect() as conn:
        return served.sample.richest_person(lambda a: len(queries.person_ties(conn, a)))


def test_region_dashboard_numbers_and_english(served: Served, browser: Browser, console: Console) -> None:
    start, end = period(served)
    region = served.sample.regions[0]
    with served.engine.connect() as conn:
        summary = queries.region_summary(conn, region, start, end, k=served.settings.api.public_k)
        monthly = queries.region_monthly(conn, region, start, end, k=served.settings.api.public_k)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = console.watch(context.new_page(), "region")
    page.goto(f"{served.url}/regions/{region}")
    charts_ready(page)
    expect(page.locator("h1")).to_have_text("館山市")
    assert summary.kankei and summary.participants
    expect(page.locator("#kpi-kankei [data-figure=kankei]")).to_have_attribute("data-value", str(summary.kankei))
    expect(page.locator("#kpi-participants [data-figure=participants]")).to_have_attribute(
        "data-value", str(summary.participants)
    )
    expect(page.locator("#kpi-coins [data-figure=coins_issued]")).to_have_text(f"{summary.coins.issued:,}")
    assert page.locator("#monthly tbody tr").count() == len(monthly)
    for stage in summary.stages:
        cell = page.locator(f"#funnel tr[data-stage={stage.stage.value}] td")
        expect(cell).to_have_text("—" if stage.people is None else f"{stage.people:,}")
    # the numbers behind a chart are one click away
    expect(page.locator("#funnel-data table")).to_be_hidden()
    page.locator("#funnel-data summary").click()
    expect(page.locator("#funnel-data table")).to_be_visible()
    expect(page.locator("#audit-issuers tbody tr")).to_have_count(3)
    expect(page.locator("#index-banner")).to_contain_text("ブロック")
    # English keeps the page and the period
    page.locator("a[data-lang=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    charts_ready(page)
    expect(page.locator("#monthly-title")).to_have_text("Month by month")
    expect(page.locator("#kpi-kankei [data-figure=kankei]")).to_have_attribute("data-value", str(summary.kankei))
    # a shorter period through the form
    page.locator("#period-start").fill(end.replace(day=1).isoformat())
    page.locator(".period button[type=submit]").click()
    charts_ready(page)
    assert page.url.endswith(f"start={end.replace(day=1).isoformat()}&end={end.isoformat()}")
    context.close()


def test_person_page_shows_every_tie_with_components(served: Served, browser: Browser, console: Console) -> None:
    address = person_with_most_ties(served)
    with served.engine.connect() as conn:
        ties = queries.person_ties(conn, address)
        coins = queries.person_coins(conn, address)
    context = browser.new_context(**PHONE)  # type: ignore[arg-type]
    page = console.watch(context.new_page(), "person")
    page.goto(f"{served.url}/people/{address}")
    charts_ready(page)
    cards = page.locator("article.tie")
    expect(cards).to_have_count(len(ties))
    for tie in ties:
        card = page.locator(f"#tie-{tie.region}")
        expect(card).to_have_attribute("data-stage", tie.stage.value)
        expect(card.locator(".stage-badge")).to_have_text(tie.stage.ja)
        expect(card.locator("tr[data-component=continuity] .num")).to_have_text(f"{tie.components.continuity:.2f}")
        expect(card.locator("tr[data-component=recency] .num")).to_have_text(f"{tie.components.recency:.2f}")
    for coin in coins:
        expect(page.locator(f"#coins-table tr[data-region='{coin.region:05d}'] .balance")).to_have_text(
            f"{coin.balance:,}"
        )
    # no key of this address in this browser: support is explained, not offered
    expect(page.locator("#support-no-key")).to_be_visible()
    expect(page.locator("#support-button")).to_be_disabled()
    page.locator("a[data-lang=en]").click()
    expect(page.locator("#ties-title")).to_have_text("Ties with regions")
    context.close()


def test_support_a_project_signed_in_the_browser(served: Served, browser: Browser, console: Console) -> None:
    with served.engine.connect() as conn:
        projects = {p.project_id: p for p in queries.region_projects(conn) if not p.closed}
        person, project = next(
            (p, pid)
            for p in served.sample.people
            for c in queries.person_coins(conn, p.address)
            for pid, info in projects.items()
            if info.region == c.region and c.balance >= 100
        )
    key = {"address": person.address, "privateKey": "0x" + bytes(person.key).hex(), "backedUp": True}
    context = browser.new_context(**PHONE)  # type: ignore[arg-type]
    context.add_init_script(f"localStorage.setItem('tsunagari.key.v1', {json.dumps(json.dumps(key))})")
    page = console.watch(context.new_page(), "support")
    page.goto(f"{served.url}/people/{person.address}")
    expect(page.locator("#support-no-key")).to_be_hidden()
    page.locator("#support-project").select_option(str(project))
    page.locator("#support-amount").fill("100")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/supports") and r.request.method == "POST") as posted:
        page.locator("#support-button").click()
    assert posted.value.status == 202
    expect(page.locator("#support-status")).to_have_attribute("data-state", "accepted")
    # the relayer submits it (gasless for the participant) and the page follows it to the chain
    relayer = Relayer(served.settings, served.engine, open_chain(served.settings))
    report = relayer.run_once(timeout_s=30)
    assert report.supports == {"confirmed": 1}
    expect(page.locator("#support-status")).to_have_attribute("data-state", "confirmed", timeout=15_000)
    expect(page.locator("#support-message")).to_have_text("応援が確定しました。ありがとうございます！")
    context.close()


def test_national_view_and_helpful_errors(served: Served, browser: Browser, console: Console) -> None:
    start, end = period(served)
    with served.engine.connect() as conn:
        graph = queries.national_graph(conn, start, end, k=served.settings.api.public_k)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = console.watch(context.new_page(), "national", allow=("status of 404", "status of 422"))
    page.goto(f"{served.url}/national")
    charts_ready(page)
    expect(page.locator("#graph-nodes tbody tr")).to_have_count(len(graph.nodes))
    expect(page.locator("#graph-links tbody tr")).to_have_count(len(graph.links))
    page.locator("#filter-type").select_option("5")
    page.locator(".filter button[type=submit]").click()
    charts_ready(page)
    assert "mlit_type=5" in page.url
    page.goto(f"{served.url}/")
    expect(page.locator(".region-card")).to_have_count(len(served.sample.regions))
    page.goto(f"{served.url}/regions/99999")
    expect(page.locator("#problem")).to_have_attribute("data-status", "404")
    page.goto(f"{served.url}/regions/{served.sample.regions[0]}?start=2025-99-01")
    expect(page.locator("#problem")).to_have_attribute("data-status", "422")
    context.close()
