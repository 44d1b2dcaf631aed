"""ふるさと住民登録 evidence: certificates kept for their QR link, holder presentations (the
mailbox of the holder proof), and participants' opt-ins to be listed as eligible (docs/certificate.md).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("certificate_id", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("from_day", sa.Integer(), nullable=False),
        sa.Column("to_day", sa.Integer(), nullable=False),
        sa.Column("document", sa.String(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("certificate_id"),
    )
    op.create_index("ix_certificates_holder_region", "certificates", ["holder", "region"])
    op.create_table(
        "holder_presentations",
        sa.Column("presentation_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("presentation_id"),
    )
    op.create_index("ix_holder_presentations_nonce", "holder_presentations", ["nonce"])
    op.create_index("ix_holder_presentations_created_at", "holder_presentations", ["created_at"])
    op.create_table(
        "eligibility_listings",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("participant", sa.String(), nullable=False),
        sa.Column("contact", sa.String(), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("region", "participant"),
    )


def downgrade() -> None:
    op.drop_table("eligibility_listings")
    op.drop_index("ix_holder_presentations_created_at", table_name="holder_presentations")
    op.drop_index("ix_holder_presentations_nonce", table_name="holder_presentations")
    op.drop_table("holder_presentations")
    op.drop_index("ix_certificates_holder_region", table_name="certificates")
    op.drop_table("certificates")
