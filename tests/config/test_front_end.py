"""The front end both engines share: what every type × operator parses into, by hand.

The compiler and the reference evaluator both start from the typed Condition built here, so a
parsing mistake would make them agree with each other and still be wrong; these expectations
are written out, not computed.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from sqlcompiler.config.catalog import Catalog
from sqlcompiler.config.model import ConfigFile
from sqlcompiler.config.validate import validate

CATALOG = Catalog(
    tables={
        "customers": {"cif": "character varying(50)", "segment": "character varying(50)",
                      "is_vip": "boolean", "created_at": "timestamp with time zone"},
        "loans": {"dpd": "integer", "outstanding": "numeric(14,2)", "next_payment_date": "date"},
    }
)  # fmt: skip
CUSTOM = [
    {"field_name": "n", "data_type": "number"},
    {"field_name": "s", "data_type": "string"},
    {"field_name": "d", "data_type": "date"},
    {"field_name": "b", "data_type": "boolean"},
]
AS_OF = dt.date(2026, 3, 31)
C, L, F = "bank_sync_service.customers", "bank_sync_service.loans", "custom_fields"
d = dt.date

# (data_source, field, operator as written, field_value as written) ->
# (source, type, canonical operator, value, values, relative forms)
CASES = [
    # string
    ((C, "segment", "=", "MASS"), ("customer", "string", "=", "MASS", (), ())),
    ((C, "segment", "<>", "MASS"), ("customer", "string", "!=", "MASS", (), ())),
    ((C, "segment", ">", "M"), ("customer", "string", ">", "M", (), ())),
    ((C, "segment", "<=", "Ư"), ("customer", "string", "<=", "Ư", (), ())),
    ((C, "segment", "like", "M%"), ("customer", "string", "LIKE", "M%", (), ())),
    ((C, "segment", " not   like ", "M\\_%"), ("customer", "string", "NOT LIKE", "M\\_%", (), ())),
    ((C, "segment", "ILIKE", "%trần%"), ("customer", "string", "ILIKE", "%trần%", (), ())),
    ((C, "segment", "in", ["A", "Bắc"]), ("customer", "string", "IN", None, ("A", "Bắc"), ())),
    ((C, "segment", "NOT IN", ["A"]), ("customer", "string", "NOT IN", None, ("A",), ())),
    ((C, "segment", "between", ["A", "M"]), ("customer", "string", "BETWEEN", None, ("A", "M"), ())),
    ((C, "segment", "is null", None), ("customer", "string", "IS NULL", None, (), ())),
    ((C, "segment", "IS NOT NULL", "ignored"), ("customer", "string", "IS NOT NULL", None, (), ())),
    ((C, "segment", "=", "today"), ("customer", "string", "=", "today", (), ())),  # plain text
    # number
    ((L, "dpd", "=", 30), ("loan", "number", "=", D(30), (), ())),
    ((L, "dpd", "!=", "30.50"), ("loan", "number", "!=", D("30.50"), (), ())),
    ((L, "dpd", ">", -1), ("loan", "number", ">", D(-1), (), ())),
    ((L, "outstanding", ">=", 1e3), ("loan", "number", ">=", D("1000.0"), (), ())),
    ((L, "dpd", "IN", ["30", 60, 90.5]), ("loan", "number", "IN", None, (D(30), D(60), D("90.5")), ())),
    ((L, "dpd", "BETWEEN", [90, 30]), ("loan", "number", "BETWEEN", None, (D(90), D(30)), ())),
    ((L, "dpd", "IS NULL", None), ("loan", "number", "IS NULL", None, (), ())),
    # date, calendar and relative to the run (as of 2026-03-31)
    ((L, "next_payment_date", "=", "2026-02-28"), ("loan", "date", "=", d(2026, 2, 28), (), ())),
    ((L, "next_payment_date", "<", "today - 1m"),
     ("loan", "date", "<", d(2026, 2, 28), (), ("today - 1m",))),
    ((L, "next_payment_date", ">=", "TODAY+2W"),
     ("loan", "date", ">=", d(2026, 4, 14), (), ("today + 2w",))),
    ((L, "next_payment_date", "IN", ["today", "2026-01-01"]),
     ("loan", "date", "IN", None, (d(2026, 3, 31), d(2026, 1, 1)), ("today", None))),
    ((L, "next_payment_date", "BETWEEN", ["today - 7d", "today + 1m"]),
     ("loan", "date", "BETWEEN", None, (d(2026, 3, 24), d(2026, 4, 30)), ("today - 7d", "today + 1m"))),
    ((C, "created_at", ">=", "2024-01-01"), ("customer", "date", ">=", d(2024, 1, 1), (), ())),
    # boolean
    ((C, "is_vip", "=", True), ("customer", "boolean", "=", True, (), ())),
    ((C, "is_vip", "=", "FALSE"), ("customer", "boolean", "=", False, (), ())),
    ((C, "is_vip", "!=", "true"), ("customer", "boolean", "!=", True, (), ())),
    ((C, "is_vip", "IN", [True]), ("customer", "boolean", "IN", None, (True,), ())),
    # custom fields
    ((F, "n", ">=", 10), ("custom", "number", ">=", D(10), (), ())),
    ((F, "s", "LIKE", "a_%"), ("custom", "string", "LIKE", "a_%", (), ())),
    ((F, "d", ">", "today + 2w"), ("custom", "date", ">", d(2026, 4, 14), (), ("today + 2w",))),
    ((F, "b", "is not null", None), ("custom", "boolean", "IS NOT NULL", None, (), ())),
]  # fmt: skip


@pytest.mark.parametrize(("written", "parsed"), CASES, ids=[f"{w[1]} {w[2]}" for w, _ in CASES])
def test_what_a_condition_parses_into(written, parsed):
    source, field, op, value = written
    leaf = {"data_source": source, "field_name": field, "operator": op}
    if value is not None:
        leaf["field_value"] = value
    doc = {"custom_fields": CUSTOM, "groups": [{"name": "G", "campaigns": [
        {"name": "C", "priority": 1, "conditions": [leaf]}]}]}  # fmt: skip
    cond = validate(ConfigFile.model_validate(doc), CATALOG, AS_OF).groups[0].campaigns[0]
    c = cond.conditions[0]
    assert (c.source, c.dtype, c.op, c.value, c.values, c.relative) == parsed
    for got, want in zip((c.value, *c.values), (parsed[3], *parsed[4]), strict=True):
        assert type(got) is type(want)  # Decimal stays Decimal, dates are dates
