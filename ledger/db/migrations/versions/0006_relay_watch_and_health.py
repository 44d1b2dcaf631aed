"""What the relayer needs to notice a vanished transaction, and what every long-running loop reports.

- ``relay_batches.block_hash``: the hash of the block its transaction was mined in, so the relayer
  can tell that the block is no longer on the canonical chain (a reorg, a node restarted from an
  older state) and put the batch back in flight.
- ``relay_attempts``: an index on ``nonce`` (nonce accounting by evidence: which of our own
  transactions used a nonce).
- ``service_health``: one row per long-running loop (indexer, relayer): when it last made progress,
  and its last error, for ``tsunagari index status``, ``/api/v1/index/status`` and monitoring.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("relay_batches") as batch:
        batch.add_column(sa.Column("block_hash", sa.String(), nullable=True))
    op.create_index("ix_relay_attempts_nonce", "relay_attempts", ["nonce"])
    op.create_table(
        "service_health",
        sa.Column("service", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.Column("progress_at", sa.BigInteger(), nullable=True),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_error_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("service"),
    )


def downgrade() -> None:
    op.drop_table("service_health")
    op.drop_index("ix_relay_attempts_nonce", "relay_attempts")
    with op.batch_alter_table("relay_batches") as batch:
        batch.drop_column("block_hash")
