-- the run statement: 1 campaign group(s) decided in one pass
-- configuration fingerprint golden
-- population: every customer
-- run id: current_setting('sqlcompiler.run_id'); writes campaign_results.*_staging
--
-- campaign group 'Early' (id 7); per row its rank is column g7_rank, per customer its campaign g7_campaign
-- campaigns in priority order (the first match wins):
--       1  'P1' (id 1): 3 conditions, 2 contact rules
--          when loan.dpd >= 30 AND custom.risk_score > 80.5 AND customer.segment IN ('MASS', 'SME')
--       2  'P2' (id 2): 1 conditions, 1 contact rules
--          when customer.is_vip IS NULL
--       3  'Rest' (id 3): 0 conditions, 0 contact rules
--          when always
-- contact rule bits (rule_mask of an assignment; bit set = the rule applies):
--   'P1' (id 1) bit 0 (1): rule 1 when always -> customer mobile
--   'P1' (id 1) bit 1 (2): rule 2 when custom.promise < 2026-01-01 -> reference_customer_parent all
--   'P2' (id 2) bit 0 (1): rule 1 when always -> customer all
WITH customer_loans AS (
  SELECT
    c.cif,
    v.account_number,
    CASE
      WHEN c."segment" COLLATE "C" IN ('MASS', 'SME')
      AND NOT v.account_number IS NULL
      AND (
        v.loan_dpd >= CAST(30 AS DECIMAL) AND v.custom_risk_score > CAST(80.5 AS DECIMAL)
      )
      THEN 1 /* P1 */
      WHEN c."is_vip" IS NULL
      THEN 2 /* P2 */
      WHEN TRUE
      THEN 3 /* Rest */
    END AS g7_rank,
    v.custom_promise AS custom_promise
  FROM bank_sync_service.customers AS c
  LEFT JOIN pg_temp.run_loans AS v
    ON v.cif = c.cif
  OFFSET 0
), ranked AS (
  SELECT
    r.*,
    MIN(r.g7_rank) OVER w AS g7_best
  FROM customer_loans AS r
  WINDOW w AS (
    PARTITION BY r.cif
    ORDER BY r.account_number COLLATE "C"
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
  )
), decided AS (
  SELECT
    r.cif,
    CASE MIN(r.g7_best)
      WHEN 1
      THEN 1 /* P1 */
      WHEN 2
      THEN 2 /* P2 */
      WHEN 3
      THEN 3 /* Rest */
    END AS g7_campaign,
    COALESCE(
      ARRAY_AGG(r.account_number) FILTER(WHERE
        r.g7_rank = r.g7_best AND r.g7_best IN (1)),
      CAST(ARRAY[] AS TEXT[])
    ) AS g7_accounts,
    CAST(COALESCE(
      BIT_OR(
        CASE r.g7_best
          WHEN 1
          THEN 1 | CASE
            WHEN NOT r.account_number IS NULL AND r.custom_promise < CAST('2026-01-01' AS DATE)
            THEN 2
            ELSE 0
          END
          WHEN 2
          THEN 1
        END
      ),
      0
    ) AS BIGINT) AS g7_rules
  FROM ranked AS r
  GROUP BY
    r.cif
  HAVING
    MIN(r.g7_best) IS NOT NULL
), picked AS (
  SELECT
    d.cif,
    u.campaign_group_id,
    u.campaign_id,
    u.account_numbers,
    u.rule_mask
  FROM decided AS d
  CROSS JOIN LATERAL (
    VALUES
      (7, d.g7_campaign, d.g7_accounts, d.g7_rules)
  ) AS u(campaign_group_id, campaign_id, account_numbers, rule_mask)
  WHERE
    u.campaign_id IS NOT NULL
), assigned AS (
  INSERT INTO campaign_results.assignments_staging (
    run_id,
    cif,
    campaign_group_id,
    campaign_id,
    account_numbers
  )
  SELECT
    (
      SELECT
        CAST(CURRENT_SETTING('sqlcompiler.run_id') AS BIGINT)
    ),
    p.cif,
    p.campaign_group_id,
    p.campaign_id,
    p.account_numbers
  FROM picked AS p
  RETURNING 1
), gone AS (
  INSERT INTO campaign_results.unassignments_staging (
    run_id,
    cif,
    campaign_group_id,
    previous_run_id,
    previous_campaign_id
  )
  SELECT
    (
      SELECT
        CAST(CURRENT_SETTING('sqlcompiler.run_id') AS BIGINT)
    ),
    a.cif,
    a.campaign_group_id,
    a.run_id,
    a.campaign_id
  FROM campaign_results.current_assignments AS a
  WHERE
    a.campaign_group_id IN (7)
    AND NOT EXISTS(
      SELECT
        1
      FROM picked AS p
      WHERE
        p.cif = a.cif AND p.campaign_group_id = a.campaign_group_id
    )
  RETURNING campaign_group_id
), per_campaign AS (
  SELECT
    p.campaign_group_id,
    p.campaign_id,
    COUNT(*) AS assigned
  FROM picked AS p
  GROUP BY
    p.campaign_group_id,
    p.campaign_id
), outputs AS (
  SELECT
    *
  FROM (VALUES
    (1, 1, 1, 'customer', 'mobile'),
    (1, 2, 2, 'reference_customer_parent', 'all'),
    (2, 1, 1, 'customer', 'all')) AS o(campaign_id, rule_bit, rule_priority, related_party_type, contact_type)
), maps AS (
  SELECT
    m.campaign_id,
    m.rule_mask,
    MIN(o.rule_priority) FILTER(WHERE
      o.related_party_type IN ('customer') AND o.contact_type IN ('all', 'mobile')) AS p0_mobile,
    MIN(o.rule_priority) FILTER(WHERE
      o.related_party_type IN ('customer') AND o.contact_type IN ('all', 'home')) AS p0_home,
    MIN(o.rule_priority) FILTER(WHERE
      o.related_party_type IN ('customer') AND o.contact_type IN ('all', 'work')) AS p0_work,
    MIN(o.rule_priority) FILTER(WHERE
      o.related_party_type IN ('customer') AND o.contact_type IN ('all')) AS p0_other,
    MIN(o.rule_priority) FILTER(WHERE
      o.related_party_type IN ('reference_customer_parent', 'reference_customer_all')
      AND o.contact_type IN ('all', 'mobile')) AS p1_mobile,
    MIN(o.rule_priority) FILTER(WHERE
      o.related_party_type IN ('reference_customer_parent', 'reference_customer_all')
      AND o.contact_type IN ('all', 'home')) AS p1_home,
    MIN(o.rule_priority) FILTER(WHERE
      o.related_party_type IN ('reference_customer_parent', 'reference_customer_all')
      AND o.contact_type IN ('all', 'work')) AS p1_work,
    MIN(o.rule_priority) FILTER(WHERE
      o.related_party_type IN ('reference_customer_parent', 'reference_customer_all')
      AND o.contact_type IN ('all')) AS p1_other,
    MIN(o.rule_priority) FILTER(WHERE
      o.related_party_type IN ('reference_customer_all')
      AND o.contact_type IN ('all', 'mobile')) AS p2_mobile,
    MIN(o.rule_priority) FILTER(WHERE
      o.related_party_type IN ('reference_customer_all')
      AND o.contact_type IN ('all', 'home')) AS p2_home,
    MIN(o.rule_priority) FILTER(WHERE
      o.related_party_type IN ('reference_customer_all')
      AND o.contact_type IN ('all', 'work')) AS p2_work,
    MIN(o.rule_priority) FILTER(WHERE
      o.related_party_type IN ('reference_customer_all') AND o.contact_type IN ('all')) AS p2_other
  FROM (
    SELECT DISTINCT
      campaign_id,
      rule_mask
    FROM picked
  ) AS m
  JOIN outputs AS o
    ON o.campaign_id = m.campaign_id AND (
      m.rule_mask & o.rule_bit
    ) <> 0
  GROUP BY
    m.campaign_id,
    m.rule_mask
), asked AS (
  SELECT
    p.cif,
    p.campaign_group_id,
    p.campaign_id,
    mp.p0_mobile,
    mp.p0_home,
    mp.p0_work,
    mp.p0_other,
    mp.p1_mobile,
    mp.p1_home,
    mp.p1_work,
    mp.p1_other,
    mp.p2_mobile,
    mp.p2_home,
    mp.p2_work,
    mp.p2_other
  FROM picked AS p
  JOIN maps AS mp
    ON mp.campaign_id = p.campaign_id AND mp.rule_mask = p.rule_mask
  ORDER BY
    p.cif,
    p.campaign_group_id
), candidates AS (
  SELECT
    a.cif,
    a.campaign_group_id,
    a.campaign_id,
    x.party_order,
    x.party_cif,
    x.relationship_type,
    x.phone_id,
    x.contact_type,
    x.phone_number,
    x.is_primary,
    x.is_verified,
    x.phone_rank,
    CASE
      WHEN x.map_id = 0
      THEN CASE
        WHEN x.contact_type = 'mobile'
        THEN a.p0_mobile
        WHEN x.contact_type = 'home'
        THEN a.p0_home
        WHEN x.contact_type = 'work'
        THEN a.p0_work
        ELSE a.p0_other
      END
      WHEN x.map_id = 1
      THEN CASE
        WHEN x.contact_type = 'mobile'
        THEN a.p1_mobile
        WHEN x.contact_type = 'home'
        THEN a.p1_home
        WHEN x.contact_type = 'work'
        THEN a.p1_work
        ELSE a.p1_other
      END
      WHEN x.map_id = 2
      THEN CASE
        WHEN x.contact_type = 'mobile'
        THEN a.p2_mobile
        WHEN x.contact_type = 'home'
        THEN a.p2_home
        WHEN x.contact_type = 'work'
        THEN a.p2_work
        ELSE a.p2_other
      END
    END AS rule_priority,
    CASE
      WHEN x.other_map_id = 0
      THEN CASE
        WHEN x.contact_type = 'mobile'
        THEN a.p0_mobile
        WHEN x.contact_type = 'home'
        THEN a.p0_home
        WHEN x.contact_type = 'work'
        THEN a.p0_work
        ELSE a.p0_other
      END
      WHEN x.other_map_id = 1
      THEN CASE
        WHEN x.contact_type = 'mobile'
        THEN a.p1_mobile
        WHEN x.contact_type = 'home'
        THEN a.p1_home
        WHEN x.contact_type = 'work'
        THEN a.p1_work
        ELSE a.p1_other
      END
      WHEN x.other_map_id = 2
      THEN CASE
        WHEN x.contact_type = 'mobile'
        THEN a.p2_mobile
        WHEN x.contact_type = 'home'
        THEN a.p2_home
        WHEN x.contact_type = 'work'
        THEN a.p2_work
        ELSE a.p2_other
      END
    END AS other_priority
  FROM asked AS a
  JOIN pg_temp.run_phones AS x
    ON x.owner = a.cif
), firsts AS (
  SELECT
    k.*
  FROM candidates AS k
  WHERE
    k.rule_priority IS NOT NULL
    AND (
      k.other_priority IS NULL
      OR k.rule_priority < k.other_priority
      OR (
        k.rule_priority = k.other_priority AND k.party_order = 0
      )
    )
), lists AS (
  INSERT INTO campaign_results.contact_lists_staging (
    run_id,
    cif,
    campaign_group_id,
    campaign_id,
    phone_ranks,
    rule_priorities
  )
  SELECT
    (
      SELECT
        CAST(CURRENT_SETTING('sqlcompiler.run_id') AS BIGINT)
    ),
    k.cif,
    k.campaign_group_id,
    k.campaign_id,
    ARRAY_AGG(CAST(k.phone_rank AS INT) ORDER BY k.rule_priority, k.phone_rank),
    ARRAY_AGG(k.rule_priority ORDER BY k.rule_priority, k.phone_rank)
  FROM firsts AS k
  GROUP BY
    k.cif,
    k.campaign_group_id,
    k.campaign_id
  RETURNING campaign_group_id, CARDINALITY(phone_ranks) AS n
), book AS (
  INSERT INTO campaign_results.phone_books_staging (
    run_id,
    owner,
    phone_rank,
    party_order,
    party_cif,
    relationship_type,
    contact_type,
    phone_number,
    is_primary,
    is_verified,
    phone_id
  )
  SELECT
    (
      SELECT
        CAST(CURRENT_SETTING('sqlcompiler.run_id') AS BIGINT)
    ),
    x.owner,
    x.phone_rank,
    x.party_order,
    x.party_cif,
    x.relationship_type,
    x.contact_type,
    x.phone_number,
    x.is_primary,
    x.is_verified,
    x.phone_id
  FROM pg_temp.run_phones AS x
)
SELECT
  (
    SELECT
      ARRAY_AGG(ARRAY[n.campaign_group_id, n.campaign_id, n.assigned])
    FROM per_campaign AS n
  ) AS assigned,
  (
    SELECT
      ARRAY_AGG(ARRAY[k.campaign_group_id, k.n])
    FROM (
      SELECT
        campaign_group_id,
        SUM(n) AS n
      FROM lists
      GROUP BY
        campaign_group_id
    ) AS k
  ) AS contacts,
  (
    SELECT
      ARRAY_AGG(ARRAY[x.campaign_group_id, x.n])
    FROM (
      SELECT
        campaign_group_id,
        COUNT(*) AS n
      FROM gone
      GROUP BY
        campaign_group_id
    ) AS x
  ) AS unassigned;
