"""Reading and writing configuration files (YAML, or JSON which YAML also reads)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigError
from .model import ConfigFile, NodeSpec
from .policy import document as policy_document


class _Loader(yaml.SafeLoader):
    """SafeLoader without implicit dates: ``2024-01-01`` stays the text the user wrote, and
    with duplicate keys refused (YAML lets the last win: a second ``groups: []`` would
    silently plan the removal of every group)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {first}); each key may appear once",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


_TAGS = {"list", "node", "condition"}  # pydantic's union tags (model.py), not the user's keys
_HOLDERS = {"conditions", "all", "any", "not"}


def _loc(parts: tuple[Any, ...]) -> str:
    out = ""
    parts = tuple(
        p
        for i, p in enumerate(parts)
        if not (p in _TAGS and i and (isinstance(parts[i - 1], int) or parts[i - 1] in _HOLDERS))
    )
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


MAX_DOCUMENT = 2 * 1024 * 1024  # characters; a large bank's configuration is ~200 kB
MAX_DEPTH = 100  # brackets or indentation levels; a condition tree needs a few dozen at most


def _too_deep(text: str) -> bool:
    """A cheap look before the parser recurses (PyYAML would spend seconds failing)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    indents = (len(ln) - len(ln.lstrip(" -")) for ln in text.splitlines())
    return deepest > MAX_DEPTH or max(indents, default=0) > 2 * MAX_DEPTH


def load_yaml(text: str, source: str = "<config>") -> Any:
    """The document's data, or a ConfigError saying where and why (never a traceback: too
    large, too deep, a number too long for Python, bad YAML)."""
    if len(text) > MAX_DOCUMENT:
        raise ConfigError(
            [(source, f"over {MAX_DOCUMENT // 1024 // 1024} MB: not a configuration")]
        )
    if _too_deep(text):
        raise ConfigError([(source, f"nested more than {MAX_DEPTH} levels deep")])
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(
            [(where, f"not valid YAML/JSON: {getattr(exc, 'problem', exc)}")]
        ) from None
    except RecursionError:
        raise ConfigError([(source, "nested too deeply to be a configuration")]) from None
    except ValueError as exc:  # int("9" * 5000): Python's integer string limit
        if "digits" not in str(exc):
            raise
        raise ConfigError([(source, "a number has more than 4,300 digits")]) from None


def parse(text: str, source: str = "<config>") -> ConfigFile:
    data = load_yaml(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [(source, "the configuration must be a mapping with custom_fields and groups")]
        )
    try:
        return ConfigFile.model_validate(data)
    except RecursionError:
        raise ConfigError([(source, "nested too deeply to be a configuration")]) from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = _loc(tuple(err["loc"]))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown key {err['loc'][-1]!r}"
            elif err["type"] == "missing":
                msg = f"required key {err['loc'][-1]!r} is missing"
            problems.append((f"{source}: {loc}" if loc else source, msg))
        raise ConfigError(problems) from None


def load(path: str | Path) -> ConfigFile:
    if str(path) == "-":
        return parse(sys.stdin.read(), "<stdin>")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([(str(p), f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [(str(p), f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")]
        ) from None
    return parse(text, str(p))


def to_document(cfg: ConfigFile) -> dict[str, Any]:
    """The file form: no database ids, readable values, keys in the documented order."""

    def value(v: Any) -> Any:
        if isinstance(v, str):
            if v.startswith("["):
                try:
                    parsed = json.loads(v)
                    if isinstance(parsed, list):
                        return parsed
                except json.JSONDecodeError:
                    pass
            if v in ("true", "false"):
                return v == "true"
            if v.lstrip("-").isdigit() and str(int(v)) == v:
                return int(v)
        return v

    def cond(c) -> dict[str, Any]:
        if isinstance(c, NodeSpec):
            if c.kind == "not" and not isinstance(c.not_, list):
                return {"not": cond(c.not_)}
            return {c.kind: [cond(x) for x in c.children]}
        d = {"data_source": c.data_source, "field_name": c.field_name, "operator": c.operator}
        if c.field_value is not None:
            d["field_value"] = value(c.field_value)
        return d

    def conds(cs) -> Any:
        return cond(cs) if isinstance(cs, NodeSpec) else [cond(x) for x in cs]

    doc: dict[str, Any] = {"version": 1, "custom_fields": [], "groups": []}
    for f in cfg.custom_fields:
        item = {"field_name": f.field_name, "data_type": f.data_type}
        if f.description:
            item["description"] = f.description
        doc["custom_fields"].append(item)
    for g in cfg.groups:
        campaigns = []
        for c in sorted(g.campaigns, key=lambda c: c.priority):
            rules = [
                {
                    "rule_priority": r.rule_priority,
                    "conditions": conds(r.conditions),
                    "outputs": [
                        {"related_party_type": o.related_party_type, "contact_type": o.contact_type}
                        for o in r.outputs
                    ],
                }
                for r in sorted(c.contact_rules, key=lambda r: r.rule_priority)
            ]
            campaigns.append(
                {
                    "name": c.name,
                    "priority": c.priority,
                    "conditions": conds(c.conditions),
                    "contact_rules": rules,
                }
            )
        doc["groups"].append({"name": g.name, "campaigns": campaigns})
    if cfg.contact_policy is not None:
        doc["contact_policy"] = policy_document(cfg.contact_policy)
    return doc


def dump(cfg: ConfigFile, fmt: str = "yaml") -> str:
    doc = to_document(cfg)
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
