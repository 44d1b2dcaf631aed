"""The map of Japan behind the national view: the drawing, its projection, and a fixed layout.

**The drawing** is the pinned npm package ``@svg-maps/japan`` (2.0.0, CC BY 4.0, after MapSVG's map
of Japan): the 47 prefectures as SVG paths in a ``0 0 438 516`` view box. :func:`map_svg` serves it
with our colours added to its root element (nothing else changed) at ``/map/japan.svg``, cached like
the other pinned files; the page draws it as an ``<image>`` under its own layer of regions and links,
so the 64 kB of prefecture outlines are fetched once, not with every page.

**The projection.** The package's paths are a Mercator projection of longitude and latitude (the
package does not say so; docs/decisions/0011-national-map.md shows how it was found): ``x = X0 + S·λ``,
``y = Y0 − S·ln tan(π/4 + φ/2)`` (λ, φ in radians), with one scale ``S`` on both axes. The constants
below were fitted by least squares to seven extremes of the drawing whose coordinates are known
(宗谷岬, 大間崎, 納沙布岬, 犬吠埼, 五島 大瀬崎, 屋久島 south, 八丈島 south); every residual is below
0.5 units (about 3.5 km). tests/api/test_japan_map.py checks that each municipality of
:data:`ledger.municipalities.LOCATIONS` falls inside its own prefecture's path.

**The layout** (:func:`layout`) is computed here, on the server, once per page: a region is a circle
at its projected location (area by people), a link a curve whose width and opacity grow with the
people shared, and each label is put by a fixed greedy rule (largest regions first, the first free
spot of a fixed list of offsets, a leader line when it had to move away; no text at all rather than
text over text when none is free). Same data, same picture:
nothing moves after load and two loads draw the same positions. A region without a known location is
returned in ``unplaced``, for the page to list beside the map.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Final

__all__ = [
    "MAP_FILE",
    "MAP_PACKAGE",
    "PREFECTURE_IDS",
    "VIEW_BOX",
    "MapLabel",
    "MapLayout",
    "MapLine",
    "MapMarker",
    "MapPoint",
    "layout",
    "map_svg",
    "project",
]

MAP_PACKAGE: Final = "@svg-maps/japan"
MAP_FILE: Final = (
    Path(__file__).resolve().parents[1] / "hardhat-free-devnet" / "node_modules" / MAP_PACKAGE / "japan.svg"
)
VIEW_BOX: Final = (0.0, 0.0, 438.0, 516.0)  # the package's own view box
# The page shows the part of Japan around its regions: their box, padded for labels, at least
# MIN_VIEW wide and high (so the country stays recognisable), within the drawing.
PAD_X: Final = 80.0
PAD_Y: Final = 50.0
MIN_VIEW: Final = 320.0

# x = X0 + S·λ, y = Y0 − S·ln tan(π/4 + φ/2): fitted to the package's drawing (module docstring)
S: Final = 1126.66
X0: Final = -2430.685
Y0: Final = 1007.586

# The package's path ids in 都道府県コード order (01 北海道 … 47 沖縄県). Its "okinawa" path also holds
# the 奄美群島 (鹿児島県): a quirk of the drawing, harmless here since regions are drawn as points.
PREFECTURE_IDS: Final = (
    "hokkaido", "aomori", "iwate", "miyagi", "akita", "yamagata", "fukushima", "ibaraki", "tochigi",
    "gunma", "saitama", "chiba", "tokyo", "kanagawa", "niigata", "toyama", "ishikawa", "fukui",
    "yamanashi", "nagano", "gifu", "shizuoka", "aichi", "mie", "shiga", "kyoto", "osaka", "hyogo",
    "nara", "wakayama", "tottori", "shimane", "okayama", "hiroshima", "yamaguchi", "tokushima",
    "kagawa", "ehime", "kochi", "fukuoka", "saga", "nagasaki", "kumamoto", "oita", "miyazaki",
    "kagoshima", "okinawa",
)  # fmt: skip

LAND: Final = "#dfe8e2"
BORDER: Final = "#ffffff"
FONT: Final = 14.0  # label size in map units (a 320–438 unit view drawn 310–600 px wide: 10–26 px)
MIN_R: Final = 3.5
MAX_R: Final = 11.0
HIT_R: Final = 9.0  # the least radius a tap finds a region within (≈ 16 px across on a phone)
_GAP: Final = 2.0


def project(latitude: float, longitude: float) -> tuple[float, float]:
    """Map units (the drawing's view box) of a point in degrees, rounded to 0.1 (about 700 m)."""
    lam = math.radians(longitude)
    phi = math.radians(latitude)
    x = X0 + S * lam
    y = Y0 - S * math.log(math.tan(math.pi / 4 + phi / 2))
    return round(x, 1), round(y, 1)


@cache
def _map_svg(path: Path, mtime_ns: int) -> bytes:
    text = path.read_text(encoding="utf-8")
    root = text.index("<svg")
    end = text.index(">", root)
    paint = f' fill="{LAND}" stroke="{BORDER}" stroke-width="0.8" stroke-linejoin="round"'
    return (text[:end] + paint + text[end:]).encode("utf-8")


def map_svg() -> bytes:
    """The package's drawing with our land and border colours on its root element (read once)."""
    return _map_svg(MAP_FILE, MAP_FILE.stat().st_mtime_ns)


@dataclass(frozen=True, slots=True)
class MapPoint:
    """A region to draw: its code, the label text, its people (None: suppressed) and location."""

    code: str
    text: str
    people: int | None
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True, slots=True)
class MapLabel:
    x: float
    y: float  # the baseline
    anchor: str  # SVG text-anchor: start, middle or end
    box: tuple[float, float, float, float]  # left, top, right, bottom (estimated)
    leader: tuple[float, float, float, float] | None  # x1, y1, x2, y2 when moved away from its circle
    shown: bool = True  # False when no free spot was left: the circle stays (tap it), the text would overlap


@dataclass(frozen=True, slots=True)
class MapMarker:
    point: MapPoint
    x: float
    y: float
    r: float
    label: MapLabel

    @property
    def hit_r(self) -> float:
        """The radius of the (invisible) area a tap on the circle finds it in."""
        return max(self.r, HIT_R)


@dataclass(frozen=True, slots=True)
class MapLine:
    source: str
    target: str
    shared: int
    d: str  # the SVG path: a gentle curve, always bent to the same side
    width: float
    opacity: float


@dataclass(frozen=True, slots=True)
class MapLayout:
    view_box: str
    markers: tuple[MapMarker, ...]  # in the order of the points given
    lines: tuple[MapLine, ...]  # lightest first, so heavy links are drawn on top
    unplaced: tuple[MapPoint, ...]  # regions without a known location, listed beside the map


def text_width(text: str, size: float = FONT) -> float:
    """An estimate of a label's width: a full-width character is 1 em, others about 0.6 em."""
    return sum(size if unicodedata.east_asian_width(c) in "WF" else 0.6 * size for c in text)


def _radius(people: int | None, most: int) -> float:
    if not people or most <= 0:
        return MIN_R
    return round(MIN_R + (MAX_R - MIN_R) * math.sqrt(people / most), 1)


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# Where a label may go, tried in order: beside its circle first, then further out with a leader.
_DIRECTIONS: Final = ((1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (1, 1), (-1, -1), (-1, 1))
_DISTANCES: Final = (0.0, 16.0, 30.0, 46.0, 64.0, 86.0, 110.0)


def _label_at(x: float, y: float, r: float, dx: int, dy: int, far: float, width: float) -> MapLabel:
    reach = r + 3 + far
    cx = x + dx * reach * (0.72 if dx and dy else 1.0)
    cy = y + dy * reach * (0.72 if dx and dy else 1.0)
    half = FONT / 2
    if dx > 0:
        anchor, left = "start", cx
    elif dx < 0:
        anchor, left = "end", cx - width
    else:
        anchor, left = "middle", cx - width / 2
    top = cy - half if dy == 0 else (cy - FONT if dy < 0 else cy)
    box = (round(left, 1), round(top, 1), round(left + width, 1), round(top + FONT, 1))
    tx = {"start": box[0], "end": box[2], "middle": round((box[0] + box[2]) / 2, 1)}[anchor]
    baseline = round(box[3] - 0.2 * FONT, 1)
    leader = None
    if far:
        # from the circle's edge to the nearest point of the label's box
        nx = min(max(x, box[0]), box[2])
        ny = min(max(y, box[1]), box[3])
        length = math.hypot(nx - x, ny - y) or 1.0
        leader = (round(x + (nx - x) * r / length, 1), round(y + (ny - y) * r / length, 1), round(nx, 1), round(ny, 1))
    return MapLabel(tx, baseline, anchor, box, leader)


def _inside(box: tuple[float, float, float, float], view: tuple[float, float, float, float]) -> bool:
    return (
        box[0] >= view[0] + _GAP
        and box[1] >= view[1] + _GAP
        and box[2] <= view[0] + view[2] - _GAP
        and (box[3] <= view[1] + view[3] - _GAP)
    )


def _span(low: float, high: float, pad: float, limit: float) -> tuple[float, float]:
    """[low − pad, high + pad], widened about its centre to MIN_VIEW, kept within 0..limit."""
    start, end = low - pad, high + pad
    if end - start < MIN_VIEW:
        middle = (start + end) / 2
        start, end = middle - MIN_VIEW / 2, middle + MIN_VIEW / 2
    if start < 0:
        start, end = 0.0, min(limit, end - start)
    if end > limit:
        start, end = max(0.0, start - (end - limit)), limit
    return round(start), round(end)


def _view(placed: Sequence[tuple[MapPoint, tuple[float, float]]]) -> tuple[float, float, float, float]:
    if not placed:
        return VIEW_BOX
    xs = [xy[0] for _, xy in placed]
    ys = [xy[1] for _, xy in placed]
    left, right = _span(min(xs), max(xs), PAD_X, VIEW_BOX[2])
    top, bottom = _span(min(ys), max(ys), PAD_Y, VIEW_BOX[3])
    return (left, top, right - left, bottom - top)


def layout(points: Sequence[MapPoint], links: Sequence[tuple[str, str, int]]) -> MapLayout:
    """Circles, labels and link curves for ``points`` (regions) and ``links`` (code, code, shared).

    Kept for the last pages drawn (the same period and filter give the same data): 0.3 ms for ten
    regions, about 40 ms for fifty with many links.
    """
    return _layout(tuple(points), tuple(links))


@lru_cache(maxsize=32)
def _layout(points: tuple[MapPoint, ...], links: tuple[tuple[str, str, int], ...]) -> MapLayout:
    placed = [
        (p, project(p.latitude, p.longitude)) for p in points if p.latitude is not None and p.longitude is not None
    ]
    unplaced = tuple(p for p in points if p.latitude is None or p.longitude is None)
    view = _view(placed)
    most = max((p.people or 0 for p, _ in placed), default=0)
    circles = {p.code: (x, y, _radius(p.people, most)) for p, (x, y) in placed}
    boxes: list[tuple[float, float, float, float]] = []
    labels: dict[str, MapLabel] = {}
    # largest first (they have the most to say), then by code: the same data gives the same picture
    for point, (x, y) in sorted(placed, key=lambda item: (-(item[0].people or 0), item[0].code)):
        r = circles[point.code][2]
        width = text_width(point.text)
        chosen: MapLabel | None = None
        for far in _DISTANCES:
            for dx, dy in _DIRECTIONS:
                candidate = _label_at(x, y, r, dx, dy, far, width)
                if not _inside(candidate.box, view) or any(_overlaps(candidate.box, b) for b in boxes):
                    continue
                # clear of every circle, and of the other regions' tap areas too (a tap on a name
                # must open that region, never a neighbour whose small circle lies under it)
                if any(
                    _overlaps(candidate.box, (cx - reach, cy - reach, cx + reach, cy + reach))
                    for code, (cx, cy, cr) in circles.items()
                    for reach in [cr + 1 if code == point.code else max(cr, HIT_R) + 1]
                ):
                    continue
                chosen = candidate
                break
            if chosen is not None:
                break
        if chosen is None:  # nowhere free (dozens of regions close together): no text, never overlapping
            labels[point.code] = replace(_label_at(x, y, r, 1, 0, 0.0, width), shown=False)
            continue
        boxes.append(chosen.box)
        labels[point.code] = chosen
    markers = tuple(MapMarker(p, x, y, circles[p.code][2], labels[p.code]) for p, (x, y) in placed)
    heaviest = max((shared for a, b, shared in links if a in circles and b in circles), default=0)
    lines = []
    for a, b, shared in sorted(links, key=lambda link: (link[2], link[0], link[1])):
        if a not in circles or b not in circles or heaviest <= 0:
            continue
        (x1, y1, _), (x2, y2, _) = circles[a], circles[b]
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        # bend to the left of a → b by an eighth of its length: overlapping straight lines stay apart
        bx, by = mx - (y2 - y1) / 8, my + (x2 - x1) / 8
        weight = shared / heaviest
        lines.append(
            MapLine(
                a,
                b,
                shared,
                f"M{x1:.1f} {y1:.1f}Q{bx:.1f} {by:.1f} {x2:.1f} {y2:.1f}",
                round(1.0 + 6.0 * weight, 1),
                round(0.35 + 0.5 * weight, 2),
            )
        )
    box = " ".join(f"{v:g}" for v in view)
    return MapLayout(box, markers, tuple(lines), unplaced)
