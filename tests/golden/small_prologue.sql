-- prologue: the bank-sync inputs, read once for all 1 group(s) in the run's snapshot
-- configuration fingerprint golden; population: every customer
-- campaign_results.run_customers: one row per customer with the customer columns the
-- conditions use; per group the OR of its loan-level condition-set bitmasks over the
-- customer's loans (with the accounts and per-loan masks, to list a winner's accounts);
-- and the phones a contact rule could name (own: party_order 0, references': 1)
CREATE UNLOGGED TABLE campaign_results.run_customers AS
WITH loan_sets AS (
  SELECT
    v.cif,
    v.account_number,
    CAST(CASE
      WHEN v.x0 >= CAST(30 AS DECIMAL) AND v.x1 > CAST(80.5 AS DECIMAL)
      THEN 1
      ELSE 0
    END | CASE WHEN v.x2 < CAST('2026-01-01' AS DATE) THEN 2 ELSE 0 END AS BIGINT) AS __g7_m0
  FROM (
    SELECT
      l.cif,
      l.account_number,
      l."dpd" AS x0,
      CASE
        WHEN JSONB_TYPEOF(f.fields -> 'risk_score') = 'number'
        THEN CAST((
          f.fields ->> 'risk_score'
        ) AS DECIMAL)
      END AS x1,
      CAMPAIGN_ENGINE.JSON_DATE(f.fields -> 'promise') AS x2
    FROM bank_sync_service.loans AS l
    LEFT JOIN bank_sync_service.loan_custom_fields AS f
      ON f.account_number = l.account_number
    OFFSET 0
  ) AS v
  OFFSET 0
), loan_matches AS (
  SELECT
    s.cif,
    ARRAY_AGG(s.account_number) AS "__accounts",
    BIT_OR(s.__g7_m0) AS __g7_m0,
    ARRAY_AGG(s.__g7_m0) AS __g7_m0_loans
  FROM loan_sets AS s
  WHERE
    s.__g7_m0 <> 0
  GROUP BY
    s.cif
), phone_lists AS (
  SELECT
    q.cif,
    ARRAY_AGG(q.party_order) AS __ph_party_order,
    ARRAY_AGG(q.party_cif) AS __ph_party_cif,
    ARRAY_AGG(q.relationship_type) AS __ph_relationship_type,
    ARRAY_AGG(q.phone_id) AS __ph_phone_id,
    ARRAY_AGG(q.contact_type) AS __ph_contact_type,
    ARRAY_AGG(q.phone_number) AS __ph_phone_number,
    ARRAY_AGG(q.is_primary) AS __ph_is_primary,
    ARRAY_AGG(q.is_verified) AS __ph_is_verified
  FROM (
    SELECT
      ph.cif,
      0 AS party_order,
      ph.cif AS party_cif,
      CAST(NULL AS TEXT) AS relationship_type,
      ph.id AS phone_id,
      ph.type AS contact_type,
      ph.number AS phone_number,
      ph.is_primary,
      ph.is_verified
    FROM bank_sync_service.phones AS ph
    UNION ALL
    SELECT
      r.primary_cif,
      1,
      r.ref_cif,
      CAST(r.relationship_type AS TEXT),
      ph.id,
      ph.type,
      ph.number,
      ph.is_primary,
      ph.is_verified
    FROM bank_sync_service.reference_customers AS r
    JOIN bank_sync_service.phones AS ph
      ON ph.cif = r.ref_cif
  ) AS q
  GROUP BY
    q.cif
)
SELECT
  c.cif,
  c."is_vip",
  c."segment",
  lm."__accounts",
  lm.__g7_m0,
  lm.__g7_m0_loans,
  pl.__ph_party_order,
  pl.__ph_party_cif,
  pl.__ph_relationship_type,
  pl.__ph_phone_id,
  pl.__ph_contact_type,
  pl.__ph_phone_number,
  pl.__ph_is_primary,
  pl.__ph_is_verified
FROM bank_sync_service.customers AS c
LEFT JOIN loan_matches AS lm
  ON lm.cif = c.cif
LEFT JOIN phone_lists AS pl
  ON pl.cif = c.cif;
