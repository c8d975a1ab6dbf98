"""How stored conditions are matched and described: by content, for plan and apply (a
condition's id aside) and for the changes people read."""

from __future__ import annotations

from typing import Any

from .model import ConditionSpec, NodeSpec
from .operands import value_text


def condition_key(c: ConditionSpec) -> tuple:
    """What identifies a stored condition (its id aside): matched by content on apply."""
    return (c.data_source, c.field_name, c.operator, value_text(c.field_value))


def describe_condition(c: ConditionSpec) -> str:
    value = value_text(c.field_value)
    return f"{c.data_source}.{c.field_name} {c.operator}" + (
        f" {value}" if value is not None else ""
    )


def tree_key(conds: list | NodeSpec) -> Any:
    """What makes two trees the same (``[node]`` is ``node``; ids do not count)."""

    def key(item: Any) -> Any:
        if isinstance(item, NodeSpec):
            return (item.kind, tuple(key(x) for x in item.children))
        return condition_key(item)

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
        return describe_condition(item)

    items = [conds] if isinstance(conds, NodeSpec) else conds
    return " AND ".join(text(x) for x in items) or "no conditions"
