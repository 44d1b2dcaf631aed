"""``region_daily_issuers.revoked_records`` (migration 0017) against a scan of ``revocations`` joined
with ``contributions`` (the issuer audit's query before 0017), as records arrive, are revoked (a record
of an earlier day: its day, not the revocation's, changes) and a revocation is rolled back; and the
migration's backfill against the refresher's rows. On SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, text

from ledger import jst
from ledger import queries as q
from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, RecordInput
from ledger.chain.devnet import PyEvmDevnet
from ledger.db.engine import alembic_config, current_revision, upgrade_to_head
from ledger.taxonomy import ContributionKind
from tests.indexer.helpers import database, make_indexer
from tests.indexer.test_indexer import DAY, NAGAOKA, TATEYAMA, build_history


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database(request.param, tmp_path) as db:
        yield db


def _rollup(engine: Engine) -> list[tuple[Any, ...]]:
    """The rows of region_daily_issuers, every column."""
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(text("SELECT * FROM region_daily_issuers")))


def _revoked(engine: Engine) -> dict[tuple[int, int, str], int]:
    """(region, day, issuer) -> revoked records, from the rollup (rows with none left out)."""
    with engine.connect() as conn:
        return {
            (int(r[0]), int(r[1]), str(r[2])): int(r[3])
            for r in conn.execute(
                text("SELECT region, day, issuer, revoked_records FROM region_daily_issuers WHERE revoked_records > 0")
            )
        }


def _scanned(engine: Engine) -> dict[tuple[int, int, str], int]:
    """The same from the event tables: every revocation joined with its record."""
    with engine.connect() as conn:
        return {
            (int(r[0]), int(r[1]), str(r[2])): int(r[3])
            for r in conn.execute(
                text(
                    "SELECT c.region, c.day, c.issuer, COUNT(*) FROM revocations v JOIN contributions c "
                    "ON c.chain_id = v.chain_id AND c.activity_id = v.activity_id AND c.participant = v.participant "
                    "GROUP BY c.region, c.day, c.issuer"
                )
            )
        }


def _scanned_audit(conn: Connection, region: int, start: date, end: date) -> dict[str, int]:
    """The issuer audit's revoked records per issuer as the audit computed them before migration 0017."""
    t0, t1 = jst.day_start(start), jst.day_start(end + timedelta(days=1))
    return {
        str(r[0]): int(r[1])
        for r in conn.execute(
            text(
                "SELECT c.issuer, COUNT(*) FROM revocations v JOIN contributions c ON c.chain_id = v.chain_id "
                "AND c.activity_id = v.activity_id AND c.participant = v.participant "
                "WHERE v.region = :r AND c.block_timestamp >= :t0 AND c.block_timestamp < :t1 GROUP BY c.issuer"
            ),
            {"r": region, "t0": t0, "t1": t1},
        )
    }


def _assert_audits_equal_scans(engine: Engine) -> int:
    """Every region and a few ranges: the audit's per-issuer revoked records are the scan's; returns
    how many issuers had one (so the check is not vacuous)."""
    revoked = 0
    with engine.connect() as conn:
        days = conn.execute(text("SELECT MIN(day), MAX(day) FROM contributions")).one()
        low, high = (jst.date_of_day_key(int(d)) for d in days)
        ranges = [(low, high), (low, low + timedelta(days=40)), (low + timedelta(days=20), high), (high, high)]
        for region in (TATEYAMA, NAGAOKA):
            for start, end in ranges:
                audit = q.issuer_audit(conn, region, start, end)
                shown = {i.issuer: i.revoked_records for i in audit.issuers if i.revoked_records}
                assert shown == _scanned_audit(conn, region, start, end), (region, start, end)
                revoked += len(shown)
    return revoked


def test_revoked_records_follow_revocations_and_rollbacks(engine: Engine, tmp_path: Path) -> None:
    devnet = PyEvmDevnet()
    try:
        history = build_history(devnet, months=3)  # revokes a 長岡 record of the second month
        client, relayer, admin, people = history.client, dev_account(1), dev_account(2), history.people
        indexer = make_indexer(devnet, history.deployment, engine)
        indexer.backfill()
        assert _revoked(engine) == _scanned(engine) and len(_scanned(engine)) == 1
        assert _assert_audits_equal_scans(engine) > 0
        with engine.connect() as conn:
            first_activity, first_day = conn.execute(
                text("SELECT activity_id, day FROM contributions WHERE region = :r ORDER BY day, activity_id LIMIT 1"),
                {"r": TATEYAMA},
            ).one()
        # a second issuer records a day later; then two revocations on a new day: one of the second
        # issuer's records and one of the first month's (an earlier day than the revocation's)
        snapshot = devnet.snapshot()
        now = history.start + 4 * 31 * DAY
        second = dev_account(3)
        client.grant_issuer(admin, TATEYAMA, second.address)
        devnet.set_next_block_timestamp(now)
        helping = client.register_activity(
            admin, ActivitySpec(TATEYAMA, ContributionKind.VOLUNTEERING, 40, now - DAY, now + 30 * DAY)
        )
        client.record_batch(second, TATEYAMA, [RecordInput(p.address, helping, 900 + i) for i, p in enumerate(people)])
        devnet.set_next_block_timestamp(now + 2 * DAY)
        client.revoke(admin, helping, people[2].address, 1, b"\x07" * 32)
        client.revoke(admin, int(first_activity), people[3].address, 3, b"\x08" * 32)
        indexer.backfill()
        scanned = _scanned(engine)
        assert _revoked(engine) == scanned and len(scanned) == 3
        assert scanned[(TATEYAMA, int(first_day), relayer.address.lower())] == 1  # the record's day, not today's
        assert scanned[(TATEYAMA, jst.day_key(now), second.address.lower())] == 1
        assert _assert_audits_equal_scans(engine) > 0
        # a rollback to before them: the revoked record's first-month day is counted back to 0
        devnet.revert(snapshot)
        devnet.mine(6)  # the new branch is longer than the old one
        devnet.set_next_block_timestamp(now + 3 * DAY)
        client.revoke(admin, int(first_activity), people[4].address, 2, b"\x09" * 32)  # another branch
        result = indexer.run_step()
        assert result is not None and result.rolled_back_to is not None
        indexer.backfill()
        scanned = _scanned(engine)
        assert _revoked(engine) == scanned and scanned[(TATEYAMA, int(first_day), relayer.address.lower())] == 1
        assert len(scanned) == 2 and all(issuer != second.address.lower() for _r, _d, issuer in scanned)
        assert _assert_audits_equal_scans(engine) > 0
        # the rolled-back rollup is that of a fresh index of the chain as it now is
        with database("sqlite", tmp_path) as fresh:
            make_indexer(devnet, history.deployment, fresh).backfill()
            assert _rollup(fresh) == _rollup(engine)
        # the migration's backfill equals the refresher's rows
        refreshed = _rollup(engine)
        command.downgrade(alembic_config(engine), "0016")
        assert current_revision(engine) == "0016"
        upgrade_to_head(engine)
        assert _rollup(engine) == refreshed
    finally:
        devnet.close()
