"""``tsunagari demo seed`` on a real, fresh managed anvil: a small deterministic year through the
check-in intake and the relayer, read back through the index."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ledger.chain.context import ChainContext, open_chain
from ledger.chain.deploy import deploy_ledger, save_deployment
from ledger.chain.devnet import ManagedDevnet, free_port
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.demo import index_demo
from ledger.demo_seed.catalogue import SEED_REGIONS
from ledger.demo_seed.run import SeedResult, genesis_time_for, seed_state, seed_year
from ledger.errors import ConfigError
from ledger.settings import Settings
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
