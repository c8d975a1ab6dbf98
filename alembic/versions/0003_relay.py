"""Relay progress (Kafka) and processing-request ids on runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = r"""
ALTER TABLE campaign_results.runs ADD COLUMN request_ids text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN campaign_results.runs.request_ids IS 'Processing requests (sqlcompiler serve) this run answered; their ids tag its Kafka messages.';

CREATE TABLE campaign_results.relay_progress (
  run_id bigint NOT NULL REFERENCES campaign_results.runs(run_id) ON DELETE CASCADE,
  topic text NOT NULL,
  last_cif varchar(50),
  last_group bigint,
  published bigint NOT NULL DEFAULT 0,
  total bigint NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  PRIMARY KEY (run_id, topic)
);
COMMENT ON TABLE campaign_results.relay_progress IS 'How far each run''s assignments have been published to each topic: every row up to (last_cif, last_group) in (cif, campaign_group_id) order was acknowledged by the broker.';
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE campaign_results.relay_progress")
    op.execute("ALTER TABLE campaign_results.runs DROP COLUMN request_ids")
