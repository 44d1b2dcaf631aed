"""The export's schema follows the index, so an export is exhaustive and verify can rebuild it.

Verify turns logs into rows with the indexer's own handlers and compares them with the files
position by position, so an event table's fields must be the index table's columns in order
(``ledger.indexer.handlers.TABLE_COLUMNS``). Every event table of the index must be exported, and
the entity, derived and aggregate tables must carry every column of the views and tables they come
from (a column the index gains is then either exported or listed here with the reason it is not).
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text
from sqlmodel import SQLModel

from ledger.db import models
from ledger.export.schema import COIN_MOVEMENT_SOURCES, PROVENANCE, TABLES
from ledger.indexer.handlers import EVENT_TABLE, TABLE_COLUMNS
from tests.indexer.helpers import database

# Columns contributions adds after the index's: its revocation, as of the export's last block.
REVOCATION_REFERENCE = ("revoked", "revoked_block", "revoked_tx_hash", "revoked_log_index")
# Entity views' columns named otherwise in the export (its provenance columns are the registration log's).
VIEW_RENAMES = {"registered_block": "block_number", "registered_at": "block_timestamp"}
# View columns an export leaves out, and why.
NOT_EXPORTED = {
    # Sums over supports up to the indexed head; an export's supports give them for its own range.
    "projects": {"raised", "supporters"},
}
NOT_EXPORTED_SOURCES = {"projects": {"supports"}}  # what the view reads for those columns


def test_event_fields_are_the_index_columns_in_order() -> None:
    for t in TABLES.values():
        if t.kind != "events" or t.index_table is None:
            continue
        assert t.fields[: len(PROVENANCE)] == PROVENANCE, t.name
        own = t.field_names[len(PROVENANCE) :]
        if t.name == "contributions":
            assert own[-len(REVOCATION_REFERENCE) :] == REVOCATION_REFERENCE
            own = own[: -len(REVOCATION_REFERENCE)]
        assert own == TABLE_COLUMNS[t.index_table], f"{t.name} does not follow {t.index_table}"
    # Activities and projects are their registration's columns, then whether and when they closed.
    for name in ("activities", "projects"):
        t = TABLES[name]
        assert t.index_table is not None
        own = t.field_names[len(PROVENANCE) :]
        assert own == (*TABLE_COLUMNS[t.index_table], "closed", "closed_block"), name


def test_every_index_event_table_is_exported_and_names_its_events() -> None:
    exported = {t.index_table for t in TABLES.values() if t.kind in ("events", "entities")}
    assert exported >= {m.__tablename__ for m in models.EVENT_TABLES}
    for t in TABLES.values():
        if t.kind == "events" and t.index_table is not None and t.events:
            assert {EVENT_TABLE[e] for e in t.events} == {t.index_table}, t.name
    movements = TABLES["coin_movements"]
    assert {EVENT_TABLE[e] for e in movements.events} == set(COIN_MOVEMENT_SOURCES)
    described = movements.field("movement").description
    assert all(m in described for names in COIN_MOVEMENT_SOURCES.values() for m in names)


def test_tables_from_views_carry_every_column_and_source_of_the_view(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as engine, engine.connect() as conn:
        for name in ("regions", "activities", "projects", "coin_movements"):
            t = TABLES[name]
            columns = [r[1] for r in conn.execute(text(f"PRAGMA table_info({name})"))]
            expected = {VIEW_RENAMES.get(c, c) for c in columns} - NOT_EXPORTED.get(name, set())
            assert expected <= set(t.field_names), f"{name} lacks {sorted(expected - set(t.field_names))}"
            # The table names as its events the logs of every table the view reads (verify fetches them).
            sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = :n"), {"n": name})
            sources = set(re.findall(r"\bFROM\s+(\w+)", sql.scalar_one())) - NOT_EXPORTED_SOURCES.get(name, set())
            assert {EVENT_TABLE[e] for e in t.events} == sources, name
        assert set(TABLES["coin_movements"].field_names) == {VIEW_RENAMES.get(c, c) for c in columns}


# ties: recency, score and as_of are not stored but computed for the head's day when read, and
# next_change and steady_until are the refresher's bookkeeping (docs/decisions/0016, 0021).
_READ_TIME = {"ties": {"recency", "score", "as_of"}}
_INDEX_ONLY = {"ties": {"next_change", "steady_until"}}


def test_derived_and_aggregate_tables_carry_every_column_of_the_index() -> None:
    for name in ("ties", "region_daily", "region_daily_coins"):
        columns = {c.name for c in SQLModel.metadata.tables[name].columns} - _INDEX_ONLY.get(name, set())
        assert columns | _READ_TIME.get(name, set()) == set(TABLES[name].field_names), name
