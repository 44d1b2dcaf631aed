"""Hours of help and days of stays on the pages and in the JSON, over real HTTP, from a real chain.

The world: anvil with the ledger, 館山 and 長岡 registered, and on one JST day ``D`` in 館山
six helpers recorded by the hour (one revoked), six stayers recorded by the day (one revoked, one
with a second stay over the same days, one with a family visit of six days beside their stay);
in 長岡 two helpers (too few people to publish) and five at a festival. Indexed into a SQLite
file and served by uvicorn.
The person's つながり page and ``/ties`` show the ``ties`` row's ``help_hours`` / ``stay_days``;
the region page and the dashboard document show :func:`ledger.queries.region_units`, the same
numbers for the same period.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from fastapi.encoders import jsonable_encoder
from sqlalchemy import Engine, text

from api.app import create_app
from ledger import queries
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput
from ledger.chain.deploy import deploy_ledger
from ledger.chain.devnet import AnvilDevnet, free_port
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.settings import Settings
from ledger.taxonomy import ContributionKind, RewardUnit
from ledger.ties import JST
from tests.console.conftest import serving
from tests.indexer.helpers import make_indexer

TATEYAMA, NAGAOKA = 12205, 15202
K = 5  # the default public k
HELP_HOURS = [3, 1, 2, 4, 5, 6]  # people 0-5 in 館山; person 5's record is revoked
STAYS = {0: 5, 6: 4, 7: 3, 8: 2, 9: 2, 10: 7}  # person: days in 館山; person 10's record is revoked
SECOND_STAY = (0, 3)  # person 0 stays again, over days of the first stay
KIN_STAY = (6, 6)  # person 6's family visit of 6 days: counted nowhere
NAGAOKA_HOURS = [2, 3]  # people 11 and 12
NAGAOKA_FESTIVAL = range(13, 18)  # five more people in 長岡, at a festival: the page is not empty


@dataclass
class World:
    base: str
    engine: Engine
    people: list[str]  # lowercase addresses
    day: date  # the JST day every record was made


def _person(i: int) -> str:
    return str(Account.from_key(keccak(text=f"units-figures-{i}")).address)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("units")
    anvil = AnvilDevnet(port=free_port(), log_file=tmp / "anvil.log")
    anvil.start()
    try:
        platform, relayer, admin = dev_account(0), dev_account(1), dev_account(2)
        deployment = deploy_ledger(anvil.w3, platform)
        client = LedgerClient(anvil.w3, deployment.ledger, poll_s=0.02)
        for region in (TATEYAMA, NAGAOKA):
            client.register_region(platform, region, f"coin {region}", f"C{region}", admin.address)
            client.grant_issuer(admin, region, relayer.address)
        now = int(anvil.w3.eth.get_block("latest")["timestamp"])
        # Every record at JST noon two days on: one known day, far from midnight.
        noon = datetime.fromtimestamp(now, JST).replace(hour=12, minute=0, second=0, microsecond=0)
        moment = noon + timedelta(days=2)
        start, ends = now - 60, int(moment.timestamp()) + 30 * 86_400

        def activity(region: int, kind: ContributionKind, unit: RewardUnit) -> int:
            most = 1 if unit is RewardUnit.RECORD else 14
            spec = ActivitySpec(region, kind, 100, start, ends, unit=unit, max_units=most)
            return client.register_activity(admin, spec)

        help_activity = activity(TATEYAMA, ContributionKind.VOLUNTEERING, RewardUnit.HOUR)
        stay = activity(TATEYAMA, ContributionKind.TELEWORK, RewardUnit.DAY)
        second_stay = activity(TATEYAMA, ContributionKind.SIDE_JOB, RewardUnit.DAY)
        kin_stay = activity(TATEYAMA, ContributionKind.KIN_VISIT, RewardUnit.DAY)
        nagaoka_help = activity(NAGAOKA, ContributionKind.VOLUNTEERING, RewardUnit.HOUR)
        festival = activity(NAGAOKA, ContributionKind.FESTIVAL_EVENT, RewardUnit.RECORD)
        people = [_person(i) for i in range(18)]
        claim = iter(range(1, 10_000))
        anvil.set_next_block_timestamp(int(moment.timestamp()))
        records = [RecordInput(people[i], help_activity, next(claim), h) for i, h in enumerate(HELP_HOURS)]
        records += [RecordInput(people[i], stay, next(claim), d) for i, d in STAYS.items()]
        records.append(RecordInput(people[SECOND_STAY[0]], second_stay, next(claim), SECOND_STAY[1]))
        records.append(RecordInput(people[KIN_STAY[0]], kin_stay, next(claim), KIN_STAY[1]))
        client.record_batch(relayer, TATEYAMA, records)
        nagaoka = [RecordInput(people[11 + i], nagaoka_help, next(claim), h) for i, h in enumerate(NAGAOKA_HOURS)]
        nagaoka += [RecordInput(people[i], festival, next(claim)) for i in NAGAOKA_FESTIVAL]
        client.record_batch(relayer, NAGAOKA, nagaoka)
        client.revoke(admin, help_activity, people[5], 2)
        client.revoke(admin, stay, people[10], 2)

        url = f"sqlite:///{tmp / 'index.db'}"
        engine = make_engine(url)
        upgrade_to_head(engine)
        indexer = make_indexer(anvil, deployment, engine)
        indexer.backfill()
        indexer.close()
        app = create_app(Settings(db={"url": url}))
        try:
            with serving(app) as base:
                yield World(base, engine, [p.lower() for p in people], moment.date())
        finally:
            app.state.engine.dispose()
            engine.dispose()
    finally:
        anvil.close()


def _ties(world: World, person: int) -> dict[int, dict[str, object]]:
    with httpx.Client(base_url=world.base) as http:
        response = http.get(f"/api/v1/people/{world.people[person]}/ties")
    assert response.status_code == 200, response.text
    return {int(t["region"]): t for t in response.json()}


def _page(world: World, path: str, **params: str) -> str:
    with httpx.Client(base_url=world.base) as http:
        response = http.get(path, params={"lang": "ja", **params})
    assert response.status_code == 200, response.text
    return response.text


def _year(world: World) -> dict[str, str]:
    """The 365 days ending on the records' day: the ties' window, and the region page's default."""
    return {"start": str(world.day - timedelta(days=364)), "end": str(world.day)}


def test_the_ties_json_carries_hours_and_days_of_the_ties_table(world: World) -> None:
    helper_and_stayer = _ties(world, 0)[TATEYAMA]
    assert (helper_and_stayer["help_hours"], helper_and_stayer["stay_days"]) == (3, 5)  # second stay: same days
    assert (helper_and_stayer["visit_days"]) == 5  # the stay's days are visit days
    assert {k: _ties(world, i)[TATEYAMA]["help_hours"] for k, i in (("helper", 1), ("revoked", 5))} == {
        "helper": 1,
        "revoked": 0,
    }
    assert _ties(world, 6)[TATEYAMA]["stay_days"] == 4  # the family visit's six days are not a stay
    revoked = _ties(world, 10)[TATEYAMA]
    assert (revoked["stay_days"], revoked["revoked_records"]) == (0, 1)
    with world.engine.connect() as conn:
        stored = {
            (str(r[0]), int(r[1])): (int(r[2]), int(r[3]))
            for r in conn.execute(text("SELECT participant, region, help_hours, stay_days FROM ties"))
        }
    for i, person in enumerate(world.people):
        for region, tie in _ties(world, i).items():
            assert (tie["help_hours"], tie["stay_days"]) == stored[person, region]


def test_the_person_page_shows_hours_and_days_only_when_there_are_some(world: World) -> None:
    both = _page(world, f"/people/{world.people[0]}")
    assert 'data-figure="help_hours" data-value="3"' in both and "お手伝い 3時間" in both
    assert 'data-figure="stay_days" data-value="5"' in both and "滞在 5日" in both
    helper = _page(world, f"/people/{world.people[1]}")
    assert "お手伝い 1時間" in helper and 'data-figure="stay_days"' not in helper
    stayer = _page(world, f"/people/{world.people[7]}", lang="en")
    assert "days of stays: 3" in stayer and 'data-figure="help_hours"' not in stayer
    for revoked in (5, 10):
        page = _page(world, f"/people/{world.people[revoked]}")
        assert 'data-figure="help_hours"' not in page and 'data-figure="stay_days"' not in page


def _kpi(page: str, card: str) -> tuple[str, str]:
    """(value, people) of a KPI card of the region page, as its data attributes carry them."""
    found = re.search(
        rf'id="kpi-{card}">.*?class="kpi-value" data-value="([^"]*)">.*?class="kpi-sub" data-people="([^"]*)"',
        page,
        re.S,
    )
    assert found is not None, card
    return found.group(1), found.group(2)


def test_the_region_json_and_page_agree_and_leave_out_revoked_records(world: World) -> None:
    year = _year(world)
    with httpx.Client(base_url=world.base) as http:
        document = http.get(f"/api/v1/regions/{TATEYAMA}/dashboard", params=year).json()
    live_hours = sum(HELP_HOURS[:5])  # person 5's six hours were revoked
    live_days = sum(d for i, d in STAYS.items() if i != 10)  # person 10's stay was revoked
    assert document["units"] == {
        "help_hours": {"total": live_hours, "people": 5},
        "stay_days": {"total": live_days, "people": 5},
    }
    assert set(document["definitions"]) >= {"help_hours", "stay_days"}
    with world.engine.connect() as conn:
        start, end = date.fromisoformat(year["start"]), date.fromisoformat(year["end"])
        expected = queries.region_dashboard(conn, TATEYAMA, start, end, k=K)
        # Over the ties' window, the region's figures are the sums of its ties' figures.
        sums = conn.execute(
            text("SELECT SUM(help_hours), SUM(stay_days) FROM ties WHERE region = :r"), {"r": TATEYAMA}
        ).one()
    assert document == json.loads(json.dumps(jsonable_encoder(expected)))
    assert (int(sums[0]), int(sums[1])) == (live_hours, live_days)
    for page in (_page(world, f"/regions/{TATEYAMA}", **year), _page(world, f"/regions/{TATEYAMA}")):
        assert _kpi(page, "help-hours") == (str(live_hours), "5")
        assert _kpi(page, "stay-days") == (str(live_days), "5")
        assert f"{live_hours}時間" in page and f"{live_days}日" in page


def test_stay_days_are_the_days_inside_the_period(world: World) -> None:
    day = world.day
    last_three = {"start": str(day - timedelta(days=2)), "end": str(day)}
    before = {"start": str(day - timedelta(days=2)), "end": str(day - timedelta(days=1))}
    with httpx.Client(base_url=world.base) as http:
        three = http.get(f"/api/v1/regions/{TATEYAMA}/dashboard", params=last_three).json()["units"]
        two = http.get(f"/api/v1/regions/{TATEYAMA}/dashboard", params=before).json()["units"]
    # stays of 5, 4, 3, 2, 2 days ending on D: within D-2..D, 3 + 3 + 3 + 2 + 2
    assert three["stay_days"] == {"total": 13, "people": 5}
    # within D-2..D-1 (the stays were recorded on D, after the period, and cover it): 2 + 2 + 2 + 1 + 1
    assert two["stay_days"] == {"total": 8, "people": 5}
    # hours are counted on the day they were recorded: none before D (zero is shown)
    assert two["help_hours"] == {"total": 0, "people": 0}
    page = _page(world, f"/regions/{TATEYAMA}", **before)
    assert _kpi(page, "help-hours") == ("0", "0") and _kpi(page, "stay-days") == ("8", "5")


def test_a_figure_of_few_people_is_hidden(world: World) -> None:
    year = _year(world)
    with httpx.Client(base_url=world.base) as http:
        units = http.get(f"/api/v1/regions/{NAGAOKA}/dashboard", params=year).json()["units"]
    assert units["help_hours"] == {"total": None, "people": None}  # two people < k
    assert units["stay_days"] == {"total": 0, "people": 0}
    with world.engine.connect() as conn:
        raw = queries.region_units(conn, NAGAOKA, date.fromisoformat(year["start"]), date.fromisoformat(year["end"]))
    assert raw.help_hours == queries.UnitFigure(sum(NAGAOKA_HOURS), 2)
    page = _page(world, f"/regions/{NAGAOKA}", **year)
    assert _kpi(page, "help-hours") == ("", "") and _kpi(page, "stay-days") == ("0", "0")
    assert f"{sum(NAGAOKA_HOURS)}時間" not in page
