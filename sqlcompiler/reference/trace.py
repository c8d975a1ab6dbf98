"""The customer trace behind ``sqlcompiler explain CIF``: why a customer got its campaign.

The trace comes from the reference evaluator (evaluator.py), fed the customer's rows from
the database; it is set beside what the run stored, so any disagreement shows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg

from ..config.model import Campaign, Condition, Configuration, Level, Node, Rule, plain
from ..errors import SqlCompilerError
from . import evaluator as reference


def _shown(v: Any) -> Any:
    return "<missing>" if v is reference.MISSING else plain(v)


def _cond_text(c: Condition) -> str:
    if c.op in ("IS NULL", "IS NOT NULL"):
        return f"{c.source}.{c.field} {c.op}"
    val = [plain(x) for x in c.values] if c.values else plain(c.value)
    return f"{c.source}.{c.field} {c.op} {val}"


def _leaf(c: Condition, customer: dict, loans: list[dict]) -> dict[str, Any]:
    item: dict[str, Any] = {"id": c.id, "condition": _cond_text(c), "level": c.level.value}
    if c.source == "customer":
        item["value"] = _shown(reference.value(c, customer, None))
        item["holds"] = reference.holds(c, customer, None)
    else:
        item["loans"] = [
            {
                "account_number": ln["account_number"],
                "value": _shown(reference.value(c, customer, ln)),
                "holds": reference.holds(c, customer, ln),
            }
            for ln in loans
        ]
        item["holds"] = any(x["holds"] for x in item["loans"])
    return item


def _node(item: Condition | Node, customer: dict, loans: list[dict], per_loan: bool) -> dict:
    """A tree node with its verdict: per loan when the tree is evaluated per loan (SPEC §3)."""
    if isinstance(item, Condition):
        return _leaf(item, customer, loans)
    out: dict[str, Any] = {
        "node": item.kind,
        "children": [_node(c, customer, loans, per_loan) for c in item.children],
    }
    if per_loan:
        out["loans"] = [
            {
                "account_number": ln["account_number"],
                "holds": reference.tree_holds(item, customer, ln),
            }
            for ln in loans
        ]
        out["holds"] = any(x["holds"] for x in out["loans"])
    else:
        out["holds"] = reference.tree_holds(item, customer, None)
    return out


def _conditions(owner: Campaign | Rule, customer: dict, loans: list[dict]) -> dict[str, Any]:
    where = owner.where
    ok, hits = reference.matching_loans(where, customer, loans)
    per_loan = where.level is Level.LOAN
    return {
        "conditions": [_leaf(c, customer, loans) for c in owner.conditions],
        "tree": None if owner.tree is None else _node(where, customer, loans, per_loan),
        "matches": ok,
        # the loans the conditions hold on (the same-loan rule), whether or not the customer
        # level ones hold: shows why a customer with the right loan did not match
        "same_loan": _same_loan(where, customer, loans) if per_loan else None,
        "matched_accounts": hits,
    }


def _same_loan(where: Node, customer: dict, loans: list[dict]) -> list[str]:
    if where.kind == "all":
        loan_part = [c for c in where.children if c.level is Level.LOAN]
        where = Node("all", tuple(loan_part))
    return sorted(ln["account_number"] for ln in loans if reference.tree_holds(where, customer, ln))


def trace(config: Configuration, cif: str, data: reference.Data) -> dict[str, Any]:
    customer = data.customers[cif]
    loans = data.loans.get(cif, [])
    assigned = {a.campaign_group_id: a for a in reference.evaluate_customer(config, cif, data)}
    groups = []
    for g in config.groups:
        tried = []
        for c in g.campaigns:
            res = _conditions(c, customer, loans)
            tried.append({"campaign": c.name, "campaign_id": c.id, "priority": c.priority, **res})
            if res["matches"]:
                break
        a = assigned.get(g.id)
        rules = []
        if a is not None:
            owner: dict[int, int] = {}  # phone id -> the rule priority that keeps it
            for r in a.campaign.rules:
                res = _conditions(r, customer, loans)
                phones, taken = [], []
                if res["matches"]:
                    for cand in reference.rule_phones(r, cif, data):
                        ph = cand["phone"]
                        item = {
                            "party": cand["party_cif"],
                            "type": ph["type"],
                            "number": ph["number"],
                        }
                        if owner.setdefault(ph["id"], r.priority) == r.priority:
                            phones.append(item)
                        else:
                            taken.append({**item, "taken_by_rule": owner[ph["id"]]})
                outputs = [f"{o.party}/{o.contact}" for o in r.outputs]
                rules.append(
                    {
                        "rule_priority": r.priority,
                        "outputs": outputs,
                        **res,
                        "phones": phones,
                        "already_taken": taken,
                    }
                )
        groups.append(
            {
                "group": g.name,
                "group_id": g.id,
                "tried": tried,
                "assigned": None
                if a is None
                else {
                    "campaign": a.campaign.name,
                    "campaign_id": a.campaign_id,
                    "account_numbers": a.account_numbers,
                },
                "contact_rules": rules,
                "contacts": [] if a is None else a.contacts,
            }
        )
    as_of = config.as_of.isoformat() if config.as_of else None
    return {"cif": cif, "fingerprint": config.fingerprint, "as_of": as_of, "groups": groups}


def stored(conn: psycopg.Connection, cif: str, run_id: int | None) -> dict[str, Any]:
    """What the run stored for the customer: the current views, or one run's partitions."""
    if run_id is None:
        a = conn.execute(
            "SELECT run_id, campaign_group_id, campaign_id, account_numbers FROM campaign_results.current_assignments WHERE cif = %s",
            (cif,),
        ).fetchall()
        k = conn.execute(
            "SELECT campaign_group_id, position, phone_number FROM campaign_results.current_contacts WHERE cif = %s ORDER BY 1, 2",
            (cif,),
        ).fetchall()
    else:
        a = conn.execute(
            "SELECT run_id, campaign_group_id, campaign_id, account_numbers FROM campaign_results.assignments WHERE cif = %s AND run_id = %s",
            (cif, run_id),
        ).fetchall()
        k = conn.execute(
            "SELECT campaign_group_id, position, phone_number FROM campaign_results.contacts WHERE cif = %s AND run_id = %s ORDER BY 1, 2",
            (cif, run_id),
        ).fetchall()
    runs = {r[0] for r in a}
    fps = dict(
        conn.execute(
            "SELECT run_id, config_fingerprint FROM campaign_results.runs WHERE run_id = ANY(%s)",
            (list(runs),),
        ).fetchall()
    )
    out: dict[int, dict[str, Any]] = {}
    for rid, gid, cid, accounts in a:
        out[gid] = {
            "run_id": rid,
            "campaign_id": cid,
            "account_numbers": list(accounts),
            "fingerprint": fps.get(rid),
            "phones": [],
        }
    for gid, _pos, number in k:
        if gid in out:
            out[gid]["phones"].append(number)
    return out


def trace_customer(
    conn: psycopg.Connection, config: Configuration, cif: str, run_id: int | None = None
) -> dict[str, Any]:
    """The reference trace for ``cif`` beside what the run (default: the current views) stored."""
    data = reference.load_data(conn, [cif])
    if cif not in data.customers:
        raise SqlCompilerError(f"no customer with cif {cif!r} in bank_sync_service.customers")
    result = trace(config, cif, data)
    if config.policy is not None:
        _policy(conn, config, result)
    saved = stored(conn, cif, run_id)
    for g in result["groups"]:
        s = saved.get(g["group_id"])
        g["stored"] = s
        mine = g["assigned"]
        g["agrees"] = (s is None and mine is None) or (
            s is not None and mine is not None and s["campaign_id"] == mine["campaign_id"]
            and s["account_numbers"] == mine["account_numbers"]
            and s["phones"] == [k["phone_number"] for k in g["contacts"]]
        )  # fmt: skip
        if s is not None and s["fingerprint"] != config.fingerprint:
            g["note"] = (
                f"run {s['run_id']} used configuration {str(s['fingerprint'])[:12]}, now {config.fingerprint[:12]}"
            )
    return result


def _policy(conn: psycopg.Connection, config: Configuration, result: dict[str, Any]) -> None:
    """SPEC §6 on the traced contacts: each phone's verdict beside it (its reason when the
    policy removes it), the remaining contacts renumbered as the run stores them."""
    from . import policy

    as_of = config.as_of or dt.date.today()
    attempts, blocks = policy.load_inputs(conn, config.policy, as_of)
    for g in result["groups"]:
        out = policy.apply(g["contacts"], config.policy, as_of, attempts, blocks)
        g["contacts"], g["suppressed"] = out.kept, out.suppressed
        why = {k["phone_number"]: k["reason"] for k in out.suppressed}
        for r in g["contact_rules"]:
            for phone in r["phones"]:
                if phone["number"] in why:
                    phone["suppressed"] = why[phone["number"]]
        if out.kept:
            g["window"] = [out.kept[0]["window_start"], out.kept[0]["window_end"]]
