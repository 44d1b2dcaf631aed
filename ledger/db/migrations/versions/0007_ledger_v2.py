"""The index of ledger contract v2: designated 担い手活動, rewards by units, coin expiry, nonce
cancellation, separate platform and region pauses (docs/contracts.md, docs/events.md).

- ``activity_registrations`` gains ``designated``, ``unit`` and ``max_units``; designation changes
  before an activity starts are ``activity_designations`` rows.
- ``contributions`` gains ``units``, ``unit``, ``designated`` (the activity's, which cannot change
  once it has records) and loses ``claim_id``: v2's ``ContributionRecorded`` does not carry the
  operator's claim id (it stays in the transaction's input); a record is identified by its
  (activity, participant), unique on chain.
- ``revocations`` gains ``claim_id`` (the revoked record's, from ``ContributionRevoked``).
- ``supports`` gains ``nonce`` (NULL for a support sent by the supporter).
- New event tables: ``region_expiry_settings``, ``coin_expiries``, ``support_nonce_cancellations``;
  ``region_pause_changes`` gains ``by_platform``.
- ``ties`` gains ``help_hours`` and ``stay_days`` (the year's hours of help and days of stays);
  ``region_daily_coins`` gains ``expired``.
- ``claims`` gains ``units`` (what the relayer records: hours, days; 1 for a visit).
- The views are recreated with the new columns (``regions.expiry_days``, ``activities.designated``
  and its unit, ``coin_movements`` with lapsed coins).

A v2 ledger is a new deployment: an index of a v1 chain is not carried over (``tsunagari index``
refuses a database of another deployment; see docs/contracts.md).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
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
                          ORDER BY t.block_number DESC, t.log_index DESC LIMIT 1), false) AS transfers_enabled,
               COALESCE((SELECT e.expiry_days FROM region_expiry_settings e
                          WHERE e.chain_id = r.chain_id AND e.region = r.region
                          ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1), 0) AS expiry_days
          FROM region_registrations r""",
    "activities": """
        SELECT a.chain_id, a.activity_id, a.region, a.kind, a.mlit_type, a.reward, a.starts_at, a.ends_at,
               a.capacity, a.metadata_hash, a.admin, a.block_number AS registered_block,
               a.block_timestamp AS registered_at, a.tx_hash,
               EXISTS (SELECT 1 FROM activity_closures c
                        WHERE c.chain_id = a.chain_id AND c.activity_id = a.activity_id) AS closed,
               COALESCE((SELECT d.designated FROM activity_designations d
                          WHERE d.chain_id = a.chain_id AND d.activity_id = a.activity_id
                          ORDER BY d.block_number DESC, d.log_index DESC LIMIT 1), a.designated) AS designated,
               a.unit, a.max_units
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
        SELECT {_PROVENANCE}, region, to_account, 'transfer_in', amount, 0 FROM coin_transfers
        UNION ALL
        SELECT {_PROVENANCE}, region, holder, 'expire', -amount, 0 FROM coin_expiries""",
}


def _provenance_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", _ROW_ID, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
    ]


def _event_table(name: str, *columns: sa.Column[object], index: str | None = None) -> None:
    op.create_table(
        name,
        *_provenance_columns(),
        *columns,
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name=f"uq_{name}_log"),
    )
    with op.batch_alter_table(name) as batch:
        batch.create_index(batch.f(f"ix_{name}_block_number"), ["block_number"], unique=False)
        if index is not None:
            batch.create_index(batch.f(f"ix_{name}_{index}"), [index], unique=False)


def _add(table: str, name: str, kind: sa.types.TypeEngine[Any], default: str | None) -> None:
    """A plain ``ALTER TABLE … ADD COLUMN`` (no table rebuild on SQLite: the dashboard triggers of
    migration 0005 name these tables, and SQLite refuses to rename a table under a trigger). The
    server default stays, so rows written by older code still get a value."""
    server_default = None if default is None else sa.text(default)
    op.add_column(table, sa.Column(name, kind, nullable=default is None, server_default=server_default))


def upgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    _add("region_pause_changes", "by_platform", sa.Boolean(), "false")
    _add("activity_registrations", "designated", sa.Boolean(), "false")
    _add("activity_registrations", "unit", sa.Integer(), "0")
    _add("activity_registrations", "max_units", sa.Integer(), "1")
    op.drop_column("contributions", "claim_id")
    _add("contributions", "units", sa.Integer(), "1")
    _add("contributions", "unit", sa.Integer(), "0")
    _add("contributions", "designated", sa.Boolean(), "false")
    _add("revocations", "claim_id", sa.BigInteger(), "0")
    _add("supports", "nonce", sa.BigInteger(), None)
    _add("ties", "help_hours", sa.Integer(), "0")
    _add("ties", "stay_days", sa.Integer(), "0")
    _add("region_daily_coins", "expired", sa.BigInteger(), "0")
    _add("claims", "units", sa.Integer(), "1")

    _event_table(
        "region_expiry_settings",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("expiry_days", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        index="region",
    )
    _event_table(
        "activity_designations",
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("designated", sa.Boolean(), nullable=False),
        sa.Column("admin", sa.String(), nullable=False),
        index="activity_id",
    )
    _event_table(
        "coin_expiries",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        index="region",
    )
    _event_table(
        "support_nonce_cancellations",
        sa.Column("supporter", sa.String(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        index="supporter",
    )
    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {body}")


def downgrade() -> None:
    raise NotImplementedError("ledger v2's index is not converted back to v1: re-index a v1 chain instead")
