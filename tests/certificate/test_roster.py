"""The staff's eligibility roster and the municipality's CSV, on a real index (SQLite and
PostgreSQL) of a py-evm chain whose blocks are dated across a year.

The chain (built once for the module): 館山 registers six designated 担い手活動 and one ordinary
activity, 長岡 three designated; people take part on JST days d0, d100, d200, d250 and d300
(block timestamps set to 10:00 JST of those days), and one of carol's records is revoked:

=====  ====================================================  =========================
who    館山 designated records (days)                          on d300
=====  ====================================================  =========================
alice  d0, d100, d200, d300                                  eligible until d100+1y−1
gina   d200, d250, d300                                      eligible until d200+1y−1
bob    d0, d100                                              close
carol  d0, d100, (d200 revoked)                              close
erin   d0, d100 (+ an ordinary one on d0)                    close
dave   d0                                                    not on the roster
frank  none (three designated in 長岡)                        not on 館山's roster
=====  ====================================================  =========================
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from sqlalchemy import Engine, text

from ledger.certificate.eligibility import eligibility, year_after
from ledger.certificate.listings import REQUEST_WINDOW_S, listing_csv, set_listing
from ledger.certificate.roster import designated_days, eligibility_roster, roster, roster_summary
from ledger.certificate.typed import listing_typed_data, sign_typed
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput
from ledger.chain.deploy import Deployment, deploy_ledger
from ledger.chain.devnet import PyEvmDevnet
from ledger.taxonomy import ContributionKind
from ledger.ties import JST
from tests.indexer.helpers import database, make_indexer

TATEYAMA, NAGAOKA = 12205, 15202
DAY = 86_400
OFFSETS = (0, 100, 200, 250, 300)
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "gina")


@dataclass
class DatedChain:
    devnet: PyEvmDevnet
    deployment: Deployment
    people: dict[str, LocalAccount]
    base: date  # d0 is base + 1 day

    def d(self, offset: int) -> date:
        return self.base + timedelta(days=offset + 1)

    def address(self, name: str) -> str:
        return self.people[name].address


def _at_ten_jst(day: date) -> int:
    return int(datetime.combine(day, time(10), JST).timestamp())


@pytest.fixture(scope="module")
def chain() -> DatedChain:
    devnet = PyEvmDevnet()
    platform, relayer, admin = dev_account(0), dev_account(1), dev_account(2)
    deployment = deploy_ledger(devnet.w3, platform)
    client = LedgerClient(devnet.w3, deployment.ledger, poll_s=0.01)
    for region in (TATEYAMA, NAGAOKA):
        client.register_region(platform, region, f"coin {region}", f"C{region}", admin.address)
        client.grant_issuer(admin, region, relayer.address)
    start = int(devnet.w3.eth.get_block("latest")["timestamp"])
    base = datetime.fromtimestamp(start, JST).date()

    def register(region: int, designated: bool) -> int:
        spec = ActivitySpec(
            region, ContributionKind.VOLUNTEERING, 100, start - DAY, start + 800 * DAY, designated=designated
        )
        return client.register_activity(admin, spec)

    a = [register(TATEYAMA, True) for _ in range(6)]
    ordinary = register(TATEYAMA, False)
    n = [register(NAGAOKA, True) for _ in range(3)]
    people = {name: Account.from_key(keccak(text=f"roster-{name}")) for name in NAMES}
    plan: dict[int, list[tuple[int, str, int]]] = {
        0: [(TATEYAMA, p, a[0]) for p in ("alice", "bob", "carol", "dave", "erin")]
        + [(TATEYAMA, "erin", ordinary), (NAGAOKA, "frank", n[0])],
        100: [(TATEYAMA, p, a[1]) for p in ("alice", "bob", "carol", "erin")] + [(NAGAOKA, "frank", n[1])],
        200: [(TATEYAMA, "alice", a[2]), (TATEYAMA, "carol", a[2]), (TATEYAMA, "gina", a[3]), (NAGAOKA, "frank", n[2])],
        250: [(TATEYAMA, "gina", a[4])],
        300: [(TATEYAMA, "alice", a[3]), (TATEYAMA, "gina", a[5])],
    }
    claim = iter(range(1, 10_000))
    chain = DatedChain(devnet, deployment, people, base)
    for offset in OFFSETS:
        devnet.set_next_block_timestamp(_at_ten_jst(chain.d(offset)))
        for region in (TATEYAMA, NAGAOKA):
            batch = [RecordInput(people[p].address, act, next(claim)) for r, p, act in plan[offset] if r == region]
            if batch:
                client.record_batch(relayer, region, batch)
    client.revoke(admin, a[2], people["carol"].address, 2)
    return chain


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest, chain: DatedChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with database(request.param, tmp_path_factory.mktemp("roster")) as db:
        indexer = make_indexer(chain.devnet, chain.deployment, db)
        try:
            indexer.backfill()
        finally:
            indexer.close()
        yield db


def _list(engine: Engine, chain: DatedChain, name: str, contact: str, listed: bool, issued_at: int) -> None:
    person = chain.people[name]
    document = listing_typed_data(
        chain.devnet.chain_id, chain.deployment.ledger, person.address, TATEYAMA, contact, listed, issued_at
    )
    set_listing(
        engine,
        chain_id=chain.devnet.chain_id,
        ledger=chain.deployment.ledger,
        holder=person.address,
        region=TATEYAMA,
        contact=contact,
        listed=listed,
        issued_at=issued_at,
        signature=sign_typed(document, person.key),
        now=issued_at,
    )


def test_only_the_regions_designated_live_records_in_the_window_are_selected(engine: Engine, chain: DatedChain) -> None:
    d = chain.d
    with engine.connect() as conn:
        days = designated_days(conn, TATEYAMA, d(300))
        later = designated_days(conn, TATEYAMA, year_after(d(100)))
        only = designated_days(conn, TATEYAMA, d(300), [chain.address("bob").upper().replace("0X", "0x")])
    by_name = {name: sorted(days.get(chain.address(name).lower(), [])) for name in NAMES}
    assert by_name == {
        "alice": [d(0), d(100), d(200), d(300)],
        "bob": [d(0), d(100)],
        "carol": [d(0), d(100)],  # d200 was revoked
        "dave": [d(0)],
        "erin": [d(0), d(100)],  # the ordinary activity of d0 is not counted
        "frank": [],  # 長岡's records are not 館山's
        "gina": [d(200), d(250), d(300)],
    }
    assert sorted(later[chain.address("alice").lower()]) == [d(200), d(300)]  # d100 has left the window
    assert list(only) == [chain.address("bob").lower()]


def test_eligible_first_by_lapse_then_close_with_the_one_rule(engine: Engine, chain: DatedChain) -> None:
    d = chain.d
    with engine.connect() as conn:
        rows = eligibility_roster(conn, TATEYAMA, d(300))
        nagaoka = eligibility_roster(conn, NAGAOKA, d(300))
    names = {chain.address(n): n for n in NAMES}
    assert [(names[r.participant], r.status) for r in rows[:2]] == [("alice", "eligible"), ("gina", "eligible")]
    assert {names[r.participant] for r in rows[2:]} == {"bob", "carol", "erin"}
    assert all(r.status == "close" and r.designated == 2 and r.eligible_until is None for r in rows[2:])
    alice, gina = rows[0], rows[1]
    assert alice.designated == 4 and alice.last_designated == d(300)
    assert alice.eligible_until == year_after(d(100)) - timedelta(days=1)  # the third most recent, plus a year, −1
    assert gina.designated == 3 and gina.eligible_until == year_after(d(200)) - timedelta(days=1)
    for row in rows:  # the roster's verdict is the certificate's rule, person by person
        verdict = eligibility(_days_of(engine, row.participant, d(300)), d(300))
        assert (row.designated, row.eligible, row.eligible_until) == (
            verdict.designated,
            verdict.eligible,
            verdict.eligible_until,
        )
    assert [names[r.participant] for r in nagaoka] == ["frank"] and nagaoka[0].eligible
    assert not any(r.lapsing_soon for r in rows)
    assert roster_summary(rows).eligible == 2 and roster_summary(rows).close == 3


def _days_of(engine: Engine, participant: str, as_of: date) -> list[date]:
    with engine.connect() as conn:
        return designated_days(conn, TATEYAMA, as_of).get(participant.lower(), [])


def test_eligibility_lapses_on_the_day_after_eligible_until(engine: Engine, chain: DatedChain) -> None:
    until = year_after(chain.d(100)) - timedelta(days=1)  # alice's
    alice = chain.address("alice")
    with engine.connect() as conn:
        on_the_day = {r.participant: r for r in eligibility_roster(conn, TATEYAMA, until)}
        day_after = {r.participant: r for r in eligibility_roster(conn, TATEYAMA, until + timedelta(days=1))}
        month_before = {r.participant: r for r in eligibility_roster(conn, TATEYAMA, until - timedelta(days=30))}
        a_day_more = {r.participant: r for r in eligibility_roster(conn, TATEYAMA, until - timedelta(days=31))}
    assert on_the_day[alice].eligible and on_the_day[alice].eligible_until == until and on_the_day[alice].lapsing_soon
    assert not day_after[alice].eligible and day_after[alice].status == "close" and day_after[alice].designated == 2
    assert month_before[alice].lapsing_soon and not a_day_more[alice].lapsing_soon
    # the window moved past d100: bob, carol and erin have one designated record left and drop off
    assert set(on_the_day) == {alice, chain.address("gina")}


def test_as_of_before_the_first_records_is_an_empty_roster(engine: Engine, chain: DatedChain) -> None:
    with engine.connect() as conn:
        found = roster(conn, TATEYAMA, chain.d(-1))
    assert found.people == () and found.summary.eligible == found.summary.close == 0
    with engine.connect() as conn:
        early = roster(conn, TATEYAMA, chain.d(100))  # two designated each: everyone is close
    assert not early.eligible and len(early.close) == 4  # alice, bob, carol, erin


def test_contacts_only_for_listed_people_and_only_when_asked(engine: Engine, chain: DatedChain) -> None:
    now = int(datetime.now(JST).timestamp())
    _list(engine, chain, "alice", "alice@example.jp 090-0000-0000", True, now)
    _list(engine, chain, "bob", "bob@example.jp", True, now)
    _list(engine, chain, "bob", "", False, now + 1)  # bob changed his mind: taken off, contact deleted
    with engine.connect() as conn:
        hidden = roster(conn, TATEYAMA, chain.d(300))
        shown = roster(conn, TATEYAMA, chain.d(300), contacts=True)
    alice = chain.address("alice")
    by = {r.participant: r for r in shown.people}
    assert by[alice].listed and by[alice].contact == "alice@example.jp 090-0000-0000" and by[alice].listed_at
    assert not by[chain.address("bob")].listed and by[chain.address("bob")].contact is None
    assert all(r.contact is None and r.listed_at is None for r in hidden.people)
    assert {r.participant for r in hidden.people if r.listed} == {alice}
    assert shown.summary.listed == hidden.summary.listed == 1
    assert not hidden.contacts_visible and shown.contacts_visible


def test_the_csv_lists_everyone_who_opted_in_for_excel(engine: Engine, chain: DatedChain) -> None:
    now = int(datetime.now(JST).timestamp())
    _list(engine, chain, "alice", "alice@example.jp", True, now + 10)
    _list(
        engine, chain, "dave", '=HYPERLINK("http://x")　大山 太郎', True, now + 10
    )  # not eligible: listed all the same
    _list(engine, chain, "gina", "gina@example.jp", True, now + 10)
    with engine.connect() as conn:
        body = listing_csv(conn, TATEYAMA, chain.d(300))
        english = listing_csv(conn, TATEYAMA, chain.d(300), lang="en")
    assert body.startswith("\ufeff") and "\r\n" in body
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    assert rows[0] == [
        "アドレス",
        "連絡先",
        "指定活動の件数（直近12か月）",
        "プレミアム対象",
        "対象期限",
        "掲載の申し込み日時（日本時間）",
    ]
    until = {
        "alice": (year_after(chain.d(100)) - timedelta(days=1)).isoformat(),
        "gina": (year_after(chain.d(200)) - timedelta(days=1)).isoformat(),
    }
    assert [r[:5] for r in rows[1:]] == [
        [chain.address("alice"), "alice@example.jp", "4", "はい", until["alice"]],
        [chain.address("gina"), "gina@example.jp", "3", "はい", until["gina"]],
        [chain.address("dave"), '\'=HYPERLINK("http://x")　大山 太郎', "1", "いいえ", ""],  # never run as a formula
    ]
    assert all(datetime.strptime(r[5], "%Y-%m-%d %H:%M") for r in rows[1:])
    assert chain.address("bob") not in body  # opted out: not in the CSV
    english_rows = list(csv.reader(io.StringIO(english.removeprefix("\ufeff"))))
    assert english_rows[0][:4] == ["address", "contact", "designated_activities_12_months", "eligible"]
    assert [r[3] for r in english_rows[1:]] == ["yes", "yes", "no"]


def test_an_opt_out_leaves_nothing_once_its_replay_window_has_passed(engine: Engine, chain: DatedChain) -> None:
    now = int(datetime.now(JST).timestamp()) + 100
    _list(engine, chain, "erin", "erin@example.jp", True, now)
    _list(engine, chain, "erin", "", False, now + 1)
    erin = {"p": chain.address("erin").lower()}
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT contact, issued_at FROM eligibility_listings WHERE participant = :p"), erin)
    assert [tuple(r) for r in kept.all()] == [("", now + 1)]  # only the time, while a replay could still pass
    _list(engine, chain, "gina", "gina@example.jp", True, now + 2 + REQUEST_WINDOW_S)  # any later request purges
    with engine.connect() as conn:
        left = conn.execute(text("SELECT COUNT(*) FROM eligibility_listings WHERE participant = :p"), erin).scalar_one()
    assert left == 0
