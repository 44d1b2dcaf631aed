"""``tsunagari demo seed`` on a real, fresh managed anvil: a small deterministic year through the
check-in intake and the relayer, read back through the index."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import coincurve
import pytest
from eth_utils.crypto import keccak
from sqlalchemy import text

from ledger.chain.context import ChainContext, open_chain
from ledger.chain.deploy import deploy_ledger, save_deployment
from ledger.chain.devnet import ManagedDevnet, free_port
from ledger.checkin.intake import AcceptedClaim, ClaimRequest
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.demo import index_demo
from ledger.demo_seed.catalogue import SEED_REGIONS
from ledger.demo_seed.plan import make_plan
from ledger.demo_seed.run import (
    CODE_KINDS,
    DAYS,
    SeedResult,
    address_of,
    genesis_time_for,
    seed_state,
    seed_year,
)
from ledger.errors import ConfigError
from ledger.settings import Settings
from ledger.taxonomy import ContributionKind, RewardUnit
from ledger.ties import jst_date

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

PEOPLE = 40
SEED = 5  # a small year with revocations, supports and people in several regions


class Seeded:
    def __init__(self, root: Path, today: date) -> None:
        port = free_port()
        self.settings = Settings(
            devnet={"data_dir": root / "devnet", "port": port, "block_time_s": 1.0},
            chain={"rpc_url": f"http://127.0.0.1:{port}", "deployments_dir": root / "deployments"},
            db={"url": f"sqlite:///{root / 'index.db'}"},
            checkin={"secret_file": root / "kiosk.key"},
        )
        self.node = ManagedDevnet(root / "devnet", port=port, block_time_s=1.0, genesis_time=genesis_time_for(today))
        self.node.up()
        self.ctx: ChainContext = open_chain(self.settings)
        deployment = deploy_ledger(self.ctx.w3, self.ctx.operator("platform-admin"))
        save_deployment(root / "deployments", deployment)
        self.ctx.use_deployment(deployment)
        self.engine = make_engine(self.settings.db.url)
        upgrade_to_head(self.engine)
        self.result: SeedResult = seed_year(self.ctx, self.engine, seed=SEED, people=PEOPLE, today=today)

    def logs(self) -> list[tuple[Any, ...]]:
        """Every log of the ledger after its deployment, with its block's timestamp; block numbers are
        counted from the seed's first block (before it, interval mining adds wall-clock-many empty blocks)."""
        w3 = self.ctx.w3
        start = self.ctx.deployment.deploy_block + 1
        found = []
        logs = w3.eth.get_logs({"fromBlock": start, "toBlock": "latest"})
        for log in logs:
            block = w3.eth.get_block(log["blockNumber"])
            found.append(
                (
                    log["blockNumber"] - logs[0]["blockNumber"],
                    block["timestamp"],
                    log["logIndex"],
                    log["address"],
                    tuple(bytes(t) for t in log["topics"]),
                    bytes(log["data"]),
                )
            )
        return found

    def close(self) -> None:
        self.engine.dispose()
        self.node.down()


@pytest.fixture(scope="module")
def today() -> date:
    return jst_date(int(time.time()))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, today: date) -> Iterator[Seeded]:
    run = Seeded(tmp_path_factory.mktemp("seed-a"), today)
    try:
        yield run
    finally:
        run.close()


def test_a_seeded_year_through_the_index(seeded: Seeded, today: date) -> None:
    result = seeded.result
    assert result.records > PEOPLE and result.rejected_claims == 0
    assert result.revocations > 0 and result.supports > 0
    # chain time: the year is in the past, and the head caught up with the wall clock
    head = int(seeded.ctx.w3.eth.get_block("latest")["timestamp"])
    assert abs(head - time.time()) < 120
    logs, regions = index_demo(seeded.ctx, [r.region for r in SEED_REGIONS])
    assert logs > result.records
    with seeded.engine.connect() as conn:
        first, last = conn.execute(text("SELECT MIN(block_timestamp), MAX(block_timestamp) FROM contributions")).one()
        assert (last - first) / 86_400 > 300  # the records span about a year
        assert jst_date(last) < today
        days = conn.execute(text("SELECT COUNT(DISTINCT day) FROM contributions")).scalar_one()
        assert days > 100
        bands: dict[str, int] = dict(
            conn.execute(text("SELECT visit_band, COUNT(*) FROM ties WHERE visit_days > 0 GROUP BY visit_band")).all()
        )
        visitors = sum(bands.values())
        assert bands.get("2-7", 0) / visitors > 0.3 and bands.get("1", 0) > 0 and bands.get("8+", 0) > 0
        assert conn.execute(text("SELECT COUNT(*) FROM participants WHERE regions > 1")).scalar_one() > 0
        revocations = conn.execute(text("SELECT COUNT(DISTINCT reason) FROM revocations")).scalar_one()
        assert revocations >= 1
        assert conn.execute(text("SELECT COUNT(*) FROM supports")).scalar_one() == result.supports
        named = conn.execute(
            text("SELECT COUNT(*) FROM activities a JOIN activity_metadata m ON m.metadata_hash = a.metadata_hash")
        ).scalar_one()
        assert named == result.activities  # every activity's name is kept off chain, by its hash
    assert sum(r.records for r in regions) + result.revocations == conn_records(seeded)  # live + revoked


def conn_records(seeded: Seeded) -> int:
    with seeded.engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM contributions")).scalar_one())


def test_seeding_is_idempotent(seeded: Seeded, today: date) -> None:
    assert seed_state(seeded.ctx, today) == "seeded"
    with pytest.raises(ConfigError, match="seeded only once"):
        seed_year(seeded.ctx, seeded.engine, seed=SEED, people=PEOPLE, today=today)


def test_the_same_seed_gives_the_same_chain(
    seeded: Seeded, tmp_path_factory: pytest.TempPathFactory, today: date
) -> None:
    other = Seeded(tmp_path_factory.mktemp("seed-b"), today)
    try:
        assert other.result.records == seeded.result.records
        mine, theirs = seeded.logs(), other.logs()
        # the catch-up block at the end is at wall-clock time; everything the seed wrote is identical
        assert [entry for entry in mine if entry[1] < time.time() - 3600] == [
            entry for entry in theirs if entry[1] < time.time() - 3600
        ]
        assert len(mine) == len(theirs)
    finally:
        other.close()


def test_the_demo_writes_a_certificate_that_verifies(seeded: Seeded, tmp_path: Path, today: date) -> None:
    """What `tsunagari demo` writes: an eligible seeded participant's certificate, signed with their
    throwaway key, valid and Premium against the node; a region with nobody eligible gets none."""
    from ledger.certificate.roster import eligibility_roster
    from ledger.certificate.verify import verify_certificate
    from ledger.demo_certificate import write_demo_certificate
    from ledger.indexer.rpc import HttpJsonRpc

    index_demo(seeded.ctx, [r.region for r in SEED_REGIONS])
    with seeded.engine.connect() as conn:
        counts = {r.code: sum(row.eligible for row in eligibility_roster(conn, r.code, today)) for r in SEED_REGIONS}
    region = max(counts, key=lambda code: counts[code])
    assert counts[region] > 0, counts

    def write(code: int) -> Any:
        return write_demo_certificate(
            seeded.engine,
            chain_id=seeded.ctx.chain_id,
            ledger=seeded.ctx.deployment.ledger,
            seed=SEED,
            people=PEOPLE,
            region=code,
            folder=tmp_path,
            site="http://127.0.0.1:8000",
            rpc_url=seeded.settings.chain.rpc_url,
        )

    example = write(region)
    assert example is not None and example.path.is_file() and example.verifier is not None
    rpc = HttpJsonRpc(seeded.settings.chain.rpc_url)
    try:
        report = verify_certificate(example.certificate, rpc, trusted_ledger=seeded.ctx.deployment.ledger, as_of=today)
    finally:
        rpc.close()
    assert report.valid and report.premium, report.to_json()
    nobody = [code for code, n in counts.items() if n == 0]
    assert nobody, counts  # the small seed leaves some regions without anyone eligible
    assert write(nobody[0]) is None


# The tests below come after the determinism test on purpose: the last one registers activities
# at wall-clock time, which would add logs to one of the two chains it compares.


def test_codes_hours_and_stays_go_through_their_own_paths(seeded: Seeded) -> None:
    """ふるさと納税 and the other non-visiting claims redeem single-use codes, volunteers check in and
    out for their hours and stays for their days, and the chain holds each planned claim once with
    its planned units."""
    result = seeded.result
    plan = make_plan(SEED, PEOPLE, result.first_day, DAYS)
    planned_codes = sum(1 for c in plan.claims if c.instance.template.kind in CODE_KINDS)
    planned_units: Counter[int] = Counter()
    planned_records: Counter[int] = Counter()
    for claim in plan.claims:
        planned_units[int(claim.instance.template.unit)] += claim.units
        planned_records[int(claim.instance.template.unit)] += 1
    assert result.code_claims == planned_codes > 0
    assert result.hour_checkins > 0 and result.stay_checkins > 0
    assert result.hour_checkins + result.stay_checkins + result.fixed_unit_claims == (
        planned_records[RewardUnit.HOUR] + planned_records[RewardUnit.DAY]
    )
    index_demo(seeded.ctx, [r.region for r in SEED_REGIONS])
    with seeded.engine.connect() as conn:
        # codes: one batch per claimed non-visiting activity, every planned claim redeemed one, and
        # spare (unused) and voided codes are left for the console to show
        states = {
            str(state): int(count)
            for state, count in conn.execute(text("SELECT state, COUNT(*) FROM claim_codes GROUP BY state"))
        }
        assert states["redeemed"] == planned_codes
        assert states["issued"] > 0 and states["voided"] > 0
        batches = conn.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT activity_id) FROM claim_code_batches WHERE created_by = 'demo-seed'")
        ).one()
        assert tuple(batches) == (result.code_batches, result.code_batches)
        redeemed = conn.execute(
            text(
                "SELECT c.participant, c.activity_id, k.status, k.participant AS claimant, k.activity_id AS claimed, "
                "a.kind, r.units FROM claim_codes c JOIN claims k ON k.id = c.claim_id "
                "JOIN activities a ON a.activity_id = c.activity_id "
                "LEFT JOIN contributions r ON r.activity_id = c.activity_id AND r.participant = c.participant "
                "WHERE c.state = 'redeemed'"
            )
        ).all()
        assert len(redeemed) == planned_codes
        for row in redeemed:
            assert row.status == "confirmed" and (row.claimant, row.claimed) == (row.participant, row.activity_id)
            assert row.kind in CODE_KINDS and row.units == 1  # on chain, once
        # presence: every session recorded, its units those on chain, a stay's days ending on its block's day
        sessions = conn.execute(
            text(
                "SELECT s.state, s.unit, s.units, s.first_day, s.last_day, k.units AS claimed, k.status, "
                "r.units AS recorded, r.day FROM presence_sessions s JOIN claims k ON k.id = s.claim_id "
                "LEFT JOIN contributions r ON r.activity_id = s.activity_id AND r.participant = s.participant"
            )
        ).all()
        total = conn.execute(text("SELECT COUNT(*) FROM presence_sessions")).scalar_one()
        assert total == len(sessions) == result.hour_checkins + result.stay_checkins
        by_unit = Counter(int(row.unit) for row in sessions)
        assert by_unit == {RewardUnit.HOUR: result.hour_checkins, RewardUnit.DAY: result.stay_checkins}
        for row in sessions:
            assert row.state == "recorded" and row.status == "confirmed"
            assert row.units == row.claimed == row.recorded >= 1
            if row.unit == RewardUnit.DAY:
                assert row.last_day - row.first_day + 1 == row.units
                last = date(1970, 1, 1) + timedelta(days=row.last_day)
                assert row.day == int(last.strftime("%Y%m%d"))  # recorded on the stay's last day
        # the year's records and units are the plan's: each once
        twice = conn.execute(
            text(
                "SELECT COUNT(*) FROM (SELECT 1 FROM contributions GROUP BY activity_id, participant "
                "HAVING COUNT(*) > 1) t"
            )
        ).scalar_one()
        assert twice == 0
        assert conn.execute(text("SELECT COUNT(*) FROM claims")).scalar_one() == len(plan.claims)
        on_chain = {
            int(unit): (int(records), int(units))
            for unit, records, units in conn.execute(
                text("SELECT unit, COUNT(*), SUM(units) FROM contributions GROUP BY unit")
            ).all()
        }
        assert on_chain == {unit: (planned_records[unit], planned_units[unit]) for unit in planned_records}


def test_the_demo_prints_a_claim_code_and_a_presence_kiosk(seeded: Seeded) -> None:
    """What `tsunagari demo` prints beside its kiosk: a ふるさと納税 code that a phone can redeem once,
    and a volunteering activity's presence kiosk; the next start prints the next unused code."""
    from ledger.checkin.service import build_checkin
    from ledger.demo import demo_links

    index_demo(seeded.ctx, [r.region for r in SEED_REGIONS])
    service = build_checkin(
        seeded.settings, seeded.engine, seeded.ctx.chain_id, seeded.ctx.deployment.ledger, seeded.ctx.client
    )
    admin = seeded.ctx.operator("region-admin")
    now = int(time.time())
    links = demo_links(seeded.ctx.client, admin, seeded.engine, service, now)
    code = links.claim_code.replace("-", "")
    assert links.claim_code_url == f"{service.public_url}/c/{code}"
    assert f"/kiosk/{links.presence_activity}?k=" in links.presence_kiosk_url
    assert service.directory.get(links.code_activity).kind == ContributionKind.FURUSATO_NOZEI
    presence = service.directory.get(links.presence_activity)
    assert presence.unit == RewardUnit.HOUR and presence.kind == ContributionKind.VOLUNTEERING
    assert service.tokens.check_session(links.presence_kiosk_url.split("?k=")[1], presence.activity_id, now).units == 0
    # a phone redeems the code once
    private = coincurve.PrivateKey(keccak(text="tsunagari-demo-links-test"))
    address = address_of(private)
    digest = service.signing.digest(links.code_activity, code, address, now)
    raw = private.sign_recoverable(digest, hasher=None)
    signature = "0x" + (raw[:64] + bytes([raw[64] + 27])).hex()
    accepted = service.intake.accept(ClaimRequest(code, address, now, signature, links.code_activity), "test")
    assert isinstance(accepted, AcceptedClaim) and accepted.activity_id == links.code_activity
    assert service.intake.code_state(code) is not None
    # the next start (the index has the activities now) shows the same activities and a fresh code
    index_demo(seeded.ctx, [r.region for r in SEED_REGIONS])
    again = demo_links(seeded.ctx.client, admin, seeded.engine, service, now)
    assert (again.code_activity, again.presence_activity) == (links.code_activity, links.presence_activity)
    assert again.claim_code != links.claim_code
