"""Fixtures for relayer tests: a fresh anvil and ledger per test, a migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.chain.devnet import AnvilDevnet
from tests.indexer.helpers import database
from tests.relay.helpers import Ledger, deploy_two_regions


@pytest.fixture
def anvil() -> Iterator[AnvilDevnet]:
    devnet = AnvilDevnet().start()
    try:
        yield devnet
    finally:
        devnet.close()


@pytest.fixture
def ledger(anvil: AnvilDevnet, tmp_path: Path) -> Ledger:
    return deploy_two_regions(anvil.w3, anvil.rpc_url, tmp_path / "deployments")


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    with database("sqlite", tmp_path) as engine:
        yield str(engine.url), engine
