"""The demo's ふるさと住民登録 example: a seeded participant eligible for Premium, their signed
certificate and the standalone verifier, written to ``.tsunagari/certificates/`` (devnet only).

The seeded participants' keys are public throwaway keys derived from the demo seed
(:func:`ledger.demo_seed.run.seed_participant_key`), so the demo can sign as one of them — what a
participant does on their つながり page — and show that the certificate verifies against the node
with our server stopped. Never on a chain other than 31337.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import coincurve
from sqlalchemy import Engine

from ledger.certificate.issue import draft_certificate, today_jst
from ledger.certificate.model import Certificate
from ledger.certificate.roster import eligibility_roster
from ledger.certificate.typed import certificate_typed_data, sign_typed
from ledger.demo_seed.run import address_of, seed_participant_key
from ledger.settings import DEVNET_CHAIN_ID

__all__ = ["DemoCertificate", "seeded_key_of", "write_demo_certificate"]


@dataclass(frozen=True)
class DemoCertificate:
    certificate: Certificate
    path: Path
    verifier: Path | None


def seeded_key_of(address: str, seed: int, people: int) -> bytes | None:
    """The throwaway private key of the seeded participant at ``address`` (devnet demo only)."""
    wanted = address.lower()
    for index in range(people):
        key = seed_participant_key(seed, index)
        if address_of(coincurve.PrivateKey(key)) == wanted:
            return key
    return None


def write_demo_certificate(
    engine: Engine,
    *,
    chain_id: int,
    ledger: str,
    seed: int,
    people: int,
    region: int,
    folder: Path,
    site: str,
    rpc_url: str,
) -> DemoCertificate | None:
    """Sign and write the certificate of one of the region's seeded participants eligible for
    Premium (about four designated activities in the last 12 months); None when nobody there is
    eligible, or not on the devnet."""
    if chain_id != DEVNET_CHAIN_ID:
        return None
    with engine.connect() as conn:
        roster = [row for row in eligibility_roster(conn, region, today_jst()) if row.eligible]
    if not roster:
        return None
    # a typical eligible person (about four designated activities), not the most active one
    best = min(roster, key=lambda row: (abs(row.designated - 4), row.participant)).participant.lower()
    secret = seeded_key_of(best, seed, people)
    if secret is None:
        return None
    with engine.connect() as conn:
        draft = draft_certificate(
            conn, holder=best, region=region, chain_id=chain_id, ledger=ledger, site=site, rpc_hint=rpc_url
        )
    certificate = draft.signed(sign_typed(certificate_typed_data(draft), secret))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"certificate-{certificate.municipality.code}-{best[2:10]}.json"
    path.write_bytes(certificate.to_bytes())
    verifier: Path | None = None
    try:
        from ledger.certificate.standalone import build_verifier_html

        verifier = folder / "tsunagari-verifier.html"
        verifier.write_text(
            build_verifier_html(chain_id=chain_id, ledger=ledger, rpc_url=rpc_url, site=site), encoding="utf-8"
        )
    except OSError:
        verifier = None  # the pinned browser libraries are not installed (no node_modules): CLI only
    return DemoCertificate(certificate, path, verifier)
