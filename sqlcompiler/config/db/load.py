"""Reading the configuration tables back: the document (``load_from_db``), the validated
model the compiler takes (``load_validated``; trees reassembled from condition_nodes and
the conditions' (node, position)) and the applied versions (``history``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import psycopg

from ...errors import ConfigError
from ..catalog import Catalog
from ..model import (
    CampaignSpec,
    ConditionSpec,
    ConfigFile,
    Configuration,
    CustomFieldSpec,
    GroupSpec,
    NodeSpec,
    OutputSpec,
    RuleSpec,
)
from ..validate import validate
from . import policy

_Placed = tuple[
    int | None, int | None, int, "ConditionSpec | NodeSpec"
]  # (node, position, id, item)


def _conditions_by_parent(conn: psycopg.Connection, query: str) -> dict[int, list[_Placed]]:
    """Condition rows (parent id first) grouped by their campaign or contact rule."""
    out: dict[int, list[_Placed]] = defaultdict(list)
    for parent, i, src, name, op, val, node, pos in conn.execute(query).fetchall():
        spec = ConditionSpec(id=i, data_source=src, field_name=name, operator=op, field_value=val)
        out[parent].append((node, pos, i, spec))
    return out


def _nodes_by_owner(conn: psycopg.Connection) -> tuple[dict[int, list], dict[int, list]]:
    """condition_nodes rows as (parent, position, id, kind), by campaign and by contact rule."""
    campaigns: dict[int, list] = defaultdict(list)
    rules: dict[int, list] = defaultdict(list)
    for i, cid, rid, parent, kind, pos in conn.execute(
        "SELECT id, campaign_id, contact_selection_rule_id, parent_id, kind, position "
        "FROM campaign_engine.condition_nodes ORDER BY id"
    ).fetchall():
        (campaigns[cid] if cid is not None else rules[rid]).append((parent, pos, i, kind))
    return campaigns, rules


def _assemble(leaves: list[_Placed], nodes: list) -> list[ConditionSpec] | NodeSpec:
    """The conditions as written: a plain list (no nodes), or the tree the rows describe."""
    if not nodes:
        return [spec for *_, spec in leaves]
    children: dict[int | None, list[tuple[int, int, Any]]] = defaultdict(list)
    for node, pos, _i, spec in leaves:
        children[node].append((pos or 0, 0, spec))
    for parent, pos, i, kind in nodes:
        children[parent].append((pos, 1, (i, kind)))

    def build(key: int | None) -> list:
        out = []
        for _pos, is_node, item in sorted(children[key], key=lambda x: (x[0], x[1])):
            if not is_node:
                out.append(item)
                continue
            i, kind = item
            kids = build(i)
            if kind == "not":
                out.append(NodeSpec(**{"not": kids[0] if len(kids) == 1 else kids}))
            else:
                out.append(NodeSpec(**{kind: kids}))
        return out

    top = build(None)
    return top[0] if len(top) == 1 and isinstance(top[0], NodeSpec) else top


def load_from_db(conn: psycopg.Connection) -> ConfigFile:
    """The configuration rows as a ConfigFile with database ids (for validation messages)."""
    q = conn.execute
    fields = [
        CustomFieldSpec(id=i, field_name=n, data_type=t, description=d)
        for i, n, t, d in q(
            "SELECT id, field_name, data_type, description FROM campaign_engine.custom_fields ORDER BY field_name"
        ).fetchall()
    ]
    conds = _conditions_by_parent(
        conn,
        "SELECT campaign_id, id, data_source, field_name, operator, field_value, node_id, position "
        "FROM campaign_engine.base_conditions ORDER BY id",
    )
    rconds = _conditions_by_parent(
        conn,
        "SELECT contact_selection_rule_id, id, data_source, field_name, operator, field_value, "
        "node_id, position FROM campaign_engine.contact_rule_conditions ORDER BY id",
    )
    cnodes, rnodes = _nodes_by_owner(conn)
    outputs: dict[int, list[OutputSpec]] = defaultdict(list)
    for i, rid, party, contact in q(
        "SELECT id, contact_selection_rule_id, related_party_type, contact_type "
        "FROM campaign_engine.contact_rule_outputs ORDER BY id"
    ).fetchall():
        outputs[rid].append(OutputSpec(id=i, related_party_type=party, contact_type=contact))
    rules: dict[int, list[RuleSpec]] = defaultdict(list)
    for i, cid, prio in q(
        "SELECT id, campaign_id, rule_priority FROM campaign_engine.contact_selection_rules ORDER BY campaign_id, rule_priority"
    ).fetchall():
        rules[cid].append(
            RuleSpec(
                id=i,
                rule_priority=prio,
                conditions=_assemble(rconds[i], rnodes[i]),
                outputs=outputs[i],
            )
        )
    campaigns: dict[int, list[CampaignSpec]] = defaultdict(list)
    for i, gid, name, prio in q(
        "SELECT id, campaign_group_id, name, priority FROM campaign_engine.campaigns ORDER BY campaign_group_id, priority"
    ).fetchall():
        campaigns[gid].append(
            CampaignSpec(
                id=i,
                name=name,
                priority=prio,
                conditions=_assemble(conds[i], cnodes[i]),
                contact_rules=rules[i],
            )
        )
    groups = [
        GroupSpec(id=i, name=name, campaigns=campaigns[i])
        for i, name in q(
            "SELECT id, name FROM campaign_engine.campaign_groups ORDER BY id"
        ).fetchall()
    ]
    return ConfigFile(custom_fields=fields, groups=groups, contact_policy=policy.load(conn))


def load_validated(
    conn: psycopg.Connection, catalog: Catalog, as_of: dt.date | None = None
) -> Configuration:
    """The gate in front of the compiler: the stored configuration, validated.

    ``catalog`` is the bank-sync catalog the caller read (``source.catalog``): in fdw mode it
    comes from the bank-sync database, which this package does not know how to reach.
    """
    catalog.check_required()
    return validate(load_from_db(conn), catalog, as_of)


@dataclass(frozen=True)
class Version:
    """One row of campaign_engine.config_history."""

    version: int
    applied_at: Any
    applied_by: str
    fingerprint: str
    source: str | None
    changes: list[dict[str, str]]
    has_document: bool

    @property
    def summary(self) -> str:
        counts = {
            a: sum(1 for c in self.changes if c.get("action") == a)
            for a in ("add", "change", "remove")
        }
        return f"+{counts['add']} ~{counts['change']} -{counts['remove']}" + (
            f" ({self.source})" if self.source else ""
        )


def history(conn: psycopg.Connection, limit: int = 20) -> list[Version]:
    rows = conn.execute(
        "SELECT id, applied_at, applied_by, fingerprint, source, changes, document IS NOT NULL "
        "FROM campaign_engine.config_history ORDER BY id DESC LIMIT %s",
        (limit,),
    ).fetchall()
    return [Version(*r) for r in rows]


def version_document(conn: psycopg.Connection, version: int) -> ConfigFile:
    """The configuration as version ``version`` applied it."""
    row = conn.execute(
        "SELECT document FROM campaign_engine.config_history WHERE id = %s", (version,)
    ).fetchone()
    if row is None:
        raise ConfigError(f"configuration version {version} does not exist; see `config history`")
    if row[0] is None:
        raise ConfigError(
            f"configuration version {version} was applied before versions kept their content "
            "(schema 0007): only its fingerprint and changes are known"
        )
    return ConfigFile.model_validate(row[0])
