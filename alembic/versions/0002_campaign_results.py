"""campaign_results: run records, partitioned results, the two reader views of SPEC §4.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = r"""
-- A JSON value as a date: only a JSON string of the form YYYY-MM-DD naming a real day, else
-- NULL, never an error. Written so PostgreSQL inlines it (SQL, immutable parts only: make_date
-- instead of a text->date cast, which is merely stable) and cheap per row: the regex bounds
-- month and day, and only days 29-31 pay for the month-length check.
CREATE FUNCTION campaign_engine.json_date(v jsonb) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN jsonb_typeof(v) = 'string'
     AND (v #>> '{}') ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'
     AND left(v #>> '{}', 4) <> '0000'
    THEN CASE
      WHEN right(v #>> '{}', 2) <= '28'
        OR right(v #>> '{}', 2)::int <= extract(day FROM
             make_date(left(v #>> '{}', 4)::int, substr(v #>> '{}', 6, 2)::int, 1)
             + interval '1 month - 1 day')::int
      THEN make_date(left(v #>> '{}', 4)::int, substr(v #>> '{}', 6, 2)::int, right(v #>> '{}', 2)::int)
    END
  END
$$;
COMMENT ON FUNCTION campaign_engine.json_date(jsonb) IS 'Custom-field date: a JSON string YYYY-MM-DD that names a real day, else NULL (never an error).';

CREATE SCHEMA IF NOT EXISTS campaign_results;
COMMENT ON SCHEMA campaign_results IS 'Results of sqlcompiler runs. Downstream readers use the views current_assignments and current_contacts only.';

CREATE TABLE campaign_results.runs (
  run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('full', 'list')),
  status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  engine text NOT NULL DEFAULT 'sql',
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz,
  config_fingerprint text,
  population_size bigint,
  assignments bigint,
  contacts bigint,
  counts jsonb NOT NULL DEFAULT '{}'::jsonb,
  timings jsonb NOT NULL DEFAULT '{}'::jsonb,
  error text,
  started_by text,
  dry_run boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE campaign_results.runs IS 'One row per run: it is created as running, and turns succeeded in the same transaction that makes its results visible, or failed with the error.';
COMMENT ON COLUMN campaign_results.runs.kind IS 'full: population = all customers; list: population = the cifs in run_population.';
COMMENT ON COLUMN campaign_results.runs.config_fingerprint IS 'sha256 of the canonical configuration the run compiled (see campaign_engine.config_history).';
COMMENT ON COLUMN campaign_results.runs.counts IS 'Assignments per group and per campaign: {"groups": {id: {"name", "assigned", "contacts", "campaigns": {id: n}}}}.';
COMMENT ON COLUMN campaign_results.runs.timings IS 'Seconds per phase and per group.';

CREATE TABLE campaign_results.run_population (
  run_id bigint NOT NULL REFERENCES campaign_results.runs(run_id) ON DELETE CASCADE,
  cif varchar(50) NOT NULL,
  PRIMARY KEY (run_id, cif)
);
COMMENT ON TABLE campaign_results.run_population IS 'The cifs of a list run (full runs cover every customer and store nothing here).';
CREATE INDEX run_population_cif_idx ON campaign_results.run_population (cif, run_id);

-- Results are partitioned by run: a run fills its own table and attaches it when it commits,
-- and retention drops whole partitions instead of deleting millions of rows.
CREATE TABLE campaign_results.assignments (
  run_id bigint NOT NULL,
  cif varchar(50) NOT NULL,
  campaign_group_id bigint NOT NULL,
  campaign_id bigint NOT NULL,
  account_numbers text[] NOT NULL
) PARTITION BY LIST (run_id);
COMMENT ON TABLE campaign_results.assignments IS 'One row per (run, customer, group) with an assignment. Ids are not foreign keys: results outlive configuration changes.';
COMMENT ON COLUMN campaign_results.assignments.account_numbers IS 'Sorted loans on which all the campaign''s loan-level conditions hold; empty when it has none.';

CREATE TABLE campaign_results.contacts (
  run_id bigint NOT NULL,
  cif varchar(50) NOT NULL,
  campaign_group_id bigint NOT NULL,
  campaign_id bigint NOT NULL,
  position integer NOT NULL,
  rule_priority integer NOT NULL,
  party_type text NOT NULL,
  party_cif varchar(50) NOT NULL,
  relationship_type text,
  contact_type text,
  phone_number text,
  is_primary boolean,
  is_verified boolean,
  phone_id bigint NOT NULL
) PARTITION BY LIST (run_id);
COMMENT ON TABLE campaign_results.contacts IS 'Selected phones of each assignment in contact order (SPEC §3).';

-- A run's statements write here; when the run commits these tables become the run's
-- partitions (renamed, constrained to the run id, attached) and fresh empty ones replace them.
-- Readers never see them: they read the views below.
CREATE TABLE campaign_results.assignments_staging (LIKE campaign_results.assignments);
CREATE TABLE campaign_results.contacts_staging (LIKE campaign_results.contacts);
COMMENT ON TABLE campaign_results.assignments_staging IS 'Work table of the running run (empty between runs).';
COMMENT ON TABLE campaign_results.contacts_staging IS 'Work table of the running run (empty between runs).';

CREATE VIEW campaign_results.current_runs AS
WITH last_full AS (
  SELECT coalesce(max(run_id), 0) AS run_id
  FROM campaign_results.runs WHERE status = 'succeeded' AND kind = 'full' AND NOT dry_run
)
SELECT DISTINCT ON (p.cif) p.cif, p.run_id
FROM campaign_results.run_population p
JOIN campaign_results.runs r ON r.run_id = p.run_id
WHERE r.status = 'succeeded' AND r.kind = 'list' AND NOT r.dry_run
  AND p.run_id > (SELECT run_id FROM last_full)
ORDER BY p.cif, p.run_id DESC;
COMMENT ON VIEW campaign_results.current_runs IS 'Customers whose current result comes from a list run after the latest full run, with that run.';

CREATE VIEW campaign_results.current_assignments AS
SELECT a.run_id, a.cif, a.campaign_group_id, a.campaign_id, a.account_numbers
FROM campaign_results.assignments a
WHERE a.run_id = (SELECT coalesce(max(run_id), 0) FROM campaign_results.runs
                  WHERE status = 'succeeded' AND kind = 'full' AND NOT dry_run)
  AND NOT EXISTS (SELECT 1 FROM campaign_results.current_runs c WHERE c.cif = a.cif)
UNION ALL
SELECT a.run_id, a.cif, a.campaign_group_id, a.campaign_id, a.account_numbers
FROM campaign_results.current_runs c
JOIN campaign_results.assignments a ON a.run_id = c.run_id AND a.cif = c.cif;
COMMENT ON VIEW campaign_results.current_assignments IS 'Stable interface (SPEC §4): for each customer, its assignments from the latest succeeded run whose population included it.';

CREATE VIEW campaign_results.current_contacts AS
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
JOIN campaign_results.contacts k ON k.run_id = c.run_id AND k.cif = c.cif;
COMMENT ON VIEW campaign_results.current_contacts IS 'Stable interface (SPEC §4): the selected phones of the current assignments, position 1, 2, … per (cif, group).';
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP SCHEMA campaign_results CASCADE")
    op.execute("DROP FUNCTION campaign_engine.json_date(jsonb)")
