"""The pseudonymiser's window lookup (an Arrow hash table of the people seen so far) gives exactly the
pseudonyms of the documented formula, whatever the values: repeated people, nulls, values that are
not addresses, a table that grows, and addresses whose 64-bit keys collide."""

from __future__ import annotations

import hashlib
import random

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pytest

from ledger.export import pseudonym
from ledger.export.pseudonym import Pseudonymiser

SALT = bytes(range(40, 72))


def _expected(value: str | None) -> str | None:
    """The formula of docs/export.md, written out independently."""
    if value is None:
        return None
    digest = hashlib.sha256(SALT)
    try:
        digest.update(bytes.fromhex(value[2:] if value.startswith(("0x", "0X")) else value))
    except ValueError:
        digest.update(value.encode("utf-8"))
    return "p_" + digest.hexdigest()[:32]


def _values(rng: random.Random, people: int, rows: int) -> list[str | None]:
    crowd = ["0x" + rng.randbytes(20).hex() for _ in range(people)]
    crowd += ["0x" + "00" * 19 + f"{n:02x}" for n in range(40)]  # vanity-like: one differing digit pair
    values: list[str | None] = [rng.choice(crowd) for _ in range(rows)]
    odd = [None, "", "0x12", "not an address", "0X" + "AB" * 20, "0x" + "é" * 20, "0x" + "zz" * 20]
    for value in odd * 3:
        values.insert(rng.randrange(len(values)), value)
    return values


def _check(pseudonymiser: Pseudonymiser, values: list[str | None], chunk: int) -> None:
    for start in range(0, len(values), chunk):
        part = values[start : start + chunk]
        got = pseudonymiser.array(pa.array(part, pa.string()))
        assert got.type == pa.string()
        assert got.to_pylist() == [_expected(v) for v in part]


def test_windows_get_the_formula_s_pseudonyms_and_the_table_grows() -> None:
    values = _values(random.Random(5), 3_000, 12_000)
    pseudonymiser = Pseudonymiser(SALT)
    _check(pseudonymiser, values, 2_500)
    _check(pseudonymiser, values, 4_000)  # everyone known by now
    assert pseudonymiser.one(values[0] or "") == _expected(values[0] or "")


def test_a_small_table_grows_and_long_probe_runs_are_finished(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pseudonym, "_FIRST_BITS", 3)  # 8 slots: doubled again and again, long runs
    monkeypatch.setattr(pseudonym, "_ROUNDS", 2)
    values = _values(random.Random(6), 2_000, 6_000)
    pseudonymiser = Pseudonymiser(SALT)
    _check(pseudonymiser, values, 1_000)
    _check(pseudonymiser, values, 1_000)


def test_addresses_sharing_a_key_keep_their_own_pseudonyms(monkeypatch: pytest.MonkeyPatch) -> None:
    real_keys, eight = pseudonym._keys, pseudonym._scalar(7, pa.uint64())  # 8 keys in all
    monkeypatch.setattr(pseudonym, "_keys", lambda fixed: pc.bit_wise_and(real_keys(fixed), eight))
    values = _values(random.Random(7), 500, 2_000)
    pseudonymiser = Pseudonymiser(SALT)
    _check(pseudonymiser, values, 700)
    _check(pseudonymiser, values, 700)


def test_the_directory_starts_over_past_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pseudonym, "_DIRECTORY_LIMIT", 100)
    values = _values(random.Random(8), 1_000, 3_000)
    pseudonymiser = Pseudonymiser(SALT)
    _check(pseudonymiser, values, 500)
    assert pseudonymiser._directory.count < 1_000


def test_empty_and_all_null_columns() -> None:
    pseudonymiser = Pseudonymiser(SALT)
    assert pseudonymiser.array(pa.array([], pa.string())).to_pylist() == []
    assert pseudonymiser.array(pa.array([None, None], pa.string())).to_pylist() == [None, None]
