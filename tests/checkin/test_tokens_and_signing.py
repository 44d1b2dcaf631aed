"""Kiosk tokens and claim signatures: pure logic, no chain or database."""

from __future__ import annotations

import base64

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given
from hypothesis import strategies as st

from ledger.checkin.errors import CheckinRejected
from ledger.checkin.signing import ClaimSigning, normalise_address
from ledger.checkin.tokens import CLOCK_SKEW_S, KioskTokens

LEDGER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
KEY = b"k" * 32


def tokens(**kwargs: int) -> KioskTokens:
    return KioskTokens(KEY, 31337, LEDGER, rotation_s=kwargs.get("rotation_s", 30), grace_s=kwargs.get("grace_s", 30))


def test_a_token_round_trips_and_is_short() -> None:
    t = tokens()
    token = t.issue(12205, 7, 1000)
    assert len(token) == 38
    payload = t.verify(token, 1000 * 30 + 1)
    assert (payload.region, payload.activity_id, payload.slot) == (12205, 7, 1000)
    assert payload.expires_at == 1001 * 30 + 30


def test_the_grace_window_keeps_a_just_rotated_code_valid() -> None:
    t = tokens(rotation_s=30, grace_s=20)
    token = t.issue(12205, 7, 1000)
    t.verify(token, 1001 * 30 + 19.9)  # the kiosk shows the next code, this one still works
    with pytest.raises(CheckinRejected) as info:
        t.verify(token, 1001 * 30 + 20)
    assert info.value.code == "token_expired"


def test_a_token_from_the_future_is_refused() -> None:
    t = tokens()
    token = t.issue(12205, 7, 1000)
    t.verify(token, 1000 * 30 - CLOCK_SKEW_S)
    with pytest.raises(CheckinRejected) as info:
        t.verify(token, 1000 * 30 - CLOCK_SKEW_S - 1)
    assert info.value.code == "token_forged"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda tok: tok[:-1] + ("A" if tok[-1] != "A" else "B"), "token_forged"),
        (lambda tok: tok[:10], "token_malformed"),
        (lambda tok: "!" * 38, "token_malformed"),
        (lambda tok: "ｱ" * 38, "token_malformed"),
        (lambda tok: KioskTokens(b"x" * 32, 31337, LEDGER).issue(12205, 7, 1000), "token_forged"),
        (lambda tok: KioskTokens(KEY, 1, LEDGER).issue(12205, 7, 1000), "token_forged"),  # another chain
    ],
)
def test_bad_tokens_get_their_own_code(make: object, code: str) -> None:
    t = tokens()
    token = make(t.issue(12205, 7, 1000))  # type: ignore[operator]
    with pytest.raises(CheckinRejected) as info:
        t.verify(token, 1000 * 30 + 1)
    assert info.value.code == code


@given(st.integers(1, 2**32 - 1), st.integers(1, 2**40 - 1), st.integers(0, 2**32 - 1), st.integers(1, 2**16 - 1))
def test_every_field_survives_encoding(region: int, activity: int, slot: int, units: int) -> None:
    t = tokens()
    token = t.issue(region, activity, slot, units)
    assert len(token) == 38
    payload = t.verify(token, slot * 30)
    assert (payload.region, payload.activity_id, payload.slot, payload.units) == (region, activity, slot, units)


def test_a_version_1_code_and_an_edited_unit_count_are_refused() -> None:
    t = tokens()
    token = t.issue(12205, 7, 1000, 3)
    raw = bytearray(base64.urlsafe_b64decode(token + "=="))
    for edit in (lambda b: b.__setitem__(0, 1), lambda b: b.__setitem__(slice(10, 12), b"\0\0")):
        edited = bytearray(raw)
        edit(edited)
        with pytest.raises(CheckinRejected) as info:
            t.verify(base64.urlsafe_b64encode(bytes(edited)).rstrip(b"=").decode(), 1000 * 30 + 1)
        assert info.value.code in ("token_malformed", "token_forged")
    with pytest.raises(ValueError):
        t.issue(12205, 7, 1000, -1)
    presence = t.verify(t.issue(12205, 7, 1000, 0), 1000 * 30 + 1)  # units 0: a presence kiosk's code
    assert presence.units == 0


def test_every_spare_bit_of_the_last_character_matters() -> None:
    t = tokens()
    token = t.issue(12205, 7, 1000)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for other in alphabet.replace(token[-1], ""):
        with pytest.raises(CheckinRejected) as info:
            t.verify(token[:-1] + other, 1000 * 30 + 1)
        assert info.value.code == "token_forged"


def test_kiosk_sessions_are_bound_to_one_activity_and_expire() -> None:
    t = tokens()
    session = t.open_session(7, 2_000, units=3)
    checked = t.check_session(session, 7, 1_999)
    assert (checked.activity_id, checked.units, checked.expires_at) == (7, 3, 2_000)
    assert t.check_session(t.open_session(7, 2_000), 7, 1).units == 1
    for args in (
        (session, 8, 1_000),
        (session, 7, 2_000),
        (session.replace(".2000.", ".3000."), 7, 1_000),
        (session.replace(".3.", ".8."), 7, 1_000),  # more hours than the staff opened it for
        (session.replace("ks2.", "ks1."), 7, 1_000),
        ("x", 7, 1),
    ):
        with pytest.raises(CheckinRejected) as info:
            t.check_session(*args)  # type: ignore[arg-type]
        assert info.value.code == "kiosk_session_invalid"


def test_the_claim_digest_is_the_eip712_digest_wallets_sign() -> None:
    signing = ClaimSigning(31337, LEDGER)
    person = Account.create()
    document = signing.typed_data(7, "tok", person.address, 1_700_000_000)
    signed = person.sign_message(encode_typed_data(full_message=document))
    digest = signing.digest(7, "tok", person.address.lower(), 1_700_000_000)
    assert digest == signed.message_hash
    assert signing.recover(digest, "0x" + signed.signature.hex().removeprefix("0x")) == person.address.lower()


def test_a_signature_by_someone_else_recovers_another_address() -> None:
    signing = ClaimSigning(31337, LEDGER)
    person, thief = Account.create(), Account.create()
    document = signing.typed_data(7, "tok", person.address, 1)
    forged = thief.sign_message(encode_typed_data(full_message=document))
    digest = signing.digest(7, "tok", person.address.lower(), 1)
    assert signing.recover(digest, "0x" + forged.signature.hex().removeprefix("0x")) != person.address.lower()


@pytest.mark.parametrize("signature", ["", "0x12", "0x" + "zz" * 65, "0x" + "00" * 64 + "05", 42])
def test_unreadable_signatures_are_bad_signature(signature: object) -> None:
    with pytest.raises(CheckinRejected) as info:
        ClaimSigning.recover(b"\x01" * 32, signature)
    assert info.value.code == "bad_signature"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "0x123",
        "not an address",
        "0x5FbDB2315678afecb367f032d93F642f64180aA3",
        "5fbdb2315678afecb367f032d93f642f64180aa3",
        None,
    ],
)
def test_bad_addresses(address: object) -> None:
    with pytest.raises(CheckinRejected) as info:
        normalise_address(address)
    assert info.value.code == "bad_address"


def test_good_addresses_are_lowercased() -> None:
    assert normalise_address(LEDGER) == LEDGER.lower()
    assert normalise_address(LEDGER.lower()) == LEDGER.lower()
