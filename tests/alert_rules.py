"""The shipped alert rules (deploy/alerts.yml) evaluated against a metrics textfile, as
Prometheus would after scraping it: the test-side equivalent of `promtool test rules` (no
promtool here) for the rule forms the file uses, ``max(NAME{label="v"}) OP NUMBER``."""

from __future__ import annotations

import operator
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

RULES = Path(__file__).resolve().parents[1] / "deploy" / "alerts.yml"
FORM = re.compile(r'^max\((\w+)(?:\{(\w+)="([^"]*)"\})?\)\s*(>|==|<|>=)\s*([0-9.]+)$')
OPS = {">": operator.gt, "==": operator.eq, "<": operator.lt, ">=": operator.ge}


def expression(alert: str) -> str:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                return rule["expr"]
    raise KeyError(alert)


def fires(alert: str, textfile: Path) -> bool:
    expr = expression(alert)
    m = FORM.match(expr.strip())
    assert m, f"{alert}: {expr!r} is not a form this check evaluates"
    name, label, value, op, threshold = m.groups()
    samples = [
        s.value
        for family in text_string_to_metric_families(textfile.read_text())
        for s in family.samples
        if s.name == name and (label is None or s.labels.get(label) == value)
    ]
    return bool(samples) and OPS[op](max(samples), float(threshold))
