"""Helpers for indexer tests: databases (SQLite file or a fresh PostgreSQL schema), full dumps, runs."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import combinations
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from ledger.chain.deploy import Deployment
from ledger.chain.devnet import Devnet
from ledger.db import models
from ledger.db.engine import make_engine, upgrade_to_head
from ledger.indexer.refresh import DerivedRefresher
from ledger.indexer.rpc import JsonRpc, json_rpc_for
from ledger.indexer.runner import Indexer, IndexerConfig
from ledger.indexer.spec import spec_for_deployment
from ledger.indexer.store import IndexStore

POSTGRES_URL = os.environ.get("TSUNAGARI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# Every table whose content must be identical between two runs over the same chain.
DUMPED_TABLES = [m.__tablename__ for m in models.EVENT_TABLES] + [
    "participants",
    "ties",
    "tie_months",
    "participant_kind_years",
    "filtered_month_people",
    "filtered_pair_months",
    "region_daily",
    "region_daily_coins",
    "region_daily_issuers",
    "dirty_ties",
    "dirty_days",
    "indexed_blocks",
]


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file, or a throwaway schema on the local PostgreSQL."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / f'index-{uuid.uuid4().hex[:8]}.db'}")
        upgrade_to_head(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        upgrade_to_head(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every indexed and derived table (row ids left out), plus the checkpoint."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in DUMPED_TABLES:
            columns = [
                r[0]
                for r in conn.execute(text(f"SELECT * FROM {table} LIMIT 0")).cursor.description  # type: ignore[union-attr]
                if r[0] != "id"
            ]
            rows = conn.execute(text(f"SELECT {', '.join(columns)} FROM {table}")).all()
            result[table] = sorted((tuple(_plain(v) for v in row) for row in rows), key=repr)
        result["indexer_checkpoints"] = [
            tuple(r)
            for r in conn.execute(
                text("SELECT chain_id, contract, block_number, block_hash, block_timestamp FROM indexer_checkpoints")
            )
        ]
    return result


def scan_national_graph(
    conn: Connection, column: str, value: int, first: int, last: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int, int]]]:
    """The filtered national view's (region, people) and (source, target, shared) from a scan of
    ``contributions``: people with a live record of the kind (``column`` 'kind') or type
    ('mlit_type') in a month ``first..last`` (``YYYYMM``), per region and per pair of regions."""
    regions_of: dict[str, set[int]] = {}
    for participant, region in conn.execute(
        text(
            f"SELECT DISTINCT c.participant, c.region FROM contributions c WHERE c.{column} = :v "
            "AND c.day / 100 BETWEEN :m0 AND :m1 AND NOT EXISTS (SELECT 1 FROM revocations v "
            "WHERE v.activity_id = c.activity_id AND v.participant = c.participant)"
        ),
        {"v": value, "m0": first, "m1": last},
    ):
        regions_of.setdefault(str(participant), set()).add(int(region))
    people: Counter[int] = Counter()
    shared: Counter[tuple[int, int]] = Counter()
    for regions in regions_of.values():
        people.update(regions)
        shared.update(combinations(sorted(regions), 2))
    links = sorted(((a, b, n) for (a, b), n in shared.items()), key=lambda x: (-x[2], x[0], x[1]))
    return sorted(people.items()), links


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, bool):
        return int(value)
    return value


OPEN_INDEXERS: list[Indexer] = []  # closed after each test by tests/indexer/conftest.py


def make_indexer(
    devnet: Devnet,
    deployment: Deployment,
    engine: Engine,
    rpc: JsonRpc | None = None,
    **config: Any,
) -> Indexer:
    spec = spec_for_deployment(deployment)
    indexer = Indexer(
        spec,
        IndexStore(engine, spec.chain_id),
        rpc or json_rpc_for(devnet.w3, devnet.rpc_url),
        IndexerConfig(backoff_initial_s=0.01, backoff_max_s=0.05, **config),
        refresh=DerivedRefresher(engine, spec.chain_id),
    )
    OPEN_INDEXERS.append(indexer)
    return indexer


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() or 0)
