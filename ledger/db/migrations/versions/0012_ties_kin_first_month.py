"""``ties.kin_first_month``, ``participant_kind_years`` and ``region_daily_issuers``.

``ties.kin_first_month``: the month of a tie's first live 地縁・血縁 record, so the region figures can
count the people whose only records are kin visits (docs/ties.md "People").

Kin records feed no stage, so ``tie_months`` has no row for a person until their first other record
and ``first_month`` is 0 for a person with kin records only. The 参加者 figure is every person with a
live record, kin included: as of month M those people are the ties with ``0 < kin_first_month <= M``
and no other record by then (``first_month = 0 OR first_month > M``). An index on
``(region, kin_first_month)`` reads only the region's ties with kin records.

``participant_kind_years``: one row per participant, region, kind and JST year, with the months of
that year holding a live record of that kind as a bit mask, so the national view filtered by a kind
or an MLIT type reads a few thousand index entries instead of scanning ``contributions`` (the
dashboard benchmark's ``national_graph_kind``).

``region_daily_issuers``: per region, JST day and issuer, the day's batches (count, records, coins,
first and last batch), so the issuer audit of a period sums a few rows a day instead of reading every
batch of the region (at 1M records nearly every record is its own batch); with an index on
``batches (region, block_timestamp)`` the refresher reads one day's batches.

The upgrade fills them from ``contributions`` and ``revocations`` (a revoked record is not live);
the refresher keeps them from then on, with ``ties``.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_KIN = 6  # MlitType.KIN: a migration keeps its own constants
_JST_OFFSET = 9 * 3600


def upgrade() -> None:
    with op.batch_alter_table("ties") as batch:
        batch.add_column(sa.Column("kin_first_month", sa.Integer(), nullable=False, server_default="0"))
        batch.create_index("ix_ties_region_kin_first_month", ["region", "kin_first_month", "first_month"], unique=False)
    # one pass over contributions, then one update per tie with a kin record (a correlated update
    # would let SQLite search the region's records once per tie)
    conn = op.get_bind()
    firsts = [
        {"p": str(r[0]), "r": int(r[1]), "m": int(r[2]) // 100}
        for r in conn.execute(
            sa.text(
                "SELECT c.participant, c.region, MIN(c.day) FROM contributions c WHERE c.mlit_type = :kin "
                "AND NOT EXISTS (SELECT 1 FROM revocations v WHERE v.activity_id = c.activity_id "
                "AND v.participant = c.participant) GROUP BY c.participant, c.region"
            ),
            {"kin": _KIN},
        )
    ]
    if firsts:
        conn.execute(sa.text("UPDATE ties SET kin_first_month = :m WHERE participant = :p AND region = :r"), firsts)
    op.create_table(
        "participant_kind_years",
        sa.Column("participant", sa.String(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("mlit_type", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("participant", "region", "kind", "year"),
    )
    op.create_index(
        "ix_participant_kind_years_kind",
        "participant_kind_years",
        ["kind", "year", "region", "participant", "months"],
    )
    op.create_index(
        "ix_participant_kind_years_type",
        "participant_kind_years",
        ["mlit_type", "year", "region", "participant", "months"],
    )
    masks: dict[tuple[str, int, int, int], int] = {}
    for participant, region, kind, month in conn.execute(
        sa.text(
            "SELECT DISTINCT c.participant, c.region, c.kind, c.day / 100 FROM contributions c "
            "WHERE NOT EXISTS (SELECT 1 FROM revocations v WHERE v.activity_id = c.activity_id "
            "AND v.participant = c.participant)"
        )
    ):
        key = (str(participant), int(region), int(kind), int(month) // 100)
        masks[key] = masks.get(key, 0) | 1 << (int(month) % 100 - 1)
    if masks:
        conn.execute(
            sa.text(
                "INSERT INTO participant_kind_years (participant, region, kind, year, months, mlit_type) "
                "VALUES (:p, :r, :k, :y, :m, :t)"
            ),
            [{"p": p, "r": r, "k": k, "y": y, "m": m, "t": k // 10} for (p, r, k, y), m in masks.items()],
        )
    _upgrade_issuer_days()


def _upgrade_issuer_days() -> None:
    op.create_index("ix_batches_region_time", "batches", ["region", "block_timestamp"])
    op.create_table(
        "region_daily_issuers",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("minted", sa.BigInteger(), nullable=False),
        sa.Column("first_at", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.Column("first_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_tx_hash", sa.String(), nullable=False),
        sa.Column("last_log_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region", "day", "issuer"),
    )
    # Filled in Python: a JST day key from a block time needs calendar arithmetic SQL does not share.
    conn = op.get_bind()
    days: dict[tuple[int, int, str], dict[str, Any]] = {}
    for region, issuer, timestamp, block, log_index, tx_hash, count, minted in conn.execute(
        sa.text(
            "SELECT region, issuer, block_timestamp, block_number, log_index, tx_hash, count, minted FROM batches "
            "ORDER BY block_number, log_index"
        )
    ):
        on = date(1970, 1, 1) + timedelta(days=(int(timestamp) + _JST_OFFSET) // 86_400)
        key = (int(region), on.year * 10_000 + on.month * 100 + on.day, str(issuer))
        row = days.setdefault(
            key,
            {"region": key[0], "day": key[1], "issuer": key[2], "batches": 0, "records": 0, "minted": 0,
             "first_at": int(timestamp), "first_block": int(block)},
        )  # fmt: skip
        row["batches"] += 1
        row["records"] += int(count)
        row["minted"] += int(minted)
        row.update(
            last_at=int(timestamp), last_block=int(block), last_tx_hash=str(tx_hash), last_log_index=int(log_index)
        )
    if days:
        conn.execute(
            sa.text(
                "INSERT INTO region_daily_issuers (region, day, issuer, batches, records, minted, first_at, last_at, "
                "first_block, last_block, last_tx_hash, last_log_index) VALUES (:region, :day, :issuer, :batches, "
                ":records, :minted, :first_at, :last_at, :first_block, :last_block, :last_tx_hash, :last_log_index)"
            ),
            list(days.values()),
        )


def downgrade() -> None:
    op.drop_table("region_daily_issuers")
    op.drop_index("ix_batches_region_time", table_name="batches")
    op.drop_index("ix_participant_kind_years_type", table_name="participant_kind_years")
    op.drop_index("ix_participant_kind_years_kind", table_name="participant_kind_years")
    op.drop_table("participant_kind_years")
    with op.batch_alter_table("ties") as batch:
        batch.drop_index("ix_ties_region_kin_first_month")
        batch.drop_column("kin_first_month")
