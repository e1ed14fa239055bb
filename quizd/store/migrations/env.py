"""Alembic's environment for quizd: run from code, on the connection it is handed.

:mod:`quizd.store.migrate` builds the ``alembic.config.Config`` in code and puts an open
SQLAlchemy connection in ``config.attributes["connection"]``; there is no alembic.ini
and no offline (SQL script) mode.  SQLite gets batch mode, because it can alter a table
only by copying it.
"""

from __future__ import annotations

from alembic import context

from quizd.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("quizd migrations run through quizd.store.migrate, with a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
