"""PostgreSQL: the ``tie_months`` delete trigger finds a deleted row's pairs through the participant
index instead of sorting the whole table (issue 19).

Migration 0005's statement trigger counts, for the deleted rows, the region pairs they formed in
the table as it was before the delete: the rows left plus the deleted ones, written as a join with
``(SELECT … FROM tie_months UNION ALL SELECT … FROM old_rows)``. PostgreSQL does not push the join's
condition into that union, so every delete statement read and sorted all of ``tie_months``: 88 ms
for one person's rows at 300,000 rows (measured here), and it grows with all history. The refresher
deletes a tie's month rows whenever it rewrites them, so at the national scale this was most of a
day's refresh. The join is now written as two joins, one with ``tie_months`` (through
``ix_tie_months_participant``) and one with ``old_rows``: the same rows, counted the same way.

Only the function changes; SQLite's row triggers look rows up by key already. The downgrade puts
back 0005's text.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_PEOPLE_KEY = "region, month, stage, kankei, category, visit_band, active, is_new"
_COHORT_KEY = "region, month, first_month, last_active_month"
_PAIR_KEY = "month, region, other, last_active_month"
_COLUMNS = "participant, region, month, first_month, last_active_month, active"
_PAIR = "LEAST(r.last_active_month, o.last_active_month)"
_SAME_MONTH = "o.participant = r.participant AND o.month = r.month AND o.region <> r.region"


def _function(pairs_before_the_delete: str) -> str:
    """The delete trigger's function; ``pairs_before_the_delete``: the (month, region, other, lam)
    rows of each deleted row with every other row of its person and month before the delete."""
    return f"""CREATE OR REPLACE FUNCTION tie_months_rollup_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO region_month_people ({_PEOPLE_KEY}, people)
      SELECT region, month, stage, kankei, COALESCE(category, ''), visit_band, active,
             (active AND first_month = month), -1 * COUNT(*) FROM old_rows
      GROUP BY region, month, stage, kankei, COALESCE(category, ''), visit_band, active,
               (active AND first_month = month)
      ON CONFLICT ({_PEOPLE_KEY}) DO UPDATE SET people = region_month_people.people + EXCLUDED.people;
    INSERT INTO region_month_cohorts ({_COHORT_KEY}, people)
      SELECT region, month, first_month, last_active_month, -1 * COUNT(*) FROM old_rows
      GROUP BY region, month, first_month, last_active_month
      ON CONFLICT ({_COHORT_KEY}) DO UPDATE SET people = region_month_cohorts.people + EXCLUDED.people;
    INSERT INTO region_pair_months ({_PAIR_KEY}, people)
      SELECT month, region, other, lam, -1 * COUNT(*) FROM (
        {pairs_before_the_delete}
        UNION ALL
        SELECT r.month, o.region, r.region, {_PAIR}
          FROM old_rows r JOIN tie_months o ON {_SAME_MONTH}
          WHERE NOT EXISTS (SELECT 1 FROM old_rows x
                            WHERE x.participant = o.participant AND x.region = o.region AND x.month = o.month)
      ) p GROUP BY month, region, other, lam
      ON CONFLICT ({_PAIR_KEY}) DO UPDATE SET people = region_pair_months.people + EXCLUDED.people;
  RETURN NULL;
END
$fn$"""


_SPLIT = (
    f"SELECT r.month, r.region, o.region AS other, {_PAIR} AS lam FROM old_rows r JOIN tie_months o ON {_SAME_MONTH}\n"
    f"        UNION ALL\n"
    f"        SELECT r.month, r.region, o.region, {_PAIR} FROM old_rows r JOIN old_rows o ON {_SAME_MONTH}"
)
_UNION = (
    f"SELECT r.month, r.region, o.region AS other, {_PAIR} AS lam FROM old_rows r JOIN "
    f"(SELECT {_COLUMNS} FROM tie_months UNION ALL SELECT {_COLUMNS} FROM old_rows) o ON {_SAME_MONTH}"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function(_SPLIT))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function(_UNION))
