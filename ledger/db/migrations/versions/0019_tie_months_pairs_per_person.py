"""PostgreSQL: the ``tie_months`` rollup triggers look up each person's other rows once, through the
participant index, instead of letting the planner pick a merge join over the whole index (issue 19,
docs/decisions/0021).

Both statement triggers (migrations 0005 and 0016) count the region pairs a batch's rows form with
the person's rows in other regions: ``new_rows`` (or ``old_rows``) joined with ``tie_months`` on
participant and month. Inside a trigger the transition table has no statistics, and PostgreSQL
answered that join with a merge join that reads ``ix_tie_months_participant`` from its first entry
up to the batch's people. A refresh takes its batches in address order, so each batch read all the
rows of the batches before it: on a 1M-record schema, a 4,000-row insert in the middle of the index
took 495 ms with the trigger and 81 ms without it, and a delete 440 ms against 23 ms. At the national
scale that is most of a refresh.

The pairs now come from a materialised list of the statement's people, each looked up in
``tie_months`` by a ``LATERAL`` subquery (``OFFSET 0`` keeps the planner from flattening it back
into a join): one index probe per person, whatever the plan of the rest. The rows counted are the
same, and ``tests/db/test_rollup_triggers.py`` checks the rollups against a recount after every
kind of insert and delete. SQLite's row triggers look rows up by key already.

The downgrade puts back the plain joins of 0005 and 0016.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_PEOPLE_KEY = "region, month, stage, kankei, category, visit_band, active, is_new"
_COHORT_KEY = "region, month, first_month, last_active_month"
_PAIR_KEY = "month, region, other, last_active_month"
_PAIR = "LEAST(r.last_active_month, o.last_active_month)"
_SAME_MONTH = "o.participant = r.participant AND o.month = r.month AND o.region <> r.region"


def _others(rows: str) -> str:
    """The ``WITH`` list naming ``others``: every ``tie_months`` row of the people in ``rows``, one
    index probe per person."""
    return (
        f"WITH batch_people AS MATERIALIZED (SELECT DISTINCT participant FROM {rows}),\n"
        "      others AS MATERIALIZED (SELECT t.participant, t.region, t.month, t.last_active_month\n"
        "        FROM batch_people p CROSS JOIN LATERAL (SELECT participant, region, month, last_active_month\n"
        "          FROM tie_months WHERE participant = p.participant OFFSET 0) t)\n"
    )


def _function(event: str, lookup: bool) -> str:
    """The insert or delete trigger's function; ``lookup``: find the person's rows through
    ``others`` (this migration), else join ``tie_months`` directly (0005 and 0016)."""
    rows, sign = ("new_rows", 1) if event == "insert" else ("old_rows", -1)
    with_others, others = (_others(rows), "others") if lookup else ("", "tie_months")
    same_statement = (
        f"SELECT r.month, r.region, o.region, {_PAIR} FROM old_rows r JOIN old_rows o ON {_SAME_MONTH}\n"
        "        UNION ALL\n        "
        if event == "delete"
        else ""
    )
    return f"""CREATE OR REPLACE FUNCTION tie_months_rollup_{event}() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO region_month_people ({_PEOPLE_KEY}, people)
      SELECT region, month, stage, kankei, COALESCE(category, ''), visit_band, active,
             (active AND first_month = month), {sign} * COUNT(*) FROM {rows}
      GROUP BY region, month, stage, kankei, COALESCE(category, ''), visit_band, active,
               (active AND first_month = month)
      ON CONFLICT ({_PEOPLE_KEY}) DO UPDATE SET people = region_month_people.people + EXCLUDED.people;
    INSERT INTO region_month_cohorts ({_COHORT_KEY}, people)
      SELECT region, month, first_month, last_active_month, {sign} * COUNT(*) FROM {rows}
      GROUP BY region, month, first_month, last_active_month
      ON CONFLICT ({_COHORT_KEY}) DO UPDATE SET people = region_month_cohorts.people + EXCLUDED.people;
    {with_others}    INSERT INTO region_pair_months ({_PAIR_KEY}, people)
      SELECT month, region, other, lam, {sign} * COUNT(*) FROM (
        SELECT r.month, r.region, o.region AS other, {_PAIR} AS lam FROM {rows} r JOIN {others} o ON {_SAME_MONTH}
        UNION ALL
        {same_statement}SELECT r.month, o.region, r.region, {_PAIR}
          FROM {rows} r JOIN {others} o ON {_SAME_MONTH}
          WHERE NOT EXISTS (SELECT 1 FROM {rows} x
                            WHERE x.participant = o.participant AND x.region = o.region AND x.month = o.month)
      ) p GROUP BY month, region, other, lam
      ON CONFLICT ({_PAIR_KEY}) DO UPDATE SET people = region_pair_months.people + EXCLUDED.people;
  RETURN NULL;
END
$fn$"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function("insert", lookup=True))
        op.execute(_function("delete", lookup=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function("insert", lookup=False))
        op.execute(_function("delete", lookup=False))
