"""Compiled SQL on a real database against explicit expectations and the reference evaluator."""

from __future__ import annotations

import itertools

import pytest

from tests.scenario import Scenario, cond, configure, results, run_and_compare

CUSTOM_FIELDS = [
    {"field_name": "risk", "data_type": "number"},
    {"field_name": "tier", "data_type": "string"},
    {"field_name": "promise", "data_type": "date"},
    {"field_name": "disputed", "data_type": "boolean"},
]
ALL_PHONES = [
    {"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "all"}]}
]


def _one_campaign_groups(conditions: list[dict]) -> dict:
    return {
        "custom_fields": CUSTOM_FIELDS,
        "groups": [
            {
                "name": f"g{i:02d}",
                "campaigns": [
                    {"name": "only", "priority": 1, "conditions": [c], "contact_rules": ALL_PHONES}
                ],
            }
            for i, c in enumerate(conditions)
        ],
    }


def _matrix_data() -> Scenario:
    """Values for every type: ordinary, boundary, NULL column, absent key, JSON null, wrong JSON type."""
    s = Scenario()
    customers = [
        ("C1", {"segment": "MASS", "is_vip": True, "date_of_birth": "1980-05-01"}),
        ("C2", {"segment": "AFFLUENT", "is_vip": False, "date_of_birth": "1990-01-01"}),
        ("C3", {"segment": None, "is_vip": None, "date_of_birth": None}),
        ("C4", {"segment": "mass", "is_vip": False, "date_of_birth": "1970-12-31"}),
        ("C5", {"segment": "A_B%x", "is_vip": True, "date_of_birth": "2000-02-29"}),
        ("C6", {"segment": "MASS", "is_vip": False, "date_of_birth": "1985-06-15"}),
    ]
    for cif, cols in customers:
        s.customer(cif, **cols)
        s.phone(cif, int(cif[1:]) * 10, "mobile", f"+1{cif}", primary=True)
    loans = [
        (
            "C1",
            "L1a",
            {"dpd": 30, "next_payment_date": "2026-12-01"},
            {"risk": 30, "tier": "gold", "promise": "2026-01-15", "disputed": True},
        ),
        (
            "C1",
            "L1b",
            {"dpd": 10},
            {"risk": 85.5, "tier": "silver", "promise": "2026-02-30", "disputed": False},
        ),
        (
            "C2",
            "L2a",
            {"dpd": None, "next_payment_date": None},
            {"risk": "30", "tier": 7, "promise": 20260101, "disputed": "yes"},
        ),
        ("C2", "L2b", {"dpd": 45}, None),
        ("C3", "L3a", {"dpd": 0}, {"risk": None, "tier": None, "promise": None, "disputed": None}),
        ("C4", "L4a", {"dpd": 91, "next_payment_date": "2026-11-01"}, {}),
        (
            "C5",
            "L5a",
            {"dpd": 29, "next_payment_date": "2027-01-01"},
            {"risk": 0, "tier": "GOLD", "promise": "2026-12-31", "disputed": False},
        ),
        (
            "C5",
            "L5b",
            {"dpd": 180},
            {"risk": -1.25, "tier": "a_b%x", "promise": "not a date", "disputed": True},
        ),
    ]
    for cif, acc, cols, custom in loans:
        s.loan(cif, acc, custom=custom, **cols)
    return s  # C6 has no loans at all


NUMBER_OPS = [
    ("=", 30), ("!=", 30), (">", 30), (">=", 30), ("<", 30), ("<=", 30), ("IN", [10, "30"]),
    ("NOT IN", [30, 45]), ("BETWEEN", [10, 45]), ("BETWEEN", [45, 10]), ("IS NULL", None), ("IS NOT NULL", None),
]  # fmt: skip
STRING_OPS = [
    ("=", "MASS"), ("!=", "MASS"), (">", "M"), ("<=", "MASS"), ("LIKE", "MA%"), ("NOT LIKE", "M_SS"),
    ("ILIKE", "mass"), ("LIKE", "A\\_B\\%%"), ("IN", ["MASS", "AFFLUENT"]), ("NOT IN", ["MASS"]),
    ("BETWEEN", ["A", "N"]), ("IS NULL", None), ("IS NOT NULL", None),
]  # fmt: skip
DATE_OPS = [
    ("=", "2026-12-01"), ("!=", "2026-12-01"), ("<", "2026-12-01"), (">=", "2026-12-01"),
    ("IN", ["2026-12-01", "2026-01-15"]), ("NOT IN", ["2026-12-01"]), ("BETWEEN", ["2026-01-01", "2026-12-31"]),
    ("IS NULL", None), ("IS NOT NULL", None),
]  # fmt: skip
BOOL_OPS = [
    ("=", True),
    ("!=", True),
    ("IN", [False]),
    ("NOT IN", [True]),
    ("IS NULL", None),
    ("IS NOT NULL", None),
]

FIELDS = [
    ("l", "dpd", NUMBER_OPS), ("f", "risk", NUMBER_OPS),
    ("c", "segment", STRING_OPS), ("f", "tier", [(op, v.lower() if isinstance(v, str) else v) for op, v in STRING_OPS]),
    ("l", "next_payment_date", DATE_OPS), ("f", "promise", DATE_OPS), ("c", "date_of_birth", [("<", "1985-01-01"), ("BETWEEN", ["1980-01-01", "1990-01-01"]), ("IS NULL", None)]),
    ("c", "is_vip", BOOL_OPS), ("f", "disputed", BOOL_OPS),
]  # fmt: skip


def test_every_operator_type_and_missing_value_matches_reference(db, dsn):
    _matrix_data().load(db)
    conditions = [cond(src, field, op, val) for src, field, ops in FIELDS for op, val in ops]
    configure(db, _one_campaign_groups(conditions))
    assignments, contacts = run_and_compare(db, dsn)
    assert assignments and contacts  # the matrix does select customers


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # number: JSON string "30" (C2) and JSON null (C3) are missing; C4 has no key; C6 no loans
        (cond("f", "risk", "=", 30), {"C1"}),
        (cond("f", "risk", "!=", 30), {"C1", "C5"}),
        (cond("f", "risk", "IS NULL"), {"C2", "C3", "C4"}),
        (cond("f", "risk", "NOT IN", [30]), {"C1", "C5"}),
        (cond("l", "dpd", "IS NULL"), {"C2"}),
        (cond("l", "dpd", "!=", 0), {"C1", "C2", "C4", "C5"}),
        (cond("l", "dpd", "BETWEEN", [45, 10]), set()),
        # string: NULL segment is missing for != and NOT IN; C is byte order, LIKE escapes
        (cond("c", "segment", "!=", "MASS"), {"C2", "C4", "C5"}),
        (cond("c", "segment", "NOT IN", ["MASS"]), {"C2", "C4", "C5"}),
        (cond("c", "segment", "ILIKE", "mass"), {"C1", "C4", "C6"}),
        (cond("c", "segment", "LIKE", "A\\_B\\%%"), {"C5"}),
        (cond("c", "segment", ">", "M"), {"C1", "C4", "C6"}),
        (cond("c", "segment", "IS NULL"), {"C3"}),
        (cond("f", "tier", "=", "gold"), {"C1"}),
        (cond("f", "tier", "IS NULL"), {"C2", "C3", "C4"}),  # 7 is a number: missing
        # date: "2026-02-30", "not a date" and a JSON number are missing
        (cond("f", "promise", "IS NULL"), {"C1", "C2", "C3", "C4", "C5"}),  # C1: L1b "2026-02-30"
        (cond("f", "promise", "<", "2026-12-31"), {"C1"}),
        (cond("l", "next_payment_date", "<", "2026-12-01"), {"C4"}),
        # boolean: "yes" is missing
        (cond("f", "disputed", "=", False), {"C1", "C5"}),
        (cond("f", "disputed", "IS NULL"), {"C2", "C3", "C4"}),
        (cond("c", "is_vip", "!=", True), {"C2", "C4", "C6"}),
    ],
)
def test_expected_matches(db, dsn, condition, expected):
    _matrix_data().load(db)
    configure(db, _one_campaign_groups([condition]))
    assignments, _ = run_and_compare(db, dsn)
    assert {a[0] for a in assignments} == expected


def test_spec_example_same_loan_rule(db, dsn):
    s = Scenario().customer("C", segment="MASS")
    s.loan("C", "L1", dpd=45, custom={"risk_score": 50}).loan(
        "C", "L2", dpd=10, custom={"risk_score": 90}
    )
    configure(db, {
        "custom_fields": [{"field_name": "risk_score", "data_type": "number"}],
        "groups": [{"name": "Early", "campaigns": [
            {"name": "P1", "priority": 1, "conditions": [cond("l", "dpd", ">=", 30), cond("f", "risk_score", ">", 80)]},
            {"name": "P2", "priority": 2, "conditions": [cond("c", "segment", "=", "MASS")]},
        ]}],
    })  # fmt: skip
    s.load(db)
    assignments, _ = run_and_compare(db, dsn)
    assert assignments == [("C", "Early", "P2", ())]


def test_matched_accounts_are_all_loans_satisfying_the_campaign(db, dsn):
    s = Scenario().customer("C").customer("D")
    for acc, dpd in (("B2", 40), ("A9", 50), ("C1", 5), ("a0", 60)):
        s.loan("C", acc, dpd=dpd)
    s.load(db)
    configure(db, {"groups": [{"name": "G", "campaigns": [
        {"name": "late", "priority": 1, "conditions": [cond("l", "dpd", ">", 30), cond("l", "status", "=", "ACTIVE")]},
        {"name": "rest", "priority": 2},
    ]}]})  # fmt: skip
    assignments, _ = run_and_compare(db, dsn)
    # sorted in byte order; D (no loans) falls through to the campaign without conditions
    assert assignments == [("C", "G", "late", ("A9", "B2", "a0")), ("D", "G", "rest", ())]


def test_priority_order_and_independent_groups(db, dsn):
    s = Scenario().customer("C", segment="MASS").loan("C", "L", dpd=100)
    s.load(db)
    configure(db, {"groups": [
        # listed out of order: priority decides, not file order
        {"name": "A", "campaigns": [
            {"name": "broad", "priority": 20, "conditions": [cond("l", "dpd", ">", 0)]},
            {"name": "narrow", "priority": 10, "conditions": [cond("l", "dpd", ">", 90)]},
        ]},
        {"name": "B", "campaigns": [{"name": "segment", "priority": 1, "conditions": [cond("c", "segment", "=", "MASS")]}]},
        {"name": "Empty", "campaigns": []},
    ]})  # fmt: skip
    assignments, _ = run_and_compare(db, dsn)
    assert assignments == [("C", "A", "narrow", ("L",)), ("C", "B", "segment", ())]


def test_customer_without_loans_never_meets_loan_conditions_not_even_is_null(db, dsn):
    Scenario().customer("C").load(db)
    configure(db, {
        "custom_fields": [{"field_name": "x", "data_type": "string"}],
        "groups": [{"name": "G", "campaigns": [
            {"name": "null-loan", "priority": 1, "conditions": [cond("l", "dpd", "IS NULL")]},
            {"name": "null-custom", "priority": 2, "conditions": [cond("f", "x", "IS NULL")]},
        ]}],
    })  # fmt: skip
    assignments, _ = run_and_compare(db, dsn)
    assert assignments == []


def _contact_scenario() -> Scenario:
    s = Scenario().customer("C").loan("C", "L", dpd=40, custom={"vip": True})
    s.phone("C", 1, "mobile", "+300", primary=False).phone("C", 2, "mobile", "+200", primary=True)
    s.phone("C", 3, "home", "+100").phone("C", 4, "work", "+050")
    s.reference("C", "R1", "PARENT").reference("C", "R2", "Spouse").reference("C", "R3", "parent ")
    s.phone("R1", 5, "mobile", "+900").phone("R1", 6, "home", "+200")  # shares a number with C
    s.phone("R2", 7, "mobile", "+800").phone("R3", 8, "mobile", "+700")
    s.customer("N")  # no loans, phones or references
    return s


def test_contacts_rules_dedupe_and_order(db, dsn):
    _contact_scenario().load(db)
    configure(db, {
        "custom_fields": [{"field_name": "vip", "data_type": "boolean"}],
        "groups": [{"name": "G", "campaigns": [{"name": "all", "priority": 1, "contact_rules": [
            {"rule_priority": 5, "outputs": [{"related_party_type": "customer", "contact_type": "all"},
                                             {"related_party_type": "reference_customer_all", "contact_type": "mobile"}]},
            {"rule_priority": 1, "conditions": [cond("l", "dpd", ">", 30), cond("f", "vip", "=", True)],
             "outputs": [{"related_party_type": "customer", "contact_type": "mobile"},
                         {"related_party_type": "reference_customer_parent", "contact_type": "all"}]},
            {"rule_priority": 3, "conditions": [cond("l", "dpd", ">", 90)],
             "outputs": [{"related_party_type": "customer", "contact_type": "home"}]},
            {"rule_priority": 4, "outputs": []},
        ]}]}],
    })  # fmt: skip
    _, contacts = run_and_compare(db, dsn)
    got = [(k[2], k[3], k[4], k[5], k[6], k[8]) for k in contacts if k[0] == "C"]
    assert got == [
        # rule 1: customer mobiles (primary first), then parent references ("parent " has a space: not a parent)
        (1, 1, "customer", "C", None, "+200"),
        (2, 1, "customer", "C", None, "+300"),
        (3, 1, "reference", "R1", "PARENT", "+200"),
        (4, 1, "reference", "R1", "PARENT", "+900"),
        # rule 3 does not apply; rule 5 adds what is left: customer home/work, other references' mobiles
        (5, 5, "customer", "C", None, "+050"),
        (6, 5, "customer", "C", None, "+100"),
        (7, 5, "reference", "R3", "parent ", "+700"),
        (8, 5, "reference", "R2", "Spouse", "+800"),
    ]
    # an assignment whose rules select no phone is still an assignment
    assert ("N", "G", "all", ()) in results(db)[0]
    assert not [k for k in contacts if k[0] == "N"]


def test_cifs_subset_equals_full_run_restricted(db, dsn):
    _matrix_data().load(db)
    conditions = [
        cond(src, field, op, val) for src, field, ops in FIELDS[:4] for op, val in ops[:5]
    ]
    configure(db, _one_campaign_groups(conditions))
    full = run_and_compare(db, dsn)
    subset = ["C2", "C5", "NOPE"]
    part = run_and_compare(db, dsn, cifs=subset)
    assert part[0] == [a for a in full[0] if a[0] in subset]
    assert part[1] == [k for k in full[1] if k[0] in subset]
    # everyone else still shows the full run's results
    assert results(db)[0] == full[0]


@pytest.mark.parametrize("n_campaigns", [1, 7])
def test_many_campaigns_first_match(db, dsn, n_campaigns):
    s = Scenario()
    for i, dpd in enumerate([0, 5, 15, 35, 65, 95, 150, None]):
        s.customer(f"C{i}").loan(f"C{i}", f"L{i}", dpd=dpd)
    s.load(db)
    thresholds = [120, 90, 60, 30, 10, 1, 0][:n_campaigns]
    configure(db, {"groups": [{"name": "G", "campaigns": [
        {"name": f"dpd>={t}", "priority": p, "conditions": [cond("l", "dpd", ">=", t)]}
        for p, t in zip(itertools.count(1), thresholds, strict=False)
    ]}]})  # fmt: skip
    assignments, _ = run_and_compare(db, dsn)
    if n_campaigns == 7:
        assert ("C6", "G", "dpd>=120", ()) not in assignments  # account numbers are listed
        assert ("C6", "G", "dpd>=120", ("L6",)) in assignments
        assert ("C4", "G", "dpd>=60", ("L4",)) in assignments
        assert not [a for a in assignments if a[0] == "C7"]  # dpd NULL matches nothing
