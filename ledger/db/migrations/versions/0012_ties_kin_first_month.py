"""``ties.kin_first_month`` and ``participant_kind_months``.

``ties.kin_first_month``: the month of a tie's first live 地縁・血縁 record, so the region figures can
count the people whose only records are kin visits (docs/ties.md "People").

Kin records feed no stage, so ``tie_months`` has no row for a person until their first other record
and ``first_month`` is 0 for a person with kin records only. The 参加者 figure is every person with a
live record, kin included: as of month M those people are the ties with ``0 < kin_first_month <= M``
and no other record by then (``first_month = 0 OR first_month > M``). An index on
``(region, kin_first_month)`` reads only the region's ties with kin records.

``participant_kind_months``: one row per participant, region, kind and JST month with a live record
of that kind, so the national view filtered by a kind or an MLIT type reads a few thousand index
entries instead of scanning ``contributions`` (the dashboard benchmark's ``national_graph_kind``).

The upgrade fills both from ``contributions`` and ``revocations`` (a revoked record is not live);
the refresher keeps them from then on, with ``ties``.

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
    op.create_table(
        "participant_kind_months",
        sa.Column("participant", sa.String(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("mlit_type", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("participant", "region", "kind", "month"),
    )
    op.create_index(
        "ix_participant_kind_months_kind", "participant_kind_months", ["kind", "month", "region", "participant"]
    )
    op.create_index(
        "ix_participant_kind_months_type", "participant_kind_months", ["mlit_type", "month", "region", "participant"]
    )
    op.execute(
        "INSERT INTO participant_kind_months (participant, region, kind, month, mlit_type) "
        "SELECT DISTINCT c.participant, c.region, c.kind, c.day / 100, c.mlit_type FROM contributions c "
        "WHERE NOT EXISTS (SELECT 1 FROM revocations v WHERE v.activity_id = c.activity_id "
        "AND v.participant = c.participant)"
    )


def downgrade() -> None:
    op.drop_index("ix_participant_kind_months_type", table_name="participant_kind_months")
    op.drop_index("ix_participant_kind_months_kind", table_name="participant_kind_months")
    op.drop_table("participant_kind_months")
    with op.batch_alter_table("ties") as batch:
        batch.drop_index("ix_ties_region_kin_first_month")
        batch.drop_column("kin_first_month")
