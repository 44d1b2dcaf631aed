"""``region_daily_issuers.revoked_records``: per region, JST day and issuer, how many of the issuer's
records of that day are revoked since; and two indexes for the region dashboard's projects and
hours / days (issue 19, docs/decisions/0017).

The issuer audit counted each issuer's revoked records of a period by joining every revocation of
the region with ``contributions`` (one index lookup into the largest table per revocation: 234 ms for
the largest region's year at 10M records). The refresher now keeps the count beside the day's
batches, so the audit sums a few rows a day. A revocation marks the revoked record's days dirty (the
store, and a rollback for a revocation it undoes), so the refresher recomputes the count whenever it
can change.

The upgrade fills the column from the revoked records only (``revocations`` joined with
``contributions``: the few rows revoked, never a scan of every record), grouped by the record's
region, day and issuer, then one update per group; every other row keeps 0. A record's issuer is its
batch's, recorded in the same block, so its (region, day, issuer) row exists.

``ix_supports_project_totals`` on ``supports (project_id, chain_id, supporter, amount)``: the
``projects`` view sums each project's supports and counts its distinct supporters over all history,
through ``ix_supports_project_id`` and one heap fetch per support (the region dashboard's projects:
6.5 ms for the largest region at 1M records, 51 ms at 10M). With every column it reads in the index,
PostgreSQL answers from the index alone (0.8 ms at 1M); SQLite uses it as a covering index too.

``ix_activity_registrations_region_unit`` on ``activity_registrations (region, unit, activity_id,
max_units)``: the dashboard's hours of help and days of stays (``region_units``) look for the
region's per-hour and per-day activities, and through ``ix_activity_registrations_region`` read every
activity the region ever registered (5,110 for the largest region at 1M records: 3.1 and 2.5 ms for
its two statements, ten times that at 10M); with the unit in the index they read only those (0.1 ms).

The downgrade drops all three.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("region_daily_issuers") as batch:
        batch.add_column(sa.Column("revoked_records", sa.Integer(), nullable=False, server_default="0"))
    conn = op.get_bind()
    counts = [
        {"r": int(r[0]), "d": int(r[1]), "i": str(r[2]), "n": int(r[3])}
        for r in conn.execute(
            sa.text(
                "SELECT c.region, c.day, c.issuer, COUNT(*) FROM revocations v JOIN contributions c "
                "ON c.chain_id = v.chain_id AND c.activity_id = v.activity_id AND c.participant = v.participant "
                "GROUP BY c.region, c.day, c.issuer"
            )
        )
    ]
    if counts:
        conn.execute(
            sa.text(
                "UPDATE region_daily_issuers SET revoked_records = :n WHERE region = :r AND day = :d AND issuer = :i"
            ),
            counts,
        )
    op.create_index("ix_supports_project_totals", "supports", ["project_id", "chain_id", "supporter", "amount"])
    op.create_index(
        "ix_activity_registrations_region_unit",
        "activity_registrations",
        ["region", "unit", "activity_id", "max_units"],
    )


def downgrade() -> None:
    op.drop_index("ix_activity_registrations_region_unit", table_name="activity_registrations")
    op.drop_index("ix_supports_project_totals", table_name="supports")
    with op.batch_alter_table("region_daily_issuers") as batch:
        batch.drop_column("revoked_records")
