"""The indexer against real chains (py-evm and anvil) and real databases (SQLite and PostgreSQL).

Covered: every event becomes rows with provenance; replays are no-ops; a crash at any point
(between handler writes, after a commit, or kill -9 of the process) ends in exactly the database
an uninterrupted run produces; reorgs (anvil_reorg, evm_snapshot/evm_revert, py-evm snapshots)
roll back to the common ancestor and re-apply, derived tables included; a failing node is retried
without skipping a range; undecodable logs are recorded, not dropped.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, text

from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient, RecordInput
from ledger.chain.decoding import event_topic
from ledger.chain.deploy import Deployment, deploy_ledger
from ledger.chain.devnet import AnvilDevnet, Devnet, PyEvmDevnet
from ledger.chain.signing import SupportRequest, sign_support
from ledger.errors import ChainUnavailable, ConfigError
from ledger.indexer.rpc import JsonRpc, RangeTooLarge, json_rpc_for
from ledger.taxonomy import ContributionKind
from tests.indexer.helpers import count, database, dump, make_indexer

DAY = 86_400
TATEYAMA, NAGAOKA = 12205, 15202


@dataclass
class History:
    devnet: Devnet
    deployment: Deployment
    client: LedgerClient
    people: list[LocalAccount]
    start: int


def _make_devnet(backend: str) -> Devnet:
    return PyEvmDevnet() if backend == "pyevm" else AnvilDevnet().start()


def build_history(devnet: Devnet, months: int = 4, people: int = 6) -> History:
    """A few months of a region's life: records every month, a revocation, supports, a transfer."""
    platform, relayer, admin = dev_account(0), dev_account(1), dev_account(2)
    deployment = deploy_ledger(devnet.w3, platform)
    client = LedgerClient(devnet.w3, deployment.ledger, poll_s=0.01)
    for region in (TATEYAMA, NAGAOKA):
        client.register_region(platform, region, f"coin {region}", f"C{region}", admin.address)
        client.grant_issuer(admin, region, relayer.address)
    start = int(devnet.w3.eth.get_block("latest")["timestamp"])
    persons = [Account.from_key(bytes([9] * 31 + [i + 1])) for i in range(people)]
    kinds = [ContributionKind.FESTIVAL_EVENT, ContributionKind.VOLUNTEERING, ContributionKind.FURUSATO_NOZEI]
    claim = 0
    for month in range(months):
        devnet.set_next_block_timestamp(start + month * 31 * DAY + 3600)
        for region in (TATEYAMA, NAGAOKA):
            spec = ActivitySpec(region, kinds[month % 3], 100 + month, start - DAY, start + 400 * DAY)
            activity = client.register_activity(admin, spec)
            group = persons if region == TATEYAMA else persons[::2]
            batch = []
            for person in group:
                claim += 1
                batch.append(RecordInput(person.address, activity, claim))
            client.record_batch(relayer, region, batch)
        if month == 1:
            client.revoke(admin, activity, group[0].address, 2, b"\x05" * 32)
            project = client.register_project(admin, TATEYAMA, b"\x06" * 32)
            person = persons[1]
            request = SupportRequest(person.address, project, 50, 0, start + 500 * DAY)
            client.support_by_sig(relayer, request, sign_support(person, request, 31337, client.address))
        if month == 2:
            client.set_transfers_enabled(admin, TATEYAMA, True)
            client.coin_transfer(relayer, TATEYAMA, persons[0].address, 0)
            client.set_region_paused(admin, NAGAOKA, True)
            client.set_region_paused(admin, NAGAOKA, False)
    return History(devnet, deployment, client, persons, start)


def all_logs(devnet: Devnet, deployment: Deployment) -> list[dict[str, object]]:
    rpc = json_rpc_for(devnet.w3, devnet.rpc_url)
    try:
        head = int(rpc.call("eth_blockNumber", []), 16)
        query = {"fromBlock": hex(0), "toBlock": hex(head), "address": deployment.ledger}
        return list(rpc.call("eth_getLogs", [query]))
    finally:
        rpc.close()


@pytest.fixture(params=["pyevm", "anvil"])
def history(request: pytest.FixtureRequest) -> Iterator[History]:
    devnet = _make_devnet(request.param)
    try:
        yield build_history(devnet)
    finally:
        devnet.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database(request.param, tmp_path) as db:
        yield db


# -- every event becomes rows ------------------------------------------------------------------


def test_every_log_becomes_exactly_one_row_with_provenance(history: History, engine: Engine) -> None:
    indexer = make_indexer(history.devnet, history.deployment, engine)
    logs = all_logs(history.devnet, history.deployment)
    assert indexer.backfill() == len(logs)
    rows = sum(count(engine, t) for t in ("region_registrations", "region_role_changes", "role_changes",
               "role_admin_changes", "activity_registrations", "contributions", "batches", "revocations",
               "project_registrations", "supports", "coin_transfers", "region_pause_changes",
               "region_transfer_settings", "pause_changes", "activity_closures", "project_closures"))  # fmt: skip
    assert rows == len(logs)
    assert count(engine, "undecodable_logs") == 0
    with engine.connect() as conn:
        provenance = {(r[0], r[1]) for r in conn.execute(text("SELECT tx_hash, log_index FROM contributions")).all()}
        blocks = {int(b, 16): h for b, h in ((str(log["blockNumber"]), str(log["blockHash"])) for log in logs)}
        for tx_hash, block, block_hash, timestamp, contract in conn.execute(
            text("SELECT tx_hash, block_number, block_hash, block_timestamp, contract FROM contributions")
        ):
            assert blocks[block] == block_hash and contract == history.deployment.ledger.lower()
            assert timestamp == history.devnet.w3.eth.get_block(block)["timestamp"]
            assert tx_hash.startswith("0x") and len(tx_hash) == 66
        recorded = conn.execute(
            text("SELECT participant, region, amount FROM contributions ORDER BY block_number, log_index")
        ).all()
        revoked = conn.execute(text("SELECT participant, clawed_back, reason, evidence_hash FROM revocations")).all()
        status = conn.execute(text("SELECT block_number FROM indexer_checkpoints")).scalar()
    assert len(provenance) == len(recorded) == 4 * (6 + 3) - 0  # 6 people in 館山, 3 in 長岡, each month
    assert {p for p, _, _ in recorded} <= {p.address.lower() for p in history.people}
    assert revoked == [(revoked[0][0], revoked[0][1], 2, "0x" + "05" * 32)]
    assert status == history.devnet.w3.eth.block_number


def test_entity_views_and_derived_tables_follow_the_events(history: History, engine: Engine) -> None:
    make_indexer(history.devnet, history.deployment, engine).backfill()
    client = history.client
    with engine.connect() as conn:
        regions = {
            r[0]: (r[1], r[2]) for r in conn.execute(text("SELECT region, paused, transfers_enabled FROM regions"))
        }
        assert regions == {TATEYAMA: (False, True), NAGAOKA: (False, False)}
        roles = conn.execute(
            text("SELECT region, role_kind, account FROM region_roles ORDER BY region, role_kind")
        ).all()
        assert [(r, k) for r, k, _ in roles] == [(TATEYAMA, 1), (TATEYAMA, 2), (NAGAOKA, 1), (NAGAOKA, 2)]
        raised = conn.execute(text("SELECT raised, supporters, closed FROM projects")).one()
        assert tuple(raised) == (50, 1, False)
        # coin movements add up to the chain's balances, person by person
        for person in history.people:
            for region in (TATEYAMA, NAGAOKA):
                balance = conn.execute(
                    text("SELECT COALESCE(SUM(delta), 0) FROM coin_movements WHERE account = :a AND region = :r"),
                    {"a": person.address.lower(), "r": region},
                ).scalar()
                assert balance == client.balance_of(person.address, region)
        supply = conn.execute(text("SELECT SUM(delta) FROM coin_movements WHERE region = :r"), {"r": TATEYAMA})
        assert supply.scalar() == client.total_supply(TATEYAMA)
        # derived: one tie per person and region with records, computed as of the head's day
        ties = conn.execute(text("SELECT participant, region, records, revoked_records, stage FROM ties")).all()
        assert len(ties) == 6 + 3
        assert sum(r[3] for r in ties) == 1
        daily = conn.execute(text("SELECT SUM(records), SUM(revoked_records) FROM region_daily")).one()
        assert tuple(daily) == (4 * 9 - 1, 1)
        coins = conn.execute(text("SELECT SUM(issued), SUM(spent), SUM(clawed_back) FROM region_daily_coins")).one()
        info_a, info_b = client.region_info(TATEYAMA), client.region_info(NAGAOKA)
        assert tuple(coins) == (info_a.minted + info_b.minted, info_a.spent, info_a.revoked + info_b.revoked)
        months = conn.execute(text("SELECT COUNT(DISTINCT month) FROM tie_months")).scalar()
        assert months == 4
        assert conn.execute(text("SELECT COUNT(*) FROM dirty_ties")).scalar() == 0


def test_a_second_deployment_is_not_indexed_into_the_same_tables(history: History, engine: Engine) -> None:
    make_indexer(history.devnet, history.deployment, engine).backfill()
    before = dump(engine)
    other = deploy_ledger(history.devnet.w3, dev_account(0))  # a redeploy on the same chain (v1 → v2, say)
    with pytest.raises(ConfigError, match="index a new deployment into an empty database"):
        make_indexer(history.devnet, other, engine).backfill()
    assert dump(engine) == before  # nothing of it written


def test_a_replay_changes_nothing(history: History, engine: Engine) -> None:
    indexer = make_indexer(history.devnet, history.deployment, engine)
    indexer.backfill()
    before = dump(engine)
    with engine.begin() as conn:  # forget the checkpoint: the next run reads every log again
        conn.execute(text("DELETE FROM indexer_checkpoints"))
    make_indexer(history.devnet, history.deployment, engine).backfill()
    assert dump(engine) == before


# -- crashes ---------------------------------------------------------------------------------------


class Crash(Exception):
    pass


@pytest.mark.parametrize("backend", ["pyevm", "anvil"])
def test_a_crash_anywhere_ends_in_the_same_database(backend: str, tmp_path: Path) -> None:
    devnet = _make_devnet(backend)
    try:
        history = build_history(devnet)
        with database("sqlite", tmp_path) as reference:
            make_indexer(devnet, history.deployment, reference, initial_range=3, max_range=3).backfill()
            expected = dump(reference)
        total_logs = len(all_logs(devnet, history.deployment))
        for crash_at in (1, 7, total_logs // 2, total_logs - 1):
            with database("sqlite", tmp_path) as engine:
                calls = {"n": 0}

                def fault(where: str, at: int = crash_at, calls: dict[str, int] = calls) -> None:
                    if where == "handler":
                        calls["n"] += 1
                        if calls["n"] == at:
                            raise Crash(f"crash after handler call {at}")

                crashing = make_indexer(devnet, history.deployment, engine, initial_range=3, max_range=3)
                crashing.fault = fault
                with pytest.raises(Crash):
                    crashing.backfill()
                make_indexer(devnet, history.deployment, engine, initial_range=5, max_range=5).backfill()
                assert dump(engine) == expected, f"crash at handler call {crash_at}"
    finally:
        devnet.close()


def test_a_crash_during_the_derived_refresh_is_finished_by_the_next_run(history: History, engine: Engine) -> None:
    reference_indexer = make_indexer(history.devnet, history.deployment, engine)
    reference_indexer.refresh = None
    reference_indexer.backfill()
    assert count(engine, "dirty_ties") > 0 and count(engine, "ties") == 0
    refresher = make_indexer(history.devnet, history.deployment, engine).refresh
    assert refresher is not None
    refresher.batch = 2  # type: ignore[attr-defined]
    original = refresher._write_ties  # type: ignore[attr-defined]
    calls = {"n": 0}

    def crash_on_second(*args: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash("refresh crashed")
        original(*args)

    refresher._write_ties = crash_on_second  # type: ignore[attr-defined]
    with pytest.raises(Crash):
        refresher()
    assert count(engine, "ties") == 2 and count(engine, "dirty_ties") == 9 - 2
    make_indexer(history.devnet, history.deployment, engine).backfill()
    assert count(engine, "ties") == 9 and count(engine, "dirty_ties") == 0


# -- reorgs ------------------------------------------------------------------------------------------


def _fresh_dump(devnet: Devnet, deployment: Deployment, tmp_path: Path) -> dict[str, list[tuple[object, ...]]]:
    with database("sqlite", tmp_path) as fresh:
        make_indexer(devnet, deployment, fresh).backfill()
        return dump(fresh)


@pytest.mark.parametrize("backend", ["pyevm", "anvil"])
def test_snapshot_revert_reorg_rolls_back_and_reapplies(backend: str, engine: Engine, tmp_path: Path) -> None:
    devnet = _make_devnet(backend)
    try:
        history = build_history(devnet, months=2)
        client, relayer, admin = history.client, dev_account(1), dev_account(2)
        snapshot = devnet.snapshot()
        now = int(devnet.w3.eth.get_block("latest")["timestamp"])
        doomed = client.register_activity(
            admin, ActivitySpec(TATEYAMA, ContributionKind.TELEWORK, 999, now - 10, now + DAY)
        )
        client.record_batch(
            relayer, TATEYAMA, [RecordInput(p.address, doomed, 900 + i) for i, p in enumerate(history.people)]
        )
        indexer = make_indexer(devnet, history.deployment, engine)
        indexer.backfill()
        assert count(engine, "contributions") == 2 * 9 + 6
        devnet.revert(snapshot)
        # the other branch: a different activity and fewer people, in more blocks than before
        devnet.mine(3)
        other = client.register_activity(
            admin, ActivitySpec(TATEYAMA, ContributionKind.SIDE_JOB, 7, now - 10, now + DAY)
        )
        client.record_batch(relayer, TATEYAMA, [RecordInput(history.people[0].address, other, 1000)])
        result = indexer.run_step()
        assert result is not None and result.rolled_back_to is not None
        indexer.backfill()
        assert dump(engine) == _fresh_dump(devnet, history.deployment, tmp_path)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM contributions WHERE amount = 999")).scalar() == 0
            assert conn.execute(text("SELECT COUNT(*) FROM contributions WHERE amount = 7")).scalar() == 1
    finally:
        devnet.close()


def test_anvil_reorg_replaces_the_last_blocks(engine: Engine, tmp_path: Path) -> None:
    devnet = AnvilDevnet().start()
    try:
        history = build_history(devnet, months=2)
        indexer = make_indexer(devnet, history.deployment, engine)
        indexer.backfill()
        assert (count(engine, "revocations"), count(engine, "supports")) == (1, 1)
        # The last three blocks (the revocation, a project and a support) are replaced by empty ones.
        devnet.reorg(3)
        indexer.backfill()
        assert (count(engine, "revocations"), count(engine, "supports")) == (0, 0)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT SUM(revoked_records), SUM(coins_given) FROM ties")).one() == (0, 0)
        assert dump(engine) == _fresh_dump(devnet, history.deployment, tmp_path)
    finally:
        devnet.close()


# -- a failing node ------------------------------------------------------------------------------------


class Flaky:
    """A real node behind a proxy that fails calls and refuses large ranges, like public RPCs do."""

    def __init__(self, inner: JsonRpc, failure_rate: float, max_range: int) -> None:
        self.inner = inner
        self.random = random.Random(7)
        self.failure_rate = failure_rate
        self.max_range = max_range
        self.calls = 0
        self.failures = 0
        self.refused = 0

    def _tick(self) -> None:
        self.calls += 1
        if self.random.random() < self.failure_rate:
            self.failures += 1
            raise ChainUnavailable("connection reset by peer (injected)")

    def call(self, method: str, params: list[object]) -> object:
        self._tick()
        if method == "eth_getLogs":
            query = params[0]
            assert isinstance(query, dict)
            if int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1 > self.max_range:
                self.refused += 1
                raise RangeTooLarge(method, {"message": "query returned more than 10000 results"})
        return self.inner.call(method, params)

    def batch(self, calls: list[tuple[str, list[object]]]) -> list[object]:
        self._tick()
        return self.inner.batch(calls)  # type: ignore[arg-type]

    def close(self) -> None:
        self.inner.close()


def test_errors_are_retried_ranges_adapt_and_nothing_is_skipped(
    history: History, engine: Engine, tmp_path: Path
) -> None:
    flaky = Flaky(json_rpc_for(history.devnet.w3, history.devnet.rpc_url), failure_rate=0.25, max_range=4)
    indexer = make_indexer(history.devnet, history.deployment, engine, rpc=flaky, initial_range=64)  # type: ignore[arg-type]
    indexer.backfill()
    assert flaky.failures > 0 and flaky.refused > 0
    assert dump(engine) == _fresh_dump(history.devnet, history.deployment, tmp_path)


def test_a_stopped_node_is_waited_for(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    devnet = AnvilDevnet(state_file=state).start()
    port = devnet.port
    try:
        history = build_history(devnet, months=2)
        with database("sqlite", tmp_path) as engine:
            indexer = make_indexer(devnet, history.deployment, engine)
            indexer.backfill()
            devnet.close()  # anvil writes its state and stops
            with pytest.raises(ChainUnavailable):
                indexer.step()
            devnet = AnvilDevnet(port=port, state_file=state).start()
            indexer.backfill()
            assert count(engine, "contributions") == 2 * 9
    finally:
        devnet.close()


# -- logs that do not decode ------------------------------------------------------------------------------


def test_undecodable_logs_are_recorded_not_dropped(tmp_path: Path) -> None:
    devnet = AnvilDevnet().start()
    try:
        history = build_history(devnet, months=1)
        topic = event_topic(next(e for e in history.client.contract.abi if e.get("name") == "ContributionRecorded"))[2:]
        unknown = "ab" * 32
        # Code that emits a ContributionRecorded topic with no data, then a topic nobody knows.
        participant_topic = "00" * 12 + "11" * 20
        # LOG1(known topic, no data), LOG1(unknown topic), LOG2(known topic + participant, 5 data bytes)
        code = f"7f{topic}60006000a17f{unknown}60006000a17f{participant_topic}7f{topic}60056000a200"
        devnet.w3.provider.make_request("anvil_setCode", [history.deployment.ledger, "0x" + code])  # type: ignore[arg-type]
        tx = {"to": history.deployment.ledger, "gas": 100_000, "chainId": 31337}
        sender = dev_account(5)
        tx["nonce"] = devnet.w3.eth.get_transaction_count(sender.address)
        tx["maxFeePerGas"] = 10**10
        tx["maxPriorityFeePerGas"] = 1
        devnet.w3.eth.wait_for_transaction_receipt(
            devnet.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)  # type: ignore[arg-type]
        )
        with database("sqlite", tmp_path) as engine:
            make_indexer(devnet, history.deployment, engine).backfill()
            with engine.connect() as conn:
                bad = conn.execute(text("SELECT topic0, reason FROM undecodable_logs ORDER BY log_index")).all()
        assert [b[0] for b in bad] == ["0x" + topic, "0x" + unknown, "0x" + topic]
        assert "1 topics, expected 2" in bad[0][1] and "unknown topic" in bad[1][1]
        assert "5 data bytes, expected 64" in bad[2][1]
    finally:
        devnet.close()


def test_a_refresh_budget_spreads_the_work(history: History, engine: Engine) -> None:
    indexer = make_indexer(history.devnet, history.deployment, engine)
    refresher = indexer.refresh
    indexer.refresh = None
    indexer.backfill()
    assert refresher is not None
    refresher.batch = 1  # type: ignore[attr-defined]
    partial = refresher(0.0)  # a zero budget does no work at all
    assert (partial.ties, partial.days) == (0, 0) and count(engine, "dirty_ties") == 9
    rounds = 0
    while count(engine, "dirty_ties") or count(engine, "dirty_days"):
        refresher(0.001)
        rounds += 1
        assert rounds < 1000
    assert count(engine, "ties") == 9 and rounds > 1


class ReorgDuringRead:
    """The node reorganises its last blocks right after answering the first ``eth_getLogs``."""

    def __init__(self, inner: JsonRpc, devnet: AnvilDevnet, depth: int) -> None:
        self.inner = inner
        self.devnet = devnet
        self.depth = depth
        self.log_reads = 0

    def call(self, method: str, params: list[object]) -> object:
        answer = self.inner.call(method, params)
        if method == "eth_getLogs":
            self.log_reads += 1
            if self.log_reads == 1:
                self.devnet.control().set_next_block_timestamp(self.devnet.control().head_timestamp() + 7)
                self.devnet.reorg(self.depth)
        return answer

    def batch(self, calls: list[tuple[str, list[object]]]) -> list[object]:
        return self.inner.batch(calls)

    def close(self) -> None:
        self.inner.close()


def test_a_reorg_of_blocks_without_logs_while_a_chunk_is_read_is_caught(tmp_path: Path) -> None:
    """The chunk's last block is read before and after its logs: a reorg in between that touched
    only blocks without ledger logs (so no log's block hash gives it away) still discards the chunk."""
    devnet = AnvilDevnet().start()
    try:
        history = build_history(devnet, months=1)
        before = devnet.w3.eth.block_number
        for _ in range(3):
            devnet.control().mine()
        node = ReorgDuringRead(json_rpc_for(devnet.w3, devnet.rpc_url), devnet, depth=2)
        with database("sqlite", tmp_path) as engine:
            make_indexer(devnet, history.deployment, engine, rpc=node).backfill()
            assert node.log_reads >= 2  # the first read was thrown away
            with engine.connect() as conn:
                checkpoint = conn.execute(text("SELECT block_number, block_hash FROM indexer_checkpoints")).one()
            head = devnet.w3.eth.get_block("latest")
            assert checkpoint[0] == head["number"] > before
            assert checkpoint[1] == "0x" + bytes(head["hash"]).hex()
            assert dump(engine) == _fresh_dump(devnet, history.deployment, tmp_path)
    finally:
        devnet.close()


@pytest.mark.postgres
def test_postgres_copy_writes_what_executemany_writes(history: History, tmp_path: Path) -> None:
    """The COPY path of big chunks (here every table's rows, however few) against the plain inserts,
    and a replay through it changes nothing."""
    with database("postgres", tmp_path) as plain, database("postgres", tmp_path) as copied:
        inserted = make_indexer(history.devnet, history.deployment, plain)
        inserted.store.copy_from_rows = 10**9
        inserted.backfill()
        by_copy = make_indexer(history.devnet, history.deployment, copied)
        by_copy.store.copy_from_rows = 1
        by_copy.backfill()
        expected = dump(plain)
        assert count(copied, "contributions") > 0 and dump(copied) == expected
        with copied.begin() as conn:  # forget the checkpoint: every log is read and copied again
            conn.execute(text("DELETE FROM indexer_checkpoints"))
        again = make_indexer(history.devnet, history.deployment, copied)
        again.store.copy_from_rows = 1
        again.backfill()
        assert dump(copied) == expected
        with copied.connect() as conn:  # ids follow the chain, as with executemany
            order = [
                tuple(r) for r in conn.execute(text("SELECT block_number, log_index FROM contributions ORDER BY id"))
            ]
        assert order == sorted(order)
