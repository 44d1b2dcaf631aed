"""Verifying certificates against a real node (anvil over HTTP): a good one, and every way a line,
the signature or the chain can be wrong — each named by its line and reason."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from ledger.certificate.issue import today_jst
from ledger.certificate.model import Certificate, parse_certificate
from ledger.certificate.verify import VerificationReport, verify_certificate
from ledger.indexer.rpc import HttpJsonRpc
from tests.certificate.world import NAGAOKA, CertificateWorld, certificate_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertificateWorld]:
    with certificate_world(tmp_path_factory.mktemp("certificate")) as running:
        yield running


def check(world: CertificateWorld, certificate: Certificate, **kw: object) -> VerificationReport:
    rpc = world.rpc()
    try:
        options: dict[str, object] = {"trusted_ledger": world.deployment.ledger, "as_of": today_jst()}
        options.update(kw)
        return verify_certificate(certificate, rpc, **options)  # type: ignore[arg-type]
    finally:
        rpc.close()


def replace_line(certificate: Certificate, index: int, **changes: object) -> Certificate:
    records = list(certificate.records)
    records[index] = dataclasses.replace(records[index], **changes)  # type: ignore[arg-type]
    return dataclasses.replace(certificate, records=tuple(records))


def failed(report: VerificationReport) -> dict[int, list[str]]:
    return {line.line: line.reasons for line in report.lines if line.status == "failed"}


def test_a_signed_certificate_verifies_and_gives_premium(world: CertificateWorld) -> None:
    certificate = world.sign(world.draft())
    assert len(certificate.records) == 4  # three designated and the ordinary one; not 長岡's
    assert certificate.summary["designated"] == 3 and certificate.summary["premium"] is True
    assert certificate.summary["text"] == "指定活動 3件（直近12か月）"
    again = parse_certificate(certificate.to_bytes())  # the file round-trips
    assert again == certificate
    report = check(world, again)
    assert report.valid and report.premium, report.to_json()
    assert [line.status for line in report.lines] == ["ok"] * 4
    assert report.verdict is not None and report.verdict.designated == 3
    ordinary = next(line for line in report.lines if not line.record.designated)
    assert ordinary.record.units == 2 and ordinary.record.coins == 100 and ordinary.record.unit == 1
    assert ordinary.record.name == "朝市のお手伝い"


def test_an_edited_date_fails_its_line_and_the_signature(world: CertificateWorld) -> None:
    good = world.sign(world.draft())
    edited = replace_line(good, 1, day=good.records[1].day - timedelta(days=1))
    report = check(world, edited)
    assert failed(report) == {2: ["date_mismatch"]}
    assert [p.code for p in report.problems] == ["signature_invalid"]
    assert not report.valid and not report.premium


def test_an_edited_name_fails_against_the_metadata_hash(world: CertificateWorld) -> None:
    good = world.draft()
    document = good.records[0].activity_document
    assert document is not None
    edited = world.sign(replace_line(good, 0, activity_document=document.replace("田植え体験", "稲刈り体験")))
    report = check(world, edited)
    assert failed(report) == {1: ["name_mismatch"]}
    assert not report.problems  # signed by the holder after the edit: only the line betrays it


def test_a_forged_line_names_the_line(world: CertificateWorld) -> None:
    good = world.draft()
    forged = world.sign(replace_line(good, 2, tx_hash="0x" + keccak(text="no such tx").hex()))
    report = check(world, forged)
    assert failed(report) == {3: ["tx_not_found"]}
    # a line copied from someone else's record: the log names another holder
    with world.engine.connect():
        theirs = world.draft(holder=world.other.address)
    stolen = world.sign(
        dataclasses.replace(
            good, records=(*good.records[:2], dataclasses.replace(theirs.records[0], activity_id=world.designated[2]))
        )
    )
    report = check(world, stolen)
    assert set(failed(report)[3]) >= {"wrong_holder", "activity_mismatch"}


def test_a_line_claimed_designated_that_is_not(world: CertificateWorld) -> None:
    good = world.draft()
    index = next(i for i, r in enumerate(good.records) if not r.designated)
    lying = world.sign(replace_line(good, index, designated=True))
    report = check(world, lying)
    assert failed(report) == {index + 1: ["not_designated"]}
    assert not report.premium


def test_an_activity_of_another_municipality(world: CertificateWorld) -> None:
    good = world.draft()
    nagaoka = world.draft(region=NAGAOKA)
    assert len(nagaoka.records) == 1
    mixed = world.sign(dataclasses.replace(good, records=(*good.records, nagaoka.records[0])))
    report = check(world, mixed)
    assert failed(report) == {5: ["wrong_municipality"]}


def test_a_signature_by_another_key(world: CertificateWorld) -> None:
    report = check(world, world.sign(world.draft(), key=world.other))
    assert [p.code for p in report.problems] == ["signature_invalid"]
    assert not failed(report) and not report.valid and not report.premium
    unsigned = check(world, world.draft())
    assert [p.code for p in unsigned.problems] == ["unsigned"] and not unsigned.premium


def test_a_duplicate_line_is_not_counted_twice(world: CertificateWorld) -> None:
    good = world.draft()
    doubled = world.sign(dataclasses.replace(good, records=(*good.records, good.records[0])))
    report = check(world, doubled)
    assert failed(report) == {5: ["duplicate"]}


def test_a_chain_id_that_does_not_match(world: CertificateWorld) -> None:
    other_chain = world.sign(dataclasses.replace(world.draft(), chain_id=81))
    report = check(world, other_chain)
    assert [p.code for p in report.problems] == ["chain_id_mismatch"]
    assert not report.checked and not report.lines and not report.valid


def test_another_ledger_is_not_trusted(world: CertificateWorld) -> None:
    certificate = world.sign(world.draft())
    report = check(world, certificate, trusted_ledger="0x" + "11" * 20)
    assert [p.code for p in report.problems] == ["untrusted_ledger"] and not report.valid


def test_an_rpc_that_is_down(world: CertificateWorld, tmp_path: Path) -> None:
    from ledger.chain.devnet import free_port

    rpc = HttpJsonRpc(f"http://127.0.0.1:{free_port()}", timeout_s=1)
    report = verify_certificate(
        world.sign(world.draft()), rpc, trusted_ledger=world.deployment.ledger, as_of=today_jst()
    )
    assert [p.code for p in report.problems] == ["rpc_unavailable"] and not report.valid


def test_the_verdict_counts_only_the_window(world: CertificateWorld) -> None:
    certificate = world.sign(world.draft())
    later = check(world, certificate, as_of=today_jst() + timedelta(days=366))
    assert later.valid and not later.premium and later.verdict is not None and later.verdict.designated == 0


def test_a_revoked_record_changes_the_verdict(tmp_path: Path) -> None:
    """Its own chain: a revocation is for good."""
    with certificate_world(tmp_path) as world:
        certificate = world.sign(world.draft())
        assert check(world, certificate).premium
        world.client.revoke(world.admin, world.designated[1], world.person.address, 1)
        report = check(world, certificate)
        assert [line.status for line in report.lines][1] == "revoked"
        assert report.valid and not report.premium  # authentic, but two designated records count now
        assert report.verdict is not None and report.verdict.designated == 2
        world.index()
        assert len(world.draft().records) == 3  # a new certificate leaves the revoked record out


def test_a_certificate_made_before_the_text_changed_still_verifies(tmp_path: Path) -> None:
    """The activity's text is edited on chain after the certificate: the line's older hash is found
    in the activity's ActivityRegistered log; a hash the activity never had is not."""
    from ledger.checkin.metadata import metadata_document, store_metadata
    from ledger.db.engine import write_transaction

    with certificate_world(tmp_path) as world:
        certificate = world.sign(world.draft())
        with write_transaction(world.engine) as conn:
            edited = store_metadata(conn, "田植え体験（雨天決行）", "棚田で", "集会所")
        world.client.set_activity_metadata(world.admin, world.designated[0], bytes.fromhex(edited[2:]))
        report = check(world, certificate)
        assert report.valid and [line.status for line in report.lines] == ["ok"] * 4
        document, digest = metadata_document("架空の活動")
        never = world.sign(replace_line(certificate, 0, activity_document=document, metadata_hash=digest))
        assert failed(check(world, never)) == {1: ["metadata_unknown"]}
