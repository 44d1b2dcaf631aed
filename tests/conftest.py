"""Shared fixtures: the two devnets, a deployed ledger world per backend, snapshot isolation.

Every chain test runs against both backends (``pyevm`` in process and ``anvil`` over HTTP) by
taking the ``world`` fixture, which is parametrised by backend and reverted to a snapshot after
each test instead of redeploying.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient
from ledger.chain.deploy import Deployment, deploy_ledger
from ledger.chain.devnet import AnvilDevnet, Devnet, PyEvmDevnet
from ledger.taxonomy import ContributionKind

BACKENDS = ["pyevm", "anvil"]
REGION_A = 12205  # 館山市
REGION_B = 15202  # 長岡市


@pytest.fixture(scope="session")
def anvil_devnet() -> Iterator[AnvilDevnet]:
    devnet = AnvilDevnet().start()
    try:
        yield devnet
    finally:
        devnet.close()


@pytest.fixture(scope="session")
def pyevm_devnet() -> PyEvmDevnet:
    return PyEvmDevnet()


@dataclass
class World:
    """A deployed ledger with two regions, each with its own admin and issuer."""

    backend: str
    devnet: Devnet
    deployment: Deployment
    client: LedgerClient
    platform: LocalAccount
    issuer_a: LocalAccount
    admin_a: LocalAccount
    admin_b: LocalAccount
    issuer_b: LocalAccount
    outsider: LocalAccount
    activity_a: int = 0
    activity_b: int = 0
    participants: list[LocalAccount] = field(default_factory=list)

    def now(self) -> int:
        return int(self.devnet.w3.eth.get_block("latest")["timestamp"])

    def activity(self, region: int = REGION_A, **overrides: object) -> int:
        """Register an activity open now (kind 田植え, reward 100) and return its id."""
        now = self.now()
        values: dict[str, object] = {
            "region": region,
            "kind": ContributionKind.FARMING_EXPERIENCE,
            "reward": 100,
            "starts_at": now - 60,
            "ends_at": now + 86_400,
            "capacity": 0,
        }
        values.update(overrides)
        admin = self.admin_a if region == REGION_A else self.admin_b
        return self.client.register_activity(admin, ActivitySpec(**values))  # type: ignore[arg-type]


def _build_world(backend: str, devnet: Devnet) -> World:
    platform, issuer_a, admin_a, admin_b, issuer_b, outsider = (dev_account(i) for i in range(6))
    deployment = deploy_ledger(devnet.w3, platform)
    client = LedgerClient(devnet.w3, deployment.ledger, poll_s=0.02)
    client.register_region(platform, REGION_A, "館山コイン", "TATEYAMA", admin_a.address)
    client.register_region(platform, REGION_B, "長岡コイン", "NAGAOKA", admin_b.address)
    client.grant_issuer(admin_a, REGION_A, issuer_a.address)
    client.grant_issuer(admin_b, REGION_B, issuer_b.address)
    world = World(backend, devnet, deployment, client, platform, issuer_a, admin_a, admin_b, issuer_b, outsider)
    world.activity_a = world.activity(REGION_A)
    world.activity_b = world.activity(REGION_B)
    # Participants hold no ETH at all: everything they do goes through an issuer or a relayer.
    world.participants = [Account.from_key(bytes([7] * 31 + [i + 1])) for i in range(8)]
    return world


@pytest.fixture(scope="session", params=BACKENDS)
def world_session(request: pytest.FixtureRequest) -> World:
    devnet: Devnet = request.getfixturevalue(f"{request.param}_devnet")
    return _build_world(request.param, devnet)


@pytest.fixture
def world(world_session: World) -> Iterator[World]:
    snapshot = world_session.devnet.snapshot()
    try:
        yield world_session
    finally:
        world_session.devnet.revert(snapshot)
