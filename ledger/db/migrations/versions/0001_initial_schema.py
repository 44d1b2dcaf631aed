"""Initial schema: event tables, derived tables, dirty queues and the entity views.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 01:06:00.557372
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# Current entity state, read straight from the event tables (portable SQL: SQLite and PostgreSQL).
_PROVENANCE = "chain_id, contract, block_number, block_hash, block_timestamp, tx_hash, tx_index, log_index"
VIEWS = {
    "regions": """
        SELECT r.chain_id, r.region, r.coin, r.name, r.symbol, r.admin AS first_admin,
               r.block_number AS registered_block, r.block_timestamp AS registered_at, r.tx_hash,
               COALESCE((SELECT p.paused FROM region_pause_changes p
                          WHERE p.chain_id = r.chain_id AND p.region = r.region
                          ORDER BY p.block_number DESC, p.log_index DESC LIMIT 1), false) AS paused,
               COALESCE((SELECT t.enabled FROM region_transfer_settings t
                          WHERE t.chain_id = r.chain_id AND t.region = r.region
                          ORDER BY t.block_number DESC, t.log_index DESC LIMIT 1), false) AS transfers_enabled
          FROM region_registrations r""",
    "activities": """
        SELECT a.chain_id, a.activity_id, a.region, a.kind, a.mlit_type, a.reward, a.starts_at, a.ends_at,
               a.capacity, a.metadata_hash, a.admin, a.block_number AS registered_block,
               a.block_timestamp AS registered_at, a.tx_hash,
               EXISTS (SELECT 1 FROM activity_closures c
                        WHERE c.chain_id = a.chain_id AND c.activity_id = a.activity_id) AS closed
          FROM activity_registrations a""",
    "projects": """
        SELECT p.chain_id, p.project_id, p.region, p.metadata_hash, p.admin,
               p.block_number AS registered_block, p.block_timestamp AS registered_at, p.tx_hash,
               EXISTS (SELECT 1 FROM project_closures c
                        WHERE c.chain_id = p.chain_id AND c.project_id = p.project_id) AS closed,
               COALESCE((SELECT SUM(s.amount) FROM supports s
                          WHERE s.chain_id = p.chain_id AND s.project_id = p.project_id), 0) AS raised,
               (SELECT COUNT(DISTINCT s.supporter) FROM supports s
                 WHERE s.chain_id = p.chain_id AND s.project_id = p.project_id) AS supporters
          FROM project_registrations p""",
    "region_roles": """
        SELECT c.chain_id, c.region, c.role_kind, c.account, c.sender AS granted_by,
               c.block_number AS granted_block, c.block_timestamp AS granted_at
          FROM region_role_changes c
         WHERE c.granted AND NOT EXISTS (
               SELECT 1 FROM region_role_changes later
                WHERE later.chain_id = c.chain_id AND later.region = c.region
                  AND later.role_kind = c.role_kind AND later.account = c.account
                  AND (later.block_number > c.block_number
                       OR (later.block_number = c.block_number AND later.log_index > c.log_index)))""",
    "coin_movements": f"""
        SELECT {_PROVENANCE}, region, participant AS account, 'mint' AS movement, amount AS delta,
               activity_id AS reference FROM contributions
        UNION ALL
        SELECT {_PROVENANCE}, region, participant, 'revoke', -clawed_back, activity_id FROM revocations
        UNION ALL
        SELECT {_PROVENANCE}, region, supporter, 'support', -amount, project_id FROM supports
        UNION ALL
        SELECT {_PROVENANCE}, region, from_account, 'transfer_out', -amount, 0 FROM coin_transfers
        UNION ALL
        SELECT {_PROVENANCE}, region, to_account, 'transfer_in', amount, 0 FROM coin_transfers""",
}


def upgrade() -> None:
    op.create_table(
        "activity_closures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("admin", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_activity_closures_log"),
    )
    with op.batch_alter_table("activity_closures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_closures_activity_id"), ["activity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activity_closures_block_number"), ["block_number"], unique=False)

    op.create_table(
        "activity_registrations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("mlit_type", sa.Integer(), nullable=False),
        sa.Column("reward", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", sa.BigInteger(), nullable=False),
        sa.Column("ends_at", sa.BigInteger(), nullable=False),
        sa.Column("capacity", sa.BigInteger(), nullable=False),
        sa.Column("metadata_hash", sa.String(), nullable=False),
        sa.Column("admin", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_activity_registrations_log"),
    )
    with op.batch_alter_table("activity_registrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_registrations_activity_id"), ["activity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activity_registrations_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_activity_registrations_region"), ["region"], unique=False)

    op.create_table(
        "batches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(), nullable=False),
        sa.Column("batch_seq", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("minted", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_batches_log"),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batches_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_batches_issuer"), ["issuer"], unique=False)
        batch_op.create_index(batch_op.f("ix_batches_region"), ["region"], unique=False)

    op.create_table(
        "coin_transfers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("from_account", sa.String(), nullable=False),
        sa.Column("to_account", sa.String(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_coin_transfers_log"),
    )
    with op.batch_alter_table("coin_transfers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coin_transfers_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_coin_transfers_region"), ["region"], unique=False)

    op.create_table(
        "contributions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("participant", sa.String(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("mlit_type", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("claim_id", sa.BigInteger(), nullable=False),
        sa.Column("issuer", sa.String(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_contributions_log"),
    )
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.create_index("ix_contributions_activity_participant", ["activity_id", "participant"], unique=False)
        batch_op.create_index(batch_op.f("ix_contributions_block_number"), ["block_number"], unique=False)
        batch_op.create_index("ix_contributions_participant_region", ["participant", "region"], unique=False)
        batch_op.create_index("ix_contributions_region_day", ["region", "day"], unique=False)

    op.create_table(
        "dirty_days",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region", "day"),
    )
    op.create_table(
        "dirty_ties",
        sa.Column("participant", sa.String(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("participant", "region"),
    )
    op.create_table(
        "domain_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_domain_changes_log"),
    )
    with op.batch_alter_table("domain_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_domain_changes_block_number"), ["block_number"], unique=False)

    op.create_table(
        "indexed_blocks",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.Column("parent_hash", sa.String(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("has_logs", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "number"),
    )
    op.create_table(
        "indexer_checkpoints",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("head_seen", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_error_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("chain_id", "contract"),
    )
    op.create_table(
        "participants",
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("first_block", sa.BigInteger(), nullable=False),
        sa.Column("first_at", sa.BigInteger(), nullable=False),
        sa.Column("regions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("address"),
    )
    op.create_table(
        "pause_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_pause_changes_log"),
    )
    with op.batch_alter_table("pause_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pause_changes_block_number"), ["block_number"], unique=False)

    op.create_table(
        "project_closures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("admin", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_project_closures_log"),
    )
    with op.batch_alter_table("project_closures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_closures_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_project_closures_project_id"), ["project_id"], unique=False)

    op.create_table(
        "project_registrations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("metadata_hash", sa.String(), nullable=False),
        sa.Column("admin", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_project_registrations_log"),
    )
    with op.batch_alter_table("project_registrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_registrations_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_project_registrations_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_project_registrations_region"), ["region"], unique=False)

    op.create_table(
        "region_daily",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("mlit_type", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("coins_issued", sa.BigInteger(), nullable=False),
        sa.Column("revoked_records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region", "day", "kind"),
    )
    op.create_table(
        "region_daily_coins",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("clawed_back", sa.BigInteger(), nullable=False),
        sa.Column("supports", sa.Integer(), nullable=False),
        sa.Column("revocations", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region", "day"),
    )
    op.create_table(
        "region_pause_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_region_pause_changes_log"),
    )
    with op.batch_alter_table("region_pause_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_region_pause_changes_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_region_pause_changes_region"), ["region"], unique=False)

    op.create_table(
        "region_registrations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("admin", sa.String(), nullable=False),
        sa.Column("coin", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_region_registrations_log"),
    )
    with op.batch_alter_table("region_registrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_region_registrations_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_region_registrations_region"), ["region"], unique=False)

    op.create_table(
        "region_role_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("role_kind", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("sender", sa.String(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_region_role_changes_log"),
    )
    with op.batch_alter_table("region_role_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_region_role_changes_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_region_role_changes_region"), ["region"], unique=False)

    op.create_table(
        "region_transfer_settings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_region_transfer_settings_log"),
    )
    with op.batch_alter_table("region_transfer_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_region_transfer_settings_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_region_transfer_settings_region"), ["region"], unique=False)

    op.create_table(
        "revocations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("participant", sa.String(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Integer(), nullable=False),
        sa.Column("clawed_back", sa.BigInteger(), nullable=False),
        sa.Column("shortfall", sa.BigInteger(), nullable=False),
        sa.Column("evidence_hash", sa.String(), nullable=False),
        sa.Column("admin", sa.String(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_revocations_log"),
    )
    with op.batch_alter_table("revocations", schema=None) as batch_op:
        batch_op.create_index("ix_revocations_activity_participant", ["activity_id", "participant"], unique=False)
        batch_op.create_index(batch_op.f("ix_revocations_block_number"), ["block_number"], unique=False)
        batch_op.create_index("ix_revocations_region_day", ["region", "day"], unique=False)

    op.create_table(
        "role_admin_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("previous_admin_role", sa.String(), nullable=False),
        sa.Column("new_admin_role", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_role_admin_changes_log"),
    )
    with op.batch_alter_table("role_admin_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_role_admin_changes_block_number"), ["block_number"], unique=False)

    op.create_table(
        "role_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("sender", sa.String(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_role_changes_log"),
    )
    with op.batch_alter_table("role_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_role_changes_block_number"), ["block_number"], unique=False)

    op.create_table(
        "supports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("supporter", sa.String(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("relayer", sa.String(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_supports_log"),
    )
    with op.batch_alter_table("supports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supports_block_number"), ["block_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_supports_project_id"), ["project_id"], unique=False)
        batch_op.create_index("ix_supports_region_day", ["region", "day"], unique=False)
        batch_op.create_index("ix_supports_supporter_region", ["supporter", "region"], unique=False)

    op.create_table(
        "tie_months",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("participant", sa.String(), nullable=False),
        sa.Column("first_month", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("kankei", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("visit_band", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("region", "month", "participant"),
    )
    with op.batch_alter_table("tie_months", schema=None) as batch_op:
        batch_op.create_index("ix_tie_months_participant", ["participant", "region"], unique=False)

    op.create_table(
        "ties",
        sa.Column("participant", sa.String(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("revoked_records", sa.Integer(), nullable=False),
        sa.Column("coins_earned", sa.BigInteger(), nullable=False),
        sa.Column("coins_given", sa.BigInteger(), nullable=False),
        sa.Column("first_at", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.Column("first_month", sa.Integer(), nullable=False),
        sa.Column("visit_days", sa.Integer(), nullable=False),
        sa.Column("visit_band", sa.String(), nullable=False),
        sa.Column("active_months", sa.Integer(), nullable=False),
        sa.Column("distinct_types", sa.Integer(), nullable=False),
        sa.Column("non_visiting_records", sa.Integer(), nullable=False),
        sa.Column("kin_records", sa.Integer(), nullable=False),
        sa.Column("continuity", sa.Float(), nullable=False),
        sa.Column("frequency", sa.Float(), nullable=False),
        sa.Column("diversity", sa.Float(), nullable=False),
        sa.Column("recency", sa.Float(), nullable=False),
        sa.Column("intensity", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("kankei", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("as_of", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("participant", "region"),
    )
    with op.batch_alter_table("ties", schema=None) as batch_op:
        batch_op.create_index("ix_ties_region_stage", ["region", "stage"], unique=False)

    op.create_table(
        "undecodable_logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("topic0", sa.String(), nullable=False),
        sa.Column("topics", sa.String(), nullable=False),
        sa.Column("data", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_undecodable_logs_log"),
    )
    with op.batch_alter_table("undecodable_logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_undecodable_logs_block_number"), ["block_number"], unique=False)

    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    with op.batch_alter_table("undecodable_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_undecodable_logs_block_number"))

    op.drop_table("undecodable_logs")
    with op.batch_alter_table("ties", schema=None) as batch_op:
        batch_op.drop_index("ix_ties_region_stage")

    op.drop_table("ties")
    with op.batch_alter_table("tie_months", schema=None) as batch_op:
        batch_op.drop_index("ix_tie_months_participant")

    op.drop_table("tie_months")
    with op.batch_alter_table("supports", schema=None) as batch_op:
        batch_op.drop_index("ix_supports_supporter_region")
        batch_op.drop_index("ix_supports_region_day")
        batch_op.drop_index(batch_op.f("ix_supports_project_id"))
        batch_op.drop_index(batch_op.f("ix_supports_block_number"))

    op.drop_table("supports")
    with op.batch_alter_table("role_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_changes_block_number"))

    op.drop_table("role_changes")
    with op.batch_alter_table("role_admin_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_admin_changes_block_number"))

    op.drop_table("role_admin_changes")
    with op.batch_alter_table("revocations", schema=None) as batch_op:
        batch_op.drop_index("ix_revocations_region_day")
        batch_op.drop_index(batch_op.f("ix_revocations_block_number"))
        batch_op.drop_index("ix_revocations_activity_participant")

    op.drop_table("revocations")
    with op.batch_alter_table("region_transfer_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_region_transfer_settings_region"))
        batch_op.drop_index(batch_op.f("ix_region_transfer_settings_block_number"))

    op.drop_table("region_transfer_settings")
    with op.batch_alter_table("region_role_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_region_role_changes_region"))
        batch_op.drop_index(batch_op.f("ix_region_role_changes_block_number"))

    op.drop_table("region_role_changes")
    with op.batch_alter_table("region_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_region_registrations_region"))
        batch_op.drop_index(batch_op.f("ix_region_registrations_block_number"))

    op.drop_table("region_registrations")
    with op.batch_alter_table("region_pause_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_region_pause_changes_region"))
        batch_op.drop_index(batch_op.f("ix_region_pause_changes_block_number"))

    op.drop_table("region_pause_changes")
    op.drop_table("region_daily_coins")
    op.drop_table("region_daily")
    with op.batch_alter_table("project_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_registrations_region"))
        batch_op.drop_index(batch_op.f("ix_project_registrations_project_id"))
        batch_op.drop_index(batch_op.f("ix_project_registrations_block_number"))

    op.drop_table("project_registrations")
    with op.batch_alter_table("project_closures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_closures_project_id"))
        batch_op.drop_index(batch_op.f("ix_project_closures_block_number"))

    op.drop_table("project_closures")
    with op.batch_alter_table("pause_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pause_changes_block_number"))

    op.drop_table("pause_changes")
    op.drop_table("participants")
    op.drop_table("indexer_checkpoints")
    op.drop_table("indexed_blocks")
    with op.batch_alter_table("domain_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domain_changes_block_number"))

    op.drop_table("domain_changes")
    op.drop_table("dirty_ties")
    op.drop_table("dirty_days")
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.drop_index("ix_contributions_region_day")
        batch_op.drop_index("ix_contributions_participant_region")
        batch_op.drop_index(batch_op.f("ix_contributions_block_number"))
        batch_op.drop_index("ix_contributions_activity_participant")

    op.drop_table("contributions")
    with op.batch_alter_table("coin_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coin_transfers_region"))
        batch_op.drop_index(batch_op.f("ix_coin_transfers_block_number"))

    op.drop_table("coin_transfers")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batches_region"))
        batch_op.drop_index(batch_op.f("ix_batches_issuer"))
        batch_op.drop_index(batch_op.f("ix_batches_block_number"))

    op.drop_table("batches")
    with op.batch_alter_table("activity_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_registrations_region"))
        batch_op.drop_index(batch_op.f("ix_activity_registrations_block_number"))
        batch_op.drop_index(batch_op.f("ix_activity_registrations_activity_id"))

    op.drop_table("activity_registrations")
    with op.batch_alter_table("activity_closures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_closures_block_number"))
        batch_op.drop_index(batch_op.f("ix_activity_closures_activity_id"))

    op.drop_table("activity_closures")
