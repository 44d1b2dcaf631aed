"""The ``tie_months`` rollups kept by triggers (migrations 0005 and 0016) equal a recount after every
kind of insert and delete the refresher makes: one row, one person's rows, several people's rows in
one statement (pairs with both rows deleted, pairs with one), and rows put back. On PostgreSQL the
delete trigger counts a deleted row's pairs with two joins (the rows left and the rows deleted);
this checks that nothing is counted twice or missed."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from ledger.db.engine import write_transaction
from tests.indexer.helpers import database

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
_INSERT = text(
    "INSERT INTO tie_months (region, month, participant, first_month, active, records, stage, kankei, category, "
    "visit_band, last_active_month) VALUES (:region, :month, :p, :first, :active, 1, :stage, :kankei, :category, "
    "'v1', :lam)"
)


def _rows(rng: random.Random, people: int) -> list[dict[str, object]]:
    rows = []
    for n in range(people):
        for region in rng.sample([1634, 12205, 15202, 26100], rng.randint(1, 3)):
            for month in rng.sample([202501, 202502, 202503], rng.randint(1, 3)):
                kankei = rng.random() < 0.3
                rows.append(
                    {
                        "region": region,
                        "month": month,
                        "p": f"0x{n:040x}",
                        "first": 202501,
                        "active": rng.random() < 0.7,
                        "stage": "kankei" if kankei else "visitor",
                        "kankei": kankei,
                        "category": "visiting" if kankei else None,
                        "lam": rng.choice([202412, 202501, month]),
                    }
                )
    return rows


def _check(conn: Connection) -> None:
    least = "LEAST" if conn.dialect.name == "postgresql" else "MIN"
    recounts = {
        "SELECT month, region, other, last_active_month, people FROM region_pair_months WHERE people <> 0": (
            f"SELECT a.month, a.region, b.region, {least}(a.last_active_month, b.last_active_month), COUNT(*) "
            "FROM tie_months a JOIN tie_months b ON b.participant = a.participant AND b.month = a.month "
            "AND b.region <> a.region GROUP BY 1, 2, 3, 4"
        ),
        "SELECT region, month, first_month, last_active_month, people FROM region_month_cohorts WHERE people <> 0": (
            "SELECT region, month, first_month, last_active_month, COUNT(*) FROM tie_months GROUP BY 1, 2, 3, 4"
        ),
        "SELECT region, month, stage, kankei, category, visit_band, active, is_new, people "
        "FROM region_month_people WHERE people <> 0": (
            "SELECT region, month, stage, kankei, COALESCE(category, ''), visit_band, active, "
            "(active AND first_month = month), COUNT(*) FROM tie_months GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
        ),
    }
    for kept, recount in recounts.items():
        assert sorted(tuple(r) for r in conn.execute(text(kept))) == sorted(
            tuple(r) for r in conn.execute(text(recount))
        ), kept


@pytest.mark.parametrize("kind", BACKENDS)
def test_rollups_equal_a_recount_after_every_insert_and_delete(kind: str, tmp_path: Path) -> None:
    rng = random.Random(19)
    rows = _rows(rng, 40)
    people = sorted({str(r["p"]) for r in rows})
    with database(kind, tmp_path) as engine:
        with write_transaction(engine) as conn:
            conn.execute(_INSERT, rows)
        with engine.connect() as conn:
            _check(conn)
            assert conn.execute(text("SELECT COUNT(*) FROM region_pair_months WHERE people <> 0")).scalar()
        steps = [
            ("DELETE FROM tie_months WHERE participant = :p AND region = :r AND month = :m", "one row"),
            ("DELETE FROM tie_months WHERE participant = :p", "one person"),
            ("DELETE FROM tie_months WHERE participant IN (:p, :q, :s)", "three people at once"),
            ("DELETE FROM tie_months WHERE participant = :p AND region = :r", "one tie"),
        ]
        for round_ in range(6):
            statement, what = steps[round_ % len(steps)]
            person = rng.choice(people)
            victim = next(r for r in rows if r["p"] == person)
            params = {"p": victim["p"], "r": victim["region"], "m": victim["month"]}
            params |= {"q": rng.choice(people), "s": rng.choice(people)}
            with write_transaction(engine) as conn:
                gone = conn.execute(text(statement), params).rowcount
            assert gone > 0, what
            with engine.connect() as conn:
                _check(conn)
            back = [r for r in rows if r["p"] in (params["p"], params["q"], params["s"])]
            with write_transaction(engine) as conn:  # the refresher writes the rows again
                conn.execute(text("DELETE FROM tie_months WHERE participant IN (:p, :q, :s)"), params)
                conn.execute(_INSERT, back)
            with engine.connect() as conn:
                _check(conn)
