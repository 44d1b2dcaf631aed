"""``ties.steady_until``: the day a tie's stored figures may change other than by a month's turn, so
the refresher carries a tie over a month's turn in SQL (issue 19, docs/decisions/0021).

``ties.next_change`` (migration 0015) is the earlier of two days: the first day a record's day leaves
a window or the last record stops being recent (``ledger.ties.next_change`` without ``new_month``),
and the next month's first day, when the tie needs its new month's ``tie_months`` row. On a month's
first day nearly every tie is due for that second reason alone (1,748,027 of 1,975,373 ties at the
national scale), and recomputing each through the model cost as much as a refresh from empty. When
the first day has not come (``steady_until > as_of``) the model gives the same figures as at the last
month's end, so the new month's row is the last one's with no record in it, and the ``ties`` row
changes only in ``next_change``: the refresher writes both with a few set-based statements
(``DerivedRefresher._carry_month_turn``).

The upgrade leaves ``steady_until`` at 0 ("not known"), so existing ties take the model's path on
their next due day, which stores it. The downgrade drops the column.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ties", sa.Column("steady_until", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.execute("ALTER TABLE ties DROP COLUMN steady_until")  # SQLite ≥ 3.35 and PostgreSQL alike
