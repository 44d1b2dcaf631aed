"""Check-in and check-out in the console and the operator API, over real HTTP, a real SQLite file,
a py-evm chain and the real indexer: volunteers arrive through a presence kiosk's code; staff see
who is there, record a departure with corrected hours (a claim in the outbox, the correction in
the audit), refuse absurd hours, cancel a mistaken check-in, record an expired one, confirm a stay
awaiting staff, and set the activity's rule; another region touches nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import text

from api.deps import checkin_of
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec
from ledger.checkin.metadata import store_metadata
from ledger.db.engine import write_transaction
from ledger.taxonomy import ContributionKind, RewardUnit
from tests.console.conftest import csrf_of
from tests.console.world import NAGAOKA, TATEYAMA, A, B, ChainWorld, chain_world, form_of
from tests.stack import sign_claim


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    with chain_world(tmp_path_factory.mktemp("console-presence")) as w:
        w.account("hanako", "staff", TATEYAMA)
        w.account("viewer", "viewer", TATEYAMA)
        w.account("nagaoka-staff", "staff", NAGAOKA)
        yield w


def register(world: ChainWorld, name: str, unit: RewardUnit, max_units: int) -> int:
    with write_transaction(world.engine) as conn:
        metadata = store_metadata(conn, name, "", "")
    now = int(time.time())
    spec = ActivitySpec(
        TATEYAMA,
        ContributionKind.VOLUNTEERING if unit == RewardUnit.HOUR else ContributionKind(10),
        1000,
        now - 3600,
        now + 30 * 86_400,
        metadata_hash=bytes.fromhex(metadata[2:]),
        unit=unit,
        max_units=max_units,
    )
    activity = world.chain.register_activity(dev_account(2), spec)
    world.index()
    return activity


def scan(world: ChainWorld, person: LocalAccount, activity_id: int, intent: str, offset: int = 0) -> httpx.Response:
    """``person`` scans the activity's presence kiosk (units 0) with ``intent``."""
    service = checkin_of(world.app)
    token = service.tokens.issue(TATEYAMA, activity_id, service.tokens.slot_at(time.time()), 0)
    body: dict[str, Any] = sign_claim(person, service.signing, token, activity_id, int(time.time()) + offset)  # type: ignore[arg-type]
    body["intent"] = intent
    return world.new_client().post("/api/v1/claims", json=body)


def session_of(world: ChainWorld, activity_id: int, person: LocalAccount) -> int:
    with world.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT MAX(session_id) FROM presence_sessions WHERE activity_id = :a AND participant = :p"),
                {"a": activity_id, "p": person.address.lower()},
            ).scalar_one()
        )


def presence_url(activity_id: int) -> str:
    return f"{A}/activities/{activity_id}/presence"


def short(person: LocalAccount) -> str:
    address = person.address.lower()
    return f"{address[:6]}…{address[-4:]}"


def audit_detail(world: ChainWorld, action: str, target: str) -> dict[str, Any]:
    with world.engine.connect() as conn:
        detail = conn.execute(
            text("SELECT detail FROM staff_audit WHERE action = :a AND target = :t ORDER BY entry_id DESC LIMIT 1"),
            {"a": action, "t": target},
        ).scalar_one()
    parsed: dict[str, Any] = json.loads(detail)
    return parsed


def test_staff_record_correct_cancel_and_refuse_absurd_hours(world: ChainWorld) -> None:
    activity_id = register(world, "海岸清掃（時間）", RewardUnit.HOUR, 8)
    client = world.signed_in("hanako")
    csrf = world.csrf(client)
    page = client.get(f"{A}/activities/{activity_id}")
    assert f"/activities/{activity_id}/presence" in page.text and "到着・出発を記録（1つのQR）" in page.text
    assert '<option value="0" selected>' in page.text
    kiosk = client.post(f"{A}/activities/{activity_id}/kiosk", data={"csrf_token": csrf, "units": "0"})
    assert kiosk.status_code == 200 and "同じQRコードを読み取ると" in kiosk.text

    volunteer, mistaken = Account.create(), Account.create()
    for person in (volunteer, mistaken):
        arrived = scan(world, person, activity_id, "arrive")
        assert arrived.status_code == 202 and arrived.json()["status"] == "arrived", arrived.text
    board = client.get(presence_url(activity_id))
    assert board.status_code == 200 and "滞在中" in board.text and "1時間未満の端数は切り捨てます。" in board.text
    assert short(volunteer) in board.text and short(mistaken) in board.text
    assert "0時間0分" in board.text or "0時間1分" in board.text
    assert "日数で記録する活動では" not in board.text
    session = session_of(world, activity_id, volunteer)
    close_url = f"{presence_url(activity_id)}/sessions/{session}/close"

    # Absurd hours are refused with a message, and nothing is recorded.
    for units in ("25", "0", "-3", "9", "たくさん"):
        refused = client.post(close_url, data={"csrf_token": csrf, "units": units})
        assert refused.status_code == 422 and "記録できる時間数は1〜8です。" in refused.text, units
    api = world.new_client()
    for units in (25, 0, -3):
        answer = api.post(f"/api/v1/presence/{session}/close", json={"units": units}, headers=world.bearer("a"))
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_units", answer.text
    with world.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT COUNT(*) FROM claims WHERE activity_id = :a"), {"a": activity_id}).scalar() == 0
        )

    # Staff record the departure with corrected hours: a claim of 3 hours, the correction audited.
    recorded = client.post(close_url, data={"csrf_token": csrf, "units": "3"})
    assert recorded.status_code == 303 and recorded.headers["location"].endswith("done=presence_closed")
    with world.engine.connect() as conn:
        claim = conn.execute(
            text("SELECT participant, units, status FROM claims WHERE activity_id = :a"), {"a": activity_id}
        ).one()
    assert (claim.participant, claim.units) == (volunteer.address.lower(), 3)
    detail = audit_detail(world, "presence.close", f"presence:{session}")
    assert detail["corrected"] is True and detail["units"] == 3 and detail["session_id"] == session
    assert detail["participant"] == volunteer.address.lower() and detail["measured_units"] == 0
    again = client.post(close_url, data={"csrf_token": csrf, "units": "2"})
    assert again.status_code == 404 and "すでに終わっています" in again.text

    # A mistaken check-in is cancelled: no record.
    cancelled = client.post(
        f"{presence_url(activity_id)}/sessions/{session_of(world, activity_id, mistaken)}/cancel",
        data={"csrf_token": csrf},
    )
    assert cancelled.status_code == 303
    board = client.get(presence_url(activity_id))
    assert "いま滞在中の人はいません。" in board.text and "記録済み" in board.text and "取消" in board.text
    assert "（測った値 0）" in board.text
    assert (
        audit_detail(world, "presence.cancel", f"presence:{session_of(world, activity_id, mistaken)}")["participant"]
        == mistaken.address.lower()
    )

    # An arrival nobody checked out expires; staff record it with the hours they confirm.
    late = Account.create()
    assert scan(world, late, activity_id, "arrive").status_code == 202
    late_session = session_of(world, activity_id, late)
    with write_transaction(world.engine) as conn:  # its expiry passed (what hours of waiting would do)
        conn.execute(
            text("UPDATE presence_sessions SET opened_at = :o, expires_at = :t WHERE session_id = :s"),
            {"o": int(time.time()) - 11 * 3600, "t": int(time.time()) - 3600, "s": late_session},
        )
    board = client.get(presence_url(activity_id))
    expired = board.text.split('id="expired-title"')[1].split('id="ended-title"')[0]
    assert short(late) in expired and form_of(expired, f"/sessions/{late_session}/close")
    answer = api.post(f"/api/v1/presence/{late_session}/close", json={"units": 2}, headers=world.bearer("a"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "recorded" and answer.json()["units"] == 2
    with world.engine.connect() as conn:
        units = conn.execute(
            text("SELECT units FROM claims WHERE activity_id = :a AND participant = :p"),
            {"a": activity_id, "p": late.address.lower()},
        ).scalar_one()
    assert units == 2

    # Viewers read, change nothing.
    viewer = world.signed_in("viewer")
    seen = viewer.get(presence_url(activity_id))
    assert seen.status_code == 200 and not form_of(seen.text, "/close")
    assert viewer.post(f"{presence_url(activity_id)}/rule", data={"csrf_token": world.csrf(viewer)}).status_code == 403


def test_the_rule_form_and_a_stay_awaiting_staff(world: ChainWorld) -> None:
    activity_id = register(world, "テレワーク滞在（日）", RewardUnit.DAY, 7)
    client = world.signed_in("hanako")
    csrf = world.csrf(client)
    rule_url = f"{presence_url(activity_id)}/rule"
    page = client.get(presence_url(activity_id))
    assert "日数で記録する活動では" in page.text and "到着日と出発日を含めた日数を記録します。" in page.text

    for values, message in (
        ({"min_units": "1", "cap_units": "30", "expiry_hours": "24"}, "上限は1〜7日の整数で入力してください。"),
        ({"min_units": "5", "cap_units": "3", "expiry_hours": "24"}, "最小は1から上限までの整数で入力してください。"),
        ({"min_units": "1", "cap_units": "7", "expiry_hours": "0"}, "未退出の期限は1〜"),
        ({"min_units": "x", "cap_units": "7", "expiry_hours": "24"}, "最小は1から上限までの整数"),
    ):
        refused = client.post(rule_url, data={"csrf_token": csrf, "rounding": "down", **values})
        assert refused.status_code == 422 and message in refused.text, values
    saved = client.post(
        rule_url,
        data={"csrf_token": csrf, "rounding": "down", "min_units": "1", "cap_units": "5", "expiry_hours": "48",
              "staff_confirms": "1"},
    )  # fmt: skip
    assert saved.status_code == 303
    page = client.get(presence_url(activity_id))
    assert "1日未満は記録しません。5日まで。" in page.text and "スタッフが確認してから記録します" in page.text
    assert audit_detail(world, "presence.rule", f"activity:{activity_id}")["to"].endswith("staff confirms")

    guest = Account.create()
    assert scan(world, guest, activity_id, "arrive").status_code == 202
    left = scan(world, guest, activity_id, "depart", offset=1)
    assert left.status_code == 202 and left.json()["status"] == "awaiting_staff", left.text
    session = session_of(world, activity_id, guest)
    page = client.get(presence_url(activity_id))
    awaiting = page.text.split('id="awaiting-title"')[1].split('id="expired-title"')[0]
    assert short(guest) in awaiting and "確認して記録" in awaiting
    confirmed = client.post(f"{presence_url(activity_id)}/sessions/{session}/close", data={"csrf_token": csrf})
    assert confirmed.status_code == 303
    detail = audit_detail(world, "presence.close", f"presence:{session}")
    assert detail["corrected"] is False and detail["units"] == 1 and detail["measured_units"] == 1

    # The operator API: the board, the rule; another region's key is refused everywhere.
    api = world.new_client()
    board = api.get(f"/api/v1/activities/{activity_id}/presence", headers=world.bearer("a")).json()
    assert board["unit"] == "day" and board["rule"]["cap_units"] == 5 and board["ended"][0]["state"] == "recorded"
    rule = {"rounding": "down", "min_units": 1, "cap_units": 7, "open_expiry_s": 86_400, "staff_confirms": False}
    assert (
        api.put(f"/api/v1/activities/{activity_id}/unit-rule", json=rule, headers=world.bearer("a")).status_code == 200
    )
    bad = api.put(
        f"/api/v1/activities/{activity_id}/unit-rule", json={**rule, "cap_units": 8}, headers=world.bearer("a")
    )
    assert bad.status_code == 422
    other = Account.create()
    assert scan(world, other, activity_id, "arrive").status_code == 202
    other_session = session_of(world, activity_id, other)
    for response in (
        api.get(f"/api/v1/activities/{activity_id}/presence", headers=world.bearer("b")),
        api.put(f"/api/v1/activities/{activity_id}/unit-rule", json=rule, headers=world.bearer("b")),
        api.post(f"/api/v1/presence/{other_session}/close", json={}, headers=world.bearer("b")),
        api.post(f"/api/v1/presence/{other_session}/cancel", headers=world.bearer("b")),
    ):
        assert response.status_code == 403 and response.json()["error"]["code"] == "wrong_region", response.text
    assert api.post("/api/v1/presence/999999/close", headers=world.bearer("a")).status_code == 404
    nagaoka = world.signed_in("nagaoka-staff")
    csrf_b = csrf_of(nagaoka.get(f"{B}/activities").text)
    assert nagaoka.get(presence_url(activity_id)).status_code == 403
    assert (
        nagaoka.post(
            f"{presence_url(activity_id)}/sessions/{other_session}/close", data={"csrf_token": csrf_b}
        ).status_code
        == 403
    )
    assert nagaoka.get(f"{B}/activities/{activity_id}/presence").status_code == 404
    with world.engine.connect() as conn:
        state = conn.execute(
            text("SELECT state FROM presence_sessions WHERE session_id = :s"), {"s": other_session}
        ).scalar_one()
    assert state == "open"
    cancelled = api.post(f"/api/v1/presence/{other_session}/cancel", headers=world.bearer("a"))
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
