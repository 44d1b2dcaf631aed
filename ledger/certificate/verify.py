"""Verifying a certificate against any JSON-RPC endpoint of the chain, without our server.

The checks (``docs/certificate.md`` §3; the standalone verifier page does the same in JavaScript):

**Certificate**: the node's chain id is the certificate's; the ledger is the one the verifier trusts
(a certificate naming another contract proves nothing: anyone can deploy a look-alike); there is
code at it; the EIP-712 signature recovers to the holder.

**Each line**, read at one pinned block so every answer is of the same chain state:
the transaction's receipt exists and succeeded; its block hash is the line's (else the record was
re-sent in another block, or the line was edited); the log at the line's index is the ledger's
``ContributionRecorded`` for the holder, the activity and the units; the block's JST day is the
line's date; ``activityInfo`` says the activity is the certificate's municipality's, its kind,
unit, designation (fixed before the activity starts, so it is the designation at the time of the
record) and reward × units = the line's coins; the activity text hashes to the line's metadata
hash, which is the activity's current one or one it had (its ``ActivityRegistered`` or an
``ActivityMetadataChanged``); ``recordOf`` says the record is not revoked.

A line is ``ok``, ``revoked`` (authentic, but no longer counts) or ``failed`` with every reason.
The certificate is **valid** when it is signed by the holder and no line failed; the **Premium
verdict** (:mod:`ledger.certificate.eligibility`) is yes when it is valid and its ``ok`` designated
lines in the 12 months ending ``as_of`` are at least three.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from ledger.certificate.eligibility import Eligibility, eligibility, window
from ledger.certificate.model import Certificate, CertificateRecord, day_int, jis_code
from ledger.certificate.typed import certificate_typed_data, holder_proof_typed_data, recover_typed
from ledger.chain.artifacts import load_artifact
from ledger.chain.decoding import event_topic
from ledger.errors import ChainUnavailable
from ledger.indexer.handlers import jst_day
from ledger.indexer.rpc import JsonRpc, RpcError, quantity

__all__ = [
    "ACTIVITY_INFO_SELECTOR",
    "ACTIVITY_TUPLE",
    "METADATA_CHANGED_WORD",
    "METADATA_TOPIC",
    "RECORDED_TOPIC",
    "REGISTERED_METADATA_WORD",
    "REGISTERED_TOPIC",
    "DESIGNATED_FLAG",
    "HOLDER_PROOF_REASONS",
    "LINE_REASONS",
    "PROBLEMS",
    "RECORD_OF_SELECTOR",
    "RPC_BATCH",
    "CertificateProblem",
    "LineResult",
    "VerificationReport",
    "verify_certificate",
    "verify_holder_proof",
]


def _event(name: str) -> dict[str, Any]:
    return next(e for e in load_artifact("TsunagariLedger").abi if e["type"] == "event" and e["name"] == name)


def _data_word(event: dict[str, Any], field_name: str) -> int:
    """Which 32-byte word of ``event``'s data holds ``field_name`` (its non-indexed fields, in order)."""
    return [i["name"] for i in event["inputs"] if not i["indexed"]].index(field_name)


# from the compiled ABI, so the verifier follows the contract (the page gets these in its config)
RECORDED_TOPIC: Final = event_topic(_event("ContributionRecorded"))
REGISTERED_TOPIC: Final = event_topic(_event("ActivityRegistered"))
METADATA_TOPIC: Final = event_topic(_event("ActivityMetadataChanged"))
REGISTERED_METADATA_WORD: Final = _data_word(_event("ActivityRegistered"), "metadataHash")
METADATA_CHANGED_WORD: Final = _data_word(_event("ActivityMetadataChanged"), "metadataHash")
ACTIVITY_INFO_SELECTOR: Final = keccak(text="activityInfo(uint64)")[:4]
RECORD_OF_SELECTOR: Final = keccak(text="recordOf(uint64,address)")[:4]
ACTIVITY_TUPLE: Final = "(uint32,uint8,uint8,uint16,uint24,uint32,uint32,uint32,uint32,uint40)"
DESIGNATED_FLAG: Final = 2
RPC_BATCH: Final = 100  # JSON-RPC calls per HTTP request

# reason code -> (Japanese, English); the verifier page gets these tables (ledger/certificate/standalone.py)
LINE_REASONS: Final[dict[str, tuple[str, str]]] = {
    "duplicate": ("同じ記録が証明書に2回あります", "the same record appears twice in the certificate"),
    "outside_range": ("証明書の期間の外の日付です", "the date is outside the certificate's range"),
    "tx_not_found": ("この取引はチェーンにありません", "no such transaction on the chain"),
    "tx_failed": ("この取引は失敗しています", "the transaction failed"),
    "block_mismatch": ("ブロックが違います（書き換えか、別のブロックに記録）", "the transaction is in another block"),
    "log_not_found": ("取引のその位置にログがありません", "the transaction has no log at that index"),
    "not_a_record": ("台帳の活動記録のログではありません", "the log is not the ledger's ContributionRecorded"),
    "wrong_holder": ("記録は別のアドレスのものです", "the record belongs to another address"),
    "activity_mismatch": ("活動IDが記録と違います", "the activity id differs from the record's"),
    "units_mismatch": ("時間・日数が記録と違います", "the units differ from the record's"),
    "date_mismatch": ("日付が記録と違います", "the date differs from the block's JST day"),
    "wrong_municipality": ("この自治体の活動ではありません", "the activity belongs to another municipality"),
    "not_designated": ("指定された担い手活動ではありません", "the activity is not designated"),
    "designation_mismatch": ("指定の有無が台帳と違います", "the designation differs from the ledger's"),
    "kind_mismatch": ("活動の種類が台帳と違います", "the kind differs from the activity's"),
    "unit_mismatch": ("単位が台帳と違います", "the unit differs from the activity's"),
    "coins_mismatch": ("コイン数が台帳と違います", "the coins differ from reward × units"),
    "name_mismatch": ("活動名・説明がハッシュと合いません", "the activity text does not match its hash"),
    "metadata_unknown": ("この活動のものではない説明ハッシュです", "the metadata hash was never the activity's"),
    "revoked": ("この記録は取り消されています", "the record was revoked"),
    "rpc_error": ("ノードがこの行に答えませんでした", "the node did not answer for this line"),
}
# certificate-level problems
PROBLEMS: Final[dict[str, tuple[str, str]]] = {
    "chain_id_mismatch": ("チェーンIDが証明書と違います", "the node's chain id is not the certificate's"),
    "untrusted_ledger": ("信頼する台帳のアドレスと違います", "the ledger is not the one this verifier trusts"),
    "no_ledger": ("台帳のアドレスにコントラクトがありません", "there is no contract at the ledger address"),
    "unsigned": ("保持者の署名がありません", "the certificate is not signed by its holder"),
    "signature_invalid": ("署名が保持者のものではありません", "the signature is not the holder's"),
    "rpc_unavailable": ("チェーンのノードに接続できません", "the chain's node cannot be reached"),
}


@dataclass(frozen=True)
class CertificateProblem:
    code: str
    detail: str = ""

    @property
    def message(self) -> str:
        text = PROBLEMS[self.code][1]
        return f"{text} ({self.detail})" if self.detail else text

    @property
    def message_ja(self) -> str:
        text = PROBLEMS[self.code][0]
        return f"{text}（{self.detail}）" if self.detail else text


@dataclass
class LineResult:
    line: int  # 1-based
    record: CertificateRecord
    status: str = "ok"  # ok | revoked | failed
    reasons: list[str] = field(default_factory=list)
    in_window: bool = False

    def fail(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.status = "failed"

    def text(self) -> str:
        r = self.record
        head = f"line {self.line} {r.day.isoformat()} activity {r.activity_id} {r.name or '(no name)'}"
        if self.status == "ok":
            return f"{head}: ok" + (" (designated)" if r.designated else "")
        return f"{head}: {self.status}: " + "; ".join(LINE_REASONS[c][1] for c in self.reasons)


@dataclass
class VerificationReport:
    certificate: Certificate
    as_of: date
    problems: list[CertificateProblem] = field(default_factory=list)
    lines: list[LineResult] = field(default_factory=list)
    block_number: int | None = None
    block_hash: str | None = None
    verdict: Eligibility | None = None

    @property
    def checked(self) -> bool:
        """The lines were checked against the chain (no problem stopped the verification early)."""
        return self.block_number is not None

    @property
    def valid(self) -> bool:
        return self.checked and not self.problems and all(line.status != "failed" for line in self.lines)

    @property
    def premium(self) -> bool:
        return self.valid and self.verdict is not None and self.verdict.eligible

    def reasons(self) -> list[str]:
        """Why the verdict is what it is, in English, one sentence each."""
        out = [p.message for p in self.problems]
        failed = [line.line for line in self.lines if line.status == "failed"]
        if failed:
            out.append("lines that do not verify: " + ", ".join(str(n) for n in failed))
        revoked = [line.line for line in self.lines if line.status == "revoked"]
        if revoked:
            out.append("revoked lines (not counted): " + ", ".join(str(n) for n in revoked))
        if self.verdict is not None:
            start, end = window(self.as_of)
            out.append(
                f"{self.verdict.designated} designated activities verified from {start} to {end}"
                f" ({'at least' if self.verdict.eligible else 'fewer than'} 3)"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        start, end = window(self.as_of)
        return {
            "valid": self.valid,
            "premium": self.premium,
            "as_of": self.as_of.isoformat(),
            "window": {"from": start.isoformat(), "to": end.isoformat()},
            "designated_in_window": self.verdict.designated if self.verdict else 0,
            "eligible_until": (
                self.verdict.eligible_until.isoformat() if self.verdict and self.verdict.eligible_until else None
            ),
            "holder": self.certificate.holder,
            "municipality": jis_code(self.certificate.municipality.region),
            "chain_id": self.certificate.chain_id,
            "ledger": self.certificate.ledger,
            "block": {"number": self.block_number, "hash": self.block_hash},
            "problems": [{"code": p.code, "message": p.message, "detail": p.detail} for p in self.problems],
            "lines": [
                {
                    "line": line.line,
                    "date": line.record.day.isoformat(),
                    "activity_id": line.record.activity_id,
                    "name": line.record.name,
                    "designated": line.record.designated,
                    "status": line.status,
                    "in_window": line.in_window,
                    "reasons": [{"code": c, "message": LINE_REASONS[c][1]} for c in line.reasons],
                }
                for line in self.lines
            ],
            "reasons": self.reasons(),
        }


def _batched(rpc: JsonRpc, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
    """Answers of ``calls`` in order; an answer that is an error is returned as the RpcError."""
    out: list[Any] = []
    for start in range(0, len(calls), RPC_BATCH):
        chunk = list(calls[start : start + RPC_BATCH])
        try:
            out.extend(rpc.batch(chunk))
        except RpcError:
            for method, params in chunk:  # one bad call: ask one by one to know which
                try:
                    out.append(rpc.call(method, params))
                except RpcError as exc:
                    out.append(exc)
    return out


def _call_data(selector: bytes, types: list[str], values: list[Any]) -> str:
    return "0x" + (selector + abi_encode(types, values)).hex()


def verify_certificate(
    certificate: Certificate,
    rpc: JsonRpc,
    *,
    trusted_ledger: str | None,
    as_of: date,
) -> VerificationReport:
    """Check ``certificate`` against the node behind ``rpc`` (see the module docstring).

    ``trusted_ledger``: the ledger address the verifier trusts; None only when the caller has
    decided to take the certificate's own (the report then names it ``untrusted_ledger``).
    Raises nothing for the chain's answers; a node that cannot be reached is a problem
    ``rpc_unavailable`` in the report.
    """
    report = VerificationReport(certificate, as_of)
    ledger = certificate.ledger.lower()
    if trusted_ledger is None:
        report.problems.append(CertificateProblem("untrusted_ledger", "no trusted ledger was given"))
    elif trusted_ledger.lower() != ledger:
        report.problems.append(CertificateProblem("untrusted_ledger", f"{certificate.ledger} is not {trusted_ledger}"))
    if certificate.signature is None:
        report.problems.append(CertificateProblem("unsigned"))
    else:
        signer = recover_typed(certificate_typed_data(certificate), certificate.signature)
        if signer is None or signer.lower() != certificate.holder.lower():
            report.problems.append(CertificateProblem("signature_invalid", f"signed by {signer or 'no valid key'}"))
    try:
        chain_id, code, head = _batched(
            rpc, [("eth_chainId", []), ("eth_getCode", [ledger, "latest"]), ("eth_getBlockByNumber", ["latest", False])]
        )
    except ChainUnavailable as exc:
        report.problems.append(CertificateProblem("rpc_unavailable", str(exc)))
        return report
    if isinstance(chain_id, RpcError) or quantity(chain_id) != certificate.chain_id:
        found = "?" if isinstance(chain_id, RpcError) else str(quantity(chain_id))
        report.problems.append(
            CertificateProblem("chain_id_mismatch", f"node {found}, certificate {certificate.chain_id}")
        )
        return report
    if isinstance(code, RpcError) or code in (None, "0x", "0x0"):
        report.problems.append(CertificateProblem("no_ledger", certificate.ledger))
        return report
    pinned = hex(quantity(head["number"]))
    try:
        _check_lines(certificate, rpc, report, pinned)
    except ChainUnavailable as exc:
        report.problems.append(CertificateProblem("rpc_unavailable", str(exc)))
        report.lines = []
        return report
    report.block_number = quantity(head["number"])
    report.block_hash = str(head["hash"])
    start, end = window(as_of)
    counted: list[date] = []
    for line in report.lines:
        line.in_window = start <= line.record.day <= end
        if line.status == "ok" and line.in_window and line.record.designated:
            counted.append(line.record.day)
    report.verdict = eligibility(counted, as_of)
    return report


def _check_lines(certificate: Certificate, rpc: JsonRpc, report: VerificationReport, pinned: str) -> None:
    ledger = certificate.ledger.lower()
    holder_topic = "0x" + "0" * 24 + certificate.holder.lower()[2:]
    lines = [LineResult(i + 1, record) for i, record in enumerate(certificate.records)]
    report.lines = lines
    seen_logs: set[tuple[str, int]] = set()
    seen_activities: set[int] = set()
    for line in lines:
        r = line.record
        if (r.tx_hash, r.log_index) in seen_logs or r.activity_id in seen_activities:
            line.fail("duplicate")
        seen_logs.add((r.tx_hash, r.log_index))
        seen_activities.add(r.activity_id)
        if not certificate.from_day <= r.day <= certificate.to_day:
            line.fail("outside_range")
        if r.activity_document is not None and "0x" + keccak(text=r.activity_document).hex() != r.metadata_hash:
            line.fail("name_mismatch")

    tx_hashes = sorted({line.record.tx_hash for line in lines})
    block_hashes = sorted({line.record.block_hash for line in lines})
    activity_ids = sorted({line.record.activity_id for line in lines})
    calls: list[tuple[str, list[Any]]] = [("eth_getTransactionReceipt", [h]) for h in tx_hashes]
    calls += [("eth_getBlockByHash", [h, False]) for h in block_hashes]
    calls += [
        ("eth_call", [{"to": ledger, "data": _call_data(ACTIVITY_INFO_SELECTOR, ["uint64"], [a])}, pinned])
        for a in activity_ids
    ]
    calls += [
        (
            "eth_call",
            [
                {"to": ledger, "data": _call_data(RECORD_OF_SELECTOR, ["uint64", "address"], [a, certificate.holder])},
                pinned,
            ],
        )
        for a in activity_ids
    ]
    answers = _batched(rpc, calls)
    n_tx, n_blocks, n_act = len(tx_hashes), len(block_hashes), len(activity_ids)
    receipts = dict(zip(tx_hashes, answers[:n_tx], strict=True))
    blocks = dict(zip(block_hashes, answers[n_tx : n_tx + n_blocks], strict=True))
    infos = dict(zip(activity_ids, answers[n_tx + n_blocks : n_tx + n_blocks + n_act], strict=True))
    record_ofs = dict(zip(activity_ids, answers[n_tx + n_blocks + n_act :], strict=True))

    activities: dict[int, tuple[tuple[Any, ...], str] | None] = {}
    for activity_id, raw in infos.items():
        if isinstance(raw, RpcError) or not raw or raw == "0x":
            activities[activity_id] = None
            continue
        info, metadata = abi_decode([ACTIVITY_TUPLE, "bytes32"], bytes.fromhex(raw[2:]))
        activities[activity_id] = (info, "0x" + metadata.hex())
    history_needed = sorted(
        {
            line.record.activity_id
            for line in lines
            if (found := activities.get(line.record.activity_id)) is not None and found[1] != line.record.metadata_hash
        }
    )
    history = _metadata_history(rpc, ledger, history_needed, pinned)

    for line in lines:
        r = line.record
        receipt = receipts.get(r.tx_hash)
        if isinstance(receipt, RpcError):
            line.fail("rpc_error")
            continue
        if receipt is None:
            line.fail("tx_not_found")
            continue
        if quantity(receipt.get("status", "0x1")) != 1:
            line.fail("tx_failed")
            continue
        if str(receipt.get("blockHash", "")).lower() != r.block_hash:
            line.fail("block_mismatch")
        log = next((entry for entry in receipt.get("logs", []) if quantity(entry["logIndex"]) == r.log_index), None)
        if log is None:
            line.fail("log_not_found")
        else:
            topics = [str(t).lower() for t in log.get("topics", [])]
            if str(log.get("address", "")).lower() != ledger or not topics or topics[0] != RECORDED_TOPIC:
                line.fail("not_a_record")
            else:
                if len(topics) < 2 or topics[1] != holder_topic:
                    line.fail("wrong_holder")
                activity_id, units = abi_decode(["uint64", "uint16"], bytes.fromhex(str(log["data"])[2:]))
                if activity_id != r.activity_id:
                    line.fail("activity_mismatch")
                if units != r.units:
                    line.fail("units_mismatch")
        block = blocks.get(r.block_hash)
        if isinstance(block, RpcError):
            line.fail("rpc_error")
        elif block is None:
            line.fail("block_mismatch")
        elif jst_day(quantity(block["timestamp"])) != day_int(r.day):
            line.fail("date_mismatch")
        found = activities.get(r.activity_id)
        if found is None:
            line.fail("wrong_municipality")
        else:
            info, current_hash = found
            region, kind, flags, _max_units, _ordinal, _starts, _ends, _cap, _recorded, reward = info
            if region != certificate.municipality.region:
                line.fail("wrong_municipality")
            designated = bool(flags & DESIGNATED_FLAG)
            if r.designated and not designated:
                line.fail("not_designated")
            elif r.designated != designated:
                line.fail("designation_mismatch")
            if kind != r.kind:
                line.fail("kind_mismatch")
            if (flags >> 2) & 3 != r.unit:
                line.fail("unit_mismatch")
            if reward * r.units != r.coins:
                line.fail("coins_mismatch")
            if r.metadata_hash != current_hash and r.metadata_hash not in history.get(r.activity_id, set()):
                line.fail("metadata_unknown")
        state = record_ofs.get(r.activity_id)
        if isinstance(state, RpcError) or not state or state == "0x":
            line.fail("rpc_error")
        elif line.status != "failed":
            _recorded_now, revoked = abi_decode(["bool", "bool"], bytes.fromhex(state[2:]))
            if revoked:
                line.status = "revoked"
                line.reasons.append("revoked")


def _metadata_history(rpc: JsonRpc, ledger: str, activity_ids: list[int], pinned: str) -> dict[int, set[str]]:
    """Every metadata hash each activity ever had (registration and changes), from its logs."""
    if not activity_ids:
        return {}
    topics = ["0x" + a.to_bytes(32, "big").hex() for a in activity_ids]
    query = {
        "address": ledger,
        "fromBlock": "0x0",
        "toBlock": pinned,
        "topics": [[REGISTERED_TOPIC, METADATA_TOPIC], topics],
    }
    try:
        logs = rpc.call("eth_getLogs", [query])
    except RpcError:
        return {}
    out: dict[int, set[str]] = {}
    for log in logs or []:
        activity_id = int(str(log["topics"][1]), 16)
        data = bytes.fromhex(str(log["data"])[2:])
        registered = str(log["topics"][0]).lower() == REGISTERED_TOPIC
        word = REGISTERED_METADATA_WORD if registered else METADATA_CHANGED_WORD
        out.setdefault(activity_id, set()).add("0x" + data[32 * word : 32 * word + 32].hex())
    return out


# ---------------------------------------------------------------------------------------------
# Holder proof
# ---------------------------------------------------------------------------------------------

HOLDER_PROOF_REASONS: Final[dict[str, tuple[str, str]]] = {
    "wrong_nonce": (
        "この確認用コードへの応答ではありません（使い回し）",
        "the answer is to another challenge (replayed)",
    ),
    "expired": ("確認用コードの期限が切れています", "the challenge has expired"),
    "wrong_signer": ("証明書のアドレスの鍵で署名されていません", "not signed by the certificate's holder"),
    "bad_signature": ("署名が読めません", "the signature is malformed"),
    "wrong_audience": ("別の確認先（audience）への応答です", "the answer was made for another verifier (audience)"),
}


def verify_holder_proof(
    proof: dict[str, Any],
    *,
    chain_id: int,
    ledger: str,
    holder: str,
    nonce: str,
    now: int,
    audience: str | None = None,
) -> list[str]:
    """Reason codes why ``proof`` does not show that the presenter holds ``holder``'s key for the
    challenge ``nonce`` (empty: it does), and, when ``audience`` is given, that it was made for this
    verifier. ``proof``: ``{holder, nonce, expires_at, audience, signature}``."""
    reasons: list[str] = []
    if str(proof.get("nonce", "")).lower() != nonce.lower():
        reasons.append("wrong_nonce")
    expires_at = proof.get("expires_at")
    if not isinstance(expires_at, int) or expires_at < now:
        reasons.append("expired")
    try:
        document = holder_proof_typed_data(
            chain_id,
            ledger,
            str(proof["holder"]),
            str(proof["nonce"]),
            int(proof["expires_at"]),
            str(proof["audience"]),
        )
    except (KeyError, TypeError, ValueError):
        return [*reasons, "bad_signature"]
    signer = recover_typed(document, str(proof.get("signature", "")))
    if signer is None:
        reasons.append("bad_signature")
    elif signer.lower() != holder.lower() or str(proof["holder"]).lower() != holder.lower():
        reasons.append("wrong_signer")
    if audience is not None and str(proof.get("audience")) != audience:
        reasons.append("wrong_audience")
    return reasons
