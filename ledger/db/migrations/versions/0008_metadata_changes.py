"""Edits of an activity's and a project's text: the ``ActivityMetadataChanged`` and
``ProjectMetadataChanged`` events of the ledger (docs/contracts.md §3.2, docs/events.md).

- New event tables ``activity_metadata_changes`` and ``project_metadata_changes`` (provenance, the
  id, the region, the new metadata hash, the admin).
- The views ``activities`` and ``projects`` are recreated: their ``metadata_hash`` is now the
  latest change's (by block, then log index), else the registration's. Every other column, and the
  column order, stay as migration 0007 made them.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_LATEST_ACTIVITY_HASH = """COALESCE((SELECT m.metadata_hash FROM activity_metadata_changes m
                          WHERE m.chain_id = a.chain_id AND m.activity_id = a.activity_id
                          ORDER BY m.block_number DESC, m.log_index DESC LIMIT 1), a.metadata_hash)"""
_LATEST_PROJECT_HASH = """COALESCE((SELECT m.metadata_hash FROM project_metadata_changes m
                          WHERE m.chain_id = p.chain_id AND m.project_id = p.project_id
                          ORDER BY m.block_number DESC, m.log_index DESC LIMIT 1), p.metadata_hash)"""


def _activities(metadata_hash: str) -> str:
    return f"""
        SELECT a.chain_id, a.activity_id, a.region, a.kind, a.mlit_type, a.reward, a.starts_at, a.ends_at,
               a.capacity, {metadata_hash} AS metadata_hash, a.admin, a.block_number AS registered_block,
               a.block_timestamp AS registered_at, a.tx_hash,
               EXISTS (SELECT 1 FROM activity_closures c
                        WHERE c.chain_id = a.chain_id AND c.activity_id = a.activity_id) AS closed,
               COALESCE((SELECT d.designated FROM activity_designations d
                          WHERE d.chain_id = a.chain_id AND d.activity_id = a.activity_id
                          ORDER BY d.block_number DESC, d.log_index DESC LIMIT 1), a.designated) AS designated,
               a.unit, a.max_units
          FROM activity_registrations a"""


def _projects(metadata_hash: str) -> str:
    return f"""
        SELECT p.chain_id, p.project_id, p.region, {metadata_hash} AS metadata_hash, p.admin,
               p.block_number AS registered_block, p.block_timestamp AS registered_at, p.tx_hash,
               EXISTS (SELECT 1 FROM project_closures c
                        WHERE c.chain_id = p.chain_id AND c.project_id = p.project_id) AS closed,
               COALESCE((SELECT SUM(s.amount) FROM supports s
                          WHERE s.chain_id = p.chain_id AND s.project_id = p.project_id), 0) AS raised,
               (SELECT COUNT(DISTINCT s.supporter) FROM supports s
                 WHERE s.chain_id = p.chain_id AND s.project_id = p.project_id) AS supporters
          FROM project_registrations p"""


def _event_table(name: str, key: str) -> None:
    op.create_table(
        name,
        sa.Column("id", _ROW_ID, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column(key, sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("metadata_hash", sa.String(), nullable=False),
        sa.Column("admin", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name=f"uq_{name}_log"),
    )
    with op.batch_alter_table(name) as batch:
        batch.create_index(batch.f(f"ix_{name}_block_number"), ["block_number"], unique=False)
        batch.create_index(batch.f(f"ix_{name}_{key}"), [key], unique=False)


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS activities")
    op.execute("DROP VIEW IF EXISTS projects")
    _event_table("activity_metadata_changes", "activity_id")
    _event_table("project_metadata_changes", "project_id")
    op.execute(f"CREATE VIEW activities AS {_activities(_LATEST_ACTIVITY_HASH)}")
    op.execute(f"CREATE VIEW projects AS {_projects(_LATEST_PROJECT_HASH)}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS activities")
    op.execute("DROP VIEW IF EXISTS projects")
    op.drop_table("project_metadata_changes")
    op.drop_table("activity_metadata_changes")
    op.execute(f"CREATE VIEW activities AS {_activities('a.metadata_hash')}")
    op.execute(f"CREATE VIEW projects AS {_projects('p.metadata_hash')}")
