"""The staff audit of a region: its records, its revocations (with the staff's notes) and what its
staff did, readable — activity names, Japanese labels, issuer names — and as CSV for Excel.

- **Records** come from the index (``contributions``) with their chain provenance (tx hash, log
  index, block), so every row can be checked on chain; a record is live unless a revocation of the
  same (activity, participant) exists — the rule the dashboards count by.
- **Revocations** are :func:`ledger.queries.issuer_audit`'s (the issuer audit the public dashboard
  shows without participants), completed with the note whose keccak256 is the revocation's evidence
  (``revocation_notes``, shown only with the ``notes`` permission) and who revoked it (the staff
  audit's ``record.revoke`` entry, else the admin address on chain).
- **Staff actions** are :func:`ledger.staff.audit.entries`, with Japanese names and a summary of
  the details that never shows a secret.

Nothing is shown as a bare number or a truncated hex alone: a kind by its name
(:data:`ledger.taxonomy.KIND_LABELS`), an activity by its name (``#id`` only when it has none), and
an address by :func:`address_names` — the name the region's staff gave it (``issuer_labels``),
else "the check-in relayer" for the account our relayer sends record batches from
(``relay_batches``), else "a region admin key" for a current region admin on chain — always
beside the full EIP-55 checksummed address, which the pages offer to copy. A revocation carries
the revoked record's activity, kind, day and issuer with the reason.

Callers check the permission and region (``Actor.require("read", region)``); ``notes`` says whether
the caller may read revocation notes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from eth_utils.address import to_checksum_address
from sqlalchemy import Connection, bindparam, text

from ledger import queries
from ledger.errors import InvalidInput
from ledger.jst import JST, date_of_day_key, day_key_of_date
from ledger.municipalities import jis_code, municipality_name
from ledger.relay import outbox
from ledger.staff import audit as staff_audit
from ledger.taxonomy import KIND_LABELS, UNIT_LABELS, ContributionKind, RewardUnit

__all__ = [
    "ACTION_LABELS",
    "MAX_CSV_DAYS",
    "NOTE_HIDDEN",
    "ActionRow",
    "RecordPage",
    "RecordRow",
    "RevocationRow",
    "RELAYER_LABEL",
    "REGION_ADMIN_LABEL",
    "actions",
    "activity_choices",
    "activity_label",
    "address_names",
    "checksummed",
    "csv_filename",
    "issuer_labels",
    "records",
    "records_csv",
    "revocations",
    "revocations_csv",
    "short_address",
]

MAX_CSV_DAYS: Final = 366
NOTE_HIDDEN: Final = ("メモあり（閲覧権限なし）", "Note exists (no permission to read it)")
STATUS_LABELS: Final = {False: ("有効", "valid"), True: ("取消済み", "revoked")}
OUTCOME_LABELS: Final = {"ok": ("成功", "done"), "failed": ("失敗", "failed"), "started": ("開始", "started")}
ZERO_HASH: Final = "0x" + "0" * 64
RELAYER_LABEL: Final = ("チェックイン中継サーバー", "Check-in relayer")
REGION_ADMIN_LABEL: Final = ("地域管理者の鍵", "Region admin key")
_ROLE_ADMIN: Final = 1  # region_role_changes.role_kind: 1 region admin, 2 issuer

ACTION_LABELS: Final[dict[str, tuple[str, str]]] = {
    "sign_in": ("ログイン", "Signed in"),
    "sign_out": ("ログアウト", "Signed out"),
    "sign_out_everywhere": ("すべての端末からログアウト", "Signed out everywhere"),
    "staff.create": ("スタッフを登録", "Created a staff account"),
    "staff.invite": ("招待リンクを発行", "Issued an invite link"),
    "staff.accept_invite": ("招待からパスワードを設定", "Set a password from an invite"),
    "staff.role": ("役割を変更", "Changed a role"),
    "staff.disable": ("アカウントを停止", "Disabled an account"),
    "staff.enable": ("アカウントを再開", "Enabled an account"),
    "staff.password": ("パスワードを変更", "Changed the password"),
    "staff.totp_on": ("2段階認証を有効化", "Turned on two-step sign-in"),
    "staff.totp_off": ("2段階認証を無効化", "Turned off two-step sign-in"),
    "activity.create": ("活動を登録", "Registered an activity"),
    "activity.edit": ("活動の内容を変更", "Edited an activity"),
    "activity.metadata": ("活動の内容を変更", "Edited an activity"),
    "activity.designate": ("担い手活動の指定を変更", "Changed the designation"),
    "activity.close": ("活動を終了", "Closed an activity"),
    "record.revoke": ("記録を取消", "Revoked a record"),
    "project.create": ("プロジェクトを作成", "Created a project"),
    "project.edit": ("プロジェクトを変更", "Edited a project"),
    "project.metadata": ("プロジェクトを変更", "Edited a project"),
    "project.details": ("プロジェクトの目標・画像を変更", "Changed a project's goal or image"),
    "project.close": ("プロジェクトを終了", "Closed a project"),
    "issuer.grant": ("発行権限を付与", "Granted the issuer role"),
    "issuer.revoke": ("発行権限を取消", "Revoked the issuer role"),
    "issuer.label": ("発行者の名前を設定", "Named an issuer"),
    "kiosk.open": ("受付画面を開始", "Opened a kiosk"),
    "codes.generate": ("参加コードを作成", "Generated claim codes"),
    "codes.print": ("参加コードの印刷用シートを表示", "Opened a claim-code print sheet"),
    "codes.csv": ("参加コードのCSVを出力", "Downloaded claim codes as CSV"),
    "codes.void": ("参加コードを無効化", "Voided claim codes"),
    "presence.close": ("到着・出発を記録", "Recorded a check-in"),
    "presence.cancel": ("チェックインを取消", "Cancelled a check-in"),
    "presence.rule": ("時間の数え方を変更", "Changed how time is counted"),
    "pending.dismiss": ("未完了の操作を確認済みに", "Dismissed an unconfirmed action"),
    "eligibility.export": ("ふるさと住民登録の対象者CSVを出力", "Downloaded the eligible-people CSV"),
}
"""Japanese / English names of the staff actions (an unknown action is shown by its area)."""

_AREA_LABELS: Final[dict[str, tuple[str, str]]] = {
    "staff": ("スタッフ管理", "Staff"),
    "activity": ("活動", "Activity"),
    "record": ("記録", "Record"),
    "project": ("プロジェクト", "Project"),
    "issuer": ("発行者", "Issuer"),
    "kiosk": ("受付画面", "Kiosk"),
    "pending": ("未完了の操作", "Pending action"),
    "checkin": ("チェックイン", "Check-in"),
    "code": ("参加コード", "Code"),
    "codes": ("参加コード", "Claim codes"),
    "presence": ("到着・出発", "Check-in / check-out"),
    "eligibility": ("ふるさと住民登録", "Furusato registration"),
}
# detail keys never shown (whatever an action chose to store)
_SECRET_PARTS: Final = ("password", "token", "secret", "totp", "csrf", "cookie", "key", "salt", "session", "hash_pw")
_NOTE_KEYS: Final = frozenset(("note", "reason_text", "memo"))
_DETAIL_LABELS: Final[dict[str, tuple[str, str]]] = {
    "activity_id": ("活動ID", "activity"),
    "project_id": ("プロジェクトID", "project"),
    "participant": ("参加者", "participant"),
    "issuer": ("発行者", "issuer"),
    "reason": ("理由", "reason"),
    "name": ("名称", "name"),
    "login": ("ログイン名", "login"),
    "display_name": ("表示名", "name"),
    "role": ("役割", "role"),
    "from": ("変更前", "from"),
    "to": ("変更後", "to"),
    "tx_hash": ("トランザクション", "tx"),
    "error": ("エラー", "error"),
    "label": ("名前", "label"),
    "reconciled": ("チェーンから確認", "reconciled"),
    "evidence_hash": ("根拠ハッシュ", "evidence"),
    "note": ("メモ", "note"),
    "kind": ("種別", "kind"),
    "reward": ("報酬", "reward"),
    "units": ("数量", "units"),
    "designated": ("担い手活動", "designated"),
    "starts_at": ("開始", "starts"),
    "ends_at": ("終了", "ends"),
    "capacity": ("定員", "capacity"),
    "goal": ("目標", "goal"),
}


def short_address(address: str | None) -> str:
    """``0x1234…abcd`` (a compact form shown beside a copy-able full address, never alone)."""
    if not address:
        return "—"
    return f"{address[:6]}…{address[-4:]}" if len(address) > 12 else address


def checksummed(address: str) -> str:
    """The EIP-55 form of an address (what people compare with a wallet or an explorer)."""
    try:
        return str(to_checksum_address(address))
    except ValueError:
        return address


def activity_label(activity_id: int, name: str | None, lang: str = "ja") -> str:
    """An activity as people know it: its name, else 「活動 #id」."""
    return name or (f"活動 #{activity_id}" if lang == "ja" else f"activity #{activity_id}")


def _kind_labels(kind: int | None) -> tuple[str, str]:
    if kind is None:
        return "—", "—"
    try:
        return KIND_LABELS[ContributionKind(kind)]
    except ValueError:
        return f"種別{kind}", f"kind {kind}"


def _unit_labels(unit: int) -> tuple[str, str]:
    try:
        return UNIT_LABELS[RewardUnit(unit)]
    except ValueError:
        return str(unit), str(unit)


def _jst(timestamp: int) -> str:
    """A CSV cell's time: ``2026-12-07 21:05:09`` (JST; the column header says so)."""
    return datetime.fromtimestamp(int(timestamp), JST).strftime("%Y-%m-%d %H:%M:%S")


def issuer_labels(conn: Connection, region: int) -> dict[str, str]:
    """The region's names of issuer addresses given by its staff, by lowercase address."""
    return {
        str(r[0]).lower(): str(r[1])
        for r in conn.execute(text("SELECT address, label FROM issuer_labels WHERE region = :r"), {"r": region})
    }


def address_names(conn: Connection, region: int) -> dict[str, tuple[str, str]]:
    """(ja, en) names of the addresses the region's audit shows, by lowercase address: the staff's
    label (``issuer_labels``) first, else the check-in relayer (an account ``relay_batches`` sent
    from for the region), else a current region admin on chain. An address not here has no name."""
    names: dict[str, tuple[str, str]] = {}
    for r in conn.execute(
        text("SELECT account FROM region_roles WHERE region = :r AND role_kind = :k"), {"r": region, "k": _ROLE_ADMIN}
    ):
        names[str(r[0]).lower()] = REGION_ADMIN_LABEL
    for sender in outbox.record_senders(conn, region):
        names[sender.lower()] = RELAYER_LABEL
    for address, label in issuer_labels(conn, region).items():
        names[address] = (label, label)
    return names


def activity_choices(conn: Connection, region: int) -> list[tuple[int, str]]:
    """The region's activities as (id, name) for a filter, newest first (a name falls back to the id)."""
    ids = [
        int(r[0])
        for r in conn.execute(
            text("SELECT activity_id FROM activities WHERE region = :r ORDER BY activity_id DESC"), {"r": region}
        )
    ]
    names = queries.activity_names(conn, ids)
    return [(i, names.get(i) or f"#{i}") for i in ids]


# -- records -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordRow:
    """One indexed record with what a person needs to read it and what a machine needs to check it."""

    recorded_at: int  # unix seconds (the block's time)
    day: int  # YYYYMMDD, JST
    activity_id: int
    activity_name: str | None
    kind: int
    kind_ja: str
    kind_en: str
    units: int
    unit: int
    unit_ja: str
    unit_en: str
    coins: int
    designated: bool
    issuer: str  # EIP-55 checksummed
    issuer_label: str | None  # its name (staff label, the relayer, a region admin key), None when unknown
    issuer_label_en: str | None
    participant: str
    revoked: bool
    status_ja: str
    status_en: str
    revocation_reason: int | None
    revocation_reason_ja: str | None
    revocation_reason_en: str | None
    chain_id: int
    block_number: int
    tx_hash: str
    log_index: int


@dataclass(frozen=True, slots=True)
class RecordPage:
    region: int
    region_code: str  # five digits, e.g. "01634"
    start: date
    end: date
    activity_id: int | None
    total: int
    page: int
    per_page: int
    records: tuple[RecordRow, ...]


_RECORDS_FROM = (
    "FROM contributions c LEFT JOIN revocations v ON v.chain_id = c.chain_id "
    "AND v.activity_id = c.activity_id AND v.participant = c.participant "
    "WHERE c.region = :r AND c.day BETWEEN :d0 AND :d1"
)


def _record_params(region: int, start: date, end: date, activity_id: int | None) -> tuple[str, dict[str, Any]]:
    where = _RECORDS_FROM + (" AND c.activity_id = :a" if activity_id is not None else "")
    return where, {"r": region, "d0": day_key_of_date(start), "d1": day_key_of_date(end), "a": activity_id}


def _record_rows(rows: Sequence[Any], labels: dict[str, tuple[str, str]], names: dict[int, str]) -> list[RecordRow]:
    result = []
    for r in rows:
        kind_ja, kind_en = _kind_labels(int(r[3]))
        unit_ja, unit_en = _unit_labels(int(r[5]))
        revoked = r[12] is not None
        status_ja, status_en = STATUS_LABELS[revoked]
        label = labels.get(str(r[8]).lower())
        reason = None if r[12] is None else queries.REVOCATION_REASONS.get(int(r[12]), (str(r[12]), str(r[12])))
        result.append(
            RecordRow(
                recorded_at=int(r[0]),
                day=int(r[1]),
                activity_id=int(r[2]),
                activity_name=names.get(int(r[2])),
                kind=int(r[3]),
                kind_ja=kind_ja,
                kind_en=kind_en,
                units=int(r[4]),
                unit=int(r[5]),
                unit_ja=unit_ja,
                unit_en=unit_en,
                coins=int(r[6]),
                designated=bool(r[7]),
                issuer=checksummed(str(r[8])),
                issuer_label=None if label is None else label[0],
                issuer_label_en=None if label is None else label[1],
                participant=str(r[9]),
                revoked=revoked,
                status_ja=status_ja,
                status_en=status_en,
                revocation_reason=None if r[12] is None else int(r[12]),
                revocation_reason_ja=None if reason is None else reason[0],
                revocation_reason_en=None if reason is None else reason[1],
                chain_id=int(r[10]),
                block_number=int(r[11]),
                tx_hash=str(r[13]),
                log_index=int(r[14]),
            )
        )
    return result


_RECORD_COLUMNS = (
    "SELECT c.block_timestamp, c.day, c.activity_id, c.kind, c.units, c.unit, c.amount, c.designated, c.issuer, "
    "c.participant, c.chain_id, c.block_number, v.reason, c.tx_hash, c.log_index, v.evidence_hash "
)


def records(
    conn: Connection,
    region: int,
    start: date,
    end: date,
    *,
    activity_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> RecordPage:
    """The region's records of ``start``..``end`` (JST days), newest first, one page."""
    where, params = _record_params(region, start, end, activity_id)
    total = int(conn.execute(text(f"SELECT COUNT(*) {where}"), params).scalar_one())
    page = max(1, page)
    rows = conn.execute(
        text(f"{_RECORD_COLUMNS}{where} ORDER BY c.block_number DESC, c.log_index DESC LIMIT :lim OFFSET :off"),
        {**params, "lim": per_page, "off": (page - 1) * per_page},
    ).all()
    names = queries.activity_names(conn, [int(r[2]) for r in rows])
    found = _record_rows(rows, address_names(conn, region), names)
    return RecordPage(region, jis_code(region), start, end, activity_id, total, page, per_page, tuple(found))


def _all_records(
    conn: Connection, region: int, start: date, end: date, activity_id: int | None
) -> tuple[list[RecordRow], dict[tuple[int, str], str]]:
    """Every record of the range, oldest first, and the evidence hash of each revoked one."""
    where, params = _record_params(region, start, end, activity_id)
    rows = conn.execute(text(f"{_RECORD_COLUMNS}{where} ORDER BY c.block_number, c.log_index"), params).all()
    names = queries.activity_names(conn, [int(r[2]) for r in rows])
    evidence = {(int(r[2]), str(r[9])): str(r[15]).lower() for r in rows if r[15] is not None}
    return _record_rows(rows, address_names(conn, region), names), evidence


# -- revocations ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RevocationRow:
    revoked_at: int  # unix seconds
    day: int
    activity_id: int
    activity_name: str | None
    kind: int | None
    kind_ja: str
    kind_en: str
    participant: str
    reason: int
    reason_ja: str
    reason_en: str
    clawed_back: int
    has_note: bool
    note: str | None  # only for callers with the ``notes`` permission
    revoked_by: str  # the staff member's name (staff audit), else the admin key's name, else its address
    revoked_by_en: str
    admin: str  # EIP-55 checksummed
    record_day: int | None  # YYYYMMDD (JST) of the revoked record
    record_issuer: str | None  # who issued the revoked record (checksummed)
    record_issuer_label: str | None
    record_issuer_label_en: str | None
    evidence_hash: str
    chain_id: int | None
    block_number: int
    tx_hash: str
    log_index: int | None


def _revoker_index(conn: Connection, region: int) -> dict[str, str]:
    """Who revoked, from the staff audit's ``record.revoke`` entries: keys ``tx:<hash>``,
    ``ev:<evidence>`` and ``ap:<activity>:<participant>`` → the actor's label (newest entry wins)."""
    index: dict[str, str] = {}
    for entry in reversed(staff_audit.entries(conn, region, action_prefix="record.revoke", limit=10_000)):
        if entry.action != "record.revoke" or entry.outcome != "ok":
            continue
        detail = entry.detail
        label = entry.actor_label or entry.actor
        tx = detail.get("tx_hash") or detail.get("tx")
        if isinstance(tx, str) and tx:
            index[f"tx:{tx.lower()}"] = label
        for key in ("evidence_hash", "evidence"):
            value = detail.get(key)
            if isinstance(value, str) and value and value.lower() != ZERO_HASH:
                index[f"ev:{value.lower()}"] = label
        activity, participant = detail.get("activity_id"), detail.get("participant")
        if activity is not None and isinstance(participant, str):
            index[f"ap:{activity}:{participant.lower()}"] = label
    return index


def _notes(conn: Connection, region: int, hashes: Iterable[str]) -> dict[str, str]:
    wanted = sorted({h.lower() for h in hashes if h and h.lower() != ZERO_HASH})
    if not wanted:
        return {}
    return {
        str(r[0]).lower(): str(r[1])
        for r in conn.execute(
            text(
                "SELECT evidence_hash, note FROM revocation_notes WHERE region = :r AND LOWER(evidence_hash) IN :h"
            ).bindparams(bindparam("h", expanding=True)),
            {"r": region, "h": wanted},
        )
    }


def revocations(conn: Connection, region: int, start: date, end: date, *, notes: bool) -> list[RevocationRow]:
    """The revocations made in ``start``..``end`` (JST days), newest first; the note text only when
    ``notes`` (the caller's permission), else ``has_note`` alone."""
    audit = queries.issuer_audit(conn, region, start, end)
    provenance = {
        (str(r[0]), int(r[1]), str(r[2])): (int(r[3]), int(r[4]))
        for r in conn.execute(
            text(
                "SELECT tx_hash, activity_id, participant, log_index, chain_id FROM revocations "
                "WHERE region = :r AND day BETWEEN :d0 AND :d1"
            ),
            {"r": region, "d0": day_key_of_date(start), "d1": day_key_of_date(end)},
        )
    }
    texts = _notes(conn, region, (v.evidence_hash for v in audit.revocations))
    names = queries.activity_names(conn, [v.activity_id for v in audit.revocations])
    labels = address_names(conn, region)
    revokers = _revoker_index(conn, region)
    rows = []
    for v in reversed(audit.revocations):
        participant = v.participant or ""
        kind_ja, kind_en = _kind_labels(v.kind)
        note = texts.get(v.evidence_hash.lower())
        admin = checksummed(v.admin)
        staff = (
            revokers.get(f"tx:{v.tx_hash.lower()}")
            or revokers.get(f"ev:{v.evidence_hash.lower()}")
            or revokers.get(f"ap:{v.activity_id}:{participant.lower()}")
        )
        revoked_by = (staff, staff) if staff else labels.get(v.admin.lower(), (admin, admin))
        issuer_label = None if v.record_issuer is None else labels.get(v.record_issuer.lower())
        log_index, chain_id = provenance.get((v.tx_hash, v.activity_id, participant), (None, None))
        rows.append(
            RevocationRow(
                revoked_at=v.timestamp,
                day=v.day,
                activity_id=v.activity_id,
                activity_name=names.get(v.activity_id),
                kind=v.kind,
                kind_ja=kind_ja,
                kind_en=kind_en,
                participant=participant,
                reason=v.reason,
                reason_ja=v.reason_ja,
                reason_en=v.reason_en,
                clawed_back=v.clawed_back,
                has_note=note is not None,
                note=note if notes else None,
                revoked_by=revoked_by[0],
                revoked_by_en=revoked_by[1],
                admin=admin,
                record_day=v.record_day,
                record_issuer=None if v.record_issuer is None else checksummed(v.record_issuer),
                record_issuer_label=None if issuer_label is None else issuer_label[0],
                record_issuer_label_en=None if issuer_label is None else issuer_label[1],
                evidence_hash=v.evidence_hash,
                chain_id=chain_id,
                block_number=v.block_number,
                tx_hash=v.tx_hash,
                log_index=log_index,
            )
        )
    return rows


# -- staff actions -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionRow:
    entry_id: int
    at: int
    actor: str  # the name shown (the label as it was then)
    action: str
    action_ja: str
    action_en: str
    target: str
    outcome: str
    outcome_ja: str
    outcome_en: str
    summary_ja: str
    summary_en: str
    client: str


def _action_labels(action: str) -> tuple[str, str]:
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    area = action.split(".", 1)[0]
    ja, en = _AREA_LABELS.get(area, ("操作", "Action"))
    return f"{ja}（{action}）", f"{en} ({action})"


def _shown(key: str, notes: bool) -> bool:
    lowered = key.lower()
    if any(part in lowered for part in _SECRET_PARTS):
        return False
    return notes or lowered not in _NOTE_KEYS


def _value(key: str, value: object) -> str:
    if key.endswith("_at") and isinstance(value, int) and not isinstance(value, bool) and value > 10**9:
        return _jst(value)[:16]
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, str) and value.startswith("0x") and len(value) == 66:
        return f"{value[:10]}…"
    text_value = value if isinstance(value, str) else str(value)
    return text_value if len(text_value) <= 60 else text_value[:59] + "…"


@dataclass(frozen=True, slots=True)
class _Names:
    """What a summary names things by: addresses and activities."""

    addresses: dict[str, tuple[str, str]]
    activities: dict[int, str]


def _is_address(value: object) -> bool:
    return isinstance(value, str) and value.startswith("0x") and len(value) == 42


def _summary(detail: dict[str, Any], notes: bool, names: _Names | None = None) -> tuple[str, str]:
    ja: list[str] = []
    en: list[str] = []
    for key, value in detail.items():
        if len(ja) >= 6:
            break
        if value in (None, "", [], {}) or isinstance(value, (dict, list)) or not _shown(key, notes):
            continue
        label_ja, label_en = _DETAIL_LABELS.get(key, (key, key))
        shown = _value(key, value)
        if key == "reason" and isinstance(value, int) and value in queries.REVOCATION_REASONS:
            ja.append(f"{label_ja}: {queries.REVOCATION_REASONS[value][0]}")
            en.append(f"{label_en}: {queries.REVOCATION_REASONS[value][1]}")
            continue
        if key == "kind" and isinstance(value, int) and not isinstance(value, bool):
            kind_ja, kind_en = _kind_labels(value)
            ja.append(f"{label_ja}: {kind_ja}")
            en.append(f"{label_en}: {kind_en}")
            continue
        if key == "activity_id" and isinstance(value, int) and not isinstance(value, bool) and names is not None:
            name = names.activities.get(value)
            ja.append(f"活動: {name}（#{value}）" if name else f"活動: #{value}")
            en.append(f"activity: {name} (#{value})" if name else f"activity: #{value}")
            continue
        if _is_address(value):
            address = checksummed(str(value))
            named = None if names is None else names.addresses.get(address.lower())
            ja.append(f"{label_ja}: {named[0]}（{address}）" if named else f"{label_ja}: {address}")
            en.append(f"{label_en}: {named[1]} ({address})" if named else f"{label_en}: {address}")
            continue
        ja.append(f"{label_ja}: {shown}")
        en.append(f"{label_en}: {shown}")
    return "、".join(ja), ", ".join(en)


def actions(
    conn: Connection, region: int, *, before_id: int | None = None, limit: int = 50, notes: bool = False
) -> list[ActionRow]:
    """The region's staff audit, newest first, readable; secrets never, notes only with ``notes``."""
    entries = staff_audit.entries(conn, region, before_id=before_id, limit=limit)
    ids = {
        int(e.detail["activity_id"])
        for e in entries
        if isinstance(e.detail.get("activity_id"), int) and not isinstance(e.detail.get("activity_id"), bool)
    }
    names = _Names(address_names(conn, region), queries.activity_names(conn, sorted(ids)) if ids else {})
    rows = []
    for entry in entries:
        action = entry.action
        action_ja, action_en = _action_labels(action)
        if action == "sign_in" and entry.outcome == "failed":
            action_ja, action_en = "ログイン失敗", "Failed sign-in"
        outcome_ja, outcome_en = OUTCOME_LABELS.get(entry.outcome, (entry.outcome, entry.outcome))
        summary_ja, summary_en = _summary(entry.detail, notes, names)
        rows.append(
            ActionRow(
                entry_id=entry.entry_id,
                at=entry.at,
                actor=entry.actor_label or entry.actor,
                action=action,
                action_ja=action_ja,
                action_en=action_en,
                target=entry.target,
                outcome=entry.outcome,
                outcome_ja=outcome_ja,
                outcome_en=outcome_en,
                summary_ja=summary_ja,
                summary_en=summary_en,
                client=entry.client,
            )
        )
    return rows


# -- CSV -----------------------------------------------------------------------------------------------

_RECORD_HEADERS: Final[tuple[tuple[str, str], ...]] = (
    ("日時（日本時間）", "recorded_at_jst"),
    ("活動ID", "activity_id"),
    ("活動名", "activity_name"),
    ("種別コード", "kind"),
    ("種別", "kind_label"),
    ("数量", "units"),
    ("単位", "unit"),
    ("発行コイン", "coins"),
    ("担い手活動", "designated"),
    ("発行者名", "issuer_label"),
    ("発行者アドレス", "issuer"),
    ("参加者アドレス", "participant"),
    ("状態", "status"),
    ("取消理由", "revocation_reason"),
    ("チェーンID", "chain_id"),
    ("ブロック番号", "block_number"),
    ("トランザクションハッシュ", "tx_hash"),
    ("ログ番号", "log_index"),
)
_REVOCATION_HEADERS: Final[tuple[tuple[str, str], ...]] = (
    ("取消日時（日本時間）", "revoked_at_jst"),
    ("活動ID", "activity_id"),
    ("活動名", "activity_name"),
    ("種別", "kind_label"),
    ("参加者アドレス", "participant"),
    ("理由コード", "reason"),
    ("理由", "reason_label"),
    ("回収コイン", "clawed_back"),
    ("記録の日（日本時間）", "record_day"),
    ("記録の発行者名", "record_issuer_label"),
    ("記録の発行者アドレス", "record_issuer"),
    ("取消した人", "revoked_by"),
    ("管理者アドレス", "admin"),
    ("根拠ハッシュ", "evidence_hash"),
    ("チェーンID", "chain_id"),
    ("ブロック番号", "block_number"),
    ("トランザクションハッシュ", "tx_hash"),
    ("ログ番号", "log_index"),
)
_NOTE_HEADER: Final = ("スタッフメモ（内部用）", "staff_note")


def _cell(value: object) -> object:
    """A cell as Excel will not run it: text starting with = + - @ (or a tab/CR) gets a leading '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    buffer.write("\ufeff")  # BOM: Excel in Japan opens UTF-8 only with it
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


def _check_csv_range(start: date, end: date) -> None:
    if start > end:
        raise InvalidInput(f"start {start} is after end {end}")
    if (end - start).days >= MAX_CSV_DAYS:
        raise InvalidInput(f"a CSV covers at most {MAX_CSV_DAYS} days; ask for a shorter range")


def records_csv(
    conn: Connection,
    region: int,
    start: date,
    end: date,
    *,
    lang: str = "ja",
    notes: bool = False,
    activity_id: int | None = None,
) -> bytes:
    """Every record of the range, oldest first, as CSV (UTF-8 with BOM, CRLF). A revoked record's
    staff note is added in a last column only when ``notes``."""
    _check_csv_range(start, end)
    en = lang == "en"
    rows, evidence = _all_records(conn, region, start, end, activity_id)
    texts = _notes(conn, region, evidence.values()) if notes else {}
    header = [h[1] if en else h[0] for h in _RECORD_HEADERS]
    if notes:
        header.append(_NOTE_HEADER[1] if en else _NOTE_HEADER[0])

    def lines() -> Iterable[list[object]]:
        for r in rows:
            line: list[object] = [
                _jst(r.recorded_at),
                r.activity_id,
                r.activity_name or "",
                r.kind,
                r.kind_en if en else r.kind_ja,
                r.units,
                r.unit_en if en else r.unit_ja,
                r.coins,
                ("yes" if en else "○") if r.designated else "",
                (r.issuer_label_en if en else r.issuer_label) or "",
                r.issuer,
                r.participant,
                r.status_en if en else r.status_ja,
                (r.revocation_reason_en if en else r.revocation_reason_ja) or "",
                r.chain_id,
                r.block_number,
                r.tx_hash,
                r.log_index,
            ]
            if notes:
                line.append(texts.get(evidence.get((r.activity_id, r.participant), ""), "") if r.revoked else "")
            yield line

    return _csv(header, lines())


def revocations_csv(
    conn: Connection, region: int, start: date, end: date, *, lang: str = "ja", notes: bool = False
) -> bytes:
    """The revocations of the range, oldest first, as CSV; the note column only when ``notes``."""
    _check_csv_range(start, end)
    en = lang == "en"
    header = [h[1] if en else h[0] for h in _REVOCATION_HEADERS]
    if notes:
        header.append(_NOTE_HEADER[1] if en else _NOTE_HEADER[0])
    rows = []
    for v in reversed(revocations(conn, region, start, end, notes=notes)):
        line: list[object] = [
            _jst(v.revoked_at),
            v.activity_id,
            v.activity_name or "",
            v.kind_en if en else v.kind_ja,
            v.participant,
            v.reason,
            v.reason_en if en else v.reason_ja,
            v.clawed_back,
            "" if v.record_day is None else date_of_day_key(v.record_day).isoformat(),
            (v.record_issuer_label_en if en else v.record_issuer_label) or "",
            v.record_issuer or "",
            v.revoked_by_en if en else v.revoked_by,
            v.admin,
            v.evidence_hash,
            "" if v.chain_id is None else v.chain_id,
            v.block_number,
            v.tx_hash,
            "" if v.log_index is None else v.log_index,
        ]
        if notes:
            line.append(v.note or "")
        rows.append(line)
    return _csv(header, rows)


def csv_filename(region: int, what: str, start: date, end: date) -> tuple[str, str]:
    """(a Japanese file name, an ASCII fallback) for a download."""
    names = {"records": ("記録", "records"), "revocations": ("取消", "revocations")}[what]
    place = municipality_name(region, "ja") or jis_code(region)
    span = f"{start:%Y%m%d}-{end:%Y%m%d}"
    return f"{place}_{names[0]}_{span}.csv", f"{names[1]}-{jis_code(region)}-{span}.csv"
