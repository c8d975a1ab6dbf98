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

from ..config import files
from ..config.catalog import data_type_of
from ..config.validate import LIST_OPS, NO_VALUE_OPS, operators_for
from ..errors import ConfigError
from ..source import catalog

SOURCES = {
    "bank_sync_service.customers": "customer data",
    "bank_sync_service.loans": "loan data",
    "custom_fields": "custom fields",
}


@dataclass
class Step:
    """What the page shows: the choices made so far and those still open."""

    campaigns: list[tuple[int, int, str]]  # (group index, campaign index, "group / campaign")
    target: tuple[int, int] | None = None
    source: str | None = None
    fields: list[tuple[str, str]] = field(default_factory=list)  # (name, type)
    column: str | None = None  # the chosen field
    data_type: str | None = None
    operators: list[str] = field(default_factory=list)
    operator: str | None = None
    value_kind: str | None = None  # single | list | between | none
    problem: str | None = None


def _document(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text) or {}
    if not isinstance(doc, dict):
        raise ConfigError("the draft is not a configuration document; fix it in the editor first")
    return doc


def step(conn: psycopg.Connection, draft_text: str, params: dict[str, str]) -> Step:
    doc = _document(draft_text)
    campaigns = [
        (gi, ci, f"{g.get('name')} / {c.get('name')}")
        for gi, g in enumerate(doc.get("groups") or [])
        for ci, c in enumerate(g.get("campaigns") or [])
    ]
    s = Step(campaigns)
    if "target" not in params:
        return s
    gi, _, ci = params["target"].partition(":")
    s.target = (int(gi), int(ci))
    s.source = params.get("source") if params.get("source") in SOURCES else None
    if s.source is None:
        return s
    if s.source == "custom_fields":
        registry = {f["field_name"]: f["data_type"] for f in doc.get("custom_fields") or []}
        registry |= dict(
            conn.execute(
                "SELECT field_name, data_type FROM campaign_engine.custom_fields"
            ).fetchall()
        )
        s.fields = sorted(registry.items())
    else:
        table = s.source.split(".")[1]
        s.fields = [
            (c, t) for c, pg in catalog(conn).columns(table).items() if (t := data_type_of(pg))
        ]
    types = dict(s.fields)
    s.column = params.get("field") if params.get("field") in types else None
    if s.column is None:
        return s
    s.data_type = types[s.column]
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
    from .. import api

    s = step(conn, draft_text, form)
    if s.value_kind is None or s.target is None:
        s.problem = "choose a campaign, a data source, a field and an operator first"
        return draft_text, s
    doc = _document(draft_text)
    gi, ci = s.target
    campaign = doc["groups"][gi]["campaigns"][ci]
    condition = {"data_source": s.source, "field_name": s.column, "operator": s.operator}
    value = _value(s.value_kind, s.data_type or "string", form)
    if value is not None:
        condition["field_value"] = value
    campaign.setdefault("conditions", []).append(condition)
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    try:
        api.validate_config(conn, files.parse(text, "draft"))
    except ConfigError as exc:
        where = f"groups[{gi}].campaigns[{ci}].conditions[{len(campaign['conditions']) - 1}]"
        mine = [m for loc, m in exc.problems if loc.startswith(where)]
        s.problem = "; ".join(mine) if mine else str(exc)
        return draft_text, s
    return text, s


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
        raise ConfigError("that campaign is not in the draft any more; reload the page") from None
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
