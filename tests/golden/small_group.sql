-- campaign group 'Early' (id 7)
-- configuration fingerprint golden
-- campaigns in priority order (the first match wins):
--       1  'P1' (id 1): 3 conditions, 2 contact rules
--       2  'P2' (id 2): 1 conditions, 1 contact rules
--       3  'Rest' (id 3): 0 conditions, 0 contact rules
-- reads the prologue's campaign_results.run_customers; run id: current_setting('sqlcompiler.run_id'); writes campaign_results.*_staging
WITH picked AS (
  SELECT
    c.cif,
    w.campaign_id,
    CASE w.campaign_id
      WHEN 1
      THEN ARRAY(SELECT
        u.a
      FROM UNNEST(c.__accounts, c.__g7_m0_loans) AS u(a, m)
      WHERE
        (
          u.m & 1
        ) <> 0
      ORDER BY
        u.a COLLATE "C")
      ELSE CAST(ARRAY[] AS TEXT[])
    END AS account_numbers,
    CAST(CASE w.campaign_id
      WHEN 1
      THEN 1 | CASE WHEN (
        c.__g7_m0 & 2
      ) <> 0 THEN 2 ELSE 0 END
      WHEN 2
      THEN 1
      ELSE 0
    END AS BIGINT) AS rule_mask,
    c.__ph_party_order,
    c.__ph_party_cif,
    c.__ph_relationship_type,
    c.__ph_phone_id,
    c.__ph_contact_type,
    c.__ph_phone_number,
    c.__ph_is_primary,
    c.__ph_is_verified
  FROM campaign_results.run_customers AS c
  CROSS JOIN LATERAL (
    SELECT
      CASE
        WHEN c."segment" COLLATE "C" IN ('MASS', 'SME') AND (
          c.__g7_m0 & 1
        ) <> 0
        THEN 1
        WHEN c."is_vip" IS NULL
        THEN 2
        WHEN TRUE
        THEN 3
      END AS campaign_id
  ) AS w
  WHERE
    w.campaign_id IS NOT NULL
), assigned AS (
  INSERT INTO campaign_results.assignments_staging (
    run_id,
    cif,
    campaign_group_id,
    campaign_id,
    account_numbers
  )
  SELECT
    CAST(CURRENT_SETTING('sqlcompiler.run_id') AS BIGINT),
    p.cif,
    7,
    p.campaign_id,
    p.account_numbers
  FROM picked AS p
  RETURNING 1
), outputs AS (
  SELECT
    *
  FROM (VALUES
    (1, 1, 1, 0, FALSE, 'mobile'),
    (1, 2, 2, 1, TRUE, 'all'),
    (2, 1, 1, 0, FALSE, 'all')) AS o(campaign_id, rule_bit, rule_priority, party_order, parent_only, contact_type)
), wanted AS (
  SELECT
    p.cif,
    p.campaign_id,
    o.rule_priority,
    o.party_order,
    o.parent_only,
    o.contact_type,
    p.__ph_party_order,
    p.__ph_party_cif,
    p.__ph_relationship_type,
    p.__ph_phone_id,
    p.__ph_contact_type,
    p.__ph_phone_number,
    p.__ph_is_primary,
    p.__ph_is_verified
  FROM picked AS p
  JOIN outputs AS o
    ON o.campaign_id = p.campaign_id AND (
      p.rule_mask & o.rule_bit
    ) <> 0
), candidates AS (
  SELECT
    w.cif,
    w.campaign_id,
    w.rule_priority,
    ph.party_order,
    ph.party_cif,
    ph.relationship_type,
    ph.phone_id,
    ph.contact_type,
    ph.phone_number,
    ph.is_primary,
    ph.is_verified
  FROM wanted AS w
  CROSS JOIN LATERAL UNNEST(w.__ph_party_order, w.__ph_party_cif, w.__ph_relationship_type, w.__ph_phone_id, w.__ph_contact_type, w.__ph_phone_number, w.__ph_is_primary, w.__ph_is_verified) AS ph(party_order, party_cif, relationship_type, phone_id, contact_type, phone_number, is_primary, is_verified)
  WHERE
    ph.party_order = w.party_order
    AND (
      w.contact_type = 'all' OR ph.contact_type = w.contact_type
    )
    AND (
      NOT w.parent_only OR LOWER(ph.relationship_type) = 'parent'
    )
), firsts AS (
  SELECT DISTINCT ON (k.cif, k.phone_id)
    k.*
  FROM candidates AS k
  ORDER BY
    k.cif,
    k.phone_id,
    k.rule_priority,
    k.party_order
)
INSERT INTO campaign_results.contacts_staging (
  run_id,
  cif,
  campaign_group_id,
  campaign_id,
  position,
  rule_priority,
  party_type,
  party_cif,
  relationship_type,
  contact_type,
  phone_number,
  is_primary,
  is_verified,
  phone_id
)
SELECT
  CAST(CURRENT_SETTING('sqlcompiler.run_id') AS BIGINT),
  k.cif,
  7,
  k.campaign_id,
  ROW_NUMBER() OVER (
    PARTITION BY k.cif
    ORDER BY k.rule_priority, k.party_order, COALESCE(k.is_primary, FALSE) DESC, k.phone_number COLLATE "C", k.phone_id
  ),
  k.rule_priority,
  CASE WHEN k.party_order = 0 THEN 'customer' ELSE 'reference' END,
  k.party_cif,
  k.relationship_type,
  k.contact_type,
  k.phone_number,
  k.is_primary,
  k.is_verified,
  k.phone_id
FROM firsts AS k;
