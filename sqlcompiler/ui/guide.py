"""The guided condition editor: data source → field → operator → a value input of the type.

Each step offers only what fits the previous ones (fields from the catalog and the custom-field
registry, operators that apply to the field's type); the finished condition is added to the
user's draft only if the whole draft still validates, else the validator's message is shown
next to the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
import yaml

from .. import api
from ..api.editing import (
    LIST_OPS,
    NO_VALUE_OPS,
    Estimate,
    estimate_campaign,
    field_profile,
    operators_for,
    source_fields,
)
from ..errors import ConfigError
from .i18n import N_, _

SOURCES = {
    "bank_sync_service.customers": N_("customer data"),
    "bank_sync_service.loans": N_("loan data"),
    "custom_fields": N_("custom fields"),
}


@dataclass
class Step:
    """What the page shows: the choices made so far and those still open."""

    campaigns: list[tuple[str, str]]  # (target key "g:c" or "g:c:r", label)
    target: tuple[int, int] | None = None
    rule: int | None = None  # index in the campaign's contact_rules when the target is a rule
    existing: list[tuple[int, str]] = field(default_factory=list)  # the target's conditions
    mode: str = "all"  # how the target's top-level conditions combine: all or any (SPEC §2b)
    common: str | None = None  # what the data holds for the chosen field
    suggestions: list[tuple[str, int]] = field(default_factory=list)  # a string's top values
    reach: Estimate | None = None  # about how many customers the target campaign catches
    group_names: list[str] = field(default_factory=list)
    source: str | None = None
    fields: list[tuple[str, str]] = field(default_factory=list)  # (name, type)
    column: str | None = None  # the chosen field
    data_type: str | None = None
    operators: list[str] = field(default_factory=list)
    operator: str | None = None
    value_kind: str | None = None  # single | list | between | none
    problem: str | None = None
    confirm: bool = False  # the value is unusual: the form offers "add anyway"
    entered: dict[str, str] = field(default_factory=dict)  # what was typed, shown again


def _document(text: str) -> dict[str, Any]:
    doc = api.read_document(text, "the draft") or {}
    if not isinstance(doc, dict):
        raise ConfigError("the draft is not a configuration document; fix it in the editor first")
    return doc


def step(
    conn: psycopg.Connection, draft_text: str, params: dict[str, str], *, reach: bool | None = None
) -> Step:
    """What the page shows for ``params``; the campaign's live count (a sample evaluated, up to
    0.3 s at 1M customers) only when the conditions may have changed (``reach``), by default
    not while a new condition's source, field and operator are being chosen."""
    doc = _document(draft_text)
    campaigns: list[tuple[str, str]] = []
    for gi, g in enumerate(doc.get("groups") or []):
        for ci, c in enumerate(g.get("campaigns") or []):
            campaigns.append((f"{gi}:{ci}", f"{g.get('name')} / {c.get('name')}"))
            for ri, r in enumerate(c.get("contact_rules") or []):
                campaigns.append((
                    f"{gi}:{ci}:{ri}",
                    f"{g.get('name')} / {c.get('name')} · "
                    + _("contact rule %(rule)s") % {"rule": r.get("rule_priority")},
                ))  # fmt: skip
    s = Step(campaigns, group_names=[str(g.get("name")) for g in doc.get("groups") or []])
    if params.get("target") not in dict(campaigns):
        return s
    parts = [int(x) for x in params["target"].split(":")]
    s.target = (parts[0], parts[1])
    s.rule = parts[2] if len(parts) == 3 else None
    s.existing = [(i, describe(c)) for i, c in enumerate(_conditions(doc, s))]
    s.mode = _mode(doc, s)
    if s.rule is None and (reach if reach is not None else not params.get("source")):
        s.reach = _reach(conn, draft_text, doc, s.target)
    s.source = params.get("source") if params.get("source") in SOURCES else None
    if s.source is None:
        return s
    registry = {f["field_name"]: f["data_type"] for f in doc.get("custom_fields") or []}
    s.fields = source_fields(conn, s.source, registry)
    types = dict(s.fields)
    s.column = params.get("field") if params.get("field") in types else None
    if s.column is None:
        return s
    s.data_type = types[s.column]
    s.common, s.suggestions = common_values(conn, s.source, s.column, s.data_type)
    s.operators = operators_for(s.data_type)
    s.operator = params.get("operator") if params.get("operator") in s.operators else None
    if s.operator is not None:
        s.value_kind = (
            "none" if s.operator in NO_VALUE_OPS
            else "between" if s.operator == "BETWEEN"
            else "list" if s.operator in LIST_OPS
            else "single"
        )  # fmt: skip
    return s


def describe(condition: Any) -> str:
    """A condition, or a tree node (all / any / not) of the file format, on one line."""
    if isinstance(condition, dict) and len(condition) == 1 and next(iter(condition)) in NODES:
        kind, kids = next(iter(condition.items()))
        kids = kids if isinstance(kids, list) else [kids]
        if kind == "not":
            return "NOT (" + " AND ".join(describe(k) for k in kids) + ")"
        return "(" + f" {'AND' if kind == 'all' else 'OR'} ".join(describe(k) for k in kids) + ")"
    if not isinstance(condition, dict):
        return str(condition)
    value = condition.get("field_value")
    shown = "" if value is None else f" {value}"
    return f"{condition.get('data_source')}.{condition.get('field_name')} {condition.get('operator')}{shown}"


NODES = ("all", "any", "not")


def _holder(doc: dict[str, Any], s: Step) -> dict[str, Any]:
    gi, ci = s.target or (0, 0)
    campaign = doc["groups"][gi]["campaigns"][ci]
    return campaign if s.rule is None else campaign["contact_rules"][s.rule]


def _conditions(doc: dict[str, Any], s: Step) -> list[Any]:
    """The target's top-level conditions (the children of its all or any), created when
    missing; a top-level not becomes the one item of a list, so nothing is lost."""
    holder = _holder(doc, s)
    conds = holder.get("conditions")
    if isinstance(conds, dict) and len(conds) == 1:
        kind, kids = next(iter(conds.items()))
        if kind in ("all", "any") and isinstance(kids, list):
            return kids
        holder["conditions"] = [conds]
    elif not isinstance(conds, list):
        holder["conditions"] = []
    return holder["conditions"]


def _mode(doc: dict[str, Any], s: Step) -> str:
    conds = _holder(doc, s).get("conditions")
    return "any" if isinstance(conds, dict) and "any" in conds else "all"


def combine(conn: psycopg.Connection, draft_text: str, form: dict[str, str]) -> tuple[str, Step]:
    """Edits of the target's top-level conditions: ``remove`` item N; and for trees (SPEC
    §2b) ``switch`` all <-> any, ``negate`` item N (or take its not away), ``group`` items N
    and N+1 into a node of the other kind, so that (A OR B) AND C is three clicks."""
    s = step(conn, draft_text, {"target": form.get("target", "")})
    if s.target is None:
        s.problem = _("that campaign is not in the draft any more")
        return draft_text, s
    doc = _document(draft_text)
    items = _conditions(doc, s)
    holder = _holder(doc, s)
    action, index = form.get("edit"), int(form.get("index", -1) or -1)
    if action == "switch":
        holder["conditions"] = list(items) if _mode(doc, s) == "any" else {"any": list(items)}
    elif not 0 <= index < len(items) - (action == "group"):
        s.problem = _("that condition is not in the draft any more; reload the page")
        return draft_text, s
    elif action == "remove":
        del items[index]
    elif action == "negate":
        item = items[index]
        negated = (
            isinstance(item, dict) and set(item) == {"not"} and not isinstance(item["not"], list)
        )
        items[index] = item["not"] if negated else {"not": item}
    elif action == "group":
        other = "all" if _mode(doc, s) == "any" else "any"
        first, second = items[index], items.pop(index + 1)
        if isinstance(first, dict) and set(first) == {other}:
            first[other].append(second)
        else:
            items[index] = {other: [first, second]}
    text, s = _validated(conn, draft_text, doc, s, "groups")
    return text, step(conn, text, {"target": form.get("target", "")}) if s.problem is None else s


def _reach(conn, draft_text: str, doc: dict, target: tuple[int, int]) -> Estimate | None:
    """The chosen campaign's reach as the draft stands, from a sample (shown after each edit)."""
    group = doc["groups"][target[0]]
    try:
        cfg = api.parse_document(draft_text, "the draft")
    except ConfigError:
        return None
    return estimate_campaign(
        conn, cfg, group.get("name"), group["campaigns"][target[1]].get("name")
    )


def common_values(
    conn: psycopg.Connection, source: str, column: str, dtype: str
) -> tuple[str | None, list[tuple[str, int]]]:
    """A line about what the data holds for one field (sampled on big tables), and a string
    field's most common values with their counts, offered as choices for the value."""
    p = field_profile(conn, source, column, dtype)
    if p is None:
        return None, []
    if dtype in ("number", "date"):
        shape = _("min %(min)s, median %(median)s, max %(max)s") % {
            "min": p.min, "median": p.median, "max": p.max}  # fmt: skip
    else:
        shape = _("common values: %(values)s") % {
            "values": ", ".join(f"{v!r} ({n:,})" for v, n in p.top) or _("none")}  # fmt: skip
    line = _("%(shape)s; %(missing).0f %% missing") % {"shape": shape, "missing": 100 * p.missing}
    return line, [(str(v), n) for v, n in p.top] if dtype == "string" else []


def _value(kind: str, dtype: str, form: dict[str, str]) -> Any:
    def typed(text: str) -> Any:
        text = text.strip()
        if dtype == "number":
            try:
                return int(text) if text.lstrip("-").isdigit() else float(text)
            except ValueError:
                return text  # the validator words the problem
        if dtype == "boolean":
            return {"true": True, "false": False}.get(text.lower(), text)
        return text

    if kind == "none":
        return None
    if kind == "between":
        return [typed(form.get("low", "")), typed(form.get("high", ""))]
    if kind == "list":
        return [typed(x) for x in form.get("value", "").split(",") if x.strip()]
    return typed(form.get("value", ""))


def add(conn: psycopg.Connection, draft_text: str, form: dict[str, str]) -> tuple[str, Step]:
    """The draft with the condition added, or the unchanged draft and the step with the
    validator's message about it."""
    s = step(conn, draft_text, form)
    if s.value_kind is None or s.target is None:
        s.problem = _("choose a campaign, a data source, a field and an operator first")
        return draft_text, s
    doc = _document(draft_text)
    gi, ci = s.target
    condition = {"data_source": s.source, "field_name": s.column, "operator": s.operator}
    value = _value(s.value_kind, s.data_type or "string", form)
    doubt = _doubt(conn, s, value)
    if doubt and (doubt[1] is False or form.get("confirm") != "1"):
        s.problem, s.confirm = doubt[0], doubt[1]
        s.entered = {k: str(form.get(k, "")) for k in ("value", "low", "high")}
        return draft_text, s
    if value is not None:
        condition["field_value"] = value
    conditions = _conditions(doc, s)
    conditions.append(condition)
    where = (
        f"groups[{gi}].campaigns[{ci}]"
        + (f".contact_rules[{s.rule}]" if s.rule is not None else "")
        + f".conditions[{len(conditions) - 1}]"
    )
    text, s = _validated(conn, draft_text, doc, s, where)
    return text, step(conn, text, form, reach=True) if s.problem is None else s


def _doubt(conn: psycopg.Connection, s: Step, value: Any) -> tuple[str, bool] | None:
    """(problem, may be added anyway) for a value that is valid but likely a mistake: a
    BETWEEN that can never hold (refused), or a value the data does not hold (confirmed)."""
    what = f"{s.column} {s.operator}"
    if s.value_kind == "between" and isinstance(value, list) and len(value) == 2:
        low, high = value
        same = type(low) is type(high) and not any(
            isinstance(v, str) and v.strip().lower().startswith("today") for v in value
        )
        if same and low > high:
            return (_("%(what)s %(low)s AND %(high)s can never hold: the first value is above "
                      "the second; swap them") % {"what": what, "low": low, "high": high},
                    False)  # fmt: skip
    if s.data_type == "string" and s.operator in ("=", "IN") and value:
        p = field_profile(conn, s.source, s.column, "string")
        values = value if isinstance(value, list) else [value]
        if p is not None and p.top and p.distinct <= len(p.top):  # the data's every value seen
            seen = {v for v, _n in p.top}
            unseen = [v for v in values if v not in seen]
            if unseen:
                held = ", ".join(repr(v) for v, _n in p.top)
                return (_("no row has %(field)s = %(values)s (the data holds %(held)s); tick "
                          "“add anyway” to keep it") % {"field": s.column, "held": held,
                        "values": ", ".join(map(repr, unseen))}, True)  # fmt: skip
    return None


def _validated(conn, draft_text: str, doc: dict[str, Any], s: Step, where: str) -> tuple[str, Step]:

    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    try:
        api.validate_config(conn, api.parse_document(text, "draft"))
    except ConfigError as exc:
        mine = [m for loc, m in exc.problems if loc.startswith(where)]
        s.problem = "; ".join(mine) if mine else _("the draft has other problems: %(problems)s") % {
            "problems": exc}  # fmt: skip
        return draft_text, s
    return text, s


def add_rule(conn: psycopg.Connection, draft_text: str, form: dict[str, str]) -> tuple[str, Step]:
    """A new contact rule (after the others) with one output, on the chosen campaign."""
    s = step(conn, draft_text, {"target": form.get("target", "")})
    if s.target is None or s.rule is not None:
        s.problem = _("choose a campaign (not one of its rules) to add a contact rule to")
        return draft_text, s
    doc = _document(draft_text)
    gi, ci = s.target
    rules = doc["groups"][gi]["campaigns"][ci].setdefault("contact_rules", [])
    priorities = [r.get("rule_priority") for r in rules if isinstance(r.get("rule_priority"), int)]
    rules.append({
        "rule_priority": max(priorities, default=0) + 1,
        "outputs": [{"related_party_type": form.get("party", ""), "contact_type": form.get("contact", "")}],
    })  # fmt: skip
    where = f"groups[{gi}].campaigns[{ci}].contact_rules[{len(rules) - 1}]"
    text, s = _validated(conn, draft_text, doc, s, where)
    return text, step(conn, text, {"target": form.get("target", "")}) if s.problem is None else s


def reorder(draft_text: str, group: int, campaign: int, direction: str) -> str:
    """Move a campaign up or down within its group; priorities are renumbered 10, 20, 30, …
    so the user never edits a number to change an order."""
    doc = _document(draft_text)
    try:
        campaigns = doc["groups"][group]["campaigns"]
        campaigns.sort(
            key=lambda c: c.get("priority", 0) if isinstance(c.get("priority"), int) else 0
        )
        other = campaign - 1 if direction == "up" else campaign + 1
        if not 0 <= campaign < len(campaigns) or not 0 <= other < len(campaigns):
            return draft_text
    except (KeyError, IndexError, TypeError):
        raise ConfigError(
            _("that campaign is not in the draft any more; reload the page")
        ) from None
    campaigns[campaign], campaigns[other] = campaigns[other], campaigns[campaign]
    for i, c in enumerate(campaigns, start=1):
        c["priority"] = 10 * i
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def campaign_order(draft_text: str) -> list[tuple[int, str, list[tuple[int, str, Any]]]]:
    """(group index, group name, [(campaign index, name, priority)]) in priority order."""
    doc = _document(draft_text)
    out = []
    for gi, g in enumerate(doc.get("groups") or []):
        cs = sorted(
            g.get("campaigns") or [],
            key=lambda c: c.get("priority", 0) if isinstance(c.get("priority"), int) else 0,
        )
        out.append(
            (gi, g.get("name"), [(ci, c.get("name"), c.get("priority")) for ci, c in enumerate(cs)])
        )
    return out


def add_campaign(
    conn: psycopg.Connection, draft_text: str, form: dict[str, str]
) -> tuple[str, Step]:
    """A new campaign (last in priority) in a group of the draft, or in a new group."""
    doc = _document(draft_text)
    group_name, name = form.get("group", "").strip(), form.get("campaign", "").strip()
    groups = doc.setdefault("groups", [])
    group = next((g for g in groups if g.get("name") == group_name), None)
    if group is None:
        group = {"name": group_name, "campaigns": []}
        groups.append(group)
    campaigns = group.setdefault("campaigns", [])
    priorities = [c.get("priority") for c in campaigns if isinstance(c.get("priority"), int)]
    campaigns.append({"name": name, "priority": max(priorities, default=0) + 10})
    gi, ci = groups.index(group), len(campaigns) - 1
    s = step(conn, draft_text, {})
    text, s = _validated(conn, draft_text, doc, s, f"groups[{gi}]")
    if s.problem is None:
        s = step(conn, text, {"target": f"{gi}:{ci}"})
    return text, s
