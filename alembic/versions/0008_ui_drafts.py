"""Workbench drafts: one per user, kept on the server so that a browser reload loses nothing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE campaign_engine.ui_drafts (
          username text PRIMARY KEY,
          document text NOT NULL,
          base_fingerprint text,
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        COMMENT ON TABLE campaign_engine.ui_drafts IS 'The workbench draft of each user (sqlcompiler ui): the configuration being edited, and the fingerprint of the stored configuration it started from (apply is refused when that changed).';
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE campaign_engine.ui_drafts")
