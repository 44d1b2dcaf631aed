"""The query layer against a real index: a py-evm chain with half a year of activity in three regions,
indexed by the real indexer into SQLite and PostgreSQL, checked against figures worked out by hand.

The story (all at 12:00 JST in 2031; A = 館山市 12205, B = 南房総市 12234, C = 長岡市 15202):

=========== ==========================================================================================
01-05       regions registered (A, B by ``admin``; C by ``admin_c``), issuers granted, activities and
            one project of A registered
01-10       A a1 祭り (20, 300 coins): p0 p1 p2 p3 p4 · B b1 田植え (21, 500): p0 p1 p5
02-14       A a2 ボランティア (40, 1000): p0 p2 p8 · p0 supports 200, p2 supports 500 (signed, relayed)
03-01       A revokes p2's a2 (reason 1: clawed back 800, shortfall 200) and p4's a1 (reason 2: 300)
04-20       A a3 観光 (10, 100): p0 p1 p4 p7 · B b2 テレワーク (30, 800): p0 · p8 supports 400 directly;
            A enables transfers and p8 sends 100 coins to p0
05-05       A, by a second issuer: a4 ふるさと納税 (50, 200): p5 p7; a5 帰省 (60, 50): p6 ·
            C c1 オンライン交流 (52, 100): p0 p7
05-20       A revokes the second issuer
06-15       head of the chain
=========== ==========================================================================================

Region A, stage as of each month end (docs/ties.md §6), and whether the person was active that month:

====  ==========  ==========  ==========  ==========  ==========  ==========
who   Jan         Feb         Mar         Apr         May         Jun
====  ==========  ==========  ==========  ==========  ==========  ==========
p0    visitor*    repeater*   repeater    core*       core        core
p1    visitor*    visitor     visitor     kankei*     kankei      kankei
p2    visitor*    visitor     visitor     visitor     visitor     visitor
p3    visitor*    visitor     visitor     visitor     visitor     visitor
p4    -           -           -           visitor*    visitor     visitor
p5    -           -           -           -           visitor*    visitor
p6    -           -           -           -           none*       none
p7    -           -           -           visitor*    repeater*   repeater
p8    -           visitor*    visitor     visitor     visitor     visitor
====  ==========  ==========  ==========  ==========  ==========  ==========

(* = active.) p0 reaches コア in April: 3 days over 100 days (continuous), 3 forms (diverse and deep),
10 days since the last one (recent). p1: 2 forms over 100 days = 関係人口. p2's February record and
p4's January one are revoked, so p2 stays a one-day visitor and p4's first live month is April.
p6's only record is a 帰省 (kin): it feeds no stage (MLIT sets 地縁・血縁 apart), so p6 is a participant at
stage none and in no other people figure. p7: 観光 then ふるさと納税 15 days later =
リピーター (not continuous).
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Connection, Engine, text

from ledger import queries as q
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput
from ledger.chain.deploy import Deployment, deploy_ledger
from ledger.chain.devnet import PyEvmDevnet
from ledger.chain.signing import SupportRequest, sign_support
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.indexer.refresh import DerivedRefresher
from ledger.indexer.rpc import ProviderJsonRpc
from ledger.indexer.runner import Indexer
from ledger.indexer.spec import spec_for_deployment
from ledger.indexer.store import IndexStore
from ledger.queries import cells
from ledger.taxonomy import ContributionKind as K
from ledger.taxonomy import MlitType
from ledger.ties import Stage
from tests.indexer.helpers import scan_national_graph

POSTGRES_URL = os.environ.get("TSUNAGARI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
JST = timezone(timedelta(hours=9))
A, B, C = 12205, 12234, 15202
YEAR = date(2031, 1, 1), date(2031, 6, 30)
SPRING = date(2031, 4, 1), date(2031, 6, 30)


def at(month: int, day: int, hour: int = 12) -> int:
    """Unix seconds of 2031-``month``-``day`` ``hour``:00 JST."""
    return int(datetime(2031, month, day, hour, tzinfo=JST).timestamp())


def near(timestamp: int, expected: int) -> bool:
    """Within the minute after ``expected``: each transaction mines a block one second after the last."""
    return 0 <= timestamp - expected < 60


@dataclass
class Story:
    devnet: PyEvmDevnet
    deployment: Deployment
    client: LedgerClient
    admin: LocalAccount
    issuer: LocalAccount
    issuer2: LocalAccount
    people: list[LocalAccount]
    activities: dict[str, int] = field(default_factory=dict)
    project: int = 0

    def p(self, i: int) -> str:
        """Person ``i``'s address as the index stores it."""
        return self.people[i].address.lower()


def _tell_story() -> Story:
    devnet = PyEvmDevnet()
    w3 = devnet.w3
    platform, admin, admin_c, issuer, issuer2, issuer_c, relayer, rich = (dev_account(i) for i in range(8))
    devnet.set_next_block_timestamp(at(1, 5))
    deployment = deploy_ledger(w3, platform)
    client = LedgerClient(w3, deployment.ledger, poll_s=0.01)
    client.register_region(platform, A, "館山コイン", "TATEYAMA", admin.address)
    client.register_region(platform, B, "南房総コイン", "MINAMIBOSO", admin.address)
    client.register_region(platform, C, "長岡コイン", "NAGAOKA", admin_c.address)
    client.grant_issuer(admin, A, issuer.address)
    client.grant_issuer(admin, A, issuer2.address)
    client.grant_issuer(admin, B, issuer.address)
    client.grant_issuer(admin_c, C, issuer_c.address)
    # p0..p7 hold no ETH (everything goes through issuers and the relayer); p8 is a funded account.
    people = [Account.from_key(bytes([9] * 31 + [i + 1])) for i in range(8)] + [rich]
    story = Story(devnet, deployment, client, admin, issuer, issuer2, people)
    opens, closes = at(1, 1, 0), at(12, 31)
    for name, region, kind, reward in (
        ("a1", A, K.FESTIVAL_EVENT, 300),
        ("a2", A, K.VOLUNTEERING, 1000),
        ("a3", A, K.SIGHTSEEING, 100),
        ("a4", A, K.FURUSATO_NOZEI, 200),
        ("a5", A, K.KIN_VISIT, 50),
        ("b1", B, K.FARMING_EXPERIENCE, 500),
        ("b2", B, K.TELEWORK, 800),
        ("c1", C, K.ONLINE_EXCHANGE, 100),
    ):
        owner = admin_c if region == C else admin
        story.activities[name] = client.register_activity(owner, ActivitySpec(region, kind, reward, opens, closes))
    story.project = client.register_project(admin, A)

    def record(sender: LocalAccount, region: int, pairs: list[tuple[str, int]]) -> None:
        client.record_batch(
            sender,
            region,
            [RecordInput(people[i].address, story.activities[a], n + 1) for n, (a, i) in enumerate(pairs)],
        )

    def relayed_support(i: int, amount: int) -> None:
        person = people[i]
        request = SupportRequest(person.address, story.project, amount, client.nonce(person.address), at(12, 31))
        client.support_by_sig(relayer, request, sign_support(person, request, client.chain_id, client.address))

    devnet.set_next_block_timestamp(at(1, 10))
    record(issuer, A, [("a1", i) for i in (0, 1, 2, 3, 4)])
    record(issuer, B, [("b1", i) for i in (0, 1, 5)])
    devnet.set_next_block_timestamp(at(2, 14))
    record(issuer, A, [("a2", i) for i in (0, 2, 8)])
    relayed_support(0, 200)
    relayed_support(2, 500)
    devnet.set_next_block_timestamp(at(3, 1))
    client.revoke(admin, story.activities["a2"], people[2].address, 1, b"\x01" * 32)
    client.revoke(admin, story.activities["a1"], people[4].address, 2, b"\x02" * 32)
    devnet.set_next_block_timestamp(at(4, 20))
    record(issuer, A, [("a3", i) for i in (0, 1, 4, 7)])
    record(issuer, B, [("b2", 0)])
    client.support(rich, story.project, 400)
    client.set_transfers_enabled(admin, A, True)
    client.coin_transfer(rich, A, people[0].address, 100)
    devnet.set_next_block_timestamp(at(5, 5))
    record(issuer2, A, [("a4", 5), ("a4", 7), ("a5", 6)])
    record(issuer_c, C, [("c1", 0), ("c1", 7)])
    devnet.set_next_block_timestamp(at(5, 20))
    client.revoke_issuer(admin, A, issuer2.address)
    devnet.set_next_block_timestamp(at(6, 15))
    devnet.mine()
    return story


@pytest.fixture(scope="module")
def story() -> Story:
    return _tell_story()


def _index(story: Story, engine: Engine) -> None:
    upgrade_to_head(engine)
    dep = story.deployment
    Indexer(
        spec_for_deployment(dep),
        IndexStore(engine, dep.chain_id),
        ProviderJsonRpc(story.devnet.w3),
        refresh=DerivedRefresher(engine, dep.chain_id),
    ).backfill()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, story: Story, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("queries") / "index.db"
        engine = make_engine(f"sqlite:///{path}")
        try:
            _index(story, engine)
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"q_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        _index(story, engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        yield connection


def stages(counts: tuple[q.StageCount, ...]) -> dict[str, int | None]:
    return {c.stage.value: c.people for c in counts}


# -- helpers -------------------------------------------------------------------------------------


def test_addresses_are_normalised_and_validated() -> None:
    mixed = "0x" + "aB" * 20
    assert q.normalize_address(mixed) == "0x" + "ab" * 20
    for bad in ("", "0x123", "ab" * 20, "0x" + "g" * 40, "0x" + "a" * 41):
        with pytest.raises(ValueError, match="not an address"):
            q.normalize_address(bad)


def test_small_cells_are_suppressed() -> None:
    assert [q.suppress(v, 5) for v in (0, 1, 4, 5, 12)] == [0, None, None, 5, 12]
    assert q.suppress(3, None) == 3
    assert q.suppress(None, 5) is None
    # One hidden cell of a published total would be recovered by subtraction: the next smallest goes too.
    assert q.suppress_group({"a": 2, "b": 9, "c": 7, "d": 0}, 5) == {"a": None, "b": 9, "c": None, "d": 0}
    assert q.suppress_group({"a": 2, "b": 3, "c": 7}, 5) == {"a": None, "b": None, "c": 7}
    assert q.suppress_group({"a": 2, "b": 3}, None) == {"a": 2, "b": 3}
    for bad_k in (0, -1, True):
        with pytest.raises(ValueError, match="k must be"):
            q.suppress(1, bad_k)


def test_calendar_helpers() -> None:
    assert q.day_int(date(2031, 2, 3)) == 20310203
    assert q.month_int(date(2031, 2, 3)) == 203102
    assert q.months_between(203111, 203202) == [203111, 203112, 203201, 203202]
    assert q.months_between(203105, 203104) == []


# -- a person ------------------------------------------------------------------------------------


def test_person_ties_in_every_region(story: Story, conn: Connection) -> None:
    ties = q.person_ties(conn, story.people[0].address)  # checksummed input is fine
    assert [(t.region, t.stage, t.records) for t in ties] == [
        (A, Stage.CORE, 3),
        (B, Stage.KANKEI, 2),
        (C, Stage.VISITOR, 1),
    ]
    a = ties[0]
    assert (a.region_name, a.stage_ja, a.stage_en) == ("館山コイン", "コア", "Core")
    assert (a.kankei, a.category, a.visit_days, a.visit_band, a.visit_band_ja) == (True, "visiting", 3, "2-7", "2〜7日")
    assert (a.coins_earned, a.coins_given, a.active_months, a.distinct_types) == (1400, 200, 3, 3)
    assert (a.first_month, a.revoked_records, a.kin_records) == (203101, 0, 0)
    assert near(a.first_at, at(1, 10)) and near(a.last_at, at(4, 20))
    assert a.as_of == at(6, 15, 0) - 1 + 86_400  # end of the head's JST day
    assert a.components.diversity == pytest.approx(2 / 3)  # 3 forms: (3 - 1) / 3
    assert 0 < a.score < 100
    assert ties[2].category is None and ties[2].visit_band == "0"  # オンライン交流: not a visit


def test_person_ties_count_revoked_and_kin_records_and_reject_bad_addresses(story: Story, conn: Connection) -> None:
    (p4,) = q.person_ties(conn, story.p(4))
    assert (p4.stage, p4.records, p4.revoked_records, p4.first_month) == (Stage.VISITOR, 1, 1, 203104)
    (p6,) = q.person_ties(conn, story.p(6).upper().replace("0X", "0x"))
    assert (p6.stage, p6.kin_records, p6.kankei) == (Stage.NONE, 1, False)
    assert q.person_ties(conn, "0x" + "00" * 20) == []
    with pytest.raises(ValueError):
        q.person_ties(conn, "0xnope")


def test_person_history_newest_first_with_revocations_and_paging(story: Story, conn: Connection) -> None:
    history = q.person_history(conn, story.p(0), limit=10)
    assert [(e.entry, e.region, e.activity_id or e.project_id, e.amount) for e in history] == [
        ("contribution", C, story.activities["c1"], 100),
        ("contribution", B, story.activities["b2"], 800),
        ("contribution", A, story.activities["a3"], 100),
        ("support", A, story.project, 200),
        ("contribution", A, story.activities["a2"], 1000),
        ("contribution", B, story.activities["b1"], 500),
        ("contribution", A, story.activities["a1"], 300),
    ]
    latest = history[0]
    assert (latest.kind, latest.kind_ja, latest.mlit_type, latest.day, latest.region_name) == (
        52, "オンライン交流", 5, 20310505, "長岡コイン",
    )  # fmt: skip
    assert latest.tx_hash.startswith("0x") and len(latest.tx_hash) == 66 and not latest.revoked
    support = history[3]
    assert support.relayer == dev_account(6).address.lower() and support.kind is None and support.day == 20310214
    page = q.person_history(conn, story.p(0), limit=3)
    rest = q.person_history(conn, story.p(0), limit=10, before=page[-1].cursor)
    assert page + rest == history

    p2 = q.person_history(conn, story.p(2))
    assert [(e.entry, e.revoked) for e in p2] == [("support", False), ("contribution", True), ("contribution", False)]
    revocation = p2[1].revocation
    assert revocation is not None
    assert (revocation.reason, revocation.reason_ja, revocation.clawed_back, revocation.shortfall) == (
        1, "誤発行", 800, 200,
    )  # fmt: skip
    assert revocation.admin == story.admin.address.lower() and revocation.evidence_hash == "0x" + "01" * 32
    assert near(revocation.timestamp, at(3, 1))
    with pytest.raises(ValueError):
        q.person_history(conn, story.p(2), limit=0)


def test_person_coins_match_the_chain(story: Story, conn: Connection) -> None:
    p0 = {c.region: c for c in q.person_coins(conn, story.p(0))}
    assert p0[A] == q.PersonCoins(A, "館山コイン", 1400, 0, 200, 100, 0, 1300)
    assert (p0[B].earned, p0[B].balance, p0[C].balance) == (1300, 1300, 100)
    (p2,) = q.person_coins(conn, story.p(2))
    assert (p2.earned, p2.clawed_back, p2.spent, p2.balance) == (1300, 800, 500, 0)
    (p8,) = q.person_coins(conn, story.p(8))
    assert (p8.earned, p8.spent, p8.transferred_out, p8.balance) == (1000, 400, 100, 500)
    for i in range(9):
        for coins in q.person_coins(conn, story.p(i)):
            assert coins.balance == story.client.balance_of(story.people[i].address, coins.region)


# -- a region --------------------------------------------------------------------------------------


def test_region_summary_over_the_half_year(conn: Connection) -> None:
    s = q.region_summary(conn, A, *YEAR)
    assert (s.region_name, s.first_month, s.as_of_month) == ("館山コイン", 203101, 203106)
    # p6 (a kin visit only) is a participant at stage none, without a visit day
    assert (s.participants, s.kankei, s.kankei_visiting, s.kankei_non_visiting) == (9, 2, 2, 0)
    assert (s.participants_without_kin, s.kin_only) == (8, 1)
    assert stages(s.stages) == {"none": 1, "visitor": 5, "repeater": 1, "kankei": 1, "core": 1}
    assert [c.label_ja for c in s.stages] == ["なし", "来訪", "リピーター", "関係人口", "コア"]
    assert (s.active, s.new, s.returning) == (8, 8, 3)  # p0 p1 p7 came back in a later month of it
    assert (s.records, s.revoked_records) == (13, 2)
    mix = {t.mlit_type: t for t in s.type_mix}
    assert {t: m.records for t, m in mix.items()} == {
        MlitType.HOBBY_CONSUMPTION: 4,
        MlitType.PARTICIPATION_EXCHANGE: 4,
        MlitType.WORK: 0,
        MlitType.DIRECT_CONTRIBUTION: 2,
        MlitType.NON_VISITING: 2,
        MlitType.KIN: 1,
    }
    assert mix[MlitType.HOBBY_CONSUMPTION].share_of_visiting == pytest.approx(0.4)
    assert mix[MlitType.DIRECT_CONTRIBUTION].share_of_visiting == pytest.approx(0.2)
    assert mix[MlitType.HOBBY_CONSUMPTION].national_share == 0.38
    assert mix[MlitType.NON_VISITING].share_of_visiting is None
    bands = {b.band: b for b in s.visit_bands}
    assert {b: c.people for b, c in bands.items()} == {"0": 2, "1": 5, "2-7": 2, "8+": 0}
    assert bands["2-7"].share_of_visitors == pytest.approx(2 / 7) and bands["2-7"].national_share == 0.49
    assert s.coins == q.CoinTotals(5350, 1100, 1100, 3, 2, 1100 / 5350, 0)
    assert s.national is q.NATIONAL_REFERENCE and "118,963" in s.national.source


def test_region_summary_of_a_shorter_range(conn: Connection) -> None:
    s = q.region_summary(conn, A, *SPRING)
    assert (s.active, s.new, s.returning) == (5, 3, 3)  # p0 p1 back; p4 p5 p7 new, p7 back again (p6: kin only)
    assert (s.records, s.revoked_records) == (7, 0)
    assert s.coins == q.CoinTotals(850, 400, 0, 1, 0, 400 / 850, 0)
    march = q.region_summary(conn, A, date(2031, 3, 1), date(2031, 3, 31))
    assert (march.as_of_month, march.participants, march.active, march.records) == (203103, 5, 0, 0)
    assert stages(march.stages) == {"none": 0, "visitor": 4, "repeater": 1, "kankei": 0, "core": 0}
    assert march.coins == q.CoinTotals(0, 0, 1100, 0, 2, None, 0)
    # A range reaching past the head is read as of the head's month.
    future = q.region_summary(conn, A, date(2031, 6, 1), date(2031, 12, 31))
    assert (future.as_of_month, future.participants, future.kankei) == (203106, 9, 2)
    other = q.region_summary(conn, B, *YEAR)
    assert (other.participants, other.kankei, other.records, other.coins.issued) == (3, 1, 4, 2300)


def test_region_summary_of_a_range_before_the_head(conn: Connection) -> None:
    s = q.region_summary(conn, A, date(2031, 2, 1), date(2031, 5, 31))  # counted from tie_months
    assert (s.as_of_month, s.participants, s.kankei) == (203105, 9, 2)
    assert (s.active, s.new, s.returning) == (6, 4, 3)  # p0 p1 back; p8 p4 p7 p5 new, p7 back again
    assert (s.records, s.revoked_records, s.coins.issued, s.coins.revocations) == (9, 1, 3850, 2)


def test_ties_and_tie_months_agree_at_the_head(conn: Connection) -> None:
    """Ranges reaching the head's month are counted from ``ties``, earlier ones from ``tie_months``."""
    for first in (203101, 203102, 203104, 203106):
        params = {"m0": first, "m1": 203106, "t0": int(datetime(2031, first % 100, 1, tzinfo=JST).timestamp())}
        via = {
            flag: sorted(tuple(r) for r in conn.execute(text(cells._pairs_sql(flag, region=False)), params))
            for flag in (True, False)
        }
        assert via[True] == via[False]
        assert len(via[True]) == {203101: 13, 203102: 9, 203104: 8, 203106: 0}[first]
        for region in (A, B, C):
            assert cells._people_in_range(conn, region, first, 203106, via_ties=True) == cells._people_in_range(
                conn, region, first, 203106, via_ties=False
            )


def test_region_summary_suppresses_small_cells(conn: Connection) -> None:
    s = q.region_summary(conn, A, *YEAR, k=5)
    assert (s.participants, s.kankei, s.kankei_visiting, s.kankei_non_visiting) == (9, None, None, 0)
    assert stages(s.stages) == {"none": None, "visitor": 5, "repeater": None, "kankei": None, "core": None}
    # new once 5, new and back 3, back from before 0: the 3 is hidden, and with it both figures
    assert (s.active, s.new, s.returning, s.records) == (8, None, None, 13)
    assert {t.mlit_type: t.records for t in s.type_mix}[MlitType.HOBBY_CONSUMPTION] is None
    assert {b.band: (b.people, b.share_of_visitors) for b in s.visit_bands} == {
        "0": (None, None), "1": (5, pytest.approx(5 / 7)), "2-7": (None, None), "8+": (0, 0.0),
    }  # fmt: skip
    assert s.coins.issued == 5350  # 8 people were active
    spring = q.region_summary(conn, A, *SPRING, k=7)
    assert (spring.active, spring.new, spring.returning) == (None, None, None)
    assert spring.coins == q.CoinTotals(None, None, None, None, None, None, None)  # 5 active people < 7
    with pytest.raises(ValueError, match="after"):
        q.region_summary(conn, A, date(2031, 2, 1), date(2031, 1, 1))


def test_region_monthly_series(conn: Connection) -> None:
    months = q.region_monthly(conn, A, date(2031, 1, 15), date(2031, 9, 1))  # cut at the head: June
    assert [m.month for m in months] == [203101, 203102, 203103, 203104, 203105, 203106]
    assert [(m.participants, m.active, m.new, m.returning, m.kankei) for m in months] == [
        (4, 4, 4, 0, 0),
        (5, 2, 1, 1, 0),
        (5, 0, 0, 0, 0),
        (7, 4, 2, 2, 2),
        (9, 2, 1, 1, 2),  # p6's kin visit in May: a participant at stage none
        (9, 0, 0, 0, 2),
    ]
    assert stages(months[1].stages) == {"none": 0, "visitor": 4, "repeater": 1, "kankei": 0, "core": 0}
    assert stages(months[4].stages) == {"none": 1, "visitor": 5, "repeater": 1, "kankei": 1, "core": 1}
    assert [m.records for m in months] == [4, 2, 0, 4, 3, 0]  # whole months, live records
    assert [m.coins.issued for m in months] == [1500, 3000, 0, 400, 450, 0]
    assert [m.coins.clawed_back for m in months] == [0, 0, 1100, 0, 0, 0]
    suppressed = q.region_monthly(conn, A, *YEAR, k=5)
    assert [m.participants for m in suppressed] == [None, 5, 5, 7, 9, 9]
    assert suppressed[0].coins.issued is None and suppressed[2].coins.issued == 0  # nobody active: nothing to hide
    assert q.region_monthly(conn, A, date(2031, 8, 1), date(2031, 9, 1)) == []


def test_cohort_retention(conn: Connection) -> None:
    cohorts = q.cohort_retention(conn, A, *YEAR)
    assert [(c.month, c.size, [m.active for m in c.months]) for c in cohorts] == [
        (203101, 4, [4, 1, 0, 2, 0, 0]),
        (203102, 1, [1, 0, 0, 0, 0]),
        (203104, 2, [2, 1, 0]),
        (203105, 1, [1, 0]),
    ]
    january = cohorts[0].months
    assert (january[3].month, january[3].offset, january[3].share) == (203104, 3, 0.5)
    spring = q.cohort_retention(conn, A, *SPRING)
    assert [c.month for c in spring] == [203104, 203105]  # older cohorts are outside the range
    hidden = q.cohort_retention(conn, A, *YEAR, k=2)
    assert [(c.size, [m.active for m in c.months]) for c in hidden] == [
        (4, [4, None, 0, 2, 0, 0]),
        (None, [None] * 5),
        (2, [2, None, 0]),
        (None, [None, None]),
    ]
    assert hidden[0].months[1].share is None


def test_returning_activities(story: Story, conn: Connection) -> None:
    ranked = q.returning_activities(conn, A, *YEAR)
    a = story.activities
    assert [(r.activity_id, r.participants, r.returned, r.return_rate) for r in ranked] == [
        (a["a1"], 4, 2, 0.5),  # p0 and p1 came back; p4's record is revoked
        (a["a2"], 2, 1, 0.5),
        (a["a3"], 4, 1, 0.25),  # p7 came back for ふるさと納税
        (a["a4"], 2, 0, 0.0),
        (a["a5"], 1, 0, 0.0),
    ]
    assert (ranked[0].kind, ranked[0].kind_ja, ranked[0].mlit_type, ranked[0].reward) == (20, "祭り・イベント", 2, 300)
    assert [r.activity_id for r in q.returning_activities(conn, A, *YEAR, limit=2)] == [a["a1"], a["a2"]]
    spring = q.returning_activities(conn, A, *SPRING)
    assert [(r.activity_id, r.returned) for r in spring][:1] == [(a["a3"], 1)]
    small = q.returning_activities(conn, A, *YEAR, k=3)
    assert [(r.activity_id, r.participants, r.returned, r.return_rate) for r in small] == [
        (a["a1"], 4, None, None),
        (a["a3"], 4, None, None),
    ]


def test_issuer_audit(story: Story, conn: Connection) -> None:
    audit = q.issuer_audit(conn, A, *YEAR)
    first, second = audit.issuers
    assert (first.issuer, first.batches, first.records, first.coins_minted, first.revoked_records) == (
        story.issuer.address.lower(), 3, 12, 4900, 2,
    )  # fmt: skip
    assert near(first.first_batch_at, at(1, 10)) and near(first.last_batch_at, at(4, 20))
    assert first.is_issuer_now and first.last_batch_tx.startswith("0x")
    assert (second.issuer, second.batches, second.records, second.coins_minted, second.is_issuer_now) == (
        story.issuer2.address.lower(), 1, 3, 450, False,
    )  # fmt: skip
    revocations = [
        (r.participant, r.reason, r.reason_en, r.clawed_back, r.shortfall, r.kind, r.record_day)
        for r in audit.revocations
    ]
    assert revocations == [  # newest first
        (story.p(4), 2, "Not present", 300, 0, 20, 20310110),
        (story.p(2), 1, "Issued in error", 800, 200, 40, 20310214),
    ]  # fmt: skip
    assert (audit.revocations_total, audit.revocations_offset) == (2, 0)
    # bounded: a page of one, then the next, with the total unchanged; past the end, none
    newest, older = (q.issuer_audit(conn, A, *YEAR, revocations_limit=1, revocations_offset=o) for o in (0, 1))
    assert [r.participant for r in newest.revocations + older.revocations] == [story.p(4), story.p(2)]
    assert (newest.revocations_total, older.revocations_total, older.revocations_offset) == (2, 2, 1)
    beyond = q.issuer_audit(conn, A, *YEAR, revocations_offset=2)
    assert beyond.revocations == () and beyond.revocations_total == 2 and beyond.issuers == audit.issuers
    with pytest.raises(ValueError):
        q.issuer_audit(conn, A, *YEAR, revocations_limit=q.REVOCATIONS_PAGE_MAX + 1)
    assert all(r.admin == story.admin.address.lower() and r.day == 20310301 for r in audit.revocations)
    assert all(r.record_issuer == story.issuer.address.lower() for r in audit.revocations)
    assert [(c.role_kind, c.account, c.granted) for c in audit.role_changes] == [
        (1, story.admin.address.lower(), True),
        (2, story.issuer.address.lower(), True),
        (2, story.issuer2.address.lower(), True),
        (2, story.issuer2.address.lower(), False),
    ]
    assert audit.role_changes[-1].role_en == "Issuer" and near(audit.role_changes[-1].timestamp, at(5, 20))
    spring = q.issuer_audit(conn, A, *SPRING)
    assert [(i.issuer, i.batches, i.records) for i in spring.issuers] == [
        (story.issuer2.address.lower(), 1, 3),  # 450 coins
        (story.issuer.address.lower(), 1, 4),  # 400 coins
    ]
    assert spring.revocations == () and spring.revocations_total == 0 and len(spring.role_changes) == 1


# -- between regions -----------------------------------------------------------------------------


def test_region_overlap(conn: Connection) -> None:
    overlap = q.region_overlap(conn, A, *YEAR)
    assert overlap.people == 8  # p6 (kin only) is not counted
    assert [(o.region, o.region_name, o.shared) for o in overlap.others] == [
        (B, "南房総コイン", 3),
        (C, "長岡コイン", 2),
    ]
    assert overlap.others[0].share == pytest.approx(3 / 8)
    spring = q.region_overlap(conn, A, *SPRING)
    assert [(o.region, o.shared) for o in spring.others] == [(C, 2), (B, 1)]  # B's p1 and p5 were there in January
    assert q.region_overlap(conn, A, *YEAR, k=3).others[0].region == B
    assert [o.region for o in q.region_overlap(conn, A, *YEAR, k=3).others] == [B]
    assert q.region_overlap(conn, C, *YEAR, k=3).people is None
    winter = q.region_overlap(conn, A, date(2031, 1, 1), date(2031, 3, 31))  # from tie_months
    assert (winter.people, [(o.region, o.shared) for o in winter.others]) == (5, [(B, 2)])  # p0, p1


def test_national_graph(conn: Connection) -> None:
    graph = q.national_graph(conn, *YEAR)
    assert [(n.region, n.people) for n in graph.nodes] == [(A, 8), (B, 3), (C, 2)]
    assert [(link.source, link.target, link.shared) for link in graph.links] == [(A, B, 3), (A, C, 2), (B, C, 1)]
    exchange = q.national_graph(conn, *YEAR, mlit_type=MlitType.PARTICIPATION_EXCHANGE)
    assert [(n.region, n.people) for n in exchange.nodes] == [(A, 4), (B, 3)]  # p4's festival was revoked
    assert [(link.source, link.target, link.shared) for link in exchange.links] == [(A, B, 2)]
    furusato = q.national_graph(conn, *YEAR, kind=K.FURUSATO_NOZEI)
    assert [(n.region, n.people) for n in furusato.nodes] == [(A, 2)] and furusato.links == ()
    spring = q.national_graph(conn, *SPRING)
    assert [(link.source, link.target, link.shared) for link in spring.links] == [(A, C, 2), (A, B, 1), (B, C, 1)]
    winter = q.national_graph(conn, date(2031, 1, 1), date(2031, 3, 31))
    assert [(n.region, n.people) for n in winter.nodes] == [(A, 5), (B, 3)]
    assert [(link.source, link.target, link.shared) for link in winter.links] == [(A, B, 2)]
    public = q.national_graph(conn, *YEAR, k=3)
    assert [(n.region, n.people) for n in public.nodes] == [(A, 8), (B, 3), (C, None)]
    assert [(link.source, link.target) for link in public.links] == [(A, B)]
    # a filtered range across a new year reads the months of each year it covers, and no others
    for start, end in ((date(2030, 6, 1), date(2031, 3, 31)), (date(2031, 2, 1), date(2031, 2, 28))):
        for filters in ({"mlit_type": MlitType.PARTICIPATION_EXCHANGE}, {"mlit_type": MlitType.HOBBY_CONSUMPTION}):
            (column, value), *_ = filters.items()
            scanned = conn.execute(
                text(
                    f"SELECT c.region, COUNT(DISTINCT c.participant) FROM contributions c WHERE c.{column} = :v "
                    "AND c.day BETWEEN :d0 AND :d1 AND NOT EXISTS (SELECT 1 FROM revocations v "
                    "WHERE v.activity_id = c.activity_id AND v.participant = c.participant) GROUP BY c.region"
                ),
                {"v": int(value), "d0": q.day_int(start.replace(day=1)), "d1": q.day_int(end)},
            ).all()
            graph = q.national_graph(conn, start, end, **filters)
            assert [(n.region, n.people) for n in graph.nodes] == sorted((int(r), int(n)) for r, n in scanned)
    # the rollups (migration 0013) give the graph a scan of contributions gives, for any window and filter
    rng = random.Random(12)
    choices: list[dict[str, int]] = [{"kind": int(kind)} for kind in K] + [{"mlit_type": int(t)} for t in MlitType]
    for _ in range(60):
        first, last = sorted(rng.sample(range(date(2030, 11, 1).toordinal(), date(2031, 8, 1).toordinal()), 2))
        start, end = date.fromordinal(first), date.fromordinal(last)
        for chosen in rng.sample(choices, 4):
            (by, number), *_ = chosen.items()
            graph = q.national_graph(conn, start, end, **chosen)
            nodes, links = scan_national_graph(conn, by, number, graph.first_month, graph.last_month)
            assert [(n.region, n.people) for n in graph.nodes] == nodes, (start, end, chosen)
            assert [(x.source, x.target, x.shared) for x in graph.links] == links, (start, end, chosen)
    with pytest.raises(ValueError):
        q.national_graph(conn, *YEAR, kind=99)
    with pytest.raises(ValueError):
        q.national_graph(conn, *YEAR, kind=K.FURUSATO_NOZEI, mlit_type=MlitType.NON_VISITING)


# -- the index -------------------------------------------------------------------------------------


def test_index_status_and_regions(story: Story, conn: Connection) -> None:
    status = q.index_status(conn)
    (checkpoint,) = status.checkpoints
    head = story.devnet.w3.eth.get_block("latest")
    assert (checkpoint.block_number, checkpoint.block_hash, checkpoint.block_timestamp) == (
        head["number"], "0x" + bytes(head["hash"]).hex().removeprefix("0x"), head["timestamp"],
    )  # fmt: skip
    assert (checkpoint.lag_blocks, checkpoint.last_error, checkpoint.chain_id) == (0, None, 31337)
    assert (status.dirty_ties, status.dirty_days, status.undecodable_logs, status.caught_up) == (0, 0, 0, True)
    regions = q.list_regions(conn)
    assert [(r.region, r.name, r.transfers_enabled) for r in regions] == [
        (A, "館山コイン", True),
        (B, "南房総コイン", False),
        (C, "長岡コイン", False),
    ]
