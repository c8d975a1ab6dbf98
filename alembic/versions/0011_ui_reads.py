"""Who read what in the workbench: a customer's page (or its JSON) and the results download.

Kept as long as run records (`runs prune --keep-records-days`), so a DBA can answer "who looked
at this customer" for the same period the runs can be explained.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE campaign_engine.ui_reads (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  read_at timestamptz NOT NULL DEFAULT now(),
  username text NOT NULL,
  what text NOT NULL,
  subject text,
  CONSTRAINT ui_reads_what_check CHECK (what IN ('customer', 'results'))
);
COMMENT ON TABLE campaign_engine.ui_reads IS 'Audit of reads in the workbench: who opened which customer (page or /api/customers) or downloaded the results. Kept as long as run records.';
COMMENT ON COLUMN campaign_engine.ui_reads.subject IS 'The cif looked up (what = customer); NULL for a results download.';
CREATE INDEX ui_reads_read_at_idx ON campaign_engine.ui_reads (read_at);
CREATE INDEX ui_reads_subject_idx ON campaign_engine.ui_reads (subject, read_at);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE campaign_engine.ui_reads")
