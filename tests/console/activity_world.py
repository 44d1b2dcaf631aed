"""A console with a chain: a migrated SQLite file, a py-evm devnet with the ledger deployed and two
regions registered (the server's ``region-admin`` key is their admin), the indexer over it, and the
app served over real HTTP with that chain as its chain."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from ledger.chain.accounts import dev_account
from ledger.chain.client import LedgerClient
from ledger.chain.context import ChainContext
from ledger.chain.deploy import Deployment, deploy_ledger, save_deployment
from ledger.chain.devnet import PyEvmDevnet, free_port
from ledger.console.activities import JST
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.indexer.runner import Indexer
from ledger.settings import Settings
from tests.console.conftest import ConsoleWorld
from tests.indexer.helpers import make_indexer

REGION_A, REGION_B = 12205, 15202  # 館山市, 長岡市


@dataclass
class ChainWorld(ConsoleWorld):
    app: FastAPI | None = None
    devnet: PyEvmDevnet | None = None
    deployment: Deployment | None = None
    client: LedgerClient | None = None
    indexer: Indexer | None = None

    @property
    def chain(self) -> LedgerClient:
        assert self.client is not None
        return self.client

    def index(self) -> None:
        """Index what the chain holds now (the indexer's backfill up to the head)."""
        assert self.indexer is not None
        self.indexer.backfill()

    def activities_url(self, region: int = REGION_A) -> str:
        return f"/console/regions/{region:05d}/activities"


@contextmanager
def serving_on(app: FastAPI, port: int) -> Iterator[str]:
    """``app`` served over real HTTP on 127.0.0.1:``port`` in a thread (the kiosk links it makes
    name that port); yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def local_input(timestamp: float) -> str:
    """A ``datetime-local`` value (JST) for unix seconds."""
    return datetime.fromtimestamp(timestamp, JST).strftime("%Y-%m-%dT%H:%M")


def form_of(html: str, action_suffix: str) -> bool:
    """Whether the page has a POST form whose action ends with ``action_suffix``."""
    return re.search(rf'<form method="post" action="[^"]*{re.escape(action_suffix)}"', html) is not None


def settings_for(tmp: Path, port: int, **chain: Any) -> Settings:
    return Settings(
        db={"url": f"sqlite:///{tmp / 'console.db'}"},  # type: ignore[arg-type]
        chain={"deployments_dir": tmp / "deployments", **chain},  # type: ignore[arg-type]
        api={"port": port},  # type: ignore[arg-type]
        checkin={  # type: ignore[arg-type]
            "secret": "s" * 32,
            "public_url": f"http://127.0.0.1:{port}",
            "rate_ip_per_min": 0,
            "rate_participant_per_min": 0,
        },
    )


@contextmanager
def chain_world(tmp: Path) -> Iterator[ChainWorld]:
    port = free_port()
    settings = settings_for(tmp, port, backend="pyevm")
    engine = make_engine(settings.db.url)
    upgrade_to_head(engine)
    devnet = PyEvmDevnet()
    platform, relayer, admin = dev_account(0), dev_account(1), dev_account(2)
    deployment = deploy_ledger(devnet.w3, platform)
    client = LedgerClient(devnet.w3, deployment.ledger, poll_s=0.01)
    for region, name in ((REGION_A, "館山コイン"), (REGION_B, "長岡コイン")):
        client.register_region(platform, region, name, f"C{region}", admin.address)
        client.grant_issuer(admin, region, relayer.address)
    save_deployment(settings.chain.deployments_dir, deployment)
    indexer = make_indexer(devnet, deployment, engine)
    indexer.backfill()
    app = create_app(settings)
    ctx = ChainContext(settings=settings, w3=devnet.w3, chain_id=devnet.chain_id, devnet=devnet)
    ctx.use_deployment(deployment)
    app.state.chain = ctx  # the app talks to this devnet (what chain_of would open for an RPC node)
    try:
        with serving_on(app, port) as base_url:
            world = ChainWorld(engine, settings, base_url, [], app, devnet, deployment, client, indexer)
            try:
                yield world
            finally:
                world.close()
    finally:
        indexer.close()
        app.state.engine.dispose()
        engine.dispose()
        devnet.close()


@contextmanager
def dead_chain_app(tmp: Path) -> Iterator[ConsoleWorld]:
    """The same database and deployments, served by an app whose chain node does not answer."""
    port, dead = free_port(), free_port()
    settings = settings_for(tmp, port, backend="rpc", rpc_url=f"http://127.0.0.1:{dead}", request_timeout_s=1)
    app = create_app(settings)
    engine = make_engine(settings.db.url)
    try:
        with serving_on(app, port) as base_url:
            world = ConsoleWorld(engine, settings, base_url)
            try:
                yield world
            finally:
                world.close()
    finally:
        app.state.engine.dispose()
        engine.dispose()


def wait_for(check: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


__all__ = [
    "REGION_A",
    "REGION_B",
    "ChainWorld",
    "chain_world",
    "dead_chain_app",
    "form_of",
    "local_input",
    "wait_for",
]
