"""Check-in outbox and relayer bookkeeping: activity metadata, claims, relay batches and attempts,
support requests (see ledger/db/models.py, "Check-in and relaying").

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "activity_metadata",
        sa.Column("metadata_hash", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("venue", sa.String(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("metadata_hash"),
    )
    op.create_table(
        "claims",
        sa.Column("id", _ROW_ID, nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("participant", sa.String(), nullable=False),
        sa.Column("request_hash", sa.String(), nullable=False),
        sa.Column("token_slot", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("accepted_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", sa.String(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("error_message", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("activity_id", "participant", name="uq_claims_activity_participant"),
        sa.UniqueConstraint("request_hash", name="uq_claims_request"),
    )
    op.create_index("ix_claims_pending", "claims", ["status", "region", "id"])
    op.create_index("ix_claims_batch", "claims", ["batch_id"])
    op.create_table(
        "relay_batches",
        sa.Column("id", _ROW_ID, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(), nullable=False),
        sa.Column("batch_seq", sa.BigInteger(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", sa.String(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("sent_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("region", "issuer", "batch_seq", name="uq_relay_batches_seq"),
    )
    op.create_index("ix_relay_batches_status", "relay_batches", ["status"])
    op.create_table(
        "relay_attempts",
        sa.Column("id", _ROW_ID, nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("max_priority_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("raw_tx", sa.String(), nullable=False),
        sa.Column("sent_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_relay_attempts_batch", "relay_attempts", ["batch_id"])
    op.create_table(
        "support_requests",
        sa.Column("id", _ROW_ID, nullable=False),
        sa.Column("supporter", sa.String(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("accepted_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", sa.String(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("error_message", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("supporter", "nonce", name="uq_support_requests_nonce"),
    )
    op.create_index("ix_support_requests_status", "support_requests", ["status"])


def downgrade() -> None:
    for table in ("support_requests", "relay_attempts", "relay_batches", "claims", "activity_metadata"):
        op.drop_table(table)
