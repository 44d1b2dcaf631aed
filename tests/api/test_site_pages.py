"""The pages people look at (home, つながり page, region dashboard, national view) in process, on an
empty index: status codes, the 404 / 422 pages, the empty state, strict pages (the real data and the
charts in a browser: tests/browser/test_pages_browser.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.routes.pages import CONTENT_SECURITY_POLICY
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.settings import Settings
from tests.api.test_pages import Page

ADDRESS = "0x" + "ab" * 20


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    db: Path = tmp_path_factory.mktemp("site") / "index.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade_to_head(engine)
    engine.dispose()
    return create_app(Settings(db={"url": f"sqlite:///{db}"}))


def get(app: FastAPI, url: str, **kwargs: object) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pages.test") as client:
            return await client.get(url, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(call())


def test_home_and_national_on_an_empty_index(app: FastAPI) -> None:
    for url in ("/", "/national", "/?lang=en", "/national?mlit_type=2&start=2025-01-01&end=2025-12-31"):
        answer = get(app, url)
        assert answer.status_code == 200, url
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        page = Page(answer.text)
        assert "index-banner" in page.ids()
        data = [text for attrs, text in page.scripts if attrs.get("id") == "page-data"]
        for text in data:
            json.loads(text)
    assert "まだ記録を集計していません" in get(app, "/").text


def test_unknown_person_and_region_get_a_helpful_404(app: FastAPI) -> None:
    person = get(app, f"/people/{ADDRESS}")
    assert person.status_code == 404 and "このアドレスの記録はまだありません" in person.text
    assert "Traceback" not in person.text
    bad = get(app, "/people/not-an-address?lang=en")
    assert bad.status_code == 404 and "is not an address" in bad.text
    region = get(app, "/regions/99999")
    assert region.status_code == 404 and "地域が見つかりません" in region.text
    assert get(app, "/regions/abc").status_code == 404


def test_malformed_parameters_get_a_422_page(app: FastAPI) -> None:
    for url, words in (
        ("/national?start=2025-13-01", "2025-13-01"),
        ("/national?start=2025-05-01&end=2025-01-01", "開始日"),
        ("/national?kind=999", "999"),
        ("/national?mlit_type=x", "mlit_type"),
    ):
        answer = get(app, url)
        assert answer.status_code == 422, url
        assert words in answer.text and answer.headers["content-type"].startswith("text/html")


def test_address_lookup_redirects_or_explains(app: FastAPI) -> None:
    found = get(app, f"/people?address={ADDRESS.upper().replace('0X', '0x')}")
    assert found.status_code == 303 and found.headers["location"] == f"/people/{ADDRESS}"
    assert get(app, "/people?address=nope").status_code == 422


def test_site_pages_have_no_inline_code_or_style(app: FastAPI) -> None:
    for url in ("/", "/national", f"/people/{ADDRESS}", "/regions/1"):
        page = Page(get(app, url).text)
        for attrs, text in page.scripts:
            if attrs.get("type") == "application/json":
                json.loads(text)
                continue
            assert attrs.get("src", "").startswith(("/static/", "/vendor/")) and not text.strip(), attrs
        for name, attrs in page.tags:
            assert "style" not in attrs and name != "style", name
            assert not [a for a in attrs if a.startswith("on")], name
            if name in ("input", "select", "textarea") and attrs.get("type") != "hidden":
                labelled = {a["for"] for n, a in page.tags if n == "label" and "for" in a}
                assert attrs.get("id") in labelled or "aria-label" in attrs, attrs


def test_every_period_shortcut_is_accepted(app: FastAPI) -> None:
    page = Page(get(app, "/national").text)
    shortcuts = [
        attrs["href"] for name, attrs in page.tags if name == "a" and attrs.get("href", "").startswith("?start=")
    ]
    assert len(shortcuts) == 4
    for href in shortcuts:
        assert get(app, f"/national{href}").status_code == 200, href


def test_a_region_code_without_its_leading_zero_redirects_to_five_digits(app: FastAPI) -> None:
    short = get(app, "/regions/1634?lang=en&start=2025-01-01")
    assert short.status_code == 308
    assert short.headers["location"] == "/regions/01634?lang=en&start=2025-01-01"
    assert get(app, "/regions/01634").status_code == 404  # canonical, not registered here
    assert get(app, "/regions/016340").status_code == 404  # six digits: not a JIS code
