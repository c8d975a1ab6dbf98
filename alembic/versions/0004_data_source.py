"""Where the bank-sync data comes from (local, postgres_fdw, logical replica) and what each run read.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE campaign_engine.data_source (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  mode text NOT NULL CHECK (mode IN ('local', 'fdw', 'replica')),
  remote_schema text NOT NULL DEFAULT 'bank_sync_service',
  server_name text,
  publication_name text,
  subscription_name text,
  remote text,
  configured_by text NOT NULL DEFAULT current_user,
  configured_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE campaign_engine.data_source IS 'How the bank-sync tables reach this database (sqlcompiler source …). No row: local mode, the tables are in this database. The compiled SQL reads bank_sync_service.* in every mode.';
COMMENT ON COLUMN campaign_engine.data_source.remote IS 'host, port and database of the bank-sync side, never credentials.';

ALTER TABLE campaign_results.runs ADD COLUMN source jsonb;
COMMENT ON COLUMN campaign_results.runs.source IS 'What the run read: {"mode"}; fdw adds {"snapshot": {"seconds", "rows": {table: n}, "bytes"}}; replica adds {"lag_seconds"}.';
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("ALTER TABLE campaign_results.runs DROP COLUMN source")
    op.execute("DROP TABLE campaign_engine.data_source")
