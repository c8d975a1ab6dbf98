"""The configuration's fingerprint: the same strategy gives the same hash whatever the ids,
the order of conditions or the file's formatting; runs and versions record it."""

from __future__ import annotations

import hashlib
import json

from .model import ConditionSpec, ConfigFile, NodeSpec, is_flat
from .operands import value_text
from .policy import document as policy_document


def fingerprint(cfg: ConfigFile) -> str:
    """sha256 of the canonical configuration: ids and the order of conditions don't count."""

    def cond_key(c: ConditionSpec) -> list:
        return [c.data_source, c.field_name, c.operator, value_text(c.field_value)]

    def node_key(item: ConditionSpec | NodeSpec) -> list:
        if isinstance(item, ConditionSpec):
            return cond_key(item)
        children = [node_key(x) for x in item.children]
        return [item.kind, sorted(children, key=lambda x: json.dumps(x, ensure_ascii=False))]

    def conds_key(conds: list | NodeSpec) -> list:
        """A plain list as before trees existed (fingerprints of such files do not change)."""
        if is_flat(conds):
            return sorted(cond_key(x) for x in conds)
        if isinstance(conds, list) and len(conds) == 1:
            conds = conds[0]  # [node] is node (how the tables store it)
        root = conds if isinstance(conds, NodeSpec) else NodeSpec(all=conds)
        return [{"tree": node_key(root)}]

    canon = {
        "custom_fields": sorted(
            [f.field_name, f.data_type, f.description or ""] for f in cfg.custom_fields
        ),
        "groups": sorted(
            [
                g.name,
                sorted(
                    [
                        c.priority,
                        c.name,
                        conds_key(c.conditions),
                        sorted(
                            [
                                r.rule_priority,
                                conds_key(r.conditions),
                                sorted([o.related_party_type, o.contact_type] for o in r.outputs),
                            ]
                            for r in c.contact_rules
                        ),
                    ]
                    for c in g.campaigns
                ),
            ]
            for g in cfg.groups
        ),
    }
    if cfg.contact_policy is not None:  # absent: the fingerprint of a file without one
        canon["contact_policy"] = policy_document(cfg.contact_policy)
    blob = json.dumps(canon, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
