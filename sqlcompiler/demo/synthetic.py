"""The benchmark's synthetic configuration and the literal plan it is checked against.

The literal plan is the design card read literally: per group a UNION ALL of per-campaign
SELECTs with ROW_NUMBER, materialised (assignments only). The run must agree with it.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from typing import Any

import sqlglot
from sqlglot import exp

from ..compiler.conditions import CUSTOM, CUSTOMER, LOAN, collate_c, tree_predicate
from ..config.model import Level

# (data_source, field, type, values to draw from) over the demo data's columns and custom fields
FIELDS: list[tuple[str, str, str, list[Any]]] = [
    ("bank_sync_service.customers", "segment", "string", ["MASS", "AFFLUENT", "SME", "PRIORITY"]),
    ("bank_sync_service.customers", "status", "string", ["ACTIVE", "INACTIVE", "BANKRUPT"]),
    ("bank_sync_service.customers", "city", "string", ["Hanoi", "Da Nang", "Can Tho"]),
    ("bank_sync_service.customers", "monthly_income", "number", [1000, 3000, 5000, 8000]),
    (
        "bank_sync_service.customers",
        "date_of_birth",
        "date",
        ["1960-01-01", "1975-06-30", "1990-01-01"],
    ),
    ("bank_sync_service.customers", "is_vip", "boolean", [True, False]),
    ("bank_sync_service.loans", "dpd", "number", [0, 1, 30, 60, 90, 120]),
    ("bank_sync_service.loans", "outstanding", "number", [1000, 10000, 50000]),
    ("bank_sync_service.loans", "product_type", "string", ["PERSONAL", "CARD", "AUTO", "MORTGAGE"]),
    (
        "bank_sync_service.loans",
        "delinquency_status",
        "string",
        ["CURRENT", "DPD30", "DPD60", "DPD90"],
    ),
    (
        "bank_sync_service.loans",
        "next_payment_date",
        "date",
        ["2026-11-15", "2026-12-01", "2026-12-20"],
    ),
    ("custom_fields", "risk_score", "number", [20, 50, 70, 90]),
    ("custom_fields", "collection_priority", "string", ["low", "medium", "high"]),
    ("custom_fields", "payment_likelihood", "number", [0.2, 0.5, 0.8]),
    ("custom_fields", "last_promise_date", "date", ["2026-07-01", "2026-09-01", "2026-11-01"]),
    ("custom_fields", "is_disputed", "boolean", [True, False]),
]
CUSTOM_TYPES = {f: t for src, f, t, _ in FIELDS if src == "custom_fields"}
OPS = {
    "string": [
        "=",
        "!=",
        "IN",
        "NOT IN",
        "LIKE",
        "NOT LIKE",
        "ILIKE",
        ">",
        "BETWEEN",
        "IS NOT NULL",
    ],
    "number": [">=", ">", "<", "<=", "BETWEEN", "!=", "IN", "NOT IN", "=", "IS NULL"],
    "date": ["<", ">=", "BETWEEN", "=", "!=", "IN", "IS NULL"],
    "boolean": ["=", "!=", "IN", "NOT IN", "IS NULL", "IS NOT NULL"],
}


def synthetic_config(
    groups: int, campaigns: int, conditions: int, rules: int, seed: int,
    contact_heavy: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """A deterministic configuration using every operator, type and data source.

    Campaigns get progressively looser towards the end of a group so that every priority
    level wins some customers, as real configurations do. ``contact_heavy``: every rule asks
    for every phone of the customer and of all their references (the contacts step dominates).
    """
    rnd = random.Random(seed)
    counter = 0

    def condition(loose: bool) -> dict[str, Any]:
        nonlocal counter
        source, name, dtype, values = (
            FIELDS[counter % len(FIELDS)] if counter < len(FIELDS) * 2 else rnd.choice(FIELDS)
        )
        ops = OPS[dtype]
        op = ops[counter % len(ops)] if counter < 60 else rnd.choice(ops)
        counter += 1
        if loose and op in ("=", "IN", "IS NULL", "BETWEEN"):
            op = "IS NOT NULL"
        c: dict[str, Any] = {"data_source": source, "field_name": name, "operator": op}
        if op in ("IN", "NOT IN"):
            c["field_value"] = rnd.sample(values, k=min(2, len(values)))
        elif op == "BETWEEN":
            lo, hi = sorted(rnd.sample(values, k=2), key=lambda v: (str(type(v)), v))
            c["field_value"] = [lo, hi]
        elif op in ("LIKE", "NOT LIKE"):
            c["field_value"] = rnd.choice(values)[:2] + "%"
        elif op == "ILIKE":
            c["field_value"] = "%" + rnd.choice(values)[-2:].lower() + "%"
        elif op not in ("IS NULL", "IS NOT NULL"):
            c["field_value"] = rnd.choice(values)
        return c

    parties = ["customer", "reference_customer_parent", "reference_customer_all"]
    contacts = ["mobile", "home", "work", "all"]
    doc_groups = []
    for g in range(groups):
        camps = []
        for c in range(campaigns):
            loose = c >= campaigns * 0.6
            n = max(0, conditions - (1 if loose else 0))
            rule_list = [
                {
                    "rule_priority": r + 1,
                    "conditions": [condition(False)] if r > 0 else [],
                    "outputs": [
                        {"related_party_type": "customer", "contact_type": "all"},
                        {"related_party_type": "reference_customer_all", "contact_type": "all"},
                    ]
                    if contact_heavy
                    else [
                        {
                            "related_party_type": parties[(r + c) % 3],
                            "contact_type": contacts[(r + g) % 4],
                        }
                    ],
                }
                for r in range(rules)
            ]
            camps.append({"name": f"g{g:02d}c{c:03d}", "priority": (c + 1) * 10,
                          "conditions": [condition(loose) for _ in range(n)], "contact_rules": rule_list})  # fmt: skip
        doc_groups.append({"name": f"bench group {g:02d}", "campaigns": camps})
    return {
        "custom_fields": [{"field_name": f, "data_type": t} for f, t in CUSTOM_TYPES.items()],
        "groups": doc_groups,
    }


def as_trees(doc: dict[str, Any], style: str) -> dict[str, Any]:
    """The same configuration with every list of two or more conditions written as a tree
    over the same leaves (SPEC §2b), to price trees against flat lists:

    ``equivalent``: ``not (any (not a, not b, ...))`` — De Morgan, two-valued leaves: the same
    customers, accounts and contacts, so only the evaluation differs;
    ``mixed``: ``a AND (b OR NOT c) AND d ...`` — a realistic shape with other results.
    """

    def tree(conds: list[dict[str, Any]]) -> Any:
        if len(conds) < 2:
            return conds
        if style == "equivalent":
            return {"not": {"any": [{"not": c} for c in conds]}}
        if len(conds) == 2:
            return {"any": conds}
        return [conds[0], {"any": [conds[1], {"not": conds[2]}]}, *conds[3:]]

    out = copy.deepcopy(doc)
    for g in out["groups"]:
        for c in g["campaigns"]:
            c["conditions"] = tree(c["conditions"])
            for r in c["contact_rules"]:
                r["conditions"] = tree(r["conditions"])
    return out


def as_relative(doc: dict[str, Any], as_of: dt.date) -> dict[str, Any]:
    """The same configuration with every date written relative to ``as_of`` (``today - 17d``):
    a run as of that day resolves them to the same dates, so the results are the same."""

    def rel(value: Any) -> Any:
        if isinstance(value, list):
            return [rel(v) for v in value]
        if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
            days = (dt.date.fromisoformat(value) - as_of).days
            return f"today {'+' if days >= 0 else '-'} {abs(days)}d"
        return value

    out = copy.deepcopy(doc)
    for g in out["groups"]:
        for c in g["campaigns"]:
            for holder in [c, *c["contact_rules"]]:
                for cond in holder["conditions"]:
                    if "field_value" in cond:
                        cond["field_value"] = rel(cond["field_value"])
    return out


# -- the literal plan --------------------------------------------------------------------------


def literal_group_sql(group, schema: str = "bank_sync_service") -> str:
    """One UNION ALL of per-campaign SELECTs ranked with ROW_NUMBER (the design read literally)."""
    parts = []
    for c in group.campaigns:
        loan = c.where.level is Level.LOAN  # a tree with a loan leaf holds per loan (SPEC §3)
        cid, prio = exp.Literal.number(c.id), exp.Literal.number(c.priority)
        customers = exp.table_("customers", db=schema, alias=CUSTOMER)
        if loan:
            accounts = exp.ArrayAgg(
                this=exp.Order(
                    this=exp.column("account_number", table=LOAN),
                    expressions=[
                        exp.Ordered(this=collate_c(exp.column("account_number", table=LOAN)))
                    ],
                )
            )
            q = (
                exp.select(exp.column("cif", table=CUSTOMER), cid, prio, accounts)
                .from_(customers)
                .join(exp.table_("loans", db=schema, alias=LOAN), on=f"{LOAN}.cif = {CUSTOMER}.cif")
                .join(
                    exp.table_("loan_custom_fields", db=schema, alias=CUSTOM),
                    join_type="left",
                    on=f"{CUSTOM}.account_number = {LOAN}.account_number",
                )  # fmt: skip
                .where(tree_predicate(c.where))
                .group_by(exp.column("cif", table=CUSTOMER))
            )
        else:
            empty = exp.cast(exp.Array(expressions=[]), "TEXT[]")
            q = exp.select(exp.column("cif", table=CUSTOMER), cid, prio, empty).from_(customers)
            if c.conditions:
                q = q.where(tree_predicate(c.where))
        parts.append(q)
    if not parts:
        return "SELECT CAST(NULL AS VARCHAR) AS cif, CAST(NULL AS BIGINT) AS campaign_id, CAST(NULL AS TEXT[]) AS account_numbers WHERE FALSE"
    union = parts[0]
    for p in parts[1:]:
        union = exp.union(union, p, distinct=False)
    skeleton = sqlglot.parse_one(
        "SELECT cif, campaign_id, account_numbers FROM (SELECT m.*, row_number() OVER"
        " (PARTITION BY m.cif ORDER BY m.priority) AS rn FROM campaign_parts AS m) AS ranked WHERE rn = 1",
        read="postgres",
    )
    alias = exp.TableAlias(
        this=exp.to_identifier("m"),
        columns=[
            exp.to_identifier(c) for c in ("cif", "campaign_id", "priority", "account_numbers")
        ],
    )
    skeleton.find(exp.Table).replace(exp.Subquery(this=union, alias=alias))
    return skeleton.sql(dialect="postgres")


# -- measurements ------------------------------------------------------------------------------
