"""The console with a chain, shared by the console tests that need one.

``chain_world(tmp)`` is a migrated SQLite index (``tmp/console.db``; or a schema of the local
PostgreSQL with ``db="postgres"``) of a py-evm devnet history
(``build_history`` of tests/indexer: 館山 12205 and 長岡 15202 with people, records and the relayer
as issuer), an operator API key for each region, and the app served over real HTTP with that
devnet as its chain (the devnet's region admin signs). ``seed_audit`` adds what the audit and the
report read; ``dead_chain_app`` serves the same files with a chain node that does not answer.
"""

from __future__ import annotations

import re
import struct
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils.crypto import keccak
from fastapi import FastAPI
from sqlalchemy import text

from api.app import create_app
from ledger.auth import create_api_key
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput
from ledger.chain.context import ChainContext
from ledger.chain.deploy import save_deployment
from ledger.chain.devnet import PyEvmDevnet, free_port
from ledger.chain.signing import SupportRequest, sign_support
from ledger.checkin.metadata import store_metadata
from ledger.console.pending import run_chain_action
from ledger.db.engine import make_engine, upgrade_to_head, write_transaction
from ledger.indexer.runner import Indexer
from ledger.settings import Settings
from ledger.staff.roles import Actor
from ledger.taxonomy import ContributionKind
from ledger.ties import JST
from tests.console.conftest import ConsoleWorld, serving
from tests.indexer.helpers import POSTGRES_URL, make_indexer
from tests.indexer.test_indexer import DAY, NAGAOKA, TATEYAMA, History, build_history

A = f"/console/regions/{TATEYAMA:05d}"  # 館山's console
B = f"/console/regions/{NAGAOKA:05d}"  # 長岡's console

__all__ = [
    "DATABASES",
    "ACTIVITY_NAME",
    "NAGAOKA",
    "NOTE",
    "TATEYAMA",
    "A",
    "AuditWorld",
    "B",
    "ChainWorld",
    "chain_world",
    "dead_chain_app",
    "form_of",
    "local_input",
    "png",
    "seed_audit",
]


@dataclass(kw_only=True)
class ChainWorld(ConsoleWorld):
    app: FastAPI
    history: History
    indexer: Indexer
    keys: dict[str, str]  # operator API keys: "a" for 館山, "b" for 長岡

    @property
    def chain(self) -> LedgerClient:
        return self.history.client

    def index(self) -> None:
        """Index what the chain holds now (the indexer's backfill up to the head)."""
        self.indexer.backfill()

    def admin(self, login: str, region: int = TATEYAMA, role: str = "admin") -> httpx.Client:
        """A new account of ``region`` with ``role``, and a browser signed in as it."""
        self.account(login, role, region)
        return self.signed_in(login)

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    def support(self, person_index: int, project_id: int, amount: int) -> None:
        """``amount`` coins of one of the history's people to ``project_id`` (signed, relayed)."""
        person = self.history.people[person_index]
        client = self.chain
        request = SupportRequest(
            person.address, project_id, amount, client.nonce(person.address), self.history.start + 500 * DAY
        )
        client.support_by_sig(dev_account(1), request, sign_support(person, request, 31337, client.address))


def _settings(tmp: Path, port: int, db_url: str | None = None, **chain: Any) -> Settings:
    return Settings(
        db={"url": db_url or f"sqlite:///{tmp / 'console.db'}"},  # type: ignore[arg-type]
        chain={"deployments_dir": tmp / "deployments", **chain},  # type: ignore[arg-type]
        api={"port": port},  # type: ignore[arg-type]
        checkin={  # type: ignore[arg-type]
            "secret": "s" * 32,
            "public_url": f"http://127.0.0.1:{port}",
            "rate_ip_per_min": 0,
            "rate_participant_per_min": 0,
        },
    )


# The databases a module's world runs on: SQLite, and PostgreSQL (marked, like every test on it).
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def _database_url(kind: str, tmp: Path) -> Iterator[str]:
    """A SQLite file in ``tmp``, or a throwaway schema on the local PostgreSQL (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'console.db'}"
        return
    schema = f"c_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextmanager
def chain_world(tmp: Path, months: int = 1, people: int = 3, db: str = "sqlite") -> Iterator[ChainWorld]:
    """The world of this module's docstring over ``months`` of ``build_history`` with ``people``,
    its index in SQLite (``db="sqlite"``) or PostgreSQL (``db="postgres"``)."""
    with _database_url(db, tmp) as url:
        yield from _chain_world(tmp, months, people, url)


def _chain_world(tmp: Path, months: int, people: int, db_url: str) -> Iterator[ChainWorld]:
    port = free_port()
    settings = _settings(tmp, port, db_url, backend="pyevm")
    engine = make_engine(settings.db.url)
    upgrade_to_head(engine)
    devnet = PyEvmDevnet()
    try:
        history = build_history(devnet, months=months, people=people)
        save_deployment(settings.chain.deployments_dir, history.deployment)
        with engine.begin() as conn:
            keys = {
                "a": create_api_key(conn, "operator", "館山 key", TATEYAMA)[0],
                "b": create_api_key(conn, "operator", "長岡 key", NAGAOKA)[0],
            }
        indexer = make_indexer(devnet, history.deployment, engine)
        indexer.backfill()
        app = create_app(settings)
        ctx = ChainContext(settings=settings, w3=devnet.w3, chain_id=devnet.chain_id, devnet=devnet)
        ctx.use_deployment(history.deployment)
        app.state.chain = ctx  # the app talks to this devnet (what chain_of would open for an RPC node)
        try:
            with serving(app, port) as base_url:
                world = ChainWorld(engine, settings, base_url, app=app, history=history, indexer=indexer, keys=keys)
                try:
                    yield world
                finally:
                    world.close()
        finally:
            indexer.close()
            app.state.engine.dispose()
    finally:
        engine.dispose()
        devnet.close()


@contextmanager
def dead_chain_app(world: ConsoleWorld) -> Iterator[ConsoleWorld]:
    """``world``'s database and deployments, served by an app whose chain node does not answer."""
    port, dead = free_port(), free_port()
    tmp = world.settings.chain.deployments_dir.parent
    settings = _settings(
        tmp, port, world.settings.db.url, backend="rpc", rpc_url=f"http://127.0.0.1:{dead}", request_timeout_s=1
    )
    app = create_app(settings)
    engine = make_engine(settings.db.url)
    try:
        with serving(app, port) as base_url:
            world = ConsoleWorld(engine, settings, base_url)
            try:
                yield world
            finally:
                world.close()
    finally:
        app.state.engine.dispose()
        engine.dispose()


# -- what the audit and the report read ---------------------------------------------------------

ACTIVITY_NAME = "<script>alert(1)</script>棚田の草刈り"
NOTE = "<b>本人</b>から電話：参加していない"


@dataclass
class AuditWorld:
    world: ChainWorld
    activity_id: int  # the named, designated activity
    month: str  # YYYY-MM of its records
    revoked: str  # the participant revoked with a note (lowercase)
    clients: dict[str, httpx.Client]  # signed in: tateyama-staff, tateyama-viewer, tateyama-admin, nagaoka-staff


def seed_audit(world: ChainWorld) -> AuditWorld:
    """館山 registers a named, designated activity (its name has markup in it, to check escaping),
    records three people and revokes one of them through ``run_chain_action`` with a keccak
    evidence whose note is kept in ``revocation_notes``; then it is indexed and four accounts sign in."""
    client, admin, relayer = world.chain, dev_account(2), dev_account(1)
    with write_transaction(world.engine) as conn:
        metadata = store_metadata(conn, ACTIVITY_NAME, "草刈りと水路の清掃", "棚田")
    now = int(client.w3.eth.get_block("latest")["timestamp"])
    spec = ActivitySpec(
        TATEYAMA,
        ContributionKind.VOLUNTEERING,
        300,
        now - 86_400,
        now + 400 * 86_400,
        metadata_hash=bytes.fromhex(metadata[2:]),
        designated=True,
    )
    activity = client.register_activity(admin, spec)
    people = world.history.people[:3]
    client.record_batch(relayer, TATEYAMA, [RecordInput(p.address, activity, 9000 + i) for i, p in enumerate(people)])
    evidence = keccak(text=NOTE)
    with write_transaction(world.engine) as conn:
        conn.execute(
            text(
                "INSERT INTO revocation_notes (evidence_hash, region, note, created_at, created_by) "
                "VALUES (:h, :r, :n, :t, 'account:1')"
            ),
            {"h": "0x" + evidence.hex(), "r": TATEYAMA, "n": NOTE, "t": now},
        )
    revoked = people[2].address
    actor = Actor("account:99", "佐藤 花子", "staff", TATEYAMA, 99)
    run_chain_action(
        world.engine,
        actor,
        region=TATEYAMA,
        kind="record.revoke",
        payload={"activity_id": activity, "participant": revoked, "reason": 2, "note": NOTE},
        send=lambda: (
            client.revoke(admin, activity, revoked, 2, evidence),
            {"evidence_hash": "0x" + evidence.hex()},
        )[1],
        target=f"activity:{activity}",
    )
    world.index()
    with world.engine.connect() as conn:
        stamp = conn.execute(
            text("SELECT MIN(block_timestamp) FROM contributions WHERE activity_id = :a"), {"a": activity}
        ).scalar_one()
    month = datetime.fromtimestamp(int(stamp), JST).strftime("%Y-%m")
    clients = {
        login: world.admin(login, region, role)
        for login, role, region in (
            ("tateyama-staff", "staff", TATEYAMA),
            ("tateyama-viewer", "viewer", TATEYAMA),
            ("tateyama-admin", "admin", TATEYAMA),
            ("nagaoka-staff", "staff", NAGAOKA),
        )
    }
    return AuditWorld(world, activity, month, revoked.lower(), clients)


# -- small helpers ------------------------------------------------------------------------------


def local_input(timestamp: float) -> str:
    """A ``datetime-local`` value (JST) for unix seconds."""
    return datetime.fromtimestamp(timestamp, JST).strftime("%Y-%m-%dT%H:%M")


def form_of(html: str, action_suffix: str) -> bool:
    """Whether the page has a POST form whose action ends with ``action_suffix``."""
    return re.search(rf'<form method="post" action="[^"]*{re.escape(action_suffix)}"', html) is not None


def png(extra: int = 0) -> bytes:
    """A real 1x1 PNG, padded with ``extra`` bytes in an ancillary chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    body = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0\xff\0\0"))
    if extra:
        body += chunk(b"tEXt", b"c\0" + b"x" * max(0, extra - 14))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")
