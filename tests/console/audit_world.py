"""An indexed history on py-evm served with the console, shared by the audit and report tests.

``build_history`` (tests/indexer) gives two regions and three months of records, a revocation, a
support and a transfer; on top of it 館山市 registers a named, designated activity (its name has
markup in it, to check escaping), records three people and revokes one of them through
``run_chain_action`` with a keccak evidence whose note is kept in ``revocation_notes``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from eth_utils.crypto import keccak
from sqlalchemy import Engine, text

from api.app import create_app
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, RecordInput
from ledger.chain.deploy import save_deployment
from ledger.chain.devnet import PyEvmDevnet
from ledger.checkin.metadata import store_metadata
from ledger.console.pending import run_chain_action
from ledger.db.engine import make_engine, upgrade_to_head, write_transaction
from ledger.settings import Settings
from ledger.staff.roles import Actor
from ledger.taxonomy import ContributionKind
from tests.console.conftest import ConsoleWorld, serving
from tests.indexer.helpers import make_indexer
from tests.indexer.test_indexer import NAGAOKA, TATEYAMA, build_history

ACTIVITY_NAME = "<script>alert(1)</script>棚田の草刈り"
NOTE = "<b>本人</b>から電話：参加していない"
JST = timezone(timedelta(hours=9))

__all__ = ["ACTIVITY_NAME", "NAGAOKA", "NOTE", "TATEYAMA", "AuditWorld", "audit_world"]


@dataclass
class AuditWorld:
    world: ConsoleWorld
    engine: Engine
    activity_id: int  # the named, designated activity
    month: str  # YYYY-MM of its records
    revoked: str  # the participant revoked with a note (lowercase)
    clients: dict[str, httpx.Client] = field(default_factory=dict)


@contextmanager
def audit_world(tmp: Path) -> Iterator[AuditWorld]:
    path = tmp / "index.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade_to_head(engine)
    devnet = PyEvmDevnet()
    try:
        history = build_history(devnet, months=3)
        client, admin, relayer = history.client, dev_account(2), dev_account(1)
        with write_transaction(engine) as conn:
            metadata = store_metadata(conn, ACTIVITY_NAME, "草刈りと水路の清掃", "棚田")
        now = int(devnet.w3.eth.get_block("latest")["timestamp"])
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
        people = history.people[:3]
        client.record_batch(
            relayer, TATEYAMA, [RecordInput(p.address, activity, 9000 + i) for i, p in enumerate(people)]
        )
        evidence = keccak(text=NOTE)
        with write_transaction(engine) as conn:
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
            engine,
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
        indexer = make_indexer(devnet, history.deployment, engine)
        indexer.backfill()
        indexer.close()
        with engine.connect() as conn:
            stamp = conn.execute(
                text("SELECT MIN(block_timestamp) FROM contributions WHERE activity_id = :a"), {"a": activity}
            ).scalar_one()
        month = datetime.fromtimestamp(int(stamp), JST).strftime("%Y-%m")
        save_deployment(tmp / "deployments", history.deployment)
        settings = Settings(
            db={"url": url},  # type: ignore[arg-type]
            chain={"deployments_dir": tmp / "deployments"},  # type: ignore[arg-type]
        )
        app = create_app(settings)
        with serving(app) as base_url:
            world = ConsoleWorld(engine, settings, base_url)
            found = AuditWorld(world, engine, activity, month, revoked.lower())
            for login, role, region in (
                ("tateyama-staff", "staff", TATEYAMA),
                ("tateyama-viewer", "viewer", TATEYAMA),
                ("tateyama-admin", "admin", TATEYAMA),
                ("nagaoka-staff", "staff", NAGAOKA),
            ):
                world.account(login, role, region)
                browser = world.new_client()
                assert world.sign_in(browser, login) == 303
                found.clients[login] = browser
            try:
                yield found
            finally:
                world.close()
        app.state.engine.dispose()
    finally:
        devnet.close()
        engine.dispose()
