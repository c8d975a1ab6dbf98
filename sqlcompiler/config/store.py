"""The configuration tables: load them, diff a file against them, apply, record history.

``plan`` and ``apply`` are the same walk over (database, file); ``apply`` also executes each
step. Rows are matched by their natural keys (group name, campaign name, rule priority,
condition content) so ids stay stable across applies and results keep pointing at the same
campaigns.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from ..errors import ConfigError
from .catalog import Catalog
from .files import to_document
from .model import (
    CampaignSpec,
    ConditionSpec,
    ConfigFile,
    Configuration,
    CustomFieldSpec,
    GroupSpec,
    NodeSpec,
    OutputSpec,
    RuleSpec,
    is_flat,
)
from .validate import fingerprint, validate, value_text

CONFIG_LOCK = 0x5C0C0F16  # advisory lock key serialising configuration applies


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


def tree_key(conds: list | NodeSpec) -> Any:
    """What makes two trees the same (``[node]`` is ``node``; ids do not count)."""

    def key(item: Any) -> Any:
        if isinstance(item, NodeSpec):
            return (item.kind, tuple(key(x) for x in item.children))
        return _cond_key(item)

    if isinstance(conds, list) and len(conds) == 1 and isinstance(conds[0], NodeSpec):
        conds = conds[0]
    return key(conds) if isinstance(conds, NodeSpec) else ("list", tuple(key(x) for x in conds))


def describe_conditions(conds: list | NodeSpec) -> str:
    """One line for plans and history: ``(a) OR NOT (b)``; a plain list is ANDed."""

    def text(item: Any) -> str:
        if isinstance(item, NodeSpec):
            if item.kind == "not":
                return "NOT (" + " AND ".join(text(x) for x in item.children) + ")"
            sep = " AND " if item.kind == "all" else " OR "
            return "(" + sep.join(text(x) for x in item.children) + ")"
        return _describe(item)

    items = [conds] if isinstance(conds, NodeSpec) else conds
    return " AND ".join(text(x) for x in items) or "no conditions"


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
    return ConfigFile(custom_fields=fields, groups=groups)


def load_validated(
    conn: psycopg.Connection, catalog: Catalog, as_of: dt.date | None = None
) -> Configuration:
    """The gate in front of the compiler: the stored configuration, validated.

    ``catalog`` is the bank-sync catalog the caller read (``source.catalog``): in fdw mode it
    comes from the bank-sync database, which this package does not know how to reach.
    """
    catalog.check_required()
    return validate(load_from_db(conn), catalog, as_of)


@dataclass
class Change:
    action: str  # add | change | remove
    what: str
    detail: str = ""

    def __str__(self) -> str:
        sign = {"add": "+", "change": "~", "remove": "-"}[self.action]
        return f"{sign} {self.what}" + (f": {self.detail}" if self.detail else "")


def _cond_key(c: ConditionSpec) -> tuple:
    return (c.data_source, c.field_name, c.operator, value_text(c.field_value))


def _describe(c: ConditionSpec) -> str:
    value = value_text(c.field_value)
    return f"{c.data_source}.{c.field_name} {c.operator}" + (
        f" {value}" if value is not None else ""
    )


_OWNER = {
    "base_conditions": "campaign_id",
    "contact_rule_conditions": "contact_selection_rule_id",
}


class _Sync:
    """One walk that records the changes and, when ``conn`` is given, executes them."""

    def __init__(self, conn: psycopg.Connection | None):
        self.conn = conn
        self.changes: list[Change] = []

    def note(self, action: str, what: str, detail: str = "") -> None:
        self.changes.append(Change(action, what, detail))

    def sql(self, query: str | sql.Composable, params: tuple = ()) -> int | None:
        """Execute when applying; return the RETURNING id, if any."""
        if self.conn is None:
            return None
        cur = self.conn.execute(query, params)
        return cur.fetchone()[0] if cur.description else None

    def run(self, cur: ConfigFile, new: ConfigFile) -> list[Change]:
        cur_fields = {f.field_name: f for f in cur.custom_fields}
        new_fields = {f.field_name: f for f in new.custom_fields}
        for name, f in new_fields.items():
            old = cur_fields.get(name)
            if old is None:
                self.note("add", f"custom field {name!r}", f.data_type)
                self.sql(
                    "INSERT INTO campaign_engine.custom_fields (field_name, data_type, description) VALUES (%s, %s, %s)",
                    (name, f.data_type, f.description),
                )
            elif (old.data_type, old.description) != (f.data_type, f.description):
                self.note(
                    "change",
                    f"custom field {name!r}",
                    f"{old.data_type} -> {f.data_type}"
                    if old.data_type != f.data_type
                    else "description",
                )
                self.sql(
                    "UPDATE campaign_engine.custom_fields SET data_type = %s, description = %s WHERE id = %s",
                    (f.data_type, f.description, old.id),
                )
        for name, f in cur_fields.items():
            if name not in new_fields:
                self.note("remove", f"custom field {name!r}")
                self.sql("DELETE FROM campaign_engine.custom_fields WHERE id = %s", (f.id,))

        cur_groups = {g.name: g for g in cur.groups}
        new_names = {g.name for g in new.groups}
        for g in cur.groups:
            if g.name not in new_names:
                self.note("remove", f"group {g.name!r}", f"{len(g.campaigns)} campaigns")
                self.sql("DELETE FROM campaign_engine.campaign_groups WHERE id = %s", (g.id,))
        for g in new.groups:
            old = cur_groups.get(g.name)
            if old is None:
                self.note("add", f"group {g.name!r}", f"{len(g.campaigns)} campaigns")
                gid = self.sql(
                    "INSERT INTO campaign_engine.campaign_groups (name) VALUES (%s) RETURNING id",
                    (g.name,),
                )
                for c in g.campaigns:
                    self.add_campaign(gid, c, quiet=True)
            else:
                self.sync_campaigns(old, g)
        return self.changes

    def sync_campaigns(self, old: GroupSpec, new: GroupSpec) -> None:
        cur = {c.name: c for c in old.campaigns}
        names = {c.name for c in new.campaigns}
        for c in old.campaigns:
            if c.name not in names:
                self.note("remove", f"campaign {c.name!r} in group {old.name!r}")
                self.sql("DELETE FROM campaign_engine.campaigns WHERE id = %s", (c.id,))
        for c in new.campaigns:
            where = f"campaign {c.name!r} in group {new.name!r}"
            prev = cur.get(c.name)
            if prev is None:
                self.note("add", where, f"priority {c.priority}")
                self.add_campaign(old.id, c)
                continue
            if prev.priority != c.priority:
                self.note("change", where, f"priority {prev.priority} -> {c.priority}")
                self.sql(
                    "UPDATE campaign_engine.campaigns SET priority = %s WHERE id = %s",
                    (c.priority, prev.id),
                )
            self.sync_conditions(
                "base_conditions", "campaign_id", prev.id, prev.conditions, c.conditions, where
            )
            self.sync_rules(prev, c, where)

    def add_campaign(self, gid: int | None, c: CampaignSpec, quiet: bool = False) -> None:
        cid = self.sql(
            "INSERT INTO campaign_engine.campaigns (campaign_group_id, name, priority) VALUES (%s, %s, %s) RETURNING id",
            (gid, c.name, c.priority),
        )
        self.insert_conditions("base_conditions", cid, c.conditions)
        for r in c.contact_rules:
            self.add_rule(cid, r)

    def add_rule(self, cid: int | None, r: RuleSpec) -> None:
        rid = self.sql(
            "INSERT INTO campaign_engine.contact_selection_rules (campaign_id, rule_priority) VALUES (%s, %s) RETURNING id",
            (cid, r.rule_priority),
        )
        self.insert_conditions("contact_rule_conditions", rid, r.conditions)
        for o in r.outputs:
            self.insert_output(rid, o)

    def insert_condition(
        self,
        table: str,
        parent_col: str,
        parent: int | None,
        c: ConditionSpec,
        node: int | None = None,
        position: int | None = None,
    ) -> None:
        query = {
            "base_conditions": "INSERT INTO campaign_engine.base_conditions (campaign_id, data_source, field_name, operator, field_value, node_id, position) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            "contact_rule_conditions": "INSERT INTO campaign_engine.contact_rule_conditions (contact_selection_rule_id, data_source, field_name, operator, field_value, node_id, position) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        }[table]
        self.sql(
            query,
            (
                parent,
                c.data_source,
                c.field_name,
                c.operator,
                value_text(c.field_value),
                node,
                position,
            ),
        )

    def insert_conditions(self, table: str, owner: int | None, conds: list | NodeSpec) -> None:
        """A plain list as today's rows; a tree also as condition_nodes rows."""
        parent_col = _OWNER[table]
        if is_flat(conds):
            for cond in conds:
                self.insert_condition(table, parent_col, owner, cond)
            return
        node_owner = "campaign_id" if table == "base_conditions" else "contact_selection_rule_id"

        def place(items: list, node: int | None) -> None:
            for pos, item in enumerate(items):
                if isinstance(item, NodeSpec):
                    nid = self.sql(
                        sql.SQL(
                            "INSERT INTO campaign_engine.condition_nodes ({}, parent_id, kind, "
                            "position) VALUES (%s, %s, %s, %s) RETURNING id"
                        ).format(sql.Identifier(node_owner)),
                        (owner, node, item.kind, pos),
                    )
                    place(item.children, nid)
                else:
                    self.insert_condition(table, parent_col, owner, item, node, pos)

        place([conds] if isinstance(conds, NodeSpec) else list(conds), None)

    def insert_output(self, rid: int | None, o: OutputSpec) -> None:
        self.sql(
            "INSERT INTO campaign_engine.contact_rule_outputs (contact_selection_rule_id, related_party_type, contact_type) VALUES (%s, %s, %s)",
            (rid, o.related_party_type, o.contact_type),
        )

    def sync_conditions(self, table, parent_col, parent_id, old, new, where) -> None:
        if not (is_flat(old) and is_flat(new)):
            if tree_key(old) == tree_key(new):
                return
            self.note(
                "change",
                f"conditions of {where}",
                f"{describe_conditions(old)} -> {describe_conditions(new)}",
            )
            node_owner = (
                "campaign_id" if table == "base_conditions" else "contact_selection_rule_id"
            )
            delete = sql.SQL("DELETE FROM {} WHERE {} = %s")
            self.sql(
                delete.format(sql.Identifier("campaign_engine", table), sql.Identifier(parent_col)),
                (parent_id,),
            )
            self.sql(
                delete.format(
                    sql.Identifier("campaign_engine", "condition_nodes"),
                    sql.Identifier(node_owner),
                ),
                (parent_id,),
            )
            self.insert_conditions(table, parent_id, new)
            return
        remaining = list(old)
        for c in new:
            match = next((o for o in remaining if _cond_key(o) == _cond_key(c)), None)
            if match is not None:
                remaining.remove(match)
                continue
            self.note("add", f"condition of {where}", _describe(c))
            self.insert_condition(table, parent_col, parent_id, c)
        delete = {
            "base_conditions": "DELETE FROM campaign_engine.base_conditions WHERE id = %s",
            "contact_rule_conditions": "DELETE FROM campaign_engine.contact_rule_conditions WHERE id = %s",
        }[table]
        for o in remaining:
            self.note("remove", f"condition of {where}", _describe(o))
            self.sql(delete, (o.id,))

    def sync_rules(self, old: CampaignSpec, new: CampaignSpec, where: str) -> None:
        cur = {r.rule_priority: r for r in old.contact_rules}
        prios = {r.rule_priority for r in new.contact_rules}
        for r in old.contact_rules:
            if r.rule_priority not in prios:
                self.note("remove", f"contact rule {r.rule_priority} of {where}")
                self.sql(
                    "DELETE FROM campaign_engine.contact_selection_rules WHERE id = %s", (r.id,)
                )
        for r in new.contact_rules:
            rwhere = f"contact rule {r.rule_priority} of {where}"
            prev = cur.get(r.rule_priority)
            if prev is None:
                self.note("add", rwhere)
                self.add_rule(old.id, r)
                continue
            self.sync_conditions(
                "contact_rule_conditions",
                "contact_selection_rule_id",
                prev.id,
                prev.conditions,
                r.conditions,
                rwhere,
            )
            remaining = list(prev.outputs)
            for o in r.outputs:
                key = (o.related_party_type, o.contact_type)
                match = next(
                    (x for x in remaining if (x.related_party_type, x.contact_type) == key), None
                )
                if match is not None:
                    remaining.remove(match)
                    continue
                self.note("add", f"output of {rwhere}", f"{key[0]} / {key[1]}")
                self.insert_output(prev.id, o)
            for x in remaining:
                self.note(
                    "remove", f"output of {rwhere}", f"{x.related_party_type} / {x.contact_type}"
                )
                self.sql("DELETE FROM campaign_engine.contact_rule_outputs WHERE id = %s", (x.id,))


def plan(conn: psycopg.Connection, new: ConfigFile) -> list[Change]:
    return _Sync(None).run(load_from_db(conn), new)


@dataclass
class ApplyResult:
    changes: list[Change]
    fingerprint: str
    history_id: int | None


def apply(
    conn: psycopg.Connection,
    new: ConfigFile,
    catalog: Catalog,
    *,
    applied_by: str | None = None,
    source: str | None = None,
) -> ApplyResult:
    """Make the tables equal to ``new`` in one transaction, or change nothing."""
    catalog.check_required()
    validate(new, catalog)  # raises ConfigError before anything is written
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (CONFIG_LOCK,))
        conn.execute("SET CONSTRAINTS ALL DEFERRED")
        changes = _Sync(conn).run(load_from_db(conn), new)
        fp = fingerprint(new)
        history_id = None
        if changes:
            history_id = conn.execute(
                "INSERT INTO campaign_engine.config_history "
                "(applied_by, fingerprint, source, changes, document) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (
                    applied_by or getpass.getuser(),
                    fp,
                    source,
                    json.dumps([asdict(c) for c in changes]),
                    json.dumps(to_document(new), ensure_ascii=False),
                ),
            ).fetchone()[0]
        # Validate what is now stored too: it is what the compiler will read.
        stored = load_from_db(conn)
        if fingerprint(stored) != fp:
            raise ConfigError(
                "internal error: the stored configuration differs from the file after apply"
            )
    return ApplyResult(changes, fp, history_id)


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


def diff(old: ConfigFile, new: ConfigFile) -> list[Change]:
    """What applying ``new`` over ``old`` would change (nothing is executed)."""
    return _Sync(None).run(old, new)
