"""The certificate endpoints over real HTTP, on anvil: draft → sign → keep → read back; what is refused;
and the holder proof's mailbox (a signed answer in, the verifier reads it; forged, expired and
over-long challenges refused)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from ledger.certificate.model import parse_certificate
from ledger.certificate.typed import holder_proof_typed_data, sign_typed
from ledger.certificate.verify import verify_holder_proof
from tests.certificate.world import TATEYAMA, CertificateWorld, certificate_world, served_app


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CertificateWorld, str]]:
    tmp = tmp_path_factory.mktemp("certificate-api")
    with certificate_world(tmp) as running, served_app(running, tmp) as base_url:
        yield running, base_url


def test_draft_sign_keep_and_read_back(world: tuple[CertificateWorld, str]) -> None:
    w, base = world
    answer = httpx.get(f"{base}/api/v1/people/{w.person.address.lower()}/certificate", params={"region": TATEYAMA})
    assert answer.status_code == 200, answer.text
    draft = answer.json()
    assert draft["certificate"]["municipality"] == {
        "region": TATEYAMA,
        "code": "12205",
        "name": "館山市",
        "name_en": "Tateyama",
    }
    assert len(draft["certificate"]["records"]) == 4 and draft["certificate"]["summary"]["premium"] is True
    assert draft["typed_data"]["primaryType"] == "Certificate"
    signature = sign_typed(draft["typed_data"], w.person.key)
    body = {**draft["certificate"], "signature": {"type": "EIP-712", "value": signature}}
    kept = httpx.post(f"{base}/api/v1/certificates", json=body)
    assert kept.status_code == 201, kept.text
    links = kept.json()
    stored = httpx.get(f"{base}{links['json_url']}")
    assert stored.status_code == 200 and stored.headers["access-control-allow-origin"] == "*"
    assert "attachment" in stored.headers["content-disposition"]
    certificate = parse_certificate(stored.content)
    assert certificate.signature == signature.lower() and certificate.holder == w.person.address
    assert links["verify_url"] == f"/verify/certificate?c={links['certificate_id']}"
    # keeping it again is idempotent
    assert httpx.post(f"{base}/api/v1/certificates", json=body).json() == links


def test_refused_certificates(world: tuple[CertificateWorld, str]) -> None:
    w, base = world
    draft = httpx.get(f"{base}/api/v1/people/{w.person.address}/certificate", params={"region": TATEYAMA}).json()
    unsigned = httpx.post(f"{base}/api/v1/certificates", json=draft["certificate"])
    assert unsigned.status_code == 422 and unsigned.json()["error"]["code"] == "signature_invalid"
    theirs = sign_typed(draft["typed_data"], w.other.key)
    body = {**draft["certificate"], "signature": {"type": "EIP-712", "value": theirs}}
    other = httpx.post(f"{base}/api/v1/certificates", json=body)
    assert other.status_code == 422 and other.json()["error"]["code"] == "signature_invalid"
    # a line that is not the holder's record in our index, signed by the holder all the same
    mine = w.draft()
    theirs_line = w.draft(holder=w.other.address).records[0]
    from dataclasses import replace

    forged = w.sign(replace(mine, records=(*mine.records[:1], theirs_line)))
    refused = httpx.post(f"{base}/api/v1/certificates", content=forged.to_bytes())
    assert refused.status_code == 422 and "line 2" in refused.json()["error"]["message"]
    garbage = httpx.post(f"{base}/api/v1/certificates", content=b'{"format": "something else"}')
    assert garbage.status_code == 422 and garbage.json()["error"]["code"] == "certificate_invalid"
    huge = httpx.post(f"{base}/api/v1/certificates", content=b"x" * 3_000_000)
    assert huge.status_code == 413
    bad = httpx.get(f"{base}/api/v1/people/0x1234/certificate", params={"region": TATEYAMA})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_address"
    unknown = httpx.get(f"{base}/api/v1/people/{w.person.address}/certificate", params={"region": 99999})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "certificate_request"
    backwards = httpx.get(
        f"{base}/api/v1/people/{w.person.address}/certificate",
        params={"region": TATEYAMA, "from": "2026-05-01", "to": "2026-04-01"},
    )
    assert backwards.status_code == 422
    assert httpx.get(f"{base}/api/v1/certificates/{'0' * 64}").status_code == 404
    assert httpx.get(f"{base}/api/v1/certificates/not-an-id").status_code == 404


def _answer(w: CertificateWorld, nonce: str, expires_at: int, key: bytes | None = None) -> dict[str, object]:
    document = holder_proof_typed_data(
        31337, w.deployment.ledger, w.person.address, nonce, expires_at, "館山市役所 窓口"
    )
    return {
        "holder": w.person.address,
        "nonce": nonce,
        "expires_at": expires_at,
        "audience": "館山市役所 窓口",
        "signature": sign_typed(document, key or w.person.key),
    }


def test_the_holder_proof_mailbox(world: tuple[CertificateWorld, str]) -> None:
    w, base = world
    nonce = "0x" + secrets.token_hex(32)
    expires_at = int(time.time()) + 300
    typed = httpx.get(
        f"{base}/api/v1/holder-proofs/typed-data",
        params={"holder": w.person.address, "nonce": nonce, "expires_at": expires_at, "audience": "館山市役所 窓口"},
    ).json()
    assert typed["primaryType"] == "HolderProof" and typed["domain"]["verifyingContract"] == w.deployment.ledger
    assert httpx.get(f"{base}/api/v1/presentations/{nonce}").json() == {"presentations": []}
    posted = httpx.post(f"{base}/api/v1/presentations", json=_answer(w, nonce, expires_at))
    assert posted.status_code == 201, posted.text
    read = httpx.get(f"{base}/api/v1/presentations/{nonce}")
    assert read.headers["access-control-allow-origin"] == "*"
    (proof,) = read.json()["presentations"]
    ok = verify_holder_proof(
        proof, chain_id=31337, ledger=w.deployment.ledger, holder=w.person.address, nonce=nonce, now=int(time.time())
    )
    assert ok == []
    # the same answer shown to another verifier's challenge is a replay
    replay = verify_holder_proof(
        proof,
        chain_id=31337,
        ledger=w.deployment.ledger,
        holder=w.person.address,
        nonce="0x" + "ab" * 32,
        now=int(time.time()),
    )
    assert replay == ["wrong_nonce"]
    late = verify_holder_proof(
        proof, chain_id=31337, ledger=w.deployment.ledger, holder=w.person.address, nonce=nonce, now=expires_at + 1
    )
    assert late == ["expired"]
    # and someone else's key does not prove this holder
    impostor = _answer(w, nonce, expires_at, key=w.other.key)
    refused = httpx.post(f"{base}/api/v1/presentations", json=impostor)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "signature_invalid"
    assert verify_holder_proof(
        impostor, chain_id=31337, ledger=w.deployment.ledger, holder=w.person.address, nonce=nonce, now=int(time.time())
    ) == ["wrong_signer"]


def test_the_mailbox_refuses_expired_far_and_too_many(world: tuple[CertificateWorld, str]) -> None:
    w, base = world
    nonce = "0x" + secrets.token_hex(32)
    old = httpx.post(f"{base}/api/v1/presentations", json=_answer(w, nonce, int(time.time()) - 5))
    assert old.status_code == 422 and old.json()["error"]["code"] == "challenge_expired"
    far = httpx.post(f"{base}/api/v1/presentations", json=_answer(w, nonce, int(time.time()) + 3600))
    assert far.status_code == 422 and far.json()["error"]["code"] == "challenge_invalid"
    expires_at = int(time.time()) + 300
    for _ in range(5):
        assert httpx.post(f"{base}/api/v1/presentations", json=_answer(w, nonce, expires_at)).status_code == 201
    sixth = httpx.post(f"{base}/api/v1/presentations", json=_answer(w, nonce, expires_at))
    assert sixth.status_code == 429
    assert httpx.get(f"{base}/api/v1/presentations/not-a-nonce").status_code == 422


def test_preflight_allows_any_origin(world: tuple[CertificateWorld, str]) -> None:
    _, base = world
    answer = httpx.options(f"{base}/api/v1/presentations/0x{'00' * 32}", headers={"Origin": "null"})
    assert answer.status_code == 204 and answer.headers["access-control-allow-origin"] == "*"
