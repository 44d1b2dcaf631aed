"""An activity's capacity holds however many API processes count it at once: on PostgreSQL the count
of an activity's live claims takes a transaction-level advisory lock, so a second transaction
counting the same activity waits until the first commits its insert (on SQLite the write
transaction already excludes every other writer)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from ledger.db.engine import make_engine, write_transaction
from ledger.relay.outbox import NewClaim, insert_claims, live_claims
from tests.indexer.helpers import database


def test_a_second_count_of_the_same_activity_waits_for_the_first_insert(tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as engine:
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        other = make_engine(engine.url, connect_args={"options": f"-csearch_path={schema}"})  # "another process"
        seen: list[int] = []
        counted = threading.Event()
        try:
            with write_transaction(engine) as first:
                assert live_claims(first, 7) == 0

                def second_process() -> None:
                    with write_transaction(other) as second:
                        seen.append(live_claims(second, 7))
                        counted.set()
                        live_claims(second, 8)  # another activity is not held up

                waiter = threading.Thread(target=second_process)
                waiter.start()
                assert not counted.wait(1.0)  # held: the first transaction has not inserted yet
                insert_claims(first, [NewClaim(7, 12205, "0x" + "11" * 20, "0x" + "22" * 32, 0)], 1_000)
            waiter.join(timeout=30)
            assert seen == [1]  # it counted after the first commit: the place is taken
        finally:
            other.dispose()


def test_other_activities_are_not_held_up(tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as engine:
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        other = make_engine(engine.url, connect_args={"options": f"-csearch_path={schema}"})
        try:
            with write_transaction(engine) as first:
                live_claims(first, 7)
                done = threading.Event()

                def count_another() -> None:
                    with write_transaction(other) as second:
                        live_claims(second, 9)
                    done.set()

                thread = threading.Thread(target=count_another)
                thread.start()
                assert done.wait(30)  # not blocked by activity 7's lock
                thread.join()
        finally:
            other.dispose()
