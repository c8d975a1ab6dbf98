"""Contacts stored compactly: per assignment the list of its phones, per run its phone book.

A run wrote one row per selected phone (~136 bytes, ~155 bytes of WAL each): on the
contact-heavy configuration at 1M customers 17.9M rows per slice, a quarter of the run
statement's time (docs/performance.md, fifteenth session). Now a run writes, per assignment
with contacts, the phones' ranks in its phone book and their rule priorities in contact order
(``contact_lists``), and the run's phone book once (``phone_books``: one row per phone a
customer may be called on, numbered per customer). ``campaign_results.contacts`` becomes a
view with exactly the old table's columns that expands the lists (``position`` = the place in
the list) and keeps the rows written before this revision, and those of the reference
engine, from the old table, renamed ``contact_rows``. The public views (SPEC §4) read it as
they read the table: their columns, types and rows do not change.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

CONTACTS_0012 = """
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

UPGRADE = (
    """
ALTER TABLE campaign_results.contacts RENAME TO contact_rows;
ALTER TABLE campaign_results.contacts_staging RENAME TO contact_rows_staging;
COMMENT ON TABLE campaign_results.contact_rows IS 'Selected phones one row each: runs published before revision 0014 and runs of the reference engine. Read campaign_results.contacts (or the current_contacts view).';

CREATE TABLE campaign_results.contact_lists (
  run_id bigint NOT NULL,
  cif varchar(50) NOT NULL,
  campaign_group_id bigint NOT NULL,
  campaign_id bigint NOT NULL,
  phone_ranks integer[] NOT NULL,
  rule_priorities integer[] NOT NULL
) PARTITION BY LIST (run_id);
COMMENT ON TABLE campaign_results.contact_lists IS 'One row per assignment with contacts: its phones in contact order, as their phone_rank in the run''s phone book (campaign_results.phone_books, owner = cif) with the priority of the rule that selected each.';

CREATE TABLE campaign_results.phone_books (
  run_id bigint NOT NULL,
  owner varchar(50) NOT NULL,
  phone_rank integer NOT NULL,
  party_order smallint NOT NULL,
  party_cif varchar(50) NOT NULL,
  relationship_type text,
  contact_type text,
  phone_number text,
  is_primary boolean,
  is_verified boolean,
  phone_id bigint NOT NULL
) PARTITION BY LIST (run_id);
COMMENT ON TABLE campaign_results.phone_books IS 'Per run, every phone a customer (owner) may be called on as the run read it: its own (party_order 0) and its references'' (1), numbered per owner in the SPEC''s contact order after the rule priority.';

CREATE TABLE campaign_results.contact_lists_staging (LIKE campaign_results.contact_lists) WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false);
CREATE TABLE campaign_results.phone_books_staging (LIKE campaign_results.phone_books) WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false);
COMMENT ON TABLE campaign_results.contact_lists_staging IS 'Work table of the running run (empty between runs).';
COMMENT ON TABLE campaign_results.phone_books_staging IS 'Work table of the running run (empty between runs).';

CREATE VIEW campaign_results.contacts AS
SELECT k.run_id, k.cif, k.campaign_group_id, k.campaign_id, k.position, k.rule_priority,
       k.party_type, k.party_cif, k.relationship_type, k.contact_type, k.phone_number,
       k.is_primary, k.is_verified, k.phone_id
FROM campaign_results.contact_rows k
UNION ALL
SELECT l.run_id, l.cif, l.campaign_group_id, l.campaign_id,
       array_position(l.phone_ranks, b.phone_rank),
       l.rule_priorities[array_position(l.phone_ranks, b.phone_rank)],
       CASE WHEN b.party_order = 0 THEN 'customer' ELSE 'reference' END,
       b.party_cif, b.relationship_type, b.contact_type, b.phone_number, b.is_primary,
       b.is_verified, b.phone_id
FROM campaign_results.contact_lists l
JOIN campaign_results.phone_books b
  ON b.run_id = l.run_id AND b.owner = l.cif AND b.phone_rank = ANY(l.phone_ranks);
COMMENT ON VIEW campaign_results.contacts IS 'Selected phones of each assignment in contact order (SPEC §3), every run: the lists expanded against their run''s phone book, and the rows of contact_rows.';
"""
    + CONTACTS_0012
)

DOWNGRADE = (
    CONTACTS_0012.replace("campaign_results.contacts k", "campaign_results.contact_rows k")
    + """
DROP VIEW campaign_results.contacts;
DROP TABLE campaign_results.contact_lists_staging, campaign_results.phone_books_staging;
DROP TABLE campaign_results.contact_lists, campaign_results.phone_books;
ALTER TABLE campaign_results.contact_rows RENAME TO contacts;
ALTER TABLE campaign_results.contact_rows_staging RENAME TO contacts_staging;
COMMENT ON TABLE campaign_results.contacts IS 'Selected phones of each assignment in contact order (SPEC §3).';
"""
)


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    # runs published in the compact form lose their contacts (only the row form existed)
    op.execute(DOWNGRADE)
