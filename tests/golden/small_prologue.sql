-- run prologue: the loan-level values the groups test, read once per connection
-- (a temporary table in the run's snapshot; the run statement reads it as v)
-- population: every customer
CREATE TEMPORARY TABLE pg_temp.run_loans AS
SELECT
  l.cif,
  l.account_number,
  l."dpd" AS loan_dpd,
  CASE
    WHEN JSONB_TYPEOF(f.fields -> 'risk_score') = 'number'
    THEN CAST((
      f.fields ->> 'risk_score'
    ) AS DECIMAL)
  END AS custom_risk_score,
  CAMPAIGN_ENGINE.JSON_DATE(f.fields -> 'promise') AS custom_promise,
  l."product_type" AS loan_product_type
FROM bank_sync_service.loans AS l
LEFT JOIN bank_sync_service.loan_custom_fields AS f
  ON f.account_number = l.account_number;
