"""Held runs, audit-preserving retention, and who left a campaign (for Kafka).

* ``held``: a full run that a guard stopped from publishing (0 customers, or assignments
  dropping by more than ``--max-drop``); its counts and ``hold_reason`` are recorded, the
  previous results stay current. ``forced`` marks a run published with ``--force`` although a
  guard objected (the objection stays in ``hold_reason``).
* ``results_dropped_at``: retention drops result partitions but keeps the run record (the
  audit trail) until ``--keep-records-days``.
* ``unassignments``: per run, the customers that had an assignment in a group before the
  run and have none after it (not matched any more, or their group was removed), with what
  they had. Partitioned by run like the results; the relay publishes them (docs/kafka.md).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = r"""
ALTER TABLE campaign_results.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE campaign_results.runs ADD CONSTRAINT runs_status_check
  CHECK (status IN ('running', 'succeeded', 'failed', 'held'));
ALTER TABLE campaign_results.runs ADD COLUMN hold_reason text;
ALTER TABLE campaign_results.runs ADD COLUMN forced boolean NOT NULL DEFAULT false;
ALTER TABLE campaign_results.runs ADD COLUMN results_dropped_at timestamptz;
ALTER TABLE campaign_results.runs ADD COLUMN unassignments bigint;
COMMENT ON COLUMN campaign_results.runs.hold_reason IS 'Why a guard held the run (status held), or objected before --force published it (forced).';
COMMENT ON COLUMN campaign_results.runs.forced IS 'Published with --force although a guard objected.';
COMMENT ON COLUMN campaign_results.runs.results_dropped_at IS 'When retention dropped the run''s result partitions; the record itself is kept for the audit.';
COMMENT ON COLUMN campaign_results.runs.unassignments IS 'Customer-group pairs assigned before the run and not after it.';

CREATE TABLE campaign_results.unassignments (
  run_id bigint NOT NULL,
  cif varchar(50) NOT NULL,
  campaign_group_id bigint NOT NULL,
  previous_run_id bigint NOT NULL,
  previous_campaign_id bigint NOT NULL
) PARTITION BY LIST (run_id);
COMMENT ON TABLE campaign_results.unassignments IS 'Per run: (cif, group) pairs that had an assignment before the run and none after it, with the run and campaign they had. The relay publishes them as unassignment messages.';
CREATE TABLE campaign_results.unassignments_staging (LIKE campaign_results.unassignments)
  WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false);
COMMENT ON TABLE campaign_results.unassignments_staging IS 'Work table of the running run (empty between runs).';
"""

DOWNGRADE = r"""
DROP TABLE campaign_results.unassignments_staging;
DROP TABLE campaign_results.unassignments;
UPDATE campaign_results.runs SET status = 'failed', error = coalesce(error, 'held: ' || hold_reason)
  WHERE status = 'held';
ALTER TABLE campaign_results.runs DROP COLUMN unassignments;
ALTER TABLE campaign_results.runs DROP COLUMN results_dropped_at;
ALTER TABLE campaign_results.runs DROP COLUMN forced;
ALTER TABLE campaign_results.runs DROP COLUMN hold_reason;
ALTER TABLE campaign_results.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE campaign_results.runs ADD CONSTRAINT runs_status_check
  CHECK (status IN ('running', 'succeeded', 'failed'));
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
