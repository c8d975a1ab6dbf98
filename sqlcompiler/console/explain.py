"""``explain CIF`` as text: every campaign tried, every condition (or tree node) with its
verdict and the values it saw, per loan where the same-loan rule applies."""

from __future__ import annotations

from typing import Any


def _mark(ok: bool) -> str:
    return "✔" if ok else "✘"


def _leaf_lines(c: dict[str, Any], pad: str) -> list[str]:
    if c["level"] == "customer":
        return [f"{pad}{_mark(c['holds'])} {c['condition']}   value: {c['value']!r}"]
    lines = [f"{pad}{_mark(c['holds'])} {c['condition']}"]
    if not c["loans"]:
        lines.append(f"{pad}    (customer has no loans)")
    for ln in c["loans"]:
        lines.append(f"{pad}    {_mark(ln['holds'])} loan {ln['account_number']}: {ln['value']!r}")
    return lines


def _tree_lines(node: dict[str, Any], pad: str) -> list[str]:
    """A condition tree (SPEC §2b), each node with its verdict (per loan when evaluated per loan)."""
    if "node" not in node:
        return _leaf_lines(node, pad)
    head = f"{pad}{_mark(node['holds'])} {node['node'].upper()}"
    if "loans" in node:
        per = ", ".join(f"{ln['account_number']} {_mark(ln['holds'])}" for ln in node["loans"])
        head += f"   per loan: {per or '(customer has no loans)'}"
    lines = [head]
    for child in node["children"]:
        lines += _tree_lines(child, pad + "    ")
    return lines


def trace(result: dict[str, Any]) -> str:
    """``explain CIF`` as a tree: every campaign tried, every condition with its values."""
    as_of = f", as of {result['as_of']}" if result.get("as_of") else ""
    lines = [f"customer {result['cif']} (configuration {result['fingerprint'][:12]}{as_of})"]
    for g in result["groups"]:
        lines.append(f"group {g['group']!r}")
        for t in g["tried"]:
            verdict = "MATCH" if t["matches"] else "no match"
            lines.append(f"  ├─ {t['priority']:>4} {t['campaign']!r}: {verdict}")
            if not t["conditions"]:
                lines.append("  │     (no conditions: matches everyone)")
            if t.get("tree"):
                lines += _tree_lines(t["tree"], "  │     ")
            else:
                for c in t["conditions"]:
                    lines += _leaf_lines(c, "  │     ")
            if t["same_loan"] is not None:
                lines.append(
                    f"  │     loans meeting all loan conditions: {t['same_loan'] or 'none'}"
                )
        a = g["assigned"]
        if a is None:
            lines.append("  └─ not assigned in this group")
        else:
            lines.append(
                f"  └─ assigned to {a['campaign']!r}, account numbers {a['account_numbers']}"
            )
            for r in g["contact_rules"]:
                applies = "applies" if r["matches"] else "does not apply"
                lines.append(
                    f"       rule {r['rule_priority']} ({', '.join(r['outputs']) or 'no outputs'}): {applies}"
                )
                if r.get("tree"):
                    lines += _tree_lines(r["tree"], "         ")
                else:
                    for c in r["conditions"]:
                        lines.append(f"         {_mark(c['holds'])} {c['condition']}")
                for p in r["phones"]:
                    verdict = f" — suppressed: {p['suppressed']}" if p.get("suppressed") else ""
                    lines.append(f"         + {p['number']} ({p['type']}, {p['party']}){verdict}")
                for p in r["already_taken"]:
                    lines.append(
                        f"         = {p['number']} ({p['type']}, {p['party']}) already taken by rule {p['taken_by_rule']}"
                    )
                if r["matches"] and not r["phones"] and not r["already_taken"]:
                    lines.append("         (its outputs name no existing phone)")
            if g["contacts"]:
                order = ", ".join(f"#{k['position']} {k['phone_number']}" for k in g["contacts"])
                lines.append(f"       contacts in order: {order}")
        s = g["stored"]
        stored_txt = (
            "nothing stored"
            if s is None
            else f"run {s['run_id']} stored campaign id {s['campaign_id']}"
        )
        lines.append(f"     stored: {stored_txt} — {'agrees' if g['agrees'] else 'DISAGREES'}")
        if g.get("note"):
            lines.append(f"     note: {g['note']}")
    return "\n".join(lines)
