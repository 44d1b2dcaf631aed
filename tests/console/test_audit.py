"""The staff audit over a real index of a py-evm chain: records with names and Japanese labels,
revocations with notes for staff only, the staff actions, CSV downloads with provenance, and
region isolation."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import text

from ledger.chain.accounts import dev_account
from ledger.console.report import month_range, parse_month
from ledger.queries import day_int
from ledger.taxonomy import KIND_LABELS, ContributionKind
from tests.console.world import ACTIVITY_NAME, DATABASES, NOTE, TATEYAMA, A, AuditWorld, chain_world, seed_audit

HIDDEN = "メモあり（閲覧権限なし）"


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditWorld]:
    with chain_world(tmp_path_factory.mktemp("audit"), months=3, people=6, db=request.param) as found:
        yield seed_audit(found)


def _span(month: str) -> tuple[date, date]:
    return month_range(*parse_month(month))


def test_records_show_names_and_japanese_labels_escaped(world: AuditWorld) -> None:
    staff = world.clients["tateyama-staff"]
    page = staff.get(f"{A}/audit", params={"month": world.month})
    assert page.status_code == 200, page.text
    html = page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;棚田の草刈り" in html and "<script>alert(1)" not in html
    assert KIND_LABELS[ContributionKind.VOLUNTEERING][0] in html  # ボランティア…, not the bare number
    assert "取消済み" in html and "有効" in html and "担い手活動" in html
    assert "\u2026" in html  # participants as short addresses
    only = staff.get(f"{A}/audit", params={"month": world.month, "activity": world.activity_id})
    assert only.text.count("<tr>") == 1 + 3  # header + the three records of the activity

    api = staff.get(f"/api/v1/regions/{TATEYAMA}/audit/records", params={"month": world.month, "per_page": 2})
    assert api.status_code == 200, api.text
    body = api.json()
    start, end = _span(world.month)
    with world.world.engine.connect() as conn:
        total = conn.execute(
            text("SELECT COUNT(*) FROM contributions WHERE region = :r AND day BETWEEN :a AND :b"),
            {"r": TATEYAMA, "a": day_int(start), "b": day_int(end)},
        ).scalar_one()
    assert body["total"] == total and len(body["records"]) == 2
    named = [r for r in body["records"] if r["activity_id"] == world.activity_id]
    assert named and named[0]["activity_name"] == ACTIVITY_NAME and named[0]["kind_ja"] != str(named[0]["kind"])


def test_revocation_note_for_staff_hidden_from_viewer(world: AuditWorld) -> None:
    url = f"{A}/audit"
    params = {"tab": "revocations", "month": world.month}
    staff = world.clients["tateyama-staff"].get(url, params=params)
    assert staff.status_code == 200
    assert "&lt;b&gt;本人&lt;/b&gt;から電話" in staff.text and "<b>本人</b>" not in staff.text
    assert "不参加" in staff.text and "佐藤 花子" in staff.text  # reason in Japanese, who revoked from the staff audit
    viewer = world.clients["tateyama-viewer"].get(url, params=params)
    assert viewer.status_code == 200
    assert "本人" not in viewer.text and HIDDEN in viewer.text

    staff_json = (
        world.clients["tateyama-staff"]
        .get(f"/api/v1/regions/{TATEYAMA}/audit/revocations", params={"month": world.month})
        .json()
    )
    viewer_json = (
        world.clients["tateyama-viewer"]
        .get(f"/api/v1/regions/{TATEYAMA}/audit/revocations", params={"month": world.month})
        .json()
    )
    [noted] = [r for r in staff_json["revocations"] if r["participant"] == world.revoked]
    assert noted["note"] == NOTE and noted["revoked_by"] == "佐藤 花子"
    [hidden] = [r for r in viewer_json["revocations"] if r["participant"] == world.revoked]
    assert hidden["note"] is None and hidden["has_note"] is True and viewer_json["notes_visible"] is False


def test_staff_actions_are_readable_and_keep_notes_from_viewers(world: AuditWorld) -> None:
    url = f"{A}/audit"
    staff = world.clients["tateyama-staff"].get(url, params={"tab": "actions"})
    assert staff.status_code == 200
    assert "記録を取消" in staff.text and "ログイン" in staff.text and "成功" in staff.text
    assert "login_token" not in staff.text
    viewer = world.clients["tateyama-viewer"].get(url, params={"tab": "actions"})
    assert "記録を取消" in viewer.text and "本人" not in viewer.text
    actions = world.clients["tateyama-viewer"].get(f"/api/v1/regions/{TATEYAMA}/audit/actions").json()
    revoke = next(a for a in actions["actions"] if a["action"] == "record.revoke")
    assert (
        revoke["action_ja"] == "記録を取消"
        and "本人" not in revoke["summary_ja"]
        and "理由: 不参加" in revoke["summary_ja"]
    )


def _rows(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_records_csv_has_bom_japanese_header_and_provenance(world: AuditWorld) -> None:
    staff = world.clients["tateyama-staff"]
    answer = staff.get(f"{A}/audit/records.csv", params={"month": world.month})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "filename*=UTF-8''" in answer.headers["content-disposition"]
    rows = _rows(answer.content)
    header, data = rows[0], rows[1:]
    assert header[:3] == ["日時（日本時間）", "活動ID", "活動名"] and header[-1] == "スタッフメモ（内部用）"
    start, end = _span(world.month)
    with world.world.engine.connect() as conn:
        indexed = {
            (str(r[0]), str(r[1]), str(r[2]))
            for r in conn.execute(
                text(
                    "SELECT tx_hash, log_index, block_number FROM contributions WHERE region = :r "
                    "AND day BETWEEN :a AND :b"
                ),
                {"r": TATEYAMA, "a": day_int(start), "b": day_int(end)},
            )
        }
    tx, log, block = header.index("トランザクションハッシュ"), header.index("ログ番号"), header.index("ブロック番号")
    assert len(data) == len(indexed) and {(r[tx], r[log], r[block]) for r in data} == indexed
    noted = [
        r
        for r in data
        if r[header.index("参加者アドレス")] == world.revoked and r[header.index("活動ID")] == str(world.activity_id)
    ]
    assert noted and noted[0][header.index("状態")] == "取消済み" and noted[0][-1] == NOTE
    assert "'<script>" not in answer.text and ACTIVITY_NAME in answer.content.decode("utf-8-sig")

    english = staff.get(f"/api/v1/regions/{TATEYAMA}/records.csv", params={"month": world.month, "lang": "en"})
    assert english.status_code == 200 and _rows(english.content)[0][:2] == ["recorded_at_jst", "activity_id"]
    viewer = world.clients["tateyama-viewer"].get(f"{A}/audit/records.csv", params={"month": world.month})
    viewer_rows = _rows(viewer.content)
    assert "スタッフメモ（内部用）" not in viewer_rows[0] and NOTE not in viewer.content.decode("utf-8-sig")
    assert len(viewer_rows) == len(rows)

    revocations = staff.get(f"{A}/audit/revocations.csv", params={"month": world.month})
    rev_rows = _rows(revocations.content)
    assert rev_rows[0][0] == "取消日時（日本時間）" and any(NOTE in r for r in rev_rows[1:])
    ranged = staff.get(f"{A}/audit/records.csv", params={"start": str(start), "end": str(end)})
    assert _rows(ranged.content) == rows


def test_other_region_staff_get_403_everywhere(world: AuditWorld) -> None:
    other = world.clients["nagaoka-staff"]
    for url in (
        f"{A}/audit",
        f"{A}/audit?tab=revocations&month={world.month}",
        f"{A}/audit/records.csv?month={world.month}",
        f"{A}/audit/revocations.csv?month={world.month}",
        f"/api/v1/regions/{TATEYAMA}/audit/records?month={world.month}",
        f"/api/v1/regions/{TATEYAMA}/audit/revocations?month={world.month}",
        f"/api/v1/regions/{TATEYAMA}/audit/actions",
        f"/api/v1/regions/{TATEYAMA}/records.csv?month={world.month}",
        f"/api/v1/regions/{TATEYAMA}/revocations.csv?month={world.month}",
    ):
        answer = other.get(url)
        assert answer.status_code == 403, (url, answer.status_code)
        assert "棚田" not in answer.text and NOTE not in answer.text


def test_export_hint_only_for_export_permission(world: AuditWorld) -> None:
    url = f"{A}/audit"
    assert "/api/v1/export" in world.clients["tateyama-admin"].get(url).text
    assert "/api/v1/export" not in world.clients["tateyama-staff"].get(url).text


def test_audit_names_kinds_issuers_and_the_revoked_record(world: AuditWorld) -> None:
    """No bare kind numbers, no truncated hex alone: an issuer is its name (the staff's label, the
    check-in relayer) or its full checksummed address to copy; a revocation names the revoked
    record's activity, kind, day and issuer with the reason — in the page, the JSON and the CSV."""
    staff = world.clients["tateyama-staff"]
    relayer = dev_account(1).address  # issued the records; checksummed
    kind_ja, kind_en = KIND_LABELS[ContributionKind.VOLUNTEERING]
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;棚田の草刈り"

    records = staff.get(f"{A}/audit", params={"month": world.month, "activity": world.activity_id}).text
    assert f'value="{relayer}"' in records and "名前のない発行者" in records and kind_ja in records
    assert ">50<" not in records and ">41<" not in records
    body = staff.get(
        f"/api/v1/regions/{TATEYAMA}/audit/records", params={"month": world.month, "activity": world.activity_id}
    ).json()
    assert body["region_code"] == "12205"
    assert {r["issuer"] for r in body["records"]} == {relayer}
    assert all(r["issuer_label"] is None and r["kind_ja"] == kind_ja for r in body["records"])
    [revoked_row] = [r for r in body["records"] if r["participant"] == world.revoked]
    assert revoked_row["revocation_reason_ja"] == "不参加"

    page = staff.get(f"{A}/audit", params={"tab": "revocations", "month": world.month}).text
    assert escaped in page and kind_ja in page and "不参加" in page and f'value="{relayer}"' in page
    [revocation] = [
        r
        for r in staff.get(f"/api/v1/regions/{TATEYAMA}/audit/revocations", params={"month": world.month}).json()[
            "revocations"
        ]
        if r["participant"] == world.revoked
    ]
    assert revocation["activity_name"] == ACTIVITY_NAME and revocation["kind_ja"] == kind_ja
    assert revocation["reason_ja"] == "不参加" and revocation["record_issuer"] == relayer
    assert revocation["admin"] == dev_account(2).address and revocation["record_day"] is not None

    actions = staff.get(f"/api/v1/regions/{TATEYAMA}/audit/actions").json()["actions"]
    revoke = next(a for a in actions if a["action"] == "record.revoke")
    assert f"活動: {ACTIVITY_NAME}（#{world.activity_id}）" in revoke["summary_ja"]

    # Named: by the relayer's record batches, then by the staff's label (which wins).
    with world.world.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO relay_batches (kind, region, issuer, batch_seq, size, status, created_at_ms) "
                "VALUES ('record', :r, :i, 987654, 1, 'confirmed', 0)"
            ),
            {"r": TATEYAMA, "i": relayer.lower()},
        )
    try:
        named = staff.get(f"{A}/audit", params={"month": world.month, "activity": world.activity_id}).text
        assert "チェックイン中継サーバー" in named and f'value="{relayer}"' in named
        with world.world.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO issuer_labels (region, address, label, updated_at) VALUES (:r, :a, :l, 0)"),
                {"r": TATEYAMA, "a": relayer, "l": "受付タブレット1"},
            )
        labelled = staff.get(f"{A}/audit", params={"month": world.month, "activity": world.activity_id}).text
        assert "受付タブレット1" in labelled and "名前のない発行者" not in labelled
        csv_rows = _rows(staff.get(f"{A}/audit/revocations.csv", params={"month": world.month}).content)
        header = csv_rows[0]
        [line] = [r for r in csv_rows[1:] if r[header.index("参加者アドレス")] == world.revoked]
        assert line[header.index("活動名")] == ACTIVITY_NAME and line[header.index("種別")] == kind_ja
        assert line[header.index("記録の発行者名")] == "受付タブレット1"
        assert line[header.index("記録の発行者アドレス")] == relayer and line[header.index("理由")] == "不参加"
        record_rows = _rows(staff.get(f"{A}/audit/records.csv", params={"month": world.month}).content)
        assert {r[record_rows[0].index("発行者名")] for r in record_rows[1:]} == {"受付タブレット1"}
        english = staff.get(f"{A}/audit", params={"tab": "revocations", "month": world.month, "lang": "en"}).text
        assert kind_en in english and "受付タブレット1" in english and "Unnamed issuer" not in english
    finally:
        staff.get(f"{A}/audit", params={"lang": "ja"})  # the language choice is remembered
        with world.world.engine.begin() as conn:
            conn.execute(text("DELETE FROM issuer_labels WHERE region = :r"), {"r": TATEYAMA})
            conn.execute(text("DELETE FROM relay_batches WHERE batch_seq = 987654"))


def test_a_code_without_its_leading_zero_redirects_to_five_digits(world: AuditWorld) -> None:
    staff = world.clients["tateyama-staff"]
    for url, canonical in (
        (f"/console/regions/1634/audit?month={world.month}", f"/console/regions/01634/audit?month={world.month}"),
        ("/console/regions/1634", "/console/regions/01634"),
        ("/api/v1/regions/1634/audit/records?page=2", "/api/v1/regions/01634/audit/records?page=2"),
    ):
        answer = staff.get(url, follow_redirects=False)
        assert answer.status_code == 308 and answer.headers["location"].endswith(canonical), (url, answer.headers)
    assert staff.get("/console/regions/01634/audit").status_code == 403  # not 館山's staff's region
    assert staff.get("/console/regions/123456/audit").status_code == 404
