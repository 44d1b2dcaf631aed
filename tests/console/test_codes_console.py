"""Single-use claim codes in the console and the operator API, over real HTTP, a real SQLite file,
a py-evm chain and the real indexer: staff generate a batch, print its A4 sheet and download its
CSV (every code valid, only hashes stored), a participant redeems one through the claim
endpoint, the batch is voided (a voided code is refused); viewers and another region cannot
touch the codes; each way of taking the codes out is audited."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import text

from api.deps import checkin_of
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec
from ledger.checkin.codes import CodeMaker, normalise_code
from ledger.checkin.metadata import store_metadata
from ledger.db.engine import write_transaction
from ledger.staff import audit
from ledger.taxonomy import ContributionKind, RewardUnit
from ledger.ties import JST
from tests.console.conftest import csrf_of
from tests.console.world import NAGAOKA, TATEYAMA, A, B, ChainWorld, chain_world, form_of
from tests.stack import sign_claim

ACTIVITY_NAME = "ふるさと納税 お礼の記録"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainWorld]:
    with chain_world(tmp_path_factory.mktemp("console-codes")) as w:
        w.account("hanako", "staff", TATEYAMA)
        w.account("viewer", "viewer", TATEYAMA)
        w.account("nagaoka-staff", "staff", NAGAOKA)
        yield w


def register(
    world: ChainWorld, name: str, unit: RewardUnit = RewardUnit.RECORD, max_units: int = 1, days: int = 60
) -> int:
    """An activity of 館山 open from an hour ago for ``days`` days, indexed."""
    with write_transaction(world.engine) as conn:
        metadata = store_metadata(conn, name, "", "")
    now = int(time.time())
    spec = ActivitySpec(
        TATEYAMA,
        ContributionKind.FURUSATO_NOZEI,
        500,
        now - 3600,
        now + days * 86_400,
        metadata_hash=bytes.fromhex(metadata[2:]),
        unit=unit,
        max_units=max_units,
    )
    activity = world.chain.register_activity(dev_account(2), spec)
    world.index()
    return activity


def codes_url(activity_id: int) -> str:
    return f"{A}/activities/{activity_id}/codes"


def in_days(days: int) -> str:
    return (datetime.now(JST) + timedelta(days=days)).date().isoformat()


def generate(world: ChainWorld, activity_id: int, count: int, **extra: str) -> int:
    """Generate through the console form; the new batch's id."""
    client = world.signed_in("hanako")
    answer = client.post(
        codes_url(activity_id),
        data={"csrf_token": world.csrf(client), "count": str(count), "expires": in_days(30), "label": "", **extra},
    )
    assert answer.status_code == 303, answer.text
    match = re.search(r"\?done=codes_generated#batch-(\d+)$", answer.headers["location"])
    assert match, answer.headers["location"]
    return int(match.group(1))


def csv_rows(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode()), "the CSV starts with a BOM (Excel)"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def actions(world: ChainWorld) -> list[tuple[str, str]]:
    with world.engine.connect() as conn:
        return [(e.action, e.target) for e in audit.entries(conn, TATEYAMA, limit=500)]


def test_generate_print_download_redeem_and_void(world: ChainWorld) -> None:
    activity_id = register(world, ACTIVITY_NAME)
    client = world.signed_in("hanako")
    csrf = world.csrf(client)

    page = client.get(f"{A}/activities/{activity_id}")
    assert page.status_code == 200 and f"/activities/{activity_id}/codes" in page.text
    assert f"/activities/{activity_id}/presence" not in page.text  # a per-visit activity has no check-out
    form = client.get(codes_url(activity_id))
    assert form.status_code == 200 and "コードを作成" in form.text and form_of(form.text, "/codes")
    assert "まだコードはありません" in form.text

    # A bad form comes back with the values and a message per field; nothing is generated.
    bad = client.post(
        codes_url(activity_id),
        data={"csrf_token": csrf, "count": "0", "expires": in_days(-2), "label": "x" * 10},
    )
    assert bad.status_code == 422 and "件数は1〜10,000の整数" in bad.text
    after_end = client.post(
        codes_url(activity_id), data={"csrf_token": csrf, "count": "5", "expires": in_days(400), "label": ""}
    )
    assert after_end.status_code == 422 and "活動の終了" in after_end.text
    past = client.post(codes_url(activity_id), data={"csrf_token": csrf, "count": "5", "expires": in_days(-1)})
    assert past.status_code == 422 and "有効期限がすでに過ぎています" in past.text
    with world.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM claim_code_batches")).scalar_one() == 0

    created = client.post(
        codes_url(activity_id),
        data={"csrf_token": csrf, "count": "12", "expires": in_days(30), "label": "2026年12月 お礼状"},
    )
    assert created.status_code == 303, created.text
    batch_id = int(created.headers["location"].rsplit("#batch-", 1)[1])
    listing = client.get(created.headers["location"].split("#")[0])
    assert "参加コードを作成しました" in listing.text and "2026年12月 お礼状" in listing.text
    assert f"/code-batches/{batch_id}/sheet" in listing.text and f"/code-batches/{batch_id}/codes.csv" in listing.text

    # The CSV: 12 rows of valid codes, each one's hash stored, no code in the database file.
    download = client.get(f"{A}/code-batches/{batch_id}/codes.csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    rows = csv_rows(download.content)
    assert len(rows) == 12 and list(rows[0]) == [
        "serial", "code", "url", "activity_id", "activity_name", "municipality", "expires_at_jst", "state",
    ]  # fmt: skip
    assert [int(r["serial"]) for r in rows] == list(range(1, 13))
    assert {r["activity_name"] for r in rows} == {ACTIVITY_NAME} and {r["state"] for r in rows} == {"issued"}
    assert {r["municipality"] for r in rows} == {"館山市"} and {r["activity_id"] for r in rows} == {str(activity_id)}
    canonical = [normalise_code(r["code"]) for r in rows]
    assert all(r["url"] == f"{world.base_url}/c/{c}" for r, c in zip(rows, canonical, strict=True))
    assert len(set(canonical)) == 12
    with world.engine.connect() as conn:
        stored = {
            str(h)
            for (h,) in conn.execute(text("SELECT code_hash FROM claim_codes WHERE batch_id = :b"), {"b": batch_id})
        }
    assert stored == {CodeMaker.hash(c) for c in canonical}
    database = Path(world.settings.db.url.removeprefix("sqlite:///")).read_bytes()
    for path in Path(world.settings.db.url.removeprefix("sqlite:///")).parent.glob("console.db-*"):
        database += path.read_bytes()  # the write-ahead log too
    for code, row in zip(canonical, rows, strict=True):
        assert code.encode() not in database and row["code"].encode() not in database

    # The print sheet: 12 cards, each with its QR code (inline SVG), the activity and the code.
    sheet = client.get(f"{A}/code-batches/{batch_id}/sheet")
    assert sheet.status_code == 200
    assert sheet.text.count('class="code-card"') == 12 and sheet.text.count("<svg") == 12
    assert sheet.text.count(ACTIVITY_NAME) >= 12 and "館山市" in sheet.text
    assert all(r["code"] in sheet.text for r in rows)
    assert f"{world.base_url}/c でコードを入力してください" in sheet.text
    assert "<style" not in sheet.text and "style=" not in sheet.text  # the page CSP: styles from files only
    assert "'unsafe-inline'" not in sheet.headers["content-security-policy"]

    # A phone redeems one code through the claim endpoint: recorded once; the code is used.
    service = checkin_of(world.app)
    person = Account.create()
    claim = client.post("/api/v1/claims", json=sign_claim(person, service.signing, canonical[0], activity_id))  # type: ignore[arg-type]
    assert claim.status_code == 202, claim.text
    again = client.post("/api/v1/claims", json=sign_claim(Account.create(), service.signing, canonical[0], activity_id))  # type: ignore[arg-type]
    assert again.status_code == 409 and again.json()["error"]["code"] == "code_used"
    unused = client.get(f"{A}/code-batches/{batch_id}/sheet", params={"status": "issued"})
    assert unused.text.count('class="code-card"') == 11 and rows[0]["code"] not in unused.text

    # Void the batch: the 11 unused codes are refused, the used one keeps its record.
    voided = client.post(f"{A}/code-batches/{batch_id}/void", data={"csrf_token": csrf})
    assert voided.status_code == 303 and "done=codes_voided" in voided.headers["location"]
    refused = client.post(
        "/api/v1/claims", json=sign_claim(Account.create(), service.signing, canonical[1], activity_id)
    )  # type: ignore[arg-type]
    assert refused.status_code == 410 and refused.json()["error"]["code"] == "code_voided"
    states = [r["state"] for r in csv_rows(client.get(f"{A}/code-batches/{batch_id}/codes.csv").content)]
    assert states == ["redeemed"] + ["voided"] * 11
    with world.engine.connect() as conn:
        claims = conn.execute(
            text("SELECT COUNT(*) FROM claims WHERE activity_id = :a"), {"a": activity_id}
        ).scalar_one()
    assert claims == 1

    done = {action for action, target in actions(world) if target == f"code-batch:{batch_id}"}
    assert {"codes.generate", "codes.csv", "codes.print", "codes.void"} <= done
    with world.engine.connect() as conn:
        details = [str(d) for (d,) in conn.execute(text("SELECT detail FROM staff_audit WHERE action LIKE 'codes.%'"))]
    assert not any(c in d or r["code"] in d for d in details for c, r in zip(canonical, rows, strict=True))


def test_units_for_an_hour_based_activity(world: ChainWorld) -> None:
    activity_id = register(world, "オンライン講座（時間）", RewardUnit.HOUR, 8)
    client = world.signed_in("hanako")
    csrf = world.csrf(client)
    page = client.get(codes_url(activity_id))
    assert 'name="units"' in page.text and '<option value="8"' in page.text
    too_many = client.post(
        codes_url(activity_id), data={"csrf_token": csrf, "count": "3", "expires": in_days(10), "units": "9"}
    )
    assert too_many.status_code == 422 and "時間数・日数を一覧から選んでください" in too_many.text
    batch_id = generate(world, activity_id, 3, units="2")
    with world.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT units FROM claim_code_batches WHERE batch_id = :b"), {"b": batch_id}).scalar_one()
            == 2
        )


def test_viewers_and_another_region_cannot_touch_the_codes(world: ChainWorld) -> None:
    activity_id = register(world, "館山の寄附のお礼")
    batch_id = generate(world, activity_id, 2)

    viewer = world.signed_in("viewer")
    csrf = world.csrf(viewer)
    page = viewer.get(codes_url(activity_id))
    assert page.status_code == 200 and "作成したコード" in page.text
    assert not form_of(page.text, "/codes") and "/sheet" not in page.text and "codes.csv" not in page.text
    assert (
        viewer.post(codes_url(activity_id), data={"csrf_token": csrf, "count": "1", "expires": in_days(5)}).status_code
        == 403
    )
    assert viewer.get(f"{A}/code-batches/{batch_id}/sheet").status_code == 403
    assert viewer.get(f"{A}/code-batches/{batch_id}/codes.csv").status_code == 403
    assert viewer.post(f"{A}/code-batches/{batch_id}/void", data={"csrf_token": csrf}).status_code == 403

    other = world.signed_in("nagaoka-staff")
    csrf = csrf_of(other.get(f"{B}/activities").text)
    assert other.get(codes_url(activity_id)).status_code == 403
    assert (
        other.post(codes_url(activity_id), data={"csrf_token": csrf, "count": "1", "expires": in_days(5)}).status_code
        == 403
    )
    assert other.get(f"{A}/code-batches/{batch_id}/sheet").status_code == 403
    assert other.get(f"{A}/code-batches/{batch_id}/codes.csv").status_code == 403
    assert other.post(f"{A}/code-batches/{batch_id}/void", data={"csrf_token": csrf}).status_code == 403
    # Through its own region's URLs: another region's batch is refused, its activity not found.
    assert other.get(f"{B}/code-batches/{batch_id}/sheet").status_code == 403
    assert other.get(f"{B}/code-batches/{batch_id}/codes.csv").status_code == 403
    assert other.post(f"{B}/code-batches/{batch_id}/void", data={"csrf_token": csrf}).status_code == 403
    assert (
        other.post(
            f"{B}/activities/{activity_id}/codes", data={"csrf_token": csrf, "count": "1", "expires": in_days(5)}
        ).status_code
        == 404
    )

    # The operator API: another region's key gets wrong_region; unknown ids 404; bad values 422.
    for response in (
        other.post(
            f"/api/v1/activities/{activity_id}/codes",
            json={"count": 1, "expires_at": int(time.time()) + 86_400},
            headers=world.json(other),
        ),
        world.new_client().post(
            f"/api/v1/activities/{activity_id}/codes",
            json={"count": 1, "expires_at": int(time.time()) + 86_400},
            headers=world.bearer("b"),
        ),
        world.new_client().get(f"/api/v1/activities/{activity_id}/codes", headers=world.bearer("b")),
        world.new_client().get(f"/api/v1/code-batches/{batch_id}/codes.csv", headers=world.bearer("b")),
        world.new_client().post(f"/api/v1/code-batches/{batch_id}/void", headers=world.bearer("b")),
    ):
        assert response.status_code == 403 and response.json()["error"]["code"] == "wrong_region", response.text
    api = world.new_client()
    assert viewer.post(f"/api/v1/code-batches/{batch_id}/void", headers=world.json(viewer)).status_code == 403
    assert api.get("/api/v1/code-batches/999999/codes.csv", headers=world.bearer("a")).status_code == 404
    assert (
        api.post(
            "/api/v1/activities/999999/codes",
            json={"count": 1, "expires_at": int(time.time()) + 60},
            headers=world.bearer("a"),
        ).status_code
        == 404
    )
    for body in (
        {"count": 0, "expires_at": int(time.time()) + 60},
        {"count": 10_001, "expires_at": int(time.time()) + 60},
        {"count": 1, "expires_at": int(time.time()) - 60},
        {"count": 1, "expires_at": int(time.time()) + 400 * 86_400},
        {"count": 1, "expires_at": int(time.time()) + 60, "units": 2},  # a per-visit activity records 1
    ):
        answer = api.post(f"/api/v1/activities/{activity_id}/codes", json=body, headers=world.bearer("a"))
        assert answer.status_code == 422, (body, answer.text)
    with world.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT COUNT(*) FROM claim_code_batches WHERE activity_id = :a"), {"a": activity_id}
            ).scalar_one()
            == 1
        )


def test_the_operator_api_hands_the_codes_out_once(world: ChainWorld) -> None:
    activity_id = register(world, "オンライン交流会")
    api = world.new_client()
    expires = int(time.time()) + 7 * 86_400
    created = api.post(
        f"/api/v1/activities/{activity_id}/codes",
        json={"count": 3, "expires_at": expires, "label": "メール案内"},
        headers=world.bearer("a"),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["count"] == 3 and body["expires_at"] == expires and len(body["codes"]) == 3 and "salt" not in body
    listed = api.get(f"/api/v1/activities/{activity_id}/codes", headers=world.bearer("a")).json()
    assert [b["batch_id"] for b in listed["batches"]] == [body["batch_id"]] and "codes" not in listed["batches"][0]
    assert listed["batches"][0]["counts"] == {"issued": 3, "redeemed": 0, "voided": 0, "expired": 0}
    rows = csv_rows(api.get(body["csv_url"], headers=world.bearer("a")).content)
    assert [r["code"] for r in rows] == [c["display"] for c in body["codes"]]
    voided = api.post(f"/api/v1/code-batches/{body['batch_id']}/void", headers=world.bearer("a"))
    assert voided.json() == {"batch_id": body["batch_id"], "voided": 3}
    with world.engine.connect() as conn:
        entry = conn.execute(
            text("SELECT detail FROM staff_audit WHERE action = 'codes.generate' AND target = :t"),
            {"t": f"code-batch:{body['batch_id']}"},
        ).scalar_one()
    assert '"delivered": "json"' in entry
    spec = api.get("/openapi.json").json()["paths"]["/api/v1/activities/{activity_id}/codes"]["post"]["responses"]
    assert {"403", "404", "409", "422"} <= set(spec)
