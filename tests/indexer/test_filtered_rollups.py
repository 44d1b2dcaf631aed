"""The rollups of the filtered national view (``filtered_month_people``, ``filtered_pair_months``,
migration 0013) against a scan of ``contributions``, as records arrive, are revoked and rolled back;
and the migration's backfill against the refresher's rows. On SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, text

from ledger import queries as q
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, RecordInput
from ledger.chain.devnet import PyEvmDevnet
from ledger.db.engine import alembic_config, current_revision, upgrade_to_head
from ledger.taxonomy import ContributionKind, MlitType
from tests.indexer.helpers import database, dump, make_indexer, scan_national_graph
from tests.indexer.test_indexer import DAY, NAGAOKA, TATEYAMA, build_history

ROLLUPS = ("filtered_month_people", "filtered_pair_months")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database(request.param, tmp_path) as db:
        yield db


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {table: sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {table}"))) for table in ROLLUPS}


def _assert_graphs_equal_scans(engine: Engine, rng: random.Random, rounds: int = 40) -> int:
    """Random windows and filters; returns how many graphs had a link (so the check is not vacuous)."""
    filters: list[dict[str, int]] = [{"kind": int(k)} for k in ContributionKind] + [
        {"mlit_type": int(t)} for t in MlitType
    ]
    with engine.connect() as conn:
        low, high = conn.execute(text("SELECT MIN(day), MAX(day) FROM contributions")).one()
        first = date(int(low) // 10_000, int(low) // 100 % 100, 1).toordinal() - 40
        last = date(int(high) // 10_000, int(high) // 100 % 100, 28).toordinal() + 40
        linked = 0
        for _ in range(rounds):
            start, end = (date.fromordinal(d) for d in sorted(rng.sample(range(first, last), 2)))
            for chosen in [*rng.sample(filters, 3), {"kind": int(ContributionKind.FESTIVAL_EVENT)}]:
                (column, value), *_ = chosen.items()
                graph = q.national_graph(conn, start, end, **chosen)
                nodes, links = scan_national_graph(conn, column, value, graph.first_month, graph.last_month)
                assert [(n.region, n.people) for n in graph.nodes] == nodes, (start, end, chosen)
                assert [(x.source, x.target, x.shared) for x in graph.links] == links, (start, end, chosen)
                linked += bool(links)
    return linked


def test_filtered_rollups_follow_records_revocations_and_rollbacks(engine: Engine, tmp_path: Path) -> None:
    devnet = PyEvmDevnet()
    try:
        history = build_history(devnet, months=4)
        client, relayer, admin, people = history.client, dev_account(1), dev_account(2), history.people
        indexer = make_indexer(devnet, history.deployment, engine)
        indexer.backfill()
        rng = random.Random(13)
        assert _assert_graphs_equal_scans(engine, rng) > 0
        # new records: a month later, a festival in Nagaoka for people so far only in Tateyama, and a
        # volunteering day in Tateyama; then one of them revoked
        snapshot = devnet.snapshot()
        now = history.start + 5 * 31 * DAY
        devnet.set_next_block_timestamp(now)
        festival = client.register_activity(
            admin, ActivitySpec(NAGAOKA, ContributionKind.FESTIVAL_EVENT, 30, now - DAY, now + 30 * DAY)
        )
        client.record_batch(relayer, NAGAOKA, [RecordInput(p.address, festival, 700 + i) for i, p in enumerate(people)])
        helping = client.register_activity(
            admin, ActivitySpec(TATEYAMA, ContributionKind.VOLUNTEERING, 40, now - DAY, now + 30 * DAY)
        )
        client.record_batch(relayer, TATEYAMA, [RecordInput(p.address, helping, 800 + i) for i, p in enumerate(people)])
        client.revoke(admin, festival, people[1].address, 3, b"\x07" * 32)
        indexer.backfill()
        assert _assert_graphs_equal_scans(engine, rng) > 0
        # a rollback to before them, and another branch with one record of another kind
        devnet.revert(snapshot)
        devnet.mine(3)
        devnet.set_next_block_timestamp(now + DAY)
        other = client.register_activity(
            admin, ActivitySpec(NAGAOKA, ContributionKind.SIDE_JOB, 9, now - DAY, now + 30 * DAY)
        )
        client.record_batch(relayer, NAGAOKA, [RecordInput(people[1].address, other, 900)])
        result = indexer.run_step()
        assert result is not None and result.rolled_back_to is not None
        indexer.backfill()
        assert _assert_graphs_equal_scans(engine, rng) > 0
        # the rolled-back rollups are those of a fresh run over the chain as it now is
        with database("sqlite", tmp_path) as fresh:
            make_indexer(devnet, history.deployment, fresh).backfill()
            assert _rows(fresh) == _rows(engine)
            assert dump(fresh)["filtered_pair_months"] == dump(engine)["filtered_pair_months"]
        # the migration's backfill from participant_kind_years equals the refresher's rows
        refreshed = _rows(engine)
        assert all(refreshed.values())
        command.downgrade(alembic_config(engine), "0012")
        assert current_revision(engine) == "0012"
        upgrade_to_head(engine)
        assert _rows(engine) == refreshed
    finally:
        devnet.close()
