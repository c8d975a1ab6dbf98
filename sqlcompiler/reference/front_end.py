"""The reference evaluator's own reading of a configuration file (docs/configuration.md, SPEC §2).

The product reads a file through its pydantic model and validator (``sqlcompiler.config``); this
module reads the same YAML again with none of that code: its own operator spelling, value
parsing, relative-date resolution (calendar months clamped to the shorter month's last day),
column types from the catalog and priority order. The differential suite runs the compiled SQL
on the product's reading and the reference evaluator on this one, so a mistake in either
reading shows as a difference. It expects a file the product accepts: anything else raises.

Only the result types are shared (plain dataclasses the evaluator walks); ids are looked up by
name afterwards, for comparing rows.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import yaml

from ..config.model import Campaign, Condition, Configuration, Group, Node, Output, Rule
from ..config.policy import ContactPolicy, Limit

SOURCES = {"bank_sync_service.customers": "customer", "bank_sync_service.loans": "loan",
           "custom_fields": "custom"}  # fmt: skip
COLUMN_TYPES = {
    "string": ("character varying", "character", "text", "citext"),
    "number": ("smallint", "integer", "bigint", "numeric", "real", "double precision"),
    "date": ("date", "timestamp without time zone", "timestamp with time zone"),
    "boolean": ("boolean",),
}
RELATIVE = re.compile(r"\s*today\s*(?:([+-])\s*(\d+)\s*([dwmDWM]))?\s*", re.IGNORECASE)
NO_VALUE = ("IS NULL", "IS NOT NULL")
LISTS = ("IN", "NOT IN", "BETWEEN")
NODE_KEYS = ("all", "any", "not")

Columns = dict[str, dict[str, str]]  # table -> column -> condition type
Ids = Callable[[str, str | None], int | None]  # (group, campaign or None) -> id


def columns_of(conn: Any, schema: str = "bank_sync_service") -> Columns:
    """The condition type of each customers / loans column, from information_schema."""
    out: Columns = {"customers": {}, "loans": {}}
    rows = conn.execute(
        "SELECT table_name, column_name, CASE data_type WHEN 'USER-DEFINED' THEN udt_name "
        "ELSE data_type END FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name IN ('customers', 'loans')",
        (schema,),
    ).fetchall()
    for table, column, pg_type in rows:
        for kind, names in COLUMN_TYPES.items():
            if pg_type in names:
                out[table][column] = kind
    return out


def shift_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by calendar months; a day past the new month's end becomes its last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def resolve_date(text: str, as_of: dt.date) -> dt.date:
    m = RELATIVE.fullmatch(text)
    if m is None:
        return dt.date.fromisoformat(text.strip())
    sign, count, unit = m.groups()
    if sign is None:
        return as_of
    n = int(count) if sign == "+" else -int(count)
    unit = unit.lower()
    if unit == "m":
        return shift_months(as_of, n)
    return as_of + dt.timedelta(days=n * 7 if unit == "w" else n)


def _scalar(dtype: str, raw: Any, as_of: dt.date) -> Any:
    if dtype == "number":
        return Decimal(repr(raw) if isinstance(raw, float) else str(raw).strip())
    if dtype == "date":
        return resolve_date(str(raw), as_of)
    if dtype == "boolean":
        return raw if isinstance(raw, bool) else str(raw).strip().lower() == "true"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


class Reader:
    def __init__(self, doc: dict, columns: Columns, as_of: dt.date, ids: Ids):
        self.columns, self.as_of, self.ids = columns, as_of, ids
        self.custom = {f["field_name"]: f["data_type"] for f in doc.get("custom_fields") or []}

    def condition(self, c: dict) -> Condition:
        source = SOURCES[c["data_source"].strip().lower()]
        name = c["field_name"]
        if source == "custom":
            dtype = self.custom[name]
        else:
            dtype = self.columns["customers" if source == "customer" else "loans"][name]
        op = " ".join(c["operator"].split()).upper()
        op = "!=" if op == "<>" else op
        if op in NO_VALUE:
            return Condition(source=source, field=name, dtype=dtype, op=op)
        raw = c["field_value"]
        if op in LISTS:
            items = raw if isinstance(raw, list) else json.loads(raw)
            values = tuple(_scalar(dtype, x, self.as_of) for x in items)
            return Condition(source=source, field=name, dtype=dtype, op=op, values=values)
        value = _scalar(dtype, raw, self.as_of)
        return Condition(source=source, field=name, dtype=dtype, op=op, value=value)

    def item(self, x: dict) -> Condition | Node:
        keys = [k for k in NODE_KEYS if k in x]
        if not keys:
            return self.condition(x)
        kind, body = keys[0], x[keys[0]]
        if kind == "not":
            inner = body if not isinstance(body, list) else {"all": body}
            inner = inner if not (isinstance(body, list) and len(body) == 1) else body[0]
            return Node("not", (self.item(inner),))
        return Node(kind, tuple(self.item(y) for y in body))

    def conditions(self, written: Any) -> tuple[tuple[Condition, ...], Node | None]:
        if not written:
            return (), None
        if isinstance(written, list) and not any(k in y for y in written for k in NODE_KEYS):
            return tuple(self.condition(y) for y in written), None
        tree = self.item(written if isinstance(written, dict) else {"all": written})
        return tuple(_leaves(tree)), tree

    def campaign(self, group: str, c: dict) -> Campaign:
        conditions, tree = self.conditions(c.get("conditions"))
        rules = []
        for r in sorted(c.get("contact_rules") or [], key=lambda r: int(r["rule_priority"])):
            leaves, rtree = self.conditions(r.get("conditions"))
            outputs = tuple(
                Output(o["related_party_type"], o["contact_type"]) for o in r.get("outputs") or []
            )
            rules.append(
                Rule(
                    priority=int(r["rule_priority"]), conditions=leaves, outputs=outputs, tree=rtree
                )
            )
        return Campaign(name=c["name"], priority=int(c["priority"]), conditions=conditions,
                        rules=tuple(rules), id=self.ids(group, c["name"]), tree=tree)  # fmt: skip

    def configuration(self, doc: dict) -> Configuration:
        groups = []
        for g in doc.get("groups") or []:
            campaigns = sorted(
                (self.campaign(g["name"], c) for c in g.get("campaigns") or []),
                key=lambda c: c.priority,
            )
            groups.append(
                Group(name=g["name"], campaigns=tuple(campaigns), id=self.ids(g["name"], None))
            )
        return Configuration(
            groups=tuple(groups), custom_fields=dict(self.custom), as_of=self.as_of,
            policy=_policy(doc.get("contact_policy")),
        )  # fmt: skip


def _policy(p: dict | None) -> ContactPolicy | None:
    """SPEC §6's section as written (the times HH:MM)."""
    if not p:
        return None

    def hhmm(text: str) -> dt.time:
        hours, minutes = text.split(":")
        return dt.time(int(hours), int(minutes))

    window = p["calling_window"]
    return ContactPolicy(
        p["timezone"], hhmm(window["start"]), hhmm(window["end"]),
        tuple(Limit(x["per"], int(x["days"]), int(x["attempts"])) for x in p.get("limits") or []),
        int(p.get("after_connected_days") or 0), int(p.get("reference_min_days") or 0),
    )  # fmt: skip


def _leaves(item: Condition | Node) -> list[Condition]:
    if isinstance(item, Condition):
        return [item]
    return [leaf for child in item.children for leaf in _leaves(child)]


def read(text: str, columns: Columns, as_of: dt.date, ids: Ids) -> Configuration:
    """The configuration a YAML file states, read independently of ``sqlcompiler.config``."""
    doc = yaml.safe_load(text) or {}
    return Reader(doc, columns, as_of, ids).configuration(doc)


def ids_in(conn: Any) -> Ids:
    """Ids of groups and campaigns by name in a configured database (to compare rows)."""
    groups = dict(conn.execute("SELECT name, id FROM campaign_engine.campaign_groups").fetchall())
    campaigns = {
        (g, c): i
        for g, c, i in conn.execute(
            "SELECT g.name, c.name, c.id FROM campaign_engine.campaigns c "
            "JOIN campaign_engine.campaign_groups g ON g.id = c.campaign_group_id"
        ).fetchall()
    }
    return lambda group, campaign: (
        groups.get(group) if campaign is None else campaigns.get((group, campaign))
    )
