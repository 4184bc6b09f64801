"""Alembic's environment: run on the connection that ``cradletrace.store.schema`` passes in.

There is no alembic.ini: the configuration is built in code, so an installed cradletrace
upgrades its store with no file of the operator's.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from cradletrace.store import models  # noqa: F401  (registers the tables)

connection = context.config.attributes["connection"]
# Batch mode: SQLite cannot alter or drop most things in place; alembic then copies the table.
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
