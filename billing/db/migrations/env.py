"""Alembic environment: runs on the engine handed over by billing.db.migrate."""

from alembic import context

from billing.db.schema import metadata

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
