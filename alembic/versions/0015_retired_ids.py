"""Stable identity: a group or campaign removed from the configuration keeps its id under its
name, so adding the same name back (a rollback, or remove and re-add) gets the same id again.

Results, previews, unassignment records and Kafka consumers key on the ids: before this, a
rollback recreated a group under a new id, and the next run recorded every customer of the
group as leaving one group and entering another. Only removals after this revision are
remembered (the names of groups removed before it were not kept anywhere).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE campaign_engine.retired_ids (
  kind text NOT NULL,
  group_name text NOT NULL,
  campaign_name text NOT NULL DEFAULT '',
  id bigint NOT NULL,
  retired_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, group_name, campaign_name),
  CONSTRAINT retired_ids_kind_check CHECK (kind IN ('group', 'campaign')),
  CONSTRAINT retired_ids_group_check CHECK ((kind = 'group') = (campaign_name = ''))
);
COMMENT ON TABLE campaign_engine.retired_ids IS 'Ids of removed groups and campaigns by name: config apply gives the same id to the same name added back (a rollback, or remove and re-add), so results keep pointing at the same group and campaign.';
COMMENT ON COLUMN campaign_engine.retired_ids.campaign_name IS 'The campaign''s name (kind = campaign; its group is group_name); empty for a group.';
COMMENT ON COLUMN campaign_engine.retired_ids.id IS 'The id the group (campaign_group_id) or campaign (campaign_id) had when it was removed.';
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE campaign_engine.retired_ids")
