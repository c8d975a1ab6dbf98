"""Shrunk examples found by the differential test, kept as named cases.

Each was found by test_differential.py (against a deliberately broken compiler where noted)
and stays here so the same mistake fails fast and readably.
"""

from __future__ import annotations

from tests.compiler.test_differential import CUSTOM, check
from tests.scenario import results

NULL_CUSTOMER = {
    "cif": "C0",
    "segment": None,
    "monthly_income": None,
    "date_of_birth": None,
    "is_vip": None,
}
EMPTY = {"loans": [], "custom": {}, "references": [], "phones": []}


def _one(condition: dict) -> dict:
    return {
        "custom_fields": CUSTOM,
        "groups": [
            {
                "name": "g0",
                "campaigns": [
                    {"name": "c0", "priority": 0, "conditions": [condition], "contact_rules": []}
                ],
            }
        ],
    }


def test_missing_value_never_satisfies_not_equal(db, dsn):
    # found with `!=` compiled as IS DISTINCT FROM: a NULL segment matched `segment != ''`
    condition = {
        "data_source": "bank_sync_service.customers",
        "field_name": "segment",
        "operator": "!=",
        "field_value": "",
    }
    check(db, dsn, _one(condition), {"customers": [NULL_CUSTOMER], **EMPTY})
    assert results(db)[0] == []


def test_wrong_typed_json_never_satisfies_not_in(db, dsn):
    condition = {
        "data_source": "custom_fields",
        "field_name": "n",
        "operator": "NOT IN",
        "field_value": ["30"],
    }
    data = {
        "customers": [NULL_CUSTOMER],
        "loans": [
            {
                "account_number": "L0A",
                "cif": "C0",
                "dpd": None,
                "product_type": None,
                "next_payment_date": None,
            }
        ],
        "custom": {"L0A": {"n": "30"}},
        "references": [],
        "phones": [],
    }
    check(db, dsn, _one(condition), data)
    assert results(db)[0] == []
