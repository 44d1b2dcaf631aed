"""The console's ふるさと住民登録（プレミアム）の対象者 page, its JSON and its CSV, over real HTTP on a
py-evm chain's index (SQLite and PostgreSQL): 館山 designates three 担い手活動; one person took
part in all three (eligible) and opted in on their page with a contact, one in two (close), one
in one. Staff see the contact and download the CSV (recorded in the audit); a viewer sees the
roster without contacts and gets no CSV; 長岡's staff get 403. The page on a phone (390 px) in
Debian's chromium does not scroll sideways.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from api.routes.console.eligibility import day_label
from ledger.auth import create_api_key
from ledger.certificate.eligibility import year_after
from ledger.certificate.issue import today_jst
from ledger.certificate.typed import sign_typed
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, RecordInput
from ledger.jst import format_date
from ledger.staff import audit
from ledger.taxonomy import ContributionKind
from ledger.ties import JST
from tests.console.conftest import PASSWORD
from tests.console.world import DATABASES, NAGAOKA, TATEYAMA, A, ChainWorld, chain_world

# long and without spaces: a phone must wrap it, not scroll
CONTACT = "tanada-volunteer-" + "x" * 120 + "@example.jp 山田"


@dataclass
class EligibilityWorld:
    world: ChainWorld
    eligible: str  # checksummed addresses
    close: str
    single: str
    as_of: date  # the JST day of the records
    clients: dict[str, httpx.Client]


def _seed(world: ChainWorld) -> EligibilityWorld:
    client, admin, relayer = world.chain, dev_account(2), dev_account(1)
    now = int(client.w3.eth.get_block("latest")["timestamp"])
    activities = [
        client.register_activity(
            admin,
            ActivitySpec(
                TATEYAMA, ContributionKind.VOLUNTEERING, 100, now - 86_400, now + 30 * 86_400, designated=True
            ),
        )
        for _ in range(3)
    ]
    eligible, close, single = world.history.people[:3]
    records = [RecordInput(eligible.address, a, 7000 + i) for i, a in enumerate(activities)]
    records += [RecordInput(close.address, a, 7100 + i) for i, a in enumerate(activities[:2])]
    records += [RecordInput(single.address, activities[0], 7200)]
    client.record_batch(relayer, TATEYAMA, records)
    world.index()
    with world.engine.connect() as conn:
        last = conn.execute(text("SELECT MAX(day) FROM contributions WHERE region = :r"), {"r": TATEYAMA}).scalar_one()
    as_of = date(last // 10_000, last // 100 % 100, last % 100)
    clients = {
        login: world.admin(login, region, role)
        for login, role, region in (
            ("tateyama-staff", "staff", TATEYAMA),
            ("tateyama-viewer", "viewer", TATEYAMA),
            ("nagaoka-staff", "staff", NAGAOKA),
        )
    }
    # the eligible person opts in on their page: the API's typed data, signed by their key
    http = clients["tateyama-viewer"]  # any browser: the participant endpoints need no session
    url = f"/api/v1/people/{eligible.address}/listings"
    document = http.get(f"{url}/typed-data", params={"region": TATEYAMA, "contact": CONTACT}).json()
    message = document["message"]
    body = {
        "region": TATEYAMA,
        "contact": message["contact"],
        "listed": True,
        "issued_at": message["issuedAt"],
        "signature": sign_typed(document, eligible.key),
    }
    assert http.post(url, json=body).status_code == 200
    return EligibilityWorld(world, eligible.address, close.address, single.address, as_of, clients)


@pytest.fixture(scope="module", params=DATABASES)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EligibilityWorld]:
    with chain_world(tmp_path_factory.mktemp("eligibility"), db=request.param) as world:
        yield _seed(world)


PAGE = f"{A}/eligibility"


def _until(seeded: EligibilityWorld) -> date:
    return year_after(seeded.as_of) - timedelta(days=1)  # three records on one day


def test_staff_see_eligible_people_with_lapse_date_contact_and_the_rule(seeded: EligibilityWorld) -> None:
    page = seeded.clients["tateyama-staff"].get(PAGE, params={"as_of": seeded.as_of.isoformat()})
    assert page.status_code == 200, page.text
    html = page.text
    assert "ふるさと住民登録（プレミアム）の対象者" in html
    assert "担い手活動に3件以上" in html and "マイナンバーカード" in html and "国のふるさと住民登録アプリ" in html
    assert 'aria-current="page">ふるさと住民登録</a>' in html  # the console's navigation
    eligible_section = html.split('id="eligible"')[1].split('id="close"')[0]
    close_section = html.split('id="close"')[1].split('id="eligibility-export"')[0]
    assert f'data-participant="{seeded.eligible}"' in eligible_section
    assert f'title="{seeded.eligible}">{seeded.eligible[:6]}…{seeded.eligible[-4:]}</code>' in eligible_section
    assert f'value="{seeded.eligible}"' in eligible_section and 'data-copy="eligible-address-1"' in eligible_section
    until = _until(seeded)
    assert f'data-until="{until.isoformat()}"' in eligible_section
    assert day_label(until, "ja") in eligible_section and f"{until.year}年{until.month}月{until.day}日" in html
    assert "3件" in eligible_section and CONTACT in eligible_section
    assert f'data-participant="{seeded.close}"' in close_section and "2件" in close_section
    assert "掲載希望なし" in close_section
    assert seeded.single not in html  # one designated activity: neither eligible nor close
    assert 'href="/verify/certificate"' in html and "提示された活動証明書をこの端末で確認する" in html
    assert f'href="{PAGE}.csv?as_of={seeded.as_of.isoformat()}"' in html
    summary = html.split('id="eligibility-summary"')[1].split("</ul>")[0]
    assert '<li data-count="eligible"><span class="tile-value">1<' in summary
    assert '<li data-count="lapsing_soon"><span class="tile-value">0<' in summary
    assert '<li data-count="close"><span class="tile-value">1<' in summary

    # a month before it lapses, the same person is marked as lapsing soon
    later = seeded.clients["tateyama-staff"].get(PAGE, params={"as_of": (until - timedelta(days=3)).isoformat()})
    assert 'data-lapsing="true"' in later.text and "まもなく期限" in later.text
    assert '<li data-count="lapsing_soon"><span class="tile-value">1<' in later.text
    gone = seeded.clients["tateyama-staff"].get(PAGE, params={"as_of": (until + timedelta(days=1)).isoformat()})
    assert seeded.eligible not in gone.text and "この基準日の対象者はいません。" in gone.text
    default = seeded.clients["tateyama-staff"].get(PAGE)
    assert f'name="as_of" value="{format_date(today_jst())}"' in default.text  # 2026年12月7日
    japanese = seeded.clients["tateyama-staff"].get(PAGE, params={"as_of": format_date(seeded.as_of)})
    assert japanese.status_code == 200 and seeded.eligible in japanese.text  # as the field shows it
    assert seeded.clients["tateyama-staff"].get(PAGE, params={"as_of": "2026-13-01"}).status_code == 422


def test_the_json_is_the_same_roster_and_contacts_follow_the_permission(seeded: EligibilityWorld) -> None:
    url = f"/api/v1/regions/{TATEYAMA}/eligibility"
    params = {"as_of": seeded.as_of.isoformat()}
    staff = seeded.clients["tateyama-staff"].get(url, params=params).json()
    viewer = seeded.clients["tateyama-viewer"].get(url, params=params).json()
    key = httpx.get(seeded.world.base_url + url, params=params, headers=seeded.world.bearer("a"), timeout=30).json()
    assert staff["contacts_visible"] and key["contacts_visible"] and not viewer["contacts_visible"]
    assert staff["summary"] == {"eligible": 1, "lapsing_soon": 0, "close": 1, "listed": 1}
    [first, second] = staff["people"]
    assert first["participant"] == seeded.eligible and first["status"] == "eligible" and first["designated"] == 3
    assert first["eligible_until"] == _until(seeded).isoformat() and first["contact"] == CONTACT and first["listed"]
    assert second["participant"] == seeded.close and second["status"] == "close" and second["contact"] is None
    assert [p["participant"] for p in viewer["people"]] == [seeded.eligible, seeded.close]
    assert viewer["people"][0]["listed"] and viewer["people"][0]["contact"] is None
    assert CONTACT not in str(viewer) and key["people"] == staff["people"]
    assert staff["window_from"] == (seeded.as_of.replace(year=seeded.as_of.year - 1) + timedelta(days=1)).isoformat()


def test_a_viewer_sees_no_contact_and_gets_no_csv(seeded: EligibilityWorld) -> None:
    viewer = seeded.clients["tateyama-viewer"]
    page = viewer.get(PAGE, params={"as_of": seeded.as_of.isoformat()})
    assert page.status_code == 200
    assert seeded.eligible in page.text and CONTACT not in page.text
    assert "掲載希望あり（閲覧権限なし）" in page.text and 'id="eligibility-csv"' not in page.text
    assert viewer.get(f"{PAGE}.csv").status_code == 403
    answer = viewer.get(f"/api/v1/regions/{TATEYAMA}/eligibility.csv")
    assert answer.status_code == 403 and CONTACT not in answer.text


def test_another_regions_staff_get_403(seeded: EligibilityWorld) -> None:
    outsider = seeded.clients["nagaoka-staff"]
    for url in (
        PAGE,
        f"{PAGE}.csv",
        f"/api/v1/regions/{TATEYAMA}/eligibility",
        f"/api/v1/regions/{TATEYAMA}/eligibility.csv",
    ):
        answer = outsider.get(url)
        assert answer.status_code == 403, url
        assert seeded.eligible not in answer.text and CONTACT not in answer.text
    assert outsider.get(f"/console/regions/{NAGAOKA:05d}/eligibility").status_code == 200  # their own is fine


def test_a_researcher_key_sees_neither_roster_nor_contacts(seeded: EligibilityWorld) -> None:
    with seeded.world.engine.begin() as conn:
        key, _ = create_api_key(conn, "researcher", "研究者", None)
    for path in ("eligibility", "eligibility.csv"):
        answer = httpx.get(
            f"{seeded.world.base_url}/api/v1/regions/{TATEYAMA}/{path}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert answer.status_code == 403 and seeded.eligible not in answer.text and CONTACT not in answer.text


def test_the_csv_downloads_for_excel_and_is_in_the_audit(seeded: EligibilityWorld) -> None:
    staff = seeded.clients["tateyama-staff"]
    started = int(time.time())
    answer = staff.get(f"{PAGE}.csv", params={"as_of": seeded.as_of.isoformat()})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    disposition = answer.headers["content-disposition"]
    assert f'filename="eligibility-{TATEYAMA:05d}-{seeded.as_of:%Y%m%d}.csv"' in disposition
    assert "filename*=UTF-8''" in disposition and answer.headers["cache-control"] == "no-store"
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["アドレス", "連絡先", "指定活動の件数（直近12か月）", "プレミアム対象"]
    assert rows[1][:5] == [seeded.eligible, CONTACT, "3", "はい", _until(seeded).isoformat()]
    assert len(rows) == 2  # only who opted in
    listed_at = datetime.strptime(rows[1][5], "%Y-%m-%d %H:%M").replace(tzinfo=JST)
    assert abs(listed_at.timestamp() - started) < 3600
    with seeded.world.engine.connect() as conn:
        entries = audit.entries(conn, TATEYAMA, action_prefix="eligibility.")
    [entry] = [e for e in entries if e.at >= started - 1]
    assert entry.action == "eligibility.export" and entry.actor_label == "Tateyama-Staff" and entry.outcome == "ok"
    assert entry.detail == {"as_of": seeded.as_of.isoformat(), "people": 1, "lang": "ja"}
    actions = staff.get(f"{A}/audit", params={"tab": "actions"})
    assert "ふるさと住民登録の対象者CSVを出力" in actions.text  # staff see who downloaded it, in words

    # the same CSV through the API with the region's operator key, recorded the same way
    by_key = httpx.get(
        f"{seeded.world.base_url}/api/v1/regions/{TATEYAMA}/eligibility.csv",
        params={"as_of": seeded.as_of.isoformat(), "lang": "en"},
        headers=seeded.world.bearer("a"),
        timeout=30,
    )
    assert by_key.status_code == 200 and by_key.content.decode("utf-8-sig").startswith("address,contact,")
    with seeded.world.engine.connect() as conn:
        latest = audit.entries(conn, TATEYAMA, action_prefix="eligibility.")[0]
    assert latest.actor_label == "館山 key" and latest.detail["lang"] == "en"


@pytest.mark.slow
def test_the_page_fits_a_phone(seeded: EligibilityWorld) -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, PHONE

    if seeded.world.engine.dialect.name != "sqlite":
        pytest.skip("the layout does not depend on the database: checked once, on SQLite")
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            context = browser.new_context(**PHONE)  # type: ignore[arg-type]
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{seeded.world.base_url}/console/login")
            page.locator("#login").fill("tateyama-staff")
            page.locator("#password").fill(PASSWORD)
            page.locator("form button[type=submit]").click()
            page.wait_for_url(lambda url: "/console/login" not in url)
            page.goto(f"{seeded.world.base_url}{PAGE}?as_of={seeded.as_of.isoformat()}")
            row = page.locator(f'#eligible tr[data-participant="{seeded.eligible}"]')
            assert row.is_visible() and CONTACT in row.inner_text()
            width, client = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert width <= client == 390, f"the page scrolls sideways on a phone: {width} > {client}"
            assert page.locator("#eligibility-csv").is_visible()
        finally:
            browser.close()
    assert not problems, problems
