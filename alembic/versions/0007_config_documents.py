"""The whole configuration document with each history row, so that a version can be rolled back.

Rows written before this revision keep a NULL document: their fingerprint and changes are
known, their content is not, and `config rollback` says so.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE campaign_engine.config_history ADD COLUMN document jsonb")
    op.execute(
        "COMMENT ON COLUMN campaign_engine.config_history.document IS 'The configuration as "
        "applied (the config export format, without ids); `config rollback` applies it again.'"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE campaign_engine.config_history DROP COLUMN document")
