from __future__ import annotations

import pytest

from sqlcompiler.demo import generate as demo
from sqlcompiler.errors import SqlCompilerError


def test_demo_data_invariants(db):
    counts = demo.generate(db, 2000, seed=7)
    assert counts["customers"] == 2000
    q = lambda s: db.execute(s).fetchone()[0]  # noqa: E731
    assert (
        q(
            "SELECT count(*) FROM bank_sync_service.loans l LEFT JOIN bank_sync_service.customers c USING (cif) WHERE c.cif IS NULL"
        )
        == 0
    )
    assert (
        q(
            "SELECT count(*) FROM bank_sync_service.phones WHERE type NOT IN ('mobile', 'home', 'work')"
        )
        == 0
    )
    per_customer = db.execute(
        "SELECT max(n), min(n) FROM (SELECT c.cif, count(l.*) n FROM bank_sync_service.customers c LEFT JOIN bank_sync_service.loans l USING (cif) GROUP BY 1) x"
    ).fetchone()
    assert per_customer == (4, 0)
    share = q(
        "SELECT count(*)::float / (SELECT count(*) FROM bank_sync_service.loans) FROM bank_sync_service.loan_custom_fields"
    )
    assert 0.85 < share < 0.95
    assert (
        q(
            "SELECT count(*) FROM bank_sync_service.loan_custom_fields WHERE jsonb_typeof(fields->'risk_score') = 'string'"
        )
        > 0
    )
    assert (
        q(
            "SELECT count(DISTINCT relationship_type) FROM bank_sync_service.reference_customers WHERE lower(relationship_type) = 'parent'"
        )
        == 3
    )
    assert (
        q(
            "SELECT count(*) FROM (SELECT number FROM bank_sync_service.phones GROUP BY 1 HAVING count(*) > 1) x"
        )
        > 0
    )
    parties = q(
        "SELECT count(*) FROM (SELECT cif FROM bank_sync_service.customers UNION ALL SELECT ref_cif FROM bank_sync_service.reference_customers) p"
    )
    assert (
        q("SELECT count(DISTINCT cif) FROM bank_sync_service.phones") == parties
    )  # every party has 1-3 phones


def test_demo_is_deterministic(db):
    key = (
        "SELECT md5(string_agg(concat_ws('|', l.account_number, l.cif, l.dpd, l.outstanding, f.fields::text), ','"
        " ORDER BY l.account_number)) FROM bank_sync_service.loans l"
        " LEFT JOIN bank_sync_service.loan_custom_fields f USING (account_number)"
    )
    demo.generate(db, 300, seed=3)
    first = db.execute(key).fetchone()[0]
    demo.generate(db, 300, seed=3)
    assert db.execute(key).fetchone()[0] == first
    demo.generate(db, 300, seed=4)
    assert db.execute(key).fetchone()[0] != first


def test_demo_refuses_foreign_data(db):
    db.execute("COMMENT ON SCHEMA bank_sync_service IS NULL")
    db.execute("INSERT INTO bank_sync_service.customers (cif) VALUES ('REAL-1')")
    with pytest.raises(SqlCompilerError, match="refusing to overwrite"):
        demo.generate(db, 10)
    assert db.execute("SELECT count(*) FROM bank_sync_service.customers").fetchone()[0] == 1
