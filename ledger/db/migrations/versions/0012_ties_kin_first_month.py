"""``ties.kin_first_month``: the month of a tie's first live 地縁・血縁 record, so the region figures can
count the people whose only records are kin visits (docs/ties.md "People").

Kin records feed no stage, so ``tie_months`` has no row for a person until their first other record
and ``first_month`` is 0 for a person with kin records only. The 参加者 figure is every person with a
live record, kin included: as of month M those people are the ties with ``0 < kin_first_month <= M``
and no other record by then (``first_month = 0 OR first_month > M``). An index on
``(region, kin_first_month)`` reads only the region's ties with kin records.

The upgrade fills the column from ``contributions`` and ``revocations`` (a revoked record is not
live); the refresher keeps it from then on.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_KIN = 6  # MlitType.KIN: a migration keeps its own constants


def upgrade() -> None:
    with op.batch_alter_table("ties") as batch:
        batch.add_column(sa.Column("kin_first_month", sa.Integer(), nullable=False, server_default="0"))
        batch.create_index("ix_ties_region_kin_first_month", ["region", "kin_first_month"], unique=False)
    op.execute(
        sa.text(
            "UPDATE ties SET kin_first_month = COALESCE(("
            "SELECT MIN(c.day) / 100 FROM contributions c WHERE c.participant = ties.participant "
            "AND c.region = ties.region AND c.mlit_type = :kin AND NOT EXISTS ("
            "SELECT 1 FROM revocations v WHERE v.activity_id = c.activity_id AND v.participant = c.participant)"
            "), 0)"
        ).bindparams(kin=_KIN)
    )


def downgrade() -> None:
    with op.batch_alter_table("ties") as batch:
        batch.drop_index("ix_ties_region_kin_first_month")
        batch.drop_column("kin_first_month")
