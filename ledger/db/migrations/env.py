"""Alembic environment: runs against the engine handed over by ledger.db.engine.upgrade_to_head."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine
from sqlmodel import SQLModel

import ledger.db.models  # noqa: F401 - registers the tables on SQLModel.metadata

engine: Engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
        transactional_ddl=True,  # one transaction for all pending migrations (SQLite too, see engine.py)
    )
    with context.begin_transaction():
        context.run_migrations()
