"""Deterministic synthetic bank-sync data, generated inside the database.

Every random choice is a hash of (seed, row key, purpose) with ``hashint8extended``, so the
same seed gives the same rows on any server, in any order, with parallel workers or without,
and no customer data flows through Python. The shapes follow what collection portfolios look
like: most loans current with a tail of delinquency to 180 days, a few wrong-typed or missing
custom-field values, relationship types in mixed case, and shared phone numbers.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from ..errors import SqlCompilerError
from ..infra.resources import resource_path
from ..progress import Progress, quiet
from ..source import require_local

DEMO_MARKER = "sqlcompiler demo data"
BANK_SYNC_TABLES = ("phones", "reference_customers", "loan_custom_fields", "loans", "customers")

# pg_temp.rnd(key, purpose): a uniform double in [0, 1) fixed by the seed (set per session).
RANDOM_FN = """
CREATE OR REPLACE FUNCTION pg_temp.rnd(k bigint, purpose int) RETURNS double precision
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT (hashint8extended(k * 64 + purpose, current_setting('sqlcompiler.seed')::bigint)
          & 2147483647)::double precision / 2147483648.0
$$
"""

CUSTOMERS = """
INSERT INTO bank_sync_service.customers
  (cif, segment, status, name, date_of_birth, city, monthly_income, is_vip)
SELECT 'C' || lpad(i::text, 10, '0'),
       CASE WHEN pg_temp.rnd(i, 1) < 0.60 THEN 'MASS' WHEN pg_temp.rnd(i, 1) < 0.80 THEN 'AFFLUENT'
            WHEN pg_temp.rnd(i, 1) < 0.92 THEN 'SME' ELSE 'PRIORITY' END,
       CASE WHEN pg_temp.rnd(i, 2) < 0.90 THEN 'ACTIVE' WHEN pg_temp.rnd(i, 2) < 0.96 THEN 'INACTIVE'
            WHEN pg_temp.rnd(i, 2) < 0.99 THEN 'BANKRUPT' ELSE 'DECEASED' END,
       'Customer ' || i,
       date '1950-01-01' + (pg_temp.rnd(i, 3) * 20000)::int,
       CASE WHEN pg_temp.rnd(i, 4) < 0.05 THEN NULL
            ELSE (ARRAY['Hanoi', 'Ho Chi Minh City', 'Da Nang', 'Hai Phong', 'Can Tho'])[1 + (pg_temp.rnd(i, 5) * 5)::int %% 5] END,
       round((300 + pg_temp.rnd(i, 6) * 9700)::numeric, 2),
       pg_temp.rnd(i, 7) < 0.03
FROM generate_series(1, %(n)s::bigint) AS i
"""

LOANS = """
INSERT INTO bank_sync_service.loans
  (account_number, cif, product_type, original_amount, outstanding, due_amount, dpd,
   delinquency_status, status, next_payment_date)
SELECT account_number, cif, product_type, original_amount,
       round(original_amount * outstanding_ratio, 2),
       round(original_amount * outstanding_ratio * CASE WHEN dpd > 0 THEN 0.05 * (1 + dpd / 30) ELSE 0.03 END, 2),
       dpd,
       CASE WHEN dpd IS NULL THEN NULL WHEN dpd = 0 THEN 'CURRENT' WHEN dpd < 30 THEN 'DPD1'
            WHEN dpd < 60 THEN 'DPD30' WHEN dpd < 90 THEN 'DPD60' ELSE 'DPD90' END,
       status, next_payment_date
FROM (
  SELECT 'A' || lpad(i::text, 10, '0') || k AS account_number,
         'C' || lpad(i::text, 10, '0') AS cif,
         (ARRAY['PERSONAL', 'CARD', 'AUTO', 'MORTGAGE'])[1 + (pg_temp.rnd(i * 8 + k, 11) * 4)::int %% 4] AS product_type,
         round((1000 + pg_temp.rnd(i * 8 + k, 12) * 99000)::numeric, 2) AS original_amount,
         pg_temp.rnd(i * 8 + k, 13)::numeric AS outstanding_ratio,
         CASE WHEN pg_temp.rnd(i * 8 + k, 14) < 0.01 THEN NULL
              WHEN pg_temp.rnd(i * 8 + k, 14) < 0.66 THEN 0
              ELSE 1 + floor(power(pg_temp.rnd(i * 8 + k, 15), 2) * 180)::int END AS dpd,
         CASE WHEN pg_temp.rnd(i * 8 + k, 16) < 0.85 THEN 'ACTIVE'
              WHEN pg_temp.rnd(i * 8 + k, 16) < 0.95 THEN 'CLOSED' ELSE 'WRITTEN_OFF' END AS status,
         date '2026-12-01' + (pg_temp.rnd(i * 8 + k, 17) * 60)::int - 30 AS next_payment_date
  FROM generate_series(1, %(n)s::bigint) AS i,
       generate_series(1, CASE WHEN pg_temp.rnd(i, 10) < 0.10 THEN 0 WHEN pg_temp.rnd(i, 10) < 0.45 THEN 1
                               WHEN pg_temp.rnd(i, 10) < 0.75 THEN 2 WHEN pg_temp.rnd(i, 10) < 0.92 THEN 3
                               ELSE 4 END) AS k
) AS l
"""

# About 90% of loans get a row; keys go missing, hold JSON null or the wrong JSON type now
# and then, and some dates are not real days, as real uploads from scoring systems do.
CUSTOM_FIELDS = """
INSERT INTO bank_sync_service.loan_custom_fields (account_number, fields, source_system, uploaded_by)
SELECT account_number,
       CASE WHEN r1 < 0.03 THEN '{}'::jsonb
            WHEN r1 < 0.05 THEN jsonb_build_object('risk_score', to_jsonb(((r2 * 100)::int)::text))
            WHEN r1 < 0.06 THEN jsonb_build_object('risk_score', 'null'::jsonb)
            ELSE jsonb_build_object('risk_score', (r2 * 100)::int) END
       || CASE WHEN r3 < 0.03 THEN '{}'::jsonb
               ELSE jsonb_build_object('collection_priority', (ARRAY['low', 'medium', 'high'])[1 + (r3 * 3)::int %% 3]) END
       || jsonb_build_object('payment_likelihood', round(r4::numeric, 2))
       || CASE WHEN r5 < 0.50 THEN '{}'::jsonb
               WHEN r5 < 0.52 THEN jsonb_build_object('last_promise_date', '2026-02-30')
               ELSE jsonb_build_object('last_promise_date', to_char(date '2026-06-01' + (r5 * 180)::int, 'YYYY-MM-DD')) END
       || CASE WHEN r6 < 0.01 THEN jsonb_build_object('is_disputed', 'yes')
               ELSE jsonb_build_object('is_disputed', r6 < 0.06) END,
       'SCORING', 'demo'
FROM (
  SELECT account_number, pg_temp.rnd(h, 21) AS r0, pg_temp.rnd(h, 22) AS r1, pg_temp.rnd(h, 23) AS r2,
         pg_temp.rnd(h, 24) AS r3, pg_temp.rnd(h, 25) AS r4, pg_temp.rnd(h, 26) AS r5, pg_temp.rnd(h, 27) AS r6
  FROM (SELECT account_number, substr(account_number, 2)::bigint AS h FROM bank_sync_service.loans) AS x
) AS y
WHERE r0 < 0.90
"""

REFERENCES = """
INSERT INTO bank_sync_service.reference_customers (ref_cif, primary_cif, relationship_type, name)
SELECT 'R' || lpad(i::text, 10, '0') || k, 'C' || lpad(i::text, 10, '0'),
       CASE WHEN pg_temp.rnd(i * 4 + k, 31) < 0.02 THEN NULL
            ELSE (ARRAY['PARENT', 'parent', 'Parent', 'SPOUSE', 'Spouse', 'SIBLING', 'COLLEAGUE', 'colleague'])
                 [1 + (pg_temp.rnd(i * 4 + k, 32) * 8)::int %% 8] END,
       'Reference ' || i || '-' || k
FROM generate_series(1, %(n)s::bigint) AS i,
     generate_series(1, CASE WHEN pg_temp.rnd(i, 30) < 0.40 THEN 0 WHEN pg_temp.rnd(i, 30) < 0.70 THEN 1
                             WHEN pg_temp.rnd(i, 30) < 0.90 THEN 2 ELSE 3 END) AS k
"""

# 1-3 phones per party. A phone number is a function of (party key, k), so the 5% of reference
# phones that reuse the customer's first number produce shared numbers deliberately.
PHONES = """
INSERT INTO bank_sync_service.phones (cif, type, number, is_primary, is_verified)
SELECT cif,
       CASE WHEN pg_temp.rnd(h * 4 + k, 41) < 0.60 THEN 'mobile'
            WHEN pg_temp.rnd(h * 4 + k, 41) < 0.85 THEN 'home' ELSE 'work' END,
       '+8490' || lpad(((hashint8extended(CASE WHEN shared_with IS NOT NULL AND pg_temp.rnd(h * 4 + k, 42) < 0.05
                                              THEN shared_with * 4 + 1 ELSE h * 4 + k END, 7) & 2147483647) %% 10000000)::text, 7, '0'),
       k = 1,
       pg_temp.rnd(h * 4 + k, 43) < 0.70
FROM (
  SELECT cif, substr(cif, 2)::bigint AS h, NULL::bigint AS shared_with FROM bank_sync_service.customers
  UNION ALL
  SELECT ref_cif, substr(ref_cif, 2)::bigint, substr(primary_cif, 2)::bigint FROM bank_sync_service.reference_customers
) AS parties,
     generate_series(1, 1 + (pg_temp.rnd(h, 40) * 3)::int %% 3) AS k
ORDER BY cif, k
"""


def init_schema(conn: psycopg.Connection) -> None:
    """Create the bank-sync reference tables where missing (never touches existing ones)."""
    conn.execute(resource_path("templates", "bank_sync_service.sql").read_text(encoding="utf-8"))


def _has_foreign_data(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = 'bank_sync_service'"
    ).fetchone()
    if row is None or row[0] == DEMO_MARKER:
        return False
    return bool(
        conn.execute("SELECT EXISTS (SELECT 1 FROM bank_sync_service.customers)").fetchone()[0]
    )


def generate(
    conn: psycopg.Connection,
    customers: int,
    seed: int = 42,
    *,
    force: bool = False,
    progress: Progress = quiet,
) -> dict[str, int]:
    """Replace the bank-sync tables' contents with ``customers`` synthetic customers.

    Refuses to overwrite a bank_sync_service schema that holds data it did not generate, so
    pointing the demo at a production database cannot wipe real customers.
    """
    if customers < 0:
        raise SqlCompilerError("--customers must be zero or more")
    require_local(conn, "demo")
    with conn.transaction():
        init_schema(conn)
        if _has_foreign_data(conn) and not force:
            raise SqlCompilerError(
                "bank_sync_service already holds data that sqlcompiler demo did not create; "
                "refusing to overwrite it (use a separate database, or --force if it is disposable)"
            )
        conn.execute(
            sql.SQL("COMMENT ON SCHEMA bank_sync_service IS {}").format(sql.Literal(DEMO_MARKER))
        )
        conn.execute(
            sql.SQL("COMMENT ON TABLE bank_sync_service.customers IS {}").format(
                sql.Literal(f"sqlcompiler demo seed={int(seed)}")
            )
        )
        conn.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                sql.SQL(", ").join(sql.Identifier("bank_sync_service", t) for t in BANK_SYNC_TABLES)
            )
        )
        conn.execute("SELECT set_config('sqlcompiler.seed', %s, true)", (str(int(seed)),))
        conn.execute(RANDOM_FN)
        params = {"n": customers}
        for name, stmt in (
            ("customers", CUSTOMERS),
            ("loans", LOANS),
            ("loan_custom_fields", CUSTOM_FIELDS),
            ("reference_customers", REFERENCES),
            ("phones", PHONES),
        ):
            t0 = time.monotonic()
            cur = conn.execute(stmt, params)
            progress(f"  {name:<20} {cur.rowcount:>10,} rows  {time.monotonic() - t0:6.1f}s")
    conn.execute(
        "ANALYZE bank_sync_service.customers, bank_sync_service.loans, "
        "bank_sync_service.loan_custom_fields, bank_sync_service.reference_customers, "
        "bank_sync_service.phones"
    )
    return counts(conn)


def generated_seed(conn: psycopg.Connection) -> int | None:
    """The seed of the demo data in place (the bench reuses data of the same size and seed)."""
    row = conn.execute(
        "SELECT obj_description('bank_sync_service.customers'::regclass, 'pg_class')"
    ).fetchone()
    text = row[0] if row else None
    if not text or not text.startswith("sqlcompiler demo seed="):
        return None
    return int(text.split("=", 1)[1])


def counts(conn: psycopg.Connection) -> dict[str, int]:
    out = {}
    for table in reversed(BANK_SYNC_TABLES):
        q = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("bank_sync_service", table))
        out[table] = conn.execute(q).fetchone()[0]
    return out
