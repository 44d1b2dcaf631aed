"""The certificate format and its signatures, as pure logic: strict parsing that names the field,
EIP-712 round trips, and the Premium rule's window and lapse date."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from ledger.certificate.eligibility import eligibility, window, year_after
from ledger.certificate.model import (
    Certificate,
    CertificateFormatError,
    CertificateRecord,
    Municipality,
    parse_certificate,
)
from ledger.certificate.typed import certificate_typed_data, holder_proof_typed_data, recover_typed, sign_typed
from ledger.checkin.metadata import metadata_document

HOLDER = Account.from_key(keccak(text="format-holder"))
OTHER = Account.from_key(keccak(text="format-other"))
LEDGER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def sample() -> Certificate:
    document, digest = metadata_document("田植え体験", "棚田で", "館山市")
    record = CertificateRecord(
        tx_hash="0x" + "ab" * 32,
        log_index=3,
        block_hash="0x" + "cd" * 32,
        block_number=42,
        day=date(2026, 5, 17),
        activity_id=7,
        units=1,
        designated=True,
        metadata_hash=digest,
        kind=21,
        unit=0,
        coins=100,
        activity_document=document,
    )
    return Certificate(
        chain_id=31337,
        ledger=LEDGER,
        holder=HOLDER.address,
        municipality=Municipality(1634, "上士幌町", "Kamishihoro"),
        from_day=date(2025, 12, 8),
        to_day=date(2026, 12, 7),
        issued_at=1_796_000_000,
        records=(record,),
    )


def as_json(certificate: Certificate) -> dict[str, Any]:
    return json.loads(certificate.to_bytes())


def test_round_trip_and_the_five_digit_code() -> None:
    certificate = sample()
    raw = as_json(certificate)
    assert raw["municipality"]["code"] == "01634" and raw["issued_at"].endswith("+09:00")
    assert raw["records"][0]["activity"]["name"] == "田植え体験"
    assert parse_certificate(certificate.to_bytes()) == certificate


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.update(format="other"), "format"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.pop("holder"), "holder"),
        (lambda d: d.update(holder="0x1234"), "holder"),
        (lambda d: d["municipality"].update(code="1634"), "municipality.code"),
        (lambda d: d["range"].update({"from": "2026-12-08"}), "range"),
        (lambda d: d["range"].update({"to": "2026-02-30"}), "range.to"),
        (lambda d: d["records"][0].update(tx_hash="0xzz"), "records[0].tx_hash"),
        (lambda d: d["records"][0].update(units=0), "records[0].units"),
        (lambda d: d["records"][0].update(designated="yes"), "records[0].designated"),
        (lambda d: d["records"][0].update(log_index=True), "records[0].log_index"),
        (lambda d: d.update(signature={"type": "EIP-191", "value": "0x00"}), "signature"),
        (lambda d: d.update(issued_at="yesterday"), "issued_at"),
        (lambda d: d.update(records=[{}] * 1_001), "records"),
    ],
)
def test_every_malformed_field_is_named(edit: Any, where: str) -> None:
    raw = as_json(sample())
    edit(raw)
    with pytest.raises(CertificateFormatError) as caught:
        parse_certificate(json.dumps(raw))
    assert caught.value.where == where, str(caught.value)


def test_not_json_and_too_large() -> None:
    with pytest.raises(CertificateFormatError, match="is not JSON"):
        parse_certificate(b"{")
    with pytest.raises(CertificateFormatError, match="larger than"):
        parse_certificate(b" " * 2_000_001)


def test_the_holder_signs_and_anything_signed_that_changes_breaks_it() -> None:
    certificate = sample()
    signature = sign_typed(certificate_typed_data(certificate), HOLDER.key)
    signed = certificate.signed(signature)
    assert recover_typed(certificate_typed_data(signed), signature) == HOLDER.address
    moved = parse_certificate(json.dumps({**as_json(signed), "range": {"from": "2025-12-09", "to": "2026-12-07"}}))
    assert recover_typed(certificate_typed_data(moved), signature) != HOLDER.address
    other_chain = certificate_typed_data(certificate)
    other_chain["domain"]["chainId"] = 81
    assert recover_typed(other_chain, signature) != HOLDER.address
    assert recover_typed(certificate_typed_data(certificate), "0x" + "00" * 65) is None
    by_other = sign_typed(certificate_typed_data(certificate), OTHER.key)
    assert recover_typed(certificate_typed_data(certificate), by_other) == OTHER.address


def test_a_holder_proof_is_bound_to_its_nonce_and_audience() -> None:
    nonce = "0x" + "11" * 32
    document = holder_proof_typed_data(31337, LEDGER, HOLDER.address, nonce, 1_796_000_300, "館山市役所 窓口")
    signature = sign_typed(document, HOLDER.key)
    assert recover_typed(document, signature) == HOLDER.address
    elsewhere = holder_proof_typed_data(31337, LEDGER, HOLDER.address, nonce, 1_796_000_300, "別の窓口")
    assert recover_typed(elsewhere, signature) != HOLDER.address


def test_the_window_is_the_twelve_months_ending_on_the_day() -> None:
    assert window(date(2026, 12, 7)) == (date(2025, 12, 8), date(2026, 12, 7))
    assert window(date(2028, 2, 29)) == (date(2027, 3, 1), date(2028, 2, 29))
    assert window(date(2027, 1, 1)) == (date(2026, 1, 2), date(2027, 1, 1))
    assert year_after(date(2028, 2, 29)) == date(2029, 2, 28)


def test_eligibility_and_the_day_it_lapses() -> None:
    days = [date(2026, 1, 10), date(2026, 5, 17), date(2026, 8, 1), date(2026, 11, 3)]
    verdict = eligibility(days, date(2026, 12, 7))
    assert verdict.eligible and verdict.designated == 4 and verdict.text_ja == "指定活動 4件（直近12か月）"
    assert verdict.eligible_until == date(2027, 5, 16)  # the third most recent (2026-05-17) + 1 year - 1 day
    assert eligibility(days, date(2027, 5, 16)).eligible
    assert not eligibility(days, date(2027, 5, 17)).eligible  # the day it lapses
    assert eligibility(days, date(2027, 5, 17)).eligible_until is None
    assert not eligibility(days[:2], date(2026, 12, 7)).eligible
    assert eligibility(days, date(2025, 12, 31)).designated == 0  # records after as_of do not count
