"""Writers on one SQLite file: every write transaction takes the write lock up front and waits for it.

Why it matters: a transaction that reads and then writes, begun as a plain (deferred) transaction,
fails at once with "database is locked" when another connection committed a write in between,
whatever the busy timeout, because its read snapshot cannot be upgraded. That is how the indexer's
refresh died under check-in load. ``write_transaction`` (``BEGIN IMMEDIATE``) waits instead.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from ledger.db.engine import make_engine, write_transaction

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    return engine


def _hold_the_write_lock(engine: Engine, seconds: float, taken: threading.Event) -> None:
    with write_transaction(engine) as conn:
        conn.execute(text("UPDATE counter SET n = n + 1"))
        taken.set()
        time.sleep(seconds)


def test_a_read_then_write_in_a_plain_transaction_fails_when_another_process_wrote(engine: Engine) -> None:
    taken = threading.Event()
    with engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT n FROM counter")).scalar()  # the snapshot is taken here
        other = threading.Thread(target=_hold_the_write_lock, args=(engine, 0.2, taken))
        other.start()
        taken.wait(5)
        other.join()  # it committed after our snapshot
        with pytest.raises(OperationalError, match="database is locked"):
            conn.execute(text("UPDATE counter SET n = n + 10"))


def test_write_transaction_waits_for_the_lock_and_sees_the_other_write(engine: Engine) -> None:
    taken = threading.Event()
    other = threading.Thread(target=_hold_the_write_lock, args=(engine, 0.5, taken))
    other.start()
    taken.wait(5)
    started = time.monotonic()
    with write_transaction(engine) as conn:
        waited = time.monotonic() - started
        value = conn.execute(text("SELECT n FROM counter")).scalar_one()
        conn.execute(text("UPDATE counter SET n = :n"), {"n": value + 10})
    other.join()
    assert waited > 0.2  # it waited for the other writer instead of failing
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 11


_PLAIN_WRITE_TRANSACTION = re.compile(r"(\bengine\w*|make_engine\([^)]*\))\.begin\(")


def test_no_code_opens_a_write_transaction_without_the_write_lock() -> None:
    """Every writer in ledger/, api/ and scripts/ goes through ``write_transaction`` (benchmarks'
    PostgreSQL schema setup on their own admin engines aside)."""
    offenders = []
    for folder in ("ledger", "api", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if _PLAIN_WRITE_TRANSACTION.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "use ledger.db.engine.write_transaction:\n" + "\n".join(offenders)
