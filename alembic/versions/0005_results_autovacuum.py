"""Result tables without autovacuum: they are written once, analysed when published, dropped whole.

After each run, insert-triggered autovacuum rescanned the new partitions (3.6 GB at 1M
customers with the bench configuration) for a minute or more, competing with the relay and
the next jobs for both cores. Nothing in a result partition is ever updated or deleted:
the run ANALYZEs it when it publishes it and retention drops it whole, so a routine vacuum
has nothing to reclaim. Anti-wraparound vacuums still run (PostgreSQL forces them whatever
this setting says).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = r"""
SELECT c.oid::regclass::text FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'campaign_results' AND c.relkind = 'r'
  AND (c.relname LIKE 'assignments\_%' OR c.relname LIKE 'contacts\_%')
"""


def _set(options: str) -> None:
    op.execute(
        "DO $$ DECLARE t text; BEGIN FOR t IN " + TABLES + " LOOP "
        "EXECUTE format('ALTER TABLE %s " + options + "', t); END LOOP; END $$"
    )


def upgrade() -> None:
    _set("SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)")


def downgrade() -> None:
    _set("RESET (autovacuum_enabled, toast.autovacuum_enabled)")
