"""tie_months.last_active_month and a covering index, so region figures read one month's slice.

"Active in months m0..m1" becomes ``last_active_month >= m0`` on the rows of month m1 instead of a
DISTINCT over every month of the range. Existing ties are queued for recomputation.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SLICE = ["region", "month", "last_active_month", "first_month", "active", "stage", "kankei", "category", "visit_band"]


def upgrade() -> None:
    with op.batch_alter_table("tie_months") as batch:
        batch.add_column(sa.Column("last_active_month", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("tie_months") as batch:
        batch.alter_column("last_active_month", server_default=None)
        batch.create_index("ix_tie_months_slice", _SLICE, unique=False)
    op.execute(
        "INSERT INTO dirty_ties (participant, region) SELECT participant, region FROM ties WHERE true "
        "ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    with op.batch_alter_table("tie_months") as batch:
        batch.drop_index("ix_tie_months_slice")
        batch.drop_column("last_active_month")
