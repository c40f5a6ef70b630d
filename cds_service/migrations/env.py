"""Alembic environment: migrations run against the URL the service is configured with."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from cds_service.storage import Base

url = context.config.get_main_option("sqlalchemy.url")
if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # One migrator at a time across replicas; released when the session ends.
            connection.exec_driver_sql("SELECT pg_advisory_lock(727274)")
            connection.commit()
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
