"""What every ``tsunagari`` command shares for people reading its output: municipality codes in,
municipality names and five-digit codes out, times in Japan time with the zone, plain tables.

- A region is given as its JIS X 0402 code, five digits (``01634``) or without the leading zero
  (``1634``): :data:`RegionArg` / :data:`RegionOption` read both (:func:`ledger.municipalities.parse_jis_code`)
  and refuse anything else with a clear message.
- A region is printed as ``01634 上士幌町`` (:func:`region_text`); JSON carries the five-digit text.
- A moment is printed as ``2026-12-07 21:05:09 JST`` (:func:`when`, :func:`ledger.jst.format_datetime`),
  never as unix seconds or UTC without a zone. ``--json`` keeps unix seconds (machines read those).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from wcwidth import wcswidth, wcwidth

from ledger.jst import format_datetime
from ledger.municipalities import JisCodeError, jis_code, municipality_name, parse_jis_code

__all__ = ["RegionArg", "RegionOption", "region_code", "region_text", "table", "when"]


def region_code(value: str) -> int:
    """A municipality code from the command line (``01634`` or ``1634``)."""
    try:
        return parse_jis_code(value)
    except JisCodeError as exc:
        raise typer.BadParameter(str(exc)) from None


RegionArg = Annotated[
    int,
    typer.Argument(
        parser=region_code, metavar="CODE", help="JIS X 0402 municipality code, five digits (01634; 1634 also works)"
    ),
]
RegionOption = Annotated[
    int,
    typer.Option(
        "--region",
        parser=region_code,
        metavar="CODE",
        help="JIS X 0402 municipality code, five digits (01634; 1634 also works)",
    ),
]


def region_text(code: int) -> str:
    """``01634 上士幌町`` (the code alone for a municipality not in the name table)."""
    name = municipality_name(code, "ja")
    return f"{jis_code(code)} {name}" if name else jis_code(code)


def when(timestamp: int | None) -> str:
    """Unix seconds as ``2026-12-07 21:05:09 JST``; ``-`` for none."""
    if timestamp is None or timestamp <= 0:
        return "-"
    return format_datetime(timestamp, "en", seconds=True)


def _width(text: str) -> int:
    """Columns a terminal gives ``text``: wide (CJK) characters take two, combining marks none
    (``wcwidth``, the Unicode tables terminals follow); a character it cannot measure counts as one."""
    width = wcswidth(text)
    if width >= 0:
        return int(width)
    return sum(max(wcwidth(ch), 1) for ch in text)


def table(header: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[bool] | None = None) -> str:
    """A plain text table: columns padded to their widest cell, numbers right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(header))]
    right = list(numeric) if numeric is not None else [False] * len(header)
    lines = []
    for row in cells:
        parts = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - _width(cell))
            parts.append(pad + cell if right[i] else cell + pad)
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
