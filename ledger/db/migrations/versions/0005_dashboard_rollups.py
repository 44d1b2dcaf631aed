"""Dashboard rollups kept by triggers: region × month people counts, cohorts, region pairs, and the
records after which a participant did not come back (see docs/events.md, "Dashboard rollups").

The refresher only ever deletes and inserts ``ties`` and ``tie_months`` rows (never updates them), so
a trigger on each insert and delete keeps the rollups exact without any change to the refresher:
the region dashboard and the national graph then read a few hundred rows instead of a region's
whole ``tie_months`` slice or every tie. SQLite uses row triggers (they fire as each row changes);
PostgreSQL uses statement triggers with transition tables (a multi-row statement is counted once).
Existing rows are counted into the rollups here.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Start of the JST day of unix time ``x`` (records of a tie's last active day), portable arithmetic.
_DAY0 = "({x} - (({x} + 32400) % 86400))"

_PEOPLE_KEY = "region, month, stage, kankei, category, visit_band, active, is_new"
_COHORT_KEY = "region, month, first_month, last_active_month"
_PAIR_KEY = "month, region, other, last_active_month"
_STAY_KEY = "region, day, kind"
_MONTH_STAY_KEY = "region, month, kind"
_MONTH_KIND_KEY = "region, month, kind"


def _tables() -> None:
    op.create_table(
        "region_month_people",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("kankei", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("visit_band", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("is_new", sa.Boolean(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region", "month", "stage", "kankei", "category", "visit_band", "active", "is_new"),
    )
    op.create_table(
        "region_month_cohorts",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("first_month", sa.Integer(), nullable=False),
        sa.Column("last_active_month", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region", "month", "first_month", "last_active_month"),
    )
    op.create_table(
        "region_pair_months",
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("other", sa.Integer(), nullable=False),
        sa.Column("last_active_month", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "region", "other", "last_active_month"),
    )
    op.create_table(
        "tie_last_kinds",
        sa.Column("participant", sa.String(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("participant", "region", "kind"),
    )
    op.create_table(
        "region_daily_stays",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("stays", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region", "day", "kind"),
    )
    op.create_table(
        "region_month_stays",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("stays", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region", "month", "kind"),
    )
    op.create_table(
        "region_month_kinds",
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("mlit_type", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("revoked_records", sa.Integer(), nullable=False),
        sa.Column("coins_issued", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("region", "month", "kind"),
    )


def _sqlite_statements(row: str, sign: str) -> list[str]:
    """The rollup deltas of one ``tie_months`` row ``row`` (NEW or OLD) with ``sign`` (1 or -1)."""
    return [
        f"INSERT INTO region_month_people ({_PEOPLE_KEY}, people) VALUES ({row}.region, {row}.month, {row}.stage, "
        f"{row}.kankei, COALESCE({row}.category, ''), {row}.visit_band, {row}.active, "
        f"({row}.active AND {row}.first_month = {row}.month), {sign}) "
        f"ON CONFLICT ({_PEOPLE_KEY}) DO UPDATE SET people = people + excluded.people;",
        f"INSERT INTO region_month_cohorts ({_COHORT_KEY}, people) VALUES ({row}.region, {row}.month, "
        f"{row}.first_month, {row}.last_active_month, {sign}) "
        f"ON CONFLICT ({_COHORT_KEY}) DO UPDATE SET people = people + excluded.people;",
        f"INSERT INTO region_pair_months ({_PAIR_KEY}, people) SELECT {row}.month, {row}.region, o.region, "
        f"MIN({row}.last_active_month, o.last_active_month), {sign} FROM tie_months o "
        f"WHERE o.participant = {row}.participant AND o.month = {row}.month AND o.region <> {row}.region "
        f"ON CONFLICT ({_PAIR_KEY}) DO UPDATE SET people = people + excluded.people;",
        f"INSERT INTO region_pair_months ({_PAIR_KEY}, people) SELECT {row}.month, o.region, {row}.region, "
        f"MIN({row}.last_active_month, o.last_active_month), {sign} FROM tie_months o "
        f"WHERE o.participant = {row}.participant AND o.month = {row}.month AND o.region <> {row}.region "
        f"ON CONFLICT ({_PAIR_KEY}) DO UPDATE SET people = people + excluded.people;",
    ]


def _last_kinds_select(ties: str) -> str:
    """(participant, region, kind, day, records): live non-kin records on each tie's last active day."""
    day0 = _DAY0.format(x="t.last_at")
    return (
        "SELECT t.participant, t.region, c.kind, MIN(c.day), COUNT(*) "
        f"FROM {ties} t JOIN contributions c ON c.participant = t.participant AND c.region = t.region "
        f"WHERE t.last_at > 0 AND c.block_timestamp >= {day0} AND c.block_timestamp < {day0} + 86400 "
        "AND c.mlit_type <> 6 AND NOT EXISTS (SELECT 1 FROM revocations v "
        "WHERE v.activity_id = c.activity_id AND v.participant = c.participant) "
        "GROUP BY t.participant, t.region, c.kind"
    )


def _sqlite_upgrade() -> None:
    for event, row, sign in (("INSERT", "NEW", "1"), ("DELETE", "OLD", "-1")):
        body = "\n  ".join(_sqlite_statements(row, sign))
        op.execute(f"CREATE TRIGGER trg_tie_months_{event.lower()} AFTER {event} ON tie_months BEGIN\n  {body}\nEND")
    insert_kinds = _last_kinds_select(
        "(SELECT NEW.participant AS participant, NEW.region AS region, NEW.last_at AS last_at)"
    )
    op.execute(
        "CREATE TRIGGER trg_ties_insert AFTER INSERT ON ties WHEN NEW.last_at > 0 BEGIN\n"
        f"  INSERT INTO tie_last_kinds (participant, region, kind, day, records) {insert_kinds};\n"
        f"  INSERT INTO region_daily_stays ({_STAY_KEY}, stays) SELECT region, day, kind, records FROM tie_last_kinds "
        "WHERE participant = NEW.participant AND region = NEW.region "
        f"ON CONFLICT ({_STAY_KEY}) DO UPDATE SET stays = stays + excluded.stays;\n"
        f"  INSERT INTO region_month_stays ({_MONTH_STAY_KEY}, stays) SELECT region, day / 100, kind, records "
        "FROM tie_last_kinds WHERE participant = NEW.participant AND region = NEW.region "
        f"ON CONFLICT ({_MONTH_STAY_KEY}) DO UPDATE SET stays = stays + excluded.stays;\n"
        "END"
    )
    op.execute(
        "CREATE TRIGGER trg_ties_delete AFTER DELETE ON ties BEGIN\n"
        f"  INSERT INTO region_daily_stays ({_STAY_KEY}, stays) SELECT region, day, kind, -records FROM tie_last_kinds "
        "WHERE participant = OLD.participant AND region = OLD.region "
        f"ON CONFLICT ({_STAY_KEY}) DO UPDATE SET stays = stays + excluded.stays;\n"
        f"  INSERT INTO region_month_stays ({_MONTH_STAY_KEY}, stays) SELECT region, day / 100, kind, -records "
        "FROM tie_last_kinds WHERE participant = OLD.participant AND region = OLD.region "
        f"ON CONFLICT ({_MONTH_STAY_KEY}) DO UPDATE SET stays = stays + excluded.stays;\n"
        "  DELETE FROM tie_last_kinds WHERE participant = OLD.participant AND region = OLD.region;\n"
        "END"
    )
    for event, row, sign in (("INSERT", "NEW", ""), ("DELETE", "OLD", "-")):
        op.execute(
            f"CREATE TRIGGER trg_region_daily_{event.lower()} AFTER {event} ON region_daily BEGIN\n"
            f"  INSERT INTO region_month_kinds ({_MONTH_KIND_KEY}, mlit_type, records, revoked_records, coins_issued) "
            f"VALUES ({row}.region, {row}.day / 100, {row}.kind, {row}.mlit_type, {sign}{row}.records, "
            f"{sign}{row}.revoked_records, {sign}{row}.coins_issued) ON CONFLICT ({_MONTH_KIND_KEY}) DO UPDATE SET "
            "records = records + excluded.records, revoked_records = revoked_records + excluded.revoked_records, "
            "coins_issued = coins_issued + excluded.coins_issued;\n"
            "END"
        )


def _month_kinds_sql(rows: str, sign: str) -> str:
    return f"""
    INSERT INTO region_month_kinds ({_MONTH_KIND_KEY}, mlit_type, records, revoked_records, coins_issued)
      SELECT region, day / 100, kind, MIN(mlit_type), {sign}SUM(records), {sign}SUM(revoked_records),
             {sign}SUM(coins_issued) FROM {rows} GROUP BY region, day / 100, kind
      ON CONFLICT ({_MONTH_KIND_KEY}) DO UPDATE SET records = region_month_kinds.records + EXCLUDED.records,
        revoked_records = region_month_kinds.revoked_records + EXCLUDED.revoked_records,
        coins_issued = region_month_kinds.coins_issued + EXCLUDED.coins_issued;
    """


def _pg_rollup_sql(rows: str, sign: str, pre_state: str) -> str:
    """Statements adding ``sign`` × the rollup contribution of transition table ``rows``.

    Pairs: every ordered pair of rows of one person and month with at least one row in ``rows``,
    taken in ``pre_state`` (the table with ``rows`` in it): (r → any other row) plus (other row not in
    ``rows`` → r), so a pair with both rows in ``rows`` is counted once per direction.
    """
    return f"""
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
    INSERT INTO region_pair_months ({_PAIR_KEY}, people)
      SELECT month, region, other, lam, {sign} * COUNT(*) FROM (
        SELECT r.month, r.region, o.region AS other, LEAST(r.last_active_month, o.last_active_month) AS lam
          FROM {rows} r JOIN ({pre_state}) o
          ON o.participant = r.participant AND o.month = r.month AND o.region <> r.region
        UNION ALL
        SELECT r.month, o.region, r.region, LEAST(r.last_active_month, o.last_active_month)
          FROM {rows} r JOIN tie_months o
          ON o.participant = r.participant AND o.month = r.month AND o.region <> r.region
          WHERE NOT EXISTS (SELECT 1 FROM {rows} x
                            WHERE x.participant = o.participant AND x.region = o.region AND x.month = o.month)
      ) p GROUP BY month, region, other, lam
      ON CONFLICT ({_PAIR_KEY}) DO UPDATE SET people = region_pair_months.people + EXCLUDED.people;
    """


def _pg_upgrade() -> None:
    columns = "participant, region, month, first_month, last_active_month, active"
    functions = {
        # after an insert, tie_months holds new_rows already
        "tie_months_rollup_insert": _pg_rollup_sql("new_rows", "1", "SELECT * FROM tie_months"),
        # after a delete, the pre-state is what is left plus the deleted rows
        "tie_months_rollup_delete": _pg_rollup_sql(
            "old_rows", "-1", f"SELECT {columns} FROM tie_months UNION ALL SELECT {columns} FROM old_rows"
        ),
        "ties_stays_insert": f"""
    INSERT INTO tie_last_kinds (participant, region, kind, day, records) {_last_kinds_select("new_rows")};
    INSERT INTO region_daily_stays ({_STAY_KEY}, stays)
      SELECT k.region, k.day, k.kind, SUM(k.records) FROM tie_last_kinds k
      JOIN new_rows n ON n.participant = k.participant AND n.region = k.region GROUP BY k.region, k.day, k.kind
      ON CONFLICT ({_STAY_KEY}) DO UPDATE SET stays = region_daily_stays.stays + EXCLUDED.stays;
    INSERT INTO region_month_stays ({_MONTH_STAY_KEY}, stays)
      SELECT k.region, k.day / 100, k.kind, SUM(k.records) FROM tie_last_kinds k
      JOIN new_rows n ON n.participant = k.participant AND n.region = k.region GROUP BY k.region, k.day / 100, k.kind
      ON CONFLICT ({_MONTH_STAY_KEY}) DO UPDATE SET stays = region_month_stays.stays + EXCLUDED.stays;
    """,
        "ties_stays_delete": f"""
    INSERT INTO region_daily_stays ({_STAY_KEY}, stays)
      SELECT k.region, k.day, k.kind, -SUM(k.records) FROM tie_last_kinds k
      JOIN old_rows o ON o.participant = k.participant AND o.region = k.region GROUP BY k.region, k.day, k.kind
      ON CONFLICT ({_STAY_KEY}) DO UPDATE SET stays = region_daily_stays.stays + EXCLUDED.stays;
    INSERT INTO region_month_stays ({_MONTH_STAY_KEY}, stays)
      SELECT k.region, k.day / 100, k.kind, -SUM(k.records) FROM tie_last_kinds k
      JOIN old_rows o ON o.participant = k.participant AND o.region = k.region GROUP BY k.region, k.day / 100, k.kind
      ON CONFLICT ({_MONTH_STAY_KEY}) DO UPDATE SET stays = region_month_stays.stays + EXCLUDED.stays;
    DELETE FROM tie_last_kinds k USING old_rows o WHERE k.participant = o.participant AND k.region = o.region;
    """,
        "region_daily_months_insert": _month_kinds_sql("new_rows", ""),
        "region_daily_months_delete": _month_kinds_sql("old_rows", "-"),
    }
    for name, body in functions.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$\nBEGIN\n{body}\n"
            "  RETURN NULL;\nEND\n$fn$"
        )
    for table, event, rows, function in (
        ("tie_months", "INSERT", "NEW TABLE AS new_rows", "tie_months_rollup_insert"),
        ("tie_months", "DELETE", "OLD TABLE AS old_rows", "tie_months_rollup_delete"),
        ("ties", "INSERT", "NEW TABLE AS new_rows", "ties_stays_insert"),
        ("ties", "DELETE", "OLD TABLE AS old_rows", "ties_stays_delete"),
        ("region_daily", "INSERT", "NEW TABLE AS new_rows", "region_daily_months_insert"),
        ("region_daily", "DELETE", "OLD TABLE AS old_rows", "region_daily_months_delete"),
    ):
        op.execute(
            f"CREATE TRIGGER trg_{function} AFTER {event} ON {table} REFERENCING {rows} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )


def _backfill(postgres: bool) -> None:
    """Count the rows already there (a fresh database has none)."""
    least = "LEAST" if postgres else "MIN"
    op.execute(
        f"INSERT INTO region_month_people ({_PEOPLE_KEY}, people) "
        "SELECT region, month, stage, kankei, COALESCE(category, ''), visit_band, active, "
        "(active AND first_month = month), COUNT(*) FROM tie_months "
        "GROUP BY region, month, stage, kankei, COALESCE(category, ''), visit_band, active, "
        "(active AND first_month = month)"
    )
    op.execute(
        f"INSERT INTO region_month_cohorts ({_COHORT_KEY}, people) SELECT {_COHORT_KEY}, COUNT(*) FROM tie_months "
        f"GROUP BY {_COHORT_KEY}"
    )
    op.execute(
        f"INSERT INTO region_pair_months ({_PAIR_KEY}, people) "
        f"SELECT a.month, a.region, b.region, {least}(a.last_active_month, b.last_active_month), COUNT(*) "
        "FROM tie_months a JOIN tie_months b ON b.participant = a.participant AND b.month = a.month "
        "AND b.region <> a.region "
        f"GROUP BY a.month, a.region, b.region, {least}(a.last_active_month, b.last_active_month)"
    )
    op.execute(f"INSERT INTO tie_last_kinds (participant, region, kind, day, records) {_last_kinds_select('ties')}")
    op.execute(
        f"INSERT INTO region_daily_stays ({_STAY_KEY}, stays) SELECT region, day, kind, SUM(records) "
        "FROM tie_last_kinds GROUP BY region, day, kind"
    )
    op.execute(
        f"INSERT INTO region_month_stays ({_MONTH_STAY_KEY}, stays) SELECT region, day / 100, kind, SUM(records) "
        "FROM tie_last_kinds GROUP BY region, day / 100, kind"
    )
    op.execute(
        f"INSERT INTO region_month_kinds ({_MONTH_KIND_KEY}, mlit_type, records, revoked_records, coins_issued) "
        "SELECT region, day / 100, kind, MIN(mlit_type), SUM(records), SUM(revoked_records), SUM(coins_issued) "
        "FROM region_daily GROUP BY region, day / 100, kind"
    )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _tables()
    _backfill(postgres)
    if postgres:
        _pg_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, function in (
            ("tie_months", "tie_months_rollup_insert"),
            ("tie_months", "tie_months_rollup_delete"),
            ("ties", "ties_stays_insert"),
            ("ties", "ties_stays_delete"),
            ("region_daily", "region_daily_months_insert"),
            ("region_daily", "region_daily_months_delete"),
        ):
            op.execute(f"DROP TRIGGER IF EXISTS trg_{function} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for trigger in (
            "trg_tie_months_insert",
            "trg_tie_months_delete",
            "trg_ties_insert",
            "trg_ties_delete",
            "trg_region_daily_insert",
            "trg_region_daily_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for table in (
        "region_month_kinds",
        "region_month_stays",
        "region_daily_stays",
        "tie_last_kinds",
        "region_pair_months",
        "region_month_cohorts",
        "region_month_people",
    ):
        op.drop_table(table)
