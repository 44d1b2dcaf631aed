"""Alembic environment: runs against the engine handed over by ledger.db.engine.upgrade_to_head.

Every process (API, relayer, indexer) migrates at start, so several may start on one database at
once: the migration runs in one transaction that holds the write lock from its start (SQLite
``BEGIN IMMEDIATE``; on PostgreSQL a transaction-scoped advisory lock), so the second process waits,
then finds the schema at head and does nothing.

The models (``SQLModel.metadata``) are only the target of a comparison (``--autogenerate``); applying
migrations never reads them, so :func:`ledger.db.engine.upgrade_to_head` sets ``upgrade_only`` and
the ~0.4 s of building every SQLModel class stays off the start of a process (issue 19).
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Engine, text

# An arbitrary constant: the advisory lock that serialises migrations on one PostgreSQL database.
_MIGRATION_LOCK = 0x7453_756E_6761_7269  # "tSungari"

engine: Engine = context.config.attributes["engine"]
target_metadata: Any = None
if not context.config.attributes.get("upgrade_only"):
    from sqlmodel import SQLModel

    import ledger.db.models  # noqa: F401 - registers the tables on SQLModel.metadata

    target_metadata = SQLModel.metadata
with engine.connect() as plain:
    connection = plain.execution_options(sqlite_immediate=True)
    with connection.begin():
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=engine.dialect.name == "sqlite",
            compare_type=True,
            transactional_ddl=True,  # one transaction for all pending migrations (SQLite too, see engine.py)
        )
        with context.begin_transaction():
            context.run_migrations()
