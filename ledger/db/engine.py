"""Database engines for SQLite (default) and PostgreSQL, and the schema migrations that create them.

SQLite runs in WAL mode with ``synchronous=NORMAL``, with every transaction (DDL included) begun
explicitly so that a migration is all-or-nothing, (a committed transaction survives a crash of
the process; only a power loss can drop the last ones, which the indexer re-reads from the chain),
and foreign keys on. PostgreSQL needs nothing special: the same schema, the same code, another URL.

**Writers on one SQLite file.** The API, the relayer and the indexer are separate processes that
write the same file, and SQLite has one writer at a time. Every transaction that writes goes
through :func:`write_transaction`, which takes the write lock up front (``BEGIN IMMEDIATE``), and
waits for it up to :data:`SQLITE_BUSY_TIMEOUT_MS`: waiting is the normal case, not an error. A
transaction that reads first and writes later without it fails at once with "database is locked"
when another process wrote in between (the WAL snapshot it read cannot be upgraded), whatever the
busy timeout; that is how the indexer's refresh used to die under check-in load. Writers keep
their transactions short (the refresh computes outside the lock and only writes inside it), so a
wait is milliseconds. ``tests/db/test_write_lock.py`` checks that nothing in ``ledger/``, ``api/`` or
``scripts/`` opens a write transaction another way.

The schema is owned by Alembic migrations in ``ledger/db/migrations`` (``upgrade_to_head``);
nothing calls ``create_all`` on a live database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from ledger.errors import ConfigError

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "make_engine",
    "write_transaction",
    "write_transaction_on",
    "is_sqlite",
    "set_aside_sqlite",
    "alembic_config",
    "upgrade_to_head",
    "current_revision",
    "head_revision",
]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# How long a SQLite connection waits for the write lock (or a checkpoint) before "database is
# locked". Longer than any write transaction here takes (milliseconds; a migration, seconds), so a
# writer that has to wait always gets its turn; a transaction still waiting after this is a bug.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def set_aside_sqlite(engine: Engine, refusal: str) -> None:
    """Move the engine's SQLite file (with its ``-wal`` and ``-shm``) aside as ``*.stale``, so the next
    connection starts an empty database; nothing is deleted. Any other database is not moved:
    :class:`~ledger.errors.ConfigError` with ``refusal``."""
    database = engine.url.database
    if not is_sqlite(engine) or not database:
        raise ConfigError(refusal)
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        path = Path(database + suffix)
        if path.exists():
            path.replace(path.with_name(path.name + ".stale"))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (see _sqlite_begin):
    # the module's own handling commits before DDL, so a crash mid-migration could leave half a schema.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A writer that reads first (the claim intake's uniqueness check, the relayer's batch building)
    # must take the write lock up front: upgrading a WAL read snapshot to a write fails at once with
    # SQLITE_BUSY when another process wrote meanwhile, instead of waiting out the busy timeout.
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder when needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-then-write transaction that holds the write lock from its start (SQLite ``BEGIN
    IMMEDIATE``; a plain transaction on PostgreSQL, where row locks and constraints do the work)."""
    with engine.connect() as plain, write_transaction_on(plain) as conn:
        yield conn


@contextmanager
def write_transaction_on(connection: Connection) -> Iterator[Connection]:
    """:func:`write_transaction` on a connection the caller holds (one that must never wait for the
    engine's pool, such as the claim intake's, which commits on the API's event loop)."""
    conn = connection.execution_options(sqlite_immediate=True)
    with conn.begin():
        yield conn


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade_to_head(engine: Engine) -> str:
    """Apply every pending migration; returns the revision the database is now at."""
    command.upgrade(alembic_config(engine), "head")
    return current_revision(engine) or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    return head or ""
