"""The contract pinned by hand: expectations written out here, not computed by the reference
evaluator (which shares the product's configuration model), so a rule broken in both at once
still fails. The views' columns, types and order; primary phone first even when its number
sorts last; BETWEEN inclusive at both bounds; every contact column."""

from __future__ import annotations

from sqlcompiler.run import run
from tests.scenario import Scenario, cond, configure, expected, results

VIEWS = {
    "current_assignments": [
        ("run_id", "bigint"), ("cif", "character varying"), ("campaign_group_id", "bigint"),
        ("campaign_id", "bigint"), ("account_numbers", "ARRAY"),
        ("campaign_group_name", "text"), ("campaign_name", "text"),
    ],
    "current_contacts": [
        ("run_id", "bigint"), ("cif", "character varying"), ("campaign_group_id", "bigint"),
        ("campaign_id", "bigint"), ("position", "integer"), ("rule_priority", "integer"),
        ("party_type", "text"), ("party_cif", "character varying"),
        ("relationship_type", "text"), ("contact_type", "text"),
        ("phone_number", "text"), ("is_primary", "boolean"), ("is_verified", "boolean"),
        ("campaign_group_name", "text"), ("campaign_name", "text"),
    ],
}  # fmt: skip


def test_the_views_columns_names_order_and_types(db):
    for view, columns in VIEWS.items():
        got = db.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'campaign_results' AND table_name = %s ORDER BY ordinal_position",
            (view,),
        ).fetchall()
        # the listed columns first, in this order (more may follow later: never fewer, never moved)
        assert [name for name, _ in got[: len(columns)]] == [name for name, _ in columns], view
        for (name, dtype), (want_name, want_type) in zip(got, columns, strict=False):
            assert name == want_name and (dtype == want_type or dtype.startswith(want_type)), (
                view, name, dtype
            )  # fmt: skip
    element = db.execute(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = 'campaign_results.current_assignments'::regclass "
        "AND a.attname = 'account_numbers'"
    ).fetchone()[0]
    assert element in ("text[]", "character varying[]")


def test_primary_phone_first_even_when_its_number_sorts_last(db, dsn):
    s = Scenario().customer("C")
    s.phone("C", 1, "mobile", "+100", primary=False, verified=True)
    s.phone("C", 2, "home", "+999", primary=True, verified=False)
    s.phone("C", 3, "work", "+500", primary=False, verified=True)
    s.load(db)
    configure(db, {"groups": [{"name": "G", "campaigns": [{"name": "A", "priority": 1,
        "contact_rules": [{"rule_priority": 1, "outputs": [
            {"related_party_type": "customer", "contact_type": "all"}]}]}]}]})  # fmt: skip
    run(dsn)
    _, contacts = results(db)
    # (cif, group, position, rule, party, party cif, relationship, type, number, primary, verified)
    assert contacts == [
        ("C", "G", 1, 1, "customer", "C", None, "home", "+999", True, False),
        ("C", "G", 2, 1, "customer", "C", None, "mobile", "+100", False, True),
        ("C", "G", 3, 1, "customer", "C", None, "work", "+500", False, True),
    ]


def test_between_holds_at_both_bounds(db, dsn):
    s = Scenario()
    for cif, dpd in (("C29", 29), ("C30", 30), ("C45", 45), ("C60", 60), ("C61", 61)):
        s.customer(cif).loan(cif, f"L{dpd}", dpd=dpd)
    s.load(db)
    configure(db, {"groups": [{"name": "G", "campaigns": [{"name": "30-60", "priority": 1,
        "conditions": [cond("l", "dpd", "BETWEEN", [30, 60])]}]}]})  # fmt: skip
    run(dsn)
    assignments, _ = results(db)
    assert assignments == [
        ("C30", "G", "30-60", ("L30",)),
        ("C45", "G", "30-60", ("L45",)),
        ("C60", "G", "30-60", ("L60",)),
    ]


def test_a_phone_reached_twice_goes_to_its_first_rule_once(db, dsn):
    """Overlapping outputs: rule 1 asks the customer's mobiles and the parent references' phones,
    rule 2 every phone of the customer and of every reference. Each phone once, at the first
    rule that reaches it; a reference who is the customer itself (ref_cif = primary_cif) reaches
    the customer's own phones a second time: rule first, then customer before reference."""
    s = Scenario().customer("C").customer("S")
    s.reference("C", "R", "Parent").reference("C", "Q", "spouse").reference("S", "S", "PARENT")
    s.phone("C", 1, "mobile", "+101", primary=False, verified=True)
    s.phone("C", 2, "home", "+102", primary=True, verified=True)
    s.phone("R", 3, "work", "+103", primary=False, verified=False)
    s.phone("Q", 4, "mobile", "+104", primary=False, verified=False)
    s.phone("S", 5, "mobile", "+105", primary=False, verified=True)
    s.phone("S", 6, "home", "+106", primary=True, verified=True)
    s.load(db)
    configure(db, {"groups": [{"name": "G", "campaigns": [{"name": "A", "priority": 1,
        "contact_rules": [
            {"rule_priority": 1, "outputs": [
                {"related_party_type": "customer", "contact_type": "mobile"},
                {"related_party_type": "reference_customer_parent", "contact_type": "all"}]},
            {"rule_priority": 2, "outputs": [
                {"related_party_type": "customer", "contact_type": "all"},
                {"related_party_type": "reference_customer_all", "contact_type": "all"}]},
        ]}]}]})  # fmt: skip
    run(dsn)
    _, contacts = results(db)
    # (cif, group, position, rule, party, party cif, relationship, type, number, primary, verified)
    assert contacts == [
        ("C", "G", 1, 1, "customer", "C", None, "mobile", "+101", False, True),
        ("C", "G", 2, 1, "reference", "R", "Parent", "work", "+103", False, False),
        ("C", "G", 3, 2, "customer", "C", None, "home", "+102", True, True),
        ("C", "G", 4, 2, "reference", "Q", "spouse", "mobile", "+104", False, False),
        # S: the customer's mobile at rule 1 as the customer; its home phone is reached at rule 1
        # only through the self-reference (a parent), so it goes there as the reference
        ("S", "G", 1, 1, "customer", "S", None, "mobile", "+105", False, True),
        ("S", "G", 2, 1, "reference", "S", "PARENT", "home", "+106", True, True),
    ]
    assert expected(db)[1] == contacts  # the reference evaluator reads the SPEC the same way
