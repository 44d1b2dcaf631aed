"""Edits of an activity's and a project's text in the index: each ``ActivityMetadataChanged`` /
``ProjectMetadataChanged`` is a row with provenance, the ``activities`` and ``projects`` views show
the latest hash (else the registration's), and a reorg that drops the last edit brings the previous
one back, exactly as a fresh indexing of the new chain would. Both chains, both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec, LedgerClient
from ledger.chain.deploy import Deployment, deploy_ledger
from ledger.chain.devnet import AnvilDevnet, Devnet, PyEvmDevnet
from ledger.checkin.metadata import metadata_document, store_metadata
from ledger.db.engine import write_transaction
from ledger.taxonomy import ContributionKind
from tests.indexer.helpers import count, database, dump, make_indexer

REGION = 12205
NAMES = ("棚田の田植え", "棚田の田植え体験", "棚田の田植え体験（雨天決行）")
PROJECT_NAMES = ("棚田オーナー制度", "棚田オーナー制度 2027", "棚田オーナー制度 2027（募集中）")


def as_bytes(metadata_hash: str) -> bytes:
    return bytes.fromhex(metadata_hash[2:])


def text_hash(name: str) -> str:
    return metadata_document(name, "説明", "館山市")[1]


@dataclass
class Chain:
    devnet: Devnet
    deployment: Deployment
    client: LedgerClient
    activity: int
    project: int


@pytest.fixture(params=["pyevm", "anvil"])
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    devnet: Devnet = PyEvmDevnet() if request.param == "pyevm" else AnvilDevnet().start()
    try:
        platform, admin = dev_account(0), dev_account(2)
        deployment = deploy_ledger(devnet.w3, platform)
        client = LedgerClient(devnet.w3, deployment.ledger, poll_s=0.01)
        client.register_region(platform, REGION, "館山コイン", "TATEYAMA", admin.address)
        now = int(devnet.w3.eth.get_block("latest")["timestamp"])
        first = as_bytes(text_hash(NAMES[0]))
        spec = ActivitySpec(REGION, ContributionKind.FARMING_EXPERIENCE, 100, now, now + 86_400, metadata_hash=first)
        activity = client.register_activity(admin, spec)
        project = client.register_project(admin, REGION, as_bytes(text_hash(PROJECT_NAMES[0])))
        yield Chain(devnet, deployment, client, activity, project)
    finally:
        devnet.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database(request.param, tmp_path) as db:
        with write_transaction(db) as conn:  # the texts, as the CLI keeps them
            for name in (*NAMES, *PROJECT_NAMES):
                store_metadata(conn, name, "説明", "館山市")
        yield db


def edit(chain: Chain, step: int) -> None:
    admin = dev_account(2)
    chain.client.set_activity_metadata(admin, chain.activity, as_bytes(text_hash(NAMES[step])))
    chain.client.set_project_metadata(admin, chain.project, as_bytes(text_hash(PROJECT_NAMES[step])))


def shown(engine: Engine) -> tuple[str, str, str, str]:
    """The activity's and the project's current hash and name, as the pages read them."""
    with engine.connect() as conn:
        activity = conn.execute(
            text(
                "SELECT a.metadata_hash, m.name FROM activities a "
                "LEFT JOIN activity_metadata m ON m.metadata_hash = a.metadata_hash"
            )
        ).one()
        project = conn.execute(
            text(
                "SELECT p.metadata_hash, m.name FROM projects p "
                "LEFT JOIN activity_metadata m ON m.metadata_hash = p.metadata_hash"
            )
        ).one()
    return (str(activity[0]), str(activity[1]), str(project[0]), str(project[1]))


def expected(step: int) -> tuple[str, str, str, str]:
    return (text_hash(NAMES[step]), NAMES[step], text_hash(PROJECT_NAMES[step]), PROJECT_NAMES[step])


def fresh_dump(chain: Chain, tmp_path: Path) -> dict[str, list[tuple[object, ...]]]:
    with database("sqlite", tmp_path) as fresh:
        make_indexer(chain.devnet, chain.deployment, fresh).backfill()
        return dump(fresh)


def test_the_views_show_the_latest_text(chain: Chain, engine: Engine) -> None:
    indexer = make_indexer(chain.devnet, chain.deployment, engine)
    indexer.backfill()
    assert shown(engine) == expected(0)  # no change yet: the registration's
    edit(chain, 1)
    edit(chain, 2)
    indexer.backfill()
    assert shown(engine) == expected(2)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT activity_id, region, metadata_hash, admin, block_number, tx_hash, contract "
                "FROM activity_metadata_changes ORDER BY block_number, log_index"
            )
        ).all()
        projects = conn.execute(
            text("SELECT project_id, region, metadata_hash FROM project_metadata_changes ORDER BY block_number")
        ).all()
    admin = dev_account(2).address.lower()
    assert [r[:4] for r in rows] == [(chain.activity, REGION, text_hash(n), admin) for n in NAMES[1:]]
    assert all(r[4] > 0 and len(r[5]) == 66 and r[6] == chain.deployment.ledger.lower() for r in rows)
    assert [tuple(r) for r in projects] == [(chain.project, REGION, text_hash(n)) for n in PROJECT_NAMES[1:]]
    assert count(engine, "undecodable_logs") == 0
    # the chain agrees
    assert chain.client.activity(chain.activity).metadata_hash == as_bytes(text_hash(NAMES[2]))
    assert chain.client.project(chain.project).metadata_hash == as_bytes(text_hash(PROJECT_NAMES[2]))


def test_a_reorg_that_drops_the_last_edit_shows_the_previous_text(chain: Chain, engine: Engine, tmp_path: Path) -> None:
    edit(chain, 1)
    snapshot = chain.devnet.snapshot()
    edit(chain, 2)
    indexer = make_indexer(chain.devnet, chain.deployment, engine)
    indexer.backfill()
    assert shown(engine) == expected(2)
    chain.devnet.revert(snapshot)
    chain.devnet.mine(4)  # the other branch: longer, without the second edit
    result = indexer.run_step()
    assert result is not None and result.rolled_back_to is not None
    indexer.backfill()
    assert shown(engine) == expected(1)
    assert (count(engine, "activity_metadata_changes"), count(engine, "project_metadata_changes")) == (1, 1)
    assert dump(engine) == fresh_dump(chain, tmp_path)
