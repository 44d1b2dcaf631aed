"""Wiring an indexer from settings: the database, the deployment's spec, the RPC client, the refresher."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from ledger.chain.context import ChainContext
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.health import HealthReporter
from ledger.indexer.refresh import DerivedRefresher
from ledger.indexer.rpc import json_rpc_for
from ledger.indexer.runner import Indexer, IndexerConfig
from ledger.indexer.spec import spec_for_deployment
from ledger.indexer.store import IndexStore

__all__ = ["IndexerService", "build_indexer"]


@dataclass
class IndexerService:
    engine: Engine
    indexer: Indexer
    refresher: DerivedRefresher


def build_indexer(ctx: ChainContext, engine: Engine | None = None) -> IndexerService:
    """An indexer for the configured chain and database; migrates the database first."""
    settings = ctx.settings
    engine = engine or make_engine(settings.db.url)
    upgrade_to_head(engine)
    spec = spec_for_deployment(ctx.deployment)
    refresher = DerivedRefresher(engine, spec.chain_id)
    rpc_url = None if settings.chain.backend == "pyevm" else settings.chain.rpc_url
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
        json_rpc_for(ctx.w3, rpc_url, settings.chain.request_timeout_s),
        config,
        refresh=refresher,
        health=HealthReporter(engine, "indexer"),
    )
    return IndexerService(engine=engine, indexer=indexer, refresher=refresher)
