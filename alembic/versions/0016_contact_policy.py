"""The contact policy (SPEC §6): its inputs, its configuration and its output.

- ``campaign_engine.contact_attempts``: attempts reported by dialers and SMS services,
  partitioned by day of ``attempted_at`` (UTC days; partitions are created by the ingest and
  dropped by retention), indexed for the per-party and per-number windows; an attempt_id is
  stored once (the first report stands).
- ``campaign_engine.contact_blocks``: blocks managed by users, who added (and removed) each and
  why; a removed block stays for the record.
- ``campaign_engine.contact_policy``: the configuration's policy, one row or none.
- ``campaign_results.suppressed_contacts`` (per run, like the other result tables) and the
  stable view ``current_suppressed_contacts``; each run records the calling window of its day
  (``runs.window_start`` / ``window_end``), which the contacts views carry as two columns
  appended at their end (NULL without a policy).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

CONTACTS_0014 = """
CREATE OR REPLACE VIEW campaign_results.current_contacts AS
SELECT k.*, g.name::text AS campaign_group_name, c.name::text AS campaign_name
FROM (
  SELECT k.run_id, k.cif, k.campaign_group_id, k.campaign_id, k.position, k.rule_priority,
       k.party_type, k.party_cif, k.relationship_type, k.contact_type, k.phone_number,
       k.is_primary, k.is_verified
  FROM campaign_results.contacts k
  WHERE k.run_id = (SELECT coalesce(max(run_id), 0) FROM campaign_results.runs
                  WHERE status = 'succeeded' AND kind = 'full' AND NOT dry_run)
    AND NOT EXISTS (SELECT 1 FROM campaign_results.current_runs c WHERE c.cif = k.cif)
  UNION ALL
  SELECT k.run_id, k.cif, k.campaign_group_id, k.campaign_id, k.position, k.rule_priority,
       k.party_type, k.party_cif, k.relationship_type, k.contact_type, k.phone_number,
       k.is_primary, k.is_verified
  FROM campaign_results.current_runs c
  JOIN campaign_results.contacts k ON k.run_id = c.run_id AND k.cif = c.cif) k
LEFT JOIN campaign_engine.campaign_groups g ON g.id = k.campaign_group_id
LEFT JOIN campaign_engine.campaigns c ON c.id = k.campaign_id;
"""

CONTACTS_0016 = """
CREATE OR REPLACE VIEW campaign_results.current_contacts AS
SELECT k.*, g.name::text AS campaign_group_name, c.name::text AS campaign_name, r.window_start, r.window_end
FROM (
  SELECT k.run_id, k.cif, k.campaign_group_id, k.campaign_id, k.position, k.rule_priority,
       k.party_type, k.party_cif, k.relationship_type, k.contact_type, k.phone_number,
       k.is_primary, k.is_verified
  FROM campaign_results.contacts k
  WHERE k.run_id = (SELECT coalesce(max(run_id), 0) FROM campaign_results.runs
                  WHERE status = 'succeeded' AND kind = 'full' AND NOT dry_run)
    AND NOT EXISTS (SELECT 1 FROM campaign_results.current_runs c WHERE c.cif = k.cif)
  UNION ALL
  SELECT k.run_id, k.cif, k.campaign_group_id, k.campaign_id, k.position, k.rule_priority,
       k.party_type, k.party_cif, k.relationship_type, k.contact_type, k.phone_number,
       k.is_primary, k.is_verified
  FROM campaign_results.current_runs c
  JOIN campaign_results.contacts k ON k.run_id = c.run_id AND k.cif = c.cif) k
LEFT JOIN campaign_engine.campaign_groups g ON g.id = k.campaign_group_id
LEFT JOIN campaign_engine.campaigns c ON c.id = k.campaign_id
LEFT JOIN campaign_results.runs r ON r.run_id = k.run_id;
"""

SUPPRESSED = """
CREATE OR REPLACE VIEW campaign_results.current_suppressed_contacts AS
SELECT k.*, g.name::text AS campaign_group_name, c.name::text AS campaign_name
FROM (
  SELECT k.run_id, k.cif, k.campaign_group_id, k.campaign_id, k.rule_priority,
       k.party_type, k.party_cif, k.contact_type, k.phone_number, k.reason
  FROM campaign_results.suppressed_contacts k
  WHERE k.run_id = (SELECT coalesce(max(run_id), 0) FROM campaign_results.runs
                  WHERE status = 'succeeded' AND kind = 'full' AND NOT dry_run)
    AND NOT EXISTS (SELECT 1 FROM campaign_results.current_runs c WHERE c.cif = k.cif)
  UNION ALL
  SELECT k.run_id, k.cif, k.campaign_group_id, k.campaign_id, k.rule_priority,
       k.party_type, k.party_cif, k.contact_type, k.phone_number, k.reason
  FROM campaign_results.current_runs c
  JOIN campaign_results.suppressed_contacts k ON k.run_id = c.run_id AND k.cif = c.cif) k
LEFT JOIN campaign_engine.campaign_groups g ON g.id = k.campaign_group_id
LEFT JOIN campaign_engine.campaigns c ON c.id = k.campaign_id;
"""

UPGRADE = (
    """
CREATE TABLE campaign_engine.contact_attempts (
  attempt_id text NOT NULL,
  cif varchar(50) NOT NULL,
  party_cif varchar(50) NOT NULL,
  phone_number varchar(50) NOT NULL,
  attempted_at timestamptz NOT NULL,
  outcome text NOT NULL,
  source text,
  received_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT contact_attempts_outcome_check
    CHECK (outcome IN ('connected', 'no_answer', 'busy', 'voicemail', 'failed', 'wrong_party'))
) PARTITION BY RANGE (attempted_at);
CREATE INDEX contact_attempts_party_idx ON campaign_engine.contact_attempts (party_cif, attempted_at);
CREATE INDEX contact_attempts_phone_idx ON campaign_engine.contact_attempts (phone_number, attempted_at);
CREATE INDEX contact_attempts_id_idx ON campaign_engine.contact_attempts (attempt_id);
COMMENT ON TABLE campaign_engine.contact_attempts IS 'Contact attempts reported by dialers and SMS services (SPEC §6), one partition per UTC day of attempted_at; an attempt_id is stored once: the first report stands. sqlcompiler attempts upload writes it; runs prune drops days older than --keep-attempts-days.';
COMMENT ON COLUMN campaign_engine.contact_attempts.cif IS 'The customer whose debt the attempt was about.';
COMMENT ON COLUMN campaign_engine.contact_attempts.party_cif IS 'The person called: the customer or one of their references.';

CREATE TABLE campaign_engine.contact_blocks (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  scope text NOT NULL,
  value varchar(50) NOT NULL,
  reason text NOT NULL,
  valid_from date NOT NULL,
  valid_until date,
  note text,
  added_by text NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now(),
  removed_by text,
  removed_at timestamptz,
  CONSTRAINT contact_blocks_scope_check CHECK (scope IN ('phone', 'party')),
  CONSTRAINT contact_blocks_reason_check CHECK (reason <> ''),
  CONSTRAINT contact_blocks_dates_check CHECK (valid_until IS NULL OR valid_until >= valid_from)
);
CREATE INDEX contact_blocks_value_idx ON campaign_engine.contact_blocks (scope, value) WHERE removed_at IS NULL;
COMMENT ON TABLE campaign_engine.contact_blocks IS 'Contact blocks (SPEC §6): a phone number or a party (cif) not to be called from valid_from to valid_until (NULL: open-ended); who added or removed each block and why is kept.';

CREATE TABLE campaign_engine.contact_policy (
  singleton boolean PRIMARY KEY DEFAULT true,
  timezone text NOT NULL,
  window_start time NOT NULL,
  window_end time NOT NULL,
  limits jsonb NOT NULL DEFAULT '[]',
  after_connected_days integer NOT NULL DEFAULT 0,
  reference_min_days integer NOT NULL DEFAULT 0,
  CONSTRAINT contact_policy_singleton_check CHECK (singleton),
  CONSTRAINT contact_policy_window_check CHECK (window_start < window_end),
  CONSTRAINT contact_policy_days_check CHECK (after_connected_days >= 0 AND reference_min_days >= 0)
);
COMMENT ON TABLE campaign_engine.contact_policy IS 'The configuration''s contact_policy (SPEC §6): none, or this one row (config apply writes it).';

CREATE TABLE campaign_results.suppressed_contacts (
  run_id bigint NOT NULL,
  cif varchar(50) NOT NULL,
  campaign_group_id bigint NOT NULL,
  campaign_id bigint NOT NULL,
  rule_priority integer NOT NULL,
  party_type text NOT NULL,
  party_cif varchar(50) NOT NULL,
  contact_type text,
  phone_number text,
  reason text NOT NULL
) PARTITION BY LIST (run_id);
COMMENT ON TABLE campaign_results.suppressed_contacts IS 'Selected contacts the contact policy removed (SPEC §6), with the first reason that applied. Read the current_suppressed_contacts view.';
CREATE TABLE campaign_results.suppressed_contacts_staging (LIKE campaign_results.suppressed_contacts) WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false);
COMMENT ON TABLE campaign_results.suppressed_contacts_staging IS 'Work table of the running run (empty between runs).';

ALTER TABLE campaign_results.runs ADD COLUMN window_start timestamptz;
ALTER TABLE campaign_results.runs ADD COLUMN window_end timestamptz;
COMMENT ON COLUMN campaign_results.runs.window_start IS 'With a contact policy: the calling window of the run''s day (its as-of date at the policy''s start time in its time zone); NULL without one.';
COMMENT ON COLUMN campaign_results.runs.window_end IS 'With a contact policy: the end of the calling window of the run''s day; NULL without one.';
"""
    + CONTACTS_0016
    + SUPPRESSED
    + """
COMMENT ON VIEW campaign_results.current_suppressed_contacts IS 'Contacts the contact policy removed (SPEC §6), from the latest run that included each customer (as current_contacts), with the reason.';
COMMENT ON COLUMN campaign_results.current_suppressed_contacts.reason IS 'The first reason that applied: blocked: <reason>, connected_recently, reference_recently, or limit: <per>/<days>d.';
COMMENT ON COLUMN campaign_results.current_contacts.window_start IS 'With a contact policy: when calls may start on the run''s day (the policy''s calling window in its time zone); NULL without one.';
COMMENT ON COLUMN campaign_results.current_contacts.window_end IS 'With a contact policy: when calls must end on the run''s day; NULL without one.';
"""
)

DOWNGRADE = (
    "DROP VIEW campaign_results.current_contacts;\n"
    + CONTACTS_0014.replace("CREATE OR REPLACE VIEW", "CREATE VIEW")
    + """
DROP VIEW campaign_results.current_suppressed_contacts;
ALTER TABLE campaign_results.runs DROP COLUMN window_end, DROP COLUMN window_start;
DROP TABLE campaign_results.suppressed_contacts_staging, campaign_results.suppressed_contacts;
DROP TABLE campaign_engine.contact_policy, campaign_engine.contact_blocks;
DROP TABLE campaign_engine.contact_attempts;
"""
)


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
