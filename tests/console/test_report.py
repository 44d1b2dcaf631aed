"""The monthly report for the mayor over a real index of a py-evm chain: the page's figures are the
JSON report's and the region dashboard's for the same month, the PDF is a real PDF in Noto Sans CJK
JP with the municipality's name, and other regions' staff get 403."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import unquote

import pytest

from ledger.console.report import HEADLINE_FIGURES, last_complete_month, month_key, month_range, parse_month
from ledger.taxonomy import KIND_LABELS, ContributionKind
from tests.console.world import TATEYAMA, A, AuditWorld, chain_world, seed_audit
from tests.pdf_streams import inflated_streams

# report figure -> where the region dashboard JSON has it
DASHBOARD_FIELDS = {
    "active": ("active",),
    "participants": ("participants",),
    "kankei": ("kankei",),
    "kankei_visiting": ("kankei_visiting",),
    "kankei_non_visiting": ("kankei_non_visiting",),
    "new": ("new",),
    "returning": ("returning",),
    "records": ("records",),
    "coins_issued": ("coins", "issued"),
    "coins_spent": ("coins", "spent"),
    "supports": ("coins", "supports"),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditWorld]:
    with chain_world(tmp_path_factory.mktemp("report"), months=3, people=6) as found:
        yield seed_audit(found)


def _page_figures(page: str) -> dict[str, int | None]:
    found = {}
    for key, value in re.findall(r'data-figure="([a-z_]+)">([^<]*)<', page):
        found[key] = None if value.strip() == "—" else int(value.replace(",", ""))
    return found


def test_page_json_and_dashboard_agree_for_the_month(world: AuditWorld) -> None:
    staff = world.clients["tateyama-staff"]
    page = staff.get(f"{A}/reports/{world.month}")
    assert page.status_code == 200, page.text
    year, month = parse_month(world.month)
    assert f"館山市　{year}年{month}月" in page.text and "<svg" in page.text and "<script>alert" not in page.text
    report = staff.get(f"/api/v1/regions/{TATEYAMA}/reports/{world.month}")
    assert report.status_code == 200, report.text
    figures = report.json()["figures"]
    assert _page_figures(page.text) == figures
    assert set(figures) == {key for key, _ in HEADLINE_FIGURES}
    start, end = month_range(year, month)
    dashboard = staff.get(f"/api/v1/regions/{TATEYAMA}/dashboard", params={"start": str(start), "end": str(end)})
    summary = dashboard.json()["summary"]
    for key, path in DASHBOARD_FIELDS.items():
        value = summary
        for part in path:
            value = value[part]
        assert figures[key] == value, key
    # the month's own figures: three records of the designated activity, one revoked
    assert figures["designated_records"] == 2 or figures["designated_records"] is None
    assert figures["activities_held"] >= 2 and figures["records"] is not None
    body = report.json()
    daily_total = sum(d["records"] or 0 for d in body["daily"])
    assert len(body["daily"]) == end.day and daily_total <= figures["records"]
    assert any("棚田の草刈り" in (a["name"] or "") for a in body["top_activities"])
    assert body["region"] == TATEYAMA and body["region_code"] == "12205"
    for activity in body["top_activities"]:  # kinds by name, on the page too
        assert activity["kind_ja"] == KIND_LABELS[ContributionKind(activity["kind"])][0]
        assert f"<td>{activity['kind_ja']}</td>" in page.text
    assert body["source"]["chain_id"] == 31337 and body["source"]["head_block"] > 0
    assert body["definitions"]["kankei"]["ja"].startswith("関係人口")
    assert "&lt;script&gt;" in page.text  # the activity name is escaped on the page
    assert " style=" not in page.text and "<style" not in page.text  # the CSP allows no inline style
    assert all(
        ' src="/static/' in tag for tag in re.findall(r"<script[^>]*>", page.text) if "application/json" not in tag
    )


def test_picker_defaults_to_the_last_complete_month(world: AuditWorld) -> None:
    staff = world.clients["tateyama-viewer"]
    picker = staff.get(f"{A}/reports")
    assert picker.status_code == 200
    assert f'value="{month_key(*last_complete_month())}"' in picker.text
    jump = staff.get(f"{A}/reports", params={"month": world.month})
    assert jump.status_code == 303 and jump.headers["location"].endswith(f"/reports/{world.month}")
    assert staff.get(f"{A}/reports/2025-13").status_code == 422


def _pdf_text(pdf: bytes) -> bytes:
    return b"".join(inflated_streams(pdf))


def test_pdf_is_a_japanese_pdf_with_the_municipality(world: AuditWorld) -> None:
    staff = world.clients["tateyama-staff"]
    for url in (
        f"{A}/reports/{world.month}.pdf",
        f"{A}/reports/{world.month}?format=pdf",
    ):
        answer = staff.get(url, timeout=120)
        assert answer.status_code == 200, answer.text[:500]
        assert answer.headers["content-type"] == "application/pdf"
        disposition = answer.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        assert "館山市" in unquote(disposition.split("filename*=UTF-8''")[1])
        assert answer.content.startswith(b"%PDF")
    inside = _pdf_text(answer.content)
    assert b"Noto-Sans-CJK-JP" in inside or b"NotoSansCJK" in inside
    name = "館山市".encode("utf-16-be").hex().encode()
    assert name in inside.lower()  # in the document title (UTF-16BE hex)
    for char in "館山市":
        assert f"<{ord(char):04x}>".encode() in inside.lower()  # each glyph maps back to its character


def test_other_region_and_unknown_months(world: AuditWorld) -> None:
    other = world.clients["nagaoka-staff"]
    for url in (
        f"{A}/reports",
        f"{A}/reports/{world.month}",
        f"{A}/reports/{world.month}.pdf",
        f"/api/v1/regions/{TATEYAMA}/reports/{world.month}",
    ):
        answer = other.get(url)
        assert answer.status_code == 403, (url, answer.status_code)
        assert "%PDF" not in answer.text and "棚田" not in html.unescape(answer.text)
    assert world.clients["tateyama-staff"].get("/api/v1/regions/99999/reports/2025-01").status_code == 403
    anonymous = world.world.new_client()
    assert anonymous.get(f"/api/v1/regions/{TATEYAMA}/reports/{world.month}").status_code == 401
    assert anonymous.get(f"{A}/reports/{world.month}").status_code == 303
