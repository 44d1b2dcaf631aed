"""A chain for the tests of single-use claim codes and of check-in / check-out (API and browser).

``codes_world(tmp)``: anvil (a real node over HTTP, instant blocks) with the ledger deployed, 館山
(12205) and 長岡 (15202) registered with the relayer as issuer, a migrated SQLite file, and the
real app served over HTTP whose check-in service runs on a clock the test moves
(:class:`ShiftedClock`: a presence check-out "3 hours later" is the same server a moment later
with its clock 3 hours on). With ``relay=True`` the relayer runs in a thread (claims reach the
chain); :meth:`CodesWorld.index` runs the indexer up to the head.

Activities (all open from 10 days ago to 30 days ahead, so a moved clock stays inside them):
``furusato`` and ``furusato2`` (館山 ふるさと納税, per record), ``nagaoka_online`` (長岡 オンライン交流),
``volunteer`` (館山 ボランティア, per hour, up to 8), ``stay`` (館山 テレワーク, per day, up to 7),
``stay_nagaoka`` (長岡 テレワーク, per day, up to 7).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from sqlalchemy import Engine, text

from api.app import create_app
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient
from ledger.chain.context import open_chain
from ledger.chain.deploy import Deployment, deploy_ledger, save_deployment
from ledger.chain.devnet import AnvilDevnet, free_port
from ledger.checkin import codes
from ledger.checkin.metadata import store_metadata
from ledger.checkin.service import CheckinService, build_checkin
from ledger.db.engine import make_engine, upgrade_to_head, write_transaction
from ledger.indexer.runner import Indexer
from ledger.relay import Relayer
from ledger.settings import Settings
from ledger.taxonomy import ContributionKind, RewardUnit
from tests.console.conftest import serving
from tests.indexer.helpers import make_indexer

TATEYAMA, NAGAOKA = 12205, 15202
DAY = 86_400

__all__ = ["DAY", "NAGAOKA", "TATEYAMA", "CodesWorld", "ShiftedClock", "codes_world", "signed_body"]


class ShiftedClock:
    """The wall clock moved by ``offset_s`` seconds (the check-in service's clock in these tests)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


@dataclass
class CodesWorld:
    anvil: AnvilDevnet
    deployment: Deployment
    client: LedgerClient
    engine: Engine
    settings: Settings
    app: FastAPI
    base_url: str
    clock: ShiftedClock
    activities: dict[str, int]
    indexer: Indexer

    @property
    def service(self) -> CheckinService:
        service: CheckinService = self.app.state.checkin
        return service

    def code_batch(
        self, activity: str, count: int = 3, *, expires_in_s: int = 30 * DAY, units: int = 1
    ) -> tuple[codes.CodeBatch, list[codes.IssuedCode]]:
        """A batch of ``count`` codes for ``activity``, made as the console makes it; its codes."""
        maker = self.service.intake.codes
        assert maker is not None
        activity_id = self.activities[activity]
        region = self.service.directory.get(activity_id).region
        now = time.time()
        with write_transaction(self.engine) as conn:
            batch = codes.create_batch(
                conn,
                maker,
                activity_id=activity_id,
                region=region,
                count=count,
                units=units,
                expires_at=int(now) + expires_in_s,
                label="2026年 お礼状",
                created_by="test",
                now_ms=int(now * 1000),
            )
        with self.engine.connect() as conn:
            return batch, codes.batch_codes(conn, maker, batch)

    def code_state(self, code: str) -> str:
        with self.engine.connect() as conn:
            row = codes.lookup(conn, codes.CodeMaker.hash(code))
        assert row is not None
        return row.state

    def presence_claim_url(self, activity: str) -> str:
        """Open a presence kiosk (units 0) for ``activity`` now (on the moved clock) and read the
        URL in the QR code it shows, as the kiosk screen does."""
        link = self.service.kiosk_link(self.activities[activity], 0)
        path, _, session = link.url.partition("?k=")
        activity_id = path.rsplit("/", 1)[1]
        frame = httpx.get(f"{self.base_url}/api/v1/kiosk/{activity_id}/frame", params={"k": session}, timeout=10)
        frame.raise_for_status()
        url: str = frame.json()["claim_url"]
        assert url, frame.json()
        return url

    def presence_token(self, activity: str) -> str:
        return self.presence_claim_url(activity).rsplit("/", 1)[1]

    def kiosk_url(self, activity: str, units: int | None = None) -> str:
        return self.service.kiosk_link(self.activities[activity], units).url

    def index(self) -> None:
        self.indexer.backfill()

    def claims_of(self, participant: str, activity: str | None = None) -> list[tuple[int, int, int, str]]:
        """(claim id, activity, units, status) of every claim of ``participant`` in the outbox."""
        sql = "SELECT id, activity_id, units, status FROM claims WHERE participant = :p"
        params: dict[str, Any] = {"p": participant.lower()}
        if activity is not None:
            sql += " AND activity_id = :a"
            params["a"] = self.activities[activity]
        with self.engine.connect() as conn:
            return [
                (int(r[0]), int(r[1]), int(r[2]), str(r[3])) for r in conn.execute(text(sql + " ORDER BY id"), params)
            ]

    def indexed_units(self, participant: str, activity: str) -> list[int]:
        """The units of the participant's indexed ContributionRecorded logs at ``activity``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT units FROM contributions WHERE participant = :p AND activity_id = :a"),
                {"p": participant.lower(), "a": self.activities[activity]},
            )
            return [int(r[0]) for r in rows]


def signed_body(
    world: CodesWorld,
    person: LocalAccount,
    token: str,
    activity_id: int,
    *,
    intent: str | None = None,
    requested_at: int | None = None,
) -> dict[str, Any]:
    """The JSON the claim page posts for ``token`` (a kiosk token or a canonical code), signed by ``person``."""
    requested_at = int(time.time()) if requested_at is None else requested_at
    document = world.service.signing.typed_data(activity_id, token, person.address, requested_at)
    signature = person.sign_message(encode_typed_data(full_message=document)).signature.hex()
    body: dict[str, Any] = {
        "token": token,
        "participant": person.address,
        "requested_at": requested_at,
        "signature": "0x" + signature.removeprefix("0x"),
        "activity_id": activity_id,
    }
    if intent is not None:
        body["intent"] = intent
    return body


def _register(client: LedgerClient, engine: Engine, now: int) -> dict[str, int]:
    admin = dev_account(2)
    plans: list[tuple[str, int, ContributionKind, int, RewardUnit, int, str]] = [
        ("furusato", TATEYAMA, ContributionKind.FURUSATO_NOZEI, 500, RewardUnit.RECORD, 1, "館山市へのふるさと納税"),
        (
            "furusato2",
            TATEYAMA,
            ContributionKind.FURUSATO_NOZEI,
            300,
            RewardUnit.RECORD,
            1,
            "館山市 ふるさと納税（秋）",
        ),
        (
            "nagaoka_online",
            NAGAOKA,
            ContributionKind.ONLINE_EXCHANGE,
            200,
            RewardUnit.RECORD,
            1,
            "長岡オンライン交流会",
        ),
        ("volunteer", TATEYAMA, ContributionKind.VOLUNTEERING, 100, RewardUnit.HOUR, 8, "海岸清掃ボランティア"),
        ("stay", TATEYAMA, ContributionKind.TELEWORK, 200, RewardUnit.DAY, 7, "館山ワーケーション"),
        ("stay_nagaoka", NAGAOKA, ContributionKind.TELEWORK, 200, RewardUnit.DAY, 7, "長岡テレワーク滞在"),
    ]
    activities = {}
    for name, region, kind, reward, unit, max_units, title in plans:
        with write_transaction(engine) as conn:
            metadata = store_metadata(conn, title, f"{title}の説明", "市内")
        spec = ActivitySpec(
            region,
            kind,
            reward,
            now - 10 * DAY,
            now + 30 * DAY,
            0,
            bytes.fromhex(metadata[2:]),
            unit=unit,
            max_units=max_units,
        )
        activities[name] = client.register_activity(admin, spec)
    return activities


@contextmanager
def codes_world(tmp: Path, *, relay: bool = False, code_failures_per_min: int = 10) -> Iterator[CodesWorld]:
    anvil = AnvilDevnet(port=free_port(), log_file=tmp / "anvil.log")
    anvil.start()
    try:
        platform, relayer = dev_account(0), dev_account(1)
        deployment = deploy_ledger(anvil.w3, platform)
        client = LedgerClient(anvil.w3, deployment.ledger, poll_s=0.02)
        for region, name in ((TATEYAMA, "館山つながりコイン"), (NAGAOKA, "長岡つながりコイン")):
            client.register_region(platform, region, name, "TSUNAGARI", dev_account(2).address)
            client.grant_issuer(dev_account(2), region, relayer.address)
        port = free_port()
        settings = Settings(
            db={"url": f"sqlite:///{tmp / 'codes.db'}"},  # type: ignore[arg-type]
            chain={"backend": "rpc", "rpc_url": anvil.rpc_url, "deployments_dir": tmp / "deployments"},  # type: ignore[arg-type]
            api={"port": port, "public_k": 1},  # type: ignore[arg-type]
            relay={"batch_size": 20, "max_wait_s": 0.05, "poll_interval_s": 0.05},  # type: ignore[arg-type]
            checkin={  # type: ignore[arg-type]
                "secret": "s" * 32,
                "public_url": f"http://127.0.0.1:{port}",
                "rate_ip_per_min": 0,
                "rate_participant_per_min": 0,
                "code_failures_per_min": code_failures_per_min,
            },
        )
        save_deployment(settings.chain.deployments_dir, deployment)
        engine = make_engine(settings.db.url)
        upgrade_to_head(engine)
        activities = _register(client, engine, int(anvil.w3.eth.get_block("latest")["timestamp"]))
        indexer = make_indexer(anvil, deployment, engine)
        indexer.backfill()  # the activities are known to the directory without asking the node
        clock = ShiftedClock()
        app = create_app(settings)
        # The hook: the app's check-in service, built as the API builds it, on the moved clock.
        app.state.checkin = build_checkin(settings, app.state.engine, 31337, deployment.ledger, client, clock=clock)
        stop = threading.Event()
        thread: threading.Thread | None = None
        if relay:
            relaying = Relayer(settings, engine, open_chain(settings))
            thread = threading.Thread(target=relaying.run, args=(stop,), daemon=True)
            thread.start()
        try:
            with serving(app, port) as base_url:
                yield CodesWorld(anvil, deployment, client, engine, settings, app, base_url, clock, activities, indexer)
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=30)
            indexer.close()
            app.state.engine.dispose()
            engine.dispose()
    finally:
        anvil.close()
