"""Wiring an indexer from settings: the database, the deployment's spec, the RPC client, the refresher.

:func:`open_indexer` is what the ``tsunagari index`` commands call. For a node over HTTP it needs
no Web3 at all: the chain id comes from the indexer's own JSON-RPC client (``eth_chainId``) and the
deployment from the deployments file, so a ``tsunagari index backfill`` process does not import
web3 and eth_account (~1 s of its start, issue 19). The in-process py-evm chain still goes through
:func:`ledger.chain.context.open_chain`. :func:`build_indexer` serves callers that already hold a
:class:`~ledger.chain.context.ChainContext` (the demo, ``tsunagari serve``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from ledger.chain.deploy import Deployment, load_deployment
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.errors import ChainUnavailable, ConfigError
from ledger.health import HealthReporter
from ledger.indexer.refresh import DerivedRefresher
from ledger.indexer.rpc import HttpJsonRpc, JsonRpc, json_rpc_for, quantity
from ledger.indexer.runner import Indexer, IndexerConfig
from ledger.indexer.spec import spec_for_deployment
from ledger.indexer.store import IndexStore
from ledger.settings import Settings

if TYPE_CHECKING:
    from ledger.chain.context import ChainContext

__all__ = ["IndexerService", "build_indexer", "open_indexer"]


@dataclass
class IndexerService:
    engine: Engine
    indexer: Indexer
    refresher: DerivedRefresher


def open_indexer(settings: Settings, engine: Engine | None = None) -> IndexerService:
    """An indexer for the configured chain and database (migrated first); :class:`ChainUnavailable`
    when the node does not answer, :class:`ConfigError` when it is not the expected chain."""
    chain = settings.chain
    if chain.backend == "pyevm":
        from ledger.chain.context import open_chain

        return build_indexer(open_chain(settings), engine)
    rpc = HttpJsonRpc(chain.rpc_url, chain.request_timeout_s)
    try:
        try:
            chain_id = quantity(rpc.call("eth_chainId", []))
        except (ChainUnavailable, ValueError, TypeError) as exc:
            raise ChainUnavailable(f"cannot reach the chain node at {chain.rpc_url}: {exc}") from exc
        if chain.expected_chain_id is not None and chain_id != chain.expected_chain_id:
            raise ConfigError(
                f"{chain.rpc_url} is chain {chain_id}, but chain.expected_chain_id is {chain.expected_chain_id}"
            )
        return _build(settings, load_deployment(chain.deployments_dir, chain_id), rpc, engine)
    except BaseException:
        rpc.close()
        raise


def build_indexer(ctx: ChainContext, engine: Engine | None = None) -> IndexerService:
    """An indexer for the chain of ``ctx`` and the configured database; migrates the database first."""
    settings = ctx.settings
    rpc_url = None if settings.chain.backend == "pyevm" else settings.chain.rpc_url
    rpc = json_rpc_for(ctx.w3, rpc_url, settings.chain.request_timeout_s)
    return _build(settings, ctx.deployment, rpc, engine)


def _build(settings: Settings, deployment: Deployment, rpc: JsonRpc, engine: Engine | None) -> IndexerService:
    engine = engine or make_engine(settings.db.url)
    upgrade_to_head(engine)
    spec = spec_for_deployment(deployment)
    refresher = DerivedRefresher(engine, spec.chain_id)
    config = IndexerConfig(
        confirmations=settings.chain.confirmations,
        initial_range=settings.indexer.initial_range,
        max_range=settings.indexer.max_range,
        target_logs=settings.indexer.target_logs,
        reorg_window=settings.indexer.reorg_window,
        poll_interval_s=settings.indexer.poll_interval_s,
    )
    indexer = Indexer(
        spec,
        IndexStore(engine, spec.chain_id),
        rpc,
        config,
        refresh=refresher,
        health=HealthReporter(engine, "indexer"),
    )
    return IndexerService(engine=engine, indexer=indexer, refresher=refresher)
