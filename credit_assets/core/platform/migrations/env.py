"""Alembic environment: runs against the engine handed over by `credit_assets.core.platform.db.migrate`."""

from alembic import context

from credit_assets.core.platform.db import VERSION_TABLE, metadata

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()
