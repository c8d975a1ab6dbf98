"""Each called party's last attempt and last connected attempt, kept as attempts are stored.

The contact policy (SPEC §6) asks of each selected reference whether they were called within
``reference_min_days`` days (30, typically), and of each party whether a call connected within
``after_connected_days``. Answered from the attempts, every run read a month of them (5.7M
rows at 1M customers) and matched each against the selected parties: about 2.8 s on each of a
run's connections. A statement-level trigger now keeps, per party, the latest instants; a run
reads one row per party. An attempt after the run's day (a run for a past day, a clock ahead)
makes the latest instant say nothing about that day: the run then looks at the attempts
themselves (compiler/policy.py). Dropping old days (``attempts prune``) leaves the instants
as they were: they only ever moved to the latest attempt, which is not in a dropped day
unless every attempt of that party was. Attempts deleted, changed or truncated through
``contact_attempts`` have their parties counted again (triggers); a partition written or
truncated directly bypasses them (docs/operations.md).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE campaign_engine.contact_parties (
  party_cif varchar(50) PRIMARY KEY,
  last_attempted_at timestamptz NOT NULL,
  last_connected_at timestamptz
);
COMMENT ON TABLE campaign_engine.contact_parties IS 'Per called party, the latest attempt and the latest connected attempt (SPEC §6), kept by a trigger on contact_attempts: the contact policy''s reference_recently and connected_recently read it instead of a month of attempts.';

CREATE FUNCTION campaign_engine.note_contact_parties() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  INSERT INTO campaign_engine.contact_parties AS p (party_cif, last_attempted_at, last_connected_at)
  SELECT n.party_cif, max(n.attempted_at), max(n.attempted_at) FILTER (WHERE n.outcome = 'connected')
  FROM new_attempts AS n
  GROUP BY n.party_cif
  ON CONFLICT (party_cif) DO UPDATE SET
    last_attempted_at = greatest(p.last_attempted_at, excluded.last_attempted_at),
    last_connected_at = greatest(p.last_connected_at, excluded.last_connected_at);
  RETURN NULL;
END
$$;
CREATE TRIGGER contact_parties_after_insert AFTER INSERT ON campaign_engine.contact_attempts
REFERENCING NEW TABLE AS new_attempts FOR EACH STATEMENT
EXECUTE FUNCTION campaign_engine.note_contact_parties();

-- attempts deleted or changed (by hand: the product only adds attempts and drops whole days
-- with `attempts prune`): the parties they were about are counted again from what is left
CREATE FUNCTION campaign_engine.recount_contact_parties() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM campaign_engine.contact_parties;
    RETURN NULL;
  END IF;
  DELETE FROM campaign_engine.contact_parties AS p
  WHERE p.party_cif IN (SELECT o.party_cif FROM old_attempts AS o);
  INSERT INTO campaign_engine.contact_parties (party_cif, last_attempted_at, last_connected_at)
  SELECT a.party_cif, max(a.attempted_at), max(a.attempted_at) FILTER (WHERE a.outcome = 'connected')
  FROM campaign_engine.contact_attempts AS a
  WHERE a.party_cif IN (SELECT o.party_cif FROM old_attempts AS o)
  GROUP BY a.party_cif
  ON CONFLICT (party_cif) DO NOTHING;
  RETURN NULL;
END
$$;
CREATE TRIGGER contact_parties_after_delete AFTER DELETE ON campaign_engine.contact_attempts
REFERENCING OLD TABLE AS old_attempts FOR EACH STATEMENT
EXECUTE FUNCTION campaign_engine.recount_contact_parties();
CREATE TRIGGER contact_parties_after_update AFTER UPDATE ON campaign_engine.contact_attempts
REFERENCING OLD TABLE AS old_attempts NEW TABLE AS new_attempts FOR EACH STATEMENT
EXECUTE FUNCTION campaign_engine.recount_contact_parties();
CREATE TRIGGER contact_parties_after_update_new AFTER UPDATE ON campaign_engine.contact_attempts
REFERENCING NEW TABLE AS new_attempts FOR EACH STATEMENT
EXECUTE FUNCTION campaign_engine.note_contact_parties();
CREATE TRIGGER contact_parties_after_truncate AFTER TRUNCATE ON campaign_engine.contact_attempts
FOR EACH STATEMENT EXECUTE FUNCTION campaign_engine.recount_contact_parties();

INSERT INTO campaign_engine.contact_parties (party_cif, last_attempted_at, last_connected_at)
SELECT a.party_cif, max(a.attempted_at), max(a.attempted_at) FILTER (WHERE a.outcome = 'connected')
FROM campaign_engine.contact_attempts AS a
GROUP BY a.party_cif;
ANALYZE campaign_engine.contact_parties;
"""

DOWNGRADE = """
DROP TRIGGER contact_parties_after_insert ON campaign_engine.contact_attempts;
DROP TRIGGER contact_parties_after_delete ON campaign_engine.contact_attempts;
DROP TRIGGER contact_parties_after_update ON campaign_engine.contact_attempts;
DROP TRIGGER contact_parties_after_update_new ON campaign_engine.contact_attempts;
DROP TRIGGER contact_parties_after_truncate ON campaign_engine.contact_attempts;
DROP FUNCTION campaign_engine.note_contact_parties();
DROP FUNCTION campaign_engine.recount_contact_parties();
DROP TABLE campaign_engine.contact_parties;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
