"""Alembic environment: online runs use the DSN handed in by sqlcompiler.migrations."""

from __future__ import annotations

import psycopg
from alembic import context
from sqlalchemy import create_engine, pool

VERSION_TABLE = "sqlcompiler_alembic_version"
config = context.config


def run_offline() -> None:
    context.configure(
        url="postgresql+psycopg://",
        literal_binds=True,
        version_table=VERSION_TABLE,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    dsn = config.attributes["dsn"]
    engine = create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(dsn, application_name="sqlcompiler-migrate"),
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        context.configure(connection=connection, version_table=VERSION_TABLE)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
