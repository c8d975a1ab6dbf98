-- the run's phone book: every phone a customer may be contacted on (its own and its
-- references'), in customer order, once per connection (a temporary table the run
-- statement reads as x); indexed by owner, then ANALYZEd
-- population: every customer
CREATE TEMPORARY TABLE pg_temp.run_phones AS
SELECT
  x.*,
  ROW_NUMBER() OVER (
    PARTITION BY x.owner
    ORDER BY x.party_order, COALESCE(x.is_primary, FALSE) DESC, x.phone_number COLLATE "C", x.phone_id
  ) AS phone_rank
FROM (
  SELECT
    ph.cif AS owner,
    0 AS party_order,
    ph.cif AS party_cif,
    CAST(NULL AS TEXT) AS relationship_type,
    0 AS map_id,
    CASE
      WHEN s.ref_cif IS NULL
      THEN NULL
      WHEN LOWER(s.relationship_type) = 'parent'
      THEN 1
      ELSE 2
    END AS other_map_id,
    ph.id AS phone_id,
    ph.type AS contact_type,
    ph.number AS phone_number,
    ph.is_primary,
    ph.is_verified
  FROM bank_sync_service.phones AS ph
  LEFT JOIN bank_sync_service.reference_customers AS s
    ON s.ref_cif = ph.cif AND s.primary_cif = ph.cif
  WHERE
    ph.cif IN (
      SELECT
        cif
      FROM bank_sync_service.customers
    )
  UNION ALL
  SELECT
    r.primary_cif,
    1,
    r.ref_cif,
    CAST(r.relationship_type AS TEXT),
    CASE WHEN LOWER(r.relationship_type) = 'parent' THEN 1 ELSE 2 END,
    CASE WHEN r.ref_cif = r.primary_cif THEN 0 END,
    ph.id,
    ph.type,
    ph.number,
    ph.is_primary,
    ph.is_verified
  FROM bank_sync_service.reference_customers AS r
  JOIN bank_sync_service.phones AS ph
    ON ph.cif = r.ref_cif
) AS x
ORDER BY
  x.owner;
CREATE INDEX ON pg_temp.run_phones (owner);
