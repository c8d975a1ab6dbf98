"""Four-eyes mode of the workbench: a draft submitted for approval, frozen until approved.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE campaign_engine.ui_drafts ADD COLUMN submitted_at timestamptz;
        ALTER TABLE campaign_engine.ui_drafts ADD COLUMN submitted_document text;
        COMMENT ON COLUMN campaign_engine.ui_drafts.submitted_document IS 'With sqlcompiler ui --require-approval: the document the editor submitted; another user (an approver) applies exactly this.';
        """
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE campaign_engine.ui_drafts DROP COLUMN submitted_document, "
        "DROP COLUMN submitted_at"
    )
