"""The printable certificate: a real certificate (anvil, indexed) → a Japanese A4 PDF that says what
the certificate says and carries the certificate JSON inside it.

The words are read from WeasyPrint's own laid-out pages (the document the PDF is written from: no
PDF text extractor is pinned); the PDF bytes are checked for what only they can show: the embedded
file, and fonts whose glyphs map back to the activity names' characters (no missing glyphs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.certificate.model import Certificate, parse_certificate
from ledger.certificate.pdf import (
    attachment_name,
    certificate_digest,
    certificate_document,
    render_certificate_pdf,
)
from tests.certificate.world import NAGAOKA, CertificateWorld, certificate_world
from tests.pdf_streams import inflated_streams

pytestmark = pytest.mark.anvil

VERIFY_URL = "http://127.0.0.1:8000/verify/certificate?c=" + "ab" * 32
NAMES = ["田植え体験", "棚田の草刈り", "海岸清掃", "朝市のお手伝い"]  # 館山's four (tests/certificate/world.py)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertificateWorld]:
    with certificate_world(tmp_path_factory.mktemp("certificate-pdf")) as running:
        yield running


def laid_out_text(certificate: Certificate, lang: str = "ja") -> str:
    """Every text of every laid-out page, in order (``_page_box``: WeasyPrint has no public text API)."""
    document = certificate_document(certificate, verify_url=VERIFY_URL, lang=lang)
    parts: list[str] = []
    for page in document.pages:
        for box in page._page_box.descendants():
            text = getattr(box, "text", None)
            if isinstance(text, str):
                parts.append(text)
    return "".join(parts)


def streams(pdf: bytes) -> list[bytes]:
    """Every stream of the PDF, inflated (object streams, content, fonts' ToUnicode maps, files)."""
    return inflated_streams(pdf)


def embedded_json(pdf: bytes) -> list[dict[str, Any]]:
    import orjson

    documents = []
    for stream in streams(pdf):
        if stream.startswith(b"{"):
            try:
                documents.append(orjson.loads(stream))
            except orjson.JSONDecodeError:
                continue
    return documents


def test_the_pdf_says_what_the_certificate_says(world: CertificateWorld) -> None:
    certificate = world.sign(world.draft())
    assert [r.name for r in certificate.records] == NAMES
    text = laid_out_text(certificate)
    assert "活動証明書" in text
    assert "館山市" in text and "12205" in text
    assert certificate.holder in text  # in full
    for name in NAMES:
        assert name in text
    assert "指定活動 3件（直近12か月）" in text
    assert "Premium の要件（指定活動 3件以上）を満たしています" in text
    assert "田植え・農業体験" in text and "ボランティア" in text  # kinds in Japanese
    assert "2時間" in text  # the ordinary one: two hours of help
    assert f"{certificate.from_day.isoformat()} 〜 {certificate.to_day.isoformat()}" in text
    assert "日本時間（UTC+09:00）" in text
    assert "31337" in text and world.deployment.ledger in text
    assert certificate_digest(certificate) in text
    assert "tsunagari certificate verify FILE --rpc URL" in text
    assert "保有者が自分の鍵で署名" in text
    assert certificate.records[0].tx_hash[:10] in text
    assert "長岡" not in text and "雪まつり運営" not in text  # one municipality only


def test_the_pdf_carries_the_certificate_json(world: CertificateWorld) -> None:
    certificate = world.sign(world.draft())
    pdf = render_certificate_pdf(certificate, verify_url=VERIFY_URL)
    assert pdf.startswith(b"%PDF-")
    inflated = b"\n".join(streams(pdf))
    # the attachment: the certificate file, byte for byte, and its name in the file specification
    assert certificate.to_bytes() in streams(pdf)
    [document] = embedded_json(pdf)
    assert parse_certificate(document) == certificate
    assert attachment_name(certificate).encode() in inflated
    assert b"/EmbeddedFiles" in inflated or b"/EmbeddedFiles" in pdf
    # Japanese fonts embedded, and each character of each name maps back from its glyph
    assert b"Noto-Sans-CJK-JP" in pdf or b"Noto-Sans-CJK-JP" in inflated
    for char in "活動証明書館山市" + "".join(NAMES):
        assert f"<{ord(char):04x}>".encode() in inflated.lower(), char


def test_no_records_and_not_premium(world: CertificateWorld) -> None:
    # the bystander has no record in 長岡: an empty certificate still prints, and says so
    empty = world.draft(holder=world.other.address, region=NAGAOKA)
    assert empty.records == ()
    text = laid_out_text(empty)
    assert "記録はありません" in text
    assert "指定活動 0件（直近12か月）" in text
    assert "満たしていません" in text
    assert "要件を満たす最終日" not in text
    assert "保有者の署名がありません" in text  # unsigned: it says it shows nothing about who holds the key
    [document] = embedded_json(render_certificate_pdf(empty, verify_url=VERIFY_URL))
    assert parse_certificate(document) == empty


def test_a_line_without_its_text_shows_its_hash_and_english_works(world: CertificateWorld) -> None:
    certificate = world.draft()
    records = list(certificate.records)
    records[0] = dataclasses.replace(records[0], activity_document=None)
    unnamed = dataclasses.replace(certificate, records=tuple(records))
    text = laid_out_text(unnamed)
    assert "名称なし" in text and records[0].metadata_hash[:10] in text
    assert NAMES[0] not in text
    english = laid_out_text(world.sign(certificate), lang="en")
    assert "Activity certificate" in english and "Tateyama" in english
    assert "Meets the Premium requirement" in english and "Volunteering" in english


def test_an_unknown_language_is_refused(world: CertificateWorld) -> None:
    with pytest.raises(ValueError, match="unsupported language"):
        render_certificate_pdf(world.draft(), verify_url=VERIFY_URL, lang="fr")
