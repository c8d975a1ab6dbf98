"""Four eyes with a way back: an approver can send a submitted draft back to its editor with a
comment, instead of only approving it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE campaign_engine.ui_drafts ADD COLUMN returned_by text;
        ALTER TABLE campaign_engine.ui_drafts ADD COLUMN returned_at timestamptz;
        ALTER TABLE campaign_engine.ui_drafts ADD COLUMN return_comment text;
        COMMENT ON COLUMN campaign_engine.ui_drafts.return_comment IS 'With sqlcompiler ui --require-approval: why the approver (returned_by) sent the submitted draft back; cleared when the editor submits again.';
        """
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE campaign_engine.ui_drafts DROP COLUMN return_comment, "
        "DROP COLUMN returned_at, DROP COLUMN returned_by"
    )
