"""The configuration tables: diff a file against them, apply, record history (reading them
back is load.py).

``plan`` and ``apply`` are the same walk over (database, file); ``apply`` also executes each
step. Rows are matched by their natural keys (group name, campaign name, rule priority,
condition content) so ids stay stable across applies and results keep pointing at the same
campaigns; a group or campaign removed and added back under the same name (a rollback) gets
its old id again (``campaign_engine.retired_ids``).
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from ...errors import ConfigError
from ..canonical import fingerprint
from ..catalog import Catalog
from ..files import to_document
from ..model import (
    CampaignSpec,
    ConditionSpec,
    ConfigFile,
    GroupSpec,
    NodeSpec,
    OutputSpec,
    RuleSpec,
    is_flat,
)
from ..operands import value_text
from ..policy import ContactPolicySpec
from ..policy import describe as describe_policy
from ..policy import document as policy_document
from ..trees import condition_key, describe_condition, describe_conditions, tree_key
from ..validate import validate
from .load import load_from_db
from .policy import save as save_policy

CONFIG_LOCK = 0x5C0C0F16  # advisory lock key serialising configuration applies


@dataclass
class Change:
    action: str  # add | change | remove
    what: str
    detail: str = ""

    def __str__(self) -> str:
        sign = {"add": "+", "change": "~", "remove": "-"}[self.action]
        return f"{sign} {self.what}" + (f": {self.detail}" if self.detail else "")


SCHEMA = "campaign_engine"
# the column naming the campaign or contact rule a condition (and a condition node) belongs to
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

    def _execute(self, query: sql.Composable, params: tuple = ()) -> int | None:
        """Execute when applying; return the RETURNING id, if any."""
        if self.conn is None:
            return None
        cur = self.conn.execute(query, params)
        return cur.fetchone()[0] if cur.description else None

    def insert(self, table: str, **values: object) -> int | None:
        """INSERT one row into campaign_engine.``table``; its id."""
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
            sql.Identifier(SCHEMA, table),
            sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join(sql.Placeholder() * len(values)),
        )
        return self._execute(query, tuple(values.values()))

    def update(self, table: str, row_id: int | None, **values: object) -> None:
        query = sql.SQL("UPDATE {} SET {} WHERE id = %s").format(
            sql.Identifier(SCHEMA, table),
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in values),
        )
        self._execute(query, (*values.values(), row_id))

    def delete(self, table: str, value: int | None, column: str = "id") -> None:
        query = sql.SQL("DELETE FROM {} WHERE {} = %s").format(
            sql.Identifier(SCHEMA, table), sql.Identifier(column)
        )
        self._execute(query, (value,))

    def run(self, cur: ConfigFile, new: ConfigFile) -> list[Change]:
        cur_fields = {f.field_name: f for f in cur.custom_fields}
        new_fields = {f.field_name: f for f in new.custom_fields}
        for name, f in new_fields.items():
            old = cur_fields.get(name)
            if old is None:
                self.note("add", f"custom field {name!r}", f.data_type)
                self.insert("custom_fields", field_name=name, data_type=f.data_type,
                            description=f.description)  # fmt: skip
            elif (old.data_type, old.description) != (f.data_type, f.description):
                self.note(
                    "change",
                    f"custom field {name!r}",
                    f"{old.data_type} -> {f.data_type}"
                    if old.data_type != f.data_type
                    else "description",
                )
                self.update("custom_fields", old.id, data_type=f.data_type,
                            description=f.description)  # fmt: skip
        for name, f in cur_fields.items():
            if name not in new_fields:
                self.note("remove", f"custom field {name!r}")
                self.delete("custom_fields", f.id)

        cur_groups = {g.name: g for g in cur.groups}
        new_names = {g.name for g in new.groups}
        for g in cur.groups:
            if g.name not in new_names:
                self.note("remove", f"group {g.name!r}", f"{len(g.campaigns)} campaigns")
                self.retire(g.name, "", g.id)
                for c in g.campaigns:
                    self.retire(g.name, c.name, c.id)
                self.delete("campaign_groups", g.id)
        for g in new.groups:
            old = cur_groups.get(g.name)
            if old is None:
                self.note("add", f"group {g.name!r}", f"{len(g.campaigns)} campaigns")
                gid = self.insert("campaign_groups", **self.revive(g.name, ""), name=g.name)
                for c in g.campaigns:
                    self.add_campaign(gid, g.name, c)
            else:
                self.sync_campaigns(old, g)
        self.sync_policy(cur.contact_policy, new.contact_policy)
        return self.changes

    def sync_policy(self, old: ContactPolicySpec | None, new: ContactPolicySpec | None) -> None:
        if (old and policy_document(old)) == (new and policy_document(new)):
            return
        if new is None:
            self.note("remove", "contact policy")
        else:
            self.note("add" if old is None else "change", "contact policy", describe_policy(new))
        if self.conn is not None:
            save_policy(self.conn, new)

    def retire(self, group: str, campaign: str, row_id: int | None) -> None:
        """Remember a removed group's (``campaign`` empty) or campaign's id under its name."""
        if self.conn is None:
            return
        self.conn.execute(
            "INSERT INTO campaign_engine.retired_ids (kind, group_name, campaign_name, id) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (kind, group_name, campaign_name) "
            "DO UPDATE SET id = EXCLUDED.id, retired_at = EXCLUDED.retired_at",
            ("campaign" if campaign else "group", group, campaign, row_id),
        )

    def revive(self, group: str, campaign: str) -> dict[str, int]:
        """``{"id": …}`` when this name was removed before and its id is free: a rollback, or
        remove and re-add, keeps the id results and Kafka consumers know (no false leave and
        enter at the next run); ``{}`` for a new name."""
        if self.conn is None:
            return {}
        kind, table = ("campaign", "campaigns") if campaign else ("group", "campaign_groups")
        row = self.conn.execute(
            "DELETE FROM campaign_engine.retired_ids WHERE kind = %s AND group_name = %s "
            "AND campaign_name = %s RETURNING id",
            (kind, group, campaign),
        ).fetchone()
        if row is None:
            return {}
        taken = self.conn.execute(
            sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(sql.Identifier(SCHEMA, table)),
            (row[0],),
        ).fetchone()
        return {} if taken else {"id": row[0]}

    def pair(
        self, table: str, old: list, new: list, key, removed, retire=None
    ) -> list[tuple[Any, Any]]:
        """Match rows by their natural key: delete (and note, and ``retire``) the old rows the
        new list lacks; each new row with its old row, or None when it is new."""
        keep = {key(x) for x in new}
        for x in old:
            if key(x) not in keep:
                self.note("remove", removed(x))
                if retire is not None:
                    retire(x)
                self.delete(table, x.id)
        by_key = {key(x): x for x in old}
        return [(x, by_key.get(key(x))) for x in new]

    def sync_campaigns(self, old: GroupSpec, new: GroupSpec) -> None:
        def removed(c: CampaignSpec) -> str:
            return f"campaign {c.name!r} in group {old.name!r}"

        def retire(c: CampaignSpec) -> None:
            self.retire(old.name, c.name, c.id)

        pairs = self.pair(
            "campaigns", old.campaigns, new.campaigns, lambda c: c.name, removed, retire
        )
        for c, prev in pairs:
            where = f"campaign {c.name!r} in group {new.name!r}"
            if prev is None:
                self.note("add", where, f"priority {c.priority}")
                self.add_campaign(old.id, new.name, c)
                continue
            if prev.priority != c.priority:
                self.note("change", where, f"priority {prev.priority} -> {c.priority}")
                self.update("campaigns", prev.id, priority=c.priority)
            self.sync_conditions("base_conditions", prev.id, prev.conditions, c.conditions, where)
            self.sync_rules(prev, c, where)

    def add_campaign(self, gid: int | None, group: str, c: CampaignSpec) -> None:
        cid = self.insert("campaigns", **self.revive(group, c.name), campaign_group_id=gid,
                          name=c.name, priority=c.priority)  # fmt: skip
        self.insert_conditions("base_conditions", cid, c.conditions)
        for r in c.contact_rules:
            self.add_rule(cid, r)

    def add_rule(self, cid: int | None, r: RuleSpec) -> None:
        rid = self.insert("contact_selection_rules", campaign_id=cid, rule_priority=r.rule_priority)
        self.insert_conditions("contact_rule_conditions", rid, r.conditions)
        for o in r.outputs:
            self.insert_output(rid, o)

    def insert_condition(
        self,
        table: str,
        parent: int | None,
        c: ConditionSpec,
        node: int | None = None,
        position: int | None = None,
    ) -> None:
        self.insert(
            table,
            **{_OWNER[table]: parent},
            data_source=c.data_source,
            field_name=c.field_name,
            operator=c.operator,
            field_value=value_text(c.field_value),
            node_id=node,
            position=position,
        )

    def insert_conditions(self, table: str, owner: int | None, conds: list | NodeSpec) -> None:
        """A plain list as today's rows; a tree also as condition_nodes rows."""
        if is_flat(conds):
            for cond in conds:
                self.insert_condition(table, owner, cond)
            return

        def place(items: list, node: int | None) -> None:
            for pos, item in enumerate(items):
                if isinstance(item, NodeSpec):
                    nid = self.insert("condition_nodes", **{_OWNER[table]: owner},
                                      parent_id=node, kind=item.kind, position=pos)  # fmt: skip
                    place(item.children, nid)
                else:
                    self.insert_condition(table, owner, item, node, pos)

        place([conds] if isinstance(conds, NodeSpec) else list(conds), None)

    def insert_output(self, rid: int | None, o: OutputSpec) -> None:
        self.insert("contact_rule_outputs", contact_selection_rule_id=rid,
                    related_party_type=o.related_party_type, contact_type=o.contact_type)  # fmt: skip

    def sync_conditions(self, table: str, parent_id, old, new, where: str) -> None:
        if not (is_flat(old) and is_flat(new)):
            if tree_key(old) == tree_key(new):
                return
            self.note(
                "change",
                f"conditions of {where}",
                f"{describe_conditions(old)} -> {describe_conditions(new)}",
            )
            self.delete(table, parent_id, column=_OWNER[table])
            self.delete("condition_nodes", parent_id, column=_OWNER[table])
            self.insert_conditions(table, parent_id, new)
            return
        remaining = list(old)
        for c in new:
            match = next((o for o in remaining if condition_key(o) == condition_key(c)), None)
            if match is not None:
                remaining.remove(match)
                continue
            self.note("add", f"condition of {where}", describe_condition(c))
            self.insert_condition(table, parent_id, c)
        for o in remaining:
            self.note("remove", f"condition of {where}", describe_condition(o))
            self.delete(table, o.id)

    def sync_rules(self, old: CampaignSpec, new: CampaignSpec, where: str) -> None:
        pairs = self.pair(
            "contact_selection_rules", old.contact_rules, new.contact_rules,
            lambda r: r.rule_priority, lambda r: f"contact rule {r.rule_priority} of {where}",
        )  # fmt: skip
        for r, prev in pairs:
            rwhere = f"contact rule {r.rule_priority} of {where}"
            if prev is None:
                self.note("add", rwhere)
                self.add_rule(old.id, r)
                continue
            self.sync_conditions(
                "contact_rule_conditions", prev.id, prev.conditions, r.conditions, rwhere
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
                self.delete("contact_rule_outputs", x.id)


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


def diff(old: ConfigFile, new: ConfigFile) -> list[Change]:
    """What applying ``new`` over ``old`` would change (nothing is executed)."""
    return _Sync(None).run(old, new)
