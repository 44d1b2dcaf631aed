"""Fixtures for export tests: a real chain history (tests/indexer's ``build_history``), indexed.

The history is built once per module and backend and never changed by a test (exports and
verification only read the chain and the index), so no snapshot/revert is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.chain.devnet import AnvilDevnet, Devnet, PyEvmDevnet
from ledger.indexer.rpc import JsonRpc, json_rpc_for
from tests.indexer.helpers import OPEN_INDEXERS, database, make_indexer
from tests.indexer.test_indexer import History, build_history


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
def indexed_history(backend: str, db_kind: str, tmp: Path) -> Iterator[Indexed]:
    """Build the history on a fresh devnet of ``backend`` and index it into a fresh database."""
    devnet: Devnet = PyEvmDevnet() if backend == "pyevm" else AnvilDevnet().start()
    try:
        history = build_history(devnet)
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
