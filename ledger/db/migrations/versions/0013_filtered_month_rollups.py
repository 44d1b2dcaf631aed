"""``filtered_month_people`` and ``filtered_pair_months``: the national view under a kind or an MLIT
type from a few hundred rollup rows instead of every (region, person) row of the period.

A person's active months S = {s1 < s2 < … < sn} (under a filter, in a region) meet the window
[m0, m1] exactly when one i has m0 <= si <= m1 and prev(si) < m0 (prev(s1) = 0, prev(si) = s(i-1)):
the first active month inside the window. So each (person, active month) adds +1 at (month, prev)
and the people of a region active in the window are ``SUM(people) WHERE month BETWEEN m0 AND m1 AND
prev < m0``.

Two regions share a person when S_a and S_b both meet the window: |meet(S_a)| + |meet(S_b)| −
|meet(S_a ∪ S_b)|, summed over the people with rows in both (under the filter, any time). Each term
is the same sum, so ``filtered_pair_months`` holds signed counts: per such person +1 rows for S_a and
for S_b, −1 rows for S_a ∪ S_b (summed, zero rows dropped), and a link is the same query.

The filter is two columns, ``filter_by`` ('kind' | 'type') and ``filter_value`` (the kind code or
the MLIT type), in one table per role rather than four tables: one query, one maintenance path, and
the filter leads the primary key, so a query reads only its filter's rows. A type's months are the
union over the kinds of that type (kin included, like ``participant_kind_years``).

Cost: a node query reads the filter's rows whose month is in the window (one per region, month and
distinct earlier month); a link query the same per region pair. The refresher rewrites a person's
contributions (all their regions: a pair row depends on both) whenever it rewrites their
``participant_kind_years`` rows, subtracting the old and adding the new, so the rollups grow with
what changed; a rollback re-derives the same rows (no per-month snapshots).

The primary keys lead with (filter_by, filter_value, month, prev), the order the queries read; on
SQLite the tables are WITHOUT ROWID so the key holds ``people`` and a query never leaves the index.

The upgrade fills them from ``participant_kind_years`` in Python, one person at a time (this
migration keeps its own copy of the arithmetic, like every migration keeps its own constants).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_INSERT_BATCH = 10_000


def upgrade() -> None:
    op.create_table(
        "filtered_month_people",
        sa.Column("filter_by", sa.String(), nullable=False),
        sa.Column("filter_value", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("prev", sa.Integer(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("filter_by", "filter_value", "month", "prev", "region"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "filtered_pair_months",
        sa.Column("filter_by", sa.String(), nullable=False),
        sa.Column("filter_value", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("prev", sa.Integer(), nullable=False),
        sa.Column("region_a", sa.Integer(), nullable=False),
        sa.Column("region_b", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("filter_by", "filter_value", "month", "prev", "region_a", "region_b"),
        sqlite_with_rowid=False,
    )
    conn = op.get_bind()
    nodes: Counter[tuple[str, int, int, int, int]] = Counter()
    pairs: Counter[tuple[str, int, int, int, int, int]] = Counter()
    person: str | None = None
    rows: list[tuple[int, int, int, int]] = []
    for participant, region, kind, year, months in conn.execute(
        sa.text(
            "SELECT participant, region, kind, year, months FROM participant_kind_years "
            "ORDER BY participant, region, kind, year"
        )
    ):
        if participant != person:
            _add_person(rows, nodes, pairs)
            person, rows = str(participant), []
        rows.append((int(region), int(kind), int(year), int(months)))
    _add_person(rows, nodes, pairs)
    _insert(conn, "filtered_month_people", "filter_by, filter_value, month, prev, region", nodes)
    _insert(conn, "filtered_pair_months", "filter_by, filter_value, month, prev, region_a, region_b", pairs)


def _add_person(
    rows: list[tuple[int, int, int, int]],
    nodes: Counter[tuple[str, int, int, int, int]],
    pairs: Counter[tuple[str, int, int, int, int, int]],
) -> None:
    """One person's contributions from their (region, kind, year, months) rows."""
    active: dict[tuple[str, int], dict[int, set[int]]] = {}
    for region, kind, year, mask in rows:
        months = {year * 100 + m for m in range(1, 13) if mask >> (m - 1) & 1}
        for key in (("kind", kind), ("type", kind // 10)):
            active.setdefault(key, {}).setdefault(region, set()).update(months)
    for (by, value), regions in active.items():
        for region, months in regions.items():
            for month, prev in _steps(months):
                nodes[by, value, month, prev, region] += 1
        for a, b in combinations(sorted(regions), 2):
            for months, sign in ((regions[a], 1), (regions[b], 1), (regions[a] | regions[b], -1)):
                for month, prev in _steps(months):
                    pairs[by, value, month, prev, a, b] += sign


def _steps(months: set[int]) -> list[tuple[int, int]]:
    ordered = sorted(months)
    return list(zip(ordered, [0, *ordered[:-1]], strict=True))


def _insert(conn: sa.Connection, table: str, columns: str, counts: Counter[Any]) -> None:
    names = [c.strip() for c in columns.split(",")] + ["people"]
    statement = sa.text(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})")
    rows = [dict(zip(names, (*key, n), strict=True)) for key, n in counts.items() if n]
    for i in range(0, len(rows), _INSERT_BATCH):
        conn.execute(statement, rows[i : i + _INSERT_BATCH])


def downgrade() -> None:
    op.drop_table("filtered_pair_months")
    op.drop_table("filtered_month_people")
