"""Single-use claim codes (ふるさと納税 letters, online events) and check-in / check-out sessions
for activities rewarded per hour or per day (docs/checkin.md).

- ``claim_code_batches``: one generation of N codes for an activity (who, when, expiry, voided).
- ``claim_codes``: one row per code, holding only the code's SHA-256, its state
  (issued → redeemed | voided) and, once redeemed, the claim it became.
- ``presence_sessions``: a participant's arrival at an hour- or day-rewarded activity and, once
  they leave (or staff close it), the units it recorded and the claim it became. At most one open
  session per person and activity (a partial unique index, on SQLite and PostgreSQL alike).
- ``activity_unit_rules``: how an activity turns time into units (rounding, minimum, cap, when an
  open check-in expires, whether staff confirm each check-out).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claim_code_batches",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("salt", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("voided_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("voided_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    op.create_index("ix_claim_code_batches_activity", "claim_code_batches", ["activity_id"])
    op.create_table(
        "claim_codes",
        sa.Column("code_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("participant", sa.String(), nullable=True),
        sa.Column("claim_id", sa.BigInteger(), nullable=True),
        sa.Column("redeemed_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("voided_at_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("code_id"),
        sa.UniqueConstraint("code_hash", name="uq_claim_codes_hash"),
        sa.UniqueConstraint("batch_id", "serial", name="uq_claim_codes_serial"),
    )
    op.create_index("ix_claim_codes_activity_state", "claim_codes", ["activity_id", "state"])
    op.create_table(
        "presence_sessions",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("participant", sa.String(), nullable=False),
        sa.Column("unit", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("opened_at", sa.BigInteger(), nullable=False),
        sa.Column("open_request_hash", sa.String(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("close_request_hash", sa.String(), nullable=True),
        sa.Column("measured_units", sa.Integer(), nullable=True),
        sa.Column("units", sa.Integer(), nullable=True),
        sa.Column("first_day", sa.Integer(), nullable=True),
        sa.Column("last_day", sa.Integer(), nullable=True),
        sa.Column("claim_id", sa.BigInteger(), nullable=True),
        sa.Column("closed_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("session_id"),
        sa.UniqueConstraint("open_request_hash", name="uq_presence_open_request"),
        sa.UniqueConstraint("close_request_hash", name="uq_presence_close_request"),
    )
    op.create_index(
        "uq_presence_open",
        "presence_sessions",
        ["activity_id", "participant"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_index("ix_presence_participant", "presence_sessions", ["participant", "unit", "state"])
    op.create_index("ix_presence_activity_state", "presence_sessions", ["activity_id", "state"])
    op.create_table(
        "activity_unit_rules",
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("rounding", sa.String(), nullable=False),
        sa.Column("min_units", sa.Integer(), nullable=False),
        sa.Column("cap_units", sa.Integer(), nullable=False),
        sa.Column("open_expiry_s", sa.BigInteger(), nullable=False),
        sa.Column("staff_confirms", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("activity_id"),
    )


def downgrade() -> None:
    op.drop_table("activity_unit_rules")
    op.drop_index("ix_presence_activity_state", table_name="presence_sessions")
    op.drop_index("ix_presence_participant", table_name="presence_sessions")
    op.drop_index("uq_presence_open", table_name="presence_sessions")
    op.drop_table("presence_sessions")
    op.drop_index("ix_claim_codes_activity_state", table_name="claim_codes")
    op.drop_table("claim_codes")
    op.drop_index("ix_claim_code_batches_activity", table_name="claim_code_batches")
    op.drop_table("claim_code_batches")
