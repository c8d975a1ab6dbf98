from __future__ import annotations

from sqlcompiler import api
from tests.scenario import Scenario, cond, configure

OUT = [{"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "all"}]}]


def _lint(db, dsn, campaigns, custom=None):
    configure(
        db, {"custom_fields": custom or [], "groups": [{"name": "G", "campaigns": campaigns}]}
    )
    return [str(f) for f in api.lint(dsn)]


def test_campaign_that_can_never_win(db, dsn):
    found = _lint(db, dsn, [
        {"name": "broad", "priority": 1, "conditions": [cond("l", "dpd", ">", 30)], "contact_rules": OUT},
        {"name": "narrow", "priority": 2, "conditions": [cond("l", "dpd", ">=", 90), cond("c", "segment", "=", "MASS")], "contact_rules": OUT},
        {"name": "other", "priority": 3, "conditions": [cond("l", "dpd", ">", 10)], "contact_rules": OUT},
        {"name": "all", "priority": 4, "contact_rules": OUT},
        {"name": "after-all", "priority": 5, "conditions": [cond("c", "segment", "IN", ["SME"])], "contact_rules": OUT},
    ])  # fmt: skip
    assert found == [
        "warning: group 'G', campaign 'narrow' (priority 2): can never win: campaign 'broad' (priority 1) comes first and has weaker conditions",
        "warning: group 'G', campaign 'after-all' (priority 5): can never win: campaign 'all' (priority 4) comes first and has no conditions",
    ]


def test_contradictions_duplicates_and_structure(db, dsn):
    found = _lint(db, dsn, [
        {"name": "a", "priority": 1, "conditions": [cond("l", "dpd", ">", 90), cond("l", "dpd", "<", 30)]},
        {"name": "b", "priority": 2, "conditions": [cond("c", "segment", "=", "MASS"), cond("c", "segment", "=", "MASS"),
                                                   cond("c", "status", "IN", ["A", "B"]), cond("c", "status", "NOT IN", ["A", "B"])],
         "contact_rules": [{"rule_priority": 1, "conditions": [cond("l", "dpd", "BETWEEN", [60, 30])], "outputs": []}]},
        {"name": "c", "priority": 3, "conditions": [cond("l", "dpd", "IS NULL"), cond("l", "dpd", ">", 1)], "contact_rules": OUT},
    ], custom=[{"field_name": "unused", "data_type": "string"}])  # fmt: skip
    text = "\n".join(found)
    assert (
        "campaign 'a' (priority 1): conditions dpd > 90 and dpd < 30 contradict each other on the same loan"
        in text
    )
    assert "campaign 'a' (priority 1): has no contact rules" in text
    assert "campaign 'b' (priority 2): duplicate condition segment = MASS" in text
    assert (
        "conditions status IN ['A', 'B'] and status NOT IN ['A', 'B'] contradict each other: the campaign"
        in text
    )
    assert (
        "contact rule 1: dpd BETWEEN ['60', '30'] has its lower bound above its upper bound" in text
    )
    assert "contact rule 1: has no outputs" in text
    assert "campaign 'c' (priority 3): conditions dpd IS NULL and dpd > 1 contradict" in text
    assert "custom field 'unused': is registered but no condition uses it" in text
    assert "custom field 'unused': has no uploaded value in any loan" in text
    assert "can never win" not in text


def test_clean_configuration_has_no_findings(db, dsn):
    Scenario().customer("C").loan("C", "L", custom={"risk": 1}).load(db)
    assert _lint(db, dsn, [
        {"name": "late", "priority": 1, "conditions": [cond("l", "dpd", ">", 90), cond("f", "risk", ">", 50)], "contact_rules": OUT},
        {"name": "early", "priority": 2, "conditions": [cond("l", "dpd", ">", 30)], "contact_rules": OUT},
    ], custom=[{"field_name": "risk", "data_type": "number"}]) == []  # fmt: skip


def test_trees_findings_are_exact_and_never_false_alarms(db, dsn):
    found = _lint(db, dsn, [
        # an any with X and not X: always holds (the campaign still needs a loan)
        {"name": "tautology", "priority": 1, "contact_rules": OUT, "conditions": [
            cond("c", "segment", "=", "MASS"),
            {"any": [cond("l", "dpd", ">", 30), {"not": cond("l", "dpd", ">", 30)}]}]},
        # a not of a contradiction
        {"name": "not-contradiction", "priority": 2, "contact_rules": OUT, "conditions": {
            "not": [cond("l", "dpd", ">", 90), cond("l", "dpd", "<", 30)]}},
        # contradicting leaves in different branches of an any: fine, no finding
        {"name": "branches", "priority": 3, "contact_rules": OUT, "conditions": {
            "any": [cond("l", "dpd", ">", 90), cond("l", "dpd", "<", 30)]}},
        # shadowed: 'weak' is an any of which 'strong' implies a branch, on every loan
        {"name": "weak", "priority": 4, "contact_rules": OUT, "conditions": [
            {"any": [cond("l", "dpd", ">", 60), cond("c", "segment", "=", "VIP")]}]},
        {"name": "strong", "priority": 5, "contact_rules": OUT, "conditions": [
            cond("l", "dpd", ">=", 90), cond("c", "is_vip", "=", True)]},
        # not shadowed: 'strong2' is a tree, nothing is claimed about it
        {"name": "strong2", "priority": 6, "contact_rules": OUT, "conditions": {
            "any": [cond("l", "dpd", ">=", 90), cond("c", "is_vip", "=", True)]}},
        # relative dates: days compare whatever the day; months and mixed forms are not claimed
        {"name": "dates", "priority": 7, "contact_rules": OUT, "conditions": [
            cond("l", "next_payment_date", ">=", "today"), cond("l", "next_payment_date", "<", "today - 7d"),
            cond("l", "next_payment_date", "<", "2000-01-01"), cond("l", "next_payment_date", ">", "today - 1m")]},
    ])  # fmt: skip
    assert found == [
        "warning: group 'G', campaign 'tautology' (priority 1): loan.dpd > 30 OR NOT (loan.dpd > 30) "
        "always holds: one of its branches is always true",
        "warning: group 'G', campaign 'not-contradiction' (priority 2): NOT (loan.dpd > 90 AND "
        "loan.dpd < 30) always holds: it negates a contradiction",
        "warning: group 'G', campaign 'not-contradiction' (priority 2): conditions dpd > 90 and "
        "dpd < 30 contradict each other on the same loan: loan.dpd > 90 AND loan.dpd < 30 never holds",
        "warning: group 'G', campaign 'strong' (priority 5): can never win: campaign 'weak' "
        "(priority 4) comes first and has weaker conditions",
    ] + [f for f in found if "'dates'" in f]
    dates = [f for f in found if "'dates'" in f]
    assert len(dates) == 1 and "contradict each other on the same loan" in dates[0]
    assert "next_payment_date >=" in dates[0] and "next_payment_date <" in dates[0]
