"""The result views carry names: campaign_group_name and campaign_name appended to both views
(SPEC §4 allows columns after the listed ones), and a COMMENT on every view and column.

A reader role granted only the views (``db grants``) could see ids but not what they mean:
the views read the names with their owner's rights. The names are today's configuration's: a
group or campaign removed since the run shows NULL until the next run.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ASSIGNMENTS_0002 = """  SELECT a.run_id, a.cif, a.campaign_group_id, a.campaign_id, a.account_numbers
  FROM campaign_results.assignments a
  WHERE a.run_id = (SELECT coalesce(max(run_id), 0) FROM campaign_results.runs
                  WHERE status = 'succeeded' AND kind = 'full' AND NOT dry_run)
    AND NOT EXISTS (SELECT 1 FROM campaign_results.current_runs c WHERE c.cif = a.cif)
  UNION ALL
  SELECT a.run_id, a.cif, a.campaign_group_id, a.campaign_id, a.account_numbers
  FROM campaign_results.current_runs c
  JOIN campaign_results.assignments a ON a.run_id = c.run_id AND a.cif = c.cif"""

CONTACTS_0002 = """  SELECT k.run_id, k.cif, k.campaign_group_id, k.campaign_id, k.position, k.rule_priority,
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
  JOIN campaign_results.contacts k ON k.run_id = c.run_id AND k.cif = c.cif"""

NAMES = """
LEFT JOIN campaign_engine.campaign_groups g ON g.id = {alias}.campaign_group_id
LEFT JOIN campaign_engine.campaigns c ON c.id = {alias}.campaign_id;
"""

UPGRADE = (
    "CREATE OR REPLACE VIEW campaign_results.current_assignments AS\n"
    "SELECT a.*, g.name::text AS campaign_group_name, c.name::text AS campaign_name\n"
    "FROM ("
    + ASSIGNMENTS_0002
    + ") a"
    + NAMES.replace("{alias}", "a")
    + "CREATE OR REPLACE VIEW campaign_results.current_contacts AS\n"
    "SELECT k.*, g.name::text AS campaign_group_name, c.name::text AS campaign_name\n"
    "FROM (" + CONTACTS_0002 + ") k" + NAMES.replace("{alias}", "k")
)

COMMENTS = """
COMMENT ON VIEW campaign_results.current_assignments IS 'Stable interface (docs/results.md): for each customer and campaign group, the campaign it is assigned to, from the latest succeeded run whose population included it. All or nothing: a run''s rows appear together when it publishes.';
COMMENT ON COLUMN campaign_results.current_assignments.run_id IS 'The run whose result this row is (the latest succeeded full run, or a later list run that included the customer).';
COMMENT ON COLUMN campaign_results.current_assignments.cif IS 'Customer id (bank_sync_service.customers.cif).';
COMMENT ON COLUMN campaign_results.current_assignments.campaign_group_id IS 'Campaign group id (campaign_engine.campaign_groups.id).';
COMMENT ON COLUMN campaign_results.current_assignments.campaign_id IS 'The campaign the customer is assigned to in this group (campaign_engine.campaigns.id).';
COMMENT ON COLUMN campaign_results.current_assignments.campaign_group_name IS 'The group''s name in the current configuration (NULL if the group was removed since the run).';
COMMENT ON COLUMN campaign_results.current_assignments.campaign_name IS 'The campaign''s name in the current configuration (NULL if the campaign was removed since the run).';
COMMENT ON COLUMN campaign_results.current_assignments.account_numbers IS 'The customer''s loans that satisfied the campaign''s loan-level conditions, sorted (byte order); empty when the campaign has none.';
COMMENT ON VIEW campaign_results.current_contacts IS 'Stable interface (docs/results.md): the phones to call for each current assignment, position 1, 2, … per (cif, group).';
COMMENT ON COLUMN campaign_results.current_contacts.run_id IS 'The run whose result this row is (the latest succeeded full run, or a later list run that included the customer).';
COMMENT ON COLUMN campaign_results.current_contacts.cif IS 'Customer id (bank_sync_service.customers.cif).';
COMMENT ON COLUMN campaign_results.current_contacts.campaign_group_id IS 'Campaign group id (campaign_engine.campaign_groups.id).';
COMMENT ON COLUMN campaign_results.current_contacts.campaign_id IS 'The campaign the customer is assigned to in this group (campaign_engine.campaigns.id).';
COMMENT ON COLUMN campaign_results.current_contacts.campaign_group_name IS 'The group''s name in the current configuration (NULL if the group was removed since the run).';
COMMENT ON COLUMN campaign_results.current_contacts.campaign_name IS 'The campaign''s name in the current configuration (NULL if the campaign was removed since the run).';
COMMENT ON COLUMN campaign_results.current_contacts.position IS 'Order in which to call: 1, 2, … per (cif, campaign_group_id), with no gaps.';
COMMENT ON COLUMN campaign_results.current_contacts.rule_priority IS 'Priority of the contact rule that selected this phone (the lowest that applies).';
COMMENT ON COLUMN campaign_results.current_contacts.party_type IS 'customer (the customer''s own phone) or reference (a reference person''s phone).';
COMMENT ON COLUMN campaign_results.current_contacts.party_cif IS 'The cif of the phone''s owner: the customer, or the reference person.';
COMMENT ON COLUMN campaign_results.current_contacts.relationship_type IS 'The reference''s relationship to the customer (NULL for the customer''s own phones).';
COMMENT ON COLUMN campaign_results.current_contacts.contact_type IS 'The phone''s type (mobile, home, work, …).';
COMMENT ON COLUMN campaign_results.current_contacts.phone_number IS 'The number to call.';
COMMENT ON COLUMN campaign_results.current_contacts.is_primary IS 'The phone is its owner''s primary phone.';
COMMENT ON COLUMN campaign_results.current_contacts.is_verified IS 'The phone number is verified.';
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute(COMMENTS)


def downgrade() -> None:
    # appended columns cannot be dropped by CREATE OR REPLACE: the views as 0002 made them
    op.execute("DROP VIEW campaign_results.current_contacts, campaign_results.current_assignments")
    op.execute("CREATE VIEW campaign_results.current_assignments AS " + ASSIGNMENTS_0002)
    op.execute("CREATE VIEW campaign_results.current_contacts AS " + CONTACTS_0002)
