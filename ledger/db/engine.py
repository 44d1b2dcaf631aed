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

**Start-up cost of a database already at head** (issue 19). Every process migrates at start, and
almost always there is nothing to do; Alembic still imports itself, loads every migration module
and SQLModel's metadata, which costs ~0.3 s per start. :func:`upgrade_to_head` first reads the
head revision from the migration files' ``revision = "…"`` / ``down_revision = "…"`` lines (text,
no imports) and the database's ``alembic_version`` in one query; only when they differ (or the
files cannot be read that way: a merge revision, say) does it run Alembic, which then takes the
migration lock and re-checks as before. Skipping is safe: at head, Alembic would do nothing.
``tests/indexer/test_start_up.py`` checks that this head is Alembic's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ledger.errors import ConfigError

if TYPE_CHECKING:  # Alembic is imported only when there is something to migrate
    from alembic.config import Config

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "make_engine",
    "write_transaction",
    "write_transaction_on",
    "copy_rows",
    "is_sqlite",
    "set_aside_sqlite",
    "alembic_config",
    "upgrade_to_head",
    "current_revision",
    "head_revision",
    "head_revision_of_files",
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


def copy_rows(cursor: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """``COPY table (columns) FROM STDIN`` of ``rows`` through a psycopg 3 ``cursor`` (PostgreSQL),
    in the cursor's transaction: one statement however many rows, and statement triggers fire once
    for all of them. The indexer's store, the refresher and the scale bench write bulk rows this way."""
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade_to_head(engine: Engine) -> str:
    """Apply every pending migration; returns the revision the database is now at."""
    head = head_revision_of_files()
    if head is not None and _stored_revisions(engine) == [head]:
        return head  # at head: nothing for Alembic to do (see the module docstring)
    from alembic import command

    config = alembic_config(engine)
    config.attributes["upgrade_only"] = True  # no models to compare with (migrations/env.py)
    command.upgrade(config, "head")
    return current_revision(engine) or ""


_REVISION_LINE = re.compile(
    r'^(down_revision|revision)\s*(?::[^=]*)?=\s*(None|"([^"]*)"|\'([^\']*)\')\s*$', re.MULTILINE
)


def head_revision_of_files() -> str | None:
    """The single head of the migration files, read as text; None when that reading is not certain
    (no files, a revision line in another form, several heads): the caller then asks Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_MIGRATIONS / "versions").glob("*.py"):
        found: dict[str, str | None] = {}
        for key, value, double, single in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            found[key] = None if value == "None" else (double or single)
        if "revision" not in found or "down_revision" not in found or found["revision"] is None:
            return None
        revisions.add(found["revision"])
        if found["down_revision"] is not None:
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revisions(engine: Engine) -> list[str]:
    """The database's ``alembic_version`` rows; empty when it has none (a new database)."""
    try:
        with engine.connect() as connection:
            return [str(r[0]) for r in connection.execute(text("SELECT version_num FROM alembic_version"))]
    except DBAPIError:
        return []


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    return head or ""
