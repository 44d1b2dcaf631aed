"""What the CLI prints for people: regions as code and municipality, moments in JST with the
zone, tables aligned for Japanese text; codes read in both spellings."""

from __future__ import annotations

import pytest
import typer

from ledger.jst import day_start
from scripts.format_cli import region_code, region_text, table, when


def test_codes_in_both_spellings_and_names() -> None:
    assert region_code("01634") == region_code("1634") == 1634
    assert region_text(1634) == "01634 上士幌町" and region_text(12205) == "12205 館山市"
    assert region_text(99999) == "99999"  # not in the name table: the code alone
    for bad in ("016340", "0", "", "16a4", "１２２０５"):
        with pytest.raises(typer.BadParameter, match="five digits"):
            region_code(bad)


def test_moments_are_jst_with_the_zone() -> None:
    from datetime import date

    midnight = day_start(date(2026, 12, 7))  # 2026-12-06 15:00 UTC
    assert when(midnight) == "2026-12-07 00:00:00 JST"
    assert when(midnight - 1) == "2026-12-06 23:59:59 JST"
    assert when(None) == when(0) == "-"


def test_table_aligns_wide_characters_and_numbers() -> None:
    lines = table(("region", "coins"), [("01634 上士幌町", 5), ("12205 館山市", 1200)], (False, True)).splitlines()
    assert lines[0].startswith("region") and lines[1].endswith("    5") and lines[2].endswith(" 1200")
    # every line is as wide on a terminal (a CJK character takes two columns)
    widths = {sum(2 if ord(c) > 0x2E80 else 1 for c in line) for line in lines}
    assert len(widths) == 1


def test_table_measures_cells_as_a_terminal_does() -> None:
    # full-width digits and kana take two columns, a combining mark none (wcwidth's Unicode tables)
    rows = [("ｶﾀｶﾅ", 1), ("カタカナ", 2), ("ご\u3099", 3), ("１２", 4)]
    lines = table(("name", "n"), rows, (False, True)).splitlines()
    # half-width ｶﾀｶﾅ 4 columns, カタカナ 8, ご + combining dakuten 2, １２ 4: each number starts at column 10
    assert [line.index(str(n)) for n, line in zip((1, 2, 3, 4), lines[1:], strict=True)] == [10, 6, 10, 8]
