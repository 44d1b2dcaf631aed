"""Names of the municipalities the demo and the seed document mention, by JIS X 0402 code.

On chain a region is only its code; the coin's name is what its admin registered. This table gives
the pages a municipality name (ja and en) for codes we know. Source: 総務省「全国地方公共団体コード」.
An unknown code is shown as the coin's name or the code itself.
"""

from __future__ import annotations

__all__ = ["MUNICIPALITIES", "municipality_name"]

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


def municipality_name(code: int, lang: str = "ja") -> str | None:
    """The municipality's name in ``lang`` (ja or en), or None for a code not in the table."""
    entry = MUNICIPALITIES.get(code)
    if entry is None:
        return None
    return entry[1] if lang == "en" else entry[0]
