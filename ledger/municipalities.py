"""Names of the municipalities the demo and the seed document mention, by JIS X 0402 code.

On chain a region is only its code; the coin's name is what its admin registered. This table gives
the pages a municipality name (ja and en) for codes we know. Source: 総務省「全国地方公共団体コード」.
An unknown code is shown as the coin's name or the code itself.

:data:`LOCATIONS` places the same municipalities on a map (the national view): a point of each, in
degrees (WGS 84), with its source. An unknown code has no location; the map lists such a region
beside it instead of dropping it.

A JIS X 0402 municipality code is written as a **five-digit string** (``"01634"``, the 団体コード
without its check digit) in pages, URLs, JSON, the CLI and exports; on chain and in the database it
is the integer ``1634`` (a ``uint32``). :func:`jis_code` writes the canonical text and
:func:`parse_jis_code` reads either spelling (``"1634"`` or ``"01634"``), so an URL or a command
that drops the leading zero still finds its region and can redirect to the canonical spelling.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.errors import InvalidInput

__all__ = [
    "LOCATIONS",
    "LOCATION_SOURCE",
    "MUNICIPALITIES",
    "JisCodeError",
    "Location",
    "jis_code",
    "municipality_location",
    "municipality_name",
    "parse_jis_code",
    "prefecture_code",
    "region_label",
]

MUNICIPALITIES: dict[int, tuple[str, str, str]] = {
    # code: (ja, en, prefecture ja)
    1634: ("上士幌町", "Kamishihoro", "北海道"),
    8216: ("笠間市", "Kasama", "茨城県"),
    12205: ("館山市", "Tateyama", "千葉県"),
    12234: ("南房総市", "Minamiboso", "千葉県"),
    15202: ("長岡市", "Nagaoka", "新潟県"),
    15210: ("十日町市", "Tokamachi", "新潟県"),
    15482: ("津南町", "Tsunan", "新潟県"),
    26100: ("京都市", "Kyoto", "京都府"),
    30401: ("白浜町", "Shirahama", "和歌山県"),
    32449: ("邑南町", "Ohnan", "島根県"),
}


@dataclass(frozen=True, slots=True)
class Location:
    """A point of a municipality: the one OpenStreetMap records for its boundary relation, in the
    town centre (within about 2 km of the town hall for every entry of :data:`LOCATIONS`)."""

    latitude: float  # degrees north, WGS 84
    longitude: float  # degrees east, WGS 84
    osm_relation: int  # the boundary relation the point belongs to (the source of the point)


LOCATION_SOURCE = (
    "OpenStreetMap (© OpenStreetMap contributors, ODbL 1.0): the point of each municipality's boundary "
    "relation, as extracted in the npm package detect-location-jp 0.0.4 (dist/data/japan_cities.json; "
    "its id is the relation), rounded to 4 decimals (about 10 m)"
)

LOCATIONS: dict[int, Location] = {
    # code: (latitude, longitude, OSM relation); source: LOCATION_SOURCE
    1634: Location(43.2327, 143.2959, 4060240),  # 上士幌町
    8216: Location(36.3452, 140.3042, 2682921),  # 笠間市
    12205: Location(34.9965, 139.8700, 2679947),  # 館山市
    12234: Location(35.0387, 139.8371, 2679904),  # 南房総市
    15202: Location(37.4470, 138.8512, 4453959),  # 長岡市
    15210: Location(37.1276, 138.7555, 4516028),  # 十日町市
    15482: Location(37.0143, 138.6525, 4516244),  # 津南町
    26100: Location(35.0210, 135.7556, 357794),  # 京都市
    30401: Location(33.6780, 135.3670, 3341935),  # 白浜町
    32449: Location(34.8939, 132.4380, 4088605),  # 邑南町
}


def municipality_location(code: int) -> Location | None:
    """Where the municipality is (a point, see :data:`LOCATIONS`), or None for a code not in the table."""
    return LOCATIONS.get(code)


def prefecture_code(code: int) -> int:
    """The prefecture (都道府県コード, 1 北海道 … 47 沖縄県) of a municipality code: its first two digits."""
    return code // 1000


def municipality_name(code: int, lang: str = "ja") -> str | None:
    """The municipality's name in ``lang`` (ja or en), or None for a code not in the table."""
    entry = MUNICIPALITIES.get(code)
    if entry is None:
        return None
    return entry[1] if lang == "en" else entry[0]


class JisCodeError(InvalidInput):
    """Text that is not a municipality code."""


def jis_code(code: int) -> str:
    """The canonical five-digit text of a municipality code: ``1634`` → ``"01634"``."""
    if isinstance(code, bool) or not isinstance(code, int) or not 0 < code <= 99_999:
        raise JisCodeError(f"a municipality code is 1..99999, got {code!r}")
    return f"{code:05d}"


def parse_jis_code(text: str | int) -> int:
    """A municipality code from its five-digit text or a spelling without the leading zero.

    Six digits are refused: that is the code with its check digit, which the ledger does not use.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        jis_code(text)
        return text
    raw = str(text).strip()
    if not raw.isascii() or not raw.isdigit() or not 1 <= len(raw) <= 5 or int(raw) == 0:
        raise JisCodeError(f"a municipality code is five digits (JIS X 0402, e.g. 01634), got {text!r}")
    return int(raw)


def region_label(code: int, coin_name: str | None = None, lang: str = "ja") -> str:
    """What a page calls a region: the municipality's name, else the coin's name, else the code."""
    return municipality_name(code, lang) or coin_name or jis_code(code)
