"""Small named scenarios shared by the run tests."""

from __future__ import annotations

from tests.scenario import Scenario, cond, configure

# G1: customers with a loan over 30 days past due, with their phones; G2: every customer
TWO_GROUPS = {
    "groups": [
        {"name": "G1", "campaigns": [{"name": "late", "priority": 1, "conditions": [cond("l", "dpd", ">", 30)],
                                       "contact_rules": [{"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "all"}]}]}]},
        {"name": "G2", "campaigns": [{"name": "everyone", "priority": 1}]},
    ]
}  # fmt: skip


def setup_two_groups(db) -> None:
    s = Scenario()
    for i in range(6):
        s.customer(f"C{i}").loan(f"C{i}", f"L{i}", dpd=i * 20).phone(
            f"C{i}", i + 1, "mobile", f"+{i}"
        )
    s.load(db)
    configure(db, TWO_GROUPS)
