"""Alembic environment: online runs use the DSN handed in by sqlcompiler.migrations.

The version table is ``sqlcompiler.alembic_version``, in the product's own small schema: a
role that may create schemas in the database but does not own ``public`` (PostgreSQL 15's
default) can migrate, and ``db downgrade base`` (which drops campaign_engine and
campaign_results) keeps it. Databases migrated before it moved have it as
``public.sqlcompiler_alembic_version``; every upgrade (online or the ``db sql`` script) moves
it first.
"""

from __future__ import annotations

import psycopg
from alembic import context
from sqlalchemy import create_engine, pool

VERSION_SCHEMA = "sqlcompiler"
VERSION_TABLE = "alembic_version"
PREPARE = (
    "CREATE SCHEMA IF NOT EXISTS sqlcompiler",
    # pg_class, not to_regclass(): that needs USAGE on public, which such a role may lack
    """DO $$ BEGIN
  IF EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relname = 'sqlcompiler_alembic_version')
     AND NOT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'sqlcompiler' AND c.relname = 'alembic_version') THEN
    ALTER TABLE public.sqlcompiler_alembic_version SET SCHEMA sqlcompiler;
    ALTER TABLE sqlcompiler.sqlcompiler_alembic_version RENAME TO alembic_version;
  END IF;
END $$""",
)
config = context.config


def _migrate() -> None:
    with context.begin_transaction():
        for statement in PREPARE:
            context.execute(statement)
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url="postgresql+psycopg://",
        literal_binds=True,
        # The script goes to psql, not to a driver: "named" keeps a literal % as it is
        # (the default pyformat doubles it, and psql would then fail on format('%%s')).
        dialect_opts={"paramstyle": "named"},
        version_table=VERSION_TABLE,
        version_table_schema=VERSION_SCHEMA,
        transaction_per_migration=False,
    )
    _migrate()


def run_online() -> None:
    dsn = config.attributes["dsn"]
    engine = create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(dsn, application_name="sqlcompiler-migrate"),
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            version_table=VERSION_TABLE,
            version_table_schema=VERSION_SCHEMA,
        )
        _migrate()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
