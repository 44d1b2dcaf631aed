"""The certificate as a printable A4 PDF in Japanese (WeasyPrint), with the JSON inside it.

The PDF is for people: the municipality, the holder's address, the range, the one-line verdict,
a table of every line, a QR code of the verifier link and how to check it all without us. It is
not the evidence by itself: the certificate JSON is attached to the PDF as an embedded file
(``certificate-<code>-<from>-<to>.json``), so whoever receives only the PDF still has the
machine-readable file to verify line by line against the chain (``tsunagari certificate verify``,
the standalone verifier page), and the sha256 printed on the page is that file's.

Layout and words live in ``templates/certificate.html`` and ``certificate.css``; this module only
shapes the certificate into rows. Fonts come from fontconfig (Debian's Noto Sans CJK JP and Noto
Sans Mono CJK JP, installed by ``./run`` ``setup_pdf``). WeasyPrint is imported on first use: it is
heavy, and nothing else in ``ledger`` needs it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import segno
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ledger.certificate.eligibility import PREMIUM_MIN_ACTIVITIES
from ledger.certificate.model import Certificate, CertificateRecord
from ledger.jst import JST
from ledger.taxonomy import KIND_LABELS, ContributionKind

__all__ = [
    "attachment_name",
    "certificate_digest",
    "certificate_document",
    "certificate_html",
    "render_certificate_pdf",
]

TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
LANGUAGES: Final = ("ja", "en")

# The few words the sheet needs, in both languages (ledger/ does not read the api/ catalogues).
_WORDS: Final[dict[str, dict[str, str]]] = {
    "ja": {
        "title": "活動証明書",
        "subtitle": "ふるさと住民登録のための活動の記録",
        "municipality": "自治体",
        "holder": "保有者のアドレス",
        "range": "対象期間",
        "issued_at": "作成日時",
        "premium_yes": "ふるさと住民登録 Premium の要件（指定活動 {n}件以上）を満たしています",
        "premium_no": "ふるさと住民登録 Premium の要件（指定活動 {n}件以上）を満たしていません",
        "as_of": "{as_of} 時点、{start} 〜 {end} の指定活動で判定",
        "eligible_until": "要件を満たす最終日: {day}（その後も参加すれば延びます）",
        "lines": "記録（{n}件）",
        "no_lines": "この期間、この自治体での記録はありません。",
        "col_no": "#",
        "col_date": "日付",
        "col_activity": "活動",
        "col_kind": "種類",
        "col_designated": "指定活動",
        "col_units": "数量",
        "col_coins": "コイン",
        "col_tx": "取引",
        "yes": "○",
        "no": "—",
        "no_name": "（名称なし: 内容ハッシュ {hash}）",
        "unit_record": "{n}回",
        "unit_hour": "{n}時間",
        "unit_day": "{n}日",
        "chain": "チェーン",
        "chain_id": "チェーンID",
        "ledger": "台帳コントラクト",
        "digest": "SHA-256（添付のJSONファイル）",
        "signature": "署名",
        "signed": (
            "この証明書は保有者が自分の鍵で署名したものです（EIP-712）。つながり台帳や自治体の署名ではありません。"
        ),
        "unsigned": "この証明書には保有者の署名がありません（運用者が作成）。保有者であることは示しません。",
        "how_title": "確かめ方",
        "how_qr": "QRコードを読むと検証ページが開き、各行をチェーンと照らし合わせます。",
        "how_offline": (
            "私たちのサーバーに頼らずに確かめるには、このPDFに添付された証明書ファイル（JSON）を取り出し、"
            "スタンドアロンの検証ページで開くか、次のコマンドでチェーンの任意のJSON-RPCノードに照会します:"
        ),
        "how_command": "tsunagari certificate verify FILE --rpc URL",
        "how_checks": (
            "確かめること: 各記録がチェーン上に存在し取り消されていないこと、この自治体の記録であること、"
            "記録時に指定活動だったこと、日付と活動名、そして署名が上記アドレスの鍵によること。"
        ),
        "how_holder": (
            "証明書はコピーできます。提示した人が本人（鍵の持ち主）であることは、検証する人のチャレンジQRに"
            "本人の端末で答えてもらって確かめてください。本人確認（マイナンバーカード）は国のアプリで行われます。"
        ),
        "privacy": "この証明書に含まれる個人に関する情報は、アドレスとこの自治体でのチェーン上の記録だけです。",
        "qr_caption": "検証ページ",
        "page": "ページ",
        "jst": "日本時間",
    },
    "en": {
        "title": "Activity certificate",
        "subtitle": "Record of activities for the furusato resident registration",
        "municipality": "Municipality",
        "holder": "Holder's address",
        "range": "Range",
        "issued_at": "Made at",
        "premium_yes": "Meets the Premium requirement (at least {n} designated activities)",
        "premium_no": "Does not meet the Premium requirement (at least {n} designated activities)",
        "as_of": "As of {as_of}, counting designated activities from {start} to {end}",
        "eligible_until": "Last day the requirement holds: {day} (taking part again extends it)",
        "lines": "Records ({n})",
        "no_lines": "No records in this municipality in this range.",
        "col_no": "#",
        "col_date": "Date",
        "col_activity": "Activity",
        "col_kind": "Kind",
        "col_designated": "Designated",
        "col_units": "Units",
        "col_coins": "Coins",
        "col_tx": "Transaction",
        "yes": "yes",
        "no": "—",
        "no_name": "(no name: metadata hash {hash})",
        "unit_record": "{n}×",
        "unit_hour": "{n} h",
        "unit_day": "{n} d",
        "chain": "Chain",
        "chain_id": "Chain id",
        "ledger": "Ledger contract",
        "digest": "SHA-256 of the attached JSON file",
        "signature": "Signature",
        "signed": "Signed by the holder with their own key (EIP-712), not by Tsunagari or the municipality.",
        "unsigned": "Not signed by the holder (made by an operator): it does not show who holds the address.",
        "how_title": "How to verify",
        "how_qr": "The QR code opens the verifier page, which checks every line against the chain.",
        "how_offline": (
            "To verify without our server, take the certificate file (JSON) attached to this PDF and open it"
            " in the standalone verifier page, or ask any JSON-RPC node of the chain:"
        ),
        "how_command": "tsunagari certificate verify FILE --rpc URL",
        "how_checks": (
            "It checks that each record is on chain and not revoked, belongs to this municipality, was a"
            " designated activity when recorded, its date and name, and that the holder's key signed it."
        ),
        "how_holder": (
            "A certificate can be copied: to know the person presenting it holds the key, have them answer"
            " the verifier's challenge QR on their own phone. Identity (My Number Card) is checked in the"
            " national app."
        ),
        "privacy": "The only personal information in this certificate is the address and its on-chain records here.",
        "qr_caption": "Verifier page",
        "page": "Page",
        "jst": "JST",
    },
}
_UNIT_WORD: Final = {0: "unit_record", 1: "unit_hour", 2: "unit_day"}


@dataclass(frozen=True)
class _Line:
    number: int
    date: str
    name: str
    named: bool
    kind: str
    designated: bool
    units: str
    coins: str
    tx_short: str
    tx_hash: str
    log_index: int


def certificate_digest(certificate: Certificate) -> str:
    """SHA-256 (hex) of the certificate file, ``certificate.to_bytes()``: the JSON attached to the PDF."""
    return hashlib.sha256(certificate.to_bytes()).hexdigest()


def attachment_name(certificate: Certificate) -> str:
    """The embedded JSON's file name: ``certificate-12205-2025-06-01-2026-05-31.json``."""
    c = certificate
    return f"certificate-{c.municipality.code}-{c.from_day.isoformat()}-{c.to_day.isoformat()}.json"


def _kind_label(kind: int, lang: str) -> str:
    try:
        labels = KIND_LABELS[ContributionKind(kind)]
    except ValueError:
        return str(kind)
    return labels[1] if lang == "en" else labels[0]


def _line(number: int, record: CertificateRecord, words: dict[str, str], lang: str) -> _Line:
    name = record.name
    return _Line(
        number=number,
        date=record.day.isoformat(),
        name=name if name is not None else words["no_name"].format(hash=record.metadata_hash[:10] + "…"),
        named=name is not None,
        kind=_kind_label(record.kind, lang),
        designated=record.designated,
        units=words[_UNIT_WORD.get(record.unit, "unit_record")].format(n=record.units),
        coins=f"{record.coins:,}",
        tx_short=f"{record.tx_hash[:10]}…{record.tx_hash[-6:]}",
        tx_hash=record.tx_hash,
        log_index=record.log_index,
    )


def _municipality_name(certificate: Certificate, lang: str) -> str:
    m = certificate.municipality
    name = (m.name_en if lang == "en" else m.name) or m.name or m.name_en
    return name or m.code


def _issued_text(issued_at: int, words: dict[str, str]) -> str:
    moment = datetime.fromtimestamp(issued_at, JST)
    return f"{moment:%Y-%m-%d %H:%M} {words['jst']}（UTC+09:00）"


def _verdict(certificate: Certificate, words: dict[str, str], lang: str) -> dict[str, Any]:
    """The summary's verdict as printed; an empty summary (a hand-made file) prints none."""
    summary = certificate.summary
    designated = summary.get("designated")
    if not isinstance(designated, int):
        return {"text": None, "premium": None, "premium_text": None, "as_of": None, "until": None}
    text = summary.get("text") if lang == "ja" else None
    if not isinstance(text, str):
        text = (
            f"指定活動 {designated}件（直近12か月）"
            if lang == "ja"
            else f"{designated} designated activities (last 12 months)"
        )
    premium = summary.get("premium") is True
    window = summary.get("window") if isinstance(summary.get("window"), dict) else {}
    as_of = (
        words["as_of"].format(as_of=summary.get("as_of"), start=window.get("from"), end=window.get("to"))
        if summary.get("as_of") and window
        else None
    )
    until = summary.get("eligible_until")
    return {
        "text": text,
        "premium": premium,
        "premium_text": words["premium_yes" if premium else "premium_no"].format(n=PREMIUM_MIN_ACTIVITIES),
        "as_of": as_of,
        "until": words["eligible_until"].format(day=until) if premium and isinstance(until, str) else None,
    }


def _qr_svg(url: str) -> str:
    # omitsize: a viewBox instead of pixel sizes, so the CSS sets the printed size (30 mm)
    return str(segno.make(url, error="m").svg_inline(scale=1, border=2, omitsize=True, dark="#000", light="#fff"))


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def certificate_html(certificate: Certificate, *, verify_url: str, lang: str = "ja") -> str:
    """The certificate sheet as HTML (what the PDF is printed from)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}")
    words = _WORDS[lang]
    c = certificate
    context = {
        "lang": lang,
        "w": words,
        "municipality": _municipality_name(c, lang),
        "code": c.municipality.code,
        "holder": c.holder,
        "range_from": c.from_day.isoformat(),
        "range_to": c.to_day.isoformat(),
        "issued": _issued_text(c.issued_at, words),
        "verdict": _verdict(c, words, lang),
        "lines": [_line(i, r, words, lang) for i, r in enumerate(c.records, start=1)],
        "chain_id": c.chain_id,
        "ledger": c.ledger,
        "digest": certificate_digest(c),
        "signature": c.signature,
        "verify_url": verify_url,
        "qr_svg": _qr_svg(verify_url),
    }
    return _environment().get_template("certificate.html").render(context)


def certificate_document(certificate: Certificate, *, verify_url: str, lang: str = "ja") -> Any:
    """The laid-out pages (a WeasyPrint ``Document``) the PDF is written from."""
    from weasyprint import CSS, HTML  # type: ignore[import-untyped]  # heavy: imported on first use

    html = certificate_html(certificate, verify_url=verify_url, lang=lang)
    return HTML(string=html, base_url=str(TEMPLATES)).render(
        stylesheets=[CSS(filename=str(TEMPLATES / "certificate.css"))]
    )


def render_certificate_pdf(certificate: Certificate, *, verify_url: str, lang: str = "ja") -> bytes:
    """The printable PDF of ``certificate``, its JSON attached; ``verify_url`` goes in the QR code
    (an absolute URL, so a phone can open it from paper)."""
    from weasyprint import Attachment

    attachment = Attachment(
        string=certificate.to_bytes(),
        name=attachment_name(certificate),
        description="Tsunagari activity certificate (JSON)" if lang == "en" else "活動証明書（JSON）",
        relationship="Data",  # PDF/A-3's word for "the data the page shows"
        created=datetime.fromtimestamp(certificate.issued_at, UTC),
        modified=datetime.fromtimestamp(certificate.issued_at, UTC),
    )
    document = certificate_document(certificate, verify_url=verify_url, lang=lang)
    pdf: bytes = document.write_pdf(attachments=[attachment])
    return pdf
