"""JIS X 0402 codes: five digits in text, an integer on chain; both spellings read back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.municipalities import JisCodeError, jis_code, parse_jis_code, region_label


@given(st.integers(min_value=1, max_value=99_999))
def test_codes_round_trip_in_both_spellings(code: int) -> None:
    text = jis_code(code)
    assert len(text) == 5 and text.isdigit()
    assert parse_jis_code(text) == code
    assert parse_jis_code(str(code)) == code


def test_leading_zero() -> None:
    assert jis_code(1634) == "01634"
    assert parse_jis_code("01634") == parse_jis_code("1634") == 1634


@pytest.mark.parametrize("text", ["", "0", "00000", "016340", "1634a", "-1634", "１６３４", " ", "1e3"])
def test_text_that_is_not_a_code_is_refused(text: str) -> None:
    with pytest.raises(JisCodeError):
        parse_jis_code(text)


@pytest.mark.parametrize("code", [0, -1, 100_000, True])
def test_numbers_that_are_not_codes_are_refused(code: int) -> None:
    with pytest.raises(JisCodeError):
        jis_code(code)


def test_a_region_is_named_by_its_municipality() -> None:
    assert region_label(1634, "上士幌つながりコイン") == "上士幌町"
    assert region_label(1634, "上士幌つながりコイン", "en") == "Kamishihoro"
    assert region_label(99_999, "どこかのコイン") == "どこかのコイン"
    assert region_label(99_999) == "99999"
