"""A chain with certificates to verify, shared by the certificate tests.

``certificate_world(tmp)``: anvil (a real node over HTTP, instant blocks) with the ledger deployed,
館山 (12205) and 長岡 (15202) registered, the relayer as issuer; in 館山 three designated 担い手活動
and one ordinary activity, in 長岡 one designated; a participant recorded at all five (plus a
bystander at one), the chain indexed into a SQLite file. ``draft`` and ``sign`` make certificates.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from sqlalchemy import Engine

from api.app import create_app
from ledger.certificate.issue import draft_certificate
from ledger.certificate.model import Certificate
from ledger.certificate.typed import certificate_typed_data, sign_typed
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput
from ledger.chain.deploy import Deployment, deploy_ledger, save_deployment
from ledger.chain.devnet import AnvilDevnet, free_port
from ledger.checkin.metadata import store_metadata
from ledger.db.engine import make_engine, upgrade_to_head, write_transaction
from ledger.indexer.rpc import HttpJsonRpc
from ledger.settings import Settings
from ledger.taxonomy import ContributionKind, RewardUnit
from tests.console.conftest import serving
from tests.indexer.helpers import make_indexer

TATEYAMA, NAGAOKA = 12205, 15202

__all__ = ["NAGAOKA", "TATEYAMA", "CertificateWorld", "certificate_world", "served_app"]


@dataclass
class CertificateWorld:
    anvil: AnvilDevnet
    deployment: Deployment
    client: LedgerClient
    engine: Engine
    admin: LocalAccount
    relayer: LocalAccount
    person: LocalAccount
    other: LocalAccount
    designated: list[int]  # 館山's three designated activities
    ordinary: int  # 館山's ordinary one (volunteering by the hour: 2 hours recorded)
    nagaoka: int  # 長岡's designated one

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    def rpc(self) -> HttpJsonRpc:
        return HttpJsonRpc(self.anvil.rpc_url, timeout_s=5)

    def index(self) -> None:
        indexer = make_indexer(self.anvil, self.deployment, self.engine)
        indexer.backfill()

    def draft(self, holder: str | None = None, region: int = TATEYAMA) -> Certificate:
        with self.engine.connect() as conn:
            return draft_certificate(
                conn,
                holder=holder or self.person.address,
                region=region,
                chain_id=31337,
                ledger=self.deployment.ledger,
                rpc_hint=self.anvil.rpc_url,
            )

    def sign(self, certificate: Certificate, key: LocalAccount | None = None) -> Certificate:
        signer = key or self.person
        return certificate.signed(sign_typed(certificate_typed_data(certificate), signer.key))


@contextmanager
def certificate_world(tmp: Path) -> Iterator[CertificateWorld]:
    anvil = AnvilDevnet(port=free_port(), log_file=tmp / "anvil.log")
    anvil.start()
    try:
        platform, relayer, admin = dev_account(0), dev_account(1), dev_account(2)
        deployment = deploy_ledger(anvil.w3, platform)
        client = LedgerClient(anvil.w3, deployment.ledger, poll_s=0.02)
        engine = make_engine(f"sqlite:///{tmp / 'certificate.db'}")
        upgrade_to_head(engine)
        for region, name in ((TATEYAMA, "館山つながりコイン"), (NAGAOKA, "長岡つながりコイン")):
            client.register_region(platform, region, name, "TSUNAGARI", admin.address)
            client.grant_issuer(admin, region, relayer.address)
        now = int(time.time())
        names = ["田植え体験", "棚田の草刈り", "海岸清掃", "朝市のお手伝い", "雪まつり運営"]
        hashes = []
        with write_transaction(engine) as conn:
            for name in names:
                hashes.append(bytes.fromhex(store_metadata(conn, name, f"{name}の説明", "集会所")[2:]))
        kinds = [
            ContributionKind.FARMING_EXPERIENCE,
            ContributionKind.FARMING_EXPERIENCE,
            ContributionKind.VOLUNTEERING,
        ]
        designated = [
            client.register_activity(
                admin,
                ActivitySpec(TATEYAMA, kinds[i], 100, now - 600, now + 86_400, 0, hashes[i], designated=True),
            )
            for i in range(3)
        ]
        ordinary = client.register_activity(
            admin,
            ActivitySpec(
                TATEYAMA,
                ContributionKind.VOLUNTEERING,
                50,
                now - 600,
                now + 86_400,
                0,
                hashes[3],
                unit=RewardUnit.HOUR,
                max_units=8,
            ),
        )
        nagaoka = client.register_activity(
            admin,
            ActivitySpec(
                NAGAOKA, ContributionKind.FESTIVAL_EVENT, 200, now - 600, now + 86_400, 0, hashes[4], designated=True
            ),
        )
        person = Account.from_key(keccak(text="certificate-person"))
        other = Account.from_key(keccak(text="certificate-other"))
        claim = iter(range(1, 1_000))
        records = [RecordInput(person.address, a, next(claim)) for a in designated[:2]]
        client.record_batch(relayer, TATEYAMA, records)
        client.record_batch(
            relayer,
            TATEYAMA,
            [
                RecordInput(person.address, designated[2], next(claim)),
                RecordInput(person.address, ordinary, next(claim), units=2),
                RecordInput(other.address, designated[0], next(claim)),
            ],
        )
        client.record_batch(relayer, NAGAOKA, [RecordInput(person.address, nagaoka, next(claim))])
        world = CertificateWorld(
            anvil, deployment, client, engine, admin, relayer, person, other, designated, ordinary, nagaoka
        )
        world.index()
        yield world
    finally:
        anvil.close()


@contextmanager
def served_app(world: CertificateWorld, tmp: Path) -> Iterator[str]:
    """The app over real HTTP on the world's index, talking to its anvil; yields the base URL."""
    port = free_port()
    settings = Settings(
        db={"url": str(world.engine.url)},  # type: ignore[arg-type]
        chain={"backend": "rpc", "rpc_url": world.rpc_url, "deployments_dir": tmp / "deployments"},  # type: ignore[arg-type]
        api={"port": port},  # type: ignore[arg-type]
        checkin={"secret": "s" * 32, "public_url": f"http://127.0.0.1:{port}"},  # type: ignore[arg-type]
    )
    save_deployment(settings.chain.deployments_dir, world.deployment)
    app = create_app(settings)
    try:
        with serving(app, port) as base_url:
            yield base_url
    finally:
        app.state.engine.dispose()
