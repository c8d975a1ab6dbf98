"""Validation: a ConfigFile plus the catalog become a typed Configuration, or every problem.

The same function gates ``config apply`` and the compiler, so rows written into the
configuration tables by another tool get the same checks as a file.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json

from ..errors import ConfigError
from . import dates
from .canonical import fingerprint
from .catalog import Catalog, data_type_of
from .model import (
    CONTACT_TYPES,
    DATA_SOURCES,
    DATA_TYPES,
    PARTY_TYPES,
    Campaign,
    CampaignSpec,
    Condition,
    ConditionSpec,
    ConfigFile,
    Configuration,
    Group,
    Node,
    NodeSpec,
    Output,
    Rule,
    Typed,
    is_flat,
)
from .operands import (
    LIST_OPS,
    NO_VALUE_OPS,
    OPERATORS,
    check_like,
    normalize_operator,
    operators_for,
    parse_scalar,
    value_text,
)
from .policy import check as check_policy

MAX_DEPTH = 8  # SPEC §2b
MAX_LEAVES = 200


class _Validator:
    def __init__(self, catalog: Catalog, custom_fields: dict[str, str], as_of: dt.date):
        self.catalog = catalog
        self.custom_fields = custom_fields
        self.as_of = as_of
        self.problems: list[tuple[str, str]] = []

    def fail(self, loc: str, msg: str) -> None:
        self.problems.append((loc, msg))

    def _suggest(self, name: str, options: list[str]) -> str:
        close = difflib.get_close_matches(name, options, n=1)
        return f"; did you mean {close[0]!r}?" if close else ""

    def condition(self, spec: ConditionSpec, loc: str) -> Condition | None:
        source_key = spec.data_source.strip().lower()
        source = DATA_SOURCES.get(source_key)
        if source is None:
            self.fail(
                loc,
                f"unknown data_source {spec.data_source!r}; use one of {', '.join(DATA_SOURCES)}",
            )
            return None
        name = spec.field_name
        column_type = None
        if source == "custom":
            dtype = self.custom_fields.get(name)
            if dtype is None:
                self.fail(
                    loc,
                    f"custom field {name!r} is not registered; register it under custom_fields "
                    f"or `sqlcompiler custom-fields add`{self._suggest(name, list(self.custom_fields))}",
                )
                return None
        else:
            table = "customers" if source == "customer" else "loans"
            columns = self.catalog.columns(table)
            column_type = columns.get(name)
            if column_type is None:
                self.fail(
                    loc,
                    f"{self.catalog.schema}.{table} has no column {name!r}"
                    f"{self._suggest(name, list(columns))}",
                )
                return None
            dtype = data_type_of(column_type)
            if dtype is None:
                self.fail(
                    loc,
                    f"column {table}.{name} has type {column_type}, which conditions cannot use "
                    "(supported: text, numbers, date, timestamp, boolean)",
                )
                return None
        op = normalize_operator(spec.operator)
        if op not in OPERATORS:
            self.fail(loc, f"unknown operator {spec.operator!r}; use one of {', '.join(OPERATORS)}")
            return None
        if dtype not in OPERATORS[op]:
            self.fail(
                loc,
                f"operator {op} does not apply to {dtype} field {name}; use "
                f"{', '.join(operators_for(dtype))}",
            )
            return None
        base = Condition(
            source=source, field=name, dtype=dtype, op=op, column_type=column_type,
            id=spec.id, location=loc,
        )  # fmt: skip
        if op in NO_VALUE_OPS:
            return base
        text = value_text(spec.field_value)
        if text is None:
            self.fail(loc, f"operator {op} needs a field_value")
            return None
        try:
            if op in LIST_OPS:
                return self._list_condition(base, text)
            value, relative = self._operand(dtype, text)
            if op in ("LIKE", "NOT LIKE", "ILIKE"):
                check_like(str(value))
        except ValueError as exc:
            self.fail(loc, f"field_value for {name} ({dtype}): {exc}")
            return None
        return _replace(base, value=value, relative=(relative,) if relative else ())

    def _operand(self, dtype: str, raw: object) -> tuple[Typed, str | None]:
        """(parsed value, the relative form it was written in or None), SPEC §2a."""
        if dates.is_relative(raw):
            if dtype == "date":
                return dates.resolve(str(raw), self.as_of), dates.canonical(str(raw))
            if dtype != "string" or dates.canonical(str(raw)) != "today":
                raise ValueError(
                    f"{raw!r} is a date relative to the run, which only a date field can compare "
                    f"with; this field is a {dtype}"
                )
        return parse_scalar(dtype, raw), None

    def _list_condition(self, base: Condition, text: str) -> Condition:
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(
                f'{base.op} needs a JSON array such as ["A", "B"], got {text!r}'
            ) from None
        if not isinstance(items, list):
            raise ValueError(f"{base.op} needs a JSON array, got {text!r}")
        if not items:
            raise ValueError(f"{base.op} needs a non-empty array")
        if base.op == "BETWEEN" and len(items) != 2:
            raise ValueError(f"BETWEEN needs an array of two bounds [low, high], got {len(items)}")
        values, relative = [], []
        for item in items:
            if (
                base.dtype == "number"
                and isinstance(item, int | float)
                and not isinstance(item, bool)
            ):
                item = repr(item) if isinstance(item, float) else str(item)
            value, rel = self._operand(base.dtype, item)
            values.append(value)
            relative.append(rel)
        return _replace(
            base, values=tuple(values), relative=tuple(relative) if any(relative) else ()
        )

    def configuration(self, cfg: ConfigFile) -> Configuration:
        self._custom_field_specs(cfg)
        names: dict[str, int] = {}
        groups = []
        for gi, g in enumerate(cfg.groups):
            gloc = f"groups[{gi}]"
            gdesc = f"group {g.name!r}" + (f" id {g.id}" if g.id is not None else "")
            if not g.name.strip():
                self.fail(gloc, "group name is empty")
            if g.name in names:
                self.fail(
                    gloc, f"group name {g.name!r} is used twice (also groups[{names[g.name]}])"
                )
            names[g.name] = gi
            campaigns = []
            cnames: dict[str, int] = {}
            cprios: dict[int, int] = {}
            for ci, c in enumerate(g.campaigns):
                cloc = f"{gloc}.campaigns[{ci}]"
                cdesc = f"{gdesc}, campaign {c.name!r}" + (
                    f" id {c.id}" if c.id is not None else ""
                )
                if not c.name.strip():
                    self.fail(f"{cloc} ({cdesc})", "campaign name is empty")
                if c.name in cnames:
                    self.fail(
                        f"{cloc} ({cdesc})", f"campaign name {c.name!r} is used twice in {gdesc}"
                    )
                if c.priority in cprios:
                    other = g.campaigns[cprios[c.priority]].name
                    self.fail(
                        f"{cloc} ({cdesc})",
                        f"priority {c.priority} is also used by campaign {other!r}; priorities must be unique within a group",
                    )
                cnames[c.name] = ci
                cprios[c.priority] = ci
                campaigns.append(self._campaign(c, cloc, cdesc))
            campaigns.sort(key=lambda x: x.priority)
            groups.append(Group(name=g.name, campaigns=tuple(campaigns), id=g.id))
        policy = check_policy(cfg.contact_policy, self.fail)
        if self.problems:
            raise ConfigError(self.problems)
        return Configuration(
            groups=tuple(groups),
            custom_fields=dict(self.custom_fields),
            fingerprint=fingerprint(cfg),
            as_of=self.as_of,
            policy=policy,
        )

    def _custom_field_specs(self, cfg: ConfigFile) -> None:
        seen: set[str] = set()
        for i, f in enumerate(cfg.custom_fields):
            loc = f"custom_fields[{i}] ({f.field_name!r})"
            if f.field_name in seen:
                self.fail(loc, f"custom field {f.field_name!r} is registered twice")
            seen.add(f.field_name)
            if not f.field_name.strip():
                self.fail(loc, "custom field name is empty")
            if f.data_type not in DATA_TYPES:
                self.fail(loc, f"data_type {f.data_type!r} is not one of {', '.join(DATA_TYPES)}")

    def _conditions(
        self, specs: list | NodeSpec, loc: str, desc: str
    ) -> tuple[tuple[Condition, ...], Node | None]:
        """(the leaves, the tree or None for a plain list of conditions)."""
        leaves: list[Condition] = []
        if is_flat(specs):
            for i, spec in enumerate(specs):
                what = f"condition id {spec.id}" if spec.id is not None else f"condition {i}"
                cond = self.condition(spec, f"{loc}.conditions[{i}] ({desc}, {what})")
                if cond is not None:
                    leaves.append(cond)
            return tuple(leaves), None
        root = specs if isinstance(specs, NodeSpec) else NodeSpec(all=specs)
        self._seen = 0  # leaves numbered in the order written, as `explain` and lint show them
        path = f"{loc}.conditions" + (f".{root.kind}" if isinstance(specs, NodeSpec) else "")
        tree = self._node(root, path, desc, leaves, 1)
        if len(leaves) > MAX_LEAVES:
            self.fail(
                f"{loc}.conditions ({desc})",
                f"the condition tree has {len(leaves)} conditions; at most {MAX_LEAVES} are "
                "allowed (split the campaign, or use IN lists)",
            )
        return tuple(leaves), tree

    def _node(
        self, spec: NodeSpec, path: str, desc: str, leaves: list[Condition], depth: int
    ) -> Node:
        if depth > MAX_DEPTH:
            self.fail(
                f"{path} ({desc})",
                f"the condition tree is deeper than {MAX_DEPTH} levels; flatten it (an all "
                "inside an all, or an any inside an any, can be merged)",
            )
            return Node(spec.kind, ())
        kind, children = spec.kind, spec.children
        if not children:
            self.fail(
                f"{path} ({desc})",
                f"an empty {kind!r} has no meaning; give it at least one condition or node, "
                "e.g. {any: [<condition>, <condition>]}, or remove it",
            )
        out: list[Condition | Node] = []
        for i, child in enumerate(children):
            where = f"{path}[{i}]" if kind != "not" or isinstance(spec.not_, list) else path
            if isinstance(child, NodeSpec):
                out.append(self._node(child, f"{where}.{child.kind}", desc, leaves, depth + 1))
                continue
            what = f"condition id {child.id}" if child.id is not None else f"condition {self._seen}"
            self._seen += 1
            cond = self.condition(child, f"{where} ({desc}, {what})")
            if cond is not None:
                leaves.append(cond)
                out.append(cond)
        if kind == "not" and len(out) != 1:
            return Node("not", (Node("all", tuple(out)),))  # a list under not: all of them
        return Node(kind, tuple(out))

    def _campaign(self, c: CampaignSpec, loc: str, desc: str) -> Campaign:
        conditions, tree = self._conditions(c.conditions, loc, desc)
        rules = []
        prios: set[int] = set()
        for ri, r in enumerate(c.contact_rules):
            rloc = f"{loc}.contact_rules[{ri}]"
            rdesc = f"{desc}, rule priority {r.rule_priority}" + (
                f" id {r.id}" if r.id is not None else ""
            )
            if r.rule_priority in prios:
                self.fail(
                    f"{rloc} ({rdesc})",
                    f"rule_priority {r.rule_priority} is used twice in the campaign",
                )
            prios.add(r.rule_priority)
            outputs = []
            for oi, o in enumerate(r.outputs):
                oloc = f"{rloc}.outputs[{oi}] ({rdesc})"
                if o.related_party_type not in PARTY_TYPES:
                    self.fail(
                        oloc,
                        f"related_party_type {o.related_party_type!r} is not one of {', '.join(PARTY_TYPES)}",
                    )
                elif o.contact_type not in CONTACT_TYPES:
                    self.fail(
                        oloc,
                        f"contact_type {o.contact_type!r} is not one of {', '.join(CONTACT_TYPES)}",
                    )
                else:
                    outputs.append(Output(o.related_party_type, o.contact_type))
            rconditions, rtree = self._conditions(r.conditions, rloc, rdesc)
            rules.append(
                Rule(
                    priority=r.rule_priority,
                    conditions=rconditions,
                    outputs=tuple(outputs),
                    id=r.id,
                    tree=rtree,
                )
            )
        rules.sort(key=lambda x: x.priority)
        return Campaign(
            name=c.name, priority=c.priority, conditions=conditions, rules=tuple(rules),
            id=c.id, tree=tree,
        )  # fmt: skip


def _replace(cond: Condition, **changes: object) -> Condition:
    from dataclasses import replace

    return replace(cond, **changes)


def validate(cfg: ConfigFile, catalog: Catalog, as_of: dt.date | None = None) -> Configuration:
    """The typed configuration, or ConfigError listing every problem with its location.

    Dates relative to the run resolve against ``as_of`` (default: today, dates.today()).
    """
    registry = {f.field_name: f.data_type for f in cfg.custom_fields if f.data_type in DATA_TYPES}
    day = as_of if as_of is not None else dates.today()
    return _Validator(catalog, registry, day).configuration(cfg)
