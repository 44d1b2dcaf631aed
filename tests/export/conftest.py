"""Fixtures for export tests: real chain histories, indexed.

Two histories: tests/indexer's ``build_history`` (months of records, a revocation, supports, a
transfer) and :func:`build_v2_history`, which adds what ledger v2 brought (units, designations,
coin expiry, signature nonces, the platform's region pause, metadata changes) so that every table
and column of the export has rows to check. Each is built once per module and never changed by a test (exports and
verification only read the chain and the index), so no snapshot/revert is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput
from ledger.chain.deploy import deploy_ledger
from ledger.chain.devnet import AnvilDevnet, Devnet, PyEvmDevnet
from ledger.chain.signing import SupportRequest, sign_support
from ledger.indexer.rpc import JsonRpc, json_rpc_for
from ledger.taxonomy import ContributionKind, RewardUnit
from tests.indexer.helpers import OPEN_INDEXERS, database, make_indexer
from tests.indexer.test_indexer import NAGAOKA, TATEYAMA, History, build_history

DAY = 86_400
EXPIRY_DAYS = 7  # 長岡's coin period in build_v2_history
# The help activity's text, changed before it started and again after its records; the project's, once.
HELP_METADATA = (b"\x0a" * 32, b"\x0b" * 32)
PROJECT_METADATA = b"\x0c" * 32


@dataclass
class V2History(History):
    """:func:`build_v2_history`'s chain, with the ids its tests look up."""

    help_activity: int  # 館山, per hour, designated after registration
    stay_activity: int  # 館山, per day, designated at registration
    festival: int  # 長岡, per record, coins expire
    project: int  # 館山


def build_v2_history(devnet: Devnet) -> V2History:
    """Ledger v2's features, each at least once: records of hours and days, an activity designated after
    its registration, 長岡's coins expiring (two people's lapse counted by their next records), a
    support sent directly (no nonce) and one signed (nonce 0), a cancelled nonce, a revocation with
    its claim id, a transfer, a region paused by the platform and by its admin, and the help
    activity's and the project's texts changed (:data:`HELP_METADATA`, :data:`PROJECT_METADATA`)."""
    platform, relayer, admin = dev_account(0), dev_account(1), dev_account(2)
    deployment = deploy_ledger(devnet.w3, platform)
    client = LedgerClient(devnet.w3, deployment.ledger, poll_s=0.01)
    for region in (TATEYAMA, NAGAOKA):
        client.register_region(platform, region, f"coin {region}", f"C{region}", admin.address)
        client.grant_issuer(admin, region, relayer.address)
    client.set_coin_expiry(admin, NAGAOKA, EXPIRY_DAYS)
    people = [dev_account(i) for i in (5, 6, 7)]  # funded: they send their own support and cancellation
    now = int(devnet.w3.eth.get_block("latest")["timestamp"])
    ends = now + 400 * DAY
    help_activity = client.register_activity(
        admin,
        ActivitySpec(TATEYAMA, ContributionKind.VOLUNTEERING, 100, now + 3600, ends, unit=RewardUnit.HOUR, max_units=8),
    )
    client.set_activity_designated(admin, help_activity, True)
    client.set_activity_metadata(admin, help_activity, HELP_METADATA[0])
    stay = ActivitySpec(
        TATEYAMA, ContributionKind.TELEWORK, 50, now - DAY, ends, designated=True, unit=RewardUnit.DAY, max_units=14
    )
    stay_activity = client.register_activity(admin, stay)
    festival = client.register_activity(
        admin, ActivitySpec(NAGAOKA, ContributionKind.FESTIVAL_EVENT, 100, now - DAY, ends)
    )
    devnet.set_next_block_timestamp(now + 2 * 3600)  # the help activity has started
    devnet.mine()
    p0, p1, p2 = people
    client.record_batch(
        relayer,
        TATEYAMA,
        [
            RecordInput(p0.address, help_activity, 1, 3),
            RecordInput(p1.address, help_activity, 2, 5),
            RecordInput(p2.address, stay_activity, 3, 4),
        ],
    )
    client.record_batch(relayer, NAGAOKA, [RecordInput(p.address, festival, 4 + i) for i, p in enumerate(people)])
    client.set_activity_metadata(admin, help_activity, HELP_METADATA[1])
    client.set_region_paused(platform, NAGAOKA, True)
    client.set_region_paused(platform, NAGAOKA, False)
    client.set_region_paused(admin, TATEYAMA, True)
    client.set_region_paused(admin, TATEYAMA, False)
    project = client.register_project(admin, TATEYAMA, b"\x07" * 32)
    client.set_project_metadata(admin, project, PROJECT_METADATA)
    client.support(p0, project, 100)
    request = SupportRequest(p1.address, project, 200, 0, now + 10 * DAY)
    client.support_by_sig(relayer, request, sign_support(p1, request, devnet.w3.eth.chain_id, client.address))
    client.cancel_nonce(p2)
    client.set_transfers_enabled(admin, TATEYAMA, True)
    client.coin_transfer(p2, TATEYAMA, p0.address, 20)
    client.revoke(admin, festival, p0.address, 1, b"\x08" * 32)
    # Three periods on: 長岡's coins of p1 and p2 lapsed, counted when their next records are made.
    devnet.set_next_block_timestamp(now + 3 * EXPIRY_DAYS * DAY)
    devnet.mine()
    later = client.register_activity(admin, ActivitySpec(NAGAOKA, ContributionKind.FESTIVAL_EVENT, 100, now, ends))
    client.record_batch(relayer, NAGAOKA, [RecordInput(p1.address, later, 7), RecordInput(p2.address, later, 8)])
    return V2History(devnet, deployment, client, people, now, help_activity, stay_activity, festival, project)


@dataclass
class Indexed:
    """A chain history, its index, and a JSON-RPC client for verify."""

    backend: str
    history: History
    engine: Engine
    rpc: JsonRpc

    @property
    def devnet(self) -> Devnet:
        return self.history.devnet


@contextmanager
def indexed_history(
    backend: str, db_kind: str, tmp: Path, build: Callable[[Devnet], History] = build_history
) -> Iterator[Indexed]:
    """Build a history on a fresh devnet of ``backend`` and index it into a fresh database."""
    devnet: Devnet = PyEvmDevnet() if backend == "pyevm" else AnvilDevnet().start()
    try:
        history = build(devnet)
        with database(db_kind, tmp) as engine:
            indexer = make_indexer(devnet, history.deployment, engine)
            indexer.backfill()
            OPEN_INDEXERS.remove(indexer)
            indexer.close()
            rpc = json_rpc_for(devnet.w3, devnet.rpc_url)
            try:
                yield Indexed(backend, history, engine, rpc)
            finally:
                rpc.close()
    finally:
        devnet.close()


@pytest.fixture(scope="module")
def anvil_indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    """The history on anvil (verify goes over HTTP), indexed into SQLite."""
    with indexed_history("anvil", "sqlite", tmp_path_factory.mktemp("anvil-index")) as indexed:
        yield indexed


@pytest.fixture(scope="module")
def pyevm_indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    """The history on the in-process py-evm chain, indexed into SQLite."""
    with indexed_history("pyevm", "sqlite", tmp_path_factory.mktemp("pyevm-index")) as indexed:
        yield indexed


@pytest.fixture(scope="module")
def v2_indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    """:func:`build_v2_history` on anvil, indexed into SQLite."""
    with indexed_history("anvil", "sqlite", tmp_path_factory.mktemp("v2-index"), build_v2_history) as indexed:
        yield indexed
