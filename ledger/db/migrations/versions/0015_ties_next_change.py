"""``ties.next_change``; recency and score computed when read (issue 19, docs/decisions/0016).

Recency (and so the score) decays every day, while every other figure of a tie is a step function of
the day: it changes only when a record's day leaves the year or the continuity window, when the last
record stops being recent, or in a new month (``ledger.ties.next_change``). Storing the daily figures
made every tie dirty on every new day (~65 s at 1M records, growing with all history). So:

- ``ties.next_change``: the end of the first JST day on which a stored figure may change, indexed; on a
  new day the refresher recomputes only the ties with ``next_change <= as_of``, read off the front
  of the index (``next_change``, ``participant``, ``region``).
- ``ties.recency``, ``ties.score`` and ``ties.as_of`` are dropped: the readers compute recency and score
  for the head's day from ``last_at`` and the stored components (``ledger.ties.tie_reading``), and the
  head's day is the ``as_of`` (``ledger.indexer.refresh.head_as_of``).
- ``tie_months.score`` is dropped: nothing read it, and it would have made the current month's row of
  every tie change every day.

The upgrade leaves ``next_change`` at 0, so every existing tie is due on the next refresh, which
recomputes its row and its last month's row. The downgrade restores the columns (zero) and marks every
tie dirty, so the old refresher recomputes them.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ties", sa.Column("next_change", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_index("ix_ties_next_change", "ties", ["next_change", "participant", "region"], unique=False)
    for table, column in (("ties", "recency"), ("ties", "score"), ("ties", "as_of"), ("tie_months", "score")):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")  # SQLite ≥ 3.35 and PostgreSQL alike


def downgrade() -> None:
    op.drop_index("ix_ties_next_change", table_name="ties")
    op.execute("ALTER TABLE ties DROP COLUMN next_change")
    op.add_column("ties", sa.Column("recency", sa.Float(), nullable=False, server_default="0"))
    op.add_column("ties", sa.Column("score", sa.Float(), nullable=False, server_default="0"))
    op.add_column("ties", sa.Column("as_of", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("tie_months", sa.Column("score", sa.Float(), nullable=False, server_default="0"))
    op.execute(
        "INSERT INTO dirty_ties (participant, region) SELECT participant, region FROM ties WHERE true "
        "ON CONFLICT DO NOTHING"
    )
