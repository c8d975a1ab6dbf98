from __future__ import annotations

import json

import pytest

from sqlcompiler import api, console
from sqlcompiler import run as runner
from sqlcompiler.errors import SqlCompilerError
from sqlcompiler.reference.trace import trace_customer
from tests.scenario import Scenario, cond, configure


def _explain(conn, cif, run_id=None):
    return trace_customer(conn, api.load_config(conn), cif, run_id)


def _setup(db):
    s = Scenario().customer("C", segment="MASS")
    s.loan("C", "L1", dpd=45, custom={"risk": 50}).loan("C", "L2", dpd=10, custom={"risk": 90})
    s.phone("C", 1, "mobile", "+1", primary=True).phone("C", 2, "home", "+2")
    s.reference("C", "R", "Parent").phone("R", 3, "mobile", "+3")
    s.customer("D", segment="SME")
    s.load(db)
    configure(db, {
        "custom_fields": [{"field_name": "risk", "data_type": "number"}],
        "groups": [{"name": "Early", "campaigns": [
            {"name": "P1", "priority": 1, "conditions": [cond("l", "dpd", ">=", 30), cond("f", "risk", ">", 80)]},
            {"name": "P2", "priority": 2, "conditions": [cond("c", "segment", "=", "MASS")], "contact_rules": [
                {"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "mobile"}]},
                {"rule_priority": 2, "conditions": [cond("l", "dpd", ">", 40)],
                 "outputs": [{"related_party_type": "customer", "contact_type": "all"},
                             {"related_party_type": "reference_customer_parent", "contact_type": "all"}]},
            ]},
        ]}],
    })  # fmt: skip


def test_explain_agrees_with_the_run_and_shows_why(db, dsn):
    _setup(db)
    run = runner.run(dsn)
    result = _explain(db, "C")
    g = result["groups"][0]
    assert g["agrees"] and g["stored"]["run_id"] == run.run_id
    p1, p2 = g["tried"]
    assert not p1["matches"] and p1["same_loan"] == []  # SPEC §5: no single loan meets both
    assert [
        (x["account_number"], x["value"], x["holds"]) for x in p1["conditions"][1]["loans"]
    ] == [("L1", 50, False), ("L2", 90, True)]
    assert p2["matches"] and p2["conditions"][0]["value"] == "MASS"
    rule1, rule2 = g["contact_rules"]
    assert [p["number"] for p in rule1["phones"]] == ["+1"]
    assert [p["number"] for p in rule2["phones"]] == ["+2", "+3"]
    assert rule2["already_taken"] == [
        {"party": "C", "type": "mobile", "number": "+1", "taken_by_rule": 1}
    ]
    text = console.trace(result)
    assert "'P2': MATCH" in text and "already taken by rule 1" in text and "agrees" in text
    json.dumps(result, default=str)  # --format json serialises
    d = _explain(db, "D")["groups"][0]
    assert d["assigned"] is None and d["stored"] is None and d["agrees"]


def test_explain_flags_a_disagreement(db, dsn):
    _setup(db)
    run = runner.run(dsn)
    db.execute("UPDATE bank_sync_service.customers SET segment = 'SME' WHERE cif = 'C'")
    g = _explain(db, "C", run.run_id)["groups"][0]
    assert g["assigned"] is None and g["stored"]["campaign_id"] is not None
    assert not g["agrees"]
    assert "DISAGREES" in console.trace(_explain(db, "C", run.run_id))


def test_unknown_cif(db, dsn):
    _setup(db)
    with pytest.raises(SqlCompilerError, match="no customer with cif 'ZZ'"):
        _explain(db, "ZZ")
