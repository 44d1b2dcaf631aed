"""Activities, the kiosk and check-ins in the console, over real HTTP, a real SQLite file, a py-evm
chain and the real indexer: a staff member registers an activity through the form, edits it,
opens the kiosk, sees a participant's check-in arrive and revokes it with a note; viewers read
only; another region sees nothing; chain failures leave no half-done state."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from html import unescape
from urllib.parse import urlsplit

import pytest
from eth_account import Account
from sqlalchemy import text

from api.deps import checkin_of
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, RecordInput
from ledger.checkin.metadata import metadata_document, store_metadata
from ledger.console.activities import evidence_hash_of
from ledger.db.engine import write_transaction
from ledger.staff import audit
from ledger.taxonomy import ContributionKind
from tests.console.conftest import ConsoleWorld, csrf_of
from tests.console.world import (
    DATABASES,
    NAGAOKA,
    TATEYAMA,
    A,
    B,
    ChainWorld,
    chain_world,
    dead_chain_app,
    form_of,
    local_input,
)
from tests.stack import sign_claim

XSS_NAME = '棚田の草刈り<script>alert("x")</script>'
XSS_VENUE = "<img src=x onerror=alert(1)>大山千枚田"
ACTIVITIES = f"{A}/activities"


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    with chain_world(tmp_path_factory.mktemp("console-activities"), db=request.param) as w:
        w.account("hanako", "staff", TATEYAMA)
        w.account("viewer", "viewer", TATEYAMA)
        w.account("nagaoka-admin", "admin", NAGAOKA)
        yield w


def new_activity_form(csrf: str, **overrides: str) -> dict[str, str]:
    now = time.time()
    values = {
        "csrf_token": csrf,
        "name": "海岸清掃ボランティア",
        "venue": "館山湾",
        "description": "ごみ袋と軍手はこちらで用意します。",
        "kind": str(int(ContributionKind.VOLUNTEERING)),
        "starts_at": local_input(now - 3600),
        "ends_at": local_input(now + 5 * 3600),
        "reward": "1000",
        "unit": "hour",
        "max_units": "4",
        "capacity": "0",
    }
    values.update(overrides)
    return values


def activity_id_of(location: str) -> int:
    match = re.search(r"/activities/(\d+)\?done=activity_created$", location)
    assert match, location
    return int(match.group(1))


def test_staff_register_edit_open_the_kiosk_and_revoke_a_check_in(world: ChainWorld) -> None:
    client = world.signed_in("hanako")
    csrf = world.csrf(client)
    listing = client.get(ACTIVITIES)
    assert listing.status_code == 200 and "活動を登録" in listing.text and "受付中" in listing.text

    form = client.get(f"{ACTIVITIES}/new")
    assert form.status_code == 200
    assert "<optgroup" in form.text and "直接寄与型" in form.text and 'type="datetime-local"' in form.text
    assert "ふるさと住民登録" in form.text

    # A bad form comes back with the values and a message per field.
    bad = client.post(ACTIVITIES, data=new_activity_form(csrf, name="", ends_at="", reward="たくさん", venue="館山湾"))
    assert bad.status_code == 422
    assert "活動名を入力してください" in bad.text and "終了日時を入力してください" in bad.text
    assert "コインの数は0以上の整数" in bad.text and 'value="館山湾"' in bad.text

    created = client.post(ACTIVITIES, data=new_activity_form(csrf, name=XSS_NAME, venue=XSS_VENUE))
    assert created.status_code == 303, created.text
    activity_id = activity_id_of(created.headers["location"])
    page = client.get(created.headers["location"])
    assert page.status_code == 200 and "活動を登録しました" in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert "<img src=x" not in page.text

    world.index()
    listing = client.get(ACTIVITIES)
    open_section = listing.text.split('id="section-open"')[1].split('id="section-upcoming"')[0]
    assert f"/activities/{activity_id}" in open_section and "ボランティア" in open_section
    assert "&lt;script&gt;" in open_section and "<script>alert" not in listing.text

    # Edit the text: the view's metadata hash moves to the new text's.
    edited = client.post(
        f"{ACTIVITIES}/{activity_id}/edit",
        data={"csrf_token": csrf, "name": "海岸清掃（雨天決行）", "venue": "館山湾", "description": "集合は9時50分"},
    )
    assert edited.status_code == 303 and edited.headers["location"].endswith("done=activity_edited")
    world.index()
    with world.engine.connect() as conn:
        shown = conn.execute(
            text("SELECT metadata_hash FROM activities WHERE activity_id = :a"), {"a": activity_id}
        ).scalar_one()
    assert shown == metadata_document("海岸清掃（雨天決行）", "集合は9時50分", "館山湾")[1]
    page = client.get(f"{ACTIVITIES}/{activity_id}")
    assert "海岸清掃（雨天決行）" in page.text and "集合は9時50分" in page.text

    # Open the kiosk for three hours a check-in: a QR code and a link that works.
    kiosk = client.post(f"{ACTIVITIES}/{activity_id}/kiosk", data={"csrf_token": csrf, "units": "3"})
    assert kiosk.status_code == 200 and 'src="data:image/svg+xml' in kiosk.text
    link = unescape(re.search(r'id="kiosk-url" class="copy" type="text" readonly value="([^"]+)"', kiosk.text).group(1))  # type: ignore[union-attr]
    parts = urlsplit(link)
    assert client.get(f"{parts.path}?{parts.query}").status_code == 200
    frame = client.get(f"/api/v1/kiosk/{activity_id}/frame", params={"k": parts.query.removeprefix("k=")}).json()
    assert frame["state"] == "open" and frame["activity"]["units"] == 3

    # A participant scans it: the claim shows in the live list.
    person = Account.create()
    token = frame["claim_url"].rsplit("/", 1)[1]
    claim = client.post("/api/v1/claims", json=sign_claim(person, checkin_of(world.app).signing, token, activity_id))  # type: ignore[arg-type]
    assert claim.status_code == 202, claim.text
    address = person.address.lower()
    short = f"{address[:6]}…{address[-4:]}"
    live = client.get(f"{ACTIVITIES}/{activity_id}/checkins")
    assert live.status_code == 200 and short in live.text and "受付済み" in live.text and address in live.text
    found = client.get(f"{ACTIVITIES}/{activity_id}", params={"address": address[:8]})
    assert short in found.text
    missing = client.get(f"{ACTIVITIES}/{activity_id}", params={"status": "rejected"})
    assert short not in missing.text

    # Recorded on chain (the relayer's job, done by hand), indexed: now it can be revoked.
    world.chain.record_batch(
        dev_account(1), TATEYAMA, [RecordInput(person.address, activity_id, claim.json()["claim_id"], 3)]
    )
    world.index()
    live = client.get(f"{ACTIVITIES}/{activity_id}/checkins")
    assert "記録済み" in live.text and form_of(live.text, "/revoke")
    note = "<script>alert(1)</script> 受付の二重読み取り（本人確認済み）"
    revoked = client.post(
        f"{ACTIVITIES}/{activity_id}/revoke",
        data={"csrf_token": csrf, "participant": address, "reason": "3", "note": note},
    )
    assert revoked.status_code == 303 and revoked.headers["location"].endswith("done=record_revoked")
    world.index()
    with world.engine.connect() as conn:
        evidence = conn.execute(
            text("SELECT evidence_hash FROM revocations WHERE activity_id = :a AND participant = :p"),
            {"a": activity_id, "p": address},
        ).scalar_one()
        kept = conn.execute(
            text("SELECT note, region FROM revocation_notes WHERE evidence_hash = :h"), {"h": evidence}
        ).one()
        kinds = [e.action for e in audit.entries(conn, TATEYAMA)]
    assert evidence == evidence_hash_of(note) and tuple(kept) == (note, TATEYAMA)
    assert {"activity.create", "activity.edit", "kiosk.open", "record.revoke"} <= set(kinds)
    page = client.get(f"{ACTIVITIES}/{activity_id}")
    assert "取消済み" in page.text and "同一人物の重複" in page.text and "二重読み取り" not in page.text

    # What the chain refuses comes back as a clear message: revoked twice, designated after the start.
    twice = client.post(
        f"{ACTIVITIES}/{activity_id}/revoke",
        data={"csrf_token": csrf, "participant": address, "reason": "1", "note": ""},
    )
    assert twice.status_code == 409 and "この記録はすでに取り消されています" in twice.text
    late = client.post(f"{ACTIVITIES}/{activity_id}/designation", data={"csrf_token": csrf, "designated": "1"})
    assert late.status_code == 409 and "活動がすでに始まっているため" in late.text

    # The same through the JSON API with the session (CSRF header).
    headers = world.json(client)
    detail = client.get(f"/api/v1/activities/{activity_id}").json()
    assert detail["name"] == "海岸清掃（雨天決行）" and detail["claims"]["accepted"] == 1
    patched = client.patch(
        f"/api/v1/activities/{activity_id}", json={"name": "海岸清掃", "venue": "館山湾"}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["metadata_hash"] == metadata_document("海岸清掃", "", "館山湾")[1]
    assert client.patch(f"/api/v1/activities/{activity_id}", json={"name": "x"}).status_code == 403  # no CSRF header

    closed = client.post(f"{ACTIVITIES}/{activity_id}/close", data={"csrf_token": csrf})
    assert closed.status_code == 303
    world.index()
    listing = client.get(ACTIVITIES)
    past = listing.text.split('id="section-past"')[1]
    assert f"/activities/{activity_id}" in past


def test_designation_only_before_the_start(world: ChainWorld) -> None:
    client = world.signed_in("hanako")
    csrf = world.csrf(client)
    now = time.time()
    tomorrow = new_activity_form(
        csrf, name="田植え体験", kind="21", unit="record", max_units="1",
        starts_at=local_input(now + 86_400), ends_at=local_input(now + 90_000), designated="1",
    )  # fmt: skip
    created = client.post(ACTIVITIES, data=tomorrow)
    assert created.status_code == 303, created.text
    activity_id = activity_id_of(created.headers["location"])
    assert world.chain.activity(activity_id).designated
    started = client.post(
        ACTIVITIES,
        data=new_activity_form(csrf, name="もう始まった活動", designated="1", unit="record", max_units="1"),
    )
    assert started.status_code == 422 and "開始前の活動にだけ" in started.text
    undone = client.post(f"{ACTIVITIES}/{activity_id}/designation", data={"csrf_token": csrf, "designated": "0"})
    assert undone.status_code == 303
    assert not world.chain.activity(activity_id).designated


def test_a_viewer_reads_but_changes_nothing(world: ChainWorld) -> None:
    staff = world.signed_in("hanako")
    staff_csrf = world.csrf(staff)
    created = staff.post(ACTIVITIES, data=new_activity_form(staff_csrf, name="見学会"))
    activity_id = activity_id_of(created.headers["location"])
    world.index()

    viewer = world.signed_in("viewer")
    csrf = world.csrf(viewer)
    listing = viewer.get(ACTIVITIES)
    assert listing.status_code == 200 and "見学会" in listing.text and "活動を登録" not in listing.text
    page = viewer.get(f"{ACTIVITIES}/{activity_id}")
    assert page.status_code == 200 and "チェックイン" in page.text
    assert not re.search(r'<form method="post" action="/console/regions', page.text)
    assert viewer.get(f"{ACTIVITIES}/new").status_code == 403
    base = f"{ACTIVITIES}/{activity_id}"
    for url, data in (
        (ACTIVITIES, new_activity_form(csrf)),
        (f"{base}/edit", {"csrf_token": csrf, "name": "x"}),
        (f"{base}/designation", {"csrf_token": csrf, "designated": "1"}),
        (f"{base}/close", {"csrf_token": csrf}),
        (f"{base}/kiosk", {"csrf_token": csrf}),
        (f"{base}/revoke", {"csrf_token": csrf, "participant": "0x" + "11" * 20, "reason": "1"}),
        (f"{ACTIVITIES}/pending/1/dismiss", {"csrf_token": csrf}),
    ):
        assert viewer.post(url, data=data).status_code == 403, url
    headers = world.json(viewer)
    assert viewer.get(f"/api/v1/activities/{activity_id}").status_code == 200
    assert viewer.post(f"/api/v1/activities/{activity_id}/kiosk", headers=headers).status_code == 403
    assert viewer.post(f"/api/v1/activities/{activity_id}/close", headers=headers).status_code == 403
    assert world.chain.activity(activity_id).closed is False
    english = viewer.get(f"{ACTIVITIES}/{activity_id}", params={"lang": "en"})
    assert english.status_code == 200 and "Check-ins" in english.text
    assert "Open now" in viewer.get(ACTIVITIES).text  # the language choice is remembered
    assert "Register an activity" in staff.get(f"{ACTIVITIES}/new", params={"lang": "en"}).text


def test_another_region_sees_and_changes_nothing(world: ChainWorld) -> None:
    staff = world.signed_in("hanako")
    staff_csrf = world.csrf(staff)
    created = staff.post(ACTIVITIES, data=new_activity_form(staff_csrf, name="館山の活動"))
    activity_id = activity_id_of(created.headers["location"])
    other = world.signed_in("nagaoka-admin")
    own = other.get(f"{B}/activities")
    assert own.status_code == 200 and "館山の活動" not in own.text
    csrf = csrf_of(own.text)
    base = f"{ACTIVITIES}/{activity_id}"
    assert other.get(ACTIVITIES).status_code == 403
    assert other.get(base).status_code == 403
    assert other.get(f"{base}/checkins").status_code == 403
    assert other.get(f"{B}/activities/{activity_id}").status_code == 404  # not B's activity
    assert other.post(f"{base}/kiosk", data={"csrf_token": csrf}).status_code == 403
    assert other.post(f"{B}/activities/{activity_id}/close", data={"csrf_token": csrf}).status_code == 404
    headers = world.json(other)
    for response in (
        other.get(f"/api/v1/activities/{activity_id}"),
        other.get(f"/api/v1/activities/{activity_id}/claims"),
        other.get(f"/api/v1/regions/{TATEYAMA}/activities"),
        other.post(f"/api/v1/activities/{activity_id}/kiosk", headers=headers),
        other.post(f"/api/v1/activities/{activity_id}/close", headers=headers),
        other.patch(f"/api/v1/activities/{activity_id}", json={"name": "乗っ取り"}, headers=headers),
    ):
        assert response.status_code == 403 and response.json()["error"]["code"] == "wrong_region", response.text
    assert world.chain.activity(activity_id).closed is False


def test_forms_without_the_csrf_token_are_refused(world: ChainWorld) -> None:
    client = world.signed_in("hanako")
    csrf = world.csrf(client)
    refused = client.post(ACTIVITIES, data={**new_activity_form(csrf), "csrf_token": ""})
    assert refused.status_code == 403
    forged = client.post(ACTIVITIES, data={**new_activity_form(csrf), "csrf_token": "x" * 40})
    assert forged.status_code == 403
    api = client.post(f"/api/v1/regions/{TATEYAMA}/activities", json={"name": "x"})
    assert api.status_code == 403 and api.json()["error"]["code"] == "csrf_rejected"


def test_a_crash_between_send_and_mark_is_reconciled(world: ChainWorld) -> None:
    client = world.signed_in("hanako")
    now = int(time.time())
    with write_transaction(world.engine) as conn:
        metadata_hash = store_metadata(conn, "落ち葉拾い（クラッシュ）", "", "城山公園")
        action_id = conn.execute(
            text(
                "INSERT INTO pending_actions (region, kind, payload, metadata_hash, status, actor, created_at, "
                "updated_at) VALUES (:r, 'activity.create', :p, :m, 'sending', 'account:1', :t, :t) "
                "RETURNING action_id"
            ),
            {"r": TATEYAMA, "p": json.dumps({"name": "落ち葉拾い（クラッシュ）"}), "m": metadata_hash, "t": now},
        ).scalar_one()
    # The transaction went out before the process died: the chain has the activity.
    spec = ActivitySpec(
        TATEYAMA,
        ContributionKind.VOLUNTEERING,
        100,
        now + 3600,
        now + 7200,
        metadata_hash=bytes.fromhex(metadata_hash[2:]),
    )
    activity_id = world.chain.register_activity(dev_account(2), spec)
    listing = client.get(ACTIVITIES)
    assert "落ち葉拾い（クラッシュ）" in listing.text  # not indexed yet: still shown as not confirmed
    world.index()
    listing = client.get(ACTIVITIES)
    with world.engine.connect() as conn:
        status, result = conn.execute(
            text("SELECT status, result FROM pending_actions WHERE action_id = :i"), {"i": action_id}
        ).one()
    assert status == "done" and json.loads(result)["activity_id"] == activity_id
    upcoming = listing.text.split('id="section-upcoming"')[1].split('id="section-past"')[0]
    assert "落ち葉拾い（クラッシュ）" in upcoming
    assert (
        'id="pending-title"' not in listing.text
        or "落ち葉拾い（クラッシュ）" not in listing.text.split('id="pending-title"')[1].split('id="section-open"')[0]
    )


def test_a_chain_that_is_down_leaves_a_failed_row_and_no_activity(world: ChainWorld) -> None:
    assert world.settings.chain.deployments_dir.parent.exists()
    with dead_chain_app(world) as down:
        client = down.signed_in("hanako")
        page = client.get(ACTIVITIES)
        assert page.status_code == 200
        csrf = csrf_of(page.text)
        failed = client.post(ACTIVITIES, data=new_activity_form(csrf, name="停電の日の活動"))
        assert failed.status_code == 503
        assert "ブロックチェーンのノードに接続できない" in failed.text and 'value="停電の日の活動"' in failed.text
        with down.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT status, payload, metadata_hash FROM pending_actions WHERE kind = 'activity.create' "
                    "ORDER BY action_id DESC LIMIT 1"
                )
            ).one()
        assert row.status == "failed" and json.loads(row.payload)["name"] == "停電の日の活動"
        listing = client.get(ACTIVITIES)
        panel = listing.text.split('id="pending-title"')[1].split('id="section-open"')[0]
        assert "停電の日の活動" in panel and "失敗" in panel
        api = client.post(
            f"/api/v1/regions/{TATEYAMA}/activities",
            json={"name": "停電の日の活動2", "kind": 20, "reward": 1, "starts_at": int(time.time()) + 60,
                  "ends_at": int(time.time()) + 120},
            headers=down.json(client),
        )  # fmt: skip
        assert api.status_code == 503 and api.json()["error"]["code"] == "chain_unavailable"
        # Dismissing it once looked at.
        dismissed = client.post(f"{ACTIVITIES}/pending/{_last_action(down)}/dismiss", data={"csrf_token": csrf})
        assert dismissed.status_code == 303
    world.index()
    with world.engine.connect() as conn:
        made = conn.execute(
            text("SELECT COUNT(*) FROM activity_registrations WHERE metadata_hash = :h"), {"h": row.metadata_hash}
        ).scalar_one()
    assert made == 0


def _last_action(world: ConsoleWorld) -> int:
    with world.engine.connect() as conn:
        return int(conn.execute(text("SELECT MAX(action_id) FROM pending_actions")).scalar_one())
