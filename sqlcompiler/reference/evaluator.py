"""A plain-Python statement of SPEC §2-§3, per customer, written for clarity.

It shares none of the compiler's SQL, and its input need not come from the product's reading
of the configuration: `run --engine reference` hands it the validated configuration, the
differential suite its own reading of the file (front_end.py). The tests hold the two against
each other. It walks the seed's worker design literally: groups, campaigns in priority order
with early exit, then contact rules in priority order.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

from ..config.model import Campaign, Condition, Configuration, Level, Node, Rule

MISSING = object()
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass
class Data:
    """The inputs of a population, indexed by cif."""

    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    loans: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    references: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    phones: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))


def load_data(
    conn: psycopg.Connection, cifs: Iterable[str] | None = None, schema: str = "bank_sync_service"
) -> Data:
    """Read a (small) population's rows into Python; custom fields keep exact decimals."""
    set_json_loads(functools.partial(json.loads, parse_float=Decimal), conn)
    s = sql.Identifier(schema)
    cif_list = None if cifs is None else list(cifs)
    flt = sql.SQL("") if cif_list is None else sql.SQL(" WHERE {} = ANY(%(cifs)s)")
    params = {"cifs": cif_list}
    data = Data()
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        q = sql.SQL("SELECT * FROM {}.customers c").format(s) + flt.format(
            sql.Identifier("c", "cif")
        )
        for row in cur.execute(q, params):
            data.customers[row["cif"]] = row
        q = sql.SQL(
            "SELECT l.*, f.fields AS __custom FROM {}.loans l LEFT JOIN {}.loan_custom_fields f "
            "ON f.account_number = l.account_number"
        ).format(s, s) + flt.format(sql.Identifier("l", "cif"))
        for row in cur.execute(q, params):
            data.loans[row["cif"]].append(row)
        q = sql.SQL("SELECT * FROM {}.reference_customers r").format(s) + flt.format(
            sql.Identifier("r", "primary_cif")
        )
        for row in cur.execute(q, params):
            data.references[row["primary_cif"]].append(row)
        parties = (
            None
            if cif_list is None
            else cif_list + [r["ref_cif"] for refs in data.references.values() for r in refs]
        )
        q = sql.SQL("SELECT * FROM {}.phones p").format(s) + (
            sql.SQL("") if parties is None else sql.SQL(" WHERE p.cif = ANY(%(parties)s)")
        )
        for row in cur.execute(q, {"parties": parties}):
            data.phones[row["cif"]].append(row)
    return data


# -- values --------------------------------------------------------------------------------


def _custom_value(fields: Any, cond: Condition) -> Any:
    if not isinstance(fields, dict) or cond.field not in fields:
        return MISSING
    v = fields[cond.field]
    if cond.dtype == "number":
        if isinstance(v, bool) or not isinstance(v, int | float | Decimal):
            return MISSING
        return Decimal(str(v)) if isinstance(v, float) else Decimal(v)
    if cond.dtype == "string":
        return v if isinstance(v, str) else MISSING
    if cond.dtype == "boolean":
        return v if isinstance(v, bool) else MISSING
    if not isinstance(v, str) or not _DATE_RE.match(v):  # date
        return MISSING
    try:
        day = dt.date.fromisoformat(v)
    except ValueError:
        return MISSING
    return day if day.year >= 1 else MISSING


def value(cond: Condition, customer: dict[str, Any], loan: dict[str, Any] | None) -> Any:
    """The tested value, or MISSING (SPEC §2)."""
    if cond.source == "custom":
        return _custom_value(loan.get("__custom") if loan else None, cond)
    row = customer if cond.source == "customer" else loan
    v = row.get(cond.field) if row is not None else None
    if v is None:
        return MISSING
    if cond.dtype == "number" and not isinstance(v, Decimal):
        return Decimal(str(v))
    if cond.dtype == "date" and isinstance(v, dt.datetime):
        return v.date()
    return v


def _like(pattern: str, text: str, ignore_case: bool) -> bool:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    flags = re.DOTALL | (re.IGNORECASE | re.ASCII if ignore_case else 0)
    return re.fullmatch("".join(out), text, flags) is not None


def holds(cond: Condition, customer: dict[str, Any], loan: dict[str, Any] | None) -> bool:
    v = value(cond, customer, loan)
    if cond.op == "IS NULL":
        return v is MISSING
    if v is MISSING:
        return False
    op = cond.op
    if op == "IS NOT NULL":
        return True
    if op == "IN":
        return v in cond.values
    if op == "NOT IN":
        return v not in cond.values
    if op == "BETWEEN":
        return cond.values[0] <= v <= cond.values[1]
    x = cond.value
    if op == "=":
        return v == x
    if op == "!=":
        return v != x
    if op == ">":
        return v > x
    if op == ">=":
        return v >= x
    if op == "<":
        return v < x
    if op == "<=":
        return v <= x
    if op == "LIKE":
        return _like(str(x), v, False)
    if op == "NOT LIKE":
        return not _like(str(x), v, False)
    if op == "ILIKE":  # SPEC §2: Unicode's default lowercase mapping on both sides
        return _like(str(x).lower(), v.lower(), False)
    raise AssertionError(op)


def tree_holds(item: Condition | Node, customer: dict, loan: dict | None) -> bool:
    """SPEC §2b: leaves are two-valued (holds() is never unknown), ``not`` negates."""
    if isinstance(item, Condition):
        return holds(item, customer, loan)
    if item.kind == "all":
        return all(tree_holds(c, customer, loan) for c in item.children)
    if item.kind == "any":
        return any(tree_holds(c, customer, loan) for c in item.children)
    return not tree_holds(item.children[0], customer, loan)


def matching_loans(
    where: Node | Iterable[Condition], customer: dict, loans: list[dict]
) -> tuple[bool, list[str]]:
    """(the conditions hold, the loans they hold on) — SPEC §3, literally: a tree with a
    loan-level leaf is evaluated once per loan and matches when it holds on at least one; a
    tree without one is evaluated on the customer. A plain list is an ``all``."""
    if not isinstance(where, Node):
        where = Node("all", tuple(where))
    if where.level is Level.CUSTOMER:
        return tree_holds(where, customer, None), []
    hits = [ln["account_number"] for ln in loans if tree_holds(where, customer, ln)]
    return bool(hits), sorted(hits)


def _ascii_lower(s: str) -> str:
    return "".join(chr(ord(ch) + 32) if "A" <= ch <= "Z" else ch for ch in s)


def rule_phones(rule: Rule, cif: str, data: Data) -> list[dict[str, Any]]:
    """The phones one applying rule names through its outputs, before de-duplication."""
    found = []
    for out in rule.outputs:
        if out.party == "customer":
            parties = [(cif, None, 0)]
        else:
            parties = [
                (r["ref_cif"], r["relationship_type"], 1)
                for r in data.references.get(cif, [])
                if out.party == "reference_customer_all"
                or (
                    r["relationship_type"] is not None
                    and _ascii_lower(r["relationship_type"]) == "parent"
                )
            ]
        for party_cif, rel, order in parties:
            for ph in data.phones.get(party_cif, []):
                if out.contact == "all" or ph["type"] == out.contact:
                    found.append({
                        "rule_priority": rule.priority, "party_order": order, "party_cif": party_cif,
                        "relationship_type": rel, "phone": ph,
                    })  # fmt: skip
    return found


def _contacts(
    rules: tuple[Rule, ...], cif: str, customer: dict, data: Data
) -> list[dict[str, Any]]:
    chosen: dict[Any, dict[str, Any]] = {}
    loans = data.loans.get(cif, [])
    for rule in rules:  # ascending rule_priority: the first rule to select a phone keeps it
        if not matching_loans(rule.where, customer, loans)[0]:
            continue
        for cand in rule_phones(rule, cif, data):
            prev = chosen.get(cand["phone"]["id"])
            if prev is None or (prev["rule_priority"], prev["party_order"]) > (
                cand["rule_priority"],
                cand["party_order"],
            ):
                chosen[cand["phone"]["id"]] = cand
    ordered = sorted(
        chosen.values(),
        key=lambda c: (
            c["rule_priority"], c["party_order"], not c["phone"]["is_primary"],
            c["phone"]["number"] is None, (c["phone"]["number"] or "").encode(), c["phone"]["id"],
        ),
    )  # fmt: skip
    return [
        {
            "position": i,
            "rule_priority": c["rule_priority"],
            "party_type": "customer" if c["party_order"] == 0 else "reference",
            "party_cif": c["party_cif"],
            "relationship_type": c["relationship_type"],
            "contact_type": c["phone"]["type"],
            "phone_number": c["phone"]["number"],
            "is_primary": c["phone"]["is_primary"],
            "is_verified": c["phone"]["is_verified"],
            "phone_id": c["phone"]["id"],
        }  # fmt: skip
        for i, c in enumerate(ordered, start=1)
    ]


@dataclass
class Assignment:
    cif: str
    campaign_group_id: int
    campaign_id: int
    account_numbers: list[str]
    contacts: list[dict[str, Any]]
    campaign: Campaign


def evaluate_customer(config: Configuration, cif: str, data: Data) -> list[Assignment]:
    customer = data.customers[cif]
    loans = data.loans.get(cif, [])
    out = []
    for group in config.groups:
        for campaign in group.campaigns:  # ascending priority; first match wins
            ok, accounts = matching_loans(campaign.where, customer, loans)
            if ok:
                contacts = _contacts(campaign.rules, cif, customer, data)
                out.append(Assignment(cif, group.id, campaign.id, accounts, contacts, campaign))
                break
    return out


def evaluate(
    config: Configuration, data: Data, population: Iterable[str] | None = None
) -> list[Assignment]:
    cifs = (
        data.customers.keys()
        if population is None
        else [c for c in population if c in data.customers]
    )
    return [a for cif in sorted(cifs) for a in evaluate_customer(config, cif, data)]
