"""The national view's map in headless Chromium, at a phone's size (390×844) and a desktop's
(1366×900), over the sample history served by uvicorn: every region of ``/api/v1/national`` is on the
map at its projected location (or listed beside it), two loads draw the same picture, nothing
overflows the page or the map, a tap shows the region's figures, the table is one click away, and
axe-core (pinned in hardhat-free-devnet) finds nothing serious or critical."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from api.app import create_app
from api.japan_map import project
from api.routes.pages import NODE_MODULES
from scripts.sample_ledger import sample_stack
from tests.browser.conftest import PHONE, Console
from tests.console.conftest import serving

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

AXE = NODE_MODULES / "axe-core" / "axe.min.js"
DESKTOP = {"viewport": {"width": 1366, "height": 900}, "locale": "ja-JP"}
SIZES = {"phone": PHONE, "desktop": DESKTOP}


@dataclass
class Served:
    url: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with (
        sample_stack(tmp_path_factory.mktemp("map-sample"), people=70) as (settings, _, _),
        serving(create_app(settings)) as url,
    ):
        yield Served(url)


# Where each region is drawn: its map units, its circle's centre on screen, and the screen point
# the SVG's own transform gives for its map units (they must agree), with its label's box.
_DRAWN = """() => {
  const svg = document.getElementById("japan-map");
  const ctm = svg.getScreenCTM();
  const frame = svg.getBoundingClientRect();
  return [...svg.querySelectorAll(".map-region")].map((a) => {
    const circle = a.querySelector("circle.dot").getBoundingClientRect();
    const text = a.querySelector("text");
    const label = text ? text.getBoundingClientRect() : null;
    const x = Number(a.dataset.x), y = Number(a.dataset.y);
    return {
      code: a.dataset.region, x, y,
      cx: Number(a.querySelector("circle.dot").getAttribute("cx")),
      cy: Number(a.querySelector("circle.dot").getAttribute("cy")),
      screen: [circle.left + circle.width / 2, circle.top + circle.height / 2],
      expected: [ctm.a * x + ctm.c * y + ctm.e, ctm.b * x + ctm.d * y + ctm.f],
      label: label && [label.left, label.top, label.right, label.bottom],
      frame: [frame.left, frame.top, frame.right, frame.bottom],
    };
  });
}"""


def _drawn(page: Page) -> list[dict[str, Any]]:
    page.wait_for_selector("#japan-map[data-ready=true]")
    return list(page.evaluate(_DRAWN))


def _serious(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in {"serious", "critical"}
    ]


@pytest.mark.parametrize("size", sorted(SIZES))
def test_the_map_shows_every_region_where_it_is(served: Served, browser: Browser, console: Console, size: str) -> None:
    document = httpx.get(f"{served.url}/api/v1/national", timeout=30).json()
    nodes = {n["code"]: n for n in document["nodes"]}
    assert len(nodes) >= 3 and document["links"]  # the sample has regions sharing people
    # bypass_csp only to inject axe-core; the page's own scripts run under its CSP as always
    context = browser.new_context(**SIZES[size], bypass_csp=True)  # type: ignore[arg-type]
    page = console.watch(context.new_page(), f"national {size}")
    page.goto(f"{served.url}/national")
    drawn = _drawn(page)

    # every region of the JSON: on the map, or listed beside it — never dropped, never twice
    unplaced = page.locator("#map-unplaced li").evaluate_all("(items) => items.map((li) => li.dataset.region)")
    assert sorted([d["code"] for d in drawn] + unplaced) == sorted(nodes)
    for d in drawn:
        node = nodes[d["code"]]
        # at its municipality's location through the map's projection, in the table too
        assert (d["x"], d["y"]) == (d["cx"], d["cy"]) == project(node["latitude"], node["longitude"])
        row = page.locator(f"#graph-nodes tr[data-region='{d['code']}']")
        lat, lon = float(row.get_attribute("data-lat") or "nan"), float(row.get_attribute("data-lon") or "nan")
        assert project(lat, lon) == (d["x"], d["y"])
        # and on screen where the SVG's transform puts those map units
        assert d["screen"] == pytest.approx(d["expected"], abs=1.0)
        # its label is there (the sample's few regions all have room) and inside the map, not clipped
        left, top, right, bottom = d["frame"]
        assert d["label"] is not None
        assert left <= d["label"][0] and d["label"][2] <= right and top <= d["label"][1] and d["label"][3] <= bottom
    # links are drawn for the JSON's links between regions on the map, weighted by shared people
    widths = {
        p["pair"]: (p["shared"], p["width"])
        for p in page.locator(".map-links path").evaluate_all(
            "(paths) => paths.map((p) => ({pair: p.dataset.pair, shared: Number(p.dataset.shared),"
            " width: Number(p.getAttribute('stroke-width'))}))"
        )
    }
    on_map = {d["code"] for d in drawn}
    expected = {
        f"{x['source']:05d}-{x['target']:05d}": x["shared"]
        for x in document["links"]
        if f"{x['source']:05d}" in on_map and f"{x['target']:05d}" in on_map
    }
    assert {pair: shared for pair, (shared, _) in widths.items()} == expected
    ranked = sorted(widths.values())
    assert [w for _, w in ranked] == sorted(w for _, w in ranked)  # more people, never a thinner line

    # no horizontal overflow at this width
    scroll, client = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client

    # the same picture on every load (and nothing moved since the first look)
    page.wait_for_timeout(300)
    assert _drawn(page) == drawn
    page.reload()
    assert _drawn(page) == drawn

    # a tap on a region's name shows its figures and a link to its page
    first = drawn[0]["code"]
    page.locator(f".map-region[data-region='{first}'] text").click()
    panel = page.locator(f"#map-panel-{first}")
    expect(panel).to_be_visible()
    expect(panel).to_be_focused()
    expect(panel.locator(f"a[href='/regions/{first}']")).to_be_visible()
    people = nodes[first]["people"]
    expect(panel.locator("strong")).to_have_text("—" if people is None else f"{people:,}")
    expect(page.locator(".map-panel:visible")).to_have_count(1)

    # the table is one click away, a real table with every region
    page.locator("#graph-data > summary").click()
    expect(page.locator("#graph-nodes tbody tr")).to_have_count(len(nodes))
    expect(page.locator("#graph-nodes caption")).to_be_visible()

    assert _serious(page) == []
    context.close()
