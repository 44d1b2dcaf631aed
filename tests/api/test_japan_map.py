"""The national view's map (api/japan_map.py) against the pinned drawing itself: every known
municipality projects into its own prefecture's outline, the layout is the same on every call, and
no region is dropped."""

from __future__ import annotations

import asyncio
import json
import re
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from api import japan_map
from api.app import create_app
from api.japan_map import MapPoint, layout, project
from api.routes.pages import NODE_MODULES, japan_map_url
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.municipalities import LOCATIONS, MUNICIPALITIES, jis_code, prefecture_code
from ledger.queries.network import GraphNode
from ledger.settings import Settings

_PATH = re.compile(r'<path\s+id="([a-z]+)"\s+aria-label="[^"]*"\s+d="([^"]+)"', re.S)
_TOKEN = re.compile(r"[A-Za-z]|-?\d+(?:\.\d+)?(?:e-?\d+)?")

Ring = list[tuple[float, float]]


def _rings(d: str) -> list[Ring]:
    """The closed rings of an SVG path of the package (commands m, l, h, v, z in either case)."""
    tokens = _TOKEN.findall(d)
    rings: list[Ring] = []
    x = y = 0.0
    command = ""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.isalpha():
            command = token
            i += 1
            if command in "zZ" and rings:
                x, y = rings[-1][0]
            continue
        if command in "mMlL":
            dx, dy = float(tokens[i]), float(tokens[i + 1])
            i += 2
            x, y = (x + dx, y + dy) if command.islower() else (dx, dy)
            if command in "mM":
                rings.append([])
                command = "l" if command == "m" else "L"
        elif command in "hH":
            x = x + float(tokens[i]) if command == "h" else float(tokens[i])
            i += 1
        elif command in "vV":
            y = y + float(tokens[i]) if command == "v" else float(tokens[i])
            i += 1
        else:
            raise AssertionError(f"unexpected path command {command!r}")
        rings[-1].append((x, y))
    return rings


def _inside(point: tuple[float, float], rings: list[Ring]) -> bool:
    """Even-odd rule over all rings (islands and lakes alike)."""
    px, py = point
    crossings = 0
    for ring in rings:
        for (x1, y1), (x2, y2) in pairwise([*ring, ring[0]]):
            if (y1 > py) != (y2 > py) and px < x1 + (py - y1) * (x2 - x1) / (y2 - y1):
                crossings += 1
    return crossings % 2 == 1


@pytest.fixture(scope="module")
def outlines() -> dict[str, list[Ring]]:
    svg = japan_map.MAP_FILE.read_text(encoding="utf-8")
    found = {pid: _rings(d) for pid, d in _PATH.findall(svg)}
    assert sorted(found) == sorted(japan_map.PREFECTURE_IDS)  # 47, as the package draws them
    return found


@pytest.mark.parametrize("code", sorted(LOCATIONS))
def test_each_municipality_falls_in_its_own_prefecture(code: int, outlines: dict[str, list[Ring]]) -> None:
    location = LOCATIONS[code]
    point = project(location.latitude, location.longitude)
    own = japan_map.PREFECTURE_IDS[prefecture_code(code) - 1]
    inside = [pid for pid, rings in outlines.items() if _inside(point, rings)]
    assert inside == [own], f"{MUNICIPALITIES[code][0]} at {point} is inside {inside}, not {own}"


def test_the_projection_is_mercator_with_one_scale() -> None:
    # two points a degree of longitude apart are as far apart on the map at any latitude
    degree_south = project(35, 140)[0] - project(35, 139)[0]
    assert degree_south == pytest.approx(project(44, 140)[0] - project(44, 139)[0], abs=0.1)
    # and a degree of latitude grows northwards (Mercator), north is up
    south = project(31, 135)[1] - project(30, 135)[1]
    north = project(45, 135)[1] - project(44, 135)[1]
    assert south < 0 and north < south


def _points() -> list[MapPoint]:
    points = [
        MapPoint(jis_code(code), f"{MUNICIPALITIES[code][0]} {10 * i}人", 10 * i or None, loc.latitude, loc.longitude)
        for i, (code, loc) in enumerate(sorted(LOCATIONS.items()))
    ]
    return [*points, MapPoint("99999", "テスト町 7人", 7, None, None)]


def test_the_layout_is_fixed_complete_and_readable() -> None:
    points = _points()
    links = [("12205", "12234", 12), ("15202", "15210", 30), ("08216", "12205", 5), ("12205", "99999", 9)]
    first = layout(points, links)
    assert layout(points, links) == first  # the same data, the same picture
    assert layout(list(reversed(points)), list(reversed(links))).markers == tuple(reversed(first.markers))
    placed = {m.point.code for m in first.markers}
    assert placed | {p.code for p in first.unplaced} == {p.code for p in points}  # nobody dropped
    assert [p.code for p in first.unplaced] == ["99999"]
    for marker in first.markers:
        assert (marker.x, marker.y) == project(marker.point.latitude or 0, marker.point.longitude or 0)
    left, top, width, height = (float(v) for v in first.view_box.split())
    boxes = [m.label.box for m in first.markers]
    for box in boxes:
        assert left <= box[0] and box[2] <= left + width and top <= box[1] and box[3] <= top + height
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    for marker in first.markers:  # a name never lies over another region's tap area
        for other in first.markers:
            if other is not marker:
                box, reach = marker.label.box, other.hit_r
                assert not (box[0] < other.x + reach and other.x - reach < box[2]) or not (
                    box[1] < other.y + reach and other.y - reach < box[3]
                ), (marker.point.code, other.point.code)
    # a link to a region off the map is not drawn (it stays in the table); the rest are, lightest first
    assert [(line.source, line.target) for line in first.lines] == [
        ("08216", "12205"),
        ("12205", "12234"),
        ("15202", "15210"),
    ]
    assert [line.width for line in first.lines] == sorted(line.width for line in first.lines)


def test_crowded_regions_keep_their_circles_and_never_stack_labels() -> None:
    crowd = [
        MapPoint(f"{13100 + i:05d}", f"区{i} {i + 5}人", i + 5, 35.68 + i * 0.01, 139.76 + i * 0.01) for i in range(60)
    ]
    drawn = layout(crowd, [])
    assert len(drawn.markers) == 60  # every region has its circle (and its tap), labelled or not
    shown = [m.label.box for m in drawn.markers if m.label.shown]
    assert 5 < len(shown) < 60
    for i, a in enumerate(shown):
        for b in shown[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)


def test_the_view_is_the_part_of_japan_around_the_regions() -> None:
    every = layout(_points(), [])
    left, top, width, height = (float(v) for v in every.view_box.split())
    assert width > 300 and height > 300 and left + width == 438  # 上士幌町 … 邑南町: most of Japan
    kanto = layout([p for p in _points() if p.code in {"12205", "12234", "08216"}], [])
    left, top, width, height = (float(v) for v in kanto.view_box.split())
    assert width == height == japan_map.MIN_VIEW  # a close view, never smaller than MIN_VIEW
    for marker in kanto.markers:
        assert left < marker.x < left + width and top < marker.y < top + height
    naha = MapPoint("47201", "那覇市", 20, 26.2124, 127.6792)
    with_okinawa = layout([*_points(), naha], [])
    assert float(with_okinawa.view_box.split()[3]) > 400  # reaches down to 沖縄


def test_graph_nodes_carry_the_location_of_their_municipality() -> None:
    known = GraphNode(12205, "館山コイン", 40)
    assert (known.latitude, known.longitude) == (LOCATIONS[12205].latitude, LOCATIONS[12205].longitude)
    unknown = GraphNode(99999, "どこか", 40)
    assert unknown.latitude is None and unknown.longitude is None


def test_the_served_drawing_is_the_package_with_our_colours() -> None:
    served = japan_map.map_svg().decode("utf-8")
    original = japan_map.MAP_FILE.read_text(encoding="utf-8")
    assert f'fill="{japan_map.LAND}"' in served
    assert served.replace(served[served.index(" fill=") : served.index(">", served.index("<svg"))], "") == original


def test_the_drawing_is_served_pinned_cached_and_compressed(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    upgrade_to_head(engine)
    engine.dispose()
    app = create_app(Settings(db={"url": f"sqlite:///{tmp_path / 'index.db'}"}))
    pins = json.loads((NODE_MODULES.parent / "package.json").read_text(encoding="utf-8"))["dependencies"]
    url = f"/map/japan.svg?v={pins[japan_map.MAP_PACKAGE]}"
    assert japan_map_url() == url

    async def call() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pages.test") as client:
            plain = await client.get(url, headers={"Accept-Encoding": "identity"})
            packed = await client.get(url, headers={"Accept-Encoding": "gzip"})
            again = await client.get(url, headers={"If-None-Match": plain.headers["etag"]})
            page = await client.get("/national")
            return [plain, packed, again, page]

    plain, packed, again, page = asyncio.run(call())
    assert plain.status_code == 200 and plain.content == japan_map.map_svg()
    assert plain.headers["content-type"] == "image/svg+xml"
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert packed.headers["content-encoding"] == "gzip" and packed.content == plain.content  # (decoded)
    assert again.status_code == 304
    assert f'href="{url}"' in page.text  # the national view draws this very file (empty index: no regions)
    assert "echarts" not in page.text  # the map needs no chart library
