"""Claim intake and the operator API over real HTTP (uvicorn), a real anvil and a real SQLite file.

Every bad input gets its own code and leaves no row behind; an accepted claim is in the outbox
before the answer; one person gets one claim per activity however the requests race.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from sqlalchemy import Engine, text

from api.app import create_app
from api.deps import checkin_of
from ledger.auth import create_api_key
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput
from ledger.chain.deploy import deploy_ledger, save_deployment
from ledger.chain.devnet import AnvilDevnet, free_port
from ledger.checkin.service import CheckinService
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.settings import Settings
from ledger.taxonomy import ContributionKind
from tests.stack import sign_claim

pytestmark = pytest.mark.anvil

TATEYAMA, NAGAOKA = 12205, 15202


@dataclass
class Stack:
    base: str
    app: FastAPI
    engine: Engine
    client: LedgerClient
    keys: dict[str, str]
    activities: dict[str, int] = field(default_factory=dict)

    @property
    def service(self) -> CheckinService:
        return checkin_of(self.app)

    def token(self, activity: str, *, slot_offset: int = 0, region: int | None = None) -> str:
        service = self.service
        slot = service.tokens.slot_at(time.time()) + slot_offset
        info = service.directory.get(self.activities[activity])
        return service.tokens.issue(region or info.region, info.activity_id, slot)

    def rows(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM claims")).scalar_one())


def serve(app: FastAPI, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, thread


def build_settings(tmp: Path, rpc_url: str, port: int, **checkin: Any) -> Settings:
    return Settings(
        db={"url": f"sqlite:///{tmp / 'index.db'}"},  # type: ignore[arg-type]
        chain={"backend": "rpc", "rpc_url": rpc_url, "deployments_dir": tmp / "deployments"},  # type: ignore[arg-type]
        api={"port": port, "max_body_bytes": 4096},  # type: ignore[arg-type]
        checkin={"secret": "s" * 32, "rate_ip_per_min": 0, "rate_participant_per_min": 0, **checkin},  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def stack(anvil_devnet: AnvilDevnet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("checkin")
    w3 = anvil_devnet.w3
    platform, relayer, admin = dev_account(0), dev_account(1), dev_account(2)
    deployment = deploy_ledger(w3, platform)
    client = LedgerClient(w3, deployment.ledger, poll_s=0.02)
    for region, name in ((TATEYAMA, "館山コイン"), (NAGAOKA, "長岡コイン")):
        client.register_region(platform, region, name, name[:2], admin.address)
        client.grant_issuer(admin, region, relayer.address)
    now = int(w3.eth.get_block("latest")["timestamp"])

    def activity(region: int = TATEYAMA, **overrides: int) -> int:
        values: dict[str, Any] = {
            "region": region,
            "kind": ContributionKind.FESTIVAL_EVENT,
            "reward": 300,
            "starts_at": now - 600,
            "ends_at": now + 86_400,
            "capacity": 0,
        }
        values.update(overrides)
        return client.register_activity(admin, ActivitySpec(**values))

    activities = {
        "open": activity(),
        "nagaoka": activity(NAGAOKA),
        "small": activity(capacity=2),
        "closed": activity(),
        "future": activity(starts_at=now + 7200, ends_at=now + 9000),
        "past": activity(starts_at=now - 9000, ends_at=now - 7200),
    }
    client.close_activity(admin, activities["closed"])
    port = free_port()
    settings = build_settings(tmp, anvil_devnet.rpc_url, port)
    save_deployment(settings.chain.deployments_dir, deployment)
    engine = make_engine(settings.db.url)
    upgrade_to_head(engine)
    with engine.begin() as conn:
        keys = {
            "tateyama": create_api_key(conn, "operator", "館山 staff", TATEYAMA)[0],
            "nagaoka": create_api_key(conn, "operator", "長岡 staff", NAGAOKA)[0],
            "researcher": create_api_key(conn, "researcher", "a researcher")[0],
        }
    app = create_app(settings)
    server, thread = serve(app, port)
    try:
        yield Stack(f"http://127.0.0.1:{port}", app, engine, client, keys, activities)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def sign(
    person: LocalAccount, stack: Stack, token: str, activity_id: int, requested_at: int | None = None
) -> dict[str, Any]:
    return sign_claim(person, stack.service.signing, token, activity_id, requested_at)


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def test_a_claim_is_accepted_in_the_outbox_and_reports_its_status(stack: Stack) -> None:
    person = Account.create()
    token = stack.token("open")
    with httpx.Client(base_url=stack.base) as http:
        context = http.get(f"/api/v1/checkin/{token}").json()
        assert context["activity"]["id"] == stack.activities["open"]
        assert context["activity"]["state"] == "open"
        assert context["typed_data"]["domain"]["verifyingContract"] == stack.client.address
        body = sign(person, stack, token, stack.activities["open"])
        answer = http.post("/api/v1/claims", json=body)
        assert answer.status_code == 202, answer.text
        claim_id = answer.json()["claim_id"]
        with stack.engine.connect() as conn:  # in the outbox before the answer arrived
            row = conn.execute(text("SELECT participant, status FROM claims WHERE id = :i"), {"i": claim_id}).one()
        assert tuple(row) == (person.address.lower(), "accepted")
        status = http.get(f"/api/v1/claims/{claim_id}").json()
        assert status["status"] == "accepted" and status["activity_id"] == stack.activities["open"]

        replay = http.post("/api/v1/claims", json=body)
        assert (replay.status_code, error_code(replay)) == (409, "replayed_request")
        assert replay.json()["error"]["claim_id"] == claim_id
        again = http.post(
            "/api/v1/claims", json=sign(person, stack, token, stack.activities["open"], body["requested_at"] + 1)
        )
        assert (again.status_code, error_code(again)) == (409, "already_claimed")
        assert again.json()["error"]["claim_id"] == claim_id
        assert http.get("/api/v1/claims/999999").status_code == 404


def test_every_bad_claim_has_its_own_code_and_leaves_nothing(stack: Stack) -> None:
    open_id = stack.activities["open"]
    person, thief = Account.create(), Account.create()
    good = stack.token("open")

    def claim(token: str, activity: str = "open", **changes: Any) -> dict[str, Any]:
        body = sign(person, stack, token, stack.activities[activity])
        body.update(changes)
        return body

    expired = stack.token("open", slot_offset=-3)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    other_region = stack.token("open", region=NAGAOKA)
    stolen = sign(thief, stack, good, open_id)
    stolen["participant"] = person.address  # signed by the thief, claimed for someone else
    cases: list[tuple[Any, int, str]] = [
        (claim(expired), 410, "token_expired"),
        (claim(forged), 403, "token_forged"),
        (claim("not-a-token"), 400, "token_malformed"),
        (claim(good, activity_id=stack.activities["nagaoka"]), 403, "token_wrong_activity"),
        (claim(other_region), 403, "token_wrong_region"),
        (stolen, 403, "bad_signature"),
        (claim(good, participant="0x1234"), 422, "bad_address"),
        (claim(good, signature="0x" + "11" * 65), 403, "bad_signature"),
        (claim(stack.token("closed"), "closed"), 409, "activity_closed"),
        (claim(stack.token("future"), "future"), 409, "activity_not_started"),
        (claim(stack.token("past"), "past"), 409, "activity_ended"),
        ({"token": good}, 422, "invalid"),
        ({**claim(good), "extra": 1}, 422, "invalid"),
    ]
    before = stack.rows()
    with httpx.Client(base_url=stack.base) as http:
        for body, status, code in cases:
            answer = http.post("/api/v1/claims", json=body)
            assert (answer.status_code, error_code(answer)) == (status, code), (code, answer.text)
        malformed = http.post("/api/v1/claims", content=b"{not json", headers={"Content-Type": "application/json"})
        assert malformed.status_code == 422
        huge = http.post("/api/v1/claims", content=b"x" * 10_000, headers={"Content-Type": "application/json"})
        assert (huge.status_code, error_code(huge)) == (413, "too_large")
        unknown = stack.service.tokens.issue(TATEYAMA, 999_999, stack.service.tokens.slot_at(time.time()))
        assert error_code(http.get(f"/api/v1/checkin/{unknown}")) == "unknown_activity"
    assert stack.rows() == before


def test_a_code_scanned_just_before_it_rotated_still_works(stack: Stack) -> None:
    previous = stack.token("open", slot_offset=-1)  # the kiosk already shows the next code
    with httpx.Client(base_url=stack.base) as http:
        answer = http.post("/api/v1/claims", json=sign(Account.create(), stack, previous, stack.activities["open"]))
    assert answer.status_code == 202, answer.text


def test_capacity_is_enforced_in_the_same_transaction(stack: Stack) -> None:
    token = stack.token("small")
    people = [Account.create() for _ in range(5)]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=stack.base) as http:
            return await asyncio.gather(
                *(http.post("/api/v1/claims", json=sign(p, stack, token, stack.activities["small"])) for p in people)
            )

    answers = asyncio.run(burst())
    assert sorted(a.status_code for a in answers) == [202, 202, 409, 409, 409]
    assert {error_code(a) for a in answers if a.status_code == 409} == {"activity_full"}


def test_racing_requests_of_one_person_make_one_claim(stack: Stack) -> None:
    person = Account.create()
    token = stack.token("open")
    bodies = [sign(person, stack, token, stack.activities["open"], 1_000 + i) for i in range(20)]
    others = [sign(Account.create(), stack, token, stack.activities["open"]) for _ in range(100)]

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=stack.base, limits=httpx.Limits(max_connections=64)) as http:
            return await asyncio.gather(*(http.post("/api/v1/claims", json=b) for b in bodies + others))

    answers = asyncio.run(race())
    mine = answers[: len(bodies)]
    assert sum(a.status_code == 202 for a in mine) == 1
    assert {error_code(a) for a in mine if a.status_code != 202} == {"already_claimed"}
    assert all(a.status_code == 202 for a in answers[len(bodies) :])
    ids = [a.json()["claim_id"] for a in answers if a.status_code == 202]
    assert len(set(ids)) == len(ids) == 101


def test_rate_limits_answer_429_with_retry_after(anvil_devnet: AnvilDevnet, stack: Stack, tmp_path: Path) -> None:
    settings = build_settings(tmp_path, anvil_devnet.rpc_url, 0, rate_ip_per_min=3, rate_participant_per_min=2)
    settings.db.url = stack.app.state.settings.db.url
    settings.chain.deployments_dir = stack.app.state.settings.chain.deployments_dir
    app = create_app(settings)
    port = free_port()
    server, thread = serve(app, port)
    try:
        service = checkin_of(app)
        token = service.tokens.issue(TATEYAMA, stack.activities["open"], service.tokens.slot_at(time.time()))
        person = Account.create()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            codes = []
            for i in range(4):
                body = sign(person, stack, token, stack.activities["open"], 2_000 + i)
                answer = http.post("/api/v1/claims", json=body)
                codes.append(error_code(answer) if answer.status_code != 202 else "ok")
                if answer.status_code == 429:
                    assert int(answer.headers["Retry-After"]) >= 1
        assert codes == ["ok", "already_claimed", "rate_limited", "rate_limited"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_operator_endpoints_are_scoped_to_their_region(stack: Stack) -> None:
    now = int(time.time())
    activity = {
        "name": "棚田の草刈り",
        "description": "みんなで草刈り",
        "venue": "大山千枚田",
        "kind": int(ContributionKind.VOLUNTEERING),
        "reward": 500,
        "starts_at": now - 60,
        "ends_at": now + 3600,
        "capacity": 0,
    }
    tateyama = {"Authorization": f"Bearer {stack.keys['tateyama']}"}
    nagaoka = {"Authorization": f"Bearer {stack.keys['nagaoka']}"}
    with httpx.Client(base_url=stack.base, timeout=30) as http:
        assert http.post(f"/api/v1/regions/{TATEYAMA}/activities", json=activity).status_code == 401
        wrong = http.post(f"/api/v1/regions/{TATEYAMA}/activities", json=activity, headers=nagaoka)
        assert (wrong.status_code, error_code(wrong)) == (403, "wrong_region")
        researcher = {"Authorization": f"Bearer {stack.keys['researcher']}"}
        assert http.post(f"/api/v1/regions/{TATEYAMA}/activities", json=activity, headers=researcher).status_code == 403
        bad = http.post(f"/api/v1/regions/{TATEYAMA}/activities", json={**activity, "kind": 99}, headers=tateyama)
        assert bad.status_code == 422

        created = http.post(f"/api/v1/regions/{TATEYAMA}/activities", json=activity, headers=tateyama)
        assert created.status_code == 201, created.text
        activity_id = created.json()["activity_id"]
        assert stack.client.activity(activity_id).metadata_hash.hex() == created.json()["metadata_hash"][2:]

        assert http.post(f"/api/v1/activities/{activity_id}/kiosk", headers=nagaoka).status_code == 403
        kiosk = http.post(f"/api/v1/activities/{activity_id}/kiosk", headers=tateyama).json()
        session = kiosk["kiosk_url"].split("?k=")[1]
        frame = http.get(f"/api/v1/kiosk/{activity_id}/frame", params={"k": session}).json()
        assert frame["state"] == "open" and frame["activity"]["name"] == "棚田の草刈り"
        assert frame["qr_svg"].startswith("<svg") and frame["claim_url"].startswith(stack.base + "/c/")
        assert frame["rotates_at"] > frame["server_time"]
        bad_session = http.get(f"/api/v1/kiosk/{activity_id}/frame", params={"k": session + "x"})
        assert (bad_session.status_code, error_code(bad_session)) == (401, "kiosk_session_invalid")

        person = Account.create()
        token = frame["claim_url"].rsplit("/", 1)[1]
        assert http.post("/api/v1/claims", json=sign(person, stack, token, activity_id)).status_code == 202
        listed = http.get(f"/api/v1/activities/{activity_id}/claims", headers=tateyama).json()
        assert listed["counts"]["accepted"] == 1 and listed["claims"][0]["participant"] == person.address.lower()
        assert http.get(f"/api/v1/activities/{activity_id}/claims", headers=nagaoka).status_code == 403

        # Record it on chain (the relayer's job, done by hand here), then revoke it with a reason.
        stack.client.record_batch(
            dev_account(1), TATEYAMA, [RecordInput(person.address, activity_id, listed["claims"][0]["claim_id"])]
        )
        revoked = http.post(
            f"/api/v1/activities/{activity_id}/revoke",
            json={"participant": person.address, "reason": 2, "note": "not present"},
            headers=tateyama,
        )
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["clawed_back"] == 500
        twice = http.post(
            f"/api/v1/activities/{activity_id}/revoke",
            json={"participant": person.address, "reason": 2},
            headers=tateyama,
        )
        assert (twice.status_code, error_code(twice)) == (409, "already_revoked")

        closed = http.post(f"/api/v1/activities/{activity_id}/close", headers=tateyama)
        assert closed.status_code == 200
        after = http.get(f"/api/v1/kiosk/{activity_id}/frame", params={"k": session}).json()
        assert after["state"] == "closed" and after["qr_svg"] == ""
        late = http.post("/api/v1/claims", json=sign(Account.create(), stack, token, activity_id))
        assert error_code(late) == "activity_closed"


def test_repeats_inside_one_group_commit_get_the_first_ones_id(stack: Stack) -> None:
    from ledger.checkin.intake import AcceptedClaim, ClaimRequest

    service = stack.service
    token = stack.token("open")
    person, other = Account.create(), Account.create()
    first = sign(person, stack, token, stack.activities["open"], 5_000)
    second = sign(person, stack, token, stack.activities["open"], 5_001)
    third = sign(other, stack, token, stack.activities["open"], 5_000)
    prepared = [service.intake.prepare(ClaimRequest(**body), "127.0.0.1") for body in (first, first, second, third)]
    results = service.intake.commit(prepared)
    assert isinstance(results[0], AcceptedClaim) and isinstance(results[3], AcceptedClaim)
    codes = [(r.code, r.claim_id) for r in results[1:3] if not isinstance(r, AcceptedClaim)]
    assert codes == [("replayed_request", results[0].claim_id), ("already_claimed", results[0].claim_id)]
    again = service.intake.commit(prepared[:1])[0]
    assert not isinstance(again, AcceptedClaim) and (again.code, again.claim_id) == (
        "replayed_request",
        results[0].claim_id,
    )


def test_a_chunked_body_over_the_limit_is_refused_too(stack: Stack) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000  # 10 kB without a Content-Length (the limit here is 4 kB)

    with httpx.Client(base_url=stack.base) as http:
        answer = http.post("/api/v1/claims", content=chunks(), headers={"Content-Type": "application/json"})
    assert (answer.status_code, error_code(answer)) == (413, "too_large")


def test_a_kiosk_of_an_activity_paid_per_hour_records_the_hours_the_staff_chose(stack: Stack) -> None:
    now = int(time.time())
    activity = {
        "name": "海岸清掃ボランティア",
        "kind": int(ContributionKind.VOLUNTEERING),
        "reward": 1000,
        "starts_at": now - 60,
        "ends_at": now + 3600,
        "designated": True,
        "unit": "hour",
        "max_units": 8,
    }
    tateyama = {"Authorization": f"Bearer {stack.keys['tateyama']}"}
    with httpx.Client(base_url=stack.base, timeout=30) as http:
        wrong = http.post(
            f"/api/v1/regions/{TATEYAMA}/activities", json={**activity, "unit": "record"}, headers=tateyama
        )
        assert wrong.status_code == 422  # a cap of 8 means nothing for an activity paid per visit
        created = http.post(f"/api/v1/regions/{TATEYAMA}/activities", json=activity, headers=tateyama)
        assert created.status_code == 201, created.text
        activity_id = created.json()["activity_id"]
        info = stack.client.activity(activity_id)
        assert (info.designated, info.unit.name, info.max_units) == (True, "HOUR", 8)

        too_many = http.post(f"/api/v1/activities/{activity_id}/kiosk", json={"units": 9}, headers=tateyama)
        assert (too_many.status_code, error_code(too_many)) == (422, "invalid_units")
        kiosk = http.post(f"/api/v1/activities/{activity_id}/kiosk", json={"units": 3}, headers=tateyama).json()
        assert kiosk["units"] == 3
        default = http.post(f"/api/v1/activities/{activity_id}/kiosk", headers=tateyama).json()
        assert default["units"] == 8  # the cap, unless the staff say otherwise
        frame = http.get(f"/api/v1/kiosk/{activity_id}/frame", params={"k": kiosk["kiosk_url"].split("?k=")[1]})
        shown = frame.json()["activity"]
        assert (shown["units"], shown["unit"], shown["designated"], shown["reward"]) == (3, "hour", True, 1000)

        token = frame.json()["claim_url"].rsplit("/", 1)[1]
        context = http.get(f"/api/v1/checkin/{token}").json()
        assert context["activity"]["units"] == 3
        person = Account.create()
        answer = http.post("/api/v1/claims", json=sign(person, stack, token, activity_id))
        assert answer.status_code == 202, answer.text
        with stack.engine.connect() as conn:
            units = conn.execute(text("SELECT units FROM claims WHERE id = :i"), {"i": answer.json()["claim_id"]})
            assert units.scalar_one() == 3

        open_id = stack.activities["open"]
        per_visit = http.post(f"/api/v1/activities/{open_id}/kiosk", json={"units": 2}, headers=tateyama)
        assert (per_visit.status_code, error_code(per_visit)) == (422, "invalid_units")
